//! One VM's part of our table, read over nf_tables netlink without listing
//! anything: `nft` loads its whole cache (every set element) for a `list`
//! or `get`, which costs 60-90 ms at 4096 VMs, while a netlink `GETTABLE`
//! and one `GETSETELEM` per set cost the same on any host.

use std::net::IpAddr;

use blixard_addr::plan::FirewallVm;
use blixard_addr::state::ObservedFirewall;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};

use crate::render::{SET_IFACES, SET_V4, SET_V6};
use crate::{NatError, Nft};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFPROTO_INET: u8 = 1;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLMSG_ERROR: u16 = 0x2;
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
        let io = |source: std::io::Error| NatError::Netlink {
            what: format!(
                "reading {}'s set elements in table inet {table}",
                vm.interface
            ),
            source,
        };
        let mut nl = Nfnl::open().map_err(io)?;
        let mut request = Vec::new();
        attr(&mut request, NFTA_TABLE_NAME, &nul_terminated(table));
        if !nl.exists(NFT_MSG_GETTABLE, &request).map_err(io)? {
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
            if !nl.exists(NFT_MSG_GETSETELEM, &request).map_err(io)? {
                return Ok(ObservedFirewall::Differs(vec![format!(
                    "{}'s element is missing from set {set}",
                    vm.interface
                )]));
            }
        }
        Ok(ObservedFirewall::InSync)
    }
}

/// A netfilter netlink socket for single `GET` requests.
struct Nfnl {
    socket: Socket,
    seq: u32,
}

impl Nfnl {
    fn open() -> std::io::Result<Nfnl> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Nfnl { socket, seq: 0 })
    }

    /// Sends one nf_tables `GET` (not a dump) with `attributes`: `true` when
    /// the kernel answers with the object, `false` on `ENOENT`.
    fn exists(&mut self, msg: u16, attributes: &[u8]) -> std::io::Result<bool> {
        self.seq = self.seq.wrapping_add(1);
        let length = 16 + 4 + attributes.len();
        let mut buf = Vec::with_capacity(length);
        buf.extend_from_slice(&(length as u32).to_ne_bytes());
        buf.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
        buf.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&self.seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, version, res_id (big endian).
        buf.extend_from_slice(&[NFPROTO_INET, 0, 0, 0]);
        buf.extend_from_slice(attributes);
        self.socket.send(&buf, 0)?;
        let mut found = false;
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset + 16 <= data.len() {
                let word = |at: usize| {
                    u32::from_ne_bytes(data[offset + at..offset + at + 4].try_into().unwrap())
                };
                let len = word(0) as usize;
                let kind = u16::from_ne_bytes(data[offset + 4..offset + 6].try_into().unwrap());
                let seq = word(8);
                if len < 16 || offset + len > data.len() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                if seq == self.seq {
                    if kind == NLMSG_ERROR {
                        let errno = -(word(16) as i32);
                        return match errno {
                            0 => Ok(found),
                            ENOENT => Ok(false),
                            errno => Err(std::io::Error::from_raw_os_error(errno)),
                        };
                    }
                    found = true;
                }
                offset += (len + 3) & !3;
            }
        }
    }
}

const ENOENT: i32 = 2;

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
    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut out = Vec::new();
        super::attr(&mut out, 1, b"vm7\0\0");
        assert_eq!(out.len(), 12);
        assert_eq!(&out[..4], &[9, 0, 1, 0]);
        assert_eq!(super::ifname("vm7").len(), 16);
    }
}
