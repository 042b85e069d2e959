//! Sysctl changes: a value the plan wants and the host lacks, or one to
//! change only while it holds a given value.

use super::Out;
use crate::change::Change;
use crate::plan::{LinkPlan, SysctlCondition, SysctlPlan};
use crate::state::ObservedHost;

pub(super) fn sysctl_needed(s: &SysctlPlan, observed: &ObservedHost, fresh_link: bool) -> bool {
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

pub(super) fn set_sysctl(s: &SysctlPlan) -> Change {
    Change::SetSysctl {
        key: s.key.clone(),
        value: s.value.clone(),
    }
}

pub(super) fn link_sysctls(lp: &LinkPlan, observed: &ObservedHost, fresh: bool, out: &mut Out) {
    for s in &lp.sysctls {
        if sysctl_needed(s, observed, fresh) {
            out.sysctl_link.push(set_sysctl(s));
        }
    }
}
