//! Pure rendering of a [`FirewallPlan`] into an nftables JSON batch.
//!
//! Everything goes through the `nftables` crate's types, never through
//! formatted nft syntax, so a name in the plan can never become nft syntax.
//! Expressions are written in the form nft 1.0.6 prints them back (single
//! element sets collapsed, `/32` prefixes as plain addresses, `tcp dport`
//! rather than `meta l4proto tcp th dport`), which keeps the canonical
//! comparison in [`crate::canon`] small.

use std::borrow::Cow;

use blixard_addr::config::{Action, Protocol, Selector};
use blixard_addr::plan::{FirewallPlan, FirewallRule, FirewallVm, RuleChain};
use ipnet::IpNet;
use nftables::batch::Batch;
use nftables::expr::{
    Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, SetItem,
};
use nftables::schema::{self, Chain, Element, NfListObject, Nftables, Rule, Table};
use nftables::stmt::{Counter, Match, Operator, Reject, RejectType, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook, RejectCode};

/// Name of the set of our VM interfaces (`type ifname`).
pub const SET_IFACES: &str = "vm_ifaces";
/// Name of the set of `ifname . ipv4_addr` pairs a VM may send from.
pub const SET_V4: &str = "vm_v4";
/// Name of the set of `ifname . ipv6_addr` pairs a VM may send from.
pub const SET_V6: &str = "vm_v6";
/// Chain at hook prerouting (priority raw): anti-spoofing.
pub const CHAIN_PREROUTING: &str = "prerouting";
/// Chain at hook forward (priority filter): forwarding policy and user rules.
pub const CHAIN_FORWARD: &str = "forward";
/// Chain at hook input (priority filter): what VMs may open on the host.
pub const CHAIN_INPUT: &str = "input";
/// Chain at hook output (priority filter): user rules `from = "host"`.
pub const CHAIN_OUTPUT: &str = "output";
/// Chain at hook postrouting (nat, srcnat): masquerade.
pub const CHAIN_POSTROUTING: &str = "postrouting";

/// Every chain of our table, in the order they are created.
pub const CHAINS: [&str; 5] = [
    CHAIN_PREROUTING,
    CHAIN_FORWARD,
    CHAIN_INPUT,
    CHAIN_OUTPUT,
    CHAIN_POSTROUTING,
];

/// Huge element lists are split into several `add element` commands of this
/// size inside the same transaction, so no single command gets unwieldy.
pub const ELEMENT_CHUNK: usize = 1024;

/// The desired table as one atomic nftables JSON batch: `add table` (so the
/// delete cannot fail), `delete table`, `add table`, chains, sets, elements,
/// rules.
pub fn render(plan: &FirewallPlan) -> Nftables<'static> {
    let t = plan.table.clone();
    let mut batch = Batch::new();
    batch.add(table(&t));
    batch.delete(table(&t));
    batch.add(table(&t));
    for chain in chains(&t) {
        batch.add(NfListObject::Chain(chain));
    }
    for set in sets(&t) {
        batch.add(NfListObject::Set(Box::new(set)));
    }
    for (name, elems) in [
        (
            SET_IFACES,
            plan.vms.iter().map(iface_elem).collect::<Vec<_>>(),
        ),
        (SET_V4, plan.vms.iter().map(v4_elem).collect()),
        (SET_V6, plan.vms.iter().filter_map(v6_elem).collect()),
    ] {
        for chunk in elems.chunks(ELEMENT_CHUNK) {
            batch.add(NfListObject::Element(element(&t, name, chunk.to_vec())));
        }
    }
    for (chain, exprs) in rules(plan) {
        batch.add(NfListObject::Rule(rule(&t, chain, exprs)));
    }
    batch.to_nftables()
}

