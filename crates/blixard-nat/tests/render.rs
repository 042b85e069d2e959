//! Render-level tests: no kernel needed.

mod common;

use blixard_addr::config::{Action, Protocol, Selector};
use blixard_addr::plan::{FirewallRule, RuleChain};
use blixard_nat::Nft;
use common::{plan, seed_rules};
use serde_json::Value;

fn batch(p: &blixard_addr::plan::FirewallPlan) -> Vec<Value> {
    let v = serde_json::to_value(Nft::render(p)).unwrap();
    v["nftables"].as_array().unwrap().clone()
}

fn rule_texts(p: &blixard_addr::plan::FirewallPlan) -> Vec<String> {
    batch(p)
        .iter()
        .filter_map(|o| o.get("add").and_then(|a| a.get("rule")))
        .map(|r| r.to_string())
        .collect()
}

#[test]
fn rule_count_does_not_depend_on_vm_count() {
    let mut small = plan(4, Some("ext0"));
    let mut big = plan(4096, Some("ext0"));
    small.ipv4_pool = big.ipv4_pool;
    small.rules = seed_rules();
    big.rules = seed_rules();
    let (s, b) = (rule_texts(&small), rule_texts(&big));
    assert_eq!(s.len(), b.len());
    assert_eq!(
        s, b,
        "rules must not mention individual VMs beyond the user rules"
    );
    assert_eq!(Nft::desired(&big).rule_count(), s.len());
    // The VMs are all there, as set elements.
    let d = Nft::desired(&big);
    assert_eq!(d.elements["vm_ifaces"].len(), 4096);
    assert_eq!(d.elements["vm_v4"].len(), 4096);
    assert_eq!(d.elements["vm_v6"].len(), 4096);
    assert!(d.elements["vm_v4"].contains("vm4096 . 10.0.16.0"));
    // Chunked into several commands inside the one batch.
    let element_cmds = batch(&big)
        .iter()
        .filter(|o| o.get("add").and_then(|a| a.get("element")).is_some())
        .count();
    // Three sets the rules match on, four counter sets (issue 15).
    assert_eq!(element_cmds, (3 + 4) * 4);
    for set in blixard_nat::render::counters::COUNTER_SETS {
        assert_eq!(d.elements[set].len(), 4096, "{set}");
    }
}

#[test]
fn batch_replaces_the_table_atomically_in_order() {
    let objs = batch(&plan(2, Some("ext0")));
    let kinds: Vec<String> = objs
        .iter()
        .map(|o| {
            let (cmd, body) = o.as_object().unwrap().iter().next().unwrap();
            format!("{cmd} {}", body.as_object().unwrap().keys().next().unwrap())
        })
        .collect();
    assert_eq!(&kinds[..3], ["add table", "delete table", "add table"]);
    let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap();
    let last = |k: &str| kinds.iter().rposition(|x| x == k).unwrap();
    assert!(last("add chain") < pos("add set"));
    assert!(last("add set") < pos("add element"));
    assert!(last("add element") < pos("add rule"));
    assert_eq!(objs[0]["add"]["table"]["family"], "inet");
    assert_eq!(objs[0]["add"]["table"]["name"], "blixard");
}

#[test]
fn without_external_interface_there_is_no_masquerade() {
    let mut p = plan(3, None);
    p.rules = seed_rules();
    let rules = rule_texts(&p);
    assert!(!rules.iter().any(|r| r.contains("masquerade")));
    // `from = external` cannot match anything without an external interface.
    assert!(!rules.iter().any(|r| r.contains("\"right\":22,")));
    let with = rule_texts(&plan(3, Some("ext0")));
    assert_eq!(with.iter().filter(|r| r.contains("masquerade")).count(), 2);
    let mut v4only = plan(3, Some("ext0"));
    v4only.masquerade_ipv6 = false;
    let r = rule_texts(&v4only);
    assert_eq!(r.iter().filter(|r| r.contains("masquerade")).count(), 1);
    assert!(
        r.iter()
            .any(|r| r.contains("\"ext0\"") && r.contains("masquerade"))
    );
}

#[test]
fn anti_spoofing_off_leaves_prerouting_only_counting() {
    let mut p = plan(3, Some("ext0"));
    assert!(Nft::desired(&p).rules["prerouting"].len() >= 5);
    p.anti_spoofing = false;
    let left = &Nft::desired(&p).rules["prerouting"];
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].contains("@vm_tx") && !left[0].contains("drop"));
}

