//! Real kernel, real packets: every test builds its own "host" namespace
//! with stand-in VMs and an upstream network.

mod common;

use std::net::IpAddr;

use blixard_addr::config::{Action, Protocol, Selector};
use blixard_addr::plan::FirewallRule;
use blixard_addr::state::ObservedFirewall;
use blixard_nat::{FindingKind, Nft};
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::*;

const PROBE: &str = "table inet probe {
  chain input { type filter hook input priority 0; policy accept;
    ip saddr 10.0.0.2 icmp type echo-request counter
    ip6 saddr fec0::2 icmpv6 type echo-request counter
  }
}";

fn probe_counts(out: &str) -> (u64, u64) {
    (counter(out, "10.0.0.2"), counter(out, "fec0::2"))
}

#[test]
fn anti_spoofing_drops_other_vms_sources_before_host_and_vm() {
    in_fresh_netns(
        "anti_spoofing_drops_other_vms_sources_before_host_and_vm",
        || {
            let topo = Topology::new(3);
            let (vm1, vm3) = (topo.guest(1), topo.guest(3));
            // Probes: the target VM and the host count spoofed echo requests.
            vm3.sh_ok(&format!("nft -f - <<'EOF'\n{PROBE}\nEOF"));
            sh_ok(&format!("nft -f - <<'EOF'\n{PROBE}\nEOF"));
            vm1.sh_ok(
                "ip addr add 10.0.0.2/32 dev eth0 && ip -6 addr add fec0::2/128 dev eth0 nodad",
            );
            let spoof = || {
                // The replies would go to vm2, so the sender sees failure either
                // way: only the counters at the targets tell.
                for cmd in [
                    "ping -n -c1 -W1 -I 10.0.0.2 10.0.0.3",
                    "ping -n -c1 -W1 -I 10.0.0.2 10.0.0.0",
                    "ping -n -c1 -W1 -I fec0::2 fec0::3",
                    "ping -n -c1 -W1 -I fec0::2 fec0::",
                ] {
                    vm1.sh(cmd);
                }
            };
            let nft = Nft::new();

            // Control: with anti-spoofing off the spoofed packets do arrive.
            let mut p = plan(3, Some("ext0"));
            p.anti_spoofing = false;
            assert!(nft.apply(&p).unwrap());
            spoof();
            let vm3_before = probe_counts(&vm3.sh_ok("nft list table inet probe"));
            let host_before = probe_counts(&sh_ok("nft list table inet probe"));
            assert!(
                vm3_before.0 > 0 && vm3_before.1 > 0,
                "control: spoof reached vm3 {vm3_before:?}"
            );
            assert!(
                host_before.0 > 0 && host_before.1 > 0,
                "control: spoof reached host {host_before:?}"
            );

            p.anti_spoofing = true;
            assert!(nft.apply(&p).unwrap());
            spoof();
            assert_eq!(
                probe_counts(&vm3.sh_ok("nft list table inet probe")),
                vm3_before
            );
            assert_eq!(
                probe_counts(&sh_ok("nft list table inet probe")),
                host_before
            );
            let ours = sh_ok("nft list chain inet blixard prerouting");
            assert!(counter(&ours, "drop") >= 4, "our drop counter: {ours}");

            // Honest traffic from the same VM still flows, both families, and
            // link-local (neighbour discovery) keeps working.
            assert!(ping(vm1, "-I 10.0.0.1 10.0.0.3"));
            assert!(ping(vm1, "-I fec0::1 fec0::3"));
            assert!(ping(vm1, "-I 10.0.0.1 10.0.0.0"));
            assert!(ping(vm1, "-I fec0::1 fec0::"));
            let host_ll = sh_ok("ip -6 -o addr show dev vm1 scope link");
            let host_ll = host_ll
                .split_whitespace()
                .nth(3)
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            assert!(
                ping(vm1, &format!("{host_ll}%eth0")),
                "link-local to the host"
            );
        },
    );
}

