//! What the plan carries for its consumers, so that none validates again,
//! reaches back to the config or formats a key of its own.

use super::*;

/// Validating first and planning the validated config is `build_plan`:
/// the same plan, the same first error, and the facts' own checks still
/// made (the config is not validated again).
#[test]
fn a_validated_config_plans_as_build_plan_does() {
    let mut config = Config::default();
    config.vms = VmSelection::Count(4);
    let valid = config.validated().unwrap();
    assert_eq!(valid.layout(), &config.layout().unwrap());
    assert_eq!(valid.plan(&facts()), build_plan(&config, &facts()));
    assert_eq!(
        config.validated().unwrap().plan_vm(&facts(), 2),
        build_vm_plan(&config, &facts(), 2)
    );
    let uplink_is_a_tap = HostFacts {
        external_interface: Some("vm2".into()),
        ..facts()
    };
    let e = config
        .validated()
        .unwrap()
        .plan(&uplink_is_a_tap)
        .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("external_interface"));
    config.tap.mtu = 1;
    assert_eq!(
        config.validated().unwrap_err(),
        build_plan(&config, &facts()).unwrap_err()
    );
}

/// The plan hands guests and VMMs their DNS servers (IPv6 ones only with
/// IPv6), the queue pairs and the taps' flags, so rendering needs no config.
#[test]
fn the_plan_carries_what_guests_and_vmms_are_handed() {
    let mut c = Config::default();
    c.tap.multi_queue = true;
    c.tap.queues = 4;
    let plan = build_plan(&c, &facts()).unwrap();
    assert_eq!(plan.guest.dns, c.dns);
    assert_eq!(plan.guest.queues, 4);
    assert!(plan.links.iter().all(|l| l.tap == plan.guest.tap));
    assert!(plan.guest.tap.multi_queue);
    c.ipv6.enabled = false;
    let plan = build_plan(&c, &facts()).unwrap();
    let v4: Vec<_> = c.dns.iter().copied().filter(|d| d.is_ipv4()).collect();
    assert!(!v4.is_empty() && v4.len() < c.dns.len());
    assert_eq!(plan.guest.dns, v4);
}

/// Every sysctl the plan names is a typed key printed: it reads back into
/// the same key, per-tap ones naming their tap.
#[test]
fn the_plans_sysctl_keys_are_typed_keys() {
    use crate::sysctl::{Family, SysctlKey};
    let plan = build_plan(&Config::default(), &facts()).unwrap();
    let global: Vec<SysctlKey> = plan
        .sysctls
        .iter()
        .map(|s| s.typed_key().unwrap())
        .collect();
    assert_eq!(
        global,
        [
            SysctlKey::ipv4_forwarding(),
            SysctlKey::ipv6_forwarding(),
            SysctlKey::conf(Family::Ipv6, "eth0", "accept_ra").unwrap(),
        ]
    );
    for link in &plan.links {
        let [rp, proxy_ndp, proxy_delay] = link.sysctls.as_slice() else {
            panic!("{:?}", link.sysctls)
        };
        let name = link.vm.interface.as_str();
        for s in [rp, proxy_ndp, proxy_delay] {
            let key = s.typed_key().unwrap();
            assert_eq!(key.to_string(), s.key);
            assert_eq!(key.link(), Some(name), "{key} goes with its tap");
        }
        assert_eq!(
            rp.typed_key().unwrap().per_link(),
            Some((Family::Ipv4, name, "rp_filter"))
        );
        assert_eq!(
            proxy_ndp.typed_key().unwrap().per_link(),
            Some((Family::Ipv6, name, "proxy_ndp"))
        );
        assert_eq!(
            proxy_delay.typed_key().unwrap(),
            SysctlKey::neigh(Family::Ipv6, name, "proxy_delay").unwrap()
        );
    }
}
