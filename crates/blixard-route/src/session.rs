//! The synchronous session: one netlink socket bound to one network
//! namespace, and the dumps every other part reads through.

use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::route::{RouteMessage, RouteProtocol};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use blixard_netlink::{NetlinkSocket, protocols::NETLINK_ROUTE};

use crate::RouteError;
use crate::rows::{LinkRow, TunParser, link_row};

/// A synchronous rtnetlink handle bound to one network namespace.
///
/// It owns one netlink socket made in the *calling thread's* namespace;
/// create it inside [`blixard_netns::run_in`] / [`blixard_netns::run_in_new`]
/// for another namespace. The methods block; no async runtime is involved.
/// The session remembers its namespace, so sysctls (and a fresh socket
/// after an overrun) still go there when it is used from a thread elsewhere.
pub struct Session {
    pub(crate) socket: NetlinkSocket<RouteNetlinkMessage>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Opens the netlink socket in the calling thread's network namespace.
    pub fn new() -> Result<Session, RouteError> {
        Ok(Session {
            socket: NetlinkSocket::open(NETLINK_ROUTE)?,
        })
    }

    /// Runs `f` in the session's namespace: directly when the calling thread
    /// is already there, else on a helper thread that enters it.
    pub(crate) fn in_netns<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, RouteError> + Send,
    ) -> Result<T, RouteError> {
        self.socket.in_netns(f)?
    }

    pub(crate) fn dump<T>(
        &mut self,
        request: RouteNetlinkMessage,
        what: &str,
        keep: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>, RouteError> {
        Ok(self.socket.dump(&request, what, keep)?)
    }

    pub(crate) fn get(
        &mut self,
        request: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Option<RouteNetlinkMessage>, RouteError> {
        Ok(self.socket.get(&request, what)?)
    }

    /// [`Self::get`] for traffic control, which answers a get only when
    /// asked to echo.
    pub(crate) fn get_echoed(
        &mut self,
        request: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Option<RouteNetlinkMessage>, RouteError> {
        Ok(self.socket.get_echoed(&request, what)?)
    }

    pub(crate) fn links(&mut self) -> Result<Vec<LinkRow>, RouteError> {
        self.links_with(&|_| None)
    }

    /// [`Self::links`], reading tun details with `tun` from each message.
    pub(crate) fn links_with(&mut self, tun: &TunParser<'_>) -> Result<Vec<LinkRow>, RouteError> {
        self.dump(RouteNetlinkMessage::GetLink(link_request()), "links", |m| {
            link_row(m, tun)
        })
    }

    /// Route messages of `family` mapped by `keep` as they arrive; the
    /// kernel filters by `protocol` and `table` when given.
    pub(crate) fn routes<T>(
        &mut self,
        family: AddressFamily,
        protocol: Option<u8>,
        table: Option<u8>,
        mut keep: impl FnMut(&RouteMessage) -> Option<T>,
    ) -> Result<Vec<T>, RouteError> {
        let mut req = RouteMessage::default();
        req.header.address_family = family;
        // With NETLINK_GET_STRICT_CHK the kernel filters by these header fields.
        if let Some(p) = protocol {
            req.header.protocol = RouteProtocol::from(p);
        }
        if let Some(t) = table {
            req.header.table = t;
        }
        let what = if family == AddressFamily::Inet {
            "IPv4 routes"
        } else {
            "IPv6 routes"
        };
        self.dump(RouteNetlinkMessage::GetRoute(req), what, |m| match m {
            RouteNetlinkMessage::NewRoute(r) => keep(&r),
            _ => None,
        })
    }
}

/// A link request (dump, or by name or index once filled in) that leaves
/// out the counters: most of a link message, and nothing here reads them.
pub(crate) fn link_request() -> LinkMessage {
    let mut request = LinkMessage::default();
    request
        .attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    request
}
