//! A whole routed network in throwaway namespaces: the host (the caller's
//! current namespace, which must itself be a throwaway one), an upstream
//! "internet" behind a veth, and guests behind stand-in VMMs that relay
//! frames between each VM's tap and a tap inside the guest's own namespace.
//!
//! `blixard-net demo` and the end-to-end tests are built on it. Every
//! address it uses lives inside namespaces it made.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use blixard_addr::Vm;
use blixard_netns::Netns;
use blixard_netns::testing::NetnsHolder;
use blixard_tap::relay::Relay;
use serde::Serialize;

/// The host's side of the upstream link.
pub const UPLINK: &str = "bx-up0";
/// Upstream ("internet") addresses: documentation ranges, inside our namespaces only.
pub const UPSTREAM_V4: &str = "192.0.2.2";
/// The host's IPv4 on the upstream link.
pub const HOST_UPLINK_V4: &str = "192.0.2.1";
/// Upstream IPv6.
pub const UPSTREAM_V6: &str = "2001:db8::2";
/// The host's IPv6 on the upstream link.
pub const HOST_UPLINK_V6: &str = "2001:db8::1";
/// TCP port of the echo servers.
pub const ECHO_PORT: u16 = 7007;

/// Why the testbed could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// A setup command failed.
    #[error("testbed: `{command}` failed: {stderr}")]
    Command {
        /// The command.
        command: String,
        /// What it said.
        stderr: String,
    },
    /// Starting a process or namespace failed.
    #[error("testbed: {0}")]
    Io(#[from] std::io::Error),
    /// The stand-in VMM failed.
    #[error("testbed: stand-in VMM: {0}")]
    Tap(#[from] blixard_tap::TapError),
    /// Entering a namespace failed.
    #[error("testbed: {0}")]
    Netns(#[from] blixard_netns::NetnsError),
}

fn sh_here(script: &str) -> Result<String, TestbedError> {
    let out = Command::new("sh").args(["-c", script]).output()?;
    if !out.status.success() {
        return Err(TestbedError::Command {
            command: script.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sh_in(ns: &NetnsHolder, script: &str) -> Result<String, TestbedError> {
    let out = ns.sh(script);
    if !out.status.success() {
        return Err(TestbedError::Command {
            command: script.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The upstream network: a namespace with no route back to the VM pools,
/// reached from the host through a veth that carries the default routes.
pub struct Upstream {
    /// The upstream namespace.
    pub ns: NetnsHolder,
}

impl Upstream {
    /// Builds it, from a thread inside the host namespace.
    pub fn build() -> Result<Self, TestbedError> {
        let ns = NetnsHolder::spawn()?;
        sh_here(&format!(
            "ip link set lo up && ip link add {UPLINK} type veth peer name eth0 && \
             ip link set eth0 netns {pid} && \
             echo 0 > /proc/sys/net/ipv6/conf/{UPLINK}/accept_dad && \
             ip addr add {HOST_UPLINK_V4}/24 dev {UPLINK} && \
             ip -6 addr add {HOST_UPLINK_V6}/64 dev {UPLINK} nodad && \
             ip link set {UPLINK} up && \
             ip route add default via {UPSTREAM_V4} dev {UPLINK} && \
             ip -6 route add default via {UPSTREAM_V6} dev {UPLINK}",
            pid = ns.pid()
        ))?;
        sh_in(
            &ns,
            &format!(
                "echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad && \
                 ip link set lo up && ip addr add {UPSTREAM_V4}/24 dev eth0 && \
                 ip -6 addr add {UPSTREAM_V6}/64 dev eth0 nodad && ip link set eth0 up"
            ),
        )?;
        Ok(Self { ns })
    }
}

/// One guest: its namespace and the stand-in VMM relaying its frames.
pub struct Guest {
    /// The VM's mapping.
    pub vm: Vm,
    /// The guest's namespace.
    pub ns: NetnsHolder,
    relay: Relay,
}

impl Guest {
    /// Starts a guest for `vm` behind its (existing) host tap, from a thread
    /// inside the host namespace, and configures it with `guest_script`
    /// (e.g. `blixard_addr::render::ip_commands` joined with `&&`; guests here
    /// share this process's mount namespace, so nothing may write
    /// `/etc/resolv.conf`).
    pub fn start(vm: &Vm, queues: usize, guest_script: &str) -> Result<Self, TestbedError> {
        Self::start_as(vm, queues, None, guest_script)
    }

    /// [`Guest::start`] with the stand-in VMM opening the tap with
    /// `vnet_hdr` as a given VMM would (see [`Relay::start_as`]).
    pub fn start_as(
        vm: &Vm,
        queues: usize,
        vnet_hdr: Option<bool>,
        guest_script: &str,
    ) -> Result<Self, TestbedError> {
        let ns = NetnsHolder::spawn()?;
        let relay = Relay::start_as(&vm.interface, &ns.netns(), "eth0", vm.mac, queues, vnet_hdr)?;
        sh_in(&ns, "ip link set lo up")?;
        sh_in(&ns, guest_script)?;
        Ok(Self {
            vm: vm.clone(),
            ns,
            relay,
        })
    }

    /// The relay, to stop it early.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }
}

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
}

/// Pings `address` from the namespace `ns` (None: here), retrying until
/// `deadline` because the first packets may wait for neighbour discovery.
pub fn ping(ns: Option<&NetnsHolder>, address: IpAddr, deadline: Duration) -> bool {
    let start = Instant::now();
    loop {
        let mut cmd = match ns {
            Some(ns) => ns.command("ping"),
            None => Command::new("ping"),
        };
        let ok = cmd
            .args(["-c1", "-W1", "-n", "-q"])
            .arg(address.to_string())
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return true;
        }
        if start.elapsed() >= deadline {
            return false;
        }
    }
}

/// A TCP echo server listening in `ns` (bound inside it; the socket stays in
/// that namespace) and serving from a background thread. It answers each
/// connection with the peer address it saw, so tests can tell whether a
/// connection was masqueraded.
pub fn echo_server(ns: &Netns, port: u16) -> Result<(), TestbedError> {
    let listener = blixard_netns::run_in(ns, || TcpListener::bind(("::", port)))??;
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let peer = stream
                .peer_addr()
                .map(|a| canonical(a.ip()).to_string())
                .unwrap_or_default();
            let _ = stream.write_all(peer.as_bytes());
        }
    });
    Ok(())
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Connects from `ns` to `address`'s echo server; returns the source address
/// the server saw, or `None` when the connection failed within `timeout`.
pub fn tcp_probe(ns: &Netns, address: IpAddr, port: u16, timeout: Duration) -> Option<IpAddr> {
    let start = Instant::now();
    loop {
        let attempt = blixard_netns::run_in(ns, || {
            let mut stream =
                TcpStream::connect_timeout(&SocketAddr::new(address, port), Duration::from_secs(1))
                    .ok()?;
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            let mut seen = String::new();
            stream.read_to_string(&mut seen).ok()?;
            seen.parse::<IpAddr>().ok()
        })
        .ok()
        .flatten();
        if attempt.is_some() || start.elapsed() >= timeout {
            return attempt;
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
    let mut push = |from: &str, to: &str, kind: &'static str, address: IpAddr, ok: bool| {
        probes.push(Probe {
            from: from.into(),
            to: to.into(),
            kind,
            address,
            ok,
        });
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
            let tcp = tcp_probe(&host, addr, ECHO_PORT, patience).is_some();
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
                let own =
                    seen.is_some_and(|s| s == IpAddr::V4(vm.ipv4) || s == IpAddr::V6(vm.ipv6));
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
                seen == Some(masqueraded_as),
            );
        }
    }
    probes
}
