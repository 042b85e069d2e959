//! Several hosts in throwaway namespaces joined by a fabric (a bridge in
//! a namespace of its own, `198.51.100.0/24` and `2001:db8:51::/64`), and
//! the matrix of every VM reaching every VM on the other hosts. The hosts'
//! BIRDs are [`super::Bird`]s started inside each host's namespace.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use blixard_netns::Netns;
use blixard_netns::testing::NetnsHolder;

use super::probe::{echo_server, ping, tcp_probe};
use super::{CouldNotProbe, ECHO_PORT, Guest, Probe, TestbedError};

/// The name of each host's link to the fabric.
pub const FABRIC_LINK: &str = "fab0";
/// The fabric's IPv4 network; host N is `198.51.100.N`.
pub const FABRIC_V4: [u8; 3] = [198, 51, 100];
/// The fabric's IPv6 network's first 64 bits; host N is `2001:db8:51::N`.
pub const FABRIC_V6: [u16; 4] = [0x2001, 0xdb8, 0x51, 0];
/// The fabric namespace's own host number (a bridge address, for a
/// stand-in router peering from there).
pub const FABRIC_SELF: u8 = 254;

/// Fabric host `n`'s IPv4 address.
pub fn fabric_ipv4(n: u8) -> Ipv4Addr {
    let [a, b, c] = FABRIC_V4;
    Ipv4Addr::new(a, b, c, n)
}

/// Fabric host `n`'s IPv6 address.
pub fn fabric_ipv6(n: u8) -> Ipv6Addr {
    let [a, b, c, d] = FABRIC_V6;
    Ipv6Addr::new(a, b, c, d, 0, 0, 0, u16::from(n))
}

fn sh(ns: &NetnsHolder, script: &str) -> Result<(), TestbedError> {
    let out = ns.sh(script);
    if !out.status.success() {
        return Err(TestbedError::Command {
            command: script.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// The fabric: a namespace holding the bridge `br0` every host is plugged
/// into, with an address of its own ([`FABRIC_SELF`]).
pub struct Fabric {
    /// The fabric's namespace.
    pub ns: NetnsHolder,
}

impl Fabric {
    /// Builds the bridge.
    pub fn build() -> Result<Self, TestbedError> {
        let ns = NetnsHolder::spawn()?;
        sh(
            &ns,
            &format!(
                "ip link set lo up && ip link add br0 type bridge && \
                 echo 0 > /proc/sys/net/ipv6/conf/br0/accept_dad && \
                 ip addr add {}/24 dev br0 && ip -6 addr add {}/64 dev br0 nodad && \
                 ip link set br0 up",
                fabric_ipv4(FABRIC_SELF),
                fabric_ipv6(FABRIC_SELF)
            ),
        )?;
        Ok(Self { ns })
    }

    /// A new host namespace plugged into the bridge as host `n`
    /// (`1..=253`), its link [`FABRIC_LINK`] up with its addresses.
    pub fn host(&self, n: u8) -> Result<FabricHost, TestbedError> {
        let ns = NetnsHolder::spawn()?;
        let port = format!("h{n}");
        sh(
            &self.ns,
            &format!(
                "ip link add {port} type veth peer name {FABRIC_LINK} && \
                 ip link set {FABRIC_LINK} netns {pid} && \
                 ip link set {port} master br0 && ip link set {port} up",
                pid = ns.pid()
            ),
        )?;
        sh(
            &ns,
            &format!(
                "ip link set lo up && echo 0 > /proc/sys/net/ipv6/conf/{FABRIC_LINK}/accept_dad && \
                 ip addr add {}/24 dev {FABRIC_LINK} && \
                 ip -6 addr add {}/64 dev {FABRIC_LINK} nodad && ip link set {FABRIC_LINK} up",
                fabric_ipv4(n),
                fabric_ipv6(n)
            ),
        )?;
        Ok(FabricHost { ns, n })
    }
}

/// A host on the fabric.
pub struct FabricHost {
    /// The host's namespace.
    pub ns: NetnsHolder,
    n: u8,
}

impl FabricHost {
    /// Its number on the fabric.
    pub fn number(&self) -> u8 {
        self.n
    }

    /// Its IPv4 address on the fabric (its BGP router id).
    pub fn ipv4(&self) -> Ipv4Addr {
        fabric_ipv4(self.n)
    }

    /// Its IPv6 address on the fabric (its IPv6 next hop).
    pub fn ipv6(&self) -> Ipv6Addr {
        fabric_ipv6(self.n)
    }

    /// Its namespace, for `--netns pid:N` and [`blixard_netns::run_in`].
    pub fn netns(&self) -> Netns {
        self.ns.netns()
    }
}

/// Every VM to every VM on another host, over IPv4 and IPv6, ping and
/// TCP; a TCP probe counts only when the far end saw the VM's own address
/// (nothing masqueraded on the way). `guests` pairs each guest with the
/// name of its host. From any thread: each probe enters its guest's
/// namespace.
pub fn cluster_matrix(guests: &[(&str, &Guest)]) -> Vec<Probe> {
    let patience = Duration::from_secs(5);
    for (_, guest) in guests {
        let _ = echo_server(&guest.ns.netns(), ECHO_PORT);
    }
    let mut probes = Vec::new();
    for (host, guest) in guests {
        let vm = &guest.vm;
        let own = [IpAddr::V4(vm.ipv4), IpAddr::V6(vm.ipv6)];
        for (other_host, other) in guests.iter().filter(|(h, _)| h != host) {
            let from = format!("{host}/{}", vm.interface);
            let to = format!("{other_host}/{}", other.vm.interface);
            for address in [IpAddr::V4(other.vm.ipv4), IpAddr::V6(other.vm.ipv6)] {
                let mut push = |kind: &'static str, result: Result<bool, CouldNotProbe>| {
                    probes.push(Probe::of(&from, &to, kind, address, result));
                };
                push("ping", ping(Some(&guest.ns), address, patience));
                let seen = tcp_probe(&guest.ns.netns(), address, ECHO_PORT, patience);
                push(
                    "tcp",
                    seen.map(|seen| seen.is_some_and(|s| own.contains(&s))),
                );
            }
        }
    }
    probes
}
