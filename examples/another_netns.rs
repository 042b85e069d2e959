//! Apply a plan inside another network namespace than the caller's, through
//! `Host::new(Netns::...)`: the caller's thread never moves, every socket
//! and `nft` process of the apply belongs to that namespace.
//!
//! ```text
//! ip netns add blixard-demo
//! cargo run --example another_netns -- blixard-demo [--config FILE]
//! ip netns exec blixard-demo ip -br link    # vm1, vm2, ... are there
//! ip netns del blixard-demo
//! ```
//!
//! NETNS is a name in /run/netns, an absolute path such as
//! `/proc/PID/ns/net`, or `pid:PID`; it is required, so the example never
//! changes the namespace it was started in. Without `--config` it plans four
//! VMs with tap owner root and no NAT (a fresh namespace has no uplink).
#![forbid(unsafe_code)]

use anyhow::{Context, bail, ensure};
use blixard_addr::config::VmSelection;
use blixard_addr::{Config, build_plan};
use blixard_host::{ApplyOptions, Host};
use blixard_netns::Netns;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (netns, config) = match args.as_slice() {
        [netns] => (
            netns,
            Config {
                vms: VmSelection::Count(4),
                owner: Some("root".into()),
                external_interface: "none".into(),
                ..Config::default()
            },
        ),
        [netns, flag, path] if flag == "--config" => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
            (netns, Config::from_toml_str(&text, path)?)
        }
        _ => bail!("usage: another_netns NETNS [--config FILE]   (e.g. blixard-demo)"),
    };
    let netns: Netns = netns.parse()?;
    // Refuse a namespace that is not there before planning against it.
    netns.check()?;
    let host = Host::new(netns);
    let plan = build_plan(&config, &host.facts(&config)?)?;
    let outcome = host.apply(&plan, &ApplyOptions::default())?;
    for change in &outcome.changes {
        println!("  {change}");
    }
    println!(
        "{}: {} change(s) for {} VMs",
        host.netns(),
        outcome.changes.len(),
        plan.links.len()
    );
    for warning in &outcome.warnings {
        println!("warning: {warning}");
    }
    ensure!(host.status(&plan)?.in_sync(), "not in sync after apply");
    Ok(())
}
