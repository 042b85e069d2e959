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
    /// Why the probe could not be made at all (a missing tool, a namespace
    /// that is gone), as opposed to a probe that ran and was not answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A probe that could not be made: the tool did not start, the namespace
/// could not be entered, or the probe never left (no route, no such source
/// address). Never the same as "blocked", so a negative assertion cannot
/// pass because nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not probe: {0}")]
pub struct CouldNotProbe(pub String);

/// Pause between attempts of a probe that failed at once (a refused
/// connection, a ping that could not start), so a retry loop does not spin.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Pings `address` from the namespace `ns` (None: here), retrying until
/// `deadline` because the first packets may wait for neighbour discovery.
/// `Ok(true)`: answered; `Ok(false)`: ping ran and sent its echo requests
/// until the deadline and none was answered; `Err`: ping could not be
/// made (it did not start, the namespace is gone, or it never sent a
/// packet, e.g. no route or no such source address) — the last reason.
pub fn ping(
    ns: Option<&NetnsHolder>,
    address: IpAddr,
    deadline: Duration,
) -> Result<bool, CouldNotProbe> {
    ping_with(ns, &[], address, deadline)
}

/// [`ping`] with extra arguments before the address (e.g. `["-I",
/// "10.0.0.2"]` for a source address).
pub fn ping_with(
    ns: Option<&NetnsHolder>,
    extra: &[&str],
    address: IpAddr,
    deadline: Duration,
) -> Result<bool, CouldNotProbe> {
    let start = Instant::now();
    loop {
        let mut cmd = match ns {
            Some(ns) => ns.command("ping"),
            None => Command::new("ping"),
        };
        let out = cmd
            .args(["-c1", "-W1", "-n", "-q"])
            .args(extra)
            .arg(address.to_string())
            .output()
            .map_err(|e| CouldNotProbe(format!("ping {address}: {e}")))?;
        let result = ping_result(&out);
        match &result {
            Ok(true) => return result,
            Ok(false) => {}
            Err(_) => std::thread::sleep(RETRY_PAUSE),
        }
        if start.elapsed() >= deadline {
            return result;
        }
    }
}

