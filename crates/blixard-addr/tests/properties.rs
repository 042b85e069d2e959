//! Property tests: the mapping is a bijection, configs round-trip, invalid
//! input is rejected without panicking, the diff converges in the kernel
//! model, teardown touches only what carries our marks. Failures are kept
//! in `proptest-regressions/properties.txt` and replayed first.
// Configs are built as the default plus the field under test.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use blixard_addr::config::{
    ALIAS_PREFIX, Action, Protocol, RuleConfig, Selector, VmSelection, VmSpec,
};
use blixard_addr::diff::{DiffOptions, diff, is_ours, teardown};
use blixard_addr::state::{
    Change, ObservedFirewall, ObservedHost, ObservedLink, ObservedRoute, RouteKind, TunInfo,
};
use blixard_addr::{Config, HostFacts, HostPlan, Layout, build_plan, model};
use common::{Reached, observed_equal_to, plain_link, run_property};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

/// `cases` cases (or `PROPTEST_CASES`), failures kept in
/// `proptest-regressions/properties.txt` and replayed first.
fn regressions(cases: u32) -> ProptestConfig {
    common::proptest_config(
        cases,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/properties.txt"
        ),
    )
}

const TEMPLATES: &[&str] = &[
    "vm{index}",
    "tap{index}",
    "v{index}x",
    "b-{index}",
    "microvm{index}",
];

fn layout_strategy() -> impl Strategy<Value = Layout> {
    (
        any::<u32>(),
        16u8..=30,
        any::<u128>(),
        64u8..=120,
        prop::sample::select(TEMPLATES),
    )
        .prop_filter_map("name too long for the pool", |(v4, p4, v6, p6, t)| {
            let v4 = Ipv4Net::new(Ipv4Addr::from(v4), p4).unwrap().trunc();
            let v6 = Ipv6Net::new(Ipv6Addr::from(v6), p6).unwrap().trunc();
            Layout::new(v4, v6, t).ok()
        })
}

proptest! {
    #![proptest_config(regressions(24))]

    #[test]
    fn mapping_is_a_bijection_over_the_whole_pool(layout in layout_strategy()) {
        let max = layout.max_index();
        let mut names = HashSet::new();
        let mut v4 = HashSet::new();
        let mut v6 = HashSet::new();
        let mut macs = HashSet::new();
        for i in 1..=max {
            let vm = layout.vm_at(i).unwrap();
            prop_assert_eq!(vm.index.get(), i);
            prop_assert!(vm.interface.len() <= 15);
            prop_assert!(layout.ipv4_pool().contains(&vm.ipv4));
            prop_assert!(layout.ipv6_pool().contains(&vm.ipv6));
            prop_assert_ne!(vm.ipv4, layout.gateway_ipv4());
            prop_assert_eq!(layout.index_of_interface(&vm.interface), Some(vm.index));
            prop_assert_eq!(layout.index_of_ipv4(vm.ipv4), Some(vm.index));
            prop_assert_eq!(layout.index_of_ipv6(vm.ipv6), Some(vm.index));
            prop_assert_eq!(layout.index_of_mac(vm.mac), Some(vm.index));
            prop_assert!(names.insert(vm.interface));
            prop_assert!(v4.insert(vm.ipv4));
            prop_assert!(v6.insert(vm.ipv6));
            prop_assert!(macs.insert(vm.mac));
        }
        prop_assert!(layout.vm_at(0).is_err());
        prop_assert!(layout.vm_at(max + 1).is_err());
        prop_assert_eq!(layout.index_of_ipv4(layout.gateway_ipv4()), None);
        prop_assert_eq!(layout.index_of_ipv6(layout.gateway_ipv6()), None);
    }

}

