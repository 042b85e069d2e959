//! Reading kernel messages into what observe reports: the facts as the
//! kernel gives them, each message dropped as soon as it is read.

use blixard_addr::sysctl::{Family, SysctlKey};
use std::collections::HashMap;
use std::net::IpAddr;

use blixard_addr::state::{ObservedLink, ObservedProxy, ObservedRoute, RouteKind, TunInfo};
use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet, AfSpecInet6, AfSpecUnspec, Inet6DevConf, InetDevConf, LinkAttribute, LinkFlags,
    LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteType, RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

/// Reads the tun details of a link from its message, for
/// [`Session::observe_with`](crate::Session::observe_with).
pub type TunParser<'a> = dyn Fn(&LinkMessage) -> Option<TunInfo> + 'a;

/// One link as observe and apply need it, taken from its message as the
/// dump arrives so that the (large) parsed message is dropped at once.
pub(crate) struct LinkRow {
    pub index: u32,
    pub name: String,
    pub group: u32,
    pub alias: Option<String>,
    pub up: bool,
    pub mtu: u32,
    /// The IPv4 settings (`IFLA_AF_SPEC`/`AF_INET`/`IFLA_INET_CONF`): the
    /// same array `/proc/sys/net/ipv4/conf/IF/` shows.
    /// Boxed: most of a row's size, and a dump's row vector doubles as it grows.
    pub inet: Option<Box<InetDevConf>>,
    /// The IPv6 settings (`IFLA_AF_SPEC`/`AF_INET6`/`IFLA_INET6_CONF`):
    /// `/proc/sys/net/ipv6/conf/IF/`.
    pub inet6: Option<Box<Inet6DevConf>>,
    pub tun: Option<TunInfo>,
}

impl LinkRow {
    /// The link as observe reports it, with what other dumps found (its
    /// proxy entries are filled in after).
    pub(crate) fn observed(&self, root_noqueue: bool, addresses: Vec<IpNet>) -> ObservedLink {
        ObservedLink {
            ifindex: self.index,
            name: self.name.clone(),
            group: self.group,
            alias: self.alias.clone(),
            up: self.up,
            mtu: self.mtu,
            tun: self.tun.clone(),
            root_noqueue,
            root_qdisc: None,
            ingress_qdisc: false,
            addresses,
            proxy_neighbours: Vec::new(),
        }
    }
}

