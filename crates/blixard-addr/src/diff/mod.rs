//! [`diff`] and [`reconcile`] (here), [`teardown`] (`teardown.rs`) and the
//! per-VM [`wire_vm`]/[`unwire_vm`] (`per_vm.rs`); the changes for each
//! kind of object are in `links.rs`, `routes.rs` (with the foreign routes
//! in the way) and `sysctls.rs`.
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
//! kernel knows): deletions first (routes, proxy entries, links), then the
//! gateway device and the taps (create, ownership, marks and MTU, root
//! qdisc before `up` so multi-queue taps never build an `mq` qdisc), then
//! our firewall (anti-spoofing, forward and input policy: it matches
//! interface names, so it needs no tap to exist), and only then what lets
//! traffic in: `up`, the gateway device's addresses, the taps' proxy
//! entries, per-link sysctls (the keys exist once the link does), then the
//! addresses no longer wanted (the previous layout's gateway copies on the
//! taps, gone only once their replacements serve), routes (the kernel
//! refuses routes through a down link, and flushes a link's IPv4 routes
//! with its last IPv4 address, so they come after), the other global
//! sysctls, and last IPv4/IPv6 forwarding. Within a kind, changes
//! follow the VM index. docs/RELIABILITY.md gives the order with the reason
//! for each step.

use std::collections::{BTreeMap, BTreeSet};

use crate::change::Change;
use crate::conflict::{Conflict, Conflicts};
use crate::layout::VmIndex;
use crate::plan::{ALIAS_PREFIX, HostPlan, Ownership};
use crate::planner::{IPV4_FORWARDING, IPV6_FORWARDING};
use crate::state::{ObservedFirewall, ObservedHost, ObservedLink};

mod limits;
mod links;
mod per_vm;
mod routes;
mod sysctls;
mod teardown;

use links::{gateway_changes, link_changes};
pub use per_vm::{firewall_vm_of, unwire_vm, wire_vm};
use routes::{foreign_routes, route_changes};
use sysctls::{link_sysctls, set_sysctl, sysctl_needed};
pub use teardown::teardown;

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
    delete_proxy: Vec<Change>,
    delete_link: Vec<Change>,
    create_tap: Vec<Change>,
    /// After the taps, so that each run of creations goes out together.
    create_ifb: Vec<Change>,
    set_owner: Vec<Change>,
    set_link: Vec<Change>,
    noqueue: Vec<Change>,
    up: Vec<Change>,
    add_address: Vec<Change>,
    add_route: Vec<Change>,
    add_proxy: Vec<Change>,
    retire_address: Vec<Change>,
    /// Links whose IPv4 routes the kernel flushes when `retire_address`
    /// deletes their last IPv4 address: their routes are added again.
    ipv4_routes_flushed: BTreeSet<String>,
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
            self.delete_proxy,
            self.delete_link,
            self.create_tap,
            self.create_ifb,
            self.set_owner,
            self.set_link,
            self.noqueue,
            self.firewall,
            self.up,
            self.add_address,
            self.add_proxy,
            self.sysctl_link,
            self.retire_address,
            self.add_route,
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
#[non_exhaustive]
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
    let planned: BTreeSet<&str> = plan
        .links
        .iter()
        .map(|l| l.vm.interface.as_str())
        .chain([plan.gateway.name.as_str()])
        .chain(
            plan.links
                .iter()
                .filter_map(|l| Some(l.egress.as_ref()?.ifb.as_str())),
        )
        .collect();

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

    gateway_changes(plan, observed, &mut out, &mut conflicts);
    let by_name = links_by_name(observed);
    let mut fates = Vec::with_capacity(plan.links.len());
    for lp in &plan.links {
        let fate = link_changes(plan, lp, &by_name, options, &mut out, &mut conflicts);
        if fate == LinkFate::Created && by_name.contains_key(lp.vm.interface.as_str()) {
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

/// The observed links by name.
type LinksByName<'a> = BTreeMap<&'a str, &'a ObservedLink>;

fn links_by_name(observed: &ObservedHost) -> LinksByName<'_> {
    observed
        .links
        .iter()
        .map(|l| (l.name.as_str(), l))
        .collect()
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
