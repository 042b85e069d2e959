//! Our table on a host of a cluster (`[bgp]`, issue 14 part 3): other
//! hosts' VMs are forwarded to and from unmasqueraded, believed as sources
//! only where their route points, and rules may name them. The single-host
//! table is unchanged.

mod common;

use blixard_addr::config::{Action, BgpConfig, Config, Selector};
use blixard_addr::plan::FirewallPlan;
use blixard_addr::state::ObservedFirewall;
use blixard_nat::Nft;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{planned, rule};

/// Host 1 of a cluster: VMs 1..=3 of a /16, rules naming VMs of host 2.
fn cluster(tweak: impl FnOnce(&mut Config)) -> FirewallPlan {
    planned(
        3,
        vec![
            rule("vm1", "vm70", Some(22), Action::Drop),
            rule("vm68-vm71", "vm2", None, Action::Drop),
            rule("vm2-vm66", "vm3", Some(80), Action::Drop),
        ],
        |c| {
            c.ipv4.pool = "10.0.0.0/16".parse().unwrap();
            c.bgp = Some(BgpConfig::new(64512, "198.51.100.1".parse().unwrap()));
            tweak(c);
        },
    )
}

fn rules_of(plan: &FirewallPlan, chain: &str) -> Vec<String> {
    blixard_nat::render::rules(plan)
        .into_iter()
        .filter(|(c, _)| *c == chain)
        .map(|(_, body)| serde_json::to_string(&body).unwrap())
        .collect()
}

#[test]
fn a_rule_naming_other_hosts_vms_matches_their_addresses_in_each_family() {
    let plan = cluster(|_| {});
    assert!(plan.cluster);
    assert_eq!(
        plan.rules[0].to,
        Selector::ClusterVms {
            local: vec![],
            remote_ipv4: vec!["10.0.0.70".parse().unwrap()],
            remote_ipv6: vec!["fec0::46".parse().unwrap()],
        }
    );
    // vm2-vm66: vm2 and vm3 are here, the rest on other hosts.
    let Selector::ClusterVms {
        local, remote_ipv4, ..
    } = &plan.rules[2].from
    else {
        panic!("{:?}", plan.rules[2].from)
    };
    assert_eq!(local, &["vm2", "vm3"]);
    assert_eq!(remote_ipv4.len(), 63);
    let forward = rules_of(&plan, "forward");
    let user: Vec<&String> = forward
        .iter()
        .filter(|r| r.contains("\"dport\"") || r.contains("\"vm2\""))
        .collect();
    // Rule 0: one body per family of vm70's addresses; rule 1: the same
    // for VMs 68..=71 to vm2; rule 2: the local taps, then each family.
    assert_eq!(user.len(), 2 + 2 + 3, "{user:#?}");
    assert!(
        user[0].contains("\"vm1\"") && user[0].contains("10.0.0.70"),
        "{}",
        user[0]
    );
    assert!(user[1].contains("fec0::46"), "{}", user[1]);
    assert!(user[2].contains("10.0.0.68") && user[2].contains("10.0.0.71"));
}

#[test]
fn other_hosts_vms_are_forwarded_unmasqueraded_and_checked_by_reverse_path() {
    let plan = cluster(|_| {});
    let forward = rules_of(&plan, "forward");
    assert!(
        !forward.iter().any(|r| r.contains("reject")),
        "no reject of pool addresses off our taps: {forward:#?}"
    );
    let to_remote = forward
        .iter()
        .position(|r| r.contains("\"iifname\"") && r.contains("daddr") && r.contains("10.0.0.0"))
        .expect("local VMs to the pool accepted");
    let from_remote = forward
        .iter()
        .position(|r| r.contains("\"oifname\"") && r.contains("saddr") && r.contains("10.0.0.0"))
        .expect("the pool to local VMs accepted");
    let last_user = forward
        .iter()
        .rposition(|r| r.contains("10.0.0.70"))
        .unwrap();
    assert!(
        last_user < to_remote && last_user < from_remote,
        "user rules come first"
    );
    let pre = rules_of(&plan, "prerouting");
    assert!(pre.iter().any(|r| r.contains("\"fib\"")), "{pre:#?}");
    let post = rules_of(&plan, "postrouting");
    assert_eq!(post.len(), 2);
    assert!(
        post.iter()
            .all(|r| r.contains("\"!=\"") && r.contains("daddr")),
        "{post:#?}"
    );

    // Without [bgp] the table is the single host's.
    let single = planned(3, vec![], |c| c.ipv4.pool = "10.0.0.0/16".parse().unwrap());
    assert!(!single.cluster);
    let forward = rules_of(&single, "forward");
    assert_eq!(forward.iter().filter(|r| r.contains("reject")).count(), 2);
    assert!(
        !rules_of(&single, "prerouting")
            .iter()
            .any(|r| r.contains("fib"))
    );
    assert!(
        !rules_of(&single, "postrouting")
            .iter()
            .any(|r| r.contains("\"!=\""))
    );
}

#[test]
fn a_clusters_table_applies_and_reads_back_in_sync() {
    in_fresh_netns("a_clusters_table_applies_and_reads_back_in_sync", || {
        sh_ok("ip link add ext0 type veth peer name ext1");
        let plan = cluster(|_| {});
        let nft = Nft::new();
        nft.apply(&plan).unwrap();
        assert_eq!(nft.observe(&plan).unwrap(), ObservedFirewall::InSync);
        let listed = sh_ok("nft list table inet blixard");
        for text in [
            "ip saddr 10.0.0.0/16 iifname != \"lo\" fib saddr . iif oif missing counter",
            "iifname @vm_ifaces ip daddr 10.0.0.0/16 accept",
            "oifname @vm_ifaces ip6 saddr fec0::/64 accept",
            "oifname \"ext0\" ip saddr 10.0.0.0/16 ip daddr != 10.0.0.0/16 masquerade",
            "iifname \"vm1\" ip6 daddr fec0::46 tcp dport 22 counter",
        ] {
            assert!(listed.contains(text), "missing {text:?} in:\n{listed}");
        }
    });
}
