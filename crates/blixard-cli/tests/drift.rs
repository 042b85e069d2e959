//! Drift: someone changes a wired host behind our back. `status` names each
//! difference with exit 3, `apply` repairs exactly those, and the host ends
//! equal to a clean apply. Each kind of drift gets a fresh namespace.

mod common;

use blixard_addr::plan::TapPlan;
use blixard_netns::testing::{in_fresh_netns, privileged, sh_ok};
use common::{
    FULL, Scratch, assert_host_is_full, assert_unchanged, changes_made, cli, exits, full_state, ok,
    uplink,
};

/// How the host is changed behind our back.
enum Tamper {
    /// A shell snippet.
    Sh(&'static str),
    /// Owner and/or group of a tap, by ioctl (`ip tuntap` cannot change an
    /// existing tap's owner).
    Owner(&'static str, Option<u32>, Option<u32>),
}

/// Each drift, and the lines `status` must print for it.
const CASES: &[(&str, Tamper, &[&str])] = &[
    (
        "tap deleted",
        Tamper::Sh("ip link del vm2"),
        &[
            "create tap vm2",
            "add route 10.0.0.2/32 dev vm2",
            "sysctl net.ipv4.conf.vm2.rp_filter=1",
        ],
    ),
    (
        "IPv4 route deleted",
        Tamper::Sh("ip route del 10.0.0.2/32"),
        &["add route 10.0.0.2/32 dev vm2 proto 177"],
    ),
    (
        "IPv6 route deleted",
        Tamper::Sh("ip -6 route del fec0::3/128"),
        &["add route fec0::3/128 dev vm3 proto 177"],
    ),
    (
        "IPv4 gateway address deleted",
        Tamper::Sh("ip addr del 10.0.0.0/32 dev vmgw"),
        &["add address 10.0.0.0/32 dev vmgw"],
    ),
    (
        "IPv6 gateway address deleted",
        Tamper::Sh("ip -6 addr del fec0::/128 dev vmgw"),
        &["add address fec0::/128 dev vmgw"],
    ),
    (
        "gateway device deleted",
        Tamper::Sh("ip link del vmgw"),
        &[
            "create tap vmgw",
            "set link vmgw up",
            "add address 10.0.0.0/32 dev vmgw",
            "add address fec0::/128 dev vmgw",
        ],
    ),
    (
        "proxy entry deleted",
        Tamper::Sh("ip -6 neigh del proxy fec0:: dev vm2"),
        &["add neigh proxy fec0:: dev vm2 proto 177"],
    ),
    (
        "proxy_ndp of a tap off",
        Tamper::Sh("echo 0 > /proc/sys/net/ipv6/conf/vm1/proxy_ndp"),
        &["sysctl net.ipv6.conf.vm1.proxy_ndp=1"],
    ),
    (
        "the gateway address on a tap (the previous layout)",
        Tamper::Sh("ip addr add 10.0.0.0/32 dev vm1"),
        &["delete address 10.0.0.0/32 dev vm1"],
    ),
    (
        "foreign address on our tap",
        Tamper::Sh("ip addr add 192.0.2.77/32 dev vm1"),
        &["delete address 192.0.2.77/32 dev vm1"],
    ),
    (
        "stray route with our protocol",
        Tamper::Sh("ip route add 198.51.100.7/32 dev vm1 proto 177"),
        &["delete route 198.51.100.7/32 dev vm1 proto 177"],
    ),
    (
        "tap down (the kernel drops its routes and proxy entry)",
        Tamper::Sh("ip link set vm2 down"),
        &[
            "set link vm2 up",
            "add route 10.0.0.2/32 dev vm2",
            "add route fec0::2/128 dev vm2",
            "add neigh proxy fec0:: dev vm2",
        ],
    ),
    (
        "MTU changed",
        Tamper::Sh("ip link set vm3 mtu 1400"),
        &["set link vm3 group 2833 alias blixard:vm3 mtu 1500"],
    ),
    (
        "root qdisc removed",
        Tamper::Sh("tc qdisc del dev vm1 root"),
        &["add root qdisc noqueue dev vm1"],
    ),
    (
        "our table deleted",
        Tamper::Sh("nft delete table inet blixard"),
        &["replace nft table inet blixard"],
    ),
    (
        "a chain of our table flushed",
        Tamper::Sh("nft flush chain inet blixard forward"),
        &["replace nft table inet blixard", "differs: ", "forward"],
    ),
    (
        "a spoofing element added to our set",
        Tamper::Sh("nft add element inet blixard vm_v4 '{ \"vm1\" . 10.0.0.9 }'"),
        &["replace nft table inet blixard", "differs: ", "10.0.0.9"],
    ),
    (
        "IPv4 forwarding off",
        Tamper::Sh("echo 0 > /proc/sys/net/ipv4/ip_forward"),
        &["sysctl net.ipv4.ip_forward=1"],
    ),
    (
        "IPv6 forwarding off",
        Tamper::Sh("echo 0 > /proc/sys/net/ipv6/conf/all/forwarding"),
        &["sysctl net.ipv6.conf.all.forwarding=1"],
    ),
    (
        "rp_filter of a tap off",
        Tamper::Sh("echo 0 > /proc/sys/net/ipv4/conf/vm3/rp_filter"),
        &["sysctl net.ipv4.conf.vm3.rp_filter=1"],
    ),
    (
        "tap owner changed",
        Tamper::Owner("vm1", Some(65534), None),
        &["set tap vm1 owner 0 group 0"],
    ),
    (
        "tap group changed",
        Tamper::Owner("vm2", None, Some(65534)),
        &["set tap vm2 owner 0 group 0"],
    ),
];

#[test]
fn every_kind_of_drift_is_named_by_status_and_repaired_by_apply() {
    if !privileged("every_kind_of_drift") {
        return;
    }
    let scratch = Scratch::new("drift");
    let reference = in_fresh_netns("every_kind_of_drift", || {
        uplink();
        ok(cli(&scratch, &scratch.config(FULL), &["apply"]));
        assert_host_is_full();
        full_state()
    })
    .unwrap();
    for (what, tamper, named) in CASES {
        in_fresh_netns("every_kind_of_drift", || {
            uplink();
            let config = scratch.config(FULL);
            ok(cli(&scratch, &config, &["apply"]));
            exits(cli(&scratch, &config, &["status"]), 0);
            match tamper {
                Tamper::Sh(script) => {
                    sh_ok(script);
                }
                Tamper::Owner(tap, owner, group) => {
                    blixard_tap::set_ownership(tap, *owner, *group).unwrap()
                }
            }
            assert_ne!(full_state(), reference, "{what}: no drift made");
            let status = exits(cli(&scratch, &config, &["status"]), 3);
            for line in *named {
                assert!(
                    status.contains(line),
                    "{what}: status does not name `{line}`:\n{status}"
                );
            }
            // One change per line indented by two; deeper lines detail one.
            let listed = status
                .lines()
                .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
                .count();
            let repair = ok(cli(&scratch, &config, &["apply"]));
            assert_eq!(
                changes_made(&repair),
                listed,
                "{what}: apply did other than status said:\n{status}\n{repair}"
            );
            exits(cli(&scratch, &config, &["status"]), 0);
            assert_unchanged(&reference, &full_state(), &format!("{what}: not repaired"));
        });
    }
}

#[test]
fn a_tap_recreated_with_other_flags_is_refused_until_recreation_is_allowed() {
    in_fresh_netns("a_tap_recreated_with_other_flags", || {
        let scratch = Scratch::new("drift-flags");
        let config = scratch.config(FULL);
        uplink();
        ok(cli(&scratch, &config, &["apply"]));
        assert_host_is_full();
        let reference = full_state();
        // Our marks, but single-queue: a VMM could not open it as planned.
        sh_ok("ip link del vm2");
        let tap = TapPlan {
            multi_queue: false,
            vnet_hdr: true,
            owner: Some(0),
            group: Some(0),
            owner_required: true,
        };
        let mark = blixard_tap::LinkMark {
            group: 2833,
            alias: "blixard:vm2",
        };
        blixard_tap::create("vm2", &tap, mark).unwrap();
        // Status reports it (3); apply repairs the rest of vm2 around the
        // tap and names it (4): nobody holds it, but recreating is asked for.
        for (args, code) in [(&["status"][..], 3), (&["apply"], 4)] {
            let out = exits(cli(&scratch, &config, args), code);
            assert!(out.contains("tap vm2 has multi_queue=false"), "{out}");
        }
        exits(cli(&scratch, &config, &["status"]), 3);
        let repair = ok(cli(&scratch, &config, &["apply", "--allow-recreate"]));
        assert!(repair.contains("delete link vm2"), "{repair}");
        exits(cli(&scratch, &config, &["status"]), 0);
        assert_unchanged(&reference, &full_state(), "recreated");
    });
}
