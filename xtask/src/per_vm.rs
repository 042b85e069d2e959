//! The bench's per-VM section: wiring and unwiring one VM on a host that
//! already holds N, by the CLI and by the library, beside the CNI `ptp`
//! plugin with `host-local` IPAM doing comparable work (a veth, addresses,
//! routes) on a host with N containers, and `status`.
//!
//! Each size runs in a fresh network namespace. The CNI containers all live
//! in one peer namespace (each with its own interface name), which gives
//! the host side what N containers give it: N veths and N routes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::bench::{Env, Sample, Verdict, median, sh, timed};

/// The VM wired and unwired (any index the config wires).
const PROBE: u32 = 7;
const CNI_DIR: &str = "/usr/lib/cni";

/// Medians at one host size.
#[derive(Default)]
struct Row {
    cli_wire: Option<Sample>,
    cli_unwire: Option<Sample>,
    status: Option<Sample>,
    lib_wire: Option<Duration>,
    lib_unwire: Option<Duration>,
    cni_add: Option<Sample>,
    cni_del: Option<Sample>,
}

/// Runs the section and prints its table; returns the verdicts.
pub fn run(env: &Env, counts: &[u32], runs: usize, example: &Path) -> Result<Vec<Verdict>> {
    let cni = Path::new(CNI_DIR).join("ptp").is_file();
    if !cni {
        eprintln!(
            "==> per-VM: no {CNI_DIR}/ptp (apt-get install containernetworking-plugins): the CNI reference is left out"
        );
    }
    let mut rows = Vec::new();
    for &count in counts {
        eprintln!("==> per-VM operations on a host with {count} VMs");
        let row = blixard_netns::run_in_new(|| one_size(env, count, runs, example, cni))??;
        rows.push((count, row));
    }
    let s = |x: Option<Sample>| x.map(|x| x.elapsed);
    let ms =
        |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3));
    let x = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) if !b.is_zero() => format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64()),
        _ => "-".into(),
    };
    let mut table = String::new();
    writeln!(
        table,
        "| VMs | CLI wire | CLI unwire | library wire | library unwire | CNI ptp ADD | CNI ptp DEL | wire/ADD | unwire/DEL | status | peak RSS (CLI) |"
    )?;
    writeln!(table, "|---|---|---|---|---|---|---|---|---|---|---|")?;
    for (count, r) in &rows {
        let rss = [r.cli_wire, r.cli_unwire, r.status]
            .iter()
            .flatten()
            .map(|s| s.peak_rss_kib)
            .max();
        writeln!(
            table,
            "| {count} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ms(s(r.cli_wire)),
            ms(s(r.cli_unwire)),
            ms(r.lib_wire),
            ms(r.lib_unwire),
            ms(s(r.cni_add)),
            ms(s(r.cni_del)),
            x(s(r.cli_wire), s(r.cni_add)),
            x(s(r.cli_unwire), s(r.cni_del)),
            ms(s(r.status)),
            rss.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
        )?;
    }
    println!("\nper-VM operations (VM {PROBE}; median of {runs}):\n");
    print!("{table}");

    let row = |n: u32| rows.iter().find(|(c, _)| *c == n).map(|(_, r)| r);
    let ratio = |a: Option<Duration>, b: Option<Duration>| {
        a.zip(b).map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
    };
    let mut verdicts = Vec::new();
    let mut verdict = |target: String, value: Option<f64>, limit: f64| {
        verdicts.push(match value {
            Some(v) => Verdict {
                target,
                measured: format!("{v:.2}x"),
                met: v <= limit,
            },
            None => Verdict {
                target,
                measured: "no measurement".into(),
                met: false,
            },
        });
    };
    if let (Some(small), Some(big)) = (row(64), row(4096)) {
        verdict(
            "CLI wire, 4096 VMs: <= 1.3x the same on 64 VMs".into(),
            ratio(s(big.cli_wire), s(small.cli_wire)),
            1.3,
        );
        verdict(
            "CLI unwire, 4096 VMs: <= 1.3x the same on 64 VMs".into(),
            ratio(s(big.cli_unwire), s(small.cli_unwire)),
            1.3,
        );
    }
    if let Some(big) = row(4096) {
        verdict(
            "CLI wire, 4096 VMs: <= 0.5x a CNI ptp ADD".into(),
            ratio(s(big.cli_wire), s(big.cni_add)),
            0.5,
        );
        verdict(
            "CLI unwire, 4096 VMs: <= 0.5x a CNI ptp DEL".into(),
            ratio(s(big.cli_unwire), s(big.cni_del)),
            0.5,
        );
    }
    if let Some(mid) = row(1024) {
        verdict(
            "library wire, 1024 VMs: <= 0.25x a CNI ptp ADD".into(),
            ratio(mid.lib_wire, s(mid.cni_add)),
            0.25,
        );
    }
    Ok(verdicts)
}

