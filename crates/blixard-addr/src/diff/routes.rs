//! Route changes of ours, and the foreign routes in the way of the pools.

use std::collections::BTreeSet;

use ipnet::IpNet;

use super::{LinkFate, Out, is_ours, order_key};
use crate::change::Change;
use crate::conflict::Conflict;
use crate::plan::{HostPlan, LinkPlan};
use crate::state::ObservedHost;

/// Route changes for `links` (the whole plan, or one VM). Our routes not in
/// the plan are deleted unless their link is `untouched` (deleted anyway,
/// or left as it is because a VMM holds it); for `wire_vm`
/// only routes on its link or towards its addresses are considered.
pub(super) fn route_changes(
    plan: &HostPlan,
    observed: &ObservedHost,
    links: &[LinkPlan],
    fates: &[LinkFate],
    untouched: &BTreeSet<&str>,
    whole_plan: bool,
    out: &mut Out,
) {
    let proto = plan.ownership.route_protocol;
    let wanted: BTreeSet<(&str, IpNet)> = plan
        .links
        .iter()
        .flat_map(|l| l.routes.iter().map(|r| (l.vm.interface.as_str(), *r)))
        .collect();
    let planned_destinations: BTreeSet<IpNet> = plan
        .links
        .iter()
        .flat_map(|l| l.routes.iter().copied())
        .collect();
    let in_scope = |dev: &str, dest: &IpNet| {
        whole_plan
            || links
                .iter()
                .any(|l| l.vm.interface == dev || l.routes.contains(dest))
    };
    let mut deletes: Vec<((u32, String), IpNet, String)> = Vec::new();
    for r in observed.routes.iter().filter(|r| r.protocol == proto) {
        // We never create a route without a link (blackhole, multipath):
        // one with our protocol is not our doing, as in `teardown`.
        let Some(dev) = r.interface.as_deref() else {
            continue;
        };
        // A link left as it is keeps its routes, but not one to a
        // destination the plan puts on another link: that one would stand
        // in the way of the plan's route.
        let needed_elsewhere = planned_destinations.contains(&r.destination);
        if wanted.contains(&(dev, r.destination)) || (untouched.contains(dev) && !needed_elsewhere)
        {
            continue;
        }
        if !in_scope(dev, &r.destination) {
            continue;
        }
        deletes.push((order_key(plan, dev), r.destination, dev.to_string()));
    }
    deletes.sort();
    deletes.dedup();
    for (_, destination, interface) in deletes {
        out.delete_route.push(Change::DeleteRoute {
            destination,
            interface,
            protocol: proto,
        });
    }
    // One lookup per planned route: a scan of every observed route for each
    // would make a no-op apply quadratic in the number of VMs.
    let present_routes: BTreeSet<(&str, IpNet)> = observed
        .routes
        .iter()
        .filter(|r| r.protocol == proto)
        .filter_map(|r| Some((r.interface.as_deref()?, r.destination)))
        .collect();
    for (lp, fate) in links.iter().zip(fates) {
        if *fate != LinkFate::Kept {
            continue;
        }
        for dest in &lp.routes {
            let flushed =
                dest.addr().is_ipv4() && out.ipv4_routes_flushed.contains(&lp.vm.interface);
            let present = !flushed && present_routes.contains(&(lp.vm.interface.as_str(), *dest));
            if !present {
                out.add_route.push(Change::AddRoute {
                    destination: *dest,
                    interface: lp.vm.interface.clone(),
                    protocol: proto,
                });
            }
        }
    }
}

/// Foreign routes in the way of a pool ([`crate::route_policy`]) that are
/// not on a link of ours. With `only`, just those covering that VM's
/// addresses.
pub(super) fn foreign_routes(
    plan: &HostPlan,
    observed: &ObservedHost,
    only: Option<&LinkPlan>,
) -> Vec<Conflict> {
    let own = &plan.ownership;
    let ours: BTreeSet<&str> = observed
        .links
        .iter()
        .filter(|l| is_ours(l, own))
        .map(|l| l.name.as_str())
        .collect();
    let planned: BTreeSet<&IpNet> = plan.links.iter().flat_map(|l| &l.routes).collect();
    let pools = plan.firewall.pools();
    let mut found = Vec::new();
    for r in &observed.routes {
        // A foreign route on a tap of ours is tolerated unless it takes a
        // VM's own destination: our add would replace it (or fail).
        let on_ours = r.interface.as_deref().is_some_and(|d| ours.contains(d))
            && !planned.contains(&r.destination);
        if on_ours {
            continue;
        }
        // In a cluster the peers' routes (and our blocks' blackholes) are
        // BIRD's, inside the pools: expected.
        if plan.bgp.is_some() && crate::route_policy::is_cluster_route(r, &pools) {
            continue;
        }
        let Some(pool) = crate::route_policy::pool_in_the_way(r, &pools, own.route_protocol) else {
            continue;
        };
        if let Some(lp) = only
            && !lp.routes.iter().any(|vm| r.destination.contains(vm))
        {
            continue;
        }
        found.push(Conflict::ForeignRoute {
            destination: r.destination,
            interface: r.interface.clone(),
            protocol: r.protocol,
            pool: *pool,
        });
    }
    found
}
