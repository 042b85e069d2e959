//! Unit tests of planning and its validation, each naming the key it
//! refuses.
// Tests tweak one field of the default config at a time, which reads best
// as assignments.
#![allow(clippy::field_reassign_with_default, clippy::type_complexity)]

use ipnet::IpNet;

use super::*;
use crate::config::{Action, Config, Protocol, RuleConfig, Selector, VmSelection, VmSpec};
use crate::error::{ConfigError, ConfigErrorKind, LayoutError};
use crate::layout::VmIndex;
use crate::plan::SysctlCondition;

fn facts() -> HostFacts {
    HostFacts {
        owner_uid: Some(1000),
        group_gid: Some(100),
        external_interface: Some("eth0".into()),
    }
}

#[test]
fn a_vm_plan_is_the_full_plan_narrowed_to_that_vm() {
    let config = Config {
        vms: VmSelection::Count(300),
        ipv4: crate::config::Ipv4Config {
            pool: "10.0.0.0/16".parse().unwrap(),
        },
        ..Config::default()
    };
    let full = build_plan(&config, &facts()).unwrap();
    let one = build_vm_plan(&config, &facts(), 7).unwrap();
    let seven = VmIndex::new(7).unwrap();
    assert_eq!(one.links, vec![full.link(seven).unwrap().clone()]);
    assert_eq!(one.sysctls, full.sysctls);
    assert_eq!(one.firewall.rules, full.firewall.rules);
    assert_eq!(
        one.firewall.vms,
        full.firewall
            .vms
            .iter()
            .filter(|v| v.index == seven)
            .cloned()
            .collect::<Vec<_>>()
    );
    assert!(
        build_vm_plan(&config, &facts(), 301)
            .unwrap()
            .links
            .is_empty()
    );
}

#[test]
fn default_plan_matches_the_seed() {
    let plan = build_plan(&Config::default(), &facts()).unwrap();
    assert_eq!(plan.links.len(), 64);
    let l3 = &plan.links[2];
    assert_eq!(l3.vm.interface, "vm3");
    assert_eq!(l3.alias, "blixard:vm3");
    // The gateway addresses sit once on the gateway device, not on the
    // taps; each tap proxies the IPv6 one.
    assert_eq!(plan.gateway.name, "vmgw");
    assert_eq!(plan.gateway.alias, "blixard:vmgw");
    assert_eq!(
        plan.gateway.addresses,
        vec![
            "10.0.0.0/32".parse::<IpNet>().unwrap(),
            "fec0::/128".parse().unwrap()
        ]
    );
    assert_eq!(
        l3.proxy_neighbours,
        vec!["fec0::".parse::<std::net::Ipv6Addr>().unwrap()]
    );
    assert_eq!(
        l3.routes,
        vec![
            "10.0.0.3/32".parse::<IpNet>().unwrap(),
            "fec0::3/128".parse().unwrap()
        ]
    );
    assert_eq!(l3.tap.owner, Some(1000));
    assert_eq!(l3.tap.group, Some(100));
    assert!(!l3.noqueue);
    let tap_keys: Vec<_> = l3
        .sysctls
        .iter()
        .map(|s| (s.key.as_str(), s.value.as_str()))
        .collect();
    assert_eq!(
        tap_keys,
        [
            ("net.ipv4.conf.vm3.rp_filter", "1"),
            ("net.ipv6.conf.vm3.proxy_ndp", "1"),
            ("net.ipv6.neigh.vm3.proxy_delay", "0"),
        ]
    );
    assert_eq!(plan.links[63].routes[1].to_string(), "fec0::40/128");
    let keys: Vec<_> = plan.sysctls.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "net.ipv4.ip_forward",
            "net.ipv6.conf.all.forwarding",
            "net.ipv6.conf.eth0.accept_ra"
        ]
    );
    assert_eq!(
        plan.sysctls[2].when,
        SysctlCondition::IfCurrently("1".into())
    );
    assert!(plan.firewall.masquerade_ipv4 && plan.firewall.masquerade_ipv6);
}