/// The rule bodies of our table, chain by chain, in order. Their number
/// depends on the policy and the user rules, never on the number of VMs.
pub fn rules(plan: &FirewallPlan) -> Vec<(&'static str, Vec<Statement<'static>>)> {
    let mut out = Vec::new();
    let ext = plan.external_interface.as_deref();

    let pools: Vec<IpNet> = std::iter::once(IpNet::V4(plan.ipv4_pool))
        .chain(plan.ipv6_pool.map(IpNet::V6))
        .collect();
    let placed = |chain: RuleChain| {
        plan.rules
            .iter()
            .filter(move |r| r.chains.contains(&chain))
            .filter_map(move |r| user_rule(r, ext))
    };

    // Anti-spoofing runs at priority raw, before conntrack and before any
    // chain (ours or foreign) can accept, and covers traffic to the host as
    // well as forwarded traffic. A pool source is believed only on its own
    // VM's tap: on any other interface (a tunnel's decapsulated inner
    // packet, a bridge, the uplink) it is forged. Loopback is the host
    // talking to its own gateway addresses.
    if plan.anti_spoofing {
        let p = CHAIN_PREROUTING;
        out.push((p, vec![m_eq(concat_saddr("ip"), set_ref(SET_V4)), accept()]));
        out.push((
            p,
            vec![m_eq(concat_saddr("ip6"), set_ref(SET_V6)), accept()],
        ));
        out.push((
            p,
            vec![
                m_eq(payload("ip6", "saddr"), prefix("fe80::", 10)),
                accept(),
            ],
        ));
        out.push((
            p,
            vec![
                m_eq(meta(MetaKey::Iifname), set_ref(SET_IFACES)),
                counter(),
                drop(),
            ],
        ));
        for pool in &pools {
            out.push((
                p,
                vec![
                    m_eq(payload(family(pool), "saddr"), net(*pool)),
                    m_neq(meta(MetaKey::Iifname), s("lo")),
                    counter(),
                    drop(),
                ],
            ));
        }
    }

    // Forward. An accept here only ends *our* chain; other tables still see
    // the packet, so accepting foreign traffic early is how we leave it alone.
    let f = CHAIN_FORWARD;
    out.push((f, vec![ct_state(&["established", "related"]), accept()]));
    // A pool address no tap of ours holds would follow the default route
    // out, masqueraded: answer it as unreachable instead, whoever sent it.
    for pool in &pools {
        out.push((
            f,
            vec![
                m_eq(payload(family(pool), "daddr"), net(*pool)),
                m_neq(meta(MetaKey::Oifname), set_ref(SET_IFACES)),
                counter(),
                reject_unreachable(),
            ],
        ));
    }
    out.push((
        f,
        vec![
            m_neq(meta(MetaKey::Iifname), set_ref(SET_IFACES)),
            m_neq(meta(MetaKey::Oifname), set_ref(SET_IFACES)),
            accept(),
        ],
    ));
    out.push((f, vec![ct_state(&["invalid"]), counter(), drop()]));
    out.extend(placed(RuleChain::Forward).map(|r| (f, r)));
    out.push((
        f,
        vec![
            m_eq(meta(MetaKey::Iifname), set_ref(SET_IFACES)),
            m_eq(meta(MetaKey::Oifname), set_ref(SET_IFACES)),
            accept(),
        ],
    ));
    if let Some(ext) = ext {
        out.push((
            f,
            vec![
                m_eq(meta(MetaKey::Iifname), set_ref(SET_IFACES)),
                m_eq(meta(MetaKey::Oifname), s(ext)),
                accept(),
            ],
        ));
    }
    // One rule per network: an anonymous interval set would be merged by
    // nft and print back differently from what was written.
    for n in &plan.allow_networks {
        out.push((
            f,
            vec![
                m_eq(meta(MetaKey::Iifname), set_ref(SET_IFACES)),
                m_eq(payload(family(n), "daddr"), net(*n)),
                accept(),
            ],
        ));
    }
    // Anything else heading to a VM is unsolicited inbound (VM -> VM was
    // accepted just above).
    out.push((
        f,
        vec![
            m_eq(meta(MetaKey::Oifname), set_ref(SET_IFACES)),
            counter(),
            verdict(plan.inbound_default),
        ],
    ));
    // A VM's traffic to a network nothing above named (a LAN, a container
    // bridge, a VPN the host is on).
    out.push((
        f,
        vec![
            m_eq(meta(MetaKey::Iifname), set_ref(SET_IFACES)),
            counter(),
            drop(),
        ],
    ));

    // Input: the host's traffic on the uplink when a rule names it, then
    // only traffic from our VMs is judged.
    let i = CHAIN_INPUT;
    out.push((i, vec![ct_state(&["established", "related"]), accept()]));
    out.extend(placed(RuleChain::InputFromExternal).map(|r| (i, r)));
    out.push((
        i,
        vec![m_neq(meta(MetaKey::Iifname), set_ref(SET_IFACES)), accept()],
    ));
    out.push((i, vec![ct_state(&["invalid"]), counter(), drop()]));
    // Neighbour discovery before user rules: a rule against the host must
    // not cut a VM off its gateway (and so off everything, IPv6-wise).
    out.push((
        i,
        vec![
            m_eq(
                payload("icmpv6", "type"),
                set_of(vec![
                    s("nd-router-solicit"),
                    s("nd-neighbor-solicit"),
                    s("nd-neighbor-advert"),
                ]),
            ),
            accept(),
        ],
    ));
    // User rules before the defaults they may override (ping, host_ports):
    // first match wins.
    out.extend(placed(RuleChain::InputFromVms).map(|r| (i, r)));
    out.push((
        i,
        vec![
            m_eq(
                meta(MetaKey::L4proto),
                set_of(vec![s("icmp"), s("ipv6-icmp")]),
            ),
            accept(),
        ],
    ));
    if !plan.host_ports.is_empty() {
        let mut ports = plan.host_ports.clone();
        ports.sort_unstable();
        ports.dedup();
        out.push((
            i,
            vec![
                m_eq(meta(MetaKey::L4proto), set_of(vec![s("tcp"), s("udp")])),
                m_eq(
                    payload("th", "dport"),
                    set_of(
                        ports
                            .into_iter()
                            .map(|p| Expression::Number(p.into()))
                            .collect(),
                    ),
                ),
                accept(),
            ],
        ));
    }
    out.push((i, vec![counter(), verdict(plan.host_input_default)]));

    // Output: the host's own new connections, judged only by user rules
    // `from = "host"` (replies, e.g. to a VM's ping, always pass), and only
    // towards VMs unless a rule names the uplink: loopback and the host's
    // other networks are not ours.
    let o = CHAIN_OUTPUT;
    out.push((o, vec![ct_state(&["established", "related"]), accept()]));
    out.extend(placed(RuleChain::OutputToExternal).map(|r| (o, r)));
    out.push((
        o,
        vec![m_neq(meta(MetaKey::Oifname), set_ref(SET_IFACES)), accept()],
    ));
    out.extend(placed(RuleChain::OutputToVms).map(|r| (o, r)));

    // Masquerade only what leaves by the external interface: VM <-> VM and
    // VM -> host keep their source addresses.
    if let Some(ext) = ext {
        let p = CHAIN_POSTROUTING;
        if plan.masquerade_ipv4 {
            out.push((
                p,
                vec![
                    m_eq(meta(MetaKey::Oifname), s(ext)),
                    m_eq(payload("ip", "saddr"), net(IpNet::V4(plan.ipv4_pool))),
                    Statement::Masquerade(None),
                ],
            ));
        }
        if let (true, Some(pool)) = (plan.masquerade_ipv6, plan.ipv6_pool) {
            out.push((
                p,
                vec![
                    m_eq(meta(MetaKey::Oifname), s(ext)),
                    m_eq(payload("ip6", "saddr"), net(IpNet::V6(pool))),
                    Statement::Masquerade(None),
                ],
            ));
        }
    }
    out
}

