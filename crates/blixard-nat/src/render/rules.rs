//! The rules of our table, chain by chain: the forwarding policy,
//! anti-spoofing, host input, masquerade and the user's rules where
//! [`RuleChain`] placed them.

use blixard_addr::config::{Protocol, Selector};
use blixard_addr::plan::{FirewallPlan, FirewallRule, RuleChain};
use ipnet::IpNet;
use nftables::expr::{Expression, MetaKey};
use nftables::stmt::Statement;

use super::expr::{
    accept, concat_saddr, counter, ct_state, drop, family, m_eq, m_neq, meta, net, payload, prefix,
    reject_unreachable, s, set_of, set_ref, verdict,
};
use super::{
    CHAIN_FORWARD, CHAIN_INPUT, CHAIN_OUTPUT, CHAIN_POSTROUTING, CHAIN_PREROUTING, SET_IFACES,
    SET_V4, SET_V6,
};

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
