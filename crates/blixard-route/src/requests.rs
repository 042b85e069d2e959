//! Building the netlink request of each route-executor [`Change`].

use std::collections::HashMap;

use blixard_addr::state::Change;
use blixard_netlink::Request;
use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::errno::Errno;

use crate::RouteError;

fn resolve(
    index: &HashMap<String, u32>,
    name: &str,
    op: &'static str,
    object: &str,
) -> Result<u32, RouteError> {
    index
        .get(name)
        .copied()
        .ok_or_else(|| RouteError::NoSuchLink {
            op,
            object: object.to_string(),
            name: name.to_string(),
        })
}

pub(crate) fn family_of(net: &IpNet) -> AddressFamily {
    match net {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

fn address_message(ifindex: u32, address: &IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family_of(address);
    m.header.prefix_len = address.prefix_len();
    m.header.index = ifindex;
    let ip = address.addr();
    if ip.is_ipv4() {
        m.attributes.push(AddressAttribute::Local(ip));
    }
    m.attributes.push(AddressAttribute::Address(ip));
    m
}

fn route_message(ifindex: u32, destination: &IpNet, protocol: u8) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family_of(destination);
    m.header.destination_prefix_length = destination.prefix_len();
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::from(protocol);
    m.header.scope = RouteScope::Link;
    m.header.kind = RouteType::Unicast;
    m.attributes
        .push(RouteAttribute::Destination(destination.addr().into()));
    m.attributes.push(RouteAttribute::Oif(ifindex));
    m
}

/// An IPv6 proxy entry (`ip -6 neigh add proxy ADDR dev IF`).
fn proxy_message(ifindex: u32, address: &std::net::Ipv6Addr) -> NeighbourMessage {
    let mut m = NeighbourMessage::default();
    m.header.family = AddressFamily::Inet6;
    m.header.ifindex = ifindex;
    m.header.flags = NeighbourFlags::Proxy;
    // Permanent: the kernel drops other proxy entries of a tap when its
    // carrier goes, i.e. whenever its VMM stops or restarts.
    m.header.state = NeighbourState::Permanent;
    m.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet6(
            *address,
        )));
    m
}

const EADDRNOTAVAIL: i32 = Errno::EADDRNOTAVAIL as i32;
const ESRCH: i32 = Errno::ESRCH as i32;
const ENOENT: i32 = Errno::ENOENT as i32;
const EEXIST: i32 = Errno::EEXIST as i32;
const EINVAL: i32 = Errno::EINVAL as i32;

