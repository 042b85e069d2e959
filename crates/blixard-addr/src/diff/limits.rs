//! A tap's limit towards its VM: our `tbf` as its root qdisc, set or
//! replaced in place when it differs, removed when the plan drops it; a
//! root qdisc that is someone else's is in the way, never replaced.

use super::Out;
use crate::change::Change;
use crate::conflict::Conflict;
use crate::plan::LinkPlan;
use crate::state::{ObservedLink, ObservedRootQdisc};

/// The limit of a tap that is being created.
pub(super) fn created(lp: &LinkPlan, out: &mut Out) {
    if let Some(limit) = lp.ingress_limit {
        out.noqueue.push(Change::SetLimit {
            name: lp.vm.interface.clone(),
            limit,
        });
    }
}

/// The limit of a tap of ours that is kept.
pub(super) fn kept(
    lp: &LinkPlan,
    link: &ObservedLink,
    out: &mut Out,
    conflicts: &mut Vec<Conflict>,
) {
    let name = &lp.vm.interface;
    match (&lp.ingress_limit, &link.root_qdisc) {
        (Some(want), Some(ObservedRootQdisc::Limit(have))) if want.matches(have) => {}
        (Some(_), Some(ObservedRootQdisc::Foreign { kind, major })) => {
            conflicts.push(Conflict::ForeignQdisc {
                name: name.clone(),
                kind: kind.clone(),
                major: *major,
            });
        }
        (Some(limit), _) => out.noqueue.push(Change::SetLimit {
            name: name.clone(),
            limit: *limit,
        }),
        // `noqueue` replaces our qdisc in one step.
        (None, Some(ObservedRootQdisc::Limit(_))) if !lp.noqueue => {
            out.noqueue.push(Change::DeleteLimit { name: name.clone() })
        }
        (None, _) => {}
    }
}
