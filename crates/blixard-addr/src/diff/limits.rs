//! A VM's limits. Towards the VM: our `tbf` as its tap's root qdisc. From
//! the VM: the tap's ingress redirected to an `ifb` of ours whose root is
//! our `tbf`. Each is set or replaced in place when it differs (the tap
//! stays), removed when the plan drops it; a root qdisc or an ifb that is
//! someone else's is in the way, never replaced.

use super::{LinksByName, Out, is_ours};
use crate::change::Change;
use crate::conflict::Conflict;
use crate::plan::{HostPlan, LinkPlan, RateLimit, ifb_name};
use crate::state::{ObservedLink, ObservedRootQdisc};

/// The limits of a tap that is being created.
pub(super) fn created(
    plan: &HostPlan,
    lp: &LinkPlan,
    links: &LinksByName<'_>,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) {
    if let Some(limit) = lp.ingress_limit {
        out.noqueue.push(Change::SetLimit {
            name: lp.vm.interface.clone(),
            limit,
        });
    }
    egress(plan, lp, false, links, out, conflicts);
}

/// The limits of a tap of ours that is kept.
pub(super) fn kept(
    plan: &HostPlan,
    lp: &LinkPlan,
    link: &ObservedLink,
    links: &LinksByName<'_>,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) {
    let name = &lp.vm.interface;
    match (&lp.ingress_limit, &link.root_qdisc) {
        (Some(want), Some(have)) => root_limit(name, want, have, out, conflicts),
        (Some(limit), None) => out.noqueue.push(Change::SetLimit {
            name: name.clone(),
            limit: *limit,
        }),
        // `noqueue` replaces our qdisc in one step.
        (None, Some(ObservedRootQdisc::Limit(_))) if !lp.noqueue => {
            out.noqueue.push(Change::DeleteLimit { name: name.clone() })
        }
        (None, _) => {}
    }
    egress(plan, lp, link.ingress_qdisc, links, out, conflicts);
}

/// Our `tbf` on `name` where it has a root qdisc: kept, replaced, or in
/// the way when it is someone else's.
fn root_limit(
    name: &str,
    want: &RateLimit,
    have: &ObservedRootQdisc,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) {
    match have {
        ObservedRootQdisc::Limit(have) if want.matches(have) => {}
        ObservedRootQdisc::Foreign { kind, major } => conflicts.push(Conflict::ForeignQdisc {
            name: name.to_string(),
            kind: kind.clone(),
            major: *major,
        }),
        _ => out.noqueue.push(Change::SetLimit {
            name: name.to_string(),
            limit: *want,
        }),
    }
}

/// The limit from the VM: its ifb (made, up, shaped) and the tap's
/// redirect to it; without one, a redirect of ours is removed (its ifb,
/// ours and unplanned, is deleted with the other links the plan dropped).
/// A redirect goes with the first deletions, before its ifb: a redirect
/// to a device that is gone drops what the VM sends.
fn egress(
    plan: &HostPlan,
    lp: &LinkPlan,
    has_ingress: bool,
    links: &LinksByName<'_>,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) {
    let name = &lp.vm.interface;
    let find = |ifb: &str| links.get(ifb).copied();
    let Some(egress) = &lp.egress else {
        let ours = find(&ifb_name(lp.vm.index.get())).is_some_and(|l| is_ours(l, &plan.ownership));
        if has_ingress && ours {
            out.delete_route
                .push(Change::DeleteIngressQdisc { name: name.clone() });
        }
        return;
    };
    let ifb = &egress.ifb;
    match find(ifb) {
        None => {
            out.create_ifb.push(Change::CreateIfb {
                name: ifb.clone(),
                group: plan.ownership.link_group,
                alias: egress.alias.clone(),
            });
            out.noqueue.push(Change::SetLimit {
                name: ifb.clone(),
                limit: egress.limit,
            });
            out.up.push(Change::LinkUp { name: ifb.clone() });
            // A redirect left from an earlier ifb points at its gone ifindex.
            if has_ingress {
                out.delete_route
                    .push(Change::DeleteIngressQdisc { name: name.clone() });
            }
        }
        Some(link) if !is_ours(link, &plan.ownership) => {
            conflicts.push(Conflict::ForeignLink {
                name: ifb.clone(),
                group: link.group,
                alias: link.alias.clone(),
            });
            return;
        }
        Some(link) => {
            match &link.root_qdisc {
                Some(have) => root_limit(ifb, &egress.limit, have, out, conflicts),
                None => out.noqueue.push(Change::SetLimit {
                    name: ifb.clone(),
                    limit: egress.limit,
                }),
            }
            if !link.up {
                out.up.push(Change::LinkUp { name: ifb.clone() });
            }
            if has_ingress {
                return;
            }
        }
    }
    out.noqueue
        .push(Change::AddIngressQdisc { name: name.clone() });
    out.noqueue.push(Change::AddRedirect {
        name: name.clone(),
        ifb: ifb.clone(),
    });
}