/// Layout input built from valid parts (private pools with zero host bits
/// and room for VMs, a template with `{index}` once between a letter prefix and a
/// suffix that does not start with a digit), or anything at all.
fn layout_input() -> impl Strategy<Value = (Ipv4Net, Ipv6Net, String)> {
    prop_oneof![
        3 => (
            common::private_ipv4_pool(0),
            common::ula_ipv6_pool(0),
            "[a-z][a-z0-9_-]{0,5}",
            prop_oneof![Just(String::new()), "[a-z_-][a-z0-9_-]?"],
        )
            .prop_map(|(v4, v6, prefix, suffix)| (v4, v6, format!("{prefix}{{index}}{suffix}"))),
        1 => (
            any::<u32>(),
            0u8..=32,
            any::<u128>(),
            0u8..=128,
            "[a-z{}0-9 .-]{0,20}",
        )
            .prop_map(|(v4, p4, v6, p6, template)| (
                Ipv4Net::new(Ipv4Addr::from(v4), p4).unwrap(),
                Ipv6Net::new(Ipv6Addr::from(v6), p6).unwrap(),
                template,
            )),
    ]
}

/// Whatever `Layout::new` accepts is sound.
fn accepted_layouts_are_sound(
    (v4, v6, template): (Ipv4Net, Ipv6Net, String),
) -> Result<Reached, TestCaseError> {
    let Ok(layout) = Layout::new(v4, v6, &template) else {
        return Ok(Reached::Skipped);
    };
    prop_assert_eq!(v4.trunc(), v4);
    prop_assert_eq!(v6.trunc(), v6);
    prop_assert_eq!(template.matches("{index}").count(), 1);
    prop_assert!(layout.max_index() >= 1);
    for i in [1, layout.max_index()] {
        let vm = layout.vm_at(i).unwrap();
        prop_assert_eq!(&vm.interface, &template.replace("{index}", &i.to_string()));
        prop_assert!(vm.interface.len() <= 15, "{} is too long", vm.interface);
        prop_assert!(
            vm.interface
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c)),
            "{}",
            vm.interface
        );
        prop_assert!(v4.contains(&vm.ipv4) && v6.contains(&vm.ipv6));
        prop_assert_eq!(layout.index_of_interface(&vm.interface), Some(vm.index));
    }
    Ok(Reached::Checks)
}

#[test]
fn arbitrary_layout_input_never_panics() {
    // Three in four inputs are built from valid parts, so most get past
    // `Layout::new`; the rest are random (almost all refused).
    run_property(
        "accepted layouts are sound",
        regressions(64),
        layout_input(),
        50,
        accepted_layouts_are_sound,
    );
}

const SELECTORS: &[&str] = &[
    "any",
    "host",
    "external",
    "192.0.2.0/24",
    "2001:db8::/32",
    "@1",
    "@1-@2",
];

fn rule_strategy() -> impl Strategy<Value = (usize, usize, Action, Option<Protocol>, Option<u16>)> {
    (
        0..SELECTORS.len(),
        0..SELECTORS.len(),
        prop_oneof![Just(Action::Accept), Just(Action::Drop)],
        prop_oneof![
            Just(None),
            Just(Some(Protocol::Tcp)),
            Just(Some(Protocol::Udp)),
            Just(Some(Protocol::Icmp))
        ],
        prop::option::of(1u16..=65535),
    )
}

