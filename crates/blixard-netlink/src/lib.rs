//! One synchronous netlink layer for blixard-net: `blixard-tap`'s link
//! requests, `blixard-route`'s observe and apply, and `blixard-nat`'s
//! nf_tables reads all go through [`NetlinkSocket`]. No async runtime.
//!
//! It is generic over the message type: anything that is
//! `NetlinkSerializable + NetlinkDeserializable` (netlink-packet-core's
//! traits), so `netlink_packet_route::RouteNetlinkMessage` works as it is
//! and a protocol without a crate (nf_tables) needs a small type of its own.
//!
//! * [`NetlinkSocket::open`]: a socket in the calling thread's namespace,
//!   with strict checking, extended and capped acks and a large receive
//!   buffer.
//! * [`NetlinkSocket::dump`]: a whole dump, each message mapped as it
//!   arrives, under one retry policy ([`ATTEMPTS`]).
//! * [`NetlinkSocket::get`]: one object, `None` when there is no such object.
//! * [`NetlinkSocket::request`] and [`NetlinkSocket::pipeline`]: requests
//!   answered by an ack, many in flight at once within a bounded window.
//! * [`NetlinkSocket::join_groups`] and [`NetlinkSocket::next_notifications`]:
//!   listening to what the kernel announces on multicast groups.
//! * [`NetlinkError`]: op, object, and the kernel's errno with its
//!   extended-ack text.
//!
//! ```no_run
//! use blixard_netlink::{NetlinkSocket, protocols::NETLINK_ROUTE};
//! use netlink_packet_route::RouteNetlinkMessage;
//! use netlink_packet_route::link::{LinkAttribute, LinkMessage};
//!
//! let mut socket = NetlinkSocket::<RouteNetlinkMessage>::open(NETLINK_ROUTE)?;
//! let names = socket.dump(&RouteNetlinkMessage::GetLink(LinkMessage::default()), "links", |m| {
//!     let RouteNetlinkMessage::NewLink(l) = m else { return None };
//!     l.attributes.into_iter().find_map(|a| match a {
//!         LinkAttribute::IfName(n) => Some(n),
//!         _ => None,
//!     })
//! })?;
//! # Ok::<(), blixard_netlink::NetlinkError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod dump;
mod error;
mod notify;
mod request;
mod socket;
mod wire;

pub use dump::ATTEMPTS;
pub use error::{ErrorKind, NetlinkError};
pub use netlink_sys::protocols;
pub use request::Request;
pub use socket::{NetlinkSocket, RECEIVE_BUFFER};

// The README's example is compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