/// Matches of one user rule, or `None` when it cannot be written: an
/// `external` endpoint while the external interface is unresolved (the
/// planner refuses rules that can never match, IPv4 and IPv6 CIDRs in one
/// rule among them; this only keeps nft from rejecting the whole batch).
fn user_rule(r: &FirewallRule, ext: Option<&str>) -> Option<Vec<Statement<'static>>> {
    let mut stmts = Vec::new();
    let mut family: Option<&'static str> = None;
    for (sel, iface_key, addr_field) in [
        (&r.from, MetaKey::Iifname, "saddr"),
        (&r.to, MetaKey::Oifname, "daddr"),
    ] {
        match sel {
            Selector::Any | Selector::Host => {}
            Selector::External => stmts.push(m_eq(meta(iface_key), s(ext?))),
            Selector::Vms(names) => {
                let mut names = names.clone();
                names.sort();
                names.dedup();
                stmts.push(m_eq(
                    meta(iface_key),
                    set_of(names.into_iter().map(s).collect()),
                ));
            }
            Selector::Cidr(cidr) => {
                let fam = match cidr {
                    IpNet::V4(_) => "ip",
                    IpNet::V6(_) => "ip6",
                };
                if family.is_some_and(|f| f != fam) {
                    return None;
                }
                family = Some(fam);
                stmts.push(m_eq(payload(fam, addr_field), net(*cidr)));
            }
        }
    }
    match (r.protocol, r.port) {
        (Some(Protocol::Tcp), Some(port)) => stmts.push(m_eq(
            payload("tcp", "dport"),
            Expression::Number(port.into()),
        )),
        (Some(Protocol::Udp), Some(port)) => stmts.push(m_eq(
            payload("udp", "dport"),
            Expression::Number(port.into()),
        )),
        (Some(Protocol::Tcp), None) => stmts.push(m_eq(meta(MetaKey::L4proto), s("tcp"))),
        (Some(Protocol::Udp), None) => stmts.push(m_eq(meta(MetaKey::L4proto), s("udp"))),
        (Some(Protocol::Icmp), _) => {
            let proto = match family {
                Some("ip") => s("icmp"),
                Some(_) => s("ipv6-icmp"),
                None => set_of(vec![s("icmp"), s("ipv6-icmp")]),
            };
            stmts.push(m_eq(meta(MetaKey::L4proto), proto));
        }
        (None, Some(port)) => {
            stmts.push(m_eq(
                meta(MetaKey::L4proto),
                set_of(vec![s("tcp"), s("udp")]),
            ));
            stmts.push(m_eq(
                payload("th", "dport"),
                Expression::Number(port.into()),
            ));
        }
        (None, None) => {}
    }
    stmts.push(counter());
    stmts.push(verdict(r.action));
    Some(stmts)
}

