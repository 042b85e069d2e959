//! Port forwards (`[[forwards]]`) as DNAT through maps: per family, one
//! map pair (target address, target port) keyed by `daddr . l4proto .
//! dport` for forwards bound to an address, and one keyed by `l4proto .
//! dport` for those on every address of the host. Two rules per family in
//! the nat prerouting chain (what arrives: the uplink, other VMs' hairpin)
//! and the same two in the nat output chain (the host connecting to itself):
//! the number of rules never depends on the number of forwards.
//!
//! A VM reaching its own forward (through the host's address) would get
//! its packet back with its own address as the source, and drop it; such
//! a connection leaves the host with the guests' gateway as its source
//! instead (one rule per family in the nat postrouting chain, matching the
//! anti-spoofing set's `tap . address` pairs against the destination).
//!
//! Two maps where one would do: nft 1.0.6 cannot create a map whose data is
//! a concatenation (`ipv4_addr . inet_service`) from JSON. The port map of
//! forwards on every address is keyed by `l4proto . dport` alone, so both
//! families share it: three elements per such forward, not four (a map
//! element is most of what a forward costs an apply).

use std::borrow::Cow;

use blixard_addr::config::Protocol;
use blixard_addr::plan::{FirewallPlan, ForwardPlan};
use nftables::expr::{Expression, Fib, FibFlag, FibResult, Map, MetaKey, NamedExpression};
use nftables::schema::{self, Element, SetType, SetTypeValue};
use nftables::stmt::{NAT, NATFamily, Statement};
use nftables::types::NfFamily;

use super::element;
use super::expr::{ct_dnat, m_eq, m_neq, meta, payload, prefix, s, set_ref};

/// Chain at hook prerouting (nat, dstnat): forwards of what arrives.
pub const CHAIN_DSTNAT: &str = "dstnat";
/// Chain at hook output (nat, dstnat): forwards of the host's own
/// connections to its addresses.
pub const CHAIN_DSTNAT_OUTPUT: &str = "dstnat_output";

/// One family's maps (the last shared by both families).
struct Maps {
    /// `ip` or `ip6`.
    family: &'static str,
    nat: NATFamily,
    addr_type: SetType,
    /// Its loopback, never forwarded (a host connection to 127.0.0.1 would
    /// leave with a loopback source).
    loopback: (&'static str, u32),
    /// The anti-spoofing set of `tap . address` pairs.
    vm_addrs: &'static str,
    bound_addr: &'static str,
    bound_port: &'static str,
    any_addr: &'static str,
    any_port: &'static str,
}

/// The target port of forwards on every address, whatever the family.
const ANY_PORT: &str = "fwd_any_port";

const V4: Maps = Maps {
    family: "ip",
    nat: NATFamily::IP,
    addr_type: SetType::Ipv4Addr,
    loopback: ("127.0.0.0", 8),
    vm_addrs: super::SET_V4,
    bound_addr: "fwd4_addr",
    bound_port: "fwd4_port",
    any_addr: "fwd4_any_addr",
    any_port: ANY_PORT,
};

const V6: Maps = Maps {
    family: "ip6",
    nat: NATFamily::IP6,
    addr_type: SetType::Ipv6Addr,
    loopback: ("::1", 128),
    vm_addrs: super::SET_V6,
    bound_addr: "fwd6_addr",
    bound_port: "fwd6_port",
    any_addr: "fwd6_any_addr",
    any_port: ANY_PORT,
};

/// The families forwards are rendered for: IPv6 only where VMs have it.
fn families(plan: &FirewallPlan) -> Vec<&'static Maps> {
    if plan.forwards.is_empty() {
        return Vec::new();
    }
    let mut out = vec![&V4];
    if plan.ipv6_pool.is_some() {
        out.push(&V6);
    }
    out
}

/// The nat chains, when there are forwards: `(name, hook)`.
pub(super) fn chains(plan: &FirewallPlan) -> Vec<(&'static str, nftables::types::NfHook)> {
    use nftables::types::NfHook;
    if plan.forwards.is_empty() {
        return Vec::new();
    }
    vec![
        (CHAIN_DSTNAT, NfHook::Prerouting),
        (CHAIN_DSTNAT_OUTPUT, NfHook::Output),
    ]
}

/// The maps, empty or not, of every family forwards are rendered for.
pub(super) fn maps(t: &str, plan: &FirewallPlan) -> Vec<schema::Map<'static>> {
    let map = |name: &str, key: Vec<SetType>, data: SetType| schema::Map {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        name: Cow::Owned(name.to_owned()),
        handle: None,
        set_type: SetTypeValue::Concatenated(Cow::Owned(key)),
        map: SetTypeValue::Single(data),
        policy: None,
        flags: None,
        elem: None,
        timeout: None,
        gc_interval: None,
        size: None,
        comment: None,
    };
    let mut out = Vec::new();
    for f in families(plan) {
        let bound = vec![f.addr_type, SetType::InetProto, SetType::InetService];
        let any = vec![SetType::InetProto, SetType::InetService];
        out.push(map(f.bound_addr, bound.clone(), f.addr_type));
        out.push(map(f.bound_port, bound, SetType::InetService));
        out.push(map(f.any_addr, any.clone(), f.addr_type));
        if f.family == V4.family {
            out.push(map(f.any_port, any, SetType::InetService));
        }
    }
    out
}

