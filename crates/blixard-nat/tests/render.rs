//! Render-level tests: no kernel needed.

mod common;

use blixard_addr::config::{Action, Protocol, Selector};
use blixard_addr::plan::FirewallRule;
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
    assert_eq!(element_cmds, 3 * 4);
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
fn anti_spoofing_off_leaves_prerouting_empty() {
    let mut p = plan(3, Some("ext0"));
    assert!(Nft::desired(&p).rules["prerouting"].len() >= 4);
    p.anti_spoofing = false;
    assert!(!Nft::desired(&p).rules.contains_key("prerouting"));
}

#[test]
fn user_rules_render_in_order_and_conflicting_families_are_skipped() {
    let mut p = plan(3, Some("ext0"));
    p.rules = vec![
        FirewallRule {
            from: Selector::Cidr("10.0.0.0/28".parse().unwrap()),
            to: Selector::Cidr("fec0::3/128".parse().unwrap()),
            protocol: None,
            port: None,
            action: Action::Drop,
        },
        FirewallRule {
            from: Selector::Vms(vec!["vm2".into(), "vm1".into()]),
            to: Selector::Host,
            protocol: Some(Protocol::Tcp),
            port: Some(8080),
            action: Action::Drop,
        },
    ];
    p.rules.extend(seed_rules());
    let d = Nft::desired(&p);
    let fwd = &d.rules["forward"];
    // established, not-ours, invalid, then the two seed rules, in order.
    assert!(fwd[3].contains("\"vm1\"") && fwd[3].contains("\"vm2\"") && fwd[3].contains("drop"));
    assert!(fwd[4].contains("\"ext0\"") && fwd[4].contains("22") && fwd[4].contains("accept"));
    assert!(!fwd.iter().any(|r| r.contains("fec0::3")));
    let input = &d.rules["input"];
    assert!(
        input
            .iter()
            .any(|r| r.contains("8080") && r.contains("[\"vm1\",\"vm2\"]"))
    );
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
