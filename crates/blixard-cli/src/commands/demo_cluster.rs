//! `demo --hosts N`: a cluster in throwaway namespaces. N host namespaces on
//! a fabric bridge, each with its share of the pools, its own BIRD (config,
//! socket and pid file in a temporary directory) and guests behind
//! stand-in VMMs; the matrix of every VM reaching every VM on the other
//! hosts; then everything torn down.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use blixard_addr::bgp::{BgpPlan, bird};
use blixard_addr::config::{BgpConfig, BgpPeerConfig, Config, VmSelection, VmSpec};
use blixard_addr::plan::HostPlan;
use blixard_addr::render::{self, GuestNetwork};
use blixard_bird::Birdc;
use blixard_host::testbed::{self, Bird, Fabric, FabricHost, Guest, Probe};
use blixard_host::{ApplyOptions, Host};
use blixard_netns::Netns;

use super::{Failure, Loaded};

/// The most hosts the demo builds.
pub(super) const MAX_HOSTS: u8 = 8;
/// Host N owns the indices from `N * SPACING`: aligned, so its VMs form
/// blocks.
const SPACING: u32 = 64;
/// How long BGP may take to bring every session and route up.
const CONVERGE: Duration = Duration::from_secs(60);

fn fail(what: &str, e: &dyn std::fmt::Display) -> Failure {
    Failure::Failed(format!("demo: {what}: {e}"))
}

/// The config of host `n` of `hosts`, each with `guests` VMs.
fn host_config(base: &Config, n: u8, hosts: u8, guests: u32) -> Config {
    let mut config = base.clone();
    let first = u32::from(n) * SPACING;
    config.vms = VmSelection::List(vec![VmSpec::Range(format!(
        "{first}-{}",
        first + guests - 1
    ))]);
    config.external_interface = testbed::FABRIC_LINK.into();
    config.owner = Some("0".into());
    let mut bgp = BgpConfig::new(64512, testbed::fabric_ipv4(n));
    bgp.peers = (1..=hosts)
        .filter(|&m| m != n)
        .map(|m| BgpPeerConfig::new(testbed::fabric_ipv4(m), 64512))
        .collect();
    config.bgp = Some(bgp);
    config
}

/// One host of the demo.
struct DemoHost {
    name: String,
    fabric: FabricHost,
    plan: HostPlan,
    bird: Bird,
    guests: Vec<Guest>,
}

impl DemoHost {
    fn bgp(&self) -> &BgpPlan {
        self.plan.bgp.as_ref().expect("a cluster host")
    }
}