/// Valid configs: a small VM set that always holds VMs 1 and 2, rules over
/// distinct matches.
fn config_strategy() -> impl Strategy<Value = Config> {
    (
        (
            2u32..=8,
            prop::bool::ANY,
            prop::sample::select(&TEMPLATES[..4]),
        ),
        (
            prop::bool::ANY,
            prop::bool::ANY,
            prop::bool::ANY,
            1u16..=4,
            68u32..=65521,
        ),
        (
            prop::bool::ANY,
            prop::bool::ANY,
            prop::bool::ANY,
            1u32..=100_000,
            5u8..=255,
        ),
        prop::collection::vec(rule_strategy(), 0..6),
        (
            prop::option::of("[a-z][a-z0-9._-]{0,8}"),
            prop::sample::select(&["auto", "none", "eth0"][..]),
        ),
        (
            prop::sample::select(&["10.0.0.0/24", "10.1.0.0/16", "172.16.0.0/20"][..]),
            prop::sample::select(&["fec0::/64", "fd00:b1::/64", "fd00::/112"][..]),
        ),
    )
        .prop_map(|(vms, tap, misc, rules, names, pools)| {
            let (count, as_list, template) = vms;
            let (ipv6, nat4, nat6, queues, mtu) = tap;
            let (anti, mq_extra, vnet, group, proto) = misc;
            let mut c = Config::default();
            c.interface_template = template.to_string();
            c.vms = if as_list {
                VmSelection::List(vec![
                    VmSpec::Range(format!("1-{count}")),
                    VmSpec::Index(count + 3),
                ])
            } else {
                VmSelection::Count(count)
            };
            c.ipv4.pool = pools.0.parse().unwrap();
            c.ipv6.pool = pools.1.parse().unwrap();
            c.ipv6.enabled = ipv6;
            c.nat.ipv4 = nat4;
            c.nat.ipv6 = nat6;
            c.tap.queues = queues;
            c.tap.multi_queue = queues > 1 || mq_extra;
            c.tap.vnet_hdr = vnet;
            // IPv6 needs an MTU of at least 1280.
            c.tap.mtu = if ipv6 { mtu.max(1280) } else { mtu };
            c.security.anti_spoofing = anti;
            c.ownership.link_group = group;
            c.ownership.route_protocol = proto;
            c.owner = names.0;
            c.external_interface = names.1.to_string();
            let name = |s: &str| {
                s.replace("@1", &template.replace("{index}", "1"))
                    .replace("@2", &template.replace("{index}", "2"))
            };
            let mut seen = HashSet::new();
            for (from, to, action, protocol, port) in rules {
                let port = if matches!(protocol, Some(Protocol::Tcp | Protocol::Udp)) {
                    port
                } else {
                    None
                };
                let ext = names.1;
                if can_match(SELECTORS[from], SELECTORS[to], ext)
                    && seen.insert((from, to, protocol, port))
                {
                    c.firewall.rules.push(RuleConfig {
                        from: name(SELECTORS[from]),
                        to: name(SELECTORS[to]),
                        action,
                        protocol,
                        port,
                    });
                }
            }
            c
        })
}

/// Whether a rule between two of [`SELECTORS`] can match, stated apart from
/// the planner: a VM (or `any`) at one end, or the host's traffic on the
/// uplink (`host`/a CIDR with `external`); never one VM to itself or
/// `external` without an external interface. The planner refuses the rest.
fn can_match(from: &str, to: &str, external_interface: &str) -> bool {
    let vm = |s: &str| matches!(s, "any" | "@1" | "@1-@2");
    let uplink_host = |a: &str, b: &str| a == "external" && (b == "host" || b.contains('/'));
    if external_interface == "none" && (from == "external" || to == "external") {
        return false;
    }
    if from == "@1" && to == "@1" {
        return false;
    }
    vm(from) || vm(to) || uplink_host(from, to) || uplink_host(to, from)
}

fn facts_strategy() -> impl Strategy<Value = HostFacts> {
    (
        prop::option::of(0u32..70000),
        prop::option::of(0u32..70000),
        prop::option::of(prop::sample::select(&["eth0", "wan-1"][..])),
    )
        .prop_map(|(o, g, e)| HostFacts {
            owner_uid: o,
            group_gid: g,
            external_interface: e.map(Into::into),
        })
}