/// What one `ping -c1 -q` run says: only its statistics line ("1 packets
/// transmitted, 0 received") shows that it ran and sent its request.
fn ping_result(out: &std::process::Output) -> Result<bool, CouldNotProbe> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(stats) = stdout.lines().find(|l| l.contains("packets transmitted")) else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(CouldNotProbe(format!(
            "ping sent nothing ({}): {}",
            out.status,
            stderr.trim()
        )));
    };
    let count = |what: &str| -> Option<u64> {
        stats
            .split(',')
            .find(|part| part.contains(what))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    match (count("transmitted"), count("received")) {
        (Some(sent), Some(received)) if sent > 0 => Ok(received > 0),
        _ => Err(CouldNotProbe(format!("ping sent nothing: {stats}"))),
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

/// Connects from `ns` to `address`'s echo server, retrying until `timeout`.
/// `Ok(Some(source))`: connected, and the server saw `source`;
/// `Ok(None)`: no connection within `timeout` (timed out, refused, reset,
/// unreachable: what a firewall or a missing route on the way gives);
/// `Err`: the probe could not be made (the namespace could not be entered,
/// no socket, no usable source address), or it connected and got no
/// address back (something answered, so it was not blocked).
pub fn tcp_probe(
    ns: &Netns,
    address: IpAddr,
    port: u16,
    timeout: Duration,
) -> Result<Option<IpAddr>, CouldNotProbe> {
    use std::io::ErrorKind;
    let start = Instant::now();
    loop {
        let target = SocketAddr::new(address, port);
        let attempt = blixard_netns::run_in(ns, || -> Result<Option<IpAddr>, CouldNotProbe> {
            let mut stream = match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
                Ok(stream) => stream,
                Err(e) => {
                    return match e.kind() {
                        ErrorKind::TimedOut
                        | ErrorKind::WouldBlock
                        | ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::HostUnreachable
                        | ErrorKind::NetworkUnreachable => Ok(None),
                        // EPERM/EACCES: a local firewall refused the send.
                        ErrorKind::PermissionDenied => Ok(None),
                        _ => Err(CouldNotProbe(format!("connect to {target}: {e}"))),
                    };
                }
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .map_err(|e| CouldNotProbe(format!("{target}: {e}")))?;
            let mut seen = String::new();
            let read = stream.read_to_string(&mut seen);
            match (read, seen.parse::<IpAddr>()) {
                (Ok(_), Ok(ip)) => Ok(Some(ip)),
                (read, _) => Err(CouldNotProbe(format!(
                    "connected to {target} but got no peer address back ({read:?}, {seen:?}): \
                     not our echo server"
                ))),
            }
        })
        .map_err(|e| CouldNotProbe(format!("entering the namespace: {e}")))
        .and_then(|r| r);
        match &attempt {
            Ok(Some(_)) => return attempt,
            _ if start.elapsed() >= timeout => return attempt,
            Ok(None) | Err(_) => std::thread::sleep(RETRY_PAUSE),
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
        probes.push(Probe {
            from: from.into(),
            to: to.into(),
            kind,
            address,
            ok: ok.as_ref().is_ok_and(|ok| *ok),
            error: ok.err().map(|e| e.to_string()),
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

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{ExitStatus, Output};

    use blixard_netns::testing::{in_fresh_netns, sh_ok};

    use super::*;

    fn output(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn only_a_ping_that_sent_its_request_is_answered_or_blocked() {
        let stats = |line: &str| format!("PING x\n\n--- x ping statistics ---\n{line}\n");
        let answered = stats("1 packets transmitted, 1 received, 0% packet loss, time 0ms");
        assert_eq!(ping_result(&output(0, &answered, "")), Ok(true));
        let lost = stats("1 packets transmitted, 0 received, 100% packet loss, time 0ms");
        assert_eq!(ping_result(&output(1, &lost, "")), Ok(false));
        let unreachable =
            stats("1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms");
        assert_eq!(ping_result(&output(1, &unreachable, "")), Ok(false));
        // Exit 1 without statistics: nsenter could not enter a namespace
        // that is gone, or could not find ping there.
        for (code, stderr) in [
            (
                1,
                "nsenter: cannot open /proc/99999/ns/net: No such file or directory",
            ),
            (
                127,
                "nsenter: failed to execute ping: No such file or directory",
            ),
            (2, "ping: connect: Network is unreachable"),
            (2, "ping: bind: Cannot assign requested address"),
        ] {
            let got = ping_result(&output(code, "", stderr));
            assert!(
                got.as_ref().is_err_and(|e| e.0.contains(stderr)),
                "{stderr}: {got:?}"
            );
        }
    }

    #[test]
    fn probes_tell_answered_blocked_and_could_not_probe_apart() {
        in_fresh_netns(
            "probes_tell_answered_blocked_and_could_not_probe_apart",
            || {
                sh_ok(
                    "ip link set lo up && ip addr add 192.0.2.1/24 dev lo && \
                     nft add table inet t && \
                     nft add chain inet t out '{ type filter hook output priority 0; policy accept; }' && \
                     nft add rule inet t out ip daddr 192.0.2.7 drop",
                );
                let here = Netns::Current;
                let blocked: IpAddr = "192.0.2.7".parse().unwrap();
                let open: IpAddr = "192.0.2.1".parse().unwrap();
                let nowhere: IpAddr = "198.51.100.1".parse().unwrap();
                let short = Duration::from_millis(300);
                assert_eq!(ping(None, open, short), Ok(true));
                assert_eq!(ping(None, blocked, short), Ok(false));
                // No route: nothing was sent, so nothing was blocked.
                assert!(ping(None, nowhere, short).is_err());
                assert!(ping_with(None, &["-I", "203.0.113.9"], open, short).is_err());

                echo_server(&here, ECHO_PORT).unwrap();
                assert_eq!(tcp_probe(&here, open, ECHO_PORT, short), Ok(Some(open)));
                assert_eq!(tcp_probe(&here, blocked, ECHO_PORT, short), Ok(None));
                // Refused: a closed port answers, but the connection is not made.
                assert_eq!(tcp_probe(&here, open, ECHO_PORT + 1, short), Ok(None));
                let gone = Netns::Path("/nonexistent/ns/net".into());
                assert!(tcp_probe(&gone, open, ECHO_PORT, short).is_err());
                // Something that is not our echo server answered: reached,
                // so never "blocked".
                let other = std::net::TcpListener::bind(("192.0.2.1", 7100)).unwrap();
                std::thread::spawn(move || {
                    for s in other.incoming().flatten() {
                        drop(s);
                    }
                });
                assert!(tcp_probe(&here, open, 7100, short).is_err());
            },
        );
    }
}