#[test]
fn masquerade_reaches_upstream_that_has_no_route_back() {
    in_fresh_netns("masquerade_reaches_upstream_that_has_no_route_back", || {
        let topo = Topology::new(1);
        let vm1 = topo.guest(1);
        // Control: without our table the upstream cannot answer.
        assert!(!ping(vm1, UPSTREAM_V4));
        assert!(Nft::new().apply(&plan(1, Some("ext0"))).unwrap());
        assert!(ping(vm1, UPSTREAM_V4));
        assert!(ping(vm1, UPSTREAM_V6));

        let l4 = listen(&topo.upstream, "192.0.2.2:8080");
        let peer = tcp(vm1, &l4, "192.0.2.2:8080").expect("IPv4 TCP through NAT");
        assert_eq!(peer.ip(), HOST_EXT_V4.parse::<IpAddr>().unwrap());
        let l6 = listen(&topo.upstream, "[2001:db8::2]:8080");
        let peer = tcp(vm1, &l6, "[2001:db8::2]:8080").expect("IPv6 TCP through NAT");
        assert_eq!(peer.ip(), HOST_EXT_V6.parse::<IpAddr>().unwrap());
    });
}

#[test]
fn vm_to_vm_and_vm_to_host_keep_their_source_address() {
    in_fresh_netns("vm_to_vm_and_vm_to_host_keep_their_source_address", || {
        let topo = Topology::new(2);
        assert!(Nft::new().apply(&plan(2, Some("ext0"))).unwrap());
        let (vm1, vm2) = (topo.guest(1), topo.guest(2));
        let l4 = listen(vm2, "10.0.0.2:7000");
        assert_eq!(
            tcp(vm1, &l4, "10.0.0.2:7000").unwrap().ip().to_string(),
            "10.0.0.1"
        );
        let l6 = listen(vm2, "[fec0::2]:7000");
        assert_eq!(
            tcp(vm1, &l6, "[fec0::2]:7000").unwrap().ip().to_string(),
            "fec0::1"
        );
        // VM -> host (the gateway address on every tap).
        let host = std::net::TcpListener::bind("10.0.0.0:7001").unwrap();
        assert_eq!(
            tcp(vm1, &host, "10.0.0.0:7001").unwrap().ip().to_string(),
            "10.0.0.1"
        );
    });
}

#[test]
fn seed_rules_block_exactly_what_they_name() {
    in_fresh_netns("seed_rules_block_exactly_what_they_name", || {
        let topo = Topology::new(3);
        let (vm1, vm2, vm3) = (topo.guest(1), topo.guest(2), topo.guest(3));
        let mut p = plan(3, Some("ext0"));
        p.rules = seed_rules();
        assert!(Nft::new().apply(&p).unwrap());

        // Block VM 1 from accessing VM 2 ...
        assert!(!ping(vm1, "10.0.0.2"));
        assert!(!ping(vm1, "fec0::2"));
        let l2 = listen(vm2, "0.0.0.0:7000");
        assert!(tcp(vm1, &l2, "10.0.0.2:7000").is_none());
        // ... and nothing else.
        assert!(ping(vm1, "10.0.0.3"));
        assert!(ping(vm2, "10.0.0.1"));
        assert!(ping(vm2, "fec0::1"));
        assert!(ping(vm2, "10.0.0.3"));
        let l1 = listen(vm1, "0.0.0.0:7000");
        assert_eq!(
            tcp(vm2, &l1, "10.0.0.1:7000").unwrap().ip().to_string(),
            "10.0.0.2"
        );
        assert!(ping(vm1, UPSTREAM_V4));

        // Allow only SSH to VM 3 from outside (the upstream needs a route
        // to the pool for this test only).
        topo.upstream
            .sh_ok("ip route add 10.0.0.0/24 via 192.0.2.1");
        let ssh = listen(vm3, "10.0.0.3:22");
        let web = listen(vm3, "10.0.0.3:80");
        let peer = tcp(&topo.upstream, &ssh, "10.0.0.3:22").expect("TCP 22 from outside");
        assert_eq!(peer.ip().to_string(), UPSTREAM_V4);
        assert!(tcp(&topo.upstream, &web, "10.0.0.3:80").is_none());
        assert!(!ping(&topo.upstream, "10.0.0.3"));
        // Port 80 on vm3 is open to other VMs: only outside is filtered.
        assert!(tcp(vm1, &web, "10.0.0.3:80").is_some());
    });
}