pub(crate) fn link_row(m: RouteNetlinkMessage, tun: &TunParser<'_>) -> Option<LinkRow> {
    let RouteNetlinkMessage::NewLink(l) = m else {
        return None;
    };
    let tun = tun(&l);
    let (mut name, mut group, mut alias, mut mtu, mut inet, mut inet6) =
        (None, 0, None, 0, None, None);
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n),
            LinkAttribute::Group(g) => group = g,
            LinkAttribute::IfAlias(s) => alias = Some(s),
            LinkAttribute::Mtu(m) => mtu = m,
            LinkAttribute::AfSpecUnspec(specs) => {
                for spec in specs {
                    match spec {
                        AfSpecUnspec::Inet(conf) => {
                            inet = conf.into_iter().find_map(|c| match c {
                                AfSpecInet::DevConf(c) => Some(Box::new(c)),
                                _ => None,
                            });
                        }
                        AfSpecUnspec::Inet6(conf) => {
                            inet6 = conf.into_iter().find_map(|c| match c {
                                AfSpecInet6::DevConf(c) => Some(Box::new(c)),
                                _ => None,
                            });
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(LinkRow {
        index: l.header.index,
        name: name?,
        group,
        alias,
        up: l.header.flags.contains(LinkFlags::Up),
        mtu,
        inet,
        inet6,
        tun,
    })
}

/// The value of `net.ipv4.conf.IF.NAME` or `net.ipv6.conf.IF.NAME` from
/// IF's link message, for the settings read here; `None` sends the key to
/// `/proc/sys` (other settings, `all`/`default`, links that were not
/// dumped).
pub(crate) fn link_conf_value(key: &str, rows: &HashMap<&str, &LinkRow>) -> Option<i32> {
    let key: SysctlKey = key.parse().ok()?;
    let (family, interface, name) = key.per_link()?;
    let row = rows.get(interface)?;
    if family == Family::Ipv6 {
        let conf = row.inet6.as_deref()?;
        return Some(match name {
            "forwarding" => conf.forwarding,
            "accept_ra" => conf.accept_ra,
            "proxy_ndp" => conf.proxy_ndp,
            "disable_ipv6" => conf.disable_ipv6,
            _ => return None,
        });
    }
    let conf = row.inet.as_deref()?;
    Some(match name {
        "forwarding" => conf.forwarding,
        "proxy_arp" => conf.proxy_arp,
        "accept_redirects" => conf.accept_redirects,
        "send_redirects" => conf.send_redirects,
        "rp_filter" => conf.rp_filter,
        "accept_source_route" => conf.accept_source_route,
        "log_martians" => conf.log_martians,
        "arp_ignore" => conf.arp_ignore,
        "arp_announce" => conf.arp_announce,
        "accept_local" => conf.accept_local,
        "route_localnet" => conf.route_localnet,
        _ => return None,
    })
}

pub(crate) fn address_of(a: &AddressMessage) -> Option<IpNet> {
    // IFA_LOCAL is the local side on IPv4 (IFA_ADDRESS may be a peer);
    // IPv6 carries only IFA_ADDRESS.
    let local = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let addr = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    });
    IpNet::new(local.or(addr)?, a.header.prefix_len).ok()
}

/// The route as the kernel reports it: destination, link, protocol,
/// table, type and next hop. Whether it matters is
/// `blixard_addr::route_policy`'s call.
pub(crate) fn observed_route(
    r: &RouteMessage,
    names: &HashMap<u32, &str>,
) -> Option<ObservedRoute> {
    let (oif, mut route) = route_by_index(r)?;
    route.interface = oif.and_then(|i| names.get(&i)).map(|n| n.to_string());
    Some(route)
}

/// A route message as an [`ObservedRoute`] with its output ifindex beside
/// it and no interface name yet.
pub(crate) fn route_by_index(r: &RouteMessage) -> Option<(Option<u32>, ObservedRoute)> {
    let mut dst: Option<IpAddr> = None;
    let mut oif = None;
    let mut table = u32::from(r.header.table);
    let mut gateway = None;
    let mut source = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::PrefSource(RouteAddress::Inet(v4)) => source = Some((*v4).into()),
            RouteAttribute::PrefSource(RouteAddress::Inet6(v6)) => source = Some((*v6).into()),
            RouteAttribute::Destination(RouteAddress::Inet(v4)) => dst = Some((*v4).into()),
            RouteAttribute::Destination(RouteAddress::Inet6(v6)) => dst = Some((*v6).into()),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::MultiPath(hops) => {
                gateway = gateway.or_else(|| {
                    hops.iter()
                        .find_map(|h| h.attributes.iter().find_map(next_hop))
                })
            }
            other => gateway = gateway.or_else(|| next_hop(other)),
        }
    }
    let dst = match (dst, r.header.address_family) {
        (Some(d), _) => d,
        (None, AddressFamily::Inet) => IpAddr::from([0u8; 4]),
        (None, AddressFamily::Inet6) => IpAddr::from([0u8; 16]),
        _ => return None,
    };
    Some((
        oif,
        ObservedRoute {
            destination: IpNet::new(dst, r.header.destination_prefix_length).ok()?,
            interface: None,
            protocol: u8::from(r.header.protocol),
            table,
            kind: route_kind(r.header.kind),
            gateway,
            source,
        },
    ))
}

/// An IPv6 proxy entry (`NTF_PROXY`) of the neighbour dump: its link and
/// what it answers for.
pub(crate) fn proxy_of(n: &NeighbourMessage) -> Option<(u32, ObservedProxy)> {
    if !n.header.flags.contains(NeighbourFlags::Proxy) {
        return None;
    }
    let mut address = None;
    let mut protocol = 0;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => address = Some(*v6),
            NeighbourAttribute::Protocol(p) => protocol = u8::from(*p),
            _ => {}
        }
    }
    Some((
        n.header.ifindex,
        ObservedProxy {
            address: address?,
            protocol,
        },
    ))
}