fn r(from: Selector, to: Selector, port: u16, chains: Vec<RuleChain>) -> FirewallRule {
    FirewallRule {
        from,
        to,
        protocol: Some(Protocol::Tcp),
        port: Some(port),
        action: Action::Drop,
        chains,
    }
}

/// Index of the first rule of `chain` holding every needle.
fn at(d: &blixard_nat::canon::CanonTable, chain: &str, needles: &[&str]) -> usize {
    d.rules[chain]
        .iter()
        .position(|r| needles.iter().all(|n| r.contains(n)))
        .unwrap_or_else(|| panic!("no rule with {needles:?} in {chain}: {:#?}", d.rules[chain]))
}

#[test]
fn user_rules_render_in_order_where_the_plan_placed_them() {
    let mut p = plan(3, Some("ext0"));
    p.rules = vec![
        // The planner refuses mixed families; the renderer still never
        // hands nft a rule it would reject.
        FirewallRule {
            from: Selector::Cidr("10.0.0.0/28".parse().unwrap()),
            to: Selector::Cidr("fec0::3/128".parse().unwrap()),
            protocol: None,
            port: None,
            action: Action::Drop,
            chains: vec![RuleChain::Forward],
        },
        r(
            Selector::Vms(vec!["vm2".into(), "vm1".into()]),
            Selector::Host,
            8080,
            vec![RuleChain::InputFromVms],
        ),
        r(
            Selector::Vms(vec!["vm1".into()]),
            Selector::Cidr("10.0.0.0/24".parse().unwrap()),
            8081,
            vec![RuleChain::Forward, RuleChain::InputFromVms],
        ),
        r(
            Selector::External,
            Selector::Host,
            8082,
            vec![RuleChain::InputFromExternal],
        ),
        r(
            Selector::Host,
            Selector::External,
            8083,
            vec![RuleChain::OutputToExternal],
        ),
        r(
            Selector::Host,
            Selector::Any,
            8084,
            vec![RuleChain::OutputToVms],
        ),
    ];
    p.rules.extend(seed_rules());
    let d = Nft::desired(&p);
    let fwd = &d.rules["forward"];
    assert!(!fwd.iter().any(|r| r.contains("fec0::3")));
    // In forward: after the guards, in the order written, before the defaults.
    let guard = at(&d, "forward", &["!=", "iifname", "oifname"]);
    let (a, b, c) = (
        at(&d, "forward", &["8081"]),
        at(&d, "forward", &["\"vm1\"", "\"vm2\"", "drop"]),
        at(&d, "forward", &["\"ext0\"", "22", "accept"]),
    );
    assert!(guard < a && a < b && b < c, "{fwd:#?}");
    assert!(c < at(&d, "forward", &["@vm_ifaces", "\"ext0\"", "accept"]));
    // In input: the uplink's rule before the guard that passes the host's
    // other traffic, the VMs' rules after it and before ping and host_ports.
    let guard = at(&d, "input", &["!=", "@vm_ifaces", "accept"]);
    assert!(at(&d, "input", &["8082", "\"ext0\""]) < guard);
    let vm_rule = at(&d, "input", &["8080", "[\"vm1\",\"vm2\"]"]);
    assert!(guard < vm_rule && vm_rule < at(&d, "input", &["8081"]));
    assert!(at(&d, "input", &["8081"]) < at(&d, "input", &["ipv6-icmp", "accept"]));
    assert!(at(&d, "input", &["8081"]) < at(&d, "input", &["53"]));
    // In output: the same, around a guard on the outgoing interface.
    let guard = at(&d, "output", &["!=", "oifname", "@vm_ifaces"]);
    assert!(at(&d, "output", &["8083", "\"ext0\""]) < guard);
    assert!(guard < at(&d, "output", &["8084"]));
    assert!(!d.rules["output"][at(&d, "output", &["8084"])].contains("oifname"));
}

