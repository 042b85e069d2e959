//! Which VM <-> VM traffic may bypass connection tracking.
#![allow(clippy::field_reassign_with_default)]

use std::net::IpAddr;

use super::*;

fn untracked(rules: &[(&str, &str)], tweak: impl FnOnce(&mut Config)) -> Vec<(IpAddr, IpAddr)> {
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

fn range(a: &str, b: &str) -> (IpAddr, IpAddr) {
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn vm_to_vm_goes_untracked_in_every_pool_but_to_the_gateway() {
    let got = untracked(&[], |_| {});
    let layout = crate::layout::Layout::default();
    let v6 = layout.ipv6_pool();
    assert_eq!(
        got,
        vec![
            range("10.0.0.1", "10.0.0.255"),
            (
                IpAddr::V6((u128::from(v6.network()) + 1).into()),
                IpAddr::V6(v6.broadcast())
            ),
        ]
    );
    assert_eq!(
        IpAddr::V4(layout.gateway_ipv4()),
        "10.0.0.0".parse::<IpAddr>().unwrap()
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
        assert!(
            untracked(&[(from, to)], |_| {}).is_empty(),
            "{from} -> {to}"
        );
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
        assert!(
            !untracked(&[(from, to)], |_| {}).is_empty(),
            "{from} -> {to}"
        );
    }
}
