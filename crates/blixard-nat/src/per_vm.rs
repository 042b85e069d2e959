//! One VM's part of our table, read over nf_tables netlink without listing
//! anything: `nft` loads its whole cache (every set element) for a `list`
//! or `get`, which costs 60-90 ms at 4096 VMs, while a netlink `GETTABLE`
//! and one `GETSETELEM` per set cost the same on any host.

use std::net::IpAddr;

use blixard_addr::plan::FirewallVm;
use blixard_addr::state::ObservedFirewall;
use blixard_netlink::{NetlinkSocket, protocols::NETLINK_NETFILTER};
use netlink_packet_core::{DecodeError, NetlinkDeserializable, NetlinkHeader, NetlinkSerializable};

use crate::render::counters::COUNTER_SETS;
use crate::render::{SET_IFACES, SET_V4, SET_V6};
use crate::{NatError, Nft};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFPROTO_INET: u8 = 1;
/// `sizeof(struct nfgenmsg)`: family, version, resource id.
const NFGENMSG_LEN: usize = 4;
const NLA_F_NESTED: u16 = 0x8000;
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_DATA_VALUE: u16 = 1;
/// An `ifname` key is `IFNAMSIZ` bytes, zero-padded.
const IFNAMSIZ: usize = 16;

impl Nft {
    /// Whether our table exists and holds `vm`'s set elements:
    /// [`ObservedFirewall::InSync`] when every element is there (what
    /// `wire_vm` needs to know; the rest of the table is not compared),
    /// `Differs` when one is missing, `Absent` without the table. Runs in
    /// the calling thread's network namespace.
    pub fn observe_vm(&self, table: &str, vm: &FirewallVm) -> Result<ObservedFirewall, NatError> {
        let io = |source: blixard_netlink::NetlinkError| NatError::Netlink {
            what: format!(
                "reading {}'s set elements in table inet {table}",
                vm.interface
            ),
            source: source.into(),
        };
        let mut nl = NetlinkSocket::<NfTablesMessage>::open(NETLINK_NETFILTER).map_err(io)?;
        let mut exists = |kind: u16, attributes: Vec<u8>, object: &str| {
            let request = NfTablesMessage {
                kind,
                family: NFPROTO_INET,
                attributes,
            };
            nl.get(&request, object).map(|answer| answer.is_some())
        };
        let mut request = Vec::new();
        attr(&mut request, NFTA_TABLE_NAME, &nul_terminated(table));
        if !exists(NFT_MSG_GETTABLE, request, &format!("table inet {table}")).map_err(io)? {
            return Ok(ObservedFirewall::Absent);
        }
        let mut keys = vec![
            (SET_IFACES, ifname(&vm.interface)),
            (
                SET_V4,
                [ifname(&vm.interface), octets(vm.ipv4.into())].concat(),
            ),
        ];
        if let Some(v6) = vm.ipv6 {
            keys.push((SET_V6, [ifname(&vm.interface), octets(v6.into())].concat()));
        }
        keys.extend(COUNTER_SETS.map(|set| (set, ifname(&vm.interface))));
        for (set, key) in keys {
            let mut value = Vec::new();
            attr(&mut value, NFTA_DATA_VALUE, &key);
            let mut elem_key = Vec::new();
            attr(&mut elem_key, NFTA_SET_ELEM_KEY | NLA_F_NESTED, &value);
            let mut elem = Vec::new();
            attr(&mut elem, NFTA_LIST_ELEM | NLA_F_NESTED, &elem_key);
            let mut request = Vec::new();
            attr(
                &mut request,
                NFTA_SET_ELEM_LIST_TABLE,
                &nul_terminated(table),
            );
            attr(&mut request, NFTA_SET_ELEM_LIST_SET, &nul_terminated(set));
            attr(
                &mut request,
                NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED,
                &elem,
            );
            let object = format!("{}'s element of set {set}", vm.interface);
            if !exists(NFT_MSG_GETSETELEM, request, &object).map_err(io)? {
                return Ok(ObservedFirewall::Differs(vec![format!(
                    "{}'s element is missing from set {set}",
                    vm.interface
                )]));
            }
        }
        Ok(ObservedFirewall::InSync)
    }
}

/// One nf_tables message (there is no netlink-packet crate for them): its
/// type (`NFT_MSG_*`), the `nfgenmsg` family, and its attributes as bytes,
/// built by [`attr`] and never parsed (a `get` only asks whether the kernel
/// answered with the object).
#[derive(Debug, Clone, PartialEq, Eq)]
struct NfTablesMessage {
    kind: u16,
    family: u8,
    attributes: Vec<u8>,
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
fn attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len() + ((4 - len % 4) % 4), 0);
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// An `ifname` set key: the name zero-padded to `IFNAMSIZ`.
fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.resize(IFNAMSIZ, 0);
    v
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    }
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
        super::attr(&mut out, 1, b"vm7\0\0");
        assert_eq!(out.len(), 12);
        assert_eq!(&out[..4], &[9, 0, 1, 0]);
        assert_eq!(super::ifname("vm7").len(), 16);
    }
}
