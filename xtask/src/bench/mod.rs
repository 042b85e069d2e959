//! `cargo xtask bench`: whole-process timings of `blixard-net` against the
//! shell references, for 64..4096 VMs, each run in a fresh network namespace.
//!
//! Every measurement is one process started by `xtask __measure`, a small
//! wrapper that times the process with a monotonic clock and reads its peak
//! RSS from `getrusage(RUSAGE_CHILDREN)` (it has no other child, so that is
//! exactly the measured process). The wrapper runs inside the namespace made
//! for the run, so nothing here touches the machine's own network.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::json;

use crate::{cargo, have, nix_is_root, root, run};

mod datapath;
mod features;
mod measure;
mod report;
#[cfg(test)]
mod tests;

pub use measure::measure;
pub(crate) use measure::{Sample, median, sh, timed};
pub(crate) use report::Verdict;
use report::{print_verdicts, report};

const USAGE: &str = "usage: cargo xtask bench [--runs N] [--counts 64,256,1024,4096] [--json FILE] [--full-baseline] [--per-vm-counts L] [--report-only]

  --runs N          runs per case; medians are reported (default 5)
  --counts LIST     VM counts (default 64,256,1024,4096; above 254 the pool is a /16;
                    8192 and 16384 on request: `--counts 1024,8192,16384` adds the
                    per-VM-cost targets, and the floor takes a minute there)
  --json FILE       also write every sample and median as JSON
  --full-baseline   run the one-process-per-step baseline script at every
                    count and every run (by default: every run up to 256 VMs,
                    one run at 1024, skipped at 4096, where one run takes minutes)
  --per-vm-counts L host sizes for the per-VM section: CLI and library
                    wire/unwire beside CNI ptp ADD/DEL, and status
                    (default 64,1024,4096; `none` skips it)
  --report-only     exit 0 even when a target is missed (default: a missed
                    target or one without a measurement fails the run)

data path (issue 17):";

fn usage() -> String {
    format!("{USAGE}\n{}", datapath::USAGE)
}

/// The interface group `blixard-net` marks its taps with (the default config).
const OUR_GROUP: u32 = blixard_addr::config::DEFAULT_LINK_GROUP;
/// A group the references' taps are moved into, so that they can be removed
/// with one `RTM_DELLINK` before the namespace goes away.
const CLEANUP_GROUP: u32 = 4094;

struct Options {
    runs: usize,
    counts: Vec<u32>,
    json: Option<PathBuf>,
    full_baseline: bool,
    /// Print the verdicts but exit 0 even when a target is missed.
    report_only: bool,
    /// Host sizes of the per-VM section (empty: skipped).
    per_vm_counts: Vec<u32>,
    datapath: datapath::Options,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut opts = Options {
        runs: 5,
        counts: vec![64, 256, 1024, 4096],
        json: None,
        full_baseline: false,
        report_only: false,
        per_vm_counts: vec![64, 1024, 4096],
        datapath: datapath::Options::default(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value\n\n{}", usage()))
        };
        match arg.as_str() {
            "--runs" => {
                opts.runs = value("--runs")?.parse().context("--runs: a number")?;
                ensure!(opts.runs > 0, "--runs must be at least 1");
            }
            "--counts" => {
                opts.counts = value("--counts")?
                    .split(',')
                    .map(|c| c.trim().parse::<u32>())
                    .collect::<Result<_, _>>()
                    .context("--counts: comma-separated numbers")?;
                ensure!(
                    opts.counts.iter().all(|&c| (1..=65_000).contains(&c)),
                    "--counts: each between 1 and 65000"
                );
            }
            "--per-vm-counts" => {
                let list = value("--per-vm-counts")?;
                opts.per_vm_counts = if list == "none" {
                    Vec::new()
                } else {
                    list.split(',')
                        .map(|c| c.trim().parse::<u32>())
                        .collect::<Result<_, _>>()
                        .context("--per-vm-counts: comma-separated numbers, or none")?
                };
            }
            "--json" => opts.json = Some(value("--json")?.into()),
            "--full-baseline" => opts.full_baseline = true,
            "--report-only" => opts.report_only = true,
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => {
                if !opts.datapath.take(other, &mut value)? {
                    bail!("unknown argument {other:?}\n\n{}", usage())
                }
            }
        }
    }
    Ok(opts)
}

/// Who does the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Contender {
    /// `baseline-setup-tap-networking.sh`: one process per step.
    Baseline,
    /// `batch-ip.sh`: one `ip -batch` + one `nft`.
    Floor,
    /// `blixard-net` with single-queue taps: apply, no-op apply, down.
    Ours,
    /// `blixard-net` with multi-queue taps: apply, down.
    MultiQueue,
    /// `blixard-net` with a forward and limits both ways on every VM:
    /// apply, down.
    Features,
    /// [`Contender::Features`] with the limits from the VMs on ifbs.
    FeaturesIfb,
}

