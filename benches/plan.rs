//! The pure part of the control plane at scale: planning a host and diffing
//! it against an empty one, for 64..4096 VMs. (The whole-process
//! benchmarks against the shell baselines are `cargo xtask bench`.)

use std::time::{Duration, Instant};

use blixard_addr::config::{Config, VmSelection};
use blixard_addr::diff::{DiffOptions, diff};
use blixard_addr::planner::{HostFacts, build_plan};
use blixard_addr::state::{ObservedFirewall, ObservedHost};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    println!(
        "{:>6} {:>12} {:>12} {:>8}",
        "VMs", "plan", "diff", "changes"
    );
    for vms in [64u32, 256, 1024, 4096] {
        let config = Config {
            vms: VmSelection::Count(vms),
            ipv4: blixard_addr::config::Ipv4Config {
                pool: "10.0.0.0/16".parse().expect("valid"),
            },
            ..Config::default()
        };
        let facts = HostFacts {
            external_interface: Some("eth0".into()),
            ..HostFacts::default()
        };
        let empty = ObservedHost {
            links: vec![],
            routes: vec![],
            sysctls: Default::default(),
            firewall: ObservedFirewall::Absent,
        };
        let (mut plan_t, mut diff_t, mut changes) = (vec![], vec![], 0);
        for _ in 0..7 {
            let start = Instant::now();
            let plan = build_plan(&config, &facts).expect("valid config");
            plan_t.push(start.elapsed());
            let start = Instant::now();
            changes = diff(&plan, &empty, &DiffOptions::default())
                .expect("no conflicts")
                .len();
            diff_t.push(start.elapsed());
        }
        println!(
            "{vms:>6} {:>12?} {:>12?} {changes:>8}",
            median(plan_t),
            median(diff_t)
        );
    }
}
