//! Which VM <-> VM traffic may bypass connection tracking.
#![allow(clippy::field_reassign_with_default)]

use std::net::IpAddr;

use super::*;

fn untracked(rules: &[(&str, &str)], tweak: impl FnOnce(&mut Config)) -> Vec<(IpNet, IpAddr)> {
    let mut c = Config::default();
    c.vms = VmSelection::Count(3);
    c.firewall.rules = rules
        .iter()
        .map(|(from, to)| RuleConfig {
            from: (*from).into(),
            to: (*to).into(),
            action: Action::Drop,
            protocol: Some(Protocol::Tcp),
            port: Some(22),
        })
        .collect();
    tweak(&mut c);
    build_plan(&c, &facts())
        .unwrap()
        .firewall
        .untracked_between_vms()
}

#[test]
fn vm_to_vm_goes_untracked_in_every_pool_with_its_gateway_tracked() {
    let got = untracked(&[], |_| {});
    let layout = crate::layout::Layout::default();
    assert_eq!(
        got,
        vec![
            (IpNet::V4(layout.ipv4_pool()), IpAddr::V4(layout.gateway_ipv4())),
            (IpNet::V6(layout.ipv6_pool()), IpAddr::V6(layout.gateway_ipv6())),
        ]
    );
    let v4_only = untracked(&[], |c| c.ipv6.enabled = false);
    assert_eq!(v4_only, got[..1].to_vec());
}

#[test]
fn a_rule_judging_vm_to_vm_traffic_or_no_anti_spoofing_keeps_it_tracked() {
    for (from, to) in [
        ("vm1", "vm2"),
        ("vm1", "any"),
        ("any", "vm2"),
        ("any", "any"),
        ("vm1", "10.0.0.0/24"),
        ("10.0.0.2", "vm3"),
    ] {
        assert!(untracked(&[(from, to)], |_| {}).is_empty(), "{from} -> {to}");
    }
    assert!(untracked(&[], |c| c.security.anti_spoofing = false).is_empty());
}

#[test]
fn rules_that_never_see_vm_to_vm_traffic_leave_the_bypass_on() {
    for (from, to) in [
        ("vm1", "external"),
        ("external", "vm2"),
        ("vm1", "host"),
        ("host", "vm2"),
        ("vm1", "192.168.50.0/24"),
        // The gateway alone is the host, not a VM.
        ("vm1", "10.0.0.0"),
    ] {
        assert!(!untracked(&[(from, to)], |_| {}).is_empty(), "{from} -> {to}");
    }
}
