//! Which traffic between VMs may skip connection tracking: the one
//! stateless fast path of our table (issue 17), decided from the plan.

use std::net::IpAddr;

use ipnet::IpNet;

use super::placement::{Scope, roles};
use crate::plan::FirewallPlan;

/// The destinations (inclusive address ranges) of traffic from a VM that
/// may skip connection tracking: every pool address but the host's gateway
/// (traffic to the gateway stays tracked: the host's input policy is
/// stateful). VM <-> VM needs no state otherwise: the forward policy
/// accepts it whichever way it goes, and it is never masqueraded. Empty
/// when anti-spoofing is off (the bypass reuses its lookup, so a forged
/// source never goes untracked) or a user rule judges VM <-> VM traffic
/// (rules apply to new connections, and only conntrack tells a new
/// connection from a reply).
pub(crate) fn untracked_between_vms(plan: &FirewallPlan) -> Vec<(IpAddr, IpAddr)> {
    let pools = plan.pools();
    // The gateway is each pool's network address (`Layout::gateway_ipv4`).
    let gateways: Vec<IpAddr> = pools.iter().map(IpNet::network).collect();
    let scope = Scope {
        pools: pools.clone(),
        gateways: gateways.clone(),
        no_external: plan.external_interface.is_none(),
    };
    let judged = plan
        .rules
        .iter()
        .any(|r| roles(&r.from, &scope).vm && roles(&r.to, &scope).vm);
    if !plan.anti_spoofing || judged {
        return Vec::new();
    }
    pools
        .iter()
        .zip(gateways)
        .flat_map(|(pool, gateway)| without(pool, gateway))
        .collect()
}

/// `pool` less the address `hole`, as at most two inclusive ranges.
fn without(pool: &IpNet, hole: IpAddr) -> Vec<(IpAddr, IpAddr)> {
    let as_u128 = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let back = |n: u128| match pool {
        IpNet::V4(_) => IpAddr::V4((n as u32).into()),
        IpNet::V6(_) => IpAddr::V6(n.into()),
    };
    let (first, last, hole) = (
        as_u128(pool.network()),
        as_u128(pool.broadcast()),
        as_u128(hole),
    );
    if !(first..=last).contains(&hole) {
        return vec![(back(first), back(last))];
    }
    let mut out = Vec::new();
    if hole > first {
        out.push((back(first), back(hole - 1)));
    }
    if hole < last {
        out.push((back(hole + 1), back(last)));
    }
    out
}