#[test]
fn host_rules_judge_the_hosts_own_new_connections() {
    in_fresh_netns("host_rules_judge_the_hosts_own_new_connections", || {
        let topo = Topology::new(2);
        let (vm1, vm2) = (topo.guest(1), topo.guest(2));
        let mut p = plan(2, Some("ext0"));
        p.rules = vec![FirewallRule {
            from: Selector::Host,
            to: Selector::Vms(vec!["vm2".into()]),
            protocol: None,
            port: None,
            action: Action::Drop,
        }];
        let host_pings = |to: &str| {
            std::process::Command::new("ping")
                .args(["-c1", "-W1", "-n", "-q", to])
                .output()
                .unwrap()
                .status
                .success()
        };
        assert!(host_pings("10.0.0.2"), "reachable before the rule");
        assert!(Nft::new().apply(&p).unwrap());
        assert!(
            !host_pings("10.0.0.2"),
            "host -> vm2 passed a from=host drop"
        );
        assert!(!host_pings("fec0::2"), "host -> vm2 (IPv6) passed");
        assert!(host_pings("10.0.0.1"), "host -> vm1 blocked");
        // vm2's own connections to the host still get their replies.
        assert!(ping(vm2, "10.0.0.0"));
        assert!(ping(vm1, "10.0.0.2"), "VM -> VM is not the host's traffic");
    });
}

fn rich_plan() -> blixard_addr::plan::FirewallPlan {
    let mut p = plan(3, Some("ext0"));
    p.rules = seed_rules();
    p.rules.extend([
        FirewallRule {
            from: Selector::Cidr("10.0.0.0/28".parse().unwrap()),
            to: Selector::External,
            protocol: Some(Protocol::Udp),
            port: Some(53),
            action: Action::Accept,
        },
        FirewallRule {
            from: Selector::Vms(vec!["vm2".into(), "vm1".into()]),
            to: Selector::Host,
            protocol: Some(Protocol::Tcp),
            port: Some(8080),
            action: Action::Drop,
        },
        FirewallRule {
            from: Selector::Any,
            to: Selector::Cidr("fec0::3/128".parse().unwrap()),
            protocol: Some(Protocol::Icmp),
            port: None,
            action: Action::Drop,
        },
        FirewallRule {
            from: Selector::Vms(vec!["vm2".into()]),
            to: Selector::Any,
            protocol: None,
            port: Some(443),
            action: Action::Accept,
        },
        FirewallRule {
            from: Selector::Cidr("10.0.0.5/24".parse().unwrap()),
            to: Selector::Any,
            protocol: Some(Protocol::Icmp),
            port: None,
            action: Action::Accept,
        },
    ]);
    p.rules.push(FirewallRule {
        from: Selector::Host,
        to: Selector::Cidr("10.0.0.3/32".parse().unwrap()),
        protocol: Some(Protocol::Tcp),
        port: Some(22),
        action: Action::Accept,
    });
    p.host_ports = vec![67, 53, 53];
    p.host_input_default = Action::Drop;
    p
}

/// Our table as `observe` sees it, checked against the one-listing
/// `observe_and_scan` that `apply` uses.
fn observed(nft: &Nft, p: &blixard_addr::plan::FirewallPlan) -> ObservedFirewall {
    let alone = nft.observe(p).unwrap();
    assert_eq!(
        nft.observe_and_scan(p).unwrap().0,
        alone,
        "the two observers disagree"
    );
    alone
}

