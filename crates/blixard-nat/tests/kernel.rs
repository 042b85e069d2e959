//! Real kernel, real packets: every test builds its own "host" namespace
//! with stand-in VMs and an upstream network.

mod common;

use std::net::IpAddr;

use blixard_addr::config::{Action, Protocol, Selector};
use blixard_addr::plan::{FirewallRule, RuleChain};
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
            nft.apply(&p).unwrap();
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
            nft.apply(&p).unwrap();
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
        Nft::new().apply(&plan(1, Some("ext0"))).unwrap();
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
        Nft::new().apply(&plan(2, Some("ext0"))).unwrap();
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
        Nft::new().apply(&p).unwrap();

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
            chains: vec![RuleChain::OutputToVms],
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
        Nft::new().apply(&p).unwrap();
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
            chains: vec![RuleChain::Forward, RuleChain::OutputToExternal],
        },
        FirewallRule {
            from: Selector::Vms(vec!["vm2".into(), "vm1".into()]),
            to: Selector::Host,
            protocol: Some(Protocol::Tcp),
            port: Some(8080),
            action: Action::Drop,
            chains: vec![RuleChain::InputFromVms],
        },
        FirewallRule {
            from: Selector::Any,
            to: Selector::Cidr("fec0::3/128".parse().unwrap()),
            protocol: Some(Protocol::Icmp),
            port: None,
            action: Action::Drop,
            chains: vec![RuleChain::Forward],
        },
        FirewallRule {
            from: Selector::Vms(vec!["vm2".into()]),
            to: Selector::Any,
            protocol: None,
            port: Some(443),
            action: Action::Accept,
            chains: vec![RuleChain::Forward],
        },
        FirewallRule {
            from: Selector::Cidr("10.0.0.5/24".parse().unwrap()),
            to: Selector::Any,
            protocol: Some(Protocol::Icmp),
            port: None,
            action: Action::Accept,
            chains: vec![RuleChain::Forward],
        },
    ]);
    p.rules.push(FirewallRule {
        from: Selector::Host,
        to: Selector::Cidr("10.0.0.3/32".parse().unwrap()),
        protocol: Some(Protocol::Tcp),
        port: Some(22),
        action: Action::Accept,
        chains: vec![RuleChain::OutputToVms],
    });
    p.rules.push(FirewallRule {
        from: Selector::External,
        to: Selector::Host,
        protocol: Some(Protocol::Tcp),
        port: Some(2222),
        action: Action::Drop,
        chains: vec![RuleChain::InputFromExternal],
    });
    p.allow_networks = vec![
        "192.168.50.0/24".parse().unwrap(),
        "fd00:50::/64".parse().unwrap(),
    ];
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
        nft.apply(&p).unwrap();
        // The canonical comparison holds against what nft 1.0.6 prints back.
        assert_eq!(observed(&nft, &p), ObservedFirewall::InSync);
        // Whether to write at all is the diff's decision (a no-op apply
        // sends nothing); a second replace must give the same table.
        let before = sh_ok("nft list ruleset");
        nft.apply(&p).unwrap();
        assert_eq!(sh_ok("nft list ruleset"), before, "second replace differs");
        assert_eq!(observed(&nft, &p), ObservedFirewall::InSync);

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
        nft.apply(&p).unwrap();
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
        nft.apply(&p).unwrap();
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

        nft.delete(TABLE).unwrap();
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
            nft.apply(&plan(3, Some("ext0"))).unwrap();
            assert_eq!(list(), before);
            nft.delete(TABLE).unwrap();
            assert_eq!(list(), before);
            // Deleting an absent table is not an error and touches nothing.
            nft.delete(TABLE).unwrap();
            assert_eq!(list(), before);
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
        nft.apply(&p).unwrap();
        assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);
        nft.apply(&p).unwrap();
        assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);
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
        nft.apply(&plan).unwrap();
        assert_eq!(nft.observe(&plan).unwrap(), ObservedFirewall::InSync);
        nft.apply(&plan).unwrap();
        assert_eq!(nft.observe(&plan).unwrap(), ObservedFirewall::InSync);
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

