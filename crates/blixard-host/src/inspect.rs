//! Read-only looks at the host beyond the plan, in its namespace: the
//! per-VM counters of our table and the sockets bound on the host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use blixard_addr::config::Protocol;
use blixard_nat::VmCounters;

use crate::{Host, HostError};

/// A socket bound on the host: a TCP listener or a UDP socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listener {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The address and port it is bound to (`0.0.0.0`, `::`: every one).
    pub local: SocketAddr,
}

impl Host {
    /// Every wired VM's counters in our table `table` (one `nft -j list
    /// table`); empty without the table.
    pub fn counters(&self, table: &str) -> Result<Vec<VmCounters>, HostError> {
        self.run(|| Ok(self.nft.counters(table)?))
    }

    /// TCP listeners and bound UDP sockets of the host's namespace, from
    /// `/proc/thread-self/net/{tcp,tcp6,udp,udp6}` (the thread's namespace,
    /// where `/proc/net` would show the process's). A file that cannot be
    /// read (no IPv6) contributes nothing.
    pub fn listeners(&self) -> Result<Vec<Listener>, HostError> {
        self.run(|| {
            let mut out = Vec::new();
            for (file, protocol) in [
                ("tcp", Protocol::Tcp),
                ("tcp6", Protocol::Tcp),
                ("udp", Protocol::Udp),
                ("udp6", Protocol::Udp),
            ] {
                let Ok(text) = std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
                else {
                    continue;
                };
                out.extend(
                    parse_sockets(&text, protocol)
                        .into_iter()
                        .map(|local| Listener { protocol, local }),
                );
            }
            Ok(out)
        })
    }
}

/// TCP state `LISTEN` and UDP's unconnected `CLOSE` (07): what takes new
/// connections or datagrams.
fn parse_sockets(text: &str, protocol: Protocol) -> Vec<SocketAddr> {
    let wanted = match protocol {
        Protocol::Tcp => "0A",
        _ => "07",
    };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            (state == wanted).then(|| parse_local(local)).flatten()
        })
        .collect()
}

/// `0100007F:1F90` (IPv4) or 32 hex digits (IPv6): each 32-bit word of
/// the address as the kernel holds it, printed as a native integer (so
/// its native bytes are the address's), then the port in hex.
fn parse_local(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Option<Vec<u32>> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let bytes: Vec<u8> = words?.into_iter().flat_map(u32::to_ne_bytes).collect();
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_lines_read_as_bound_sockets() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
   1: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n\
   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0\n";
        let got = parse_sockets(tcp, Protocol::Tcp);
        assert_eq!(
            got,
            vec![
                "0.0.0.0:8080".parse().unwrap(),
                "127.0.0.1:53".parse().unwrap()
            ]
        );
        let tcp6 = "  sl  local_address                         remote_address                        st\n\
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0\n\
   1: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 0\n";
        assert_eq!(
            parse_sockets(tcp6, Protocol::Tcp),
            vec![
                "[::]:8080".parse().unwrap(),
                "[2001:db8::1]:80".parse().unwrap()
            ]
        );
    }
}
