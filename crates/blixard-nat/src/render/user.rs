//! One user rule as nft rule bodies: usually one, more when an endpoint
//! names VMs of other hosts (their addresses, one family per rule, beside
//! the taps of the local ones).

use blixard_addr::config::{Protocol, Selector};
use blixard_addr::plan::FirewallRule;
use ipnet::IpNet;
use nftables::expr::{Expression, MetaKey};
use nftables::stmt::Statement;

use super::expr::{counter, m_eq, meta, net, payload, s, set_of, verdict};

/// One way an endpoint matches: its statements, and the address family
/// they tie the rule to (`ip`, `ip6`), if any.
type Alternative = (Vec<Statement<'static>>, Option<&'static str>);

/// The bodies of rule `r`: one per way its ends can match together (an
/// endpoint of other hosts' VMs matches by IPv4 or IPv6 address, or by the
/// local taps, and nft matches one family's address per rule). None when
/// it cannot be written: an `external` endpoint while the external
/// interface is unresolved (the planner refuses rules that can never
/// match; this only keeps nft from rejecting the whole batch).
pub(super) fn user_rule(r: &FirewallRule, ext: Option<&str>) -> Vec<Vec<Statement<'static>>> {
    let (Some(from), Some(to)) = (
        alternatives(&r.from, MetaKey::Iifname, "saddr", ext),
        alternatives(&r.to, MetaKey::Oifname, "daddr", ext),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (from, from_family) in &from {
        for (to, to_family) in &to {
            let family = match (from_family, to_family) {
                (Some(a), Some(b)) if a != b => continue,
                (a, b) => a.or(*b),
            };
            let mut stmts = from.clone();
            stmts.extend(to.iter().cloned());
            stmts.extend(protocol_and_port(r, family));
            stmts.push(counter());
            stmts.push(verdict(r.action));
            out.push(stmts);
        }
    }
    out
}

/// How `sel` matches at one end (`iface_key` and `addr_field` say which),
/// or `None` when it cannot be written.
fn alternatives(
    sel: &Selector,
    iface_key: MetaKey,
    addr_field: &'static str,
    ext: Option<&str>,
) -> Option<Vec<Alternative>> {
    let names = |names: &[String]| {
        let mut names = names.to_vec();
        names.sort();
        names.dedup();
        m_eq(meta(iface_key), set_of(names.into_iter().map(s).collect()))
    };
    Some(match sel {
        Selector::Any | Selector::Host => vec![(Vec::new(), None)],
        Selector::External => vec![(vec![m_eq(meta(iface_key), s(ext?))], None)],
        Selector::Vms(vms) => vec![(vec![names(vms)], None)],
        Selector::Cidr(cidr) => {
            let fam = match cidr {
                IpNet::V4(_) => "ip",
                IpNet::V6(_) => "ip6",
            };
            vec![(vec![m_eq(payload(fam, addr_field), net(*cidr))], Some(fam))]
        }
        Selector::ClusterVms {
            local,
            remote_ipv4,
            remote_ipv6,
        } => {
            let mut out = Vec::new();
            if !local.is_empty() {
                out.push((vec![names(local)], None));
            }
            let addresses = |fam: &'static str, mut addresses: Vec<String>| {
                addresses.sort();
                addresses.dedup();
                let set = set_of(addresses.into_iter().map(s).collect());
                (vec![m_eq(payload(fam, addr_field), set)], Some(fam))
            };
            if !remote_ipv4.is_empty() {
                out.push(addresses(
                    "ip",
                    remote_ipv4.iter().map(ToString::to_string).collect(),
                ));
            }
            if !remote_ipv6.is_empty() {
                out.push(addresses(
                    "ip6",
                    remote_ipv6.iter().map(ToString::to_string).collect(),
                ));
            }
            out
        }
    })
}

fn protocol_and_port(r: &FirewallRule, family: Option<&str>) -> Vec<Statement<'static>> {
    match (r.protocol, r.port) {
        (Some(Protocol::Tcp), Some(port)) => vec![m_eq(
            payload("tcp", "dport"),
            Expression::Number(port.into()),
        )],
        (Some(Protocol::Udp), Some(port)) => vec![m_eq(
            payload("udp", "dport"),
            Expression::Number(port.into()),
        )],
        (Some(Protocol::Tcp), None) => vec![m_eq(meta(MetaKey::L4proto), s("tcp"))],
        (Some(Protocol::Udp), None) => vec![m_eq(meta(MetaKey::L4proto), s("udp"))],
        (Some(Protocol::Icmp), _) => {
            let proto = match family {
                Some("ip") => s("icmp"),
                Some(_) => s("ipv6-icmp"),
                None => set_of(vec![s("icmp"), s("ipv6-icmp")]),
            };
            vec![m_eq(meta(MetaKey::L4proto), proto)]
        }
        (None, Some(port)) => vec![
            m_eq(meta(MetaKey::L4proto), set_of(vec![s("tcp"), s("udp")])),
            m_eq(payload("th", "dport"), Expression::Number(port.into())),
        ],
        (None, None) => Vec::new(),
    }
}
