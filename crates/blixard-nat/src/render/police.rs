//! Limits from the VMs, policed (`[limits] egress_method = "police"`): one
//! set per distinct limit of the plan ([`FirewallPlan::police`], named by
//! [`RateLimit::police_set`]), keyed by the tap's name, whose declaration
//! carries the limit as its statement so that every element gets a token
//! bucket of its own; one rule per set drops what a tap in it sends over
//! its rate. The number of rules follows the number of distinct limits,
//! never the number of VMs. (nft 1.0.6's JSON parser ignores a limit given
//! on one element, so different limits need different sets.)
//!
//! The rules are the first verdicts of `prerouting`, right after the
//! [`super::counters::SET_TX`] count: the anti-spoofing rules end our chain
//! with an accept for every packet with its VM's own source, so a rule after
//! them would only see forged ones. The policer therefore sees every IP
//! packet the VM sends, as the ifb's redirect does; `vm_tx` still counts
//! all the VM sent, what the policer dropped included.

use std::collections::BTreeMap;

use blixard_addr::plan::{FirewallPlan, FirewallVm, RateLimit};
use nftables::expr::{Expression, MetaKey};
use nftables::stmt::Statement;

use super::CHAIN_PREROUTING;
use super::expr::{drop, m_eq, meta, s, set_ref};

/// The statement of a police set's declaration: true ("over") for what
/// exceeds the rate, in bytes per second with a burst in bytes. nft lists
/// it back in its own units (`mbytes`, `kbytes`); [`crate::canon`]
/// compares it in bytes.
pub fn statement(limit: &RateLimit) -> serde_json::Value {
    serde_json::json!([{ "limit": {
        "rate": limit.rate,
        "burst": limit.burst,
        "per": "second",
        "inv": true,
        "rate_unit": "bytes",
        "burst_unit": "bytes",
    }}])
}

/// The limit of the plan whose set is `name`.
pub(super) fn limit_of<'a>(plan: &'a FirewallPlan, name: &str) -> Option<&'a RateLimit> {
    plan.police.iter().find(|l| l.police_set() == name)
}

/// Each set's name and the taps in it (possibly none), in one pass over
/// the VMs: a config may give every VM a limit of its own.
pub(super) fn members(plan: &FirewallPlan) -> Vec<(String, Vec<Expression<'static>>)> {
    let mut taps: BTreeMap<&RateLimit, Vec<Expression<'static>>> = plan
        .police
        .iter()
        .map(|limit| (limit, Vec::new()))
        .collect();
    for vm in &plan.vms {
        if let Some(set) = vm.police.as_ref().and_then(|limit| taps.get_mut(limit)) {
            set.push(s(&vm.interface));
        }
    }
    plan.police
        .iter()
        .map(|limit| (limit.police_set(), taps.remove(limit).unwrap_or_default()))
        .collect()
}

/// `vm`'s police set and its element there, when it is policed.
pub(super) fn element_of(vm: &FirewallVm) -> Option<(String, Expression<'static>)> {
    vm.police
        .as_ref()
        .map(|limit| (limit.police_set(), s(&vm.interface)))
}

/// `iifname @police_R_B drop`, one per set.
pub(super) fn rules(plan: &FirewallPlan) -> Vec<(&'static str, Vec<Statement<'static>>)> {
    plan.police
        .iter()
        .map(|limit| {
            (
                CHAIN_PREROUTING,
                vec![
                    m_eq(meta(MetaKey::Iifname), set_ref(&limit.police_set())),
                    drop(),
                ],
            )
        })
        .collect()
}
