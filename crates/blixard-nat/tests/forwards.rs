//! Port forwards and per-VM counters with real packets: a "host"
//! namespace with stand-in VMs and an upstream network, per test.

mod common;

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use blixard_addr::config::{Config, ForwardConfig, Protocol};
use blixard_addr::plan::FirewallPlan;
use blixard_addr::state::ObservedFirewall;
use blixard_nat::{Nft, VmCounters};
use blixard_netns::testing::{NetnsHolder, in_fresh_netns, sh_ok};
use common::*;

fn forwards(c: &mut Config) {
    c.forwards = vec![
        ForwardConfig::new(8080, "vm3", 80, Protocol::Tcp),
        ForwardConfig::new(5353, "vm3", 53, Protocol::Udp),
        ForwardConfig::new(8443, "vm2", 443, Protocol::Tcp).at(HOST_EXT_V4.parse().unwrap()),
    ];
}

fn with_forwards(n: u32) -> FirewallPlan {
    planned(n, Vec::new(), forwards)
}

/// Connects from the calling thread's namespace (the host).
fn tcp_here(listener: &TcpListener, to: &str) -> Option<SocketAddr> {
    let to: SocketAddr = to.parse().unwrap();
    let _stream = TcpStream::connect_timeout(&to, Duration::from_secs(2)).ok()?;
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match listener.accept() {
            Ok((_, peer)) => return Some(peer),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "connected but never accepted");
                std::thread::yield_now();
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// One datagram from `client` (in its namespace) to `to`, echoed by a
/// server bound at `server_addr` in `server`: the source the server saw,
/// and whether the echo came back from `to` itself.
fn udp_echo(
    client: &NetnsHolder,
    server: &NetnsHolder,
    server_addr: &str,
    to: &str,
) -> (SocketAddr, bool) {
    let server_addr: SocketAddr = server_addr.parse().unwrap();
    let to: SocketAddr = to.parse().unwrap();
    let sock = blixard_netns::run_in(&server.netns(), move || UdpSocket::bind(server_addr))
        .unwrap()
        .unwrap();
    let bind_any: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let c = blixard_netns::run_in(&client.netns(), move || UdpSocket::bind(bind_any))
        .unwrap()
        .unwrap();
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    c.send_to(b"ping", to).unwrap();
    let mut buf = [0u8; 16];
    let (n, seen) = sock
        .recv_from(&mut buf)
        .expect("the datagram reaches the VM");
    assert_eq!(&buf[..n], b"ping");
    sock.send_to(b"pong", seen).unwrap();
    let echoed = matches!(c.recv_from(&mut buf), Ok((4, from)) if from == to);
    (seen, echoed)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn forwards_reach_the_vm_from_upstream_the_host_and_other_vms() {
    in_fresh_netns(
        "forwards_reach_the_vm_from_upstream_the_host_and_other_vms",
        || {
            let topo = Topology::new(3);
            let nft = Nft::new();
            let plan = with_forwards(3);
            nft.apply(&plan).unwrap();
            let (vm1, vm3) = (topo.guest(1), topo.guest(3));

            // From the internet, both families: the VM sees the client.
            let l4 = listen(vm3, "10.0.0.3:80");
            let peer = tcp(&topo.upstream, &l4, "192.0.2.1:8080").expect("upstream -> vm3");
            assert_eq!(peer.ip(), ip(UPSTREAM_V4));
            let l6 = listen(vm3, "[fec0::3]:80");
            let peer = tcp(&topo.upstream, &l6, "[2001:db8::1]:8080").expect("IPv6 upstream");
            assert_eq!(peer.ip(), ip(UPSTREAM_V6));

            // The host itself, to its own address.
            let peer = tcp_here(&l4, "192.0.2.1:8080").expect("host -> its own forward");
            assert_eq!(peer.ip(), ip(HOST_EXT_V4));
            assert!(tcp_here(&l6, "[2001:db8::1]:8080").is_some());

            // Hairpin: another VM to the host's external address; the
            // connection completing means the replies came back.
            let peer = tcp(vm1, &l4, "192.0.2.1:8080").expect("vm1 -> vm3 by the host");
            assert_eq!(peer.ip(), ip("10.0.0.1"));
            let peer = tcp(vm1, &l6, "[2001:db8::1]:8080").expect("IPv6 hairpin");
            assert_eq!(peer.ip(), ip("fec0::1"));

            // UDP, with the echo back from the forwarded address.
            let (seen, echoed) = udp_echo(&topo.upstream, vm3, "10.0.0.3:53", "192.0.2.1:5353");
            assert_eq!(seen.ip(), ip(UPSTREAM_V4));
            assert!(echoed, "the reply comes back from the host's address");
            let (seen, echoed) =
                udp_echo(&topo.upstream, vm3, "[fec0::3]:53", "[2001:db8::1]:5353");
            assert_eq!(seen.ip(), ip(UPSTREAM_V6));
            assert!(echoed);
            let (seen, echoed) = udp_echo(vm1, vm3, "10.0.0.3:53", "192.0.2.1:5353");
            assert_eq!(seen.ip(), ip("10.0.0.1"));
            assert!(echoed);

            // Bound to one address: forwarded there, and only there.
            let l2 = listen(topo.guest(2), "10.0.0.2:443");
            assert!(tcp(&topo.upstream, &l2, "192.0.2.1:8443").is_some());
            assert!(tcp(&topo.upstream, &l2, "[2001:db8::1]:8443").is_none());
            assert!(tcp(vm1, &l2, "10.0.0.0:8443").is_none());

            // Dropped from the config: closed.
            nft.apply(&planned(3, Vec::new(), |_| {})).unwrap();
            assert!(tcp(&topo.upstream, &l4, "192.0.2.1:8080").is_none());
        },
    );
}

#[test]
fn a_deleted_forward_element_is_drift_and_apply_repairs_it() {
    in_fresh_netns(
        "a_deleted_forward_element_is_drift_and_apply_repairs_it",
        || {
            let topo = Topology::new(3);
            let nft = Nft::new();
            let plan = with_forwards(3);
            nft.apply(&plan).unwrap();
            assert_eq!(nft.observe(&plan).unwrap(), ObservedFirewall::InSync);
            sh_ok("nft delete element inet blixard fwd4_any_addr '{ tcp . 8080 }'");
            let ObservedFirewall::Differs(d) = nft.observe(&plan).unwrap() else {
                panic!("a deleted forward is drift");
            };
            assert!(d.iter().any(|d| d.contains("fwd4_any_addr")), "{d:?}");
            let l4 = listen(topo.guest(3), "10.0.0.3:80");
            assert!(tcp(&topo.upstream, &l4, "192.0.2.1:8080").is_none());
            nft.apply(&plan).unwrap();
            assert_eq!(nft.observe(&plan).unwrap(), ObservedFirewall::InSync);
            assert!(tcp(&topo.upstream, &l4, "192.0.2.1:8080").is_some());
        },
    );
}

fn of<'a>(c: &'a [VmCounters], vm: &str) -> &'a VmCounters {
    c.iter()
        .find(|c| c.vm == vm)
        .unwrap_or_else(|| panic!("no counters for {vm}: {c:?}"))
}

