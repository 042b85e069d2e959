//! The link requests this crate makes, over the shared synchronous
//! netlink layer (`blixard_netlink`), and the reading of tun attributes
//! from a link message.

use blixard_addr::state::TunInfo;
use blixard_netlink::{NetlinkSocket, Request, protocols::NETLINK_ROUTE};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NlaBuffer, NlasIterator};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, LinkAttribute, LinkExtentMask, LinkInfo, LinkMessage,
};

use crate::LinkMark;
use crate::error::TapError;
use crate::sys::{IFF_TAP, ifla_tun};

/// One link as this crate needs to see it.
#[derive(Debug, Clone)]
pub(crate) struct LinkRecord {
    pub index: u32,
    pub name: String,
    pub group: u32,
    pub alias: Option<String>,
    pub kind: Option<String>,
    pub tun: Option<TunInfo>,
}

/// An rtnetlink socket in the calling thread's namespace.
pub(crate) struct Rtnl(NetlinkSocket<RouteNetlinkMessage>);

impl Rtnl {
    /// A socket in the calling thread's namespace.
    pub fn open() -> Result<Self, TapError> {
        Ok(Rtnl(NetlinkSocket::open(NETLINK_ROUTE)?))
    }

    /// Every link in the namespace.
    pub fn dump_links(&mut self) -> Result<Vec<LinkRecord>, TapError> {
        Ok(self.0.dump(
            &RouteNetlinkMessage::GetLink(skip_stats()),
            "links",
            link_record,
        )?)
    }

    /// The link called `name`, if any.
    pub fn get_link(&mut self, name: &str) -> Result<Option<LinkRecord>, TapError> {
        let mut msg = skip_stats();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        Ok(self
            .0
            .get(&RouteNetlinkMessage::GetLink(msg), name)?
            .and_then(link_record))
    }

    /// Sets interface group and alias of each named link (`RTM_SETLINK` by
    /// name, so no index lookup first), all in flight at once; the answer
    /// of each comes back in the same order as `marks`.
    pub fn set_marks(
        &mut self,
        marks: &[(&str, LinkMark<'_>, Option<u32>)],
    ) -> Result<Vec<Result<(), TapError>>, TapError> {
        let requests: Vec<Request<RouteNetlinkMessage>> = marks
            .iter()
            .map(|(name, mark, mtu)| {
                let mut msg = LinkMessage::default();
                msg.attributes.push(LinkAttribute::IfName(name.to_string()));
                msg.attributes.push(LinkAttribute::Group(mark.group));
                msg.attributes
                    .push(LinkAttribute::IfAlias(mark.alias.to_string()));
                if let Some(mtu) = mtu {
                    msg.attributes.push(LinkAttribute::Mtu(*mtu));
                }
                Request::new(RouteNetlinkMessage::SetLink(msg), "marking", *name)
            })
            .collect();
        Ok(self
            .0
            .pipeline(requests, marks.len())?
            .into_iter()
            .map(|r| r.map_err(TapError::from))
            .collect())
    }

    /// Sets the MAC address of link `index`.
    pub fn set_address(&mut self, name: &str, index: u32, mac: [u8; 6]) -> Result<(), TapError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        Ok(self.0.request(Request::new(
            RouteNetlinkMessage::SetLink(msg),
            "setting the MAC of",
            name,
        ))?)
    }

    /// `RTM_NEWLINK` of each `ifb`, in its mark's interface group
    /// (create-exclusive: an existing link of that name is an error), all
    /// in flight at once; the answer of each in the same order.
    pub fn create_ifbs(
        &mut self,
        ifbs: &[(&str, LinkMark<'_>)],
    ) -> Result<Vec<Result<(), TapError>>, TapError> {
        let requests: Vec<Request<RouteNetlinkMessage>> = ifbs
            .iter()
            .map(|(name, mark)| {
                let mut msg = LinkMessage::default();
                msg.attributes.push(LinkAttribute::IfName(name.to_string()));
                msg.attributes.push(LinkAttribute::Group(mark.group));
                msg.attributes
                    .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Ifb)]));
                Request::new(RouteNetlinkMessage::NewLink(msg), "creating ifb", *name)
                    .flags(NLM_F_CREATE | NLM_F_EXCL)
            })
            .collect();
        Ok(self
            .0
            .pipeline(requests, ifbs.len())?
            .into_iter()
            .map(|r| r.map_err(TapError::from))
            .collect())
    }

    /// `RTM_DELLINK` by name.
    pub fn delete_by_name(&mut self, name: &str) -> Result<(), TapError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        Ok(self.0.request(Request::new(
            RouteNetlinkMessage::DelLink(msg),
            "deleting",
            name,
        ))?)
    }

    /// One `RTM_DELLINK` carrying only `IFLA_GROUP`: the kernel deletes every
    /// link in the group (what `ip link del group N` does).
    pub fn delete_group(&mut self, group: u32) -> Result<(), TapError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::Group(group));
        Ok(self.0.request(Request::new(
            RouteNetlinkMessage::DelLink(msg),
            "deleting",
            format!("interface group {group}"),
        ))?)
    }
}

