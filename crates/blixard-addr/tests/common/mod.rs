//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use blixard_addr::HostPlan;
use blixard_addr::plan::GatewayPlan;
use blixard_addr::plan::SysctlCondition;
use blixard_addr::state::{
    ObservedFirewall, ObservedHost, ObservedLink, ObservedProxy, ObservedRoute, RouteKind, TunInfo,
};

/// The plan of config `toml` on a host with no facts.
pub fn plan_of(toml: &str) -> HostPlan {
    let config = blixard_addr::Config::from_toml_str(toml, "test").unwrap();
    blixard_addr::build_plan(&config, &blixard_addr::HostFacts::default()).unwrap()
}

/// The observed state of a host that holds exactly `plan`, built by hand
/// (not through the model) so the tests do not trust the model twice.
pub fn observed_equal_to(plan: &HostPlan) -> ObservedHost {
    let mut links = Vec::new();
    let mut routes = Vec::new();
    let mut sysctls = BTreeMap::new();
    for (i, l) in plan.links.iter().enumerate() {
        links.push(ObservedLink {
            ifindex: 10 + i as u32,
            name: l.vm.interface.clone(),
            group: plan.ownership.link_group,
            alias: Some(l.alias.clone()),
            up: true,
            mtu: l.mtu,
            tun: Some(TunInfo {
                tap: true,
                pi: false,
                vnet_hdr: l.tap.vnet_hdr,
                multi_queue: l.tap.multi_queue,
                persist: true,
                owner: l.tap.owner,
                group: l.tap.group,
                queues: 0,
            }),
            root_noqueue: l.noqueue,
            root_qdisc: l
                .ingress_limit
                .map(blixard_addr::state::ObservedRootQdisc::Limit),
            ingress_qdisc: l.egress.is_some(),
            addresses: Vec::new(),
            proxy_neighbours: l
                .proxy_neighbours
                .iter()
                .map(|&address| ObservedProxy {
                    address,
                    protocol: plan.ownership.route_protocol,
                })
                .collect(),
        });
        if let Some(egress) = &l.egress {
            links.push(ObservedLink {
                ifindex: 5000 + i as u32,
                name: egress.ifb.clone(),
                group: plan.ownership.link_group,
                alias: Some(egress.alias.clone()),
                up: true,
                mtu: 1500,
                tun: None,
                root_noqueue: false,
                root_qdisc: Some(blixard_addr::state::ObservedRootQdisc::Limit(egress.limit)),
                ingress_qdisc: false,
                addresses: Vec::new(),
                proxy_neighbours: Vec::new(),
            });
        }
        for r in &l.routes {
            routes.push(ObservedRoute {
                destination: *r,
                interface: Some(l.vm.interface.clone()),
                protocol: plan.ownership.route_protocol,
                table: 254,
                kind: RouteKind::Unicast,
                gateway: None,
                source: None,
            });
        }
        for s in &l.sysctls {
            sysctls.insert(s.key.clone(), s.value.clone());
        }
    }
    // Last, so that `links[i]` is VM i+1's tap.
    let gateway = GatewayPlan::tap();
    links.push(ObservedLink {
        ifindex: 9,
        name: plan.gateway.name.clone(),
        group: plan.ownership.link_group,
        alias: Some(plan.gateway.alias.clone()),
        up: true,
        mtu: 1500,
        tun: Some(TunInfo {
            tap: true,
            pi: false,
            vnet_hdr: gateway.vnet_hdr,
            multi_queue: gateway.multi_queue,
            persist: true,
            owner: None,
            group: None,
            queues: 0,
        }),
        root_noqueue: false,
        root_qdisc: None,
        ingress_qdisc: false,
        addresses: plan.gateway.addresses.clone(),
        proxy_neighbours: Vec::new(),
    });
    for s in &plan.sysctls {
        let value = match &s.when {
            SysctlCondition::Always => s.value.clone(),
            // An uplink that never took RAs: nothing to do.
            SysctlCondition::IfCurrently(_) => "0".into(),
        };
        sysctls.insert(s.key.clone(), value);
    }
    ObservedHost {
        links,
        routes,
        sysctls,
        firewall: ObservedFirewall::InSync,
    }
}

