//! `diff`, `teardown` and the per-VM `wire_vm`/`unwire_vm`.
//!
//! Ownership: a link is ours iff its interface group is
//! `ownership.link_group` *and* its `ifalias` starts with
//! [`ALIAS_PREFIX`]; a route is ours iff its protocol is
//! `ownership.route_protocol`; the nftables table named in the plan is ours.
//! Nothing else is ever changed: a foreign object in the way is a
//! [`Conflict`], reported together with every other conflict.
//!
//! The output order is valid to apply as is, and keeps the host closed at
//! every step (an apply can stop between any two, on an errno only the
//! kernel knows): deletions first (routes, addresses, links), then the
//! taps (create, ownership, marks and MTU, root qdisc before `up` so
//! multi-queue taps never build an `mq` qdisc), then our firewall
//! (anti-spoofing, forward and input policy: it matches interface names, so
//! it needs no tap to exist), and only then what lets traffic in: `up`,
//! addresses, routes (the kernel refuses routes through a down link),
//! per-link sysctls (the keys exist once the link does), the other global
//! sysctls, and last IPv4/IPv6 forwarding. Within a kind, changes follow
//! the VM index. docs/RELIABILITY.md gives the order with the reason for
//! each step.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::config::ALIAS_PREFIX;
use crate::layout::VmIndex;
use crate::plan::{FirewallVm, HostPlan, LinkPlan, Ownership, SysctlCondition, SysctlPlan};
use crate::planner::{IPV4_FORWARDING, IPV6_FORWARDING};
use crate::state::{
    Change, Conflict, Conflicts, ObservedFirewall, ObservedHost, ObservedLink, TunInfo,
};

/// Knobs of [`diff`] and [`wire_vm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiffOptions {
    /// Delete and recreate a tap of ours whose type or `multi_queue` differ
    /// from the plan, instead of reporting [`Conflict::TapFlags`]. Never a
    /// tap a VMM holds (queues attached): that one is left as it is.
    pub allow_recreate: bool,
}

/// Whether `link` carries both of our marks.
pub fn is_ours(link: &ObservedLink, ownership: &Ownership) -> bool {
    link.group == ownership.link_group
        && link
            .alias
            .as_deref()
            .is_some_and(|a| a.starts_with(ALIAS_PREFIX))
}

/// Changes sorted into the buckets of the output order.
#[derive(Default)]
struct Out {
    delete_route: Vec<Change>,
    delete_address: Vec<Change>,
    delete_link: Vec<Change>,
    create_tap: Vec<Change>,
    set_owner: Vec<Change>,
    set_link: Vec<Change>,
    noqueue: Vec<Change>,
    up: Vec<Change>,
    add_address: Vec<Change>,
    add_route: Vec<Change>,
    sysctl_global: Vec<Change>,
    sysctl_link: Vec<Change>,
    firewall: Vec<Change>,
}

