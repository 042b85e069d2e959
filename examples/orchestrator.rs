//! An orchestrator embedding blixard-net: allocate an index for a new VM,
//! wire only that VM on the host, and print what the VMM and the guest need.
//!
//! ```text
//! cargo run --example orchestrator -- web-1            # in a throwaway namespace
//! cargo run --example orchestrator -- web-1 my-netns   # in /run/netns/my-netns
//! ```
//!
//! Without a namespace argument everything happens in a brand-new network
//! namespace that vanishes on exit, so the example is safe to run as root on
//! any machine.
#![forbid(unsafe_code)]

use anyhow::Context;
use blixard_addr::alloc::Allocations;
use blixard_addr::config::{Config, VmSelection};
use blixard_addr::layout::Layout;
use blixard_addr::planner::build_vm_plan;
use blixard_addr::render::{self, GuestNetwork};
use blixard_host::{ApplyOptions, Host};
use blixard_netns::Netns;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "web-1".into());
    let target: Option<Netns> = args.next().map(|s| s.parse()).transpose()?;

    // 1. Allocate an index (a real orchestrator persists `Allocations`).
    let mut config = Config {
        external_interface: "none".into(),
        owner: Some("root".into()),
        ..Config::default()
    };
    let mut allocations = Allocations::new();
    // The pools and the name template bound the indices; no plan needed.
    let max = Layout::new(
        config.ipv4.pool,
        config.ipv6.pool,
        &config.interface_template,
    )?
    .max_index();
    let (name, index) = allocations.allocate(Some(&name), None, max)?;
    config.vms = VmSelection::List(vec![blixard_addr::config::VmSpec::Index(index.get())]);

    // 2. Wire only that VM: its tap, addresses, routes and firewall elements.
    let wire = move || -> anyhow::Result<()> {
        let host = Host::new(Netns::Current);
        let facts = host.facts(&config)?;
        // Only this VM's part of the plan: wiring costs the same on any host.
        let plan = build_vm_plan(&config, &facts, index.get())?;
        let outcome = host.wire_vm(&plan, index, &ApplyOptions::default())?;
        println!(
            "wired {name} as VM {index} with {} changes:",
            outcome.changes.len()
        );
        for change in &outcome.changes {
            println!("  {change}");
        }
        // 3. What the VMM and the guest need.
        let vm = plan
            .link(index)
            .context("the plan wires the VM")?
            .vm
            .clone();
        let guest = GuestNetwork::new(&plan, vm);
        println!(
            "\ncloud-hypervisor: {}",
            render::cloud_hypervisor(&guest)?.join(" ")
        );
        println!("firecracker:\n{}", render::firecracker(&guest)?);
        println!("\nguest (systemd-networkd):\n{}", render::networkd(&guest));
        Ok(())
    };
    match target {
        Some(ns) => blixard_netns::run_in(&ns, wire)??,
        None => blixard_netns::run_in_new(wire)
            .context("creating a throwaway network namespace needs root")??,
    }
    Ok(())
}