proptest! {
    #![proptest_config(regressions(64))]

    #[test]
    fn valid_configs_round_trip_through_toml_and_json(config in config_strategy(), facts in facts_strategy()) {
        let text = config.to_toml_string();
        let back = Config::from_toml_str(&text, "gen.toml");
        prop_assert!(back.is_ok(), "{:?}\n{}", back, text);
        prop_assert_eq!(back.unwrap(), config.clone());
        let json = serde_json::to_string(&config).unwrap();
        prop_assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), config.clone());
        let plan = build_plan(&config, &facts);
        prop_assert!(plan.is_ok(), "{:?}", plan);
        let plan = plan.unwrap();
        prop_assert!(plan.links.windows(2).all(|w| w[0].vm.index < w[1].vm.index));
        // Every VM a rule names is wired.
        for r in &plan.firewall.rules {
            for s in [&r.from, &r.to] {
                if let Selector::Vms(names) = s {
                    prop_assert!(!names.is_empty());
                    for n in names {
                        prop_assert!(plan.links.iter().any(|l| &l.vm.interface == n));
                    }
                }
            }
        }
    }

    #[test]
    fn invalid_configs_are_rejected_with_a_key(config in config_strategy(), breakage in 0usize..9) {
        let mut c = config;
        let key = match breakage {
            0 => { c.tap.mtu = 67; "tap.mtu" }
            1 => { c.tap.queues = 0; "tap.queues" }
            2 => { c.tap.queues = 2; c.tap.multi_queue = false; "tap.queues" }
            3 => { c.ownership.route_protocol = 3; "ownership.route_protocol" }
            4 => { c.ownership.link_group = 0; "ownership.link_group" }
            5 => { c.vms = VmSelection::Count(100_000); "vms" }
            6 => { c.ownership.nft_table = "a b".into(); "ownership.nft_table" }
            7 => { c.vms = VmSelection::List(vec![VmSpec::Index(1), VmSpec::Index(1)]); "vms[1]" }
            _ => { c.interface_template = "x".into(); "interface_template" }
        };
        let e = build_plan(&c, &HostFacts::default()).unwrap_err();
        prop_assert_eq!(e.key.as_deref(), Some(key));
        let text = c.to_toml_string();
        let e = Config::from_toml_str(&text, "bad.toml").unwrap_err();
        prop_assert_eq!(e.key.as_deref(), Some(key));
        prop_assert!(e.line.is_some(), "{}", e);
    }

    #[test]
    fn garbage_toml_never_panics(config in config_strategy(), cut in any::<prop::sample::Index>(), junk in "[\\[\\]=\"a-z0-9 .,{}\n-]{0,12}") {
        let mut text = config.to_toml_string();
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap();
        text.insert_str(at, &junk);
        if let Err(e) = Config::from_toml_str(&text, "junk.toml") {
            prop_assert_eq!(e.file.as_deref(), Some("junk.toml"));
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

/// Random drift of a host that once held (part of) `plan`, with nothing in
/// the way: foreign links have other names, foreign routes are outside the
/// pools, extra routes of ours are anywhere.
fn observed_strategy(plan: HostPlan) -> impl Strategy<Value = (HostPlan, ObservedHost, bool)> {
    let n = plan.links.len();
    (
        prop::collection::vec((prop::bool::ANY, 0u8..16, any::<u16>()), n),
        prop::collection::vec(1u32..=40, 0..3),
        prop::collection::vec((any::<u8>(), 0usize..4), 0..4),
        0u8..3,
        prop::bool::ANY,
        prop::collection::vec(prop::sample::select(&["0", "1", "2"][..]), 4),
    )
        .prop_map(
            move |(keep, unplanned, extra_routes, fw, recreate, sysvals)| {
                let mut host = observed_equal_to(&plan);
                let mut links = Vec::new();
                for (link, (kept, drift, bits)) in host.links.drain(..).zip(keep) {
                    if !kept {
                        continue;
                    }
                    let mut link = link;
                    if drift & 1 != 0 {
                        link.mtu = 1000 + u32::from(bits % 8000);
                    }
                    if drift & 2 != 0 {
                        link.up = false;
                    }
                    if drift & 4 != 0 {
                        link.root_noqueue = !link.root_noqueue;
                    }
                    if drift & 8 != 0 {
                        link.alias = Some(format!("{ALIAS_PREFIX}stale"));
                        let t = link.tun.as_mut().unwrap();
                        t.owner = Some(u32::from(bits));
                        // A VMM's own choice, never drift.
                        t.vnet_hdr = !t.vnet_hdr;
                        if recreate {
                            t.multi_queue = !t.multi_queue;
                        }
                    }
                    if bits & 1 != 0 {
                        link.addresses.retain(|a| a.prefix_len() != 32);
                    }
                    if bits & 2 != 0 {
                        link.addresses
                            .push(format!("192.0.2.{}/24", bits >> 8).parse().unwrap());
                    }
                    if bits & 4 != 0 {
                        link.addresses.push("fe80::1/64".parse().unwrap());
                    }
                    links.push(link);
                }
                host.routes
                    .retain(|r| links.iter().any(|l| Some(&l.name) == r.interface.as_ref()));
                for (i, idx) in unplanned.iter().enumerate() {
                    let name = format!("zz{}", idx + i as u32 * 100);
                    links.push(ObservedLink {
                        ifindex: 500 + i as u32,
                        name: name.clone(),
                        group: plan.ownership.link_group,
                        alias: Some(format!("{ALIAS_PREFIX}{name}")),
                        up: true,
                        mtu: 1500,
                        tun: Some(TunInfo {
                            tap: true,
                            pi: false,
                            vnet_hdr: true,
                            multi_queue: false,
                            persist: true,
                            owner: None,
                            group: None,
                            queues: 0,
                        }),
                        root_noqueue: false,
                        root_qdisc: None,
                        ingress_qdisc: false,
                        addresses: vec!["10.0.0.0/32".parse().unwrap()],
                        proxy_neighbours: Vec::new(),
                    });
                    host.routes.push(ObservedRoute {
                        destination: format!("10.77.{i}.0/24").parse().unwrap(),
                        interface: Some(name),
                        protocol: plan.ownership.route_protocol,
                        table: 254,
                        kind: RouteKind::Unicast,
                        gateway: None,
                        source: None,
                    });
                }
                links.push(ObservedLink {
                    ifindex: 2,
                    ..plain_link("eth0")
                });
                host.routes.push(ObservedRoute {
                    destination: "0.0.0.0/0".parse().unwrap(),
                    interface: Some("eth0".into()),
                    protocol: 4,
                    table: 254,
                    kind: RouteKind::Unicast,
                    gateway: None,
                    source: None,
                });
                for (byte, target) in extra_routes {
                    let dev = links
                        .get(target)
                        .map(|l| l.name.clone())
                        .unwrap_or_else(|| "eth0".into());
                    let dest: IpNet = format!("198.51.100.{byte}/32").parse().unwrap();
                    if !host.routes.iter().any(|r| r.destination == dest) {
                        host.routes.push(ObservedRoute {
                            destination: dest,
                            interface: Some(dev),
                            protocol: plan.ownership.route_protocol,
                            table: 254,
                            kind: RouteKind::Unicast,
                            gateway: None,
                            source: None,
                        });
                    }
                }
                let keys: Vec<String> = host.sysctls.keys().cloned().collect();
                for (k, v) in keys.iter().zip(sysvals) {
                    host.sysctls.insert(k.clone(), v.to_string());
                }
                host.links = links;
                host.firewall = match fw {
                    0 => ObservedFirewall::Absent,
                    1 => ObservedFirewall::InSync,
                    _ => ObservedFirewall::Differs(vec!["drift".into()]),
                };
                (plan.clone(), host, recreate)
            },
        )
}

fn plan_and_host() -> impl Strategy<Value = (HostPlan, ObservedHost, bool)> {
    (config_strategy(), facts_strategy())
        .prop_map(|(c, f)| build_plan(&c, &f).unwrap())
        .prop_flat_map(observed_strategy)
}

fn marked_objects_only(
    own: &blixard_addr::plan::Ownership,
    host: &ObservedHost,
    changes: &[Change],
) -> Result<(), TestCaseError> {
    for c in changes {
        match c {
            Change::DeleteLink { name } => {
                let link = host.links.iter().find(|l| &l.name == name);
                prop_assert!(link.is_some_and(|l| is_ours(l, own)), "{:?}", c);
            }
            Change::DeleteLinkGroup { group } => {
                prop_assert_eq!(*group, own.link_group);
                prop_assert!(
                    host.links
                        .iter()
                        .filter(|l| l.group == *group)
                        .all(|l| is_ours(l, own))
                );
            }
            Change::DeleteRoute {
                destination,
                interface,
                protocol,
            } => {
                prop_assert_eq!(*protocol, own.route_protocol);
                prop_assert!(
                    host.routes.iter().any(|r| r.destination == *destination
                        && r.interface.as_deref() == Some(interface.as_str())
                        && r.protocol == own.route_protocol),
                    "{:?}",
                    c
                );
            }
            Change::DeleteFirewall { table } => prop_assert_eq!(table, &own.nft_table),
            other => prop_assert!(false, "teardown emitted {:?}", other),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(regressions(96))]

    #[test]
    fn diff_converges_in_the_kernel_model((plan, host, recreate) in plan_and_host()) {
        let options = DiffOptions { allow_recreate: recreate };
        let changes = diff(&plan, &host, &options);
        prop_assert!(changes.is_ok(), "{:?}", changes);
        let changes = changes.unwrap();
        let after = model::try_apply(&host, &changes, &plan);
        prop_assert!(after.is_ok(), "{:?}\n{:?}", after, changes);
        let after = after.unwrap();
        prop_assert_eq!(diff(&plan, &after, &options).unwrap(), vec![]);
        // Foreign objects survive.
        prop_assert!(after.links.iter().any(|l| l.name == "eth0"));
        prop_assert!(after.routes.iter().any(|r| r.destination.to_string() == "0.0.0.0/0"));
    }

    #[test]
    fn plan_against_an_equal_host_is_empty((plan, _, _) in plan_and_host()) {
        prop_assert_eq!(diff(&plan, &observed_equal_to(&plan), &DiffOptions::default()).unwrap(), vec![]);
    }

    #[test]
    fn teardown_touches_only_marked_objects((plan, mut host, _) in plan_and_host(), intruders in prop::collection::vec((0u8..3, any::<bool>()), 0..3)) {
        // Unmarked or half-marked links, some in our group, and foreign routes.
        for (i, (kind, in_group)) in intruders.into_iter().enumerate() {
            host.links.push(ObservedLink {
                ifindex: 900 + i as u32,
                group: if in_group { plan.ownership.link_group } else { 1 },
                alias: match kind { 0 => None, 1 => Some("someone:else".into()), _ => Some(format!("{ALIAS_PREFIX}x")) },
                ..plain_link(&format!("intruder{i}"))
            });
            host.routes.push(ObservedRoute { destination: format!("203.0.113.{i}/32").parse().unwrap(), interface: Some(format!("intruder{i}")), protocol: 3, table: 254, kind: RouteKind::Unicast, gateway: None, source: None });
        }
        let changes = teardown(&plan.ownership, &host);
        marked_objects_only(&plan.ownership, &host, &changes)?;
        let after = model::try_apply(&host, &changes, &plan);
        prop_assert!(after.is_ok(), "{:?}", after);
        let after = after.unwrap();
        prop_assert!(!after.links.iter().any(|l| is_ours(l, &plan.ownership)));
        prop_assert!(!after.routes.iter().any(|r| r.protocol == plan.ownership.route_protocol));
        prop_assert_eq!(after.firewall, ObservedFirewall::Absent);
        let unmarked_before: BTreeMap<_, _> = host.links.iter().filter(|l| !is_ours(l, &plan.ownership)).map(|l| (l.name.clone(), l.clone())).collect();
        let unmarked_after: BTreeMap<_, _> = after.links.iter().map(|l| (l.name.clone(), l.clone())).collect();
        prop_assert_eq!(unmarked_before, unmarked_after);
    }
}
