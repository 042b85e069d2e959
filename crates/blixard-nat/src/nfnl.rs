//! nf_tables over netlink, for the reads `nft` makes slow: its messages,
//! attributes both ways, and the ruleset's generation. There is no
//! netlink-packet crate for nf_tables; the few messages we need are built
//! and walked here.

use std::net::IpAddr;

use blixard_netlink::NetlinkSocket;
use netlink_packet_core::{DecodeError, NetlinkDeserializable, NetlinkHeader, NetlinkSerializable};

pub(crate) const NFNL_SUBSYS_NFTABLES: u16 = 10;
pub(crate) const NFT_MSG_GETTABLE: u16 = 1;
pub(crate) const NFT_MSG_GETSET: u16 = 10;
pub(crate) const NFT_MSG_GETSETELEM: u16 = 13;
pub(crate) const NFT_MSG_GETGEN: u16 = 16;
pub(crate) const NFPROTO_UNSPEC: u8 = 0;
pub(crate) const NFPROTO_INET: u8 = 1;
/// `sizeof(struct nfgenmsg)`: family, version, resource id.
const NFGENMSG_LEN: usize = 4;
pub(crate) const NLA_F_NESTED: u16 = 0x8000;
/// `NLA_TYPE_MASK`: an attribute's type without the nested and
/// byte-order flags.
const NLA_TYPE_MASK: u16 = 0x3fff;
pub(crate) const NFTA_TABLE_NAME: u16 = 1;
pub(crate) const NFTA_GEN_ID: u16 = 1;
pub(crate) const NFTA_SET_TABLE: u16 = 1;
pub(crate) const NFTA_SET_NAME: u16 = 2;
pub(crate) const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
pub(crate) const NFTA_SET_ELEM_LIST_SET: u16 = 2;
pub(crate) const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
pub(crate) const NFTA_LIST_ELEM: u16 = 1;
pub(crate) const NFTA_SET_ELEM_KEY: u16 = 1;
pub(crate) const NFTA_SET_ELEM_DATA: u16 = 2;
pub(crate) const NFTA_SET_ELEM_FLAGS: u16 = 3;
pub(crate) const NFTA_SET_ELEM_EXPR: u16 = 7;
pub(crate) const NFTA_SET_ELEM_KEY_END: u16 = 10;
pub(crate) const NFTA_SET_ELEM_EXPRESSIONS: u16 = 11;
pub(crate) const NFTA_EXPR_NAME: u16 = 1;
pub(crate) const NFTA_EXPR_DATA: u16 = 2;
pub(crate) const NFTA_COUNTER_BYTES: u16 = 1;
pub(crate) const NFTA_COUNTER_PACKETS: u16 = 2;
pub(crate) const NFTA_DATA_VALUE: u16 = 1;
/// An `ifname` set key is `IFNAMSIZ` bytes, zero-padded.
pub(crate) const IFNAMSIZ: usize = 16;

/// One nf_tables message: its type (`NFT_MSG_*`), the `nfgenmsg` family,
/// and its attributes as bytes, built by [`attr`] and walked by
/// [`attributes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NfTablesMessage {
    pub(crate) kind: u16,
    pub(crate) family: u8,
    pub(crate) attributes: Vec<u8>,
}

impl NetlinkSerializable for NfTablesMessage {
    fn message_type(&self) -> u16 {
        (NFNL_SUBSYS_NFTABLES << 8) | self.kind
    }

    fn buffer_len(&self) -> usize {
        NFGENMSG_LEN + self.attributes.len()
    }

    fn serialize(&self, buffer: &mut [u8]) {
        // nfgenmsg: family, version 0, res_id 0 (big endian).
        buffer[..NFGENMSG_LEN].copy_from_slice(&[self.family, 0, 0, 0]);
        buffer[NFGENMSG_LEN..].copy_from_slice(&self.attributes);
    }
}

impl NetlinkDeserializable for NfTablesMessage {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        if payload.len() < NFGENMSG_LEN {
            return Err(DecodeError::buffer_too_small(payload.len(), NFGENMSG_LEN));
        }
        Ok(NfTablesMessage {
            kind: header.message_type & 0xff,
            family: payload[0],
            attributes: payload[NFGENMSG_LEN..].to_vec(),
        })
    }
}

/// Appends one netlink attribute, padded to 4 bytes.
pub(crate) fn attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + pad(len), 0);
}

fn pad(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// The attributes in `bytes` as (type without flags, payload); a truncated
/// attribute ends the walk with an error, never a wrong payload.
pub(crate) fn attributes(bytes: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), Truncated>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let header = rest.get(..4).ok_or(Truncated);
        let item = header.and_then(|h| {
            let len = usize::from(u16::from_ne_bytes([h[0], h[1]]));
            let kind = u16::from_ne_bytes([h[2], h[3]]) & NLA_TYPE_MASK;
            let payload = rest.get(4..len).ok_or(Truncated)?;
            rest = rest.get(len + pad(len)..).unwrap_or_default();
            Ok((kind, payload))
        });
        if item.is_err() {
            rest = &[];
        }
        Some(item)
    })
}

/// An attribute claims more bytes than its message holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Truncated;

