//! What the kernel announces as it changes links, addresses, routes,
//! qdiscs and proxy entries: the wake-up of a long-running reconcile
//! (`blixard-net watch`). Nothing here judges drift; a notice only says
//! that something which may be ours changed, and the caller observes and
//! diffs as `apply` does.

use std::collections::HashMap;

use blixard_netlink::{NetlinkSocket, protocols::NETLINK_ROUTE};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::NeighbourMessage;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::tc::TcMessage;
use nix::libc;

use crate::RouteError;
use crate::rows::{address_of, observed_route, proxy_of};

/// The groups that carry every kind of object a plan holds: links (taps,
/// the gateway device, up/down, marks), the root qdisc, IPv4 and IPv6
/// addresses and routes, and neighbours (the proxy entries).
const GROUPS: [libc::c_uint; 7] = [
    libc::RTNLGRP_LINK,
    libc::RTNLGRP_NEIGH,
    libc::RTNLGRP_TC,
    libc::RTNLGRP_IPV4_IFADDR,
    libc::RTNLGRP_IPV4_ROUTE,
    libc::RTNLGRP_IPV6_IFADDR,
    libc::RTNLGRP_IPV6_ROUTE,
];

/// One wake-up from [`KernelEvents::next_notice`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KernelNotice {
    /// Objects changed, each described (`route 10.0.0.2/32 deleted`);
    /// empty when the datagram held only what cannot be ours (a guest's
    /// ARP or neighbour-discovery entries, which traffic keeps changing).
    Changed(Vec<String>),
    /// The receive buffer overran and notifications were lost: whatever
    /// changed meanwhile is unknown, so read the whole state again.
    Lost,
}

/// A socket listening to rtnetlink's notifications, in the network
/// namespace of the thread that opened it.
#[derive(Debug)]
pub struct KernelEvents {
    socket: NetlinkSocket<RouteNetlinkMessage>,
    /// Link names by ifindex, learnt from link notices, so that a later
    /// route or address notice can name its link.
    names: HashMap<u32, String>,
}

impl KernelEvents {
    /// Opens the socket here and joins the groups. Open it before the
    /// first full reconcile: a change between that reconcile's observation
    /// and the subscription would otherwise go unnoticed.
    pub fn open() -> Result<Self, RouteError> {
        let mut socket = NetlinkSocket::open(NETLINK_ROUTE)?;
        socket.join_groups(&GROUPS)?;
        // The names of the links that exist already, from a socket of its
        // own (a dump's replies must not mix with the notifications).
        let names = crate::Session::new()?
            .links()?
            .into_iter()
            .map(|row| (row.index, row.name))
            .collect();
        Ok(Self { socket, names })
    }

    /// Blocks until the kernel announces something.
    pub fn next_notice(&mut self) -> Result<KernelNotice, RouteError> {
        match self.socket.next_notifications() {
            Ok(messages) => Ok(KernelNotice::Changed(
                messages
                    .into_iter()
                    .filter_map(|m| self.describe(m))
                    .collect(),
            )),
            Err(e) if e.is_overrun() => Ok(KernelNotice::Lost),
            Err(e) => Err(e.into()),
        }
    }

    /// What changed, in a few words; `None` for what cannot be ours.
    fn describe(&mut self, message: RouteNetlinkMessage) -> Option<String> {
        use RouteNetlinkMessage as M;
        let (what, new) = match message {
            M::NewLink(l) => {
                let up = l.header.flags.contains(LinkFlags::Up);
                let name = self.learn(&l);
                return Some(format!("link {name} {}", if up { "up" } else { "down" }));
            }
            M::DelLink(l) => {
                let name = self.learn(&l);
                self.names.remove(&l.header.index);
                return Some(format!("link {name} deleted"));
            }
            M::NewAddress(a) => (self.address(&a)?, true),
            M::DelAddress(a) => (self.address(&a)?, false),
            M::NewRoute(r) => (self.route(&r)?, true),
            M::DelRoute(r) => (self.route(&r)?, false),
            // A guest's traffic keeps moving its ARP and NDP entries
            // between states: only proxy entries can be ours.
            M::NewNeighbour(n) => (self.proxy(&n)?, true),
            M::DelNeighbour(n) => (self.proxy(&n)?, false),
            M::NewQueueDiscipline(q) => (self.qdisc(&q), true),
            M::DelQueueDiscipline(q) => (self.qdisc(&q), false),
            _ => return None,
        };
        Some(format!("{what} {}", if new { "added" } else { "deleted" }))
    }

    fn link_name(&self, index: u32) -> String {
        self.names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("ifindex {index}"))
    }

    fn address(&self, a: &AddressMessage) -> Option<String> {
        let address = address_of(a)?;
        Some(format!(
            "address {address} dev {}",
            self.link_name(a.header.index)
        ))
    }

    fn route(&self, r: &RouteMessage) -> Option<String> {
        let names: HashMap<u32, &str> = self.names.iter().map(|(i, n)| (*i, n.as_str())).collect();
        let route = observed_route(r, &names)?;
        Some(match route.interface {
            Some(dev) => format!("route {} dev {dev}", route.destination),
            None => format!("route {}", route.destination),
        })
    }

    fn proxy(&self, n: &NeighbourMessage) -> Option<String> {
        let (index, proxy) = proxy_of(n)?;
        Some(format!(
            "proxy {} dev {}",
            proxy.address,
            self.link_name(index)
        ))
    }

    fn qdisc(&self, q: &TcMessage) -> String {
        let index = u32::try_from(q.header.index).unwrap_or_default();
        format!("qdisc dev {}", self.link_name(index))
    }

    fn learn(&mut self, l: &LinkMessage) -> String {
        let name = l.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        });
        match name {
            Some(name) => {
                self.names.insert(l.header.index, name.clone());
                name
            }
            None => format!("ifindex {}", l.header.index),
        }
    }
}
