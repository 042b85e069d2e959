//! Bytes on the wire: encoding requests, splitting a received datagram into
//! messages (each padded to 4 bytes), and the extended-ack message text.
//! Pure, so it is tested without a kernel.

use netlink_packet_core::{
    Emitable, NLM_F_ACK_TLVS, NLM_F_CAPPED, NetlinkDeserializable, NetlinkHeader, NetlinkMessage,
    NetlinkSerializable, NlasIterator,
};

/// `sizeof(struct nlmsghdr)`.
pub(crate) const HEADER_LEN: usize = 16;
/// `NLMSGERR_ATTR_MSG` in an extended ack.
const NLMSGERR_ATTR_MSG: u16 = 1;

/// `NLMSG_ALIGN`: messages in one datagram start at multiples of 4.
pub(crate) const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// Appends `message` with header `flags` and sequence number `seq` to
/// `buf`, padded so that the next message is aligned.
pub(crate) fn encode<M: NetlinkSerializable>(buf: &mut Vec<u8>, message: &M, flags: u16, seq: u32) {
    let len = HEADER_LEN + message.buffer_len();
    let start = buf.len();
    buf.resize(start + align(len), 0);
    let mut header = NetlinkHeader::default();
    header.length = u32::try_from(len).expect("a netlink message is under 4 GiB");
    header.message_type = message.message_type();
    header.flags = flags;
    header.sequence_number = seq;
    header.emit(&mut buf[start..start + HEADER_LEN]);
    message.serialize(&mut buf[start + HEADER_LEN..start + len]);
}

/// One message of a received datagram, its header read but its payload
/// not yet decoded (a reply to another request is skipped undecoded).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    pub flags: u16,
    pub seq: u32,
    /// The whole message, header included.
    pub bytes: &'a [u8],
}

impl Frame<'_> {
    /// The message, decoded.
    pub(crate) fn decode<M: NetlinkDeserializable>(&self) -> Result<NetlinkMessage<M>, String> {
        NetlinkMessage::deserialize(self.bytes)
            .map_err(|e| format!("undecodable netlink message: {e}"))
    }
}

/// The messages of one datagram, in order; an error ends the iteration.
pub(crate) fn frames(data: &[u8]) -> Frames<'_> {
    Frames { data, offset: 0 }
}

pub(crate) struct Frames<'a> {
    data: &'a [u8],
    offset: usize,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.data[self.offset..];
        if rest.is_empty() {
            return None;
        }
        let word = |at: usize| u32::from_ne_bytes(rest[at..at + 4].try_into().expect("4 bytes"));
        let fail = |this: &mut Self, reason: String| {
            this.offset = this.data.len();
            Some(Err(reason))
        };
        if rest.len() < HEADER_LEN {
            return fail(
                self,
                format!("{} trailing bytes, not a message", rest.len()),
            );
        }
        let len = word(0) as usize;
        if len < HEADER_LEN || len > rest.len() {
            return fail(
                self,
                format!("message length {len} with {} bytes left", rest.len()),
            );
        }
        let flags = u16::from_ne_bytes([rest[6], rest[7]]);
        let frame = Frame {
            flags,
            seq: word(8),
            bytes: &rest[..len],
        };
        self.offset = (self.offset + align(len)).min(self.data.len());
        Some(Ok(frame))
    }
}

/// The message text of an `NLMSG_ERROR`, from what follows its errno
/// (`ErrorMessage::header`: the request's header, or all of the request
/// unless the ack is capped, then the attributes).
pub(crate) fn error_ext_ack(flags: u16, after_errno: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || after_errno.len() < HEADER_LEN {
        return None;
    }
    let request_len = if flags & NLM_F_CAPPED != 0 {
        HEADER_LEN
    } else {
        align(u32::from_ne_bytes(after_errno[..4].try_into().ok()?) as usize)
    };
    message_attribute(after_errno.get(request_len..)?)
}

/// The message text of an `NLMSG_DONE` that ends a failed dump (its
/// attributes follow the errno directly).
pub(crate) fn done_ext_ack(flags: u16, after_errno: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    message_attribute(after_errno)
}

fn message_attribute(attributes: &[u8]) -> Option<String> {
    NlasIterator::new(attributes)
        .map_while(Result::ok)
        .find_map(|nla| {
            (nla.kind() == NLMSGERR_ATTR_MSG).then(|| {
                String::from_utf8_lossy(nla.value())
                    .trim_end_matches('\0')
                    .to_string()
            })
        })
}

#[cfg(test)]
#[path = "wire/tests.rs"]
mod tests;