pub(crate) fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// An `ifname` set key: the name zero-padded to `IFNAMSIZ`.
pub(crate) fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.resize(IFNAMSIZ, 0);
    v
}

pub(crate) fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
}

/// Whether table `inet TABLE` exists: one `GETTABLE`.
pub(crate) fn table_exists(
    nl: &mut NetlinkSocket<NfTablesMessage>,
    table: &str,
) -> Result<bool, blixard_netlink::NetlinkError> {
    let mut attributes = Vec::new();
    attr(&mut attributes, NFTA_TABLE_NAME, &nul_terminated(table));
    let request = NfTablesMessage {
        kind: NFT_MSG_GETTABLE,
        family: NFPROTO_INET,
        attributes,
    };
    Ok(nl.get(&request, &format!("table inet {table}"))?.is_some())
}

/// The attributes naming set `SET` of table `inet TABLE`, which every
/// `GETSETELEM` request starts with (a dump of the set, or a lookup when
/// elements follow).
pub(crate) fn set_elements_request(table: &str, set: &str) -> Vec<u8> {
    let mut out = Vec::new();
    attr(&mut out, NFTA_SET_ELEM_LIST_TABLE, &nul_terminated(table));
    attr(&mut out, NFTA_SET_ELEM_LIST_SET, &nul_terminated(set));
    out
}

/// The names of table `inet TABLE`'s sets and maps: one `GETSET` dump,
/// no elements.
pub(crate) fn set_names(
    nl: &mut NetlinkSocket<NfTablesMessage>,
    table: &str,
) -> Result<Vec<String>, blixard_netlink::NetlinkError> {
    let mut attributes_of_request = Vec::new();
    attr(
        &mut attributes_of_request,
        NFTA_SET_TABLE,
        &nul_terminated(table),
    );
    let request = NfTablesMessage {
        kind: NFT_MSG_GETSET,
        family: NFPROTO_INET,
        attributes: attributes_of_request,
    };
    nl.dump(&request, &format!("the sets of table inet {table}"), |m| {
        attributes(&m.attributes)
            .filter_map(Result::ok)
            .find(|(kind, _)| *kind == NFTA_SET_NAME)
            .and_then(|(_, name)| std::str::from_utf8(name.strip_suffix(&[0])?).ok())
            .map(str::to_string)
    })
}

/// The ruleset's generation: the kernel counts every committed nf_tables
/// transaction, so two reads that see the same generation saw the same
/// ruleset.
pub(crate) fn generation(
    nl: &mut NetlinkSocket<NfTablesMessage>,
) -> Result<Option<u32>, blixard_netlink::NetlinkError> {
    let request = NfTablesMessage {
        kind: NFT_MSG_GETGEN,
        family: NFPROTO_UNSPEC,
        attributes: Vec::new(),
    };
    let Some(answer) = nl.get(&request, "the nf_tables generation")? else {
        return Ok(None);
    };
    Ok(attributes(&answer.attributes)
        .filter_map(Result::ok)
        .find(|(kind, _)| *kind == NFTA_GEN_ID)
        .and_then(|(_, v)| <[u8; 4]>::try_from(v).ok())
        .map(u32::from_be_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_nfgenmsg_then_its_attributes_and_reads_back() {
        let mut attributes = Vec::new();
        attr(&mut attributes, NFTA_TABLE_NAME, &nul_terminated("blixard"));
        let m = NfTablesMessage {
            kind: NFT_MSG_GETTABLE,
            family: NFPROTO_INET,
            attributes: attributes.clone(),
        };
        assert_eq!(m.message_type(), 0x0a01);
        let mut buf = vec![0; m.buffer_len()];
        m.serialize(&mut buf);
        assert_eq!(&buf[..4], &[NFPROTO_INET, 0, 0, 0]);
        assert_eq!(&buf[4..], &attributes[..]);
        let mut header = NetlinkHeader::default();
        header.message_type = m.message_type();
        assert_eq!(NfTablesMessage::deserialize(&header, &buf).unwrap(), m);
        assert!(NfTablesMessage::deserialize(&header, &buf[..2]).is_err());
    }

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut out = Vec::new();
        attr(&mut out, 1, b"vm7\0\0");
        assert_eq!(out.len(), 12);
        assert_eq!(&out[..4], &[9, 0, 1, 0]);
        assert_eq!(ifname("vm7").len(), 16);
    }

    #[test]
    fn attributes_walk_back_what_attr_wrote_and_stop_at_a_truncation() {
        let mut out = Vec::new();
        attr(&mut out, NFTA_SET_ELEM_KEY | NLA_F_NESTED, b"abcde");
        attr(&mut out, NFTA_SET_ELEM_FLAGS, &1u32.to_be_bytes());
        let walked: Vec<_> = attributes(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            walked,
            vec![
                (NFTA_SET_ELEM_KEY, &b"abcde"[..]),
                (NFTA_SET_ELEM_FLAGS, &[0, 0, 0, 1][..])
            ]
        );
        let cut = &out[..6];
        let walked: Vec<_> = attributes(cut).collect();
        assert_eq!(walked, vec![Err(Truncated)]);
    }
}