/// What was timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Setup,
    Apply,
    Noop,
    Status,
    Down,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Setup => "setup",
            Step::Apply => "apply",
            Step::Noop => "noop",
            Step::Status => "status",
            Step::Down => "down",
        }
    }
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Contender::Baseline => "baseline-script",
            Contender::Floor => "ip-batch-floor",
            Contender::Ours => "blixard-net",
            Contender::MultiQueue => "blixard-net-multi-queue",
            Contender::Features => "blixard-net-features",
            Contender::FeaturesIfb => "blixard-net-features-ifb",
        }
    }
}

type Samples = BTreeMap<(u32, Contender, Step), Vec<Sample>>;

/// What the runs need to find.
pub(crate) struct Env {
    xtask: PathBuf,
    pub(crate) blixard: PathBuf,
    /// The release build of xtask, whose `__traffic` is the data path's
    /// traffic tool (a debug build's frame loop would be the bottleneck).
    traffic: PathBuf,
    baseline: PathBuf,
    floor: PathBuf,
    pub(crate) scratch: PathBuf,
}

impl Env {
    pub(crate) fn config(&self, count: u32, multi_queue: bool) -> Result<PathBuf> {
        self.config_with(count, multi_queue, "lo")
    }

    /// [`Env::config`] with another external interface (the data path's
    /// uplink).
    pub(crate) fn config_with(
        &self,
        count: u32,
        multi_queue: bool,
        external_interface: &str,
    ) -> Result<PathBuf> {
        let path = self.scratch.join(format!(
            "bench-{count}-{}-{external_interface}.toml",
            u8::from(multi_queue)
        ));
        let pool = pool_for(count);
        let toml = format!(
            "vms = {count}\nowner = \"root\"\nexternal_interface = \"{external_interface}\"\n\n[ipv4]\npool = \"{pool}\"\n\n[tap]\nmulti_queue = {multi_queue}\n"
        );
        std::fs::write(&path, toml).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// The IPv4 pool of a bench host of `count` VMs: the /24 default holds 254
/// VMs; the references use 10.0.0.0/16.
pub(crate) fn pool_for(count: u32) -> &'static str {
    if count > 254 {
        "10.0.0.0/16"
    } else {
        "10.0.0.0/24"
    }
}

fn count_lines(script: &str) -> Result<usize> {
    Ok(sh(script)?.lines().filter(|l| !l.trim().is_empty()).count())
}

/// Removes the references' taps with one group delete, so that the dying
/// namespace leaves no teardown work to overlap with the next measurement.
/// With `label`, that delete alone is timed: the kernel's own floor for a
/// teardown (`ip link del group`, one `RTM_DELLINK`) of a host wired like
/// ours, which `down` is compared with.
fn remove_reference_taps(env: &Env, count: u32, label: Option<&str>) -> Result<Option<Sample>> {
    let path = env.scratch.join("cleanup.batch");
    let mut batch = String::new();
    for i in 1..=count {
        writeln!(batch, "link set dev vm{i} group {CLEANUP_GROUP}")?;
    }
    let delete = format!("link del group {CLEANUP_GROUP}");
    let timed_delete = match label {
        None => {
            writeln!(batch, "{delete}")?;
            None
        }
        Some(_) => Some(delete),
    };
    std::fs::write(&path, batch)?;
    sh(&format!("ip -force -batch {}", path.display()))?;
    let sample = match (label, timed_delete) {
        (Some(label), Some(delete)) => {
            let args: Vec<&str> = delete.split(' ').collect();
            Some(timed(env, label, Path::new("ip"), &args)?.0)
        }
        _ => None,
    };
    ensure!(
        count_lines("ip -o link show type tun")? == 0,
        "taps left after cleanup"
    );
    Ok(sample)
}

/// One run of one contender in a brand-new network namespace.
fn run_case(env: &Env, count: u32, contender: Contender) -> Result<Vec<(Step, Sample)>> {
    blixard_netns::run_in_new(|| -> Result<Vec<(Step, Sample)>> {
        let label = |step: Step| format!("{} {} ({count} VMs)", contender.name(), step.name());
        // Every contender uses lo as its external interface; it must be up
        // for nothing, but a host's uplink would be.
        sh("ip link set lo up")?;
        ensure!(
            count_lines("ip -o link show")? == 1,
            "the fresh namespace is not empty"
        );
        let n = count.to_string();
        let mut samples = Vec::new();
        match contender {
            Contender::Baseline | Contender::Floor => {
                let (script, args): (&Path, Vec<&str>) = if contender == Contender::Baseline {
                    (&env.baseline, vec!["root", &n, "lo"])
                } else {
                    (&env.floor, vec![&n, "lo"])
                };
                let (s, _) = timed(env, &label(Step::Setup), script, &args)?;
                samples.push((Step::Setup, s));
                let taps = count_lines("ip -o link show type tun")?;
                ensure!(
                    taps == count as usize,
                    "{}: {taps} taps, expected {count}",
                    label(Step::Setup)
                );
                // The floor's taps carry the same addresses and routes as
                // ours, so deleting them is the kernel's floor for `down`.
                let floor_down = (contender == Contender::Floor).then(|| label(Step::Down));
                if let Some(s) = remove_reference_taps(env, count, floor_down.as_deref())? {
                    samples.push((Step::Down, s));
                }
            }
            Contender::Ours
            | Contender::MultiQueue
            | Contender::Features
            | Contender::FeaturesIfb => {
                let mq = contender == Contender::MultiQueue;
                let featured = matches!(contender, Contender::Features | Contender::FeaturesIfb);
                let ifb = contender == Contender::FeaturesIfb;
                let config = if featured {
                    env.config_with_features(count, ifb)?
                } else {
                    env.config(count, mq)?
                };
                let config = config.to_str().context("utf-8 scratch path")?;
                let cli = |cmd| ["--config", config, cmd];
                let (s, out) = timed(env, &label(Step::Apply), &env.blixard, &cli("apply"))?;
                ensure!(
                    out.contains("change(s) made"),
                    "{}: unexpected output:\n{out}",
                    label(Step::Apply)
                );
                samples.push((Step::Apply, s));
                // The VMs' taps and the gateway device; an ifb per VM with
                // that method, none when a limit from a VM is policed.
                let links = count_lines(&format!("ip -o link show group {OUR_GROUP}"))?;
                let ifbs = if ifb { count as usize } else { 0 };
                ensure!(
                    links == count as usize + 1 + ifbs,
                    "{}: {links} links of ours, expected {count} taps, {ifbs} ifbs and the gateway device",
                    label(Step::Apply)
                );
                if contender == Contender::Features {
                    let set = features::police_set_of_every_vm()?;
                    let policed = sh(&format!("nft list set inet blixard {set}"))?;
                    ensure!(
                        policed.contains(&format!("\"vm{count}\"")),
                        "{}: vm{count} is not policed:\n{policed}",
                        label(Step::Apply)
                    );
                }
                let details = sh("ip -d link show vm1")?;
                ensure!(
                    details.contains("multi_queue") == mq,
                    "{}: vm1 multi_queue should be {mq}:\n{details}",
                    label(Step::Apply)
                );
                if featured {
                    let forwards = sh("nft list table inet blixard")?.matches(" : ").count();
                    ensure!(
                        forwards >= count as usize,
                        "{}: {forwards} forward map elements for {count} VMs",
                        label(Step::Apply)
                    );
                    ensure!(
                        sh("tc qdisc show dev vm1")?.contains("tbf"),
                        "{}: vm1 has no limit",
                        label(Step::Apply)
                    );
                }
                if contender == Contender::Ours {
                    let (s, out) = timed(env, &label(Step::Noop), &env.blixard, &cli("apply"))?;
                    ensure!(
                        out.contains("no change"),
                        "{}: the second apply changed something:\n{out}",
                        label(Step::Noop)
                    );
                    samples.push((Step::Noop, s));
                    let (s, out) = timed(env, &label(Step::Status), &env.blixard, &cli("status"))?;
                    ensure!(
                        out.contains("in sync"),
                        "{}: the host is not in sync after apply:\n{out}",
                        label(Step::Status)
                    );
                    samples.push((Step::Status, s));
                }
                let (s, _) = timed(env, &label(Step::Down), &env.blixard, &cli("down"))?;
                samples.push((Step::Down, s));
                ensure!(
                    count_lines("ip -o link show type tun")? == 0,
                    "{}: taps left",
                    label(Step::Down)
                );
                ensure!(
                    !sh("nft list tables")?.contains("blixard"),
                    "{}: nft table left",
                    label(Step::Down)
                );
            }
        }
        Ok(samples)
    })?
}

fn ensure_iptables() -> Result<()> {
    if have("iptables") && have("ip6tables") {
        return Ok(());
    }
    if nix_is_root() && have("apt-get") {
        // The baseline script uses them.
        return crate::apt_install(&["iptables"]);
    }
    bail!("the baseline script needs iptables and ip6tables: `sudo apt-get install iptables`")
}

fn machine() -> serde_json::Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown")
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0.0, |kib| kib as f64 / (1024.0 * 1024.0));
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let nft = Command::new("nft")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    json!({ "cpu": cpu, "cores": cores, "memory_gib": (mem_gib * 10.0).round() / 10.0, "kernel": kernel, "nft": nft })
}