/// Runs the cluster demo; the probes, or why it could not run.
pub(super) fn run(loaded: &Loaded, hosts: u8, guests: u32) -> Result<Vec<Probe>, Failure> {
    let layout = loaded.validated()?.layout().clone();
    let top = u32::from(hosts) * SPACING + guests - 1;
    if top > layout.max_index() {
        return Err(Failure::BadInput(format!(
            "demo --hosts {hosts}: host {hosts}'s VMs reach index {top}, beyond the pool's {}; use a larger [ipv4] pool (e.g. a /16)",
            layout.max_index()
        )));
    }
    let mut plans = Vec::new();
    for n in 1..=hosts {
        let config = host_config(&loaded.config, n, hosts, guests);
        let facts = Host::new(Netns::Current).facts(&config)?;
        let plan = config
            .validated()
            .and_then(|v| v.plan(&facts))
            .map_err(|e| loaded.config_error(e))?;
        plans.push(plan);
    }
    let dir = std::env::temp_dir().join(format!("blixard-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| fail("temporary directory", &e))?;
    // Everything happens on a thread inside a brand-new namespace; each
    // host, its guests and the fabric are namespaces of their own.
    let result = blixard_netns::run_in_new(|| build_and_probe(&dir, plans));
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(|e| {
        Failure::Failed(format!("demo needs root to create network namespaces: {e}"))
    })?
}

fn build_and_probe(dir: &Path, plans: Vec<HostPlan>) -> Result<Vec<Probe>, Failure> {
    let fabric = Fabric::build().map_err(|e| fail("fabric", &e))?;
    let mut hosts = Vec::new();
    for (plan, n) in plans.into_iter().zip(1u8..) {
        let name = format!("host{n}");
        let fabric_host = fabric.host(n).map_err(|e| fail(&name, &e))?;
        let ns = fabric_host.netns();
        let bgp = plan.bgp.as_ref().expect("a cluster host");
        let file: PathBuf = dir.join(format!("{name}.conf"));
        std::fs::write(&file, bird::render(bgp, &bgp.all_lone()))
            .map_err(|e| fail(&file.display().to_string(), &e))?;
        let bird = blixard_netns::run_in(&ns, || Bird::start(dir, &name, &file))
            .map_err(|e| fail(&name, &e))?
            .map_err(|e| fail(&name, &e))?;
        let applied = Host::new(ns.clone()).apply(&plan, &ApplyOptions::default())?;
        eprintln!(
            "demo: {name}: {} changes, VMs {}, BIRD on {}",
            applied.changes.len(),
            describe(bgp),
            bird.socket.display()
        );
        let mut running = Vec::new();
        for link in &plan.links {
            let script =
                render::ip_commands(&GuestNetwork::new(&plan, link.vm.clone())).join(" && ");
            let guest = blixard_netns::run_in(&ns, || Guest::start(&link.vm, 1, &script))
                .map_err(|e| fail(&link.vm.interface, &e))?
                .map_err(|e| fail(&link.vm.interface, &e))?;
            running.push(guest);
        }
        hosts.push(DemoHost {
            name,
            fabric: fabric_host,
            plan,
            bird,
            guests: running,
        });
    }
    let took = converge(&hosts)?;
    eprintln!(
        "demo: every BGP session established and every route installed in {took:.1?}; probing"
    );
    let guests: Vec<(&str, &Guest)> = hosts
        .iter()
        .flat_map(|h| h.guests.iter().map(move |g| (h.name.as_str(), g)))
        .collect();
    let probes = testbed::cluster_matrix(&guests);
    for host in &hosts {
        let down = Host::new(host.fabric.netns()).down(&host.plan, false)?;
        eprintln!(
            "demo: {}: down made {} changes",
            host.name,
            down.changes.len()
        );
    }
    Ok(probes)
}

/// Waits until every session is established and every host's BIRD hands
/// its kernel the other hosts' blocks.
fn converge(hosts: &[DemoHost]) -> Result<Duration, Failure> {
    let start = Instant::now();
    loop {
        let mut waiting = Vec::new();
        for host in hosts {
            let birdc = Birdc::new(&host.bird.socket);
            let up = birdc.protocols().is_ok_and(|ps| {
                host.bgp().peers.iter().all(|peer| {
                    ps.iter().any(|p| {
                        p.name == peer.protocol_name() && p.info.starts_with("Established")
                    })
                })
            });
            let exported: BTreeSet<_> = birdc
                .exported_to(bird::KERNEL4)
                .unwrap_or_default()
                .into_iter()
                .collect();
            let others = hosts.iter().filter(|h| h.name != host.name);
            let routed = others
                .flat_map(|h| h.bgp().blocks.iter().map(|b| ipnet::IpNet::V4(b.ipv4)))
                .all(|b| exported.contains(&b));
            if !(up && routed) {
                waiting.push(host.name.as_str());
            }
        }
        if waiting.is_empty() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > CONVERGE {
            return Err(Failure::Failed(format!(
                "demo: BGP did not converge within {CONVERGE:?} on {}",
                waiting.join(", ")
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn describe(bgp: &BgpPlan) -> String {
    let blocks: Vec<String> = bgp.blocks.iter().map(|b| b.ipv4.to_string()).collect();
    let lone: Vec<String> = bgp.lone_vms.iter().map(|v| v.ipv4.to_string()).collect();
    let list = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    format!("in blocks: {}; alone: {}", list(blocks), list(lone))
}
