//! A small synchronous rtnetlink socket: just the link requests this crate
//! needs, so that no caller has to run an async runtime.

use std::io;

use blixard_addr::state::TunInfo;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlaBuffer, NlasIterator,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, LinkAttribute, LinkExtentMask, LinkInfo, LinkMessage,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::TapError;
use crate::sys::{IFF_TAP, ifla_tun};

/// How often an interrupted (`NLM_F_DUMP_INTR`) or overrun dump is retried.
const DUMP_ATTEMPTS: usize = 8;
/// `NLMSGERR_ATTR_MSG` in an extended ack.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSG_HDR_LEN: usize = 16;

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

pub(crate) struct Rtnl {
    socket: Socket,
    seq: u32,
}

/// Why a request failed, before it is given an object name.
enum NlFailure {
    Kernel(io::Error, Option<String>),
    Interrupted,
    Reply(String),
}

impl Rtnl {
    /// A socket in the calling thread's namespace.
    pub fn open() -> Result<Self, TapError> {
        let io_err = |source| TapError::Io {
            what: "opening a NETLINK_ROUTE socket".into(),
            source,
        };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(io_err)?;
        socket.bind_auto().map_err(io_err)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io_err)?;
        // Best effort: older kernels lack them and the errors stay usable.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(Self { socket, seq: 0 })
    }

    /// Sends one request and collects the inner messages of its reply. A
    /// request without `NLM_F_DUMP` ends at its first reply or ack.
    fn exchange<T>(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        keep: &mut impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>, NlFailure> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .map_err(|e| NlFailure::Kernel(e, None))?;

        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        let mut interrupted = false;
        loop {
            let (data, _) = self.socket.recv_from_full().map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOBUFS) && dump {
                    NlFailure::Interrupted
                } else {
                    NlFailure::Kernel(e, None)
                }
            })?;
            let mut offset = 0;
            while offset < data.len() {
                let msg: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&data[offset..])
                        .map_err(|e| NlFailure::Reply(e.to_string()))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Err(NlFailure::Reply("zero-length message".into()));
                }
                offset += (len + 3) & !3;
                if msg.header.sequence_number != seq {
                    continue;
                }
                if msg.header.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                let msg_flags = msg.header.flags;
                match msg.payload {
                    NetlinkPayload::InnerMessage(inner) => {
                        // Mapped as it arrives: a parsed link message is
                        // large, a dump of thousands of them is not kept.
                        out.extend(keep(inner));
                        if !dump {
                            return Ok(out);
                        }
                    }
                    NetlinkPayload::Done(done) => {
                        if done.code != 0 {
                            return Err(NlFailure::Kernel(
                                io::Error::from_raw_os_error(done.code.abs()),
                                None,
                            ));
                        }
                        return if interrupted {
                            Err(NlFailure::Interrupted)
                        } else {
                            Ok(out)
                        };
                    }
                    NetlinkPayload::Error(err) => {
                        if err.code.is_none() {
                            return Ok(out);
                        }
                        let detail = ext_ack_message(msg_flags, &err.header);
                        return Err(NlFailure::Kernel(err.to_io(), detail));
                    }
                    NetlinkPayload::Overrun(_) => return Err(NlFailure::Interrupted),
                    _ => {}
                }
            }
        }
    }

    fn request(
        &mut self,
        object: &str,
        op: &'static str,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), TapError> {
        self.request_map(object, op, message, flags, |_| None::<()>)
            .map(|_| ())
    }

    /// [`Self::request`] keeping each reply message that `keep` maps.
    fn request_map<T>(
        &mut self,
        object: &str,
        op: &'static str,
        message: RouteNetlinkMessage,
        flags: u16,
        mut keep: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>, TapError> {
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let attempts = if dump { DUMP_ATTEMPTS } else { 1 };
        for _ in 0..attempts {
            match self.exchange(message.clone(), flags, &mut keep) {
                Ok(v) => return Ok(v),
                Err(NlFailure::Kernel(source, detail)) => {
                    return Err(TapError::Netlink {
                        object: object.to_string(),
                        op,
                        source,
                        detail,
                    });
                }
                Err(NlFailure::Reply(detail)) => {
                    return Err(TapError::NetlinkReply {
                        object: object.to_string(),
                        op,
                        detail,
                    });
                }
                Err(NlFailure::Interrupted) => {
                    // The rest of an abandoned dump may still be queued:
                    // a fresh socket starts clean.
                    *self = Rtnl::open()?;
                }
            }
        }
        Err(TapError::NetlinkReply {
            object: object.to_string(),
            op,
            detail: format!("dump interrupted {DUMP_ATTEMPTS} times in a row"),
        })
    }

    /// Every link in the namespace.
    pub fn dump_links(&mut self) -> Result<Vec<LinkRecord>, TapError> {
        self.request_map(
            "links",
            "dumping",
            RouteNetlinkMessage::GetLink(skip_stats()),
            NLM_F_DUMP,
            link_record,
        )
    }

    /// The link called `name`, if any.
    pub fn get_link(&mut self, name: &str) -> Result<Option<LinkRecord>, TapError> {
        let mut msg = skip_stats();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request_map(
            name,
            "looking up",
            RouteNetlinkMessage::GetLink(msg),
            0,
            link_record,
        ) {
            Ok(mut replies) => Ok(replies.pop()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets interface group and alias of each named link (`RTM_SETLINK` by
    /// name, so no index lookup first). All requests go out in one `send`
    /// and the kernel handles them in order; the answer of each comes back
    /// in the same order as `marks`. The caller bounds `marks` so that the
    /// acks fit in the socket's receive buffer.
    pub fn set_marks(
        &mut self,
        marks: &[(&str, u32, &str)],
    ) -> Result<Vec<Result<(), TapError>>, TapError> {
        let first = self.seq.wrapping_add(1);
        let mut buf = Vec::new();
        for (name, group, alias) in marks {
            self.seq = self.seq.wrapping_add(1);
            let mut msg = LinkMessage::default();
            msg.attributes.push(LinkAttribute::IfName(name.to_string()));
            msg.attributes.push(LinkAttribute::Group(*group));
            msg.attributes
                .push(LinkAttribute::IfAlias(alias.to_string()));
            let mut header = NetlinkHeader::default();
            header.flags = NLM_F_REQUEST | NLM_F_ACK;
            header.sequence_number = self.seq;
            let mut packet = NetlinkMessage::new(
                header,
                NetlinkPayload::from(RouteNetlinkMessage::SetLink(msg)),
            );
            packet.finalize();
            let start = buf.len();
            buf.resize(start + ((packet.buffer_len() + 3) & !3), 0);
            packet.serialize(&mut buf[start..]);
        }
        let batch_err = |source| TapError::Netlink {
            object: format!("{} link(s)", marks.len()),
            op: "marking",
            source,
            detail: None,
        };
        if marks.is_empty() {
            return Ok(Vec::new());
        }
        self.socket.send(&buf, 0).map_err(batch_err)?;
        let mut answers: Vec<Option<Result<(), TapError>>> =
            (0..marks.len()).map(|_| None).collect();
        let mut pending = marks.len();
        while pending > 0 {
            // ENOBUFS here means acks were dropped: fail rather than wait
            // for answers that will never come.
            let (data, _) = self.socket.recv_from_full().map_err(batch_err)?;
            let mut offset = 0;
            while offset < data.len() {
                let msg: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&data[offset..]).map_err(|e| {
                        TapError::NetlinkReply {
                            object: format!("{} link(s)", marks.len()),
                            op: "marking",
                            detail: e.to_string(),
                        }
                    })?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Err(TapError::NetlinkReply {
                        object: format!("{} link(s)", marks.len()),
                        op: "marking",
                        detail: "zero-length message".into(),
                    });
                }
                offset += (len + 3) & !3;
                let i = msg.header.sequence_number.wrapping_sub(first) as usize;
                let msg_flags = msg.header.flags;
                let (Some(slot), NetlinkPayload::Error(err)) = (answers.get_mut(i), msg.payload)
                else {
                    continue;
                };
                if slot.is_some() {
                    continue;
                }
                *slot = Some(match err.code {
                    None => Ok(()),
                    Some(_) => Err(TapError::Netlink {
                        object: marks[i].0.to_string(),
                        op: "marking",
                        detail: ext_ack_message(msg_flags, &err.header),
                        source: err.to_io(),
                    }),
                });
                pending -= 1;
            }
        }
        Ok(answers
            .into_iter()
            .map(|a| a.expect("every request answered"))
            .collect())
    }

    /// Sets the MAC address of link `index`.
    pub fn set_address(&mut self, name: &str, index: u32, mac: [u8; 6]) -> Result<(), TapError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.request(
            name,
            "setting the MAC of",
            RouteNetlinkMessage::SetLink(msg),
            NLM_F_ACK,
        )?;
        Ok(())
    }

    /// `RTM_DELLINK` by name.
    pub fn delete_by_name(&mut self, name: &str) -> Result<(), TapError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.request(
            name,
            "deleting",
            RouteNetlinkMessage::DelLink(msg),
            NLM_F_ACK,
        )?;
        Ok(())
    }

    /// One `RTM_DELLINK` carrying only `IFLA_GROUP`: the kernel deletes every
    /// link in the group (what `ip link del group N` does).
    pub fn delete_group(&mut self, group: u32) -> Result<(), TapError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::Group(group));
        self.request(
            &format!("interface group {group}"),
            "deleting",
            RouteNetlinkMessage::DelLink(msg),
            NLM_F_ACK,
        )?;
        Ok(())
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

/// The kernel's `NLMSGERR_ATTR_MSG`, if the error carries one.
fn ext_ack_message(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || payload.len() < NLMSG_HDR_LEN {
        return None;
    }
    let skip = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDR_LEN
    } else {
        let orig = u32::from_ne_bytes(payload[..4].try_into().ok()?) as usize;
        (orig + 3) & !3
    };
    let tlvs = payload.get(skip..)?;
    NlasIterator::new(tlvs).flatten().find_map(|nla| {
        (nla.kind() == NLMSGERR_ATTR_MSG).then(|| {
            String::from_utf8_lossy(nla.value())
                .trim_end_matches('\0')
                .to_string()
        })
    })
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
