//! The stand-in VMM: a host namespace with tap vm1 routed to 10.0.0.1, a
//! guest namespace with eth0 = 10.0.0.1/32, and the relay in between.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use blixard_addr::layout::MacAddr;
use blixard_addr::plan::TapPlan;
use blixard_netns::Netns;
use blixard_netns::testing::{NetnsHolder, in_fresh_netns, sh_ok};
use blixard_tap::relay::Relay;
use blixard_tap::{LinkMark, TapError, create, list};

const GUEST_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0x01, 0x01]);

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// UDP datagrams from `from` (run there) to `to:9`, one flow each: each
/// from a socket of its own, so each on another source port.
fn udp_flows(from: &Netns, bind: &str, to: &str, flows: usize) {
    let (bind, to) = (bind.to_string(), to.to_string());
    blixard_netns::run_in(from, move || {
        for _ in 0..flows {
            let socket = UdpSocket::bind((bind.as_str(), 0)).unwrap();
            socket.send_to(b"flow", (to.as_str(), 9)).unwrap();
        }
    })
    .unwrap();
}

/// Each direction of each queue pair moves frames: the kernel spreads flows
/// over a multi-queue tap's queues by their hash (the host tap towards the
/// guest, the guest tap towards the host), so 64 flows land on every one
/// of a few queues (all on one of two: odds of 2^-63).
fn every_queue_carries_flows(relay: &Relay, guest: &NetnsHolder) {
    let before = relay.queue_stats();
    udp_flows(&Netns::Current, "10.0.0.0", "10.0.0.1", 64);
    udp_flows(&guest.netns(), "10.0.0.1", "10.0.0.0", 64);
    wait_until("every queue to carry frames both ways", || {
        relay
            .queue_stats()
            .iter()
            .zip(&before)
            .all(|(now, then)| now.to_guest > then.to_guest && now.to_host > then.to_host)
    });
}

fn round_trip(test: &str, multi_queue: bool, vnet_hdr: bool, queues: usize) {
    in_fresh_netns(test, || {
        let plan = TapPlan {
            multi_queue,
            vnet_hdr,
            owner: None,
            group: None,
            owner_required: false,
        };
        let mark = LinkMark {
            group: 2833,
            alias: "blixard:vm1",
        };
        create("vm1", &plan, mark).unwrap();
        sh_ok(
            "ip link set lo up && ip addr add 10.0.0.0/32 dev vm1 && ip link set vm1 up && \
             ip route add 10.0.0.1/32 dev vm1",
        );
        let guest = NetnsHolder::spawn().unwrap();
        let relay = Relay::start("vm1", &guest.netns(), "eth0", GUEST_MAC, queues).unwrap();
        assert_eq!(list().unwrap()["vm1"].queues, queues as u32);
        guest.sh_ok(
            "ip link set lo up && ip addr add 10.0.0.1/32 dev eth0 && ip link set eth0 up && \
             ip route add default via 10.0.0.0 dev eth0 onlink",
        );
        let shown = guest.sh_ok("ip -o link show eth0");
        assert!(shown.contains("02:00:00:00:01:01"), "{shown}");
        assert!(
            shown.starts_with(&format!("{}:", relay.guest_ifindex())),
            "{shown}"
        );
        assert!(
            !sh_ok("ip -o link").contains("eth0"),
            "guest tap leaked into the host"
        );

        sh_ok("ping -c1 -W5 10.0.0.1");
        guest.sh_ok("ping -c1 -W5 10.0.0.0");
        let stats = relay.stats();
        assert!(stats.to_guest > 0 && stats.to_host > 0, "{stats:?}");
        assert!(relay.is_running());
        assert_eq!(relay.queue_stats().len(), queues);
        if queues > 1 {
            every_queue_carries_flows(&relay, &guest);
        }

        relay.stop();
        wait_until("the guest tap to go with the relay", || {
            !guest.sh("ip link show eth0").status.success()
        });
        wait_until("vm1's queues to detach", || {
            list().unwrap()["vm1"].queues == 0
        });
        assert!(
            list().unwrap()["vm1"].persist,
            "the host tap outlives its VMM"
        );
    });
}

#[test]
fn relay_carries_pings_both_ways() {
    round_trip("relay_carries_pings_both_ways", false, false, 1);
}

#[test]
fn relay_carries_pings_both_ways_with_vnet_hdr() {
    round_trip(
        "relay_carries_pings_both_ways_with_vnet_hdr",
        false,
        true,
        1,
    );
}

#[test]
fn relay_carries_pings_over_two_queues_with_vnet_hdr() {
    round_trip(
        "relay_carries_pings_over_two_queues_with_vnet_hdr",
        true,
        true,
        2,
    );
}

#[test]
fn relay_to_a_missing_tap_names_it() {
    in_fresh_netns("relay_to_a_missing_tap_names_it", || {
        let guest = NetnsHolder::spawn().unwrap();
        let err = Relay::start("vm8", &guest.netns(), "eth0", GUEST_MAC, 1).unwrap_err();
        assert!(matches!(err, TapError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("vm8"), "{err}");
    });
}