#[test]
fn counters_move_with_traffic_spoofing_and_drops() {
    in_fresh_netns("counters_move_with_traffic_spoofing_and_drops", || {
        let topo = Topology::new(2);
        let nft = Nft::new();
        nft.apply(&plan(2, Some("ext0"))).unwrap();
        let before = nft.counters(TABLE).unwrap();
        assert_eq!(before.len(), 2);
        // Counting starts when the table is written; a guest's own IPv6
        // chatter (a router or neighbour solicitation) may already be in.
        assert!(
            of(&before, "vm1").transmit.packets <= 5,
            "{:?}",
            of(&before, "vm1")
        );

        // 10 pings of 100 bytes of payload (128-byte IP packets).
        let vm1 = topo.guest(1);
        vm1.sh_ok("ping -n -q -c10 -i0.05 -s100 -W1 10.0.0.2");
        let c = nft.counters(TABLE).unwrap();
        let (a, b) = (of(&c, "vm1"), of(&c, "vm2"));
        for (what, n) in [
            ("vm1 transmit", a.transmit),
            ("vm1 receive", a.receive),
            ("vm2 transmit", b.transmit),
            ("vm2 receive", b.receive),
        ] {
            // The guests' own IPv6 chatter (router and neighbour
            // solicitations) may add a few.
            assert!((10..=30).contains(&n.packets), "{what}: {n:?}");
            assert!(
                n.bytes >= 10 * 128 && n.bytes <= 10 * 128 + 20 * 100,
                "{what}: {n:?}"
            );
        }
        assert_eq!(a.spoofed_drops.packets, 0);
        assert_eq!(a.firewall_drops.packets, 0);

        // A forged source is dropped and counted on the tap it came by.
        vm1.sh_ok("ip addr add 10.0.0.99/32 dev eth0");
        vm1.sh("ping -n -q -c3 -i0.05 -W1 -I 10.0.0.99 10.0.0.2");
        let c = nft.counters(TABLE).unwrap();
        assert_eq!(of(&c, "vm1").spoofed_drops.packets, 3, "{c:?}");
        assert_eq!(of(&c, "vm2").spoofed_drops.packets, 0);

        // Unsolicited inbound (inbound_default = drop) counts for the VM
        // it was meant for.
        topo.upstream
            .sh_ok("ip route add 10.0.0.0/24 via 192.0.2.1");
        let l = listen(topo.guest(2), "10.0.0.2:22");
        assert!(tcp(&topo.upstream, &l, "10.0.0.2:22").is_none());
        let c = nft.counters(TABLE).unwrap();
        assert!(of(&c, "vm2").firewall_drops.packets >= 1, "{c:?}");
        assert_eq!(of(&c, "vm1").firewall_drops.packets, 0);

        // Counter values are not drift.
        assert_eq!(
            nft.observe(&plan(2, Some("ext0"))).unwrap(),
            ObservedFirewall::InSync
        );
    });
}
