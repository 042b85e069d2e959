//! Probes that tell answered, blocked and could-not-probe apart: ping, a
//! TCP echo server that answers with the peer it saw, and a TCP probe.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use blixard_netns::Netns;
use blixard_netns::testing::NetnsHolder;

use super::TestbedError;

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
pub(super) fn ping_result(out: &std::process::Output) -> Result<bool, CouldNotProbe> {
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
