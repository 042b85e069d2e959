//! Per-VM changes: [`wire_vm`] and [`unwire_vm`] touch one VM's tap, routes
//! and firewall set elements, and nothing of any other VM.

use std::collections::BTreeSet;

use super::links::{gateway_changes, link_changes};
use super::routes::{foreign_routes, route_changes};
use super::sysctls::{link_sysctls, set_sysctl, sysctl_needed};
use super::{DiffOptions, LinkFate, Out, is_ours, links_by_name};
use crate::change::Change;
use crate::conflict::{Conflict, Conflicts};
use crate::layout::VmIndex;
use crate::plan::{FirewallVm, HostPlan, LinkPlan};
use crate::state::{ObservedFirewall, ObservedHost};

/// The changes that wire VM `index` alone: its link, routes, proxy entry
/// and per-link sysctls, the gateway device when it is missing, plus the global forwarding sysctls when they are not
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
    // The host-wide gateway is checked (made only on a host where no VM
    // is wired yet), as the table and forwarding are.
    gateway_changes(plan, observed, &mut out, &mut conflicts);
    let links = links_by_name(observed);
    let fate = link_changes(plan, lp, &links, options, &mut out, &mut conflicts);
    let mut dropped = BTreeSet::new();
    if fate == LinkFate::Created && links.contains_key(lp.vm.interface.as_str()) {
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
    let ifb = crate::plan::ifb_name(index.get());
    if observed
        .links
        .iter()
        .any(|l| l.name == ifb && is_ours(l, &plan.ownership))
    {
        out.push(Change::DeleteLink { name: ifb });
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

/// VM `index`'s set elements in our table, by the plan's layout (also for
/// a VM the plan does not wire: unwiring it removes what is there).
pub fn firewall_vm_of(plan: &HostPlan, index: VmIndex) -> Option<FirewallVm> {
    if let Some(lp) = plan.link(index) {
        return Some(firewall_vm(plan, lp));
    }
    let vm = plan.layout.vm(index).ok()?;
    Some(FirewallVm::new(&vm, plan.ipv6_enabled()))
}

fn firewall_vm(plan: &HostPlan, lp: &LinkPlan) -> FirewallVm {
    plan.firewall
        .vms
        .iter()
        .find(|v| v.index == lp.vm.index)
        .cloned()
        .unwrap_or_else(|| FirewallVm::new(&lp.vm, plan.ipv6_enabled()))
}
