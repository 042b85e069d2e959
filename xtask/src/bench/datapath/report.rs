//! The data-path tables (packets/s with the ratios, latency, CPU per
//! packet; the floor and the bridge side by side) and issue 17's verdicts.

use std::fmt::Write as _;

use serde_json::json;

use super::{CONTENDERS, Contender, Figure, Figures, Options, PathKind, Unavailable};
use crate::bench::Verdict;

/// The median of one metric over a figure's runs (NaNs, a ping-pong that
/// completed no round trip, left out).
fn median_of(runs: &[Figure], metric: fn(&Figure) -> f64) -> Option<f64> {
    let mut v: Vec<f64> = runs.iter().map(metric).filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

pub(crate) struct Medians<'a> {
    figures: &'a Figures,
}

impl Medians<'_> {
    pub(crate) fn get(
        &self,
        c: Contender,
        p: PathKind,
        size: usize,
        metric: fn(&Figure) -> f64,
    ) -> Option<f64> {
        self.figures
            .get(&(c, p, size))
            .and_then(|runs| median_of(runs, metric))
    }
}

fn pps(f: &Figure) -> f64 {
    f.pps
}
fn p50(f: &Figure) -> f64 {
    f.p50_us
}
fn p99(f: &Figure) -> f64 {
    f.p99_us
}
fn cpu(f: &Figure) -> f64 {
    f.cpu_ns
}
/// Packets per second of CPU time.
fn per_cpu_second(f: &Figure) -> f64 {
    1e9 / f.cpu_ns
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b)
}

fn fmt_x(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}

/// Prints the tables and returns the verdicts.
pub(crate) fn report(opts: &Options, figures: &Figures, unavailable: &Unavailable) -> Vec<Verdict> {
    let m = Medians { figures };
    let paths = [PathKind::VmToVm, PathKind::Uplink];
    let header = CONTENDERS.map(Contender::name).join(" | ");
    let mut rate = format!(
        "| path | frame | {header} | ours/bare (64) | ours/bare (4096) | ours 4096/64 | ours/bridge |\n|---|---|{}---|---|---|---|\n",
        "---|".repeat(CONTENDERS.len())
    );
    let mut latency = format!(
        "| path | frame | {header} |\n|---|---|{}\n",
        "---|".repeat(CONTENDERS.len())
    );
    // The same ratios from CPU per packet: the forwarding rate of one core
    // that nothing else wants (packets/s also counts the time the tool
    // waited for its core on a shared machine).
    let mut cpu_table = format!(
        "| path | frame | {header} | ours/bare (64) | ours/bare (4096) | ours 4096/64 | ours/bridge |\n|---|---|{}---|---|---|---|\n",
        "---|".repeat(CONTENDERS.len())
    );
    for path in paths {
        for &size in &opts.sizes {
            // n/a: the kernel cannot run that contender; -: no figure.
            let missing = |c: Contender| -> String {
                if unavailable.contains_key(&c) {
                    "n/a"
                } else {
                    "-"
                }
                .into()
            };
            let cell = |c, metric, fmt: &dyn Fn(f64) -> String| {
                m.get(c, path, size, metric).map_or_else(|| missing(c), fmt)
            };
            let rates: Vec<String> = CONTENDERS
                .iter()
                .map(|&c| cell(c, pps, &|v| format!("{:.0}k", v / 1e3)))
                .collect();
            let get = |c| m.get(c, path, size, pps);
            let _ = writeln!(
                rate,
                "| {} | {size} B | {} | {} | {} | {} | {} |",
                path.name(),
                rates.join(" | "),
                fmt_x(ratio(get(Contender::Ours), get(Contender::Bare))),
                fmt_x(ratio(get(Contender::Ours4096), get(Contender::Bare4096))),
                fmt_x(ratio(get(Contender::Ours4096), get(Contender::Ours))),
                fmt_x(ratio(get(Contender::Ours), get(Contender::Bridge))),
            );
            let lat: Vec<String> = CONTENDERS
                .iter()
                .map(
                    |&c| match (m.get(c, path, size, p50), m.get(c, path, size, p99)) {
                        (Some(a), Some(b)) => format!("{a:.1} / {b:.1}"),
                        _ => missing(c),
                    },
                )
                .collect();
            let _ = writeln!(
                latency,
                "| {} | {size} B | {} |",
                path.name(),
                lat.join(" | ")
            );
            let cpus: Vec<String> = CONTENDERS
                .iter()
                .map(|&c| cell(c, cpu, &|v| format!("{v:.0}")))
                .collect();
            let per_core = |c| m.get(c, path, size, per_cpu_second);
            let _ = writeln!(
                cpu_table,
                "| {} | {size} B | {} | {} | {} | {} | {} |",
                path.name(),
                cpus.join(" | "),
                fmt_x(ratio(per_core(Contender::Ours), per_core(Contender::Bare))),
                fmt_x(ratio(
                    per_core(Contender::Ours4096),
                    per_core(Contender::Bare4096)
                )),
                fmt_x(ratio(
                    per_core(Contender::Ours4096),
                    per_core(Contender::Ours)
                )),
                fmt_x(ratio(
                    per_core(Contender::Ours),
                    per_core(Contender::Bridge)
                )),
            );
        }
    }
    let lost: u64 = figures.values().flatten().map(|f| f.lost).sum();
    println!();
    println!(
        "data path: UDP frames written into vm1's tap by a tool acting as the VMM ({}), median of {} run(s), each in a fresh network namespace; {:.1} s per packets/s figure, {} round trips per latency figure; {lost} frame(s) lost in all",
        opts.cpu
            .map_or("not pinned".into(), |c| format!("pinned to CPU {c}")),
        opts.runs,
        opts.secs,
        opts.rounds
    );
    println!("\npackets per second (forwarded by the kernel and read back out):\n");
    print!("{rate}");
    println!("\nround trip, vm1 -> far end -> vm1, p50 / p99 (µs):\n");
    print!("{latency}");
    println!(
        "\nCPU per forwarded packet (ns; the tool's user + system time, the kernel forwarding inside its write()):\n"
    );
    print!("{cpu_table}");
    for (c, why) in unavailable {
        println!("\n{}: {why}", c.name());
    }
    println!();
    verdicts(opts, &m, unavailable)
}

