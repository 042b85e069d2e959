//! Each conflict names the config key to change to get out of its way.

use super::*;

fn tap_flags(field: &str) -> Conflict {
    Conflict::TapFlags {
        name: "vm1".into(),
        field: field.into(),
        observed: false,
        wanted: true,
        queues: 0,
    }
}

#[test]
fn every_conflict_names_its_config_key() {
    let route = |pool: &str| Conflict::ForeignRoute {
        destination: pool.parse().unwrap(),
        interface: Some("eth0".into()),
        protocol: 3,
        pool: pool.parse().unwrap(),
    };
    let cases = [
        (
            Conflict::ForeignLink {
                name: "vm1".into(),
                group: 0,
                alias: None,
            },
            "interface_template",
        ),
        (
            Conflict::ForeignGateway {
                name: "vmgw".into(),
                group: 0,
                alias: None,
            },
            "gateway_interface",
        ),
        (route("10.0.0.0/24"), "ipv4.pool"),
        (route("fec0::/64"), "ipv6.pool"),
        (tap_flags("multi_queue"), "tap.multi_queue"),
        (tap_flags("tap"), "tap"),
        (
            Conflict::TapOwnershipHeld {
                name: "vm1".into(),
                observed_owner: Some(1),
                observed_group: None,
                owner: Some(0),
                group: None,
                queues: 1,
            },
            "owner",
        ),
        (
            Conflict::TapHeldUnplanned {
                name: "vm9".into(),
                queues: 1,
            },
            "vms",
        ),
        (Conflict::VmNotPlanned { index: 9 }, "vms"),
    ];
    for (conflict, key) in cases {
        assert_eq!(conflict.config_key(), key, "{conflict}");
    }
}

#[test]
fn conflicts_point_at_the_first_ones_key() {
    assert_eq!(Conflicts(vec![]).config_key(), None);
    let both = Conflicts(vec![
        Conflict::VmNotPlanned { index: 9 },
        tap_flags("multi_queue"),
    ]);
    assert_eq!(both.config_key(), Some("vms"));
}