pub(crate) fn request_for(
    change: &Change,
    index: &HashMap<String, u32>,
) -> Result<Request<RouteNetlinkMessage>, RouteError> {
    let upsert = NLM_F_CREATE | NLM_F_REPLACE;
    Ok(match change {
        Change::SetLink {
            name,
            group,
            alias,
            mtu,
        } => {
            let op = "set group/alias/mtu of";
            let mut m = LinkMessage::default();
            m.header.index = resolve(index, name, op, name)?;
            m.attributes.push(LinkAttribute::Group(*group));
            m.attributes.push(LinkAttribute::IfAlias(alias.clone()));
            m.attributes.push(LinkAttribute::Mtu(*mtu));
            Request::new(RouteNetlinkMessage::SetLink(m), op, name.clone())
        }
        Change::LinkUp { name } => {
            let op = "set up";
            let mut m = LinkMessage::default();
            m.header.index = resolve(index, name, op, name)?;
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
            Request::new(RouteNetlinkMessage::SetLink(m), op, name.clone())
        }
        Change::AddNoqueue { name } => {
            let op = "add root noqueue qdisc on";
            let ifindex = resolve(index, name, op, name)?;
            let mut m = TcMessage::default();
            m.header.index = i32::try_from(ifindex).expect("ifindex fits in i32");
            m.header.parent = TcHandle::ROOT;
            m.header.handle = TcHandle::UNSPEC;
            m.attributes.push(TcAttribute::Kind("noqueue".into()));
            Request::new(RouteNetlinkMessage::NewQueueDiscipline(m), op, name.clone()).flags(upsert)
        }
        Change::SetLimit { name, limit } => {
            let op = "set limit (root tbf qdisc) on";
            let m = crate::tc::limit_message(resolve(index, name, op, name)?, limit);
            Request::new(RouteNetlinkMessage::NewQueueDiscipline(m), op, name.clone()).flags(upsert)
        }
        Change::DeleteLimit { name } => {
            let op = "delete limit (root tbf qdisc) on";
            let m = crate::tc::delete_message(resolve(index, name, op, name)?);
            Request::new(RouteNetlinkMessage::DelQueueDiscipline(m), op, name.clone())
                .already_done(&[ENOENT])
        }
        Change::AddIngressQdisc { name } => {
            let op = "add ingress qdisc on";
            let m = crate::tc::ingress_message(resolve(index, name, op, name)?);
            Request::new(RouteNetlinkMessage::NewQueueDiscipline(m), op, name.clone())
                .flags(NLM_F_CREATE | NLM_F_EXCL)
                .already_done(&[EEXIST])
        }
        Change::DeleteIngressQdisc { name } => {
            let op = "delete ingress qdisc on";
            let m = crate::tc::ingress_message(resolve(index, name, op, name)?);
            Request::new(RouteNetlinkMessage::DelQueueDiscipline(m), op, name.clone())
                .already_done(&[ENOENT, EINVAL])
        }
        Change::AddRedirect { name, ifb } => {
            let op = "redirect to its ifb";
            let tap = resolve(index, name, op, name)?;
            let to = resolve(index, ifb, op, ifb)?;
            let m = crate::tc::redirect_message(tap, to);
            Request::new(RouteNetlinkMessage::NewTrafficFilter(m), op, name.clone())
                .flags(NLM_F_CREATE | NLM_F_EXCL)
                .already_done(&[EEXIST])
        }
        Change::AddAddress { interface, address } => {
            let op = "add address";
            let object = format!("{address} dev {interface}");
            let mut m = address_message(resolve(index, interface, op, &object)?, address);
            // NODAD: the tap has no carrier until the VMM attaches, and a
            // tentative address drops the guest's first packets.
            // NOPREFIXROUTE: a /128 would otherwise get a proto-kernel route
            // inside the pool, indistinguishable from a foreign one.
            let flags = if address.addr().is_ipv6() {
                AddressFlags::Nodad | AddressFlags::Noprefixroute
            } else {
                AddressFlags::Noprefixroute
            };
            if address.addr().is_ipv6() {
                m.header.flags = AddressHeaderFlags::Nodad;
            }
            m.attributes.push(AddressAttribute::Flags(flags));
            Request::new(RouteNetlinkMessage::NewAddress(m), op, object).flags(upsert)
        }
        Change::DeleteAddress { interface, address } => {
            let op = "delete address";
            let object = format!("{address} dev {interface}");
            let m = address_message(resolve(index, interface, op, &object)?, address);
            Request::new(RouteNetlinkMessage::DelAddress(m), op, object)
                .already_done(&[EADDRNOTAVAIL])
        }
        Change::AddRoute {
            destination,
            interface,
            protocol,
        } => {
            let op = "add route";
            let object = format!("{destination} dev {interface} proto {protocol}");
            let m = route_message(
                resolve(index, interface, op, &object)?,
                destination,
                *protocol,
            );
            Request::new(RouteNetlinkMessage::NewRoute(m), op, object).flags(upsert)
        }
        Change::AddProxyNeighbour {
            interface,
            address,
            protocol,
        } => {
            let op = "add proxy neighbour";
            let object = format!("{address} dev {interface}");
            let mut m = proxy_message(resolve(index, interface, op, &object)?, address);
            m.attributes
                .push(NeighbourAttribute::Protocol(RouteProtocol::from(*protocol)));
            Request::new(RouteNetlinkMessage::NewNeighbour(m), op, object).flags(upsert)
        }
        Change::DeleteProxyNeighbour { interface, address } => {
            let op = "delete proxy neighbour";
            let object = format!("{address} dev {interface}");
            let m = proxy_message(resolve(index, interface, op, &object)?, address);
            Request::new(RouteNetlinkMessage::DelNeighbour(m), op, object).already_done(&[ENOENT])
        }
        Change::DeleteRoute {
            destination,
            interface,
            protocol,
        } => {
            let op = "delete route";
            let object = format!("{destination} dev {interface} proto {protocol}");
            let mut m = route_message(
                resolve(index, interface, op, &object)?,
                destination,
                *protocol,
            );
            // NOWHERE matches any scope; the protocol still restricts the
            // delete to our route.
            m.header.scope = RouteScope::NoWhere;
            Request::new(RouteNetlinkMessage::DelRoute(m), op, object)
                .already_done(&[ESRCH, ENOENT])
        }
        other => unreachable!("not a netlink change: {other:?}"),
    })
}
