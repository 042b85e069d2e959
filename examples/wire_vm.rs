//! Wire and unwire one VM through the library, as an orchestrator does on
//! a busy host, and print how long each call took.
//!
//! ```text
//! cargo run --example wire_vm -- CONFIG INDEX [ROUNDS]
//! ```
//!
//! Runs in a brand-new network namespace unless `BX_ISOLATED=1` says the
//! caller already made one (the bench does, with the host's other VMs in
//! it), so it is safe to run as root anywhere. Each round unwires VM INDEX
//! and wires it again; the last line is `unwire_ns wire_ns`, the medians.
#![forbid(unsafe_code)]

use std::time::Instant;

use anyhow::Context;
use blixard_addr::config::Config;
use blixard_addr::planner::build_plan;
use blixard_host::{ApplyOptions, Host};
use blixard_netns::Netns;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: wire_vm CONFIG INDEX [ROUNDS]")?;
    let index: u32 = args.next().context("an index")?.parse()?;
    let rounds: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let config = Config::from_toml_str(&text, &path)?;
    let work = move || -> anyhow::Result<(u128, u128)> {
        let host = Host::new(Netns::Current);
        let plan = build_plan(&config, &host.facts(&config)?)?;
        let index = plan.layout.index(index)?;
        let (mut unwire, mut wire) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            host.unwire_vm(&plan, index, false)?;
            unwire.push(t.elapsed().as_nanos());
            let t = Instant::now();
            let outcome = host.wire_vm(&plan, index, &ApplyOptions::default())?;
            wire.push(t.elapsed().as_nanos());
            anyhow::ensure!(!outcome.changes.is_empty(), "wire changed nothing");
        }
        unwire.sort_unstable();
        wire.sort_unstable();
        Ok((unwire[rounds / 2], wire[rounds / 2]))
    };
    let (unwire, wire) = if std::env::var("BX_ISOLATED").as_deref() == Ok("1") {
        work()?
    } else {
        blixard_netns::run_in_new(work).context("a throwaway network namespace needs root")??
    };
    println!("{unwire} {wire}");
    Ok(())
}
