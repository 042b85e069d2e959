//! Changes for one planned tap: the create sequence for a new one, and for
//! one of ours the drift corrected in place (or a conflict when only
//! recreating it would do); and for the gateway device.

use ipnet::IpNet;

use super::{DiffOptions, LinkFate, LinksByName, Out, is_ours};
use crate::change::Change;
use crate::conflict::Conflict;
use crate::plan::{GatewayPlan, HostPlan, LinkPlan};
use crate::state::{ObservedHost, ObservedLink, TunInfo};

/// The gateway device: made (before any tap, so that the kernel finds its
/// address first when it picks a source for a route through a tap, which
/// has none) if absent, else brought up and its addresses corrected.
pub(super) fn gateway_changes(
    plan: &HostPlan,
    observed: &ObservedHost,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) {
    let gw = &plan.gateway;
    let Some(link) = observed.links.iter().find(|l| l.name == gw.name) else {
        out.create_tap.push(Change::CreateTap {
            name: gw.name.clone(),
            tap: GatewayPlan::tap(),
            group: plan.ownership.link_group,
            alias: gw.alias.clone(),
            mtu: crate::config::TapConfig::default().mtu,
        });
        out.up.push(Change::LinkUp {
            name: gw.name.clone(),
        });
        for a in &gw.addresses {
            out.add_address.push(Change::AddAddress {
                interface: gw.name.clone(),
                address: *a,
            });
        }
        return;
    };
    if !is_ours(link, &plan.ownership) {
        conflicts.push(Conflict::ForeignGateway {
            name: gw.name.clone(),
            group: link.group,
            alias: link.alias.clone(),
        });
        return;
    }
    if !link.up {
        out.up.push(Change::LinkUp {
            name: gw.name.clone(),
        });
    }
    address_changes(&gw.name, &gw.addresses, link, out);
}

/// The addresses of a link of ours brought to `wanted`. Unwanted ones go
/// after the gateway device's addresses and the taps' proxy entries that
/// replace them: moving the gateway addresses off the taps never leaves a
/// guest without them. Deleting a link's last IPv4 address makes the
/// kernel flush its IPv4 routes (`fib_disable_ip`): those are marked to be
/// added again, after.
fn address_changes(name: &str, wanted: &[IpNet], link: &ObservedLink, out: &mut Out) {
    let v4 = |a: &&IpNet| a.addr().is_ipv4();
    let mut retired_v4 = false;
    for extra in link
        .addresses
        .iter()
        .filter(|a| !wanted.contains(a) && !is_link_local(a))
    {
        retired_v4 |= extra.addr().is_ipv4();
        out.retire_address.push(Change::DeleteAddress {
            interface: name.to_string(),
            address: *extra,
        });
    }
    if retired_v4 && !wanted.iter().any(|a| v4(&a)) {
        out.ipv4_routes_flushed.insert(name.to_string());
    }
    for missing in wanted.iter().filter(|a| !link.addresses.contains(a)) {
        out.add_address.push(Change::AddAddress {
            interface: name.to_string(),
            address: *missing,
        });
    }
}

/// Our proxy entries on a kept tap brought to the plan's; another
/// protocol's entry on it is not ours and stays.
fn proxy_changes(lp: &LinkPlan, link: &ObservedLink, protocol: u8, out: &mut Out) {
    let name = &lp.vm.interface;
    for extra in link
        .proxy_neighbours
        .iter()
        .filter(|p| p.protocol == protocol && !lp.proxy_neighbours.contains(&p.address))
    {
        out.delete_proxy.push(Change::DeleteProxyNeighbour {
            interface: name.clone(),
            address: extra.address,
        });
    }
    for missing in lp.proxy_neighbours.iter().filter(|a| {
        !link
            .proxy_neighbours
            .iter()
            .any(|p| p.address == **a && p.protocol == protocol)
    }) {
        out.add_proxy.push(Change::AddProxyNeighbour {
            interface: name.clone(),
            address: *missing,
            protocol,
        });
    }
}

fn create_sequence(
    plan: &HostPlan,
    lp: &LinkPlan,
    links: &LinksByName<'_>,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) {
    let name = lp.vm.interface.clone();
    out.create_tap.push(Change::CreateTap {
        name: name.clone(),
        tap: lp.tap.clone(),
        group: plan.ownership.link_group,
        alias: lp.alias.clone(),
        mtu: lp.mtu,
    });
    if lp.noqueue {
        out.noqueue.push(Change::AddNoqueue { name: name.clone() });
    }
    super::limits::created(plan, lp, links, out, conflicts);
    out.up.push(Change::LinkUp { name: name.clone() });
    for r in &lp.routes {
        out.add_route.push(Change::AddRoute {
            destination: *r,
            interface: name.clone(),
            protocol: plan.ownership.route_protocol,
        });
    }
    for address in &lp.proxy_neighbours {
        out.add_proxy.push(Change::AddProxyNeighbour {
            interface: name.clone(),
            address: *address,
            protocol: plan.ownership.route_protocol,
        });
    }
}