// ---------------------------------------------------------------------------
// Firewall semantics per (from, to) selector pair: each test applies the
// planner's table without the rule (the control: every probe behaves as
// the defaults say), then with it, and checks every probe's outcome and
// that the rule itself counted, in each chain the plan put it in.

use blixard_addr::config::{Config, RuleConfig};
use std::io::ErrorKind;

/// A probe: TCP from `.0` to a listener in `.1` at `.2`; whether it must
/// connect without the rule (`.3`) and with it (`.4`).
struct P(End, End, &'static str, bool, bool);

fn check(topo: &Topology, p: &P, with: bool) {
    let want = if with { p.4 } else { p.3 };
    let got = tcp_probe(topo, p.0, p.1, p.2);
    let stage = if with {
        "with the rule"
    } else {
        "control, without the rule"
    };
    match (want, got) {
        (true, Ok(_)) | (false, Err(ErrorKind::TimedOut)) => {}
        (true, Err(e)) => panic!(
            "{:?} -> {:?} {}: {stage}: must connect, got {e:?}",
            p.0, p.1, p.2
        ),
        // A drop shows as a timeout; anything else (unreachable, refused)
        // means the probe did not test the rule.
        (false, got) => panic!(
            "{:?} -> {:?} {}: {stage}: must be dropped, got {got:?}",
            p.0, p.1, p.2
        ),
    }
}

fn pair(
    n: u32,
    rules: Vec<RuleConfig>,
    tweak: fn(&mut Config),
    route_back: bool,
    probes: &[P],
    counted_in: &[&str],
    needle: &str,
) {
    let topo = Topology::new(n);
    if route_back {
        // Only for probes from the upstream into the pool.
        topo.upstream.sh_ok(
            "ip route add 10.0.0.0/24 via 192.0.2.1 && ip -6 route add fec0::/64 via 2001:db8::1",
        );
    }
    let nft = Nft::new();
    nft.apply(&planned(n, Vec::new(), tweak)).unwrap();
    for p in probes {
        check(&topo, p, false);
    }
    let plan = planned(n, rules, tweak);
    nft.apply(&plan).unwrap();
    for p in probes {
        check(&topo, p, true);
    }
    for chain in counted_in {
        let listing = sh_ok(&format!("nft list chain inet blixard {chain}"));
        assert!(
            counter(&listing, needle) > 0,
            "the rule did not count in {chain}:\n{listing}"
        );
    }
}

fn keep(_: &mut Config) {}

fn inbound_accept(c: &mut Config) {
    c.firewall.inbound_default = Action::Accept;
}

use End::{Host, Up, Vm};

#[test]
fn pair_vm_to_vm() {
    in_fresh_netns("pair_vm_to_vm", || {
        pair(
            3,
            vec![rule("vm1-vm2", "vm3", Some(7101), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Vm(3), "10.0.0.3:7101", true, false),
                P(Vm(2), Vm(3), "[fec0::3]:7101", true, false),
                P(Vm(3), Vm(1), "10.0.0.1:7101", true, true),
                P(Vm(1), Vm(2), "10.0.0.2:7101", true, true),
            ],
            &["forward"],
            "dport 7101",
        );
    });
}

#[test]
fn pair_vm_to_host() {
    in_fresh_netns("pair_vm_to_host", || {
        pair(
            2,
            vec![rule("vm1", "host", Some(7102), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Host, "10.0.0.0:7102", true, false),
                P(Vm(1), Host, "[fec0::]:7102", true, false),
                // The host is all its addresses, the uplink's too.
                P(Vm(1), Host, "192.0.2.1:7102", true, false),
                P(Vm(2), Host, "10.0.0.0:7102", true, true),
                P(Up, Host, "192.0.2.1:7102", true, true),
            ],
            &["input"],
            "dport 7102",
        );
    });
}

#[test]
fn pair_vm_to_a_host_address() {
    in_fresh_netns("pair_vm_to_a_host_address", || {
        pair(
            3,
            vec![
                rule("vm2", "10.0.0.0", Some(7103), Action::Drop),
                rule("vm2", "fec0::", Some(7103), Action::Drop),
            ],
            keep,
            false,
            &[
                P(Vm(2), Host, "10.0.0.0:7103", true, false),
                P(Vm(2), Host, "[fec0::]:7103", true, false),
                // Only the address named.
                P(Vm(2), Host, "192.0.2.1:7103", true, true),
                P(Vm(2), Vm(3), "10.0.0.3:7103", true, true),
                P(Vm(1), Host, "10.0.0.0:7103", true, true),
            ],
            &["input"],
            "dport 7103",
        );
    });
}

#[test]
fn pair_vm_to_an_address_the_host_holds_elsewhere() {
    // 192.0.2.1 is the uplink's address: the planner cannot know it, so a
    // CIDR destination outside the pools is judged where it is delivered
    // as well as where it is forwarded.
    in_fresh_netns("pair_vm_to_an_address_the_host_holds_elsewhere", || {
        pair(
            2,
            vec![rule("vm1", "192.0.2.0/24", Some(7104), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Host, "192.0.2.1:7104", true, false),
                P(Vm(1), Up, "192.0.2.2:7104", true, false),
                P(Vm(1), Host, "10.0.0.0:7104", true, true),
                P(Vm(2), Up, "192.0.2.2:7104", true, true),
            ],
            &["input", "forward"],
            "dport 7104",
        );
    });
}

#[test]
fn pair_vm_to_a_cidr_holding_the_gateway_and_vms() {
    in_fresh_netns("pair_vm_to_a_cidr_holding_the_gateway_and_vms", || {
        pair(
            2,
            vec![rule("vm1", "10.0.0.0/24", Some(7105), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Vm(2), "10.0.0.2:7105", true, false),
                P(Vm(1), Host, "10.0.0.0:7105", true, false),
                P(Vm(1), Up, "192.0.2.2:7105", true, true),
                P(Vm(1), Host, "192.0.2.1:7105", true, true),
            ],
            &["input", "forward"],
            "dport 7105",
        );
    });
}

#[test]
fn pair_vm_to_external() {
    in_fresh_netns("pair_vm_to_external", || {
        pair(
            2,
            vec![rule("vm1", "external", Some(7106), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Up, "192.0.2.2:7106", true, false),
                P(Vm(1), Up, "[2001:db8::2]:7106", true, false),
                P(Vm(2), Up, "192.0.2.2:7106", true, true),
                P(Vm(1), Vm(2), "10.0.0.2:7106", true, true),
                P(Vm(1), Host, "10.0.0.0:7106", true, true),
            ],
            &["forward"],
            "dport 7106",
        );
    });
}

#[test]
fn pair_vm_to_any() {
    in_fresh_netns("pair_vm_to_any", || {
        pair(
            3,
            vec![rule("vm1", "any", Some(7107), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Vm(2), "10.0.0.2:7107", true, false),
                P(Vm(1), Up, "192.0.2.2:7107", true, false),
                // `any` is everything forwarded, not the host.
                P(Vm(1), Host, "10.0.0.0:7107", true, true),
                P(Vm(2), Vm(3), "10.0.0.3:7107", true, true),
            ],
            &["forward"],
            "dport 7107",
        );
    });
}

#[test]
fn pair_host_to_vm() {
    in_fresh_netns("pair_host_to_vm", || {
        pair(
            2,
            vec![rule("host", "vm2", Some(7108), Action::Drop)],
            keep,
            false,
            &[
                P(Host, Vm(2), "10.0.0.2:7108", true, false),
                P(Host, Vm(2), "[fec0::2]:7108", true, false),
                P(Host, Vm(1), "10.0.0.1:7108", true, true),
                P(Vm(1), Vm(2), "10.0.0.2:7108", true, true),
            ],
            &["output"],
            "dport 7108",
        );
    });
}

#[test]
fn pair_host_to_any() {
    in_fresh_netns("pair_host_to_any", || {
        sh_ok("ip link set lo up");
        pair(
            2,
            vec![rule("host", "any", Some(7109), Action::Drop)],
            keep,
            false,
            &[
                P(Host, Vm(1), "10.0.0.1:7109", true, false),
                P(Host, Vm(2), "[fec0::2]:7109", true, false),
                // The host's own other traffic: loopback, its own gateway
                // address, the networks that are not VMs.
                P(Host, Host, "127.0.0.1:7109", true, true),
                P(Host, Host, "10.0.0.0:7109", true, true),
                P(Host, Up, "192.0.2.2:7109", true, true),
            ],
            &["output"],
            "dport 7109",
        );
    });
}

#[test]
fn host_to_any_without_a_port_drops_only_what_goes_to_vms() {
    in_fresh_netns("host_to_any_without_a_port", || {
        pair(
            2,
            vec![rule("host", "any", None, Action::Drop)],
            keep,
            false,
            &[
                P(Host, Vm(1), "10.0.0.1:7110", true, false),
                P(Host, Host, "127.0.0.1:7110", true, true),
                P(Host, Host, "[::1]:7110", true, true),
                P(Host, Up, "192.0.2.2:7110", true, true),
                P(Host, Up, "[2001:db8::2]:7110", true, true),
                // VM -> host is not the host's new connection.
                P(Vm(1), Host, "10.0.0.0:7110", true, true),
            ],
            &["output"],
            "drop",
        );
    });
}

#[test]
fn pair_host_to_external() {
    in_fresh_netns("pair_host_to_external", || {
        pair(
            2,
            vec![rule("host", "external", Some(7111), Action::Drop)],
            keep,
            false,
            &[
                P(Host, Up, "192.0.2.2:7111", true, false),
                P(Host, Vm(1), "10.0.0.1:7111", true, true),
                // Forwarded VM traffic is not the host's.
                P(Vm(1), Up, "192.0.2.2:7111", true, true),
            ],
            &["output"],
            "dport 7111",
        );
    });
}

#[test]
fn pair_host_to_a_vm_address() {
    in_fresh_netns("pair_host_to_a_vm_address", || {
        pair(
            3,
            vec![rule("host", "10.0.0.2", Some(7112), Action::Drop)],
            keep,
            false,
            &[
                P(Host, Vm(2), "10.0.0.2:7112", true, false),
                P(Host, Vm(3), "10.0.0.3:7112", true, true),
                P(Vm(1), Vm(2), "10.0.0.2:7112", true, true),
            ],
            &["output"],
            "dport 7112",
        );
    });
}

#[test]
fn pair_host_address_to_vm() {
    in_fresh_netns("pair_host_address_to_vm", || {
        pair(
            2,
            vec![rule("10.0.0.0", "vm2", Some(7113), Action::Drop)],
            keep,
            false,
            &[
                P(Host, Vm(2), "10.0.0.2:7113", true, false),
                P(Host, Vm(1), "10.0.0.1:7113", true, true),
                P(Vm(1), Vm(2), "10.0.0.2:7113", true, true),
            ],
            &["output"],
            "dport 7113",
        );
    });
}

#[test]
fn pair_external_to_vm() {
    in_fresh_netns("pair_external_to_vm", || {
        // inbound_default = "drop": the control cannot connect, the rule opens it.
        pair(
            3,
            vec![rule("external", "vm3", Some(7114), Action::Accept)],
            keep,
            true,
            &[
                P(Up, Vm(3), "10.0.0.3:7114", false, true),
                P(Up, Vm(3), "[fec0::3]:7114", false, true),
                P(Up, Vm(2), "10.0.0.2:7114", false, false),
                P(Vm(1), Vm(3), "10.0.0.3:7114", true, true),
            ],
            &["forward"],
            "dport 7114",
        );
    });
}

#[test]
fn pair_external_to_host() {
    in_fresh_netns("pair_external_to_host", || {
        pair(
            2,
            vec![rule("external", "host", Some(7115), Action::Drop)],
            keep,
            true,
            &[
                P(Up, Host, "192.0.2.1:7115", true, false),
                P(Up, Host, "[2001:db8::1]:7115", true, false),
                P(Up, Host, "10.0.0.0:7115", true, false),
                P(Vm(1), Host, "10.0.0.0:7115", true, true),
                P(Host, Host, "192.0.2.1:7115", true, true),
            ],
            &["input"],
            "dport 7115",
        );
    });
}

#[test]
fn pair_external_to_any() {
    in_fresh_netns("pair_external_to_any", || {
        pair(
            2,
            vec![rule("external", "any", Some(7116), Action::Drop)],
            inbound_accept,
            true,
            &[
                P(Up, Vm(1), "10.0.0.1:7116", true, false),
                // `any` is not the host.
                P(Up, Host, "192.0.2.1:7116", true, true),
                P(Vm(1), Up, "192.0.2.2:7116", true, true),
                P(Vm(1), Vm(2), "10.0.0.2:7116", true, true),
            ],
            &["forward"],
            "dport 7116",
        );
    });
}

#[test]
fn pair_external_to_a_vm_address() {
    in_fresh_netns("pair_external_to_a_vm_address", || {
        pair(
            3,
            vec![rule("external", "10.0.0.3", Some(7117), Action::Drop)],
            inbound_accept,
            true,
            &[
                P(Up, Vm(3), "10.0.0.3:7117", true, false),
                P(Up, Vm(2), "10.0.0.2:7117", true, true),
                P(Vm(1), Vm(3), "10.0.0.3:7117", true, true),
            ],
            &["forward"],
            "dport 7117",
        );
    });
}

#[test]
fn pair_any_to_vm() {
    in_fresh_netns("pair_any_to_vm", || {
        pair(
            3,
            vec![rule("any", "vm2", Some(7118), Action::Drop)],
            inbound_accept,
            true,
            &[
                P(Vm(1), Vm(2), "10.0.0.2:7118", true, false),
                P(Up, Vm(2), "10.0.0.2:7118", true, false),
                // `any` is not the host.
                P(Host, Vm(2), "10.0.0.2:7118", true, true),
                P(Vm(1), Vm(3), "10.0.0.3:7118", true, true),
            ],
            &["forward"],
            "dport 7118",
        );
    });
}

#[test]
fn pair_any_to_host() {
    in_fresh_netns("pair_any_to_host", || {
        sh_ok("ip link set lo up");
        pair(
            2,
            vec![rule("any", "host", Some(7119), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Host, "10.0.0.0:7119", true, false),
                P(Vm(2), Host, "[fec0::]:7119", true, false),
                // Host-scoped rules judge VM <-> host traffic only.
                P(Up, Host, "192.0.2.1:7119", true, true),
                P(Host, Host, "127.0.0.1:7119", true, true),
            ],
            &["input"],
            "dport 7119",
        );
    });
}

#[test]
fn pair_any_to_external() {
    in_fresh_netns("pair_any_to_external", || {
        pair(
            2,
            vec![rule("any", "external", Some(7120), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Up, "192.0.2.2:7120", true, false),
                P(Vm(2), Up, "[2001:db8::2]:7120", true, false),
                P(Host, Up, "192.0.2.2:7120", true, true),
                P(Vm(1), Vm(2), "10.0.0.2:7120", true, true),
            ],
            &["forward"],
            "dport 7120",
        );
    });
}

#[test]
fn pair_any_to_any() {
    in_fresh_netns("pair_any_to_any", || {
        pair(
            2,
            vec![rule("any", "any", Some(7121), Action::Drop)],
            inbound_accept,
            true,
            &[
                P(Vm(1), Vm(2), "10.0.0.2:7121", true, false),
                P(Vm(1), Up, "192.0.2.2:7121", true, false),
                P(Up, Vm(1), "10.0.0.1:7121", true, false),
                P(Vm(1), Host, "10.0.0.0:7121", true, true),
                P(Host, Vm(1), "10.0.0.1:7121", true, true),
                P(Up, Host, "192.0.2.1:7121", true, true),
            ],
            &["forward"],
            "dport 7121",
        );
    });
}

#[test]
fn pair_cidr_to_vm() {
    in_fresh_netns("pair_cidr_to_vm", || {
        pair(
            3,
            vec![
                rule("192.0.2.0/24", "vm3", Some(7122), Action::Drop),
                rule("10.0.0.1", "vm2", Some(7122), Action::Drop),
            ],
            inbound_accept,
            true,
            &[
                P(Up, Vm(3), "10.0.0.3:7122", true, false),
                P(Vm(1), Vm(2), "10.0.0.2:7122", true, false),
                P(Up, Vm(2), "10.0.0.2:7122", true, true),
                P(Vm(1), Vm(3), "10.0.0.3:7122", true, true),
                P(Vm(3), Vm(2), "10.0.0.2:7122", true, true),
            ],
            &["forward"],
            "dport 7122",
        );
    });
}

#[test]
fn pair_cidr_to_host() {
    in_fresh_netns("pair_cidr_to_host", || {
        sh_ok("ip link set lo up");
        pair(
            2,
            vec![rule("10.0.0.0/24", "host", Some(7123), Action::Drop)],
            keep,
            true,
            &[
                P(Vm(1), Host, "10.0.0.0:7123", true, false),
                P(Vm(2), Host, "192.0.2.1:7123", true, false),
                // The host's own traffic from its gateway address (loopback)
                // and the upstream's are not VM -> host.
                P(Host, Host, "10.0.0.0:7123", true, true),
                P(Up, Host, "192.0.2.1:7123", true, true),
            ],
            &["input"],
            "dport 7123",
        );
    });
}

#[test]
fn pair_cidr_to_external() {
    in_fresh_netns("pair_cidr_to_external", || {
        pair(
            2,
            vec![rule("10.0.0.0/31", "external", Some(7124), Action::Drop)],
            keep,
            false,
            &[
                P(Vm(1), Up, "192.0.2.2:7124", true, false),
                P(Vm(2), Up, "192.0.2.2:7124", true, true),
                P(Host, Up, "192.0.2.2:7124", true, true),
            ],
            &["forward"],
            "dport 7124",
        );
    });
}

#[test]
fn pair_cidr_to_any_and_any_to_cidr() {
    in_fresh_netns("pair_cidr_to_any_and_any_to_cidr", || {
        pair(
            3,
            vec![
                rule("10.0.0.1", "any", Some(7125), Action::Drop),
                rule("any", "192.0.2.2", Some(7125), Action::Drop),
            ],
            keep,
            false,
            &[
                P(Vm(1), Vm(2), "10.0.0.2:7125", true, false),
                P(Vm(2), Up, "192.0.2.2:7125", true, false),
                P(Vm(1), Host, "10.0.0.0:7125", true, true),
                P(Vm(2), Vm(3), "10.0.0.3:7125", true, true),
                P(Host, Up, "192.0.2.2:7125", true, true),
            ],
            &["forward"],
            "dport 7125",
        );
    });
}

// ---------------------------------------------------------------------------
// Default forward policy and tunnels.

/// A second host interface `lan0` (192.168.50.1/24) with a peer namespace at
/// 192.168.50.2 that routes the pool back through the host, so a VM's
/// packet that is let through gets its answer.
fn lan() -> blixard_netns::testing::NetnsHolder {
    let peer = blixard_netns::testing::NetnsHolder::spawn().unwrap();
    peer.sh_ok("ip link set lo up");
    sh_ok(&format!(
        "ip link add lan0 type veth peer name eth0 netns {} && \
         ip addr add 192.168.50.1/24 dev lan0 && ip link set lan0 up",
        peer.pid()
    ));
    peer.sh_ok(
        "ip addr add 192.168.50.2/24 dev eth0 && ip link set eth0 up && \
         ip route add 10.0.0.0/24 via 192.168.50.1",
    );
    peer
}

/// TCP from guest `vm` to a fresh listener in `ns` at `addr`.
fn tcp_to(
    vm: &blixard_netns::testing::NetnsHolder,
    ns: &blixard_netns::testing::NetnsHolder,
    addr: &str,
) -> Result<std::net::SocketAddr, ErrorKind> {
    tcp_between(Some(vm), Some(ns), addr)
}

#[test]
fn vms_reach_other_host_networks_only_when_named() {
    in_fresh_netns("vms_reach_other_host_networks_only_when_named", || {
        let topo = Topology::new(2);
        let peer = lan();
        let (vm1, vm2) = (topo.guest(1), topo.guest(2));
        let nft = Nft::new();
        let forward_drop = || {
            counter(
                &sh_ok("nft list chain inet blixard forward"),
                "iifname @vm_ifaces counter",
            )
        };

        // Nothing names lan0's network: dropped, counted, nothing arrives.
        nft.apply(&planned(2, Vec::new(), keep)).unwrap();
        assert_eq!(
            tcp_to(vm1, &peer, "192.168.50.2:7201"),
            Err(ErrorKind::TimedOut)
        );
        let forward_drop_seen = forward_drop();
        assert!(forward_drop_seen > 0, "our forward drop did not count");
        // The same VM still reaches the uplink and the other VM.
        assert!(tcp_to(vm1, &topo.upstream, "192.0.2.2:7201").is_ok());
        assert!(tcp_to(vm1, vm2, "10.0.0.2:7201").is_ok());

        // A rule naming it opens it for the VM it names.
        let p = planned(
            2,
            vec![rule("vm1", "192.168.50.0/24", Some(7201), Action::Accept)],
            keep,
        );
        nft.apply(&p).unwrap();
        let peer_saw = tcp_to(vm1, &peer, "192.168.50.2:7201").expect("the rule lets vm1 through");
        assert_eq!(
            peer_saw.ip().to_string(),
            "10.0.0.1",
            "routed, not masqueraded"
        );
        assert_eq!(
            tcp_to(vm2, &peer, "192.168.50.2:7201"),
            Err(ErrorKind::TimedOut)
        );

        // The option opens it for every VM.
        let p = planned(2, Vec::new(), |c| {
            c.firewall.allow_networks = vec!["192.168.50.0/24".parse().unwrap()];
        });
        nft.apply(&p).unwrap();
        for vm in [vm1, vm2] {
            tcp_to(vm, &peer, "192.168.50.2:7201").expect("allow_networks lets VMs through");
        }
        assert!(ping(vm1, "192.168.50.2"));
        eprintln!(
            "lan0: forward drop counted {} before the option",
            forward_drop_seen
        );
    });
}

#[test]
fn unwired_pool_addresses_are_unreachable_not_sent_upstream() {
    in_fresh_netns("unwired_pool_addresses_are_unreachable", || {
        let topo = Topology::new(1);
        let vm1 = topo.guest(1);
        // The host's default route leads upstream: without our table the
        // packet for 10.0.0.200 leaves that way.
        sh_ok("ip route add default via 192.0.2.2 && ip -6 route add default via 2001:db8::2");
        topo.upstream
            .sh_ok(&format!("nft -f - <<'EOF'\n{UPSTREAM_PROBE}\nEOF"));
        let at_upstream = || {
            let out = topo.upstream.sh_ok("nft list table inet probe");
            (counter(&out, "10.0.0.200"), counter(&out, "fec0::c8"))
        };
        let ping_text = |to: &str| {
            let out = vm1.sh(&format!("ping -n -c1 -W1 {to}"));
            String::from_utf8_lossy(&out.stdout).into_owned()
        };

        // Control: no table of ours, the pings reach the upstream.
        ping_text("10.0.0.200");
        ping_text("fec0::c8");
        let before = at_upstream();
        assert!(
            before.0 > 0 && before.1 > 0,
            "control: the pings did not reach the upstream {before:?}"
        );

        Nft::new().apply(&planned(3, Vec::new(), keep)).unwrap();
        let v4 = ping_text("10.0.0.200");
        assert!(
            v4.contains("Unreachable"),
            "no ICMP unreachable for 10.0.0.200:\n{v4}"
        );
        let v6 = ping_text("fec0::c8");
        assert!(
            v6.contains("nreachable"),
            "no ICMPv6 unreachable for fec0::c8:\n{v6}"
        );
        assert_eq!(
            at_upstream(),
            before,
            "a packet for an unwired address reached the upstream"
        );
        let fwd = sh_ok("nft list chain inet blixard forward");
        let rejected = (
            counter(&fwd, "ip daddr 10.0.0.0/24"),
            counter(&fwd, "ip6 daddr fec0::/64"),
        );
        assert!(rejected.0 > 0 && rejected.1 > 0, "{fwd}");
        eprintln!(
            "unwired: upstream saw {before:?} without our table, rejected {rejected:?} with it"
        );
        // A wired VM's address and the upstream itself still work.
        assert!(ping(vm1, "10.0.0.0"));
        assert!(ping(vm1, UPSTREAM_V4));
    });
}

/// Counts, at the upstream, packets for an address of the pool no VM has.
const UPSTREAM_PROBE: &str = "table inet probe {
  chain pre { type filter hook prerouting priority -400; policy accept;
    ip daddr 10.0.0.200 counter
    ip6 daddr fec0::c8 counter
  }
}";

