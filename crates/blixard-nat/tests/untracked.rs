//! VM <-> VM traffic bypasses connection tracking when no user rule judges
//! it (issue 17: conntrack was the table's largest per-packet cost), and
//! every guarantee still holds: anti-spoofing, the gateway and the uplink
//! stay tracked, and a rule between VMs brings the state back.

mod common;

use blixard_addr::config::{Action, Selector};
use blixard_addr::plan::{FirewallRule, RuleChain};
use blixard_nat::Nft;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::*;

/// Conntrack entries of this namespace towards TCP port `port`.
fn tracked(port: u16) -> usize {
    sh_ok("cat /proc/net/nf_conntrack")
        .lines()
        .filter(|l| l.contains(&format!("dport={port} ")))
        .count()
}

#[test]
fn vm_to_vm_is_untracked_while_the_gateway_and_the_uplink_stay_tracked() {
    in_fresh_netns(
        "vm_to_vm_is_untracked_while_the_gateway_and_the_uplink_stay_tracked",
        || {
            let topo = Topology::new(2);
            let p = plan(2, Some("ext0"));
            assert!(!p.untracked_between_vms().is_empty());
            Nft::new().apply(&p).unwrap();
            let (vm1, vm2) = (topo.guest(1), topo.guest(2));

            let l4 = listen(vm2, "10.0.0.2:7000");
            assert_eq!(
                tcp(vm1, &l4, "10.0.0.2:7000").unwrap().ip().to_string(),
                "10.0.0.1"
            );
            let l6 = listen(vm2, "[fec0::2]:7001");
            assert_eq!(
                tcp(vm1, &l6, "[fec0::2]:7001").unwrap().ip().to_string(),
                "fec0::1"
            );
            assert_eq!((tracked(7000), tracked(7001)), (0, 0));

            // VM -> host: the input policy is stateful, so it is tracked.
            let host = std::net::TcpListener::bind("10.0.0.0:7002").unwrap();
            assert!(tcp(vm1, &host, "10.0.0.0:7002").is_some());
            assert_eq!(tracked(7002), 1);
            // VM -> uplink: masqueraded, so tracked.
            let up = listen(&topo.upstream, "192.0.2.2:7003");
            let peer = tcp(vm1, &up, "192.0.2.2:7003").expect("TCP through NAT");
            assert_eq!(peer.ip().to_string(), HOST_EXT_V4);
            assert_eq!(tracked(7003), 1);

            // A source that is not the VM's own is dropped before it could
            // go untracked, and counted.
            vm1.sh_ok("ip addr add 10.0.0.9/32 dev eth0");
            assert!(!ping(vm1, "-I 10.0.0.9 10.0.0.2"));
            let out = sh_ok("nft list chain inet blixard prerouting");
            assert!(counter(&out, "@vm_ifaces") > 0, "{out}");
            assert!(ping(vm1, "10.0.0.2"));
        },
    );
}

#[test]
fn a_rule_between_vms_keeps_their_traffic_tracked_so_replies_pass() {
    in_fresh_netns(
        "a_rule_between_vms_keeps_their_traffic_tracked_so_replies_pass",
        || {
            let topo = Topology::new(2);
            let mut p = plan(2, Some("ext0"));
            // vm2 may open nothing to vm1; vm1's connections to vm2 still
            // get their replies, which only conntrack knows for replies.
            p.rules = vec![FirewallRule {
                from: Selector::Vms(vec!["vm2".into()]),
                to: Selector::Vms(vec!["vm1".into()]),
                protocol: None,
                port: None,
                action: Action::Drop,
                chains: vec![RuleChain::Forward],
            }];
            assert!(p.untracked_between_vms().is_empty());
            Nft::new().apply(&p).unwrap();
            let (vm1, vm2) = (topo.guest(1), topo.guest(2));
            let l2 = listen(vm2, "10.0.0.2:7010");
            assert!(tcp(vm1, &l2, "10.0.0.2:7010").is_some());
            assert_eq!(tracked(7010), 1);
            let l1 = listen(vm1, "10.0.0.1:7011");
            assert!(tcp(vm2, &l1, "10.0.0.1:7011").is_none());
            let rules = sh_ok("nft list chain inet blixard prerouting");
            assert!(!rules.contains("notrack"), "{rules}");
        },
    );
}
