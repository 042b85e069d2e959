//! The connectivity matrix: every path the design promises, probed.

use std::net::IpAddr;
use std::time::Duration;

use blixard_netns::Netns;
use serde::Serialize;

use super::probe::{echo_server, ping, tcp_probe};
use super::{
    CouldNotProbe, ECHO_PORT, Guest, HOST_UPLINK_V4, HOST_UPLINK_V6, UPSTREAM_V4, UPSTREAM_V6,
    Upstream,
};

/// One probe of the matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// Where from (`host`, `vm1`, `upstream`).
    pub from: String,
    /// Where to.
    pub to: String,
    /// `ping` or `tcp`.
    pub kind: &'static str,
    /// The destination address.
    pub address: IpAddr,
    /// Whether it got through.
    pub ok: bool,
    /// Why the probe could not be made at all (a missing tool, a namespace
    /// that is gone), as opposed to a probe that ran and was not answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Probe {
    /// The probe of `kind` from `from` to `to` at `address`: through when
    /// `result` says so, with why when it could not be made.
    pub(super) fn of(
        from: &str,
        to: &str,
        kind: &'static str,
        address: IpAddr,
        result: Result<bool, CouldNotProbe>,
    ) -> Probe {
        Probe {
            from: from.into(),
            to: to.into(),
            kind,
            address,
            ok: result.as_ref().is_ok_and(|ok| *ok),
            error: result.err().map(|e| e.to_string()),
        }
    }
}

/// Host <-> VM, VM <-> VM and VM -> upstream over IPv4 and IPv6 (ping and
/// TCP), from a thread inside the host namespace.
pub fn connectivity_matrix(guests: &[Guest], upstream: &Upstream) -> Vec<Probe> {
    let patience = Duration::from_secs(5);
    let mut probes = Vec::new();
    let host = Netns::Current;
    let _ = echo_server(&host, ECHO_PORT);
    for guest in guests {
        let _ = echo_server(&guest.ns.netns(), ECHO_PORT);
    }
    let _ = echo_server(&upstream.ns.netns(), ECHO_PORT);
    let mut push = |from: &str,
                    to: &str,
                    kind: &'static str,
                    address: IpAddr,
                    ok: Result<bool, CouldNotProbe>| {
        probes.push(Probe::of(from, to, kind, address, ok));
    };
    for guest in guests {
        let vm = &guest.vm;
        for addr in [IpAddr::V4(vm.ipv4), IpAddr::V6(vm.ipv6)] {
            push(
                "host",
                &vm.interface,
                "ping",
                addr,
                ping(None, addr, patience),
            );
            let tcp = tcp_probe(&host, addr, ECHO_PORT, patience).map(|seen| seen.is_some());
            push("host", &vm.interface, "tcp", addr, tcp);
        }
        for addr in [IpAddr::V4(vm.gateway_ipv4), IpAddr::V6(vm.gateway_ipv6)] {
            push(
                &vm.interface,
                "host",
                "ping",
                addr,
                ping(Some(&guest.ns), addr, patience),
            );
        }
        for other in guests.iter().filter(|o| o.vm.index != vm.index) {
            for addr in [IpAddr::V4(other.vm.ipv4), IpAddr::V6(other.vm.ipv6)] {
                push(
                    &vm.interface,
                    &other.vm.interface,
                    "ping",
                    addr,
                    ping(Some(&guest.ns), addr, patience),
                );
                let seen = tcp_probe(&guest.ns.netns(), addr, ECHO_PORT, patience);
                // VM -> VM must arrive with the VM's own address (no NAT).
                let own = seen.map(|seen| {
                    seen.is_some_and(|s| s == IpAddr::V4(vm.ipv4) || s == IpAddr::V6(vm.ipv6))
                });
                push(&vm.interface, &other.vm.interface, "tcp", addr, own);
            }
        }
        let upstream_pairs: [(IpAddr, IpAddr); 2] = [
            (
                UPSTREAM_V4.parse().expect("valid"),
                HOST_UPLINK_V4.parse().expect("valid"),
            ),
            (
                UPSTREAM_V6.parse().expect("valid"),
                HOST_UPLINK_V6.parse().expect("valid"),
            ),
        ];
        for (addr, masqueraded_as) in upstream_pairs {
            push(
                &vm.interface,
                "upstream",
                "ping",
                addr,
                ping(Some(&guest.ns), addr, patience),
            );
            // The upstream has no route back to the pool: only a masqueraded
            // connection (seen from the host's uplink address) can succeed.
            let seen = tcp_probe(&guest.ns.netns(), addr, ECHO_PORT, patience);
            push(
                &vm.interface,
                "upstream",
                "tcp",
                addr,
                seen.map(|seen| seen == Some(masqueraded_as)),
            );
        }
    }
    probes
}