/// The inner packet of a VXLAN frame vm1 sends to the host's flannel-style
/// device, from `inner_src`: whether a UDP service on the host receives it.
fn vxlan_delivers(topo: &Topology, listener: &std::net::UdpSocket, inner_src: &str) -> bool {
    let vm1 = topo.guest(1);
    let src: std::net::SocketAddr = format!("{inner_src}:0").parse().unwrap();
    blixard_netns::run_in(&vm1.netns(), move || {
        let s = std::net::UdpSocket::bind(src)?;
        s.send_to(b"decapsulated", "10.244.0.0:7301")
    })
    .unwrap()
    .expect("vm1 could not send the inner packet: the probe did not run");
    let mut buf = [0u8; 64];
    match listener.recv_from(&mut buf) {
        Ok((n, from)) => {
            assert_eq!(&buf[..n], b"decapsulated");
            assert_eq!(from.ip().to_string(), inner_src);
            true
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(e) => panic!("recv: {e}"),
    }
}

#[test]
fn decapsulated_pool_sources_are_dropped_and_counted() {
    in_fresh_netns("decapsulated_pool_sources_are_dropped_and_counted", || {
        let topo = Topology::new(2);
        // flannel's layout: a VXLAN device on UDP 8472 with a /32 of its own.
        sh_ok(
            "ip link add flannel.1 type vxlan id 1 dstport 8472 nolearning && \
             ip addr add 10.244.0.0/32 dev flannel.1 && ip link set flannel.1 up",
        );
        let mac = sh_ok("ip -o link show flannel.1");
        let mac = mac
            .split("link/ether ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        // vm1 tunnels to the host's gateway and claims vm2's address inside,
        // and a flannel pod address as the honest control.
        topo.guest(1).sh_ok(&format!(
            "ip link add vx0 type vxlan id 1 dstport 8472 remote 10.0.0.0 local 10.0.0.1 nolearning && \
             ip addr add 10.0.0.2/32 dev vx0 && ip addr add 10.244.1.0/32 dev vx0 && ip link set vx0 up && \
             ip route add 10.244.0.0/32 dev vx0 && ip neigh add 10.244.0.0 lladdr {mac} dev vx0 nud permanent"
        ));
        // And the upstream sends from a pool address straight at the uplink.
        topo.upstream.sh_ok("ip addr add 10.0.0.2/32 dev up0");
        let listener = std::net::UdpSocket::bind("0.0.0.0:7301").unwrap();
        listener.set_read_timeout(Some(DROPPED_AFTER)).unwrap();
        let from_upstream = || {
            blixard_netns::run_in(&topo.upstream.netns(), || {
                let s = std::net::UdpSocket::bind("10.0.0.2:0")?;
                s.send_to(b"decapsulated", "192.0.2.1:7301")
            })
            .unwrap()
            .expect("the upstream could not send: the probe did not run");
            let mut buf = [0u8; 64];
            listener.recv_from(&mut buf).is_ok()
        };
        let nft = Nft::new();

        // Control: anti-spoofing off, the decapsulated packet is believed.
        let mut p = planned(2, Vec::new(), keep);
        p.anti_spoofing = false;
        nft.apply(&p).unwrap();
        assert!(
            vxlan_delivers(&topo, &listener, "10.0.0.2"),
            "control: the tunnel did not deliver"
        );
        assert!(
            from_upstream(),
            "control: the upstream's packet did not arrive"
        );

        p.anti_spoofing = true;
        nft.apply(&p).unwrap();
        assert!(
            !vxlan_delivers(&topo, &listener, "10.0.0.2"),
            "a decapsulated pool source was believed"
        );
        assert!(!from_upstream(), "a pool source on the uplink was believed");
        let pre = sh_ok("nft list chain inet blixard prerouting");
        let dropped = counter(&pre, "ip saddr 10.0.0.0/24");
        assert!(dropped >= 2, "{pre}");
        eprintln!("tunnel: pool-source drop counted {dropped}");
        // The tunnel itself still works for sources that are not ours.
        assert!(
            vxlan_delivers(&topo, &listener, "10.244.1.0"),
            "the tunnel broke for its own addresses"
        );
    });
}