#[test]
fn ipv6_disabled_drops_v6_and_ignores_nat_ipv6() {
    let mut c = Config::default();
    c.ipv6.enabled = false;
    c.vms = VmSelection::List(vec![VmSpec::Index(5), VmSpec::Range("1-2".into())]);
    let plan = build_plan(&c, &facts()).unwrap();
    let names: Vec<_> = plan.links.iter().map(|l| l.vm.interface.as_str()).collect();
    assert_eq!(names, ["vm1", "vm2", "vm5"]);
    assert_eq!(
        plan.gateway.addresses,
        ["10.0.0.0/32".parse::<IpNet>().unwrap()]
    );
    assert!(plan.links[0].proxy_neighbours.is_empty());
    assert_eq!(plan.links[0].sysctls.len(), 1, "rp_filter only");
    assert_eq!(plan.links[0].routes.len(), 1);
    assert_eq!(plan.sysctls.len(), 1);
    assert!(!plan.firewall.masquerade_ipv6);
    assert_eq!(plan.firewall.ipv6_pool, None);
    assert_eq!(plan.firewall.vms[2].ipv6, None);
}

#[test]
fn no_external_interface_means_no_nat() {
    let plan = build_plan(&Config::default(), &HostFacts::default()).unwrap();
    assert!(!plan.firewall.masquerade_ipv4);
    assert_eq!(plan.sysctls.len(), 2);
}

#[test]
fn multi_queue_plans_noqueue() {
    let mut c = Config::default();
    c.tap.multi_queue = true;
    c.tap.queues = 4;
    let plan = build_plan(&c, &facts()).unwrap();
    assert!(plan.links.iter().all(|l| l.noqueue && l.tap.multi_queue));
}

#[test]
fn selectors_resolve_to_planned_interfaces() {
    let mut c = Config::default();
    c.vms = VmSelection::List(vec![VmSpec::Range("1-3".into()), VmSpec::Index(9)]);
    c.firewall.rules = vec![
        RuleConfig {
            from: "vm2-vm9".into(),
            to: "10.1.0.0/16".into(),
            action: Action::Drop,
            protocol: Some(Protocol::Tcp),
            port: Some(22),
        },
        RuleConfig {
            from: "any".into(),
            to: "vm3".into(),
            action: Action::Accept,
            protocol: None,
            port: None,
        },
    ];
    let plan = build_plan(&c, &facts()).unwrap();
    assert_eq!(
        plan.firewall.rules[0].from,
        Selector::Vms(vec!["vm2".into(), "vm3".into(), "vm9".into()])
    );
    assert_eq!(
        plan.firewall.rules[0].to,
        Selector::Cidr("10.1.0.0/16".parse().unwrap())
    );
    assert_eq!(plan.firewall.rules[1].to, Selector::Vms(vec!["vm3".into()]));
}

fn plan_err(mutate: impl FnOnce(&mut Config)) -> ConfigError {
    let mut c = Config::default();
    mutate(&mut c);
    build_plan(&c, &facts()).expect_err("must be rejected")
}

#[test]
fn invalid_configs_name_their_key() {
    let cases: Vec<(Box<dyn FnOnce(&mut Config)>, &str)> = vec![
        (Box::new(|c| c.vms = VmSelection::Count(0)), "vms"),
        (
            Box::new(|c| c.vms = VmSelection::List(vec![VmSpec::Index(0)])),
            "vms[0]",
        ),
        (
            Box::new(|c| {
                c.vms = VmSelection::List(vec![VmSpec::Index(3), VmSpec::Range("2-4".into())])
            }),
            "vms[1]",
        ),
        (Box::new(|c| c.tap.queues = 0), "tap.queues"),
        (Box::new(|c| c.tap.mtu = 67), "tap.mtu"),
        (Box::new(|c| c.tap.mtu = 65522), "tap.mtu"),
        (Box::new(|c| c.owner = Some("a b".into())), "owner"),
        (Box::new(|c| c.group = Some("wheel;".into())), "group"),
        (
            Box::new(|c| c.external_interface = "a-very-long-ifname".into()),
            "external_interface",
        ),
        (
            Box::new(|c| c.interface_template = "vm".into()),
            "interface_template",
        ),
        (
            Box::new(|c| c.ipv6.pool = "fec0::1/64".parse().unwrap()),
            "ipv6.pool",
        ),
        (
            Box::new(|c| {
                c.firewall.rules = vec![RuleConfig {
                    from: "vm1".into(),
                    to: "any".into(),
                    action: Action::Drop,
                    protocol: Some(Protocol::Icmp),
                    port: Some(1),
                }]
            }),
            "firewall.rules[0].port",
        ),
        (
            Box::new(|c| {
                c.firewall.rules = vec![RuleConfig {
                    from: "vm1-vmx".into(),
                    to: "any".into(),
                    action: Action::Drop,
                    protocol: None,
                    port: None,
                }]
            }),
            "firewall.rules[0].from",
        ),
    ];
    for (mutate, key) in cases {
        let e = plan_err(mutate);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
    }
}

