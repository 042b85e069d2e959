//! Hand-built Ethernet frames: the guest's IPv4/UDP datagrams and its ARP
//! replies, and just enough parsing to recognise what comes back.

use std::net::Ipv4Addr;

use anyhow::{Result, ensure};
use blixard_addr::layout::MacAddr;

const ETH_HDR: usize = 14;
const IPV4_HDR: usize = 20;
const UDP_HDR: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const IPPROTO_UDP: u8 = 17;
/// The smallest frame that holds the headers and the tool's sequence number.
pub const MIN_FRAME: usize = ETH_HDR + IPV4_HDR + UDP_HDR + 8;

/// One UDP flow as a guest sends it: addresses at both layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
}

/// A UDP frame of exactly `size` bytes (Ethernet header included, no FCS):
/// the payload starts with a sequence number the sender rewrites per frame
/// with [`set_seq`]. The UDP checksum is 0 (none), which IPv4 allows and
/// NAT keeps, so rewriting the sequence number needs no checksum update.
pub fn udp(flow: &Flow, size: usize) -> Result<Vec<u8>> {
    ensure!(
        (MIN_FRAME..=9000).contains(&size),
        "frame size {size}: between {MIN_FRAME} and 9000 bytes"
    );
    let mut f = vec![0u8; size];
    f[0..6].copy_from_slice(&flow.dst_mac.0);
    f[6..12].copy_from_slice(&flow.src_mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let ip = &mut f[ETH_HDR..];
    let ip_len = (size - ETH_HDR) as u16;
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    // Don't fragment, as a guest's path-MTU discovery sets it.
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    ip[12..16].copy_from_slice(&flow.src_ip.octets());
    ip[16..20].copy_from_slice(&flow.dst_ip.octets());
    let sum = checksum(&ip[..IPV4_HDR]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let udp = &mut ip[IPV4_HDR..];
    udp[0..2].copy_from_slice(&flow.src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&flow.dst_port.to_be_bytes());
    udp[4..6].copy_from_slice(&(ip_len - IPV4_HDR as u16).to_be_bytes());
    Ok(f)
}

const SEQ_AT: usize = ETH_HDR + IPV4_HDR + UDP_HDR;

/// Writes `seq` into a frame built by [`udp`].
pub fn set_seq(frame: &mut [u8], seq: u64) {
    frame[SEQ_AT..SEQ_AT + 8].copy_from_slice(&seq.to_be_bytes());
}

/// The UDP payload of a frame built by [`udp`] (what a socket receives).
pub fn payload(frame: &[u8]) -> &[u8] {
    &frame[SEQ_AT..]
}

/// The sequence number in a UDP payload (as a socket receives it).
pub fn seq_of_payload(payload: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(payload.get(..8)?.try_into().ok()?))
}

/// The sequence number of `frame` when it is an IPv4/UDP frame to
/// `dst_ip:dst_port`; anything else (ARP, IPv6 neighbour discovery, MLD)
/// is `None`.
pub fn udp_seq(frame: &[u8], dst_ip: Ipv4Addr, dst_port: u16) -> Option<u64> {
    if frame.len() < SEQ_AT + 8
        || frame[12..14] != ETHERTYPE_IPV4.to_be_bytes()
        || frame[ETH_HDR + 9] != IPPROTO_UDP
        || frame[ETH_HDR] != 0x45
        || frame[ETH_HDR + 16..ETH_HDR + 20] != dst_ip.octets()
        || frame[ETH_HDR + IPV4_HDR + 2..ETH_HDR + IPV4_HDR + 4] != dst_port.to_be_bytes()
    {
        return None;
    }
    seq_of_payload(&frame[SEQ_AT..])
}

/// The ARP reply a guest owning `ip` with `mac` sends to `frame`, when
/// `frame` is an ARP request for `ip`.
pub fn arp_reply(frame: &[u8], ip: Ipv4Addr, mac: MacAddr) -> Option<Vec<u8>> {
    const ARP_LEN: usize = 28;
    if frame.len() < ETH_HDR + ARP_LEN || frame[12..14] != ETHERTYPE_ARP.to_be_bytes() {
        return None;
    }
    let arp = &frame[ETH_HDR..ETH_HDR + ARP_LEN];
    // Ethernet/IPv4, opcode 1 (request), for our address.
    if arp[0..8] != [0, 1, 8, 0, 6, 4, 0, 1] || arp[24..28] != ip.octets() {
        return None;
    }
    let (asker_mac, asker_ip) = (&arp[8..14], &arp[14..18]);
    let mut r = vec![0u8; ETH_HDR + ARP_LEN];
    r[0..6].copy_from_slice(asker_mac);
    r[6..12].copy_from_slice(&mac.0);
    r[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    let a = &mut r[ETH_HDR..];
    a[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    a[8..14].copy_from_slice(&mac.0);
    a[14..18].copy_from_slice(&ip.octets());
    a[18..24].copy_from_slice(asker_mac);
    a[24..28].copy_from_slice(asker_ip);
    Some(r)
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
            src_ip: Ipv4Addr::new(10, 0, 0, 2),
            dst_ip: Ipv4Addr::new(10, 0, 0, 3),
            src_port: 4000,
            dst_port: 5000,
        }
    }

    #[test]
    fn a_udp_frame_has_its_size_a_valid_header_checksum_and_its_sequence_number() {
        let mut f = udp(&flow(), 64).unwrap();
        assert_eq!(f.len(), 64);
        // A header with its checksum in place sums to zero.
        assert_eq!(checksum(&f[ETH_HDR..ETH_HDR + IPV4_HDR]), 0);
        set_seq(&mut f, 77);
        assert_eq!(udp_seq(&f, flow().dst_ip, 5000), Some(77));
        assert_eq!(udp_seq(&f, flow().src_ip, 5000), None);
        assert_eq!(seq_of_payload(payload(&f)), Some(77));
        assert!(udp(&flow(), MIN_FRAME - 1).is_err());
    }

    #[test]
    fn an_arp_request_for_the_guest_gets_its_reply_and_others_none() {
        let asker = [2, 9, 9, 9, 9, 9];
        let mut req = vec![0xff; 6];
        req.extend_from_slice(&asker);
        req.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        req.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        req.extend_from_slice(&asker);
        req.extend_from_slice(&[10, 0, 0, 1]);
        req.extend_from_slice(&[0; 6]);
        req.extend_from_slice(&[10, 0, 0, 2]);
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let reply = arp_reply(&req, Ipv4Addr::new(10, 0, 0, 2), mac).unwrap();
        assert_eq!(&reply[0..6], &asker);
        assert_eq!(&reply[ETH_HDR + 6..ETH_HDR + 8], &[0, 2]);
        assert_eq!(&reply[ETH_HDR + 24..ETH_HDR + 28], &[10, 0, 0, 1]);
        assert!(arp_reply(&req, Ipv4Addr::new(10, 0, 0, 3), mac).is_none());
        assert!(arp_reply(&udp(&flow(), 64).unwrap(), flow().src_ip, mac).is_none());
    }
}