fn verdicts(opts: &Options, m: &Medians<'_>, unavailable: &Unavailable) -> Vec<Verdict> {
    let mut out = Vec::new();
    let vm = PathKind::VmToVm;
    for &size in &opts.sizes {
        let get = |c, metric| m.get(c, vm, size, metric);
        for (c, floor) in [
            (Contender::Ours, Contender::Bare),
            (Contender::Ours4096, Contender::Bare4096),
        ] {
            let mut v = Verdict::of(
                format!(
                    "data path {size} B, {}: >= 0.9x the packets/s of {}",
                    c.name(),
                    floor.name()
                ),
                ratio(get(c, pps), get(floor, pps)),
                "x",
                &|r| r >= 0.9,
            );
            per_core_too(
                &mut v,
                ratio(get(c, per_cpu_second), get(floor, per_cpu_second)),
            );
            out.push(v);
        }
        let mut v = Verdict::of(
            format!("data path {size} B: ours at 4096 VMs within 5% of 64 VMs"),
            ratio(get(Contender::Ours4096, pps), get(Contender::Ours, pps)),
            "x",
            &|r| (0.95..=1.05).contains(&r),
        );
        per_core_too(
            &mut v,
            ratio(
                get(Contender::Ours4096, per_cpu_second),
                get(Contender::Ours, per_cpu_second),
            ),
        );
        out.push(v);
        let mut v = Verdict::of(
            format!("data path {size} B: ours >= the bridge's packets/s"),
            ratio(get(Contender::Ours, pps), get(Contender::Bridge, pps)),
            "x",
            &|r| r >= 1.0,
        );
        per_core_too(
            &mut v,
            ratio(
                get(Contender::Ours, per_cpu_second),
                get(Contender::Bridge, per_cpu_second),
            ),
        );
        out.push(v);
        out.push(Verdict::of(
            format!("data path {size} B: ours' p99 round trip no worse than the bridge's"),
            ratio(get(Contender::Ours, p99), get(Contender::Bridge, p99)),
            "x",
            &|r| r <= 1.0,
        ));
        let flow = ratio(get(Contender::Flowtable, pps), get(Contender::Bare, pps));
        let mut v = Verdict::of(
            format!("data path {size} B: with a flowtable, above bare routing"),
            flow,
            "x",
            &|r| r > 1.0,
        );
        if let (None, Some(why)) = (flow, unavailable.get(&Contender::Flowtable)) {
            v.measured = format!("no measurement: {why}");
        }
        out.push(v);
    }
    out
}

/// Adds the same ratio from CPU per packet to a verdict's measurement (the
/// verdict stays on packets/s, as the issue sets it).
fn per_core_too(v: &mut Verdict, per_core: Option<f64>) {
    if let Some(r) = per_core {
        v.measured = format!("{} (per CPU-second: {r:.2}x)", v.measured);
    }
}

/// A target whose input is missing is missed, not dropped.
/// Every run's figures and the medians, for `--json`.
pub(crate) fn to_json(
    opts: &Options,
    figures: &Figures,
    unavailable: &Unavailable,
) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = figures
        .iter()
        .map(|((c, p, size), runs)| {
            let med = |metric| median_of(runs, metric);
            json!({
                "contender": c.name(), "path": p.name(), "frame_bytes": size,
                "median": { "pps": med(pps), "cpu_ns_per_packet": med(cpu), "p50_us": med(p50), "p99_us": med(p99) },
                "runs": runs.iter().map(|f| json!({"pps": f.pps, "cpu_ns_per_packet": f.cpu_ns, "p50_us": f.p50_us, "p99_us": f.p99_us, "lost": f.lost})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "runs": opts.runs, "secs": opts.secs, "rounds": opts.rounds, "cpu": opts.cpu,
        "figures": rows,
        "unavailable": unavailable.iter().map(|(c, why)| json!({"contender": c.name(), "why": why})).collect::<Vec<_>>(),
    })
}