fn rule(from: &str, to: &str, port: Option<u16>) -> RuleConfig {
    RuleConfig {
        from: from.into(),
        to: to.into(),
        action: Action::Drop,
        protocol: port.map(|_| Protocol::Tcp),
        port,
    }
}

#[test]
fn what_the_kernel_or_nft_would_refuse_is_refused_here() {
    let cases: Vec<(Box<dyn FnOnce(&mut Config)>, &str, &str)> = vec![
        (Box::new(|c| c.tap.mtu = 1279), "tap.mtu", "at least 1280"),
        (
            Box::new(|c| c.ownership.nft_table = "t".repeat(256)),
            "ownership.nft_table",
            "at most 255 bytes",
        ),
        (
            Box::new(|c| c.ipv6.pool = "ff02::/64".parse().unwrap()),
            "ipv6.pool",
            "multicast",
        ),
        (
            Box::new(|c| c.ipv4.pool = "127.0.0.0/24".parse().unwrap()),
            "ipv4.pool",
            "loopback",
        ),
        (
            Box::new(|c| c.owner = Some("4294967295".into())),
            "owner",
            "unset",
        ),
        (
            Box::new(|c| c.group = Some("4294967295".into())),
            "group",
            "unset",
        ),
        (
            Box::new(|c| c.external_interface = "vm64".into()),
            "external_interface",
            "VM 64",
        ),
        (
            Box::new(|c| c.firewall.host_ports = vec![53, 0]),
            "firewall.host_ports[1]",
            "port 0",
        ),
        (
            Box::new(|c| {
                c.firewall.rules = vec![rule("vm1", "vm2", Some(22)), rule("vm1", "vm3", Some(0))]
            }),
            "firewall.rules[1].port",
            "port 0",
        ),
        (
            Box::new(|c| c.interface_template = "-{index}".into()),
            "interface_template",
            "'-'",
        ),
    ];
    for (mutate, key, says) in cases {
        let e = plan_err(mutate);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.to_string().contains(says), "{e}");
    }
}

#[test]
fn the_limits_themselves_are_accepted() {
    let mut c = Config::default();
    c.tap.mtu = MIN_IPV6_MTU;
    c.ownership.nft_table = "t".repeat(MAX_NFT_TABLE_LEN);
    c.owner = Some("4294967294".into());
    // Not planned (64 VMs): an interface of that name is not ours.
    c.external_interface = "vm65".into();
    c.firewall.host_ports = vec![1, 65535];
    build_plan(&c, &facts()).unwrap();
    // Without IPv6 the IPv4 minimum is the limit.
    let mut c = Config::default();
    c.ipv6.enabled = false;
    c.tap.mtu = MIN_MTU;
    build_plan(&c, &facts()).unwrap();
}

#[test]
fn resolved_facts_the_kernel_refuses_are_refused() {
    for (facts, key) in [
        (
            HostFacts {
                owner_uid: Some(UNSET_ID),
                ..facts()
            },
            "owner",
        ),
        (
            HostFacts {
                group_gid: Some(UNSET_ID),
                ..facts()
            },
            "group",
        ),
        (
            HostFacts {
                external_interface: Some("vm3".into()),
                ..facts()
            },
            "external_interface",
        ),
    ] {
        let e = build_plan(&Config::default(), &facts).unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
    }
}

