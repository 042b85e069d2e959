//! `[[forwards]]` end to end: the real binary applies them in a throwaway
//! host namespace; guests sit behind stand-in VMMs on real taps; clients
//! in the upstream namespace, on the host and in other guests connect to
//! the host's address and reach the VM's server.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use blixard_host::testbed::{self, Upstream};
use blixard_netns::Netns;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{PATIENCE, REFUSAL, Scratch, cli, exits, ok, start_guests};

const BASE: &str = r#"
vms = 3
owner = "root"
external_interface = "bx-up0"
"#;

const FORWARDS: &str = r#"
[[forwards]]
host_port = 8080
vm = "vm3"
port = 7007
protocol = "tcp"

[[forwards]]
host_port = 5353
vm = "vm3"
port = 53
protocol = "udp"
"#;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn probe(ns: &Netns, to: &str, patience: Duration) -> Option<IpAddr> {
    testbed::tcp_probe(ns, ip(to), 8080, patience).unwrap()
}

/// A UDP echo in `ns` at `bind`, answering one datagram with the source it
/// saw; then a client in `client` sends to `to` and returns that source,
/// if the answer came back from `to`.
fn udp_forwarded(client: &Netns, server: &Netns, bind: &str, to: &str) -> Option<String> {
    let bind: SocketAddr = bind.parse().unwrap();
    let to: SocketAddr = to.parse().unwrap();
    let server = blixard_netns::run_in(server, move || UdpSocket::bind(bind))
        .unwrap()
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        if let Ok((_, from)) = server.recv_from(&mut buf) {
            let _ = server.send_to(from.ip().to_string().as_bytes(), from);
        }
    });
    let any: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let c = blixard_netns::run_in(client, move || UdpSocket::bind(any))
        .unwrap()
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.send_to(b"hello", to).unwrap();
    let mut buf = [0u8; 64];
    let answer = match c.recv_from(&mut buf) {
        Ok((n, from)) if from == to => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    };
    echo.join().unwrap();
    answer
}

#[test]
fn forwards_reach_the_vm_from_upstream_the_host_and_other_vms() {
    in_fresh_netns("forwards_reach_the_vm", || {
        let scratch = Scratch::new("forwards");
        let toml = format!("{BASE}{FORWARDS}");
        let config = scratch.config(&toml);
        let upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let guests = start_guests(&toml);
        let vm3 = guests[2].ns.netns();
        testbed::echo_server(&vm3, 7007).unwrap();
        let up = upstream.ns.netns();

        // The internet reaches vm3, and vm3 sees who connected.
        assert_eq!(probe(&up, "192.0.2.1", PATIENCE), Some(ip("192.0.2.2")));
        assert_eq!(probe(&up, "2001:db8::1", PATIENCE), Some(ip("2001:db8::2")));
        // The host itself, to its own address.
        assert_eq!(
            probe(&Netns::Current, "192.0.2.1", PATIENCE),
            Some(ip("192.0.2.1"))
        );
        assert!(probe(&Netns::Current, "2001:db8::1", PATIENCE).is_some());
        // Hairpin: vm1 to the host's external address, answered by vm3
        // through the host (no masquerade needed: the reply passes the host).
        let vm1 = guests[0].ns.netns();
        assert_eq!(probe(&vm1, "192.0.2.1", PATIENCE), Some(ip("10.0.0.1")));
        assert_eq!(probe(&vm1, "2001:db8::1", PATIENCE), Some(ip("fec0::1")));
        // Every address of the host is the guests' gateway too.
        assert_eq!(probe(&vm1, "10.0.0.0", PATIENCE), Some(ip("10.0.0.1")));
        assert_eq!(probe(&vm1, "fec0::", PATIENCE), Some(ip("fec0::1")));
        // vm3 to its own forward: seen from the gateway, not from itself
        // (which its kernel would drop).
        assert_eq!(probe(&vm3, "192.0.2.1", PATIENCE), Some(ip("10.0.0.0")));
        assert_eq!(probe(&vm3, "2001:db8::1", PATIENCE), Some(ip("fec0::")));
        // UDP, both families, the answer from the forwarded address.
        assert_eq!(
            udp_forwarded(&up, &vm3, "10.0.0.3:53", "192.0.2.1:5353").as_deref(),
            Some("192.0.2.2")
        );
        assert_eq!(
            udp_forwarded(&up, &vm3, "[fec0::3]:53", "[2001:db8::1]:5353").as_deref(),
            Some("2001:db8::2")
        );
        assert_eq!(
            udp_forwarded(&vm1, &vm3, "10.0.0.3:53", "192.0.2.1:5353").as_deref(),
            Some("10.0.0.1")
        );
        exits(cli(&scratch, &config, &["status"]), 0);

        // A host process on a forwarded port is named by doctor.
        let squatter = std::net::TcpListener::bind("0.0.0.0:8080").unwrap();
        let doctor = cli(&scratch, &config, &["doctor"]);
        let said = String::from_utf8_lossy(&doctor.stdout).into_owned();
        assert!(
            said.contains(
                "WARN forwards: forward tcp 8080 -> vm3:7007: host process already listens on 0.0.0.0:8080"
            ),
            "{said}"
        );
        drop(squatter);
        let doctor = cli(&scratch, &config, &["doctor"]);
        assert!(
            String::from_utf8_lossy(&doctor.stdout).contains("PASS forwards: 2 forward(s)"),
            "{}",
            String::from_utf8_lossy(&doctor.stdout)
        );

        // Drift: a forward's element deleted by hand is named, and repaired.
        sh_ok("nft delete element inet blixard fwd4_any_addr '{ tcp . 8080 }'");
        let drift = exits(cli(&scratch, &config, &["status"]), 3);
        assert!(drift.contains("fwd4_any_addr"), "{drift}");
        assert_eq!(probe(&up, "192.0.2.1", REFUSAL), None);
        ok(cli(&scratch, &config, &["apply"]));
        exits(cli(&scratch, &config, &["status"]), 0);
        assert_eq!(probe(&up, "192.0.2.1", PATIENCE), Some(ip("192.0.2.2")));

        // Dropped from the config: gone.
        let config = scratch.config(BASE);
        ok(cli(&scratch, &config, &["apply"]));
        assert_eq!(probe(&up, "192.0.2.1", REFUSAL), None);
        assert_eq!(probe(&vm1, "192.0.2.1", REFUSAL), None);
        exits(cli(&scratch, &config, &["status"]), 0);
        let listing = sh_ok("nft list table inet blixard");
        assert!(!listing.contains("fwd4"), "{listing}");
    });
}