pub fn empty_host() -> ObservedHost {
    ObservedHost {
        links: Vec::new(),
        routes: Vec::new(),
        sysctls: BTreeMap::new(),
        firewall: ObservedFirewall::Absent,
    }
}

/// A link that is not ours: group 0, no alias, not a tap. Tests vary it with
/// struct update syntax.
pub fn plain_link(name: &str) -> ObservedLink {
    ObservedLink {
        ifindex: 99,
        name: name.into(),
        group: 0,
        alias: None,
        up: true,
        mtu: 1500,
        tun: None,
        root_noqueue: false,
        root_qdisc: None,
        ingress_qdisc: false,
        addresses: vec![],
        proxy_neighbours: vec![],
    }
}

/// Whether a property case reached the property's checks, or left early
/// because its input is outside what the property is about (a config the
/// planner refuses, a host with a conflict in the way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    Checks,
    Skipped,
}

/// Proptest's config for the properties of one test file: `cases` cases
/// (or `PROPTEST_CASES`), failures persisted in `regressions` (a file under
/// the crate's `proptest-regressions/`, as proptest does by default for
/// sources under `src/`) and replayed first on every later run.
pub fn proptest_config(cases: u32, regressions: &'static str) -> proptest::test_runner::Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(regressions),
        )),
        ..proptest::test_runner::Config::default()
    }
}

/// Runs a property as `proptest!` does (the config's cases, shrinking, the
/// failure persisted), then fails unless at least `min_percent` of the
/// cases reached its checks: a generator that drifts into input the code
/// refuses would otherwise pass while testing nothing.
pub fn run_property<S: proptest::strategy::Strategy>(
    name: &str,
    config: proptest::test_runner::Config,
    strategy: S,
    min_percent: usize,
    body: impl Fn(S::Value) -> Result<Reached, proptest::test_runner::TestCaseError>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let reached = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&strategy, |value| {
        total.fetch_add(1, Relaxed);
        if body(value)? == Reached::Checks {
            reached.fetch_add(1, Relaxed);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let (reached, total) = (reached.into_inner(), total.into_inner());
    eprintln!("{name}: {reached} of {total} cases reached the checks");
    assert!(
        total > 0 && reached * 100 >= min_percent * total,
        "{name}: only {reached} of {total} cases reached the checks (want at least \
         {min_percent}%): the generator mostly makes input the property skips"
    );
}

/// An IPv4 pool with zero host bits in private space (10/8, 172.16/12,
/// 192.168/16), its prefix from `min_prefix` (or the range's own) to /30.
pub fn private_ipv4_pool(
    min_prefix: u8,
) -> impl proptest::strategy::Strategy<Value = ipnet::Ipv4Net> {
    use proptest::prelude::*;
    use std::net::Ipv4Addr;
    (
        prop::sample::select(
            &[
                ([10, 0, 0, 0], 8u8),
                ([172, 16, 0, 0], 12),
                ([192, 168, 0, 0], 16),
            ][..],
        ),
        any::<u32>(),
        any::<u8>(),
    )
        .prop_map(move |((base, len), bits, p)| {
            let lo = min_prefix.max(len);
            let prefix = lo + p % (31 - lo);
            let addr = u32::from(Ipv4Addr::from(base)) | (bits & (u32::MAX >> len));
            ipnet::Ipv4Net::new(Ipv4Addr::from(addr), prefix)
                .unwrap()
                .trunc()
        })
}

/// An IPv6 pool with zero host bits in ULA (fd00::/8) or site-local
/// (fec0::/10, the default's) space, its prefix from `min_prefix` (or the
/// range's own) to /126.
pub fn ula_ipv6_pool(min_prefix: u8) -> impl proptest::strategy::Strategy<Value = ipnet::Ipv6Net> {
    use proptest::prelude::*;
    use std::net::Ipv6Addr;
    (
        prop::sample::select(&[(0xfd00u16, 8u8), (0xfec0, 10)][..]),
        any::<u128>(),
        any::<u8>(),
    )
        .prop_map(move |((base, len), bits, p)| {
            let lo = min_prefix.max(len);
            let prefix = lo + p % (127 - lo);
            let addr = (u128::from(base) << 112) | (bits & (u128::MAX >> len));
            ipnet::Ipv6Net::new(Ipv6Addr::from(addr), prefix)
                .unwrap()
                .trunc()
        })
}