/// The `add element` commands that wire one VM into an existing table.
pub fn vm_elements(table: &str, vm: &FirewallVm) -> Vec<Element<'static>> {
    let mut out = vec![
        element(table, SET_IFACES, vec![iface_elem(vm)]),
        element(table, SET_V4, vec![v4_elem(vm)]),
    ];
    if let Some(e) = v6_elem(vm) {
        out.push(element(table, SET_V6, vec![e]));
    }
    out
}

/// Our table object (family `inet`).
pub fn table(name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family: NfFamily::INet,
        name: Cow::Owned(name.to_owned()),
        handle: None,
    })
}

fn chains(t: &str) -> Vec<Chain<'static>> {
    let base = |name: &str, ty, hook, prio| Chain {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        name: Cow::Owned(name.to_owned()),
        _type: Some(ty),
        hook: Some(hook),
        prio: Some(prio),
        // Explicit, so that `list` shows the intent; our drops are rules.
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    };
    vec![
        base(
            CHAIN_PREROUTING,
            NfChainType::Filter,
            NfHook::Prerouting,
            -300,
        ),
        base(CHAIN_FORWARD, NfChainType::Filter, NfHook::Forward, 0),
        base(CHAIN_INPUT, NfChainType::Filter, NfHook::Input, 0),
        base(CHAIN_OUTPUT, NfChainType::Filter, NfHook::Output, 0),
        base(
            CHAIN_POSTROUTING,
            NfChainType::NAT,
            NfHook::Postrouting,
            100,
        ),
    ]
}