/// The next hop's address in a gateway or via attribute.
fn next_hop(a: &RouteAttribute) -> Option<IpAddr> {
    match a {
        RouteAttribute::Gateway(RouteAddress::Inet(v4))
        | RouteAttribute::Via(RouteVia::Inet(v4)) => Some((*v4).into()),
        RouteAttribute::Gateway(RouteAddress::Inet6(v6))
        | RouteAttribute::Via(RouteVia::Inet6(v6)) => Some((*v6).into()),
        _ => None,
    }
}

fn route_kind(kind: RouteType) -> RouteKind {
    match kind {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::Local => RouteKind::Local,
        RouteType::Broadcast => RouteKind::Broadcast,
        RouteType::Anycast => RouteKind::Anycast,
        RouteType::Multicast => RouteKind::Multicast,
        RouteType::BlackHole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
        RouteType::Throw => RouteKind::Throw,
        _ => RouteKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteNextHop;

    fn message(kind: RouteType, attributes: Vec<RouteAttribute>) -> RouteMessage {
        let mut r = RouteMessage::default();
        r.header.address_family = AddressFamily::Inet;
        r.header.destination_prefix_length = 8;
        r.header.table = 254;
        r.header.kind = kind;
        r.attributes = attributes;
        r
    }

    #[test]
    fn a_route_reports_its_kind_gateway_and_link() {
        let names: HashMap<u32, &str> = [(4, "fx0")].into();
        let dst = RouteAttribute::Destination(RouteAddress::Inet([10, 0, 0, 0].into()));
        let gw = RouteAttribute::Gateway(RouteAddress::Inet([198, 51, 100, 254].into()));
        let r = observed_route(
            &message(
                RouteType::Unicast,
                vec![dst.clone(), gw, RouteAttribute::Oif(4)],
            ),
            &names,
        )
        .unwrap();
        assert_eq!(r.destination.to_string(), "10.0.0.0/8");
        assert_eq!(r.interface.as_deref(), Some("fx0"));
        assert_eq!(r.gateway, Some("198.51.100.254".parse().unwrap()));
        assert_eq!((r.kind, r.table), (RouteKind::Unicast, 254));
        assert_eq!(r.source, None);
        let src = RouteAttribute::PrefSource(RouteAddress::Inet([10, 0, 0, 0].into()));
        let with_source = observed_route(
            &message(
                RouteType::Unicast,
                vec![dst.clone(), src, RouteAttribute::Oif(4)],
            ),
            &names,
        )
        .unwrap();
        assert_eq!(with_source.source, Some("10.0.0.0".parse().unwrap()));
        assert_eq!(with_source.gateway, None, "a source is no next hop");

        // Multipath: the first hop with a gateway.
        let hop = |gw: Option<[u8; 4]>| {
            let mut hop = RouteNextHop::default();
            hop.interface_index = 4;
            hop.attributes
                .extend(gw.map(|g| RouteAttribute::Gateway(RouteAddress::Inet(g.into()))));
            hop
        };
        let multi = RouteAttribute::MultiPath(vec![hop(None), hop(Some([192, 0, 2, 1]))]);
        let r = observed_route(
            &message(RouteType::Unicast, vec![dst.clone(), multi]),
            &names,
        )
        .unwrap();
        assert_eq!(r.gateway, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(r.interface, None);

        let hole = observed_route(&message(RouteType::BlackHole, vec![dst]), &names).unwrap();
        assert_eq!((hole.kind, hole.gateway), (RouteKind::Blackhole, None));
        let mut no_destination = message(RouteType::Unspec, vec![]);
        no_destination.header.destination_prefix_length = 0;
        let default = observed_route(&no_destination, &names).unwrap();
        assert_eq!(default.destination.to_string(), "0.0.0.0/0");
        assert_eq!(default.kind, RouteKind::Other);
    }
}