#[test]
fn apply_is_idempotent_and_observe_names_drift() {
    in_fresh_netns("apply_is_idempotent_and_observe_names_drift", || {
        let nft = Nft::new();
        let p = rich_plan();
        assert_eq!(observed(&nft, &p), ObservedFirewall::Absent);
        assert!(nft.apply(&p).unwrap());
        // The canonical comparison holds against what nft 1.0.6 prints back.
        assert_eq!(observed(&nft, &p), ObservedFirewall::InSync);
        let before = sh_ok("nft -a list ruleset");
        assert!(!nft.apply(&p).unwrap(), "second apply wrote");
        assert_eq!(
            sh_ok("nft -a list ruleset"),
            before,
            "ruleset changed (handles too)"
        );

        let differs = |want: &[&str]| match observed(&nft, &p) {
            ObservedFirewall::Differs(d) => {
                let all = d.join("\n");
                for w in want {
                    assert!(all.contains(w), "{w:?} not in differences:\n{all}");
                }
            }
            other => panic!("expected Differs, got {other:?}"),
        };
        sh_ok(r#"nft delete element inet blixard vm_v4 '{ "vm2" . 10.0.0.2 }'"#);
        differs(&["set vm_v4 lacks vm2 . 10.0.0.2"]);
        assert!(nft.apply(&p).unwrap());
        assert_eq!(observed(&nft, &p), ObservedFirewall::InSync);

        let handle = sh_ok("nft -a list chain inet blixard postrouting")
            .lines()
            .find(|l| l.contains("ip saddr") && l.contains("masquerade"))
            .and_then(|l| l.split("# handle ").nth(1))
            .unwrap()
            .trim()
            .to_string();
        sh_ok(&format!(
            "nft delete rule inet blixard postrouting handle {handle}"
        ));
        differs(&["chain postrouting has 1 rule(s), the plan wants 2"]);
        sh_ok("nft flush chain inet blixard input && nft delete chain inet blixard input");
        differs(&["chain input is missing", "chain postrouting"]);
        sh_ok("nft chain inet blixard forward '{ policy drop; }'");
        differs(&["chain forward is"]);
        assert!(nft.apply(&p).unwrap());
        assert_eq!(observed(&nft, &p), ObservedFirewall::InSync);

        // Per-VM wiring touches set elements only.
        let rules_before = sh_ok("nft -a list chain inet blixard forward");
        nft.add_vm(TABLE, &vm(4)).unwrap();
        nft.add_vm(TABLE, &vm(4)).unwrap();
        differs(&[
            "set vm_ifaces has extra vm4",
            "set vm_v6 has extra vm4 . fec0::4",
        ]);
        let mut p4 = p.clone();
        p4.vms.push(vm(4));
        assert_eq!(nft.observe(&p4).unwrap(), ObservedFirewall::InSync);
        assert_eq!(
            sh_ok("nft -a list chain inet blixard forward"),
            rules_before
        );
        nft.remove_vm(TABLE, &vm(4)).unwrap();
        nft.remove_vm(TABLE, &vm(4)).unwrap();
        assert_eq!(observed(&nft, &p), ObservedFirewall::InSync);

        assert!(nft.delete(TABLE).unwrap());
        nft.remove_vm(TABLE, &vm(1)).unwrap();
        let err = nft.add_vm(TABLE, &vm(1)).unwrap_err();
        assert!(err.to_string().contains("vm1"), "{err}");
    });
}

#[test]
fn foreign_tables_are_byte_identical_after_apply_and_delete() {
    in_fresh_netns(
        "foreign_tables_are_byte_identical_after_apply_and_delete",
        || {
            sh_ok(
                "nft -f - <<'EOF'
table ip foreign {
  set blocked { type ipv4_addr; elements = { 198.51.100.7 } }
  chain fw_forward { type filter hook forward priority 10; policy accept;
    ip saddr @blocked counter drop
    iifname \"lan0\" tcp dport 25 reject
  }
  chain post { type nat hook postrouting priority srcnat; oifname \"lan0\" masquerade; }
}
table inet blixard2 {
  chain input { type filter hook input priority 0; tcp dport 22 accept; }
}
EOF",
            );
            let list = || sh_ok("nft -a list table ip foreign && nft -a list table inet blixard2");
            let before = list();
            let nft = Nft::new();
            assert!(nft.apply(&plan(3, Some("ext0"))).unwrap());
            assert_eq!(list(), before);
            assert!(nft.delete(TABLE).unwrap());
            assert_eq!(list(), before);
            assert!(!nft.delete(TABLE).unwrap());
            assert_eq!(
                nft.observe(&plan(3, None)).unwrap(),
                ObservedFirewall::Absent
            );
            assert_eq!(list(), before);
        },
    );
}

#[test]
fn scan_reports_foreign_drop_policies_with_a_working_fix() {
    in_fresh_netns(
        "scan_reports_foreign_drop_policies_with_a_working_fix",
        || {
            let topo = Topology::new(2);
            let nft = Nft::new();
            let p = plan(2, Some("ext0"));
            nft.apply(&p).unwrap();
            assert_eq!(
                nft.scan(&p).unwrap(),
                vec![],
                "our own table is not a finding"
            );

            // What iptables-nft makes for Docker: ip filter FORWARD policy drop.
            sh_ok(
                "nft add table ip filter && \
             nft add chain ip filter FORWARD '{ type filter hook forward priority 0; policy drop; }' && \
             nft add chain ip filter DOCKER-USER",
            );
            let findings = nft.scan(&p).unwrap();
            assert_eq!(findings.len(), 1, "{findings:#?}");
            let (ours, same) = nft.observe_and_scan(&p).unwrap();
            assert_eq!((ours, &same), (ObservedFirewall::InSync, &findings));
            let f = &findings[0];
            assert_eq!(
                (
                    f.kind,
                    f.family.as_str(),
                    f.table.as_str(),
                    f.chain.as_str()
                ),
                (FindingKind::PolicyDrop, "ip", "filter", "FORWARD")
            );
            assert!(
                f.fix
                    .contains("iptables -I DOCKER-USER -s 10.0.0.0/24 -j ACCEPT"),
                "{}",
                f.fix
            );
            assert!(f.problem.contains("moby/moby#39439"));
            sh_ok("nft delete table ip filter");

            // A native nft table with policy drop and an unconditional drop rule:
            // it really breaks VM -> VM, and the suggested fix really repairs it.
            sh_ok(
                "nft add table inet fw && \
             nft add chain inet fw fw_forward '{ type filter hook forward priority 0; policy drop; }' && \
             nft add rule inet fw fw_forward counter drop",
            );
            assert!(!ping(topo.guest(1), "10.0.0.2"));
            let findings = nft.scan(&p).unwrap();
            let kinds: Vec<_> = findings.iter().map(|f| f.kind).collect();
            assert_eq!(
                kinds,
                [FindingKind::PolicyDrop, FindingKind::DropRule],
                "{findings:#?}"
            );
            assert!(
                findings
                    .iter()
                    .all(|f| f.table == "fw" && f.chain == "fw_forward")
            );
            let fix = &findings[0].fix;
            assert!(
                fix.starts_with("nft insert rule inet fw fw_forward ip saddr 10.0.0.0/24 accept"),
                "{fix}"
            );
            sh_ok(fix);
            assert!(ping(topo.guest(1), "10.0.0.2"));
            assert!(ping(topo.guest(1), "fec0::2"));
            assert!(ping(topo.guest(1), UPSTREAM_V4));
        },
    );
}

#[test]
fn applies_4096_vms_in_one_transaction() {
    in_fresh_netns("applies_4096_vms_in_one_transaction", || {
        let nft = Nft::new();
        let p = plan(4096, Some("ext0"));
        assert!(nft.apply(&p).unwrap());
        assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);
        assert!(!nft.apply(&p).unwrap());
        let v4 = sh_ok("nft list set inet blixard vm_v4");
        assert!(
            v4.contains("\"vm4096\" . 10.0.16.0"),
            "last element missing"
        );
    });
}

#[test]
fn planner_output_applies_and_stays_in_sync() {
    use blixard_addr::config::{Config, RuleConfig};
    use blixard_addr::planner::{HostFacts, build_plan};
    in_fresh_netns("planner_output_applies_and_stays_in_sync", || {
        let mut config = Config::default();
        config.firewall.rules = vec![
            RuleConfig {
                from: "vm1".into(),
                to: "vm2".into(),
                action: Action::Drop,
                protocol: None,
                port: None,
            },
            RuleConfig {
                from: "external".into(),
                to: "vm3".into(),
                action: Action::Accept,
                protocol: Some(Protocol::Tcp),
                port: Some(22),
            },
            RuleConfig {
                from: "vm10-vm20".into(),
                to: "host".into(),
                action: Action::Drop,
                protocol: Some(Protocol::Udp),
                port: Some(5353),
            },
        ];
        let facts = HostFacts {
            external_interface: Some("ext0".into()),
            ..HostFacts::default()
        };
        let plan = build_plan(&config, &facts).unwrap().firewall;
        assert_eq!(plan.vms.len(), 64);
        let nft = Nft::new();
        assert!(nft.apply(&plan).unwrap());
        assert_eq!(nft.observe(&plan).unwrap(), ObservedFirewall::InSync);
        assert!(!nft.apply(&plan).unwrap());
        let input = sh_ok("nft list chain inet blixard input");
        assert!(input.contains("udp dport 5353"), "{input}");
    });
}

#[test]
fn errors_carry_nft_stderr_errno_and_the_object() {
    let missing = Nft::with_binary("/nonexistent/nft")
        .observe(&plan(1, None))
        .unwrap_err();
    assert!(
        missing.to_string().contains("apt-get install nftables"),
        "{missing}"
    );
    in_fresh_netns("errors_carry_nft_stderr_errno_and_the_object", || {
        let nft = Nft::new();
        let err = nft.add_vm("nosuch", &vm(7)).unwrap_err();
        assert!(
            matches!(err, blixard_nat::NatError::NoTable { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("vm7") && err.to_string().contains("nosuch"),
            "{err}"
        );
        let mut batch = nftables::batch::Batch::new();
        batch.delete(blixard_nat::render::table("nosuch"));
        let err = nft
            .run_batch(&batch.to_nftables(), "delete table inet nosuch")
            .unwrap_err();
        assert_eq!(err.errno(), Some(2), "{err}");
        assert!(
            err.to_string().contains("No such file or directory"),
            "{err}"
        );
        assert!(
            err.to_string().contains("delete table inet nosuch"),
            "{err}"
        );
    });
}

#[test]
fn the_legacy_scan_reads_existing_rules_and_creates_no_tables() {
    in_fresh_netns("the_legacy_scan_reads_existing_rules", || {
        let nft = Nft::new();
        let p = plan(2, Some("ext0"));
        let legacy_tables =
            || std::fs::read_to_string("/proc/thread-self/net/ip_tables_names").unwrap_or_default();
        assert_eq!(nft.scan(&p).unwrap(), vec![]);
        // `iptables-legacy -S` would have created the filter table.
        assert_eq!(legacy_tables(), "", "the scan created a legacy table");
        if std::process::Command::new("iptables-legacy")
            .arg("-V")
            .output()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "iptables-legacy is missing under CI (cargo xtask deps installs it)"
            );
            eprintln!("*** SKIPPED the legacy half: iptables-legacy is not installed ***");
            return;
        }
        sh_ok("iptables-legacy -w -P FORWARD DROP");
        let findings = nft.scan(&p).unwrap();
        assert!(
            findings
                .iter()
                .any(|f| f.kind == FindingKind::LegacyPolicyDrop),
            "{findings:#?}"
        );
    });
}