fn sets(t: &str) -> Vec<schema::Set<'static>> {
    use schema::{SetType, SetTypeValue};
    let set = |name: &str, ty| schema::Set {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        name: Cow::Owned(name.to_owned()),
        set_type: ty,
        ..schema::Set::default()
    };
    vec![
        set(SET_IFACES, SetTypeValue::Single(SetType::Ifname)),
        set(
            SET_V4,
            SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::Ipv4Addr])),
        ),
        set(
            SET_V6,
            SetTypeValue::Concatenated(Cow::Owned(vec![SetType::Ifname, SetType::Ipv6Addr])),
        ),
    ]
}

fn element(t: &str, set: &str, elem: Vec<Expression<'static>>) -> Element<'static> {
    Element {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        name: Cow::Owned(set.to_owned()),
        elem: Cow::Owned(elem),
    }
}

fn rule(t: &str, chain: &str, expr: Vec<Statement<'static>>) -> Rule<'static> {
    Rule {
        family: NfFamily::INet,
        table: Cow::Owned(t.to_owned()),
        chain: Cow::Owned(chain.to_owned()),
        expr: Cow::Owned(expr),
        ..Rule::default()
    }
}

fn iface_elem(vm: &FirewallVm) -> Expression<'static> {
    s(&vm.interface)
}

fn v4_elem(vm: &FirewallVm) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        s(&vm.interface),
        s(vm.ipv4.to_string()),
    ]))
}

fn v6_elem(vm: &FirewallVm) -> Option<Expression<'static>> {
    vm.ipv6.map(|a| {
        Expression::Named(NamedExpression::Concat(vec![
            s(&vm.interface),
            s(a.to_string()),
        ]))
    })
}

fn s(x: impl AsRef<str>) -> Expression<'static> {
    Expression::String(Cow::Owned(x.as_ref().to_owned()))
}

fn set_ref(name: &str) -> Expression<'static> {
    s(format!("@{name}"))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(field),
        },
    )))
}

fn concat_saddr(family: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(vec![
        meta(MetaKey::Iifname),
        payload(family, "saddr"),
    ]))
}

fn prefix(addr: &str, len: u32) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(addr)),
        len,
    }))
}

/// nft prints a full-length prefix as a plain address, and host bits are
/// meaningless in a match: render the truncated network the way nft shows it.
fn net(n: IpNet) -> Expression<'static> {
    let n = n.trunc();
    if n.prefix_len() == n.max_prefix_len() {
        s(n.addr().to_string())
    } else {
        prefix(&n.network().to_string(), n.prefix_len().into())
    }
}

/// An anonymous set; nft prints a one-element set as the bare element.
fn set_of(mut items: Vec<Expression<'static>>) -> Expression<'static> {
    if items.len() == 1 {
        return items.pop().expect("one item");
    }
    Expression::Named(NamedExpression::Set(
        items.into_iter().map(SetItem::Element).collect(),
    ))
}

fn m(left: Expression<'static>, op: Operator, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn m_eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    m(left, Operator::EQ, right)
}

fn m_neq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    m(left, Operator::NEQ, right)
}

fn ct_state(states: &[&str]) -> Statement<'static> {
    let ct = Expression::Named(NamedExpression::CT(nftables::expr::CT {
        key: Cow::Borrowed("state"),
        family: None,
        dir: None,
    }));
    let right = if states.len() == 1 {
        s(states[0])
    } else {
        Expression::List(states.iter().map(s).collect())
    };
    m(ct, Operator::IN, right)
}

fn family(n: &IpNet) -> &'static str {
    match n {
        IpNet::V4(_) => "ip",
        IpNet::V6(_) => "ip6",
    }
}

fn reject_unreachable() -> Statement<'static> {
    Statement::Reject(Some(Reject::new(
        Some(RejectType::ICMPX),
        Some(RejectCode::HostUnreach),
    )))
}

fn counter() -> Statement<'static> {
    Statement::Counter(Counter::Anonymous(None))
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

fn verdict(a: Action) -> Statement<'static> {
    match a {
        Action::Accept => accept(),
        Action::Drop => drop(),
    }
}