/// Whether the baseline script runs at `count` in run `run`.
fn baseline_runs(count: u32, run: usize, full: bool) -> bool {
    full || count <= 256 || (count <= 1024 && run == 0)
}

pub fn bench(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    ensure!(
        nix_is_root(),
        "the bench creates taps, routes and nft tables (in throwaway network namespaces): run it as root"
    );
    crate::ensure_system_tools()?;
    if !opts.datapath.only {
        ensure_iptables()?;
    }
    let refs = root().join("benches/reference");
    let release = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("release");
    let env = Env {
        xtask: std::env::current_exe().context("locating xtask")?,
        blixard: release.join("blixard-net"),
        traffic: release.join("xtask"),
        baseline: refs.join("baseline-setup-tap-networking.sh"),
        floor: refs.join("batch-ip.sh"),
        scratch: std::env::temp_dir().join(format!("blixard-bench-{}", std::process::id())),
    };
    for script in [&env.baseline, &env.floor] {
        ensure!(
            script.is_file(),
            "reference script {} not found (benches/reference/ is part of the repository)",
            script.display()
        );
    }
    run(
        "cargo build --release -p blixard-cli",
        cargo().args(["build", "--release", "-p", "blixard-cli"]),
    )?;
    if opts.datapath.enabled {
        run(
            "cargo build --release -p xtask",
            cargo().args(["build", "--release", "-p", "xtask"]),
        )?;
    }
    let whole_host = !opts.datapath.only;
    if whole_host {
        run(
            "cargo build --release --example wire_vm",
            cargo().args([
                "build",
                "--release",
                "-p",
                "blixard-examples",
                "--example",
                "wire_vm",
            ]),
        )?;
        ensure_cni()?;
    }
    std::fs::create_dir_all(&env.scratch)?;
    let result = (|| -> Result<Vec<Verdict>> {
        let mut verdicts = Vec::new();
        if whole_host {
            let samples = bench_runs(&env, &opts)?;
            verdicts = report(&opts, &samples)?;
            if !opts.per_vm_counts.is_empty() {
                let per_vm = crate::per_vm::run(
                    &env,
                    &opts.per_vm_counts,
                    opts.runs,
                    &crate::per_vm::example_path(),
                )?;
                println!();
                print_verdicts(&per_vm);
                verdicts.extend(per_vm);
            }
        }
        if opts.datapath.enabled {
            let (data_path, doc) = datapath::section(&env, &opts.datapath)?;
            print_verdicts(&data_path);
            verdicts.extend(data_path);
            if let Some(path) = &opts.json {
                add_to_json(path, "datapath", doc)?;
            }
        }
        Ok(verdicts)
    })();
    let _ = std::fs::remove_dir_all(&env.scratch);
    let verdicts = result?;
    let missed = verdicts.iter().filter(|v| !v.met).count();
    if missed > 0 && !opts.report_only {
        bail!(
            "{missed} of {} target(s) missed (--report-only reports without failing)",
            verdicts.len()
        );
    }
    Ok(())
}

