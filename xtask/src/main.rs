//! Developer tasks: `cargo xtask ci | schema | docs | package | bench`.
//!
//! `ci` is the one command the README and `.ci/run` use: it checks the tools
//! the privileged tests need (installing them with apt-get when running as
//! root on Debian/Ubuntu), then runs fmt, clippy, every test, the examples
//! (each in a throwaway network namespace) and the docs.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod bench;
mod datapath;
mod examples;
mod package;
mod per_vm;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(&args[1..]),
        Some("schema") => schema(),
        Some("docs") => docs(),
        Some("package") => match &args[1..] {
            [] => package::package().map(|_| ()),
            [flag] if flag == "--check" => package::check(),
            _ => Err(anyhow::anyhow!("usage: cargo xtask package [--check]")),
        },
        Some("bench") => bench::bench(&args[1..]),
        Some("__measure") => bench::measure(&args[1..]),
        Some("__traffic") => datapath::traffic::main(&args[1..]),
        Some("deps") => ensure_system_tools(),
        Some("examples") => examples::run_all(),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n  ci      fmt, clippy -D warnings, all tests (privileged ones in throwaway\n          network namespaces), docs, schema freshness; needs root\n          (--unprivileged: the reduced suite, naming what it skipped)\n  examples run every example as ci does, each in a throwaway network\n          namespace; needs root\n  deps    check/install the system tools the tests use (nft, ip, ping)\n  schema  regenerate crates/blixard-addr/config.schema.json\n  docs    regenerate contrib/man, contrib/completions and contrib/network.toml.example\n  package build target/debian/blixard-net_<version>_<arch>.deb (--check: and check it,\n          installing and purging it with dpkg as root with CI set)\n  bench   apply/re-apply/teardown benchmarks against the shell baselines"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn run(step: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {step}");
    let status = cmd.status().with_context(|| format!("starting {step}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

/// The system tools the privileged tests drive or check against, with the
/// Debian package that provides each.
const TOOLS: &[(&str, &str)] = &[
    ("nft", "nftables"),
    ("ip", "iproute2"),
    ("ping", "iputils-ping"),
    ("unshare", "util-linux"),
    // The bench's reference scripts set forwarding with `sysctl`.
    ("sysctl", "procps"),
    ("nsenter", "util-linux"),
    // The watch test holds the host lock from outside with `flock`.
    ("flock", "util-linux"),
    // The limits tests read and tamper with qdiscs with `tc`.
    ("tc", "iproute2"),
    // The coexistence scan reads legacy iptables rules; its test needs them.
    ("iptables-legacy", "iptables"),
    // The package's man pages are rendered with `man -l`.
    ("man", "man-db"),
    // The shipped systemd unit is checked with `systemd-analyze verify`.
    ("systemd-analyze", "systemd"),
    // The QEMU tier (crates/blixard-cli/tests/qemu) boots real guests.
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("busybox", "busybox-static"),
    // The cluster tests check `bgp config` with `bird -p` and run a BIRD
    // per host namespace, driven with birdc. Debian's package starts no
    // daemon where services cannot start (containers, policy-rc.d).
    ("bird", "bird2"),
    ("birdc", "bird2"),
];

/// The QEMU tier's guest kernel: a /boot/vmlinuz-V with its /lib/modules/V
/// (the virtio drivers are modules), as linux-image-amd64 installs.
fn have_guest_kernel() -> bool {
    std::fs::read_dir("/boot").is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .is_some_and(|v| Path::new("/lib/modules").join(v).join("kernel").is_dir())
        })
    })
}

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file())
}

