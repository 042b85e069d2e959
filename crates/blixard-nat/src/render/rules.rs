//! The rules of our table, chain by chain: the forwarding policy,
//! anti-spoofing, host input, masquerade and the user's rules where
//! [`RuleChain`] placed them.

use blixard_addr::plan::{FirewallPlan, RuleChain};
use ipnet::IpNet;
use nftables::expr::{Expression, MetaKey};
use nftables::stmt::Statement;

use super::counters::{SET_SPOOFED, SET_TX, count_from, firewall_drop};
use super::expr::{
    accept, concat_saddr, counter, ct_dnat, ct_state, drop, family, fib_saddr_iif_missing, m_eq,
    m_neq, meta, net, payload, prefix, reject_unreachable, s, set_of, set_ref, verdict,
};
use super::user::user_rule;
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
            .flat_map(move |r| user_rule(r, ext))
    };

    // Counted before anything can drop it: what the VM sent.
    out.push((CHAIN_PREROUTING, vec![count_from(SET_TX)]));
    // Policed before the anti-spoofing accepts end the chain (see
    // `police`): every packet the VM sends is held to its limit.
    out.extend(super::police::rules(plan));

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
        // A guest's IPv6 start-up (duplicate address detection, MLD) sends
        // from `::`, which claims no address: dropped as before, but not
        // counted as spoofing.
        out.push((
            p,
            vec![
                m_eq(meta(MetaKey::Iifname), set_ref(SET_IFACES)),
                m_eq(payload("ip6", "saddr"), s("::")),
                drop(),
            ],
        ));
        out.push((
            p,
            vec![
                m_eq(meta(MetaKey::Iifname), set_ref(SET_SPOOFED)),
                counter(),
                drop(),
            ],
        ));
        // In a cluster a pool source off our taps is another host's VM:
        // believed only on the interface the route back to it leaves by
        // (a strict reverse-path check), so no VM can send with another's
        // address and a local VM's address never arrives from outside.
        for pool in &pools {
            let mut rule = vec![
                m_eq(payload(family(pool), "saddr"), net(*pool)),
                m_neq(meta(MetaKey::Iifname), s("lo")),
            ];
            if plan.cluster {
                rule.push(fib_saddr_iif_missing());
            }
            rule.extend([counter(), drop()]);
            out.push((p, rule));
        }
    }

    // Forward. An accept here only ends *our* chain; other tables still see
    // the packet, so accepting foreign traffic early is how we leave it alone.
    let f = CHAIN_FORWARD;
    out.push((f, vec![ct_state(&["established", "related"]), accept()]));
    // A pool address no tap of ours holds would follow the default route
    // out, masqueraded: answer it as unreachable instead, whoever sent it.
    // In a cluster it is another host's VM (BIRD makes the rest of the pool
    // unreachable).
    for pool in pools.iter().filter(|_| !plan.cluster) {
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
    // VMs of other hosts, after the user rules (which may name them): both
    // ways over whatever interface their route points to; the source of
    // what comes in was checked at prerouting.
    for pool in pools.iter().filter(|_| plan.cluster) {
        let fam = family(pool);
        out.push((
            f,
            vec![
                m_eq(meta(MetaKey::Iifname), set_ref(SET_IFACES)),
                m_eq(payload(fam, "daddr"), net(*pool)),
                accept(),
            ],
        ));
        out.push((
            f,
            vec![
                m_eq(meta(MetaKey::Oifname), set_ref(SET_IFACES)),
                m_eq(payload(fam, "saddr"), net(*pool)),
                accept(),
            ],
        ));
    }
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
    // A forward's connection was asked for by the config (VM -> VM ones,
    // hairpin included, were accepted above); user rules may still refuse.
    if !plan.forwards.is_empty() {
        out.push((f, vec![ct_dnat(), accept()]));
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
            firewall_drop(),
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
    // VM -> host keep their source addresses, and so, in a cluster, does
    // traffic to other hosts' VMs (which may leave by the same interface).
    if let Some(ext) = ext {
        let masqueraded = [
            (plan.masquerade_ipv4, Some(IpNet::V4(plan.ipv4_pool))),
            (plan.masquerade_ipv6, plan.ipv6_pool.map(IpNet::V6)),
        ]
        .into_iter()
        .filter_map(|(on, pool)| pool.filter(|_| on));
        for pool in masqueraded {
            let fam = family(&pool);
            let mut rule = vec![
                m_eq(meta(MetaKey::Oifname), s(ext)),
                m_eq(payload(fam, "saddr"), net(pool)),
            ];
            if plan.cluster {
                rule.push(m_neq(payload(fam, "daddr"), net(pool)));
            }
            rule.push(Statement::Masquerade(None));
            out.push((CHAIN_POSTROUTING, rule));
        }
    }
    out.extend(super::forwards::rules(plan));
    out.extend(super::counters::rules());
    out
}
