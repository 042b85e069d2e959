//! The data-path section of `cargo xtask bench` (issue 17): packets per
//! second, CPU per packet and ping-pong latency of UDP frames the kernel
//! forwards from vm1's tap to vm2's, and from vm1's tap out of the uplink
//! (masqueraded) into a sink namespace, for our table at two host sizes,
//! bare routing (the floor), a Linux bridge, and our table plus a
//! flowtable where the kernel has one.
//!
//! Every case is a fresh network namespace (and a second one, the sink,
//! behind a veth); the traffic tool (`xtask __traffic`) runs inside it as a
//! child process pinned to one core.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use blixard_netns::testing::NetnsHolder;

use super::{Env, Verdict};
use crate::datapath::traffic::{self, Mode, Outcome, Target};

mod profile;
mod report;
mod setup;
#[cfg(test)]
mod tests;

use report::report;

/// The sink's address behind the uplink (documentation range, only ever
/// inside the namespaces made here).
const SINK_V4: &str = "192.0.2.2";

/// The data-path options of `cargo xtask bench`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    pub(crate) enabled: bool,
    /// Skip the whole-host and per-VM sections.
    pub(crate) only: bool,
    pub(crate) runs: usize,
    pub(crate) sizes: Vec<usize>,
    pub(crate) secs: f64,
    pub(crate) rounds: usize,
    /// The core the traffic tool is pinned to.
    pub(crate) cpu: Option<usize>,
    /// Also profile one 64-byte VM -> VM run per contender (`perf record`).
    pub(crate) profile: bool,
}

impl Default for Options {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Options {
            enabled: true,
            only: false,
            runs: 3,
            sizes: vec![64, 512, 1500],
            secs: 2.0,
            rounds: 20_000,
            // The last core: the first is where interrupts and most other
            // work land.
            cpu: Some(cores - 1),
            profile: false,
        }
    }
}

pub(crate) const USAGE: &str = "  --no-datapath     skip the data-path section
  --datapath-only   only the data-path section (no whole-host or per-VM part)
  --datapath-runs N runs per data-path figure, medians reported (default 3)
  --datapath-sizes L frame sizes in bytes (default 64,512,1500)
  --datapath-secs S seconds per packets/s figure (default 2)
  --datapath-cpu N|none core the traffic tool is pinned to (default: the last)
  --datapath-profile also profile one 64-byte VM -> VM run per contender
                    with `perf record -e cpu-clock` and say where the time goes";

impl Options {
    /// Takes `arg` (and its value from `value`) when it is a data-path option.
    pub(crate) fn take(
        &mut self,
        arg: &str,
        value: &mut dyn FnMut(&str) -> Result<String>,
    ) -> Result<bool> {
        match arg {
            "--no-datapath" => self.enabled = false,
            "--datapath-only" => self.only = true,
            "--datapath-profile" => self.profile = true,
            "--datapath-runs" => {
                self.runs = value(arg)?.parse().context("--datapath-runs: a number")?;
                ensure!(self.runs > 0, "--datapath-runs must be at least 1");
            }
            "--datapath-sizes" => {
                self.sizes = value(arg)?
                    .split(',')
                    .map(|c| c.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .context("--datapath-sizes: comma-separated numbers")?;
                ensure!(
                    self.sizes
                        .iter()
                        .all(|&s| (crate::datapath::frame::MIN_FRAME..=1514).contains(&s)),
                    "--datapath-sizes: each between {} and 1514 (a 1500-byte MTU)",
                    crate::datapath::frame::MIN_FRAME
                );
            }
            "--datapath-secs" => {
                self.secs = value(arg)?.parse().context("--datapath-secs: seconds")?;
                ensure!(self.secs > 0.0, "--datapath-secs must be positive");
            }
            "--datapath-cpu" => {
                let v = value(arg)?;
                self.cpu = match v.as_str() {
                    "none" => None,
                    n => Some(n.parse().context("--datapath-cpu: a core number or none")?),
                };
            }
            _ => return Ok(false),
        }
        ensure!(
            self.enabled || !self.only,
            "--no-datapath and --datapath-only contradict each other"
        );
        Ok(true)
    }
}

/// What the kernel forwards through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Contender {
    /// Our table, 64 VMs wired.
    Ours,
    /// Our table, 4096 VMs wired.
    Ours4096,
    /// Our routes with the table deleted (64 VMs).
    Bare,
    /// The same at 4096 VMs: the floor of [`Contender::Ours4096`].
    Bare4096,
    /// The same taps (64) as ports of a bridge; no table, no routes to them,
    /// and br_netfilter's calls into IP hooks off (the bridge at its best).
    Bridge,
    /// The same bridge with br_netfilter's calls into IP hooks left on (its
    /// default wherever it is loaded, e.g. by Docker; built in here).
    BridgeNf,
    /// Our table (64 VMs) plus a flowtable offloading established flows.
    Flowtable,
}

pub(crate) const CONTENDERS: [Contender; 7] = [
    Contender::Ours,
    Contender::Ours4096,
    Contender::Bare,
    Contender::Bare4096,
    Contender::Bridge,
    Contender::BridgeNf,
    Contender::Flowtable,
];

impl Contender {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Contender::Ours => "ours (64 VMs)",
            Contender::Ours4096 => "ours (4096 VMs)",
            Contender::Bare => "bare routing (64)",
            Contender::Bare4096 => "bare routing (4096)",
            Contender::Bridge => "bridge",
            Contender::BridgeNf => "bridge + br_netfilter",
            Contender::Flowtable => "ours + flowtable",
        }
    }

    fn bridged(self) -> bool {
        matches!(self, Contender::Bridge | Contender::BridgeNf)
    }

    fn vms(self) -> u32 {
        match self {
            Contender::Ours4096 | Contender::Bare4096 => 4096,
            _ => 64,
        }
    }
}