/// A link request that leaves out the counters (most of a link message;
/// nothing here reads them).
fn skip_stats() -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    msg
}

fn link_record(msg: RouteNetlinkMessage) -> Option<LinkRecord> {
    let RouteNetlinkMessage::NewLink(link) = msg else {
        return None;
    };
    let tun = tun_info(&link);
    let mut rec = LinkRecord {
        index: link.header.index,
        name: String::new(),
        group: 0,
        alias: None,
        kind: None,
        tun,
    };
    for attr in link.attributes {
        match attr {
            LinkAttribute::IfName(n) => rec.name = n,
            LinkAttribute::Group(g) => rec.group = g,
            LinkAttribute::IfAlias(a) => rec.alias = Some(a),
            LinkAttribute::LinkInfo(infos) => {
                rec.kind = infos.into_iter().find_map(|i| match i {
                    LinkInfo::Kind(kind) => Some(kind.to_string()),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    Some(rec)
}

/// The tun attributes of a link message, `None` for any other kind of link.
pub(crate) fn tun_info(link: &LinkMessage) -> Option<TunInfo> {
    let mut carrier = None;
    let mut is_tun = false;
    let mut tun_data: Vec<(u16, Vec<u8>)> = Vec::new();
    for attr in &link.attributes {
        match attr {
            LinkAttribute::Carrier(c) => carrier = Some(*c),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => is_tun = *kind == InfoKind::Tun,
                        LinkInfo::Data(InfoData::Tun(nlas)) => {
                            for nla in nlas {
                                use netlink_packet_core::Nla;
                                let mut value = vec![0u8; nla.value_len()];
                                nla.emit_value(&mut value);
                                tun_data.push((nla.kind(), value));
                            }
                        }
                        // Other crate versions may not know kind `tun`.
                        LinkInfo::Data(InfoData::Other(raw)) => tun_data.extend(raw_nlas(raw)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    is_tun.then(|| parse_tun(&tun_data, carrier))
}

fn raw_nlas(raw: &[u8]) -> Vec<(u16, Vec<u8>)> {
    NlasIterator::new(raw)
        .flatten()
        .map(|nla: NlaBuffer<&[u8]>| (nla.kind(), nla.value().to_vec()))
        .collect()
}

/// Builds [`TunInfo`] from the raw `IFLA_TUN_*` attributes. A single-queue
/// device reports no queue count; its carrier is on exactly while a queue is
/// attached, so that stands in.
pub(crate) fn parse_tun(nlas: &[(u16, Vec<u8>)], carrier: Option<u8>) -> TunInfo {
    let u8_of = |kind| {
        nlas.iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, v)| v.first().copied())
    };
    let u32_of = |kind| {
        nlas.iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, v)| v.get(..4))
            .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
    };
    let multi_queue = u8_of(ifla_tun::MULTI_QUEUE).unwrap_or(0) != 0;
    let queues = if multi_queue {
        u32_of(ifla_tun::NUM_QUEUES).unwrap_or(0)
    } else {
        u32::from(carrier.unwrap_or(0) != 0)
    };
    TunInfo {
        tap: u8_of(ifla_tun::TYPE) == Some(IFF_TAP as u8),
        pi: u8_of(ifla_tun::PI).unwrap_or(0) != 0,
        vnet_hdr: u8_of(ifla_tun::VNET_HDR).unwrap_or(0) != 0,
        multi_queue,
        persist: u8_of(ifla_tun::PERSIST).unwrap_or(0) != 0,
        owner: u32_of(ifla_tun::OWNER),
        group: u32_of(ifla_tun::GROUP),
        queues,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tun_attributes() {
        let nlas = vec![
            (ifla_tun::OWNER, 65534u32.to_ne_bytes().to_vec()),
            (ifla_tun::TYPE, vec![IFF_TAP as u8]),
            (ifla_tun::PI, vec![0]),
            (ifla_tun::VNET_HDR, vec![1]),
            (ifla_tun::PERSIST, vec![1]),
            (ifla_tun::MULTI_QUEUE, vec![1]),
            (ifla_tun::NUM_QUEUES, 4u32.to_ne_bytes().to_vec()),
            (ifla_tun::NUM_DISABLED_QUEUES, 0u32.to_ne_bytes().to_vec()),
        ];
        assert_eq!(
            parse_tun(&nlas, Some(1)),
            TunInfo {
                tap: true,
                pi: false,
                vnet_hdr: true,
                multi_queue: true,
                persist: true,
                owner: Some(65534),
                group: None,
                queues: 4,
            }
        );
    }

    #[test]
    fn single_queue_count_follows_carrier() {
        let nlas = vec![
            (ifla_tun::TYPE, vec![crate::sys::IFF_TUN as u8]),
            (ifla_tun::PI, vec![1]),
            (ifla_tun::MULTI_QUEUE, vec![0]),
            (ifla_tun::GROUP, 7u32.to_ne_bytes().to_vec()),
        ];
        let info = parse_tun(&nlas, Some(1));
        assert!(!info.tap && info.pi && !info.multi_queue);
        assert_eq!((info.queues, info.group, info.owner), (1, Some(7), None));
        assert_eq!(parse_tun(&nlas, Some(0)).queues, 0);
    }
}
