//! Where the time goes: one 64-byte VM -> VM run per contender under
//! `perf record -e cpu-clock` (a software clock: this machine's virtual
//! CPUs have no hardware counters, so `perf stat -e instructions` reads
//! nothing), its kernel symbols put in buckets, each bucket's share times
//! the run's CPU per packet.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use blixard_netns::testing::NetnsHolder;

use super::{CONTENDERS, Options, PathKind, Unavailable, setup, tool_args};
use crate::bench::Env;
use crate::datapath::traffic::{Mode, Outcome};

/// Buckets by symbol prefix, first match wins (conntrack before the `ipv4_`
/// helpers it owns, NAT before conntrack's `nf_` prefix).
const BUCKETS: &[(&str, &[&str])] = &[
    ("NAT", &["nf_nat", "nft_masq", "masquerade"]),
    (
        "conntrack",
        &[
            "nf_conntrack",
            "__nf_conntrack",
            "nf_ct_",
            "__nf_ct",
            "____nf_conntrack",
            "nf_confirm",
            "ipv4_confirm",
            "ipv6_confirm",
            "hash_conntrack",
            "ipv4_conntrack",
            "ipv6_conntrack",
            "nf_l4proto",
            "udp_error",
            "nf_checksum",
            "nf_ip_checksum",
        ],
    ),
    (
        "nftables rules",
        &["nft_", "__nft_", "nf_tables", "jhash", "rhashtable"],
    ),
    ("netfilter hooks", &["nf_hook", "nf_ingress", "nf_flow"]),
    ("bridge", &["br_", "__br_"]),
    (
        "IP routing and forwarding",
        &[
            "ip_",
            "__ip_",
            "fib_",
            "fib4",
            "neigh_",
            "__neigh",
            "dst_",
            "ipv4_",
            "inet_",
            "rt_",
            "__mkroute",
            "ip4_",
        ],
    ),
    (
        "tap and copies",
        &[
            "tun_",
            "copy_",
            "_copy_",
            "__check_object",
            "rep_movs",
            "memcpy",
            "memset",
        ],
    ),
    (
        "skb and device",
        &[
            "__netif",
            "netif_",
            "__dev_",
            "dev_",
            "skb_",
            "__skb",
            "kfree_skb",
            "consume_skb",
            "__alloc_skb",
            "kmem_cache",
            "__kmem",
            "kmalloc",
            "__kmalloc",
            "sch_",
            "pfifo",
            "eth_",
            "build_skb",
            "napi_",
            "__napi",
            "validate_xmit",
            "__build_skb",
            "page_frag",
            "__slab",
            "___slab",
            "slab_",
            "kfree",
            "__qdisc",
            "qdisc",
        ],
    ),
];

/// Symbols listed per contender under the table.
const TOP: usize = 10;

fn bucket_of(symbol: &str) -> &'static str {
    BUCKETS
        .iter()
        .find(|(_, prefixes)| prefixes.iter().any(|p| symbol.starts_with(p)))
        .map_or("syscall, scheduler, other", |(name, _)| name)
}

/// `perf report --stdio -q --sort sym` lines (`  12.34%  [k] nf_conntrack_in`)
/// summed per bucket, in percent.
pub(super) fn buckets(report: &str) -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::new();
    for line in report.lines() {
        let mut words = line.split_whitespace();
        let (Some(pct), Some(_kind), Some(sym)) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let Ok(pct) = pct.trim_end_matches('%').parse::<f64>() else {
            continue;
        };
        *out.entry(bucket_of(sym)).or_default() += pct;
    }
    out
}

pub(super) fn have_perf() -> bool {
    Command::new("perf")
        .args([
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-o",
            "/dev/null",
            "--",
            "true",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Profiles every available contender and prints the table.
pub(super) fn run(env: &Env, opts: &Options, unavailable: &Unavailable) -> Result<()> {
    if !have_perf() {
        println!(
            "\nno profile: `perf record -e cpu-clock` does not work here (Debian: apt-get install linux-perf)"
        );
        return Ok(());
    }
    let size = 64;
    let mut rows = Vec::new();
    for contender in CONTENDERS {
        if unavailable.contains_key(&contender) {
            continue;
        }
        let (outcome, report) = blixard_netns::run_in_new(|| -> Result<(Outcome, String)> {
            let sink = NetnsHolder::spawn().context("starting the sink namespace")?;
            if let Err(why) = setup::wire(env, contender, &sink)? {
                anyhow::bail!("{}: {why}", contender.name());
            }
            let data = env.scratch.join("perf.data");
            let args = tool_args(opts, (contender, PathKind::VmToVm, size), Mode::Rate, &sink);
            let out = Command::new("perf")
                .args(["record", "-q", "-e", "cpu-clock", "-o"])
                .arg(&data)
                .arg("--")
                .arg(&env.traffic)
                .arg("__traffic")
                .args(args.to_args())
                .output()
                .context("starting perf record")?;
            ensure!(
                out.status.success(),
                "perf record of {}: {}",
                contender.name(),
                String::from_utf8_lossy(&out.stderr)
            );
            let outcome = Outcome::from_json(&serde_json::from_slice(&out.stdout)?)?;
            let report = Command::new("perf")
                .args(["report", "--stdio", "-q", "--sort", "sym", "-i"])
                .arg(&data)
                .output()
                .context("starting perf report")?;
            Ok((
                outcome,
                String::from_utf8_lossy(&report.stdout).into_owned(),
            ))
        })??;
        let buckets = buckets(&report);
        rows.push((contender, outcome, buckets, report));
    }
    let names: Vec<&str> = BUCKETS
        .iter()
        .map(|(n, _)| *n)
        .chain(["syscall, scheduler, other"])
        .collect();
    println!(
        "\nwhere the time goes: vm1 -> vm2, {size} B, one run each under `perf record -e cpu-clock`; ns per packet by kernel area (share of the samples x the run's CPU per packet):\n"
    );
    println!(
        "| area | {} |",
        rows.iter()
            .map(|(c, ..)| c.name())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    println!("|---|{}", "---|".repeat(rows.len()));
    for name in &names {
        let cells: Vec<String> = rows
            .iter()
            .map(|(_, o, b, _)| {
                let pct = b.get(name).copied().unwrap_or(0.0);
                format!("{:.0} ({pct:.0}%)", pct / 100.0 * o.cpu_ns_per_packet())
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = rows
        .iter()
        .map(|(_, o, ..)| format!("{:.0} ns, {:.0}k pps", o.cpu_ns_per_packet(), o.pps() / 1e3))
        .collect();
    println!("| total | {} |", totals.join(" | "));
    for (c, outcome, _, report) in &rows {
        println!(
            "\n{}: the hottest symbols, then every netfilter one (ns per packet)",
            c.name()
        );
        let lines: Vec<(f64, &str)> = report
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let pct = w.next()?.trim_end_matches('%').parse::<f64>().ok()?;
                Some((pct, w.nth(1)?))
            })
            .collect();
        let netfilter = |sym: &str| {
            matches!(
                bucket_of(sym),
                "NAT" | "conntrack" | "nftables rules" | "netfilter hooks"
            )
        };
        for (i, (pct, sym)) in lines.iter().enumerate() {
            if i < TOP || (netfilter(sym) && *pct >= 0.1) {
                println!(
                    "    {pct:5.2}% {:5.0} ns  {sym}{}",
                    pct / 100.0 * outcome.cpu_ns_per_packet(),
                    if netfilter(sym) { "  [netfilter]" } else { "" }
                );
            }
        }
    }
    Ok(())
}