impl Out {
    /// The buckets in the order of the module doc: nothing that lets
    /// traffic reach a tap or cross the host before our table, forwarding
    /// after everything else.
    fn finish(self) -> Vec<Change> {
        let (forwarding, sysctl_global): (Vec<Change>, Vec<Change>) =
            self.sysctl_global.into_iter().partition(|c| {
                matches!(c, Change::SetSysctl { key, .. }
                    if key == IPV4_FORWARDING || key == IPV6_FORWARDING)
            });
        [
            self.delete_route,
            self.delete_address,
            self.delete_link,
            self.create_tap,
            self.set_owner,
            self.set_link,
            self.noqueue,
            self.firewall,
            self.up,
            self.add_address,
            self.add_route,
            self.sysctl_link,
            sysctl_global,
            forwarding,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// How one planned link is handled.
#[derive(PartialEq, Eq)]
enum LinkFate {
    /// Absent, or recreated: every step of the create sequence is emitted.
    Created,
    /// Ours and kept: only the drift is corrected.
    Kept,
    /// In conflict: nothing is emitted for it.
    Blocked,
}

/// What [`reconcile`] found: the changes to make, the VMs it leaves as they
/// are, and the foreign objects in the way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reconcile {
    /// The ordered changes that bring every VM not in conflict and the
    /// host-wide state to the plan.
    pub changes: Vec<Change>,
    /// Per-VM conflicts ([`Conflict::is_per_vm`]): nothing of those VMs'
    /// taps is changed (a VMM may hold them), the rest still converges.
    pub left_as_is: Vec<Conflict>,
    /// Foreign objects in the way: while there are any, nothing may be
    /// changed ([`Reconcile::into_changes`] refuses).
    pub in_the_way: Vec<Conflict>,
}

impl Reconcile {
    /// The changes to carry out, with the VMs left as they are; refused
    /// as a whole while a foreign object is in the way.
    pub fn into_changes(self) -> Result<(Vec<Change>, Vec<Conflict>), Conflicts> {
        if self.in_the_way.is_empty() {
            Ok((self.changes, self.left_as_is))
        } else {
            Err(Conflicts(self.in_the_way))
        }
    }
}

/// The ordered changes that bring `observed` to `plan`, or every conflict
/// that prevents it: a per-VM conflict is one too (see [`reconcile`] for
/// the form that repairs the rest around it).
pub fn diff(
    plan: &HostPlan,
    observed: &ObservedHost,
    options: &DiffOptions,
) -> Result<Vec<Change>, Conflicts> {
    let (changes, left_as_is) = reconcile(plan, observed, options).into_changes()?;
    if left_as_is.is_empty() {
        Ok(changes)
    } else {
        Err(Conflicts(left_as_is))
    }
}

/// Like [`diff`], but a VM whose tap cannot be changed (a VMM holds it, or
/// it needs recreating without [`DiffOptions::allow_recreate`]) is left as
/// it is and named in [`Reconcile::left_as_is`], so one VM never stops the
/// repair of the others. Foreign objects in the way are reported apart:
/// they stop the whole host (nothing is changed), but `status` still shows
/// the drift beside them.
pub fn reconcile(plan: &HostPlan, observed: &ObservedHost, options: &DiffOptions) -> Reconcile {
    let own = &plan.ownership;
    let mut out = Out::default();
    let mut conflicts = Vec::new();
    let planned: BTreeSet<&str> = plan.links.iter().map(|l| l.vm.interface.as_str()).collect();

    // Ours but not planned: gone, with its addresses and routes, unless a
    // VMM still holds it.
    let (mut gone, held): (Vec<&ObservedLink>, Vec<&ObservedLink>) = observed
        .links
        .iter()
        .filter(|l| is_ours(l, own) && !planned.contains(l.name.as_str()))
        .partition(|l| l.tun.as_ref().is_none_or(|t| t.queues == 0));
    // Routes on these links need no delete of their own: the link goes
    // (taking them), or is left as it is with them.
    let mut routes_kept_or_gone: BTreeSet<&str> = held.iter().map(|l| l.name.as_str()).collect();
    for link in held {
        conflicts.push(Conflict::TapHeldUnplanned {
            name: link.name.clone(),
            queues: link.tun.as_ref().map_or(0, |t| t.queues),
        });
    }
    gone.sort_by_key(|l| order_key(plan, &l.name));
    routes_kept_or_gone.extend(gone.iter().map(|l| l.name.as_str()));
    for link in gone {
        out.delete_link.push(Change::DeleteLink {
            name: link.name.clone(),
        });
    }

    let mut fates = Vec::with_capacity(plan.links.len());
    for lp in &plan.links {
        let fate = link_changes(plan, lp, observed, options, &mut out, &mut conflicts);
        if fate == LinkFate::Created && observed.links.iter().any(|l| l.name == lp.vm.interface) {
            routes_kept_or_gone.insert(lp.vm.interface.as_str());
        }
        fates.push(fate);
    }

    out.delete_link.sort_by_key(|c| match c {
        Change::DeleteLink { name } => order_key(plan, name),
        _ => (u32::MAX, String::new()),
    });
    route_changes(
        plan,
        observed,
        &plan.links,
        &fates,
        &routes_kept_or_gone,
        true,
        &mut out,
    );
    conflicts.extend(foreign_routes(plan, observed, None));

    for s in &plan.sysctls {
        if sysctl_needed(s, observed, false) {
            out.sysctl_global.push(set_sysctl(s));
        }
    }
    for (lp, fate) in plan.links.iter().zip(&fates) {
        if *fate != LinkFate::Blocked {
            link_sysctls(lp, observed, *fate == LinkFate::Created, &mut out);
        }
    }

    if !matches!(observed.firewall, ObservedFirewall::InSync) {
        out.firewall.push(Change::ReplaceFirewall {
            firewall: Box::new(plan.firewall.clone()),
        });
    }

    let (left_as_is, in_the_way) = conflicts.into_iter().partition(Conflict::is_per_vm);
    Reconcile {
        changes: out.finish(),
        left_as_is,
        in_the_way,
    }
}

/// The changes that wire VM `index` alone: its link, addresses, routes and
/// per-link sysctls, plus the global forwarding sysctls when they are not
/// set yet, and its firewall set elements (`AddFirewallVm` when our table
/// exists but differs, the whole table when it is absent). Nothing of any
/// other VM is touched.
pub fn wire_vm(
    plan: &HostPlan,
    index: VmIndex,
    observed: &ObservedHost,
    options: &DiffOptions,
) -> Result<Vec<Change>, Conflicts> {
    let Some(lp) = plan.link(index) else {
        return Err(Conflicts(vec![Conflict::VmNotPlanned {
            index: index.get(),
        }]));
    };
    let mut out = Out::default();
    let mut conflicts = Vec::new();
    let fate = link_changes(plan, lp, observed, options, &mut out, &mut conflicts);
    let mut dropped = BTreeSet::new();
    if fate == LinkFate::Created && observed.links.iter().any(|l| l.name == lp.vm.interface) {
        dropped.insert(lp.vm.interface.as_str());
    }
    route_changes(
        plan,
        observed,
        std::slice::from_ref(lp),
        std::slice::from_ref(&fate),
        &dropped,
        false,
        &mut out,
    );
    conflicts.extend(foreign_routes(plan, observed, Some(lp)));
    for s in &plan.sysctls {
        if sysctl_needed(s, observed, false) {
            out.sysctl_global.push(set_sysctl(s));
        }
    }
    if fate != LinkFate::Blocked {
        link_sysctls(lp, observed, fate == LinkFate::Created, &mut out);
    }
    match &observed.firewall {
        ObservedFirewall::InSync => {}
        ObservedFirewall::Differs(_) => out.firewall.push(Change::AddFirewallVm {
            table: plan.firewall.table.clone(),
            vm: firewall_vm(plan, lp),
        }),
        // The first VM wired creates the table with its own elements only:
        // the other VMs' set entries are theirs to add when they are wired
        // (or by a whole-host apply).
        ObservedFirewall::Absent => {
            let mut firewall = plan.firewall.clone();
            firewall.vms.retain(|vm| vm.index == lp.vm.index);
            out.firewall.push(Change::ReplaceFirewall {
                firewall: Box::new(firewall),
            })
        }
    }
    if conflicts.is_empty() {
        Ok(out.finish())
    } else {
        Err(Conflicts(conflicts))
    }
}

/// The changes that remove VM `index` alone: its tap if it is ours (its
/// addresses and routes go with it) and its firewall set elements. A link
/// with that name that is not ours is left alone.
pub fn unwire_vm(plan: &HostPlan, index: VmIndex, observed: &ObservedHost) -> Vec<Change> {
    let Ok(vm) = plan.layout.vm(index) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if observed
        .links
        .iter()
        .any(|l| l.name == vm.interface && is_ours(l, &plan.ownership))
    {
        out.push(Change::DeleteLink {
            name: vm.interface.clone(),
        });
    }
    // Removing is idempotent: while the table exists, the remove goes out
    // whatever an observation says of the elements.
    if !matches!(observed.firewall, ObservedFirewall::Absent)
        && let Some(vm) = firewall_vm_of(plan, index)
    {
        out.push(Change::RemoveFirewallVm {
            table: plan.firewall.table.clone(),
            vm,
        });
    }
    out
}

/// The changes that remove everything of ours and nothing else.
///
/// Sysctls are left as they are: other services (containers, other VMs)
/// may rely on forwarding, and the per-tap ones vanish with the taps.
/// Routes of ours go with our links; only those on links that are not ours
/// (or on no link) need their own delete. Routes of ours without an
/// interface are left: we never create them, so one is not our doing.
pub fn teardown(ownership: &Ownership, observed: &ObservedHost) -> Vec<Change> {
    let mut out = Vec::new();
    let ours: Vec<&ObservedLink> = observed
        .links
        .iter()
        .filter(|l| is_ours(l, ownership))
        .collect();
    let our_names: BTreeSet<&str> = ours.iter().map(|l| l.name.as_str()).collect();
    let mut routes: Vec<_> = observed
        .routes
        .iter()
        .filter(|r| r.protocol == ownership.route_protocol)
        .filter_map(|r| {
            let dev = r.interface.as_deref()?;
            (!our_names.contains(dev)).then(|| (dev.to_string(), r.destination))
        })
        .collect();
    routes.sort();
    routes.dedup();
    for (interface, destination) in routes {
        out.push(Change::DeleteRoute {
            destination,
            interface,
            protocol: ownership.route_protocol,
        });
    }
    let whole_group_is_ours = observed
        .links
        .iter()
        .filter(|l| l.group == ownership.link_group)
        .all(|l| is_ours(l, ownership));
    if !ours.is_empty() {
        if whole_group_is_ours {
            out.push(Change::DeleteLinkGroup {
                group: ownership.link_group,
            });
        } else {
            let mut names: Vec<&str> = our_names.iter().copied().collect();
            names.sort_by_key(|n| (digits_of(n), n.to_string()));
            out.extend(
                names
                    .into_iter()
                    .map(|n| Change::DeleteLink { name: n.into() }),
            );
        }
    }
    if !matches!(observed.firewall, ObservedFirewall::Absent) {
        out.push(Change::DeleteFirewall {
            table: ownership.nft_table.clone(),
        });
    }
    out
}

/// Sort key of an interface: the VM index when the layout knows the name.
fn order_key(plan: &HostPlan, name: &str) -> (u32, String) {
    (
        plan.layout
            .index_of_interface(name)
            .map_or(u32::MAX, VmIndex::get),
        name.to_string(),
    )
}

/// Without a layout, the trailing number of a name sorts `vm2` before `vm10`.
fn digits_of(name: &str) -> u64 {
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(u64::MAX)
}

/// VM `index`'s set elements in our table, by the plan's layout (also for
/// a VM the plan does not wire: unwiring it removes what is there).
pub fn firewall_vm_of(plan: &HostPlan, index: VmIndex) -> Option<FirewallVm> {
    if let Some(lp) = plan.link(index) {
        return Some(firewall_vm(plan, lp));
    }
    let vm = plan.layout.vm(index).ok()?;
    Some(FirewallVm {
        index,
        interface: vm.interface,
        ipv4: vm.ipv4,
        ipv6: plan.firewall.ipv6_pool.map(|_| vm.ipv6),
    })
}

fn firewall_vm(plan: &HostPlan, lp: &LinkPlan) -> FirewallVm {
    plan.firewall
        .vms
        .iter()
        .find(|v| v.index == lp.vm.index)
        .cloned()
        .unwrap_or_else(|| FirewallVm {
            index: lp.vm.index,
            interface: lp.vm.interface.clone(),
            ipv4: lp.vm.ipv4,
            ipv6: plan.firewall.ipv6_pool.map(|_| lp.vm.ipv6),
        })
}

fn create_sequence(plan: &HostPlan, lp: &LinkPlan, out: &mut Out) {
    let name = lp.vm.interface.clone();
    out.create_tap.push(Change::CreateTap {
        name: name.clone(),
        tap: lp.tap.clone(),
    });
    out.set_link.push(Change::SetLink {
        name: name.clone(),
        group: plan.ownership.link_group,
        alias: lp.alias.clone(),
        mtu: lp.mtu,
    });
    if lp.noqueue {
        out.noqueue.push(Change::AddNoqueue { name: name.clone() });
    }
    out.up.push(Change::LinkUp { name: name.clone() });
    for a in &lp.addresses {
        out.add_address.push(Change::AddAddress {
            interface: name.clone(),
            address: *a,
        });
    }
    for r in &lp.routes {
        out.add_route.push(Change::AddRoute {
            destination: *r,
            interface: name.clone(),
            protocol: plan.ownership.route_protocol,
        });
    }
}

fn link_changes(
    plan: &HostPlan,
    lp: &LinkPlan,
    observed: &ObservedHost,
    options: &DiffOptions,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) -> LinkFate {
    let name = &lp.vm.interface;
    let Some(link) = observed.links.iter().find(|l| &l.name == name) else {
        create_sequence(plan, lp, out);
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
            create_sequence(plan, lp, out);
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
    if !link.up {
        out.up.push(Change::LinkUp { name: name.clone() });
    }
    for extra in link
        .addresses
        .iter()
        .filter(|a| !lp.addresses.contains(a) && !is_link_local(a))
    {
        out.delete_address.push(Change::DeleteAddress {
            interface: name.clone(),
            address: *extra,
        });
    }
    for missing in lp.addresses.iter().filter(|a| !link.addresses.contains(a)) {
        out.add_address.push(Change::AddAddress {
            interface: name.clone(),
            address: *missing,
        });
    }
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

/// Route changes for `links` (the whole plan, or one VM). Our routes not in
/// the plan are deleted unless their link is `untouched` (deleted anyway,
/// or left as it is because a VMM holds it); for `wire_vm`
/// only routes on its link or towards its addresses are considered.
fn route_changes(
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
    for (lp, fate) in links.iter().zip(fates) {
        if *fate != LinkFate::Kept {
            continue;
        }
        for dest in &lp.routes {
            let present = observed.routes.iter().any(|r| {
                r.protocol == proto
                    && r.destination == *dest
                    && r.interface.as_deref() == Some(lp.vm.interface.as_str())
            });
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
fn foreign_routes(
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
    let mut pools = vec![IpNet::V4(plan.layout.ipv4_pool())];
    if let Some(v6) = plan.firewall.ipv6_pool {
        pools.push(IpNet::V6(v6));
    }
    let mut found = Vec::new();
    for r in &observed.routes {
        // A foreign route on a tap of ours is tolerated unless it takes a
        // VM's own destination: our add would replace it (or fail).
        let on_ours = r.interface.as_deref().is_some_and(|d| ours.contains(d))
            && !planned.contains(&r.destination);
        if on_ours {
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

fn sysctl_needed(s: &SysctlPlan, observed: &ObservedHost, fresh_link: bool) -> bool {
    let current = if fresh_link {
        None
    } else {
        observed.sysctls.get(&s.key)
    };
    match &s.when {
        SysctlCondition::Always => current != Some(&s.value),
        SysctlCondition::IfCurrently(v) => current == Some(v),
    }
}

fn set_sysctl(s: &SysctlPlan) -> Change {
    Change::SetSysctl {
        key: s.key.clone(),
        value: s.value.clone(),
    }
}

fn link_sysctls(lp: &LinkPlan, observed: &ObservedHost, fresh: bool, out: &mut Out) {
    for s in &lp.sysctls {
        if sysctl_needed(s, observed, fresh) {
            out.sysctl_link.push(set_sysctl(s));
        }
    }
}