/// The `add element` commands of every forward.
pub(super) fn elements(t: &str, plan: &FirewallPlan) -> Vec<Element<'static>> {
    let mut lists: Vec<(&str, Vec<Expression<'static>>)> = Vec::new();
    for f in families(plan) {
        let (mut bound_addr, mut bound_port, mut any_addr) = (Vec::new(), Vec::new(), Vec::new());
        for fw in &plan.forwards {
            let Some(target) = target(fw, f) else {
                continue;
            };
            let pair = |key, data| Expression::List(vec![key, data]);
            let port = Expression::Number(fw.port.into());
            match fw.address {
                Some(a) => {
                    let key = key(Some(a), fw);
                    bound_addr.push(pair(key.clone(), s(target)));
                    bound_port.push(pair(key, port));
                }
                None => any_addr.push(pair(key(None, fw), s(target))),
            }
        }
        lists.extend([
            (f.bound_addr, bound_addr),
            (f.bound_port, bound_port),
            (f.any_addr, any_addr),
        ]);
    }
    if !plan.forwards.is_empty() {
        let any_port = plan
            .forwards
            .iter()
            .filter(|fw| fw.address.is_none())
            .map(|fw| Expression::List(vec![key(None, fw), Expression::Number(fw.port.into())]))
            .collect();
        lists.push((ANY_PORT, any_port));
    }
    let mut out = Vec::new();
    for (name, elems) in lists {
        for chunk in elems.chunks(super::ELEMENT_CHUNK) {
            out.push(element(t, name, chunk.to_vec()));
        }
    }
    out
}

/// A forward's map key: `address . l4proto . port` when it is bound to an
/// address, `l4proto . port` otherwise.
fn key(address: Option<std::net::IpAddr>, fw: &ForwardPlan) -> Expression<'static> {
    let mut key = vec![proto(fw.protocol), Expression::Number(fw.host_port.into())];
    if let Some(a) = address {
        key.insert(0, s(a.to_string()));
    }
    Expression::Named(NamedExpression::Concat(key))
}

/// The VM address `fw` goes to in `f`'s family, if it is forwarded there.
fn target(fw: &ForwardPlan, f: &Maps) -> Option<String> {
    if f.family == "ip" {
        fw.ipv4_target().map(|a| a.to_string())
    } else {
        fw.ipv6_target().map(|a| a.to_string())
    }
}

fn proto(p: Protocol) -> Expression<'static> {
    match p {
        Protocol::Udp => s("udp"),
        _ => s("tcp"),
    }
}

/// The DNAT rules: in each nat chain, per family, the bound forwards first
/// (an address's own forward wins over the every-address one), then those
/// on every local address.
pub(super) fn rules(plan: &FirewallPlan) -> Vec<(&'static str, Vec<Statement<'static>>)> {
    let mut out = Vec::new();
    for (chain, _) in chains(plan) {
        for f in families(plan) {
            let daddr = || payload(f.family, "daddr");
            let port_key = || vec![meta(MetaKey::L4proto), payload("th", "dport")];
            let bound_key = || {
                let mut k = port_key();
                k.insert(0, daddr());
                Expression::Named(NamedExpression::Concat(k))
            };
            let any_key = || Expression::Named(NamedExpression::Concat(port_key()));
            out.push((
                chain,
                vec![dnat(f, bound_key(), f.bound_addr, f.bound_port)],
            ));
            let (lo, len) = f.loopback;
            let loopback = if len == 128 { s(lo) } else { prefix(lo, len) };
            out.push((
                chain,
                vec![
                    m_neq(daddr(), loopback),
                    m_eq(
                        Expression::Named(NamedExpression::Fib(Fib {
                            result: FibResult::Type,
                            flags: [FibFlag::Daddr].into_iter().collect(),
                        })),
                        s("local"),
                    ),
                    dnat(f, any_key(), f.any_addr, f.any_port),
                ],
            ));
        }
    }
    let gateways = plan.gateways();
    for (f, gateway) in families(plan).into_iter().zip(gateways) {
        out.push((
            super::CHAIN_POSTROUTING,
            vec![
                ct_dnat(),
                m_eq(
                    Expression::Named(NamedExpression::Concat(vec![
                        meta(MetaKey::Iifname),
                        payload(f.family, "daddr"),
                    ])),
                    set_ref(f.vm_addrs),
                ),
                Statement::SNAT(Some(NAT {
                    addr: Some(s(gateway.to_string())),
                    family: Some(f.nat),
                    port: None,
                    flags: None,
                })),
            ],
        ));
    }
    out
}

fn dnat(f: &Maps, key: Expression<'static>, addr: &str, port: &str) -> Statement<'static> {
    let lookup = |map: &str| {
        Expression::Named(NamedExpression::Map(Box::new(Map {
            key: key.clone(),
            data: set_ref(map),
        })))
    };
    Statement::DNAT(Some(NAT {
        addr: Some(lookup(addr)),
        family: Some(f.nat),
        port: Some(lookup(port)),
        flags: None,
    }))
}