/// The two paths of the issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathKind {
    VmToVm,
    Uplink,
}

impl PathKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PathKind::VmToVm => "vm1 -> vm2",
            PathKind::Uplink => "vm1 -> uplink",
        }
    }
}

/// One run's figures for one contender, path and size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Figure {
    pub(crate) pps: f64,
    pub(crate) cpu_ns: f64,
    pub(crate) lost: u64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
}

/// What a figure is of: who forwards, which path, which frame size.
pub(crate) type Key = (Contender, PathKind, usize);

pub(crate) type Figures = BTreeMap<Key, Vec<Figure>>;

/// Why a contender could not be measured here (a kernel without
/// flowtables), once per contender.
pub(crate) type Unavailable = BTreeMap<Contender, String>;

/// Runs the section: every contender `opts.runs` times, each run in a fresh
/// namespace, the order rotated per run.
pub(crate) fn run(env: &Env, opts: &Options) -> Result<(Figures, Unavailable)> {
    let mut figures = Figures::new();
    let mut unavailable = Unavailable::new();
    for run in 0..opts.runs {
        let mut order = CONTENDERS.to_vec();
        let len = order.len();
        order.rotate_left(run % len);
        for contender in order {
            if unavailable.contains_key(&contender) {
                continue;
            }
            let started = std::time::Instant::now();
            match run_case(env, opts, contender)? {
                Ok(case) => {
                    for (key, fig) in case {
                        figures.entry(key).or_default().push(fig);
                    }
                }
                Err(why) => {
                    eprintln!("==> data path: {}: not measured: {why}", contender.name());
                    unavailable.insert(contender, why);
                    continue;
                }
            }
            eprintln!(
                "==> data path run {}/{}: {} ({:.0} s)",
                run + 1,
                opts.runs,
                contender.name(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok((figures, unavailable))
}

/// One contender in a brand-new namespace: every path and size.
/// `Ok(Err(why))` when the kernel cannot run it.
fn run_case(
    env: &Env,
    opts: &Options,
    contender: Contender,
) -> Result<std::result::Result<Vec<(Key, Figure)>, String>> {
    blixard_netns::run_in_new(|| {
        let sink = NetnsHolder::spawn().context("starting the sink namespace")?;
        let wired = setup::wire(env, contender, &sink)?;
        if let Err(why) = wired {
            return Ok(Err(why));
        }
        let mut out = Vec::new();
        for path in [PathKind::VmToVm, PathKind::Uplink] {
            for &size in &opts.sizes {
                let key = (contender, path, size);
                let rate = tool(env, opts, key, Mode::Rate, &sink)?;
                let pp = tool(env, opts, key, Mode::PingPong, &sink)?;
                out.push((
                    key,
                    Figure {
                        pps: rate.pps(),
                        cpu_ns: rate.cpu_ns_per_packet(),
                        lost: rate.lost + pp.lost,
                        p50_us: pp.p50_us.unwrap_or(f64::NAN),
                        p99_us: pp.p99_us.unwrap_or(f64::NAN),
                    },
                ));
            }
        }
        setup::check_still_wired(contender)?;
        Ok(Ok(out))
    })?
}

fn tool_args(
    opts: &Options,
    (contender, path, size): Key,
    mode: Mode,
    sink: &NetnsHolder,
) -> traffic::Args {
    traffic::Args {
        mode,
        target: match path {
            PathKind::VmToVm => Target::Vm,
            PathKind::Uplink => Target::Uplink {
                ip: SINK_V4.parse().expect("an address"),
                netns: format!("pid:{}", sink.pid()),
            },
        },
        size,
        secs: opts.secs,
        rounds: opts.rounds,
        pool: setup::pool(contender.vms()),
        bridge: contender.bridged().then(|| setup::BRIDGE.to_string()),
        cpu: opts.cpu,
    }
}

/// Runs the traffic tool in the calling thread's namespace.
fn tool(env: &Env, opts: &Options, key: Key, mode: Mode, sink: &NetnsHolder) -> Result<Outcome> {
    let (contender, path, size) = key;
    let args = tool_args(opts, key, mode, sink);
    let label = format!("{}, {}, {size} B, {mode:?}", contender.name(), path.name());
    let start = || {
        Command::new(&env.traffic)
            .arg("__traffic")
            .args(args.to_args())
            .output()
            .with_context(|| format!("{label}: starting the traffic tool"))
    };
    let mut out = start()?;
    if !out.status.success() {
        // A measurement, not a test: one retry, said out loud, so that a
        // loaded machine's lost warm-up does not throw away the whole run.
        eprintln!(
            "==> {label}: the traffic tool failed, once more: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        out = start()?;
    }
    ensure!(
        out.status.success(),
        "{label}: the traffic tool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{label}: unreadable tool output"))?;
    let outcome = Outcome::from_json(&json)?;
    ensure!(outcome.received > 0, "{label}: nothing arrived ({json})");
    Ok(outcome)
}

/// The whole section: the runs, the tables, the profile when asked; the
/// verdicts, and the JSON for `--json`.
pub(super) fn section(env: &Env, opts: &Options) -> Result<(Vec<Verdict>, serde_json::Value)> {
    let (figures, unavailable) = run(env, opts)?;
    let verdicts = report(opts, &figures, &unavailable);
    if opts.profile {
        profile::run(env, opts, &unavailable)?;
    }
    Ok((verdicts, report::to_json(opts, &figures, &unavailable)))
}
