//! [`ForwardPlan`]: one `[[forwards]]` entry, resolved, and what it
//! means for a host socket bound to the same port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use schemars::JsonSchema;
use serde::Serialize;

use super::FirewallVm;
use crate::config::Protocol;

/// One `[[forwards]]` entry, resolved: the VM's addresses are the layout's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[non_exhaustive]
pub struct ForwardPlan {
    /// TCP or UDP (the planner refuses ICMP).
    pub protocol: Protocol,
    /// The host address it is bound to; `None`: every address of the host.
    #[schemars(with = "Option<String>")]
    pub address: Option<IpAddr>,
    /// The port on the host.
    pub host_port: u16,
    /// The VM.
    pub vm: FirewallVm,
    /// The VM's port.
    pub port: u16,
}

impl ForwardPlan {
    /// A forward of `host_port` (on `address`, or every host address) to
    /// `vm`'s `port`.
    pub fn new(
        protocol: Protocol,
        address: Option<IpAddr>,
        host_port: u16,
        vm: FirewallVm,
        port: u16,
    ) -> Self {
        Self {
            protocol,
            address,
            host_port,
            vm,
            port,
        }
    }

    /// Where it goes in IPv4 (`None` for a forward bound to an IPv6
    /// address).
    pub fn ipv4_target(&self) -> Option<Ipv4Addr> {
        match self.address {
            Some(IpAddr::V6(_)) => None,
            _ => Some(self.vm.ipv4),
        }
    }

    /// Where it goes in IPv6 (`None` for a forward bound to an IPv4
    /// address, or without IPv6).
    pub fn ipv6_target(&self) -> Option<Ipv6Addr> {
        match self.address {
            Some(IpAddr::V4(_)) => None,
            _ => self.vm.ipv6,
        }
    }

    /// Whether a host socket of `protocol` bound to `local` is in the
    /// forward's way: the forward takes the connections it would accept
    /// (DNAT comes before the socket lookup). A wildcard socket (`0.0.0.0`,
    /// `::`, which may be dual-stack) meets every forward of its port; a
    /// bound one, forwards of its address or of every address, loopback
    /// aside (never forwarded).
    pub fn shadows(&self, protocol: Protocol, local: SocketAddr) -> bool {
        if protocol != self.protocol || local.port() != self.host_port {
            return false;
        }
        let ip = local.ip();
        if ip.is_unspecified() {
            return true;
        }
        match self.address {
            Some(address) => address == ip,
            None => !ip.is_loopback(),
        }
    }

    /// `forward tcp 8080 -> vm3:80` (with the address when it has one).
    pub fn describe(&self) -> String {
        let proto = match self.protocol {
            Protocol::Udp => "udp",
            _ => "tcp",
        };
        let at = match self.address {
            Some(IpAddr::V6(a)) => format!("[{a}]:"),
            Some(IpAddr::V4(a)) => format!("{a}:"),
            None => String::new(),
        };
        format!(
            "forward {proto} {at}{} -> {}:{}",
            self.host_port, self.vm.interface, self.port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn forward(address: Option<&str>) -> ForwardPlan {
        let layout = Layout::new(
            "10.0.0.0/24".parse().unwrap(),
            "fec0::/64".parse().unwrap(),
            "vm{index}",
        )
        .unwrap();
        let vm = layout.vm(layout.index(3).unwrap()).unwrap();
        ForwardPlan::new(
            Protocol::Tcp,
            address.map(|a| a.parse().unwrap()),
            8080,
            FirewallVm::new(&vm, true),
            80,
        )
    }

    #[test]
    fn a_listener_is_shadowed_where_the_forward_takes_its_connections() {
        let sock = |s: &str| s.parse::<SocketAddr>().unwrap();
        let any = forward(None);
        assert!(any.shadows(Protocol::Tcp, sock("0.0.0.0:8080")));
        assert!(any.shadows(Protocol::Tcp, sock("[::]:8080")));
        assert!(any.shadows(Protocol::Tcp, sock("192.0.2.1:8080")));
        assert!(!any.shadows(Protocol::Tcp, sock("127.0.0.1:8080")));
        assert!(!any.shadows(Protocol::Udp, sock("0.0.0.0:8080")));
        assert!(!any.shadows(Protocol::Tcp, sock("0.0.0.0:8081")));
        let bound = forward(Some("192.0.2.1"));
        assert!(bound.shadows(Protocol::Tcp, sock("192.0.2.1:8080")));
        assert!(bound.shadows(Protocol::Tcp, sock("0.0.0.0:8080")));
        assert!(bound.shadows(Protocol::Tcp, sock("[::]:8080")));
        assert!(!bound.shadows(Protocol::Tcp, sock("192.0.2.9:8080")));
        assert!(!bound.shadows(Protocol::Tcp, sock("[2001:db8::1]:8080")));
        assert_eq!(bound.describe(), "forward tcp 192.0.2.1:8080 -> vm3:80");
        assert_eq!(any.ipv6_target(), Some("fec0::3".parse().unwrap()));
        assert_eq!(bound.ipv6_target(), None);
    }
}
