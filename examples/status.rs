//! Print how a host differs from a plan, changing nothing: the changes
//! `apply` would make, what differs inside our nft table, and the foreign
//! objects in the way.
//!
//! ```text
//! cargo run --example status                                  # this namespace, built-in defaults
//! cargo run --example status -- --netns my-netns --config network.toml
//! ```
//!
//! `--netns` takes a name in /run/netns, an absolute path such as
//! `/proc/PID/ns/net`, or `pid:PID`. It only reads (netlink dumps and
//! `nft list`), so it is safe on any host; reading our nft table needs
//! root. An `external_interface = "auto"` with no default route is left out,
//! as `blixard-net plan` does.
#![forbid(unsafe_code)]

use anyhow::{Context, bail};
use blixard_addr::{Config, build_plan};
use blixard_host::{Host, HostError};
use blixard_netns::Netns;

fn main() -> anyhow::Result<()> {
    let (mut netns, mut config) = (Netns::Current, Config::default());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--netns", Some(spec)) => netns = spec.parse()?,
            ("--config", Some(path)) => {
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
                config = Config::from_toml_str(&text, &path)?;
            }
            _ => bail!("usage: status [--netns NETNS] [--config FILE]"),
        }
    }
    let host = Host::new(netns);
    let facts = match host.facts(&config) {
        Err(HostError::NoDefaultRoute(_)) => {
            config.external_interface = "none".into();
            host.facts(&config)?
        }
        facts => facts?,
    };
    let plan = build_plan(&config, &facts)?;
    let status = host.status(&plan)?;
    for change in &status.drift {
        println!("would {change}");
    }
    for difference in &status.firewall_differences {
        println!("nft table: {difference}");
    }
    for conflict in &status.conflicts {
        println!("in the way: {conflict}");
    }
    if status.in_sync() {
        println!("{}: in sync ({} VMs)", host.netns(), plan.links.len());
    } else {
        println!(
            "{}: {} change(s) to make, {} conflict(s)",
            host.netns(),
            status.drift.len(),
            status.conflicts.len()
        );
    }
    Ok(())
}