/// Adds `doc` under `key` to the `--json` file the whole-host report wrote
/// (or a new one with the machine, when that part was skipped).
fn add_to_json(path: &Path, key: &str, doc: serde_json::Value) -> Result<()> {
    let mut whole = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .unwrap_or_else(|| json!({ "machine": machine() }));
    whole[key] = doc;
    std::fs::write(path, serde_json::to_string_pretty(&whole)?)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("==> wrote {key} into {}", path.display());
    Ok(())
}

/// The CNI reference plugins, installed as root when missing.
fn ensure_cni() -> Result<()> {
    if Path::new("/usr/lib/cni/ptp").is_file() || !nix_is_root() || !have("apt-get") {
        return Ok(());
    }
    crate::apt_install(&["containernetworking-plugins"])
}

fn bench_runs(env: &Env, opts: &Options) -> Result<Samples> {
    let mut samples: Samples = BTreeMap::new();
    let started = Instant::now();
    for run in 0..opts.runs {
        for &count in &opts.counts {
            let mut contenders = vec![
                Contender::Floor,
                Contender::Ours,
                Contender::MultiQueue,
                Contender::Features,
            ];
            if count == features::IFB_AT {
                contenders.push(Contender::FeaturesIfb);
            }
            if baseline_runs(count, run, opts.full_baseline) {
                contenders.insert(0, Contender::Baseline);
            }
            // Rotate the order per run so that no contender always follows
            // the same one (page cache, kernel work left behind).
            let len = contenders.len();
            contenders.rotate_left(run % len);
            for contender in contenders {
                for (step, sample) in run_case(env, count, contender)? {
                    samples
                        .entry((count, contender, step))
                        .or_default()
                        .push(sample);
                }
            }
        }
        eprintln!(
            "==> run {}/{} done ({:.0} s)",
            run + 1,
            opts.runs,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(samples)
}
