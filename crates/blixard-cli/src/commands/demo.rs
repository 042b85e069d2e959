//! `demo`: the whole routed network in throwaway namespaces, end to end.

use std::process::ExitCode;

use blixard_addr::config::VmSelection;
use blixard_addr::render::{self, GuestNetwork};
use blixard_host::testbed::{self, Guest, Probe, Upstream};
use blixard_host::{ApplyOptions, Host};
use blixard_netns::Netns;

use super::{Failure, load_config};
use crate::cli::Args;

/// The most guests the demo starts (each is a namespace, a process and
/// two relay threads).
const MAX_GUESTS: u32 = 16;

pub fn run(args: &Args, hosts: Option<u8>) -> Result<ExitCode, Failure> {
    if args.netns.is_some() {
        return Err(Failure::BadInput(
            "demo makes its own namespaces; --netns does not apply".into(),
        ));
    }
    if let Some(hosts) = hosts.filter(|&h| h != 1) {
        return cluster(args, hosts);
    }
    let guests = args.vms.unwrap_or(3);
    if guests == 0 || guests > MAX_GUESTS {
        return Err(Failure::BadInput(format!(
            "--vms {guests}: the demo runs 1..={MAX_GUESTS} guests"
        )));
    }
    let mut loaded = load_config(args)?;
    loaded.config.vms = VmSelection::Count(guests);
    loaded.config.external_interface = testbed::UPLINK.into();
    loaded.config.owner = Some("0".into());
    let valid = loaded.validated()?;
    // Names only (the uplink is named, never "auto"): nothing here asks
    // this machine's network.
    let facts = Host::new(Netns::Current).facts(&loaded.config)?;
    let plan = valid.plan(&facts).map_err(|e| loaded.config_error(e))?;
    // Everything happens on a thread inside a brand-new namespace standing
    // in for the host; this machine's own network is never touched.
    let result = blixard_netns::run_in_new(move || -> Result<Vec<Probe>, Failure> {
        let fail =
            |what: &str, e: &dyn std::fmt::Display| Failure::Failed(format!("demo: {what}: {e}"));
        let upstream = Upstream::build().map_err(|e| fail("upstream", &e))?;
        let host = Host::new(Netns::Current);
        eprintln!("demo: applying the plan for {guests} VMs in a throwaway host namespace");
        let first = host.apply(&plan, &ApplyOptions::default())?;
        eprintln!("demo: apply made {} changes", first.changes.len());
        let mut running = Vec::new();
        for link in &plan.links {
            let network = GuestNetwork::new(&plan, link.vm.clone());
            let guest = Guest::start(
                &link.vm,
                usize::from(plan.guest.queues),
                &render::ip_commands(&network).join(" && "),
            )
            .map_err(|e| fail(&link.vm.interface, &e))?;
            running.push(guest);
        }
        eprintln!(
            "demo: {} guests running behind stand-in VMMs; probing",
            running.len()
        );
        let probes = testbed::connectivity_matrix(&running, &upstream);
        let again = host.apply(&plan, &ApplyOptions::default())?;
        eprintln!("demo: second apply made {} changes", again.changes.len());
        drop(running);
        let down = host.down(&plan, false)?;
        eprintln!("demo: down made {} changes", down.changes.len());
        Ok(probes)
    })
    .map_err(|e| Failure::Failed(format!("demo needs root to create network namespaces: {e}")))??;
    print_matrix(args, &result);
    Ok(if result.iter().all(|p| p.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `demo --hosts N`.
fn cluster(args: &Args, hosts: u8) -> Result<ExitCode, Failure> {
    let max = super::demo_cluster::MAX_HOSTS;
    if !(2..=max).contains(&hosts) {
        return Err(Failure::BadInput(format!(
            "--hosts {hosts}: the demo builds 2..={max} hosts (1 is the single-host demo)"
        )));
    }
    let guests = args.vms.unwrap_or(2);
    if guests == 0 || guests > MAX_GUESTS {
        return Err(Failure::BadInput(format!(
            "--vms {guests}: the demo runs 1..={MAX_GUESTS} guests per host"
        )));
    }
    let probes = super::demo_cluster::run(&load_config(args)?, hosts, guests)?;
    print_matrix(args, &probes);
    Ok(if probes.iter().all(|p| p.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_matrix(args: &Args, probes: &[Probe]) {
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(probes).expect("probes serialize")
        );
        return;
    }
    // Wide enough for the cluster's `host1/vm64` and its IPv6 addresses.
    let name = probes
        .iter()
        .map(|p| p.from.len().max(p.to.len()))
        .max()
        .unwrap_or(0)
        .max(10);
    let address = probes
        .iter()
        .map(|p| p.address.to_string().len())
        .max()
        .unwrap_or(0)
        .max(14);
    println!(
        "{:<name$} {:<name$} {:<5} {:<address$} result",
        "from", "to", "kind", "address"
    );
    for p in probes {
        println!(
            "{:<name$} {:<name$} {:<5} {:<address$} {}",
            p.from,
            p.to,
            p.kind,
            p.address.to_string(),
            match (p.ok, &p.error) {
                (true, _) => "ok".to_string(),
                (false, None) => "FAIL".to_string(),
                // Not "blocked": the probe itself could not be made.
                (false, Some(e)) => format!("FAIL ({e})"),
            }
        );
    }
    let ok = probes.iter().filter(|p| p.ok).count();
    println!(
        "{ok}/{} probes ok{}",
        probes.len(),
        if ok == probes.len() {
            ": all green"
        } else {
            ""
        }
    );
}
