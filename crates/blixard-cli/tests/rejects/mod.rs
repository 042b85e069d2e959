//! The oracle of the bad-input and injection corpora: a run is rejected
//! with exit 2, its message names the file, line and key (or the flag), and
//! the host is byte-identical before and after. Builds on `common`.
#![allow(dead_code)]

use std::path::PathBuf;

use blixard_netns::testing::sh_ok;

use crate::common::{self, Scratch};

/// A valid config that the corpus runs against after applying it, so that
/// "nothing changed" covers existing state, not just an empty namespace.
pub const BASE: &str = "vms = 2\nowner = \"root\"\nexternal_interface = \"bx-up0\"\n";

/// Where the message must point.
#[derive(Debug, Clone)]
pub enum Whence {
    /// `FILE:LINE:` and the key path.
    Line(u32, &'static str),
    /// The file and the key path, for a key left at its default (no line
    /// to point at).
    Key(&'static str),
    /// The flag, and not the config file.
    Flag(&'static str),
    /// Only the file (it cannot be read).
    File,
}

/// One broken input.
#[derive(Debug, Clone)]
pub struct Case {
    /// Short name; also the config file's name, so messages are told apart.
    pub name: &'static str,
    /// The config file; `None`: the file does not exist.
    pub toml: Option<String>,
    /// Subcommand and flags after `--config FILE`.
    pub args: Vec<&'static str>,
    /// Where the message must point.
    pub whence: Whence,
    /// More text the message must contain (what is wrong, or the value).
    pub says: &'static str,
}

impl Case {
    /// A config file rejected by `apply`.
    pub fn file(name: &'static str, toml: &str, whence: Whence, says: &'static str) -> Self {
        Case {
            name,
            toml: Some(toml.to_string()),
            args: vec!["apply"],
            whence,
            says,
        }
    }

    /// Flags rejected with the valid [`BASE`] config.
    pub fn flags(
        name: &'static str,
        args: &[&'static str],
        whence: Whence,
        says: &'static str,
    ) -> Self {
        Case {
            name,
            toml: Some(BASE.to_string()),
            args: args.to_vec(),
            whence,
            says,
        }
    }
}

/// What one case printed, for the report.
pub struct Rejection {
    pub name: &'static str,
    pub message: String,
}

/// The namespace as the issue names it: `ip -j` link/address/route dumps
/// and `nft -j list ruleset` (pretty-printed, so a difference shows as the
/// lines that differ; JSON carries rule handles, so even an identical
/// replacement of a table shows), after `common::snapshot` (which
/// waits for taps to lose their carrier and adds the sysctls we set).
pub fn snapshot() -> String {
    let mut out = common::snapshot();
    for dump in [
        "ip -j -d link show",
        "ip -j addr show",
        "ip -4 -j route show table all",
        "ip -6 -j route show table all",
        "nft -j list ruleset",
    ] {
        let mut json: serde_json::Value = serde_json::from_str(&sh_ok(dump))
            .unwrap_or_else(|e| panic!("`{dump}` printed no JSON: {e}"));
        common::without_counter_values(&mut json);
        out.push_str(&format!("\n# {dump}\n"));
        out.push_str(&serde_json::to_string_pretty(&json).expect("JSON prints"));
    }
    out
}

/// Runs every case in the calling thread's namespace and checks the
/// oracle; every failing case is reported together. Returns each case's
/// message.
pub fn assert_all_rejected(scratch: &Scratch, cases: &[Case]) -> Vec<Rejection> {
    let before = snapshot();
    let mut failures = Vec::new();
    let mut rejections = Vec::new();
    for case in cases {
        let path: PathBuf = scratch.0.join(format!("{}.toml", case.name));
        if let Some(toml) = &case.toml {
            std::fs::write(&path, toml).unwrap();
        }
        let out = common::cli(scratch, &path, &case.args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let file = path.display().to_string();
        let mut wanted = vec![case.says.to_string()];
        match &case.whence {
            Whence::Line(line, key) => {
                wanted.push(format!("{file}:{line}:"));
                wanted.push(key.to_string());
            }
            Whence::Key(key) => {
                wanted.push(file.clone());
                wanted.push(key.to_string());
            }
            Whence::Flag(flag) => wanted.push(flag.to_string()),
            Whence::File => wanted.push(file.clone()),
        }
        let mut problems = Vec::new();
        if out.status.code() != Some(2) {
            problems.push(format!("exit {:?}, not 2", out.status.code()));
        }
        for w in &wanted {
            if !stderr.contains(w.as_str()) {
                problems.push(format!("message lacks {w:?}"));
            }
        }
        if matches!(case.whence, Whence::Flag(_)) && stderr.contains(&file) {
            problems.push("a flag's error blames the config file".into());
        }
        common::assert_unchanged(&before, &snapshot(), case.name);
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {stderr}\n  stdout: {}",
                case.name,
                problems.join("; "),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        rejections.push(Rejection {
            name: case.name,
            message: stderr.trim().replace(&file, "FILE"),
        });
    }
    assert!(
        failures.is_empty(),
        "{} of {} case(s) failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    rejections
}

/// Prints each case's message (visible with `--nocapture`), the record
/// behind docs/RELIABILITY.md.
pub fn report(rejections: &[Rejection]) {
    for r in rejections {
        eprintln!("{:<28} {}", r.name, r.message.replace('\n', " / "));
    }
}

/// The host of every corpus: the uplink, the [`BASE`] config applied, plus
/// a foreign route and a foreign link for the overlap cases. Returns the
/// scratch dir.
pub fn prepared_host(test: &str) -> Scratch {
    let scratch = Scratch::new(test);
    common::uplink();
    let base = scratch.config(BASE);
    common::ok(common::cli(&scratch, &base, &["apply"]));
    sh_ok(
        "ip addr add 192.0.2.1/24 dev bx-up0 && \
         ip route add 198.51.100.0/24 via 192.0.2.254 && \
         ip -6 addr add fd77::1/64 dev bx-up0 nodad && \
         ip link add vm4 type veth peer name vm4-peer",
    );
    scratch
}