fn one_size(env: &Env, count: u32, runs: usize, example: &Path, cni: bool) -> Result<Row> {
    sh("ip link set lo up")?;
    let config = env.config(count, false)?;
    let config = config.to_str().context("utf-8 scratch path")?;
    let cli = |cmd: &str| vec!["--config".to_string(), config.to_string(), cmd.to_string()];
    let run_cli = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        timed(
            env,
            &format!("blixard-net {} ({count} VMs)", args[2..].join(" ")),
            &env.blixard,
            &args,
        )
    };
    run_cli(&cli("apply"))?;
    let mut wire = Vec::new();
    let mut unwire = Vec::new();
    let mut status = Vec::new();
    let probe = PROBE.to_string();
    for _ in 0..runs {
        let mut args = cli("unwire");
        args.push(probe.clone());
        let (s, out) = run_cli(&args)?;
        ensure!(out.contains("delete link vm7"), "unwire: {out}");
        unwire.push(s);
        let mut args = cli("wire");
        args.push(probe.clone());
        let (s, out) = run_cli(&args)?;
        ensure!(out.contains("create tap vm7"), "wire: {out}");
        wire.push(s);
        status.push(run_cli(&cli("status"))?.0);
    }
    let out = Command::new(example)
        .args([config, &probe, &runs.to_string()])
        .env("BX_ISOLATED", "1")
        .env("BLIXARD_LOCK_DIR", &env.scratch)
        .env("BLIXARD_STATE_DIR", &env.scratch)
        .output()
        .context("starting the wire_vm example")?;
    ensure!(
        out.status.success(),
        "wire_vm example: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let nanos: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("wire_vm example printed {text:?}"))?;
    let mut row = Row {
        cli_wire: median(&wire),
        cli_unwire: median(&unwire),
        status: median(&status),
        lib_unwire: nanos.first().map(|&n| Duration::from_nanos(n)),
        lib_wire: nanos.get(1).map(|&n| Duration::from_nanos(n)),
        ..Row::default()
    };
    run_cli(&cli("down"))?;
    if cni {
        let (add, del) = cni_reference(env, count, runs)?;
        row.cni_add = median(&add);
        row.cni_del = median(&del);
    }
    Ok(row)
}

/// CNI `ptp` ADD and DEL of one more container on a host holding `count`
/// (`benches/reference/cni-ptp.sh`, run as the host in this namespace).
fn cni_reference(env: &Env, count: u32, runs: usize) -> Result<(Vec<Sample>, Vec<Sample>)> {
    let script = crate::root().join("benches/reference/cni-ptp.sh");
    let scratch = env.scratch.join("cni");
    let out = Command::new(&script)
        .args([&count.to_string(), &runs.to_string()])
        .arg(&scratch)
        .env("BX_ISOLATED", "1")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {}", script.display()))?;
    let _ = std::fs::remove_dir_all(&scratch);
    ensure!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let sample = |ns: &str| -> Result<Sample> {
        Ok(Sample {
            elapsed: Duration::from_nanos(ns.parse().context("CNI timing")?),
            peak_rss_kib: 0,
        })
    };
    let (mut add, mut del) = (Vec::new(), Vec::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((a, d)) = line.split_once(' ') else {
            continue;
        };
        add.push(sample(a)?);
        del.push(sample(d)?);
    }
    ensure!(add.len() == runs, "cni-ptp.sh printed {} runs", add.len());
    Ok((add, del))
}

/// Where cargo puts the `wire_vm` example of a release build.
pub fn example_path() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::root().join("target"), PathBuf::from)
        .join("release/examples/wire_vm")
}