/// Installs Debian `packages` (as root), refreshing the package lists
/// first: a fresh machine may have none.
pub(crate) fn apt_install(packages: &[&str]) -> Result<()> {
    eprintln!("==> installing {}", packages.join(" "));
    run(
        "apt-get update",
        Command::new("apt-get").args(["update", "-qq"]),
    )?;
    run(
        "apt-get install",
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn ensure_system_tools() -> Result<()> {
    let mut missing: Vec<&(&str, &str)> = TOOLS.iter().filter(|(tool, _)| !have(tool)).collect();
    if !have_guest_kernel() {
        missing.push(&("a kernel in /boot with its modules", "linux-image-amd64"));
    }
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().map(|(_, pkg)| *pkg).collect();
    let is_root = nix_is_root();
    if is_root && have("apt-get") {
        return apt_install(&packages);
    }
    bail!(
        "missing tools: {}; install them first, e.g. `sudo apt-get install {}`",
        missing
            .iter()
            .map(|(t, _)| *t)
            .collect::<Vec<_>>()
            .join(", "),
        packages.join(" ")
    )
}

fn nix_is_root() -> bool {
    // Avoid a libc dependency for one getuid: /proc/self/status has it.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn ci(args: &[String]) -> Result<()> {
    let reduced = match args {
        [] => false,
        [flag] if flag == "--unprivileged" => true,
        _ => bail!("usage: cargo xtask ci [--unprivileged]"),
    };
    let root_user = nix_is_root();
    if !root_user && !reduced {
        bail!(
            "ci needs root: the privileged tests make real taps, routes and nft tables in throwaway network namespaces. Run it as root, or `cargo xtask ci --unprivileged` for the reduced suite (it says what it skipped)"
        );
    }
    if root_user {
        ensure_system_tools()?;
    }
    // Each skipped test appends a line here (blixard_netns::testing::skip).
    let skip_log = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("ci-skipped.log");
    std::fs::create_dir_all(skip_log.parent().expect("a file in target/"))?;
    std::fs::write(&skip_log, "")?;
    run(
        "cargo fmt --check",
        cargo().args(["fmt", "--all", "--check"]),
    )?;
    run(
        "cargo clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "cargo test",
        cargo()
            .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
            .env(blixard_netns::testing::SKIP_LOG_ENV, &skip_log),
    )?;
    // The examples (in throwaway namespaces; they change the network).
    if root_user {
        examples::run_all()?;
    } else {
        let mut log = std::fs::read_to_string(&skip_log)?;
        log.push_str("examples: root, to run them in throwaway network namespaces\n");
        std::fs::write(&skip_log, log)?;
    }
    run(
        "cargo test --doc",
        cargo().args(["test", "--workspace", "--doc"]),
    )?;
    run(
        "cargo doc",
        cargo()
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    if have("man") {
        package::check()?;
    } else {
        // Only reachable unprivileged: as root ensure_system_tools installs it.
        let mut log = std::fs::read_to_string(&skip_log)?;
        log.push_str("package: man (apt-get install man-db)\n");
        std::fs::write(&skip_log, log)?;
    }
    let skipped = std::fs::read_to_string(&skip_log)?;
    let skipped: Vec<&str> = skipped.lines().collect();
    for line in &skipped {
        eprintln!("skipped: {line}");
    }
    if skipped.is_empty() {
        eprintln!("==> ci: all green, no test skipped");
        return Ok(());
    }
    if reduced {
        eprintln!(
            "==> ci --unprivileged: REDUCED suite: {} test(s) skipped (listed above); run as root for the whole suite",
            skipped.len()
        );
        return Ok(());
    }
    bail!("{} test(s) skipped (listed above)", skipped.len())
}

/// Regenerates the man pages, completions and example config in contrib/
/// from the CLI (the test `man_pages_completions_and_example_config_are_fresh`
/// fails when they are stale).
fn docs() -> Result<()> {
    let contrib = root().join("contrib");
    for stale in ["man", "completions"] {
        let _ = std::fs::remove_dir_all(contrib.join(stale));
    }
    run(
        "regenerate contrib/man, contrib/completions, contrib/network.toml.example",
        cargo()
            .args(["run", "-q", "-p", "blixard-cli", "--", "__generate-docs"])
            .arg(&contrib),
    )
}

fn schema() -> Result<()> {
    run(
        "regenerate config.schema.json",
        cargo()
            .args([
                "test",
                "-p",
                "blixard-addr",
                "--lib",
                "schema_file_is_fresh",
            ])
            .env("BLIXARD_BLESS", "1"),
    )
}
