//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use blixard_addr::HostPlan;
use blixard_addr::plan::SysctlCondition;
use blixard_addr::state::{ObservedFirewall, ObservedHost, ObservedLink, ObservedRoute, TunInfo};

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
            addresses: l.addresses.clone(),
        });
        for r in &l.routes {
            routes.push(ObservedRoute {
                destination: *r,
                interface: Some(l.vm.interface.clone()),
                protocol: plan.ownership.route_protocol,
                table: 254,
            });
        }
        for s in &l.sysctls {
            sysctls.insert(s.key.clone(), s.value.clone());
        }
    }
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
        addresses: vec![],
    }
}
