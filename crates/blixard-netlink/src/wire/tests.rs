use netlink_packet_core::{
    DecodeError, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_REQUEST, NetlinkHeader, NetlinkPayload,
};

use super::*;

/// A message of any type with an opaque payload.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raw(u16, Vec<u8>);

impl NetlinkSerializable for Raw {
    fn message_type(&self) -> u16 {
        self.0
    }
    fn buffer_len(&self) -> usize {
        self.1.len()
    }
    fn serialize(&self, buffer: &mut [u8]) {
        buffer.copy_from_slice(&self.1);
    }
}

impl NetlinkDeserializable for Raw {
    type Error = DecodeError;
    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        Ok(Raw(header.message_type, payload.to_vec()))
    }
}

/// One netlink attribute, padded.
fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(align(out.len()), 0);
    out
}

#[test]
fn messages_are_padded_so_the_next_one_is_aligned() {
    assert_eq!((align(0), align(1), align(4), align(17)), (0, 4, 4, 20));
    let mut buf = Vec::new();
    encode(&mut buf, &Raw(100, vec![1, 2, 3, 4, 5]), NLM_F_REQUEST, 7);
    assert_eq!(buf.len(), 24, "16 + 5, padded to 24");
    assert_eq!(
        &buf[..4],
        &21u32.to_ne_bytes(),
        "the length excludes padding"
    );
    assert_eq!(&buf[4..6], &100u16.to_ne_bytes());
    assert_eq!(&buf[6..8], &NLM_F_REQUEST.to_ne_bytes());
    assert_eq!(&buf[8..12], &7u32.to_ne_bytes());
    encode(&mut buf, &Raw(101, vec![9; 8]), 0, 8);
    assert_eq!(buf.len(), 48);

    let frames: Vec<Frame<'_>> = frames(&buf).collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.iter().map(|f| f.seq).collect::<Vec<_>>(), vec![7, 8]);
    assert_eq!(frames[0].flags, NLM_F_REQUEST);
    let first: NetlinkMessage<Raw> = frames[0].decode().unwrap();
    assert_eq!(
        first.payload,
        NetlinkPayload::InnerMessage(Raw(100, vec![1, 2, 3, 4, 5]))
    );
    let second: NetlinkMessage<Raw> = frames[1].decode().unwrap();
    assert_eq!(
        second.payload,
        NetlinkPayload::InnerMessage(Raw(101, vec![9; 8]))
    );
}

#[test]
fn the_last_message_may_lack_its_padding() {
    let mut buf = Vec::new();
    encode(&mut buf, &Raw(100, vec![1]), 0, 1);
    buf.truncate(17);
    let all: Vec<_> = frames(&buf).collect();
    assert_eq!(all.len(), 1);
    assert!(all[0].is_ok());
}

#[test]
fn a_broken_datagram_is_an_error_not_a_loop() {
    // A zero length would never advance.
    let zero = [0u8; 16];
    let mut it = frames(&zero);
    assert!(it.next().unwrap().is_err());
    assert!(it.next().is_none());
    // Longer than what is left.
    let mut buf = Vec::new();
    encode(&mut buf, &Raw(100, vec![0; 8]), 0, 1);
    buf.truncate(20);
    assert!(frames(&buf).next().unwrap().is_err());
    // Trailing bytes too short for a header.
    let mut buf = Vec::new();
    encode(&mut buf, &Raw(100, vec![]), 0, 1);
    buf.extend_from_slice(&[1, 2, 3, 4]);
    let all: Vec<_> = frames(&buf).collect();
    assert!(all[0].is_ok() && all[1].is_err() && all.len() == 2);
}

/// What follows the errno of an `NLMSG_ERROR`: the request (its header
/// alone when capped), then the attributes.
fn error_payload(capped: bool, attributes: &[u8]) -> Vec<u8> {
    let mut request = Vec::new();
    encode(&mut request, &Raw(24, vec![0xaa; 10]), NLM_F_REQUEST, 3);
    if capped {
        request.truncate(HEADER_LEN);
    }
    [request, attributes.to_vec()].concat()
}

#[test]
fn extended_ack_text_is_found_after_the_request_capped_or_not() {
    let attributes = [
        nla(2, &8u32.to_ne_bytes()), // NLMSGERR_ATTR_OFFS
        nla(1, b"Nexthop device is not up\0"),
    ]
    .concat();
    for capped in [false, true] {
        let flags = NLM_F_ACK_TLVS | if capped { NLM_F_CAPPED } else { 0 };
        assert_eq!(
            error_ext_ack(flags, &error_payload(capped, &attributes)).as_deref(),
            Some("Nexthop device is not up"),
            "capped: {capped}"
        );
    }
    // Without NLM_F_ACK_TLVS the bytes are the request, never read as text.
    assert_eq!(error_ext_ack(0, &error_payload(false, &attributes)), None);
    // Attributes without a message.
    let offset_only = nla(2, &8u32.to_ne_bytes());
    assert_eq!(
        error_ext_ack(
            NLM_F_ACK_TLVS | NLM_F_CAPPED,
            &error_payload(true, &offset_only)
        ),
        None
    );
    // Too short to hold a request header.
    assert_eq!(error_ext_ack(NLM_F_ACK_TLVS, &[0; 8]), None);
}

#[test]
fn a_failed_dump_carries_its_text_right_after_the_errno() {
    let attributes = nla(1, b"Invalid header for route dump request\0");
    assert_eq!(
        done_ext_ack(NLM_F_ACK_TLVS, &attributes).as_deref(),
        Some("Invalid header for route dump request")
    );
    assert_eq!(done_ext_ack(0, &attributes), None);
    assert_eq!(done_ext_ack(NLM_F_ACK_TLVS, &[]), None);
}
