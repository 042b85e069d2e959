//! `[[forwards]]`: resolved with the VM's addresses, refused with the key
//! of what is wrong.

use super::facts;
use crate::config::{Config, ForwardConfig, Protocol};
use crate::error::ConfigErrorKind;
use crate::planner::build_plan;

fn config(forwards: Vec<ForwardConfig>) -> Config {
    let mut c = Config::default();
    c.vms = crate::config::VmSelection::Count(4);
    c.forwards = forwards;
    c
}

fn refused(forwards: Vec<ForwardConfig>, tweak: impl FnOnce(&mut Config)) -> (String, String) {
    let mut c = config(forwards);
    tweak(&mut c);
    let e = build_plan(&c, &facts()).unwrap_err();
    (e.key.clone().unwrap_or_default(), e.kind.to_string())
}

#[test]
fn forwards_are_resolved_to_the_vms_addresses() {
    let plan = build_plan(
        &config(vec![
            ForwardConfig::new(8080, "vm3", 80, Protocol::Tcp),
            ForwardConfig::new(53, "vm2", 5353, Protocol::Udp).at("192.0.2.1".parse().unwrap()),
        ]),
        &facts(),
    )
    .unwrap();
    let f = &plan.firewall.forwards;
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].vm.interface, "vm3");
    assert_eq!(f[0].ipv4_target(), Some("10.0.0.3".parse().unwrap()));
    assert_eq!(f[0].ipv6_target(), Some("fec0::3".parse().unwrap()));
    assert_eq!(f[1].ipv6_target(), None);
    assert_eq!((f[1].host_port, f[1].port), (53, 5353));
    assert!(
        plan.to_table()
            .contains("forward udp 192.0.2.1:53 -> vm2:5353")
    );
    // A VM plan keeps the host-wide forwards: wiring one VM never
    // rewrites the table.
    let one = crate::planner::build_vm_plan(
        &config(vec![ForwardConfig::new(8080, "vm3", 80, Protocol::Tcp)]),
        &facts(),
        1,
    )
    .unwrap();
    assert_eq!(one.firewall.forwards.len(), 1);
}

#[test]
fn bad_forwards_name_their_key() {
    let fw = |port, vm: &str, to| ForwardConfig::new(port, vm, to, Protocol::Tcp);
    let cases: Vec<(Vec<ForwardConfig>, &str, &str)> = vec![
        (vec![fw(0, "vm1", 80)], "forwards[0].host_port", "port 0"),
        (vec![fw(80, "vm1", 0)], "forwards[0].port", "port 0"),
        (
            vec![fw(80, "web", 80)],
            "forwards[0].vm",
            "no VM of the layout",
        ),
        (vec![fw(80, "vm9", 80)], "forwards[0].vm", "does not wire"),
        (vec![fw(80, "vm999", 80)], "forwards[0].vm", "vm1 to vm255"),
        (
            vec![fw(80, "vm1", 80), fw(80, "vm2", 81)],
            "forwards[1]",
            "forwards[0] already",
        ),
        (
            vec![ForwardConfig::new(80, "vm1", 80, Protocol::Icmp)],
            "forwards[0].protocol",
            "ICMP",
        ),
        (
            vec![fw(80, "vm1", 80).at("0.0.0.0".parse().unwrap())],
            "forwards[0].address",
            "leave `address` out",
        ),
    ];
    for (forwards, key, says) in cases {
        let (k, message) = refused(forwards.clone(), |_| {});
        assert_eq!(k, key, "{forwards:?}: {message}");
        assert!(message.contains(says), "{forwards:?}: {message}");
    }
    let (k, message) = refused(
        vec![fw(80, "vm1", 80).at("2001:db8::1".parse().unwrap())],
        |c| c.ipv6.enabled = false,
    );
    assert_eq!(k, "forwards[0].address");
    assert!(message.contains("no IPv6"), "{message}");
    // The same port on two addresses, or two protocols, is no duplicate.
    let mut c = config(vec![
        fw(80, "vm1", 80),
        ForwardConfig::new(80, "vm2", 80, Protocol::Udp),
        fw(80, "vm3", 80).at("192.0.2.1".parse().unwrap()),
    ]);
    assert!(build_plan(&c, &facts()).is_ok());
    c.forwards
        .push(fw(80, "vm4", 80).at("192.0.2.1".parse().unwrap()));
    assert!(matches!(
        build_plan(&c, &facts()).unwrap_err().kind,
        ConfigErrorKind::DuplicateForward { earlier: 2 }
    ));
}
