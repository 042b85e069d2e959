//! Smoke of the traffic tool, so that the data-path bench cannot rot: two
//! taps routed in a fresh namespace (and an uplink into a sink namespace),
//! frames written into one arriving out of the other.

use blixard_netns::testing::{NetnsHolder, in_fresh_netns, sh_ok};

use super::traffic::{Args, Mode, Target, run};

/// Two routed taps as blixard-net wires them (the gateway, the pool's
/// first address, on each tap; a /32 route per guest), by hand: no table,
/// only the kernel's routing.
fn two_routed_taps() {
    sh_ok(
        "ip link set lo up && sysctl -qw net.ipv4.ip_forward=1 && \
         for i in 1 2; do ip tuntap add vm$i mode tap && \
           ip addr add 10.0.0.0/32 dev vm$i && ip link set vm$i up && \
           ip route add 10.0.0.$i/32 dev vm$i; done",
    );
}

fn args(mode: Mode, target: Target) -> Args {
    let mut a = Args::parse(&[]).unwrap();
    a.mode = mode;
    a.target = target;
    a.rounds = 1000;
    a.secs = 0.2;
    a
}

#[test]
fn frames_written_into_vm1s_tap_come_out_of_vm2s_both_ways() {
    let outcome = in_fresh_netns("datapath smoke (vm -> vm)", || {
        two_routed_taps();
        let pp = run(&args(Mode::PingPong, Target::Vm)).unwrap();
        let rate = run(&args(Mode::Rate, Target::Vm)).unwrap();
        (pp, rate)
    });
    let Some((pp, rate)) = outcome else { return };
    assert_eq!((pp.sent, pp.received, pp.lost), (1000, 1000, 0), "{pp:?}");
    assert_eq!(pp.rtt_count, 1000);
    assert!(pp.p99_us.unwrap() >= pp.p50_us.unwrap());
    assert!(rate.received >= 1000 && rate.lost == 0, "{rate:?}");
    assert!(rate.pps() > 0.0 && rate.cpu_secs > 0.0, "{rate:?}");
}

#[test]
fn frames_to_the_uplink_reach_the_sink_namespace_and_its_replies_come_back() {
    let outcome = in_fresh_netns("datapath smoke (vm -> uplink)", || {
        two_routed_taps();
        let sink = NetnsHolder::spawn().unwrap();
        sh_ok(&format!(
            "ip link add up0 type veth peer name eth0 && ip link set eth0 netns {} && \
             ip addr add 192.0.2.1/24 dev up0 && ip link set up0 up",
            sink.pid()
        ));
        sink.sh_ok(
            "ip link set lo up && ip addr add 192.0.2.2/24 dev eth0 && ip link set eth0 up && \
             ip route add 10.0.0.0/24 via 192.0.2.1",
        );
        let target = Target::Uplink {
            ip: "192.0.2.2".parse().unwrap(),
            netns: format!("pid:{}", sink.pid()),
        };
        let pp = run(&args(Mode::PingPong, target.clone())).unwrap();
        let rate = run(&args(Mode::Rate, target)).unwrap();
        (pp, rate)
    });
    let Some((pp, rate)) = outcome else { return };
    assert_eq!((pp.received, pp.lost), (1000, 0), "{pp:?}");
    assert!(rate.received >= 1000, "{rate:?}");
}