/// Changes for one planned link, from the observed links by name (indexed
/// by the caller once per host: a scan per link would make a no-op apply
/// quadratic in the number of VMs).
pub(super) fn link_changes(
    plan: &HostPlan,
    lp: &LinkPlan,
    links: &LinksByName<'_>,
    options: &DiffOptions,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) -> LinkFate {
    let name = &lp.vm.interface;
    let Some(link) = links.get(name.as_str()).copied() else {
        create_sequence(plan, lp, links, out, conflicts);
        return LinkFate::Created;
    };
    if !is_ours(link, &plan.ownership) {
        conflicts.push(Conflict::ForeignLink {
            name: name.clone(),
            group: link.group,
            alias: link.alias.clone(),
        });
        return LinkFate::Blocked;
    }
    // Queues attached means a running VMM: its tap is never deleted,
    // recreated or re-attached to by us.
    let held = link.tun.as_ref().map_or(0, |t| t.queues);
    if let Some((field, observed_flag, wanted)) = flag_mismatch(link, lp) {
        if options.allow_recreate && held == 0 {
            out.delete_link
                .push(Change::DeleteLink { name: name.clone() });
            create_sequence(plan, lp, links, out, conflicts);
            return LinkFate::Created;
        }
        // The tap stays as it is; its addresses, routes and marks are
        // still repaired, which a VMM attached to it does not notice.
        conflicts.push(Conflict::TapFlags {
            name: name.clone(),
            field: field.into(),
            observed: observed_flag,
            wanted,
            queues: held,
        });
    }
    if let Some(tun) = link.tun.as_ref().filter(|t| t.tap) {
        ownership_changes(lp, tun, out, conflicts);
    }
    if link.mtu != lp.mtu || link.alias.as_deref() != Some(lp.alias.as_str()) {
        out.set_link.push(Change::SetLink {
            name: name.clone(),
            group: plan.ownership.link_group,
            alias: lp.alias.clone(),
            mtu: lp.mtu,
        });
    }
    if lp.noqueue && !link.root_noqueue {
        out.noqueue.push(Change::AddNoqueue { name: name.clone() });
    }
    super::limits::kept(plan, lp, link, links, out, conflicts);
    if !link.up {
        out.up.push(Change::LinkUp { name: name.clone() });
    }
    // A tap carries no address of ours: the previous layout's gateway
    // copies (and anything else) go once the gateway device serves.
    address_changes(name, &[], link, out);
    proxy_changes(lp, link, plan.ownership.route_protocol, out);
    LinkFate::Kept
}

/// Owner and group of a tap of ours that is kept. The kernel cannot unset
/// them (TUNSETOWNER rejects an invalid uid), so a plan without one means
/// "don't care", not "clear"; a defaulted owner is only what a new tap gets.
fn ownership_changes(lp: &LinkPlan, tun: &TunInfo, out: &mut Out, conflicts: &mut Vec<Conflict>) {
    let owner = lp.tap.owner.filter(|_| lp.tap.owner_required);
    let differs = |want: Option<u32>, have: Option<u32>| want.is_some() && want != have;
    if !differs(owner, tun.owner) && !differs(lp.tap.group, tun.group) {
        return;
    }
    let name = &lp.vm.interface;
    if tun.queues > 0 {
        conflicts.push(Conflict::TapOwnershipHeld {
            name: name.clone(),
            observed_owner: tun.owner,
            observed_group: tun.group,
            owner,
            group: lp.tap.group,
            queues: tun.queues,
        });
        return;
    }
    out.set_owner.push(Change::SetTapOwnership {
        name: name.clone(),
        owner,
        group: lp.tap.group,
    });
}

/// A flag that differs between a tap of ours and the plan and binds a VMM
/// (its type and `IFF_MULTI_QUEUE`). `vnet_hdr` and `pi` are per-attach:
/// every `TUNSETIFF` rewrites them from the opener's flags, so they are the
/// VMM's choice, never drift. A link that is not a tap at all reports
/// `tap=false`.
fn flag_mismatch(link: &ObservedLink, lp: &LinkPlan) -> Option<(&'static str, bool, bool)> {
    let Some(tun) = &link.tun else {
        return Some(("tap", false, true));
    };
    if !tun.tap {
        return Some(("tap", false, true));
    }
    if tun.multi_queue != lp.tap.multi_queue {
        return Some(("multi_queue", tun.multi_queue, lp.tap.multi_queue));
    }
    None
}

fn is_link_local(a: &IpNet) -> bool {
    matches!(a, IpNet::V6(n) if (n.addr().segments()[0] & 0xffc0) == 0xfe80)
}