#[test]
fn pool_sources_are_believed_on_their_own_tap_only() {
    let d = Nft::desired(&plan(3, Some("ext0")));
    let pre = &d.rules["prerouting"];
    let drop_v4 = at(&d, "prerouting", &["10.0.0.0", "24", "saddr", "drop"]);
    let drop_v6 = at(&d, "prerouting", &["fec0::", "64", "saddr", "drop"]);
    // After the VM set's accept, for every interface but loopback.
    assert!(at(&d, "prerouting", &["@vm_v4", "accept"]) < drop_v4);
    for i in [drop_v4, drop_v6] {
        assert!(
            pre[i].contains("\"lo\"") && !pre[i].contains("vm_ifaces"),
            "{}",
            pre[i]
        );
    }
}

#[test]
fn vm_traffic_goes_only_where_something_names_it() {
    let mut p = plan(3, Some("ext0"));
    p.allow_networks = vec![
        "192.168.50.0/24".parse().unwrap(),
        "192.168.0.0/16".parse().unwrap(),
    ];
    let d = Nft::desired(&p);
    let fwd = &d.rules["forward"];
    // Unwired pool addresses: rejected before anything may accept them.
    let reject = at(
        &d,
        "forward",
        &["daddr", "10.0.0.0", "reject", "host-unreachable"],
    );
    assert!(reject < at(&d, "forward", &["!=", "iifname", "oifname"]));
    at(&d, "forward", &["daddr", "fec0::", "reject"]);
    // One rule per allowed network (overlapping ones too), then the drop.
    let nets = [
        at(&d, "forward", &["192.168.50.0"]),
        at(&d, "forward", &["192.168.0.0"]),
    ];
    let last = fwd.len() - 1;
    assert!(
        fwd[last].contains("iifname") && fwd[last].contains("drop"),
        "{}",
        fwd[last]
    );
    assert!(nets.iter().all(|&n| n < last));
    // Without the option there is no such rule, and the drop stays.
    let d = Nft::desired(&plan(3, None));
    let fwd = &d.rules["forward"];
    assert!(!fwd.iter().any(|r| r.contains("192.168")));
    assert!(fwd[fwd.len() - 1].contains("drop"));
}

#[test]
fn names_are_data_not_syntax() {
    let mut p = plan(1, Some("eth0; flush ruleset"));
    p.vms[0].interface = "vm1\" } ; flush ruleset ; {".into();
    let json = serde_json::to_string(&Nft::render(&p)).unwrap();
    // The hostile strings survive only as JSON string values.
    let v: Value = serde_json::from_str(&json).unwrap();
    let cmds = v["nftables"].as_array().unwrap();
    assert!(cmds.iter().all(|c| c.get("flush").is_none()));
    assert!(json.contains(r#""vm1\" } ; flush ruleset ; {""#));
}

#[test]
fn the_canonical_form_is_the_rendered_batchs_read_without_json_elements() {
    use blixard_addr::config::ForwardConfig;
    use blixard_nat::canon::CanonTable;
    let mut p = common::planned(40, Vec::new(), |c| {
        c.forwards = vec![
            ForwardConfig::new(8080, "vm3", 80, Protocol::Tcp),
            ForwardConfig::new(5353, "vm2", 53, Protocol::Udp)
                .at(common::HOST_EXT_V4.parse().unwrap()),
        ];
    });
    p.rules = seed_rules();
    let through_json = CanonTable::from_batch(&Nft::render(&p));
    let canonical = blixard_nat::render::canonical(&p);
    assert_eq!(canonical, through_json);
    // Each kind of element the renderer makes is in it: names, pairs,
    // counted names, map entries.
    let all: Vec<&String> = canonical.elements.values().flatten().collect();
    assert!(all.iter().any(|e| *e == "vm40"));
    assert!(all.iter().any(|e| *e == "vm40 . 10.0.0.40"));
    assert!(all.iter().any(|e| e.contains(" : ")), "{all:?}");
    assert!(canonical.elements["vm_tx"].contains("vm7"));
}

#[test]
fn the_batch_text_nft_is_sent_is_the_rendered_batch() {
    use blixard_addr::config::ForwardConfig;
    let mut p = common::planned(40, Vec::new(), |c| {
        c.forwards = vec![ForwardConfig::new(8080, "vm3", 80, Protocol::Tcp)];
    });
    p.rules = seed_rules();
    let text: Value = serde_json::from_str(&blixard_nat::render::render_text(&p)).unwrap();
    assert_eq!(text, Nft::render(&p));
    let counted = text["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.pointer("/add/set/stmt").is_some())
        .count();
    assert_eq!(counted, 4, "the counter sets carry their counter statement");
}