#[test]
fn ids_map_as_the_kernel_maps_them() {
    // The initial user namespace: everything but -1.
    let init = "         0          0 4294967295\n";
    assert!(id_is_mapped(init, 0) && id_is_mapped(init, 4294967294));
    assert!(!id_is_mapped(init, UNSET_ID));
    // A rootless container: root and a subordinate range.
    let container = "0 1000 1\n1 100000 65536\n";
    for (id, mapped) in [
        (0, true),
        (1, true),
        (65536, true),
        (65537, false),
        (1000, true),
        (70000, false),
    ] {
        assert_eq!(id_is_mapped(container, id), mapped, "{id}");
    }
    assert!(!id_is_mapped("", 0));
}

#[test]
fn a_repeated_match_names_its_first_rule_among_many() {
    // Every rule distinct: from each VM to each of a set of networks.
    let distinct: Vec<RuleConfig> = (1..=64)
        .flat_map(|vm| {
            (0..100).map(move |net| rule(&format!("vm{vm}"), &format!("10.{net}.0.0/16"), None))
        })
        .collect();
    let mut c = Config::default();
    c.firewall.rules = distinct.clone();
    assert_eq!(build_plan(&c, &facts()).unwrap().firewall.rules.len(), 6400);
    // The same match again, with another action, far from its first.
    let mut again = distinct[1234].clone();
    again.action = Action::Accept;
    c.firewall.rules.push(rule("vm1", "any", Some(22)));
    c.firewall.rules.push(again);
    let e = build_plan(&c, &facts()).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("firewall.rules[6401]"));
    assert_eq!(
        e.kind,
        ConfigErrorKind::ConflictingRule {
            rule: 6401,
            earlier: 1234
        }
    );
    // Same endpoints, another port or protocol: a different match.
    let mut c = Config::default();
    c.firewall.rules = vec![
        rule("vm1", "vm2", Some(22)),
        rule("vm1", "vm2", Some(23)),
        rule("vm1", "vm2", None),
    ];
    build_plan(&c, &facts()).unwrap();
}

#[test]
fn out_of_range_index_is_a_layout_error() {
    let e = plan_err(|c| c.vms = VmSelection::List(vec![VmSpec::Index(256)]));
    assert_eq!(
        e.kind,
        ConfigErrorKind::Layout(LayoutError::IndexOutOfRange {
            index: 256,
            max: 255
        })
    );
}

#[test]
fn resolved_external_interface_is_checked() {
    let e = build_plan(
        &Config::default(),
        &HostFacts {
            external_interface: Some("eth0;rm".into()),
            ..HostFacts::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("external_interface"));
}

mod carried;
mod forwards;

#[test]
fn the_gateway_name_must_be_its_own() {
    let err = |toml: &str, facts: &HostFacts| {
        let config = Config::parse_toml(toml, "network.toml").unwrap();
        build_plan(&config, facts).unwrap_err()
    };
    let e = err("vms = 4\ngateway_interface = \"vm3\"\n", &facts());
    assert_eq!(e.key.as_deref(), Some("gateway_interface"));
    assert!(
        matches!(
            e.kind,
            ConfigErrorKind::GatewayIsPlannedTap { index: 3, .. }
        ),
        "{e}"
    );
    let e = err(
        "gateway_interface = \"eth1\"\nexternal_interface = \"eth1\"\n",
        &HostFacts::default(),
    );
    assert!(
        matches!(e.kind, ConfigErrorKind::GatewayIsUplink { .. }),
        "{e}"
    );
    // An uplink found by "auto" on the host is checked at planning.
    let e = err("gateway_interface = \"eth0\"\n", &facts());
    assert!(
        matches!(e.kind, ConfigErrorKind::GatewayIsUplink { .. }),
        "{e}"
    );
    let e = err("gateway_interface = \"a/b\"\n", &facts());
    assert_eq!(e.key.as_deref(), Some("gateway_interface"));
    // A tap name outside the planned VMs is free.
    let config = Config::parse_toml("vms = 4\ngateway_interface = \"vm9\"\n", "n.toml").unwrap();
    assert_eq!(build_plan(&config, &facts()).unwrap().gateway.name, "vm9");
}
