//! Fuzzing (proptest) beyond `properties.rs`: configs built from valid
//! parts are planned soundly, and configs with every field arbitrary
//! (mostly invalid) and TOML assembled from random fragments never panic
//! the parser or the planner; observed states with foreign objects,
//! half-marked links, misplaced routes and non-taps of ours either give
//! conflicts that name real foreign objects or changes that touch only
//! ours, apply in the kernel model and converge in one round — also when
//! an apply is cut after any change. `PROPTEST_CASES` sets the case count
//! (default 128 per property: a few seconds in debug). Properties with an
//! early exit for input they are not about also fail when fewer than a
//! known share of their cases get past it. Failures are kept in
//! `proptest-regressions/fuzz.txt` and replayed first on the next run.
// Configs are built as the default plus the fields under test.
#![allow(clippy::field_reassign_with_default)]

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use blixard_addr::config::{ALIAS_PREFIX, Action, Protocol, RuleConfig, VmSelection, VmSpec};
use blixard_addr::diff::{DiffOptions, diff, is_ours, reconcile, unwire_vm, wire_vm};
use blixard_addr::plan::FirewallVm;
use blixard_addr::state::{
    Change, Conflict, ObservedFirewall, ObservedHost, ObservedLink, ObservedRoute, RouteKind,
    TunInfo,
};
use blixard_addr::{Config, HostFacts, HostPlan, VmIndex, build_plan, model};
use common::{Reached, observed_equal_to, run_property};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

fn cases() -> ProptestConfig {
    common::proptest_config(
        128,
        concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/fuzz.txt"),
    )
}

const SELECTOR_WORDS: &[&str] = &[
    "any",
    "host",
    "external",
    "vm1",
    "vm2",
    "vm0",
    "vm99999",
    "@1",
    "@1-@3",
    "@3-@1",
    "10.0.0.0/8",
    "10.0.0.5",
    "fec0::/16",
    "2001:db8::/129",
    "1.2.3.4/33",
    "",
    " ",
    "vm1,vm2",
];

/// A config with every field arbitrary: most are invalid somewhere.
fn wild_config() -> impl Strategy<Value = Config> {
    (
        (
            prop_oneof![
                (0u32..300).prop_map(VmSelection::Count),
                prop::collection::vec(
                    prop_oneof![
                        (0u32..300).prop_map(VmSpec::Index),
                        "[0-9]{0,3}-?[0-9]{0,3}".prop_map(VmSpec::Range),
                    ],
                    0..5
                )
                .prop_map(VmSelection::List),
            ],
            "[a-z{}0-9 ._/-]{0,18}",
            (
                any::<u32>(),
                0u8..=32,
                any::<u128>(),
                0u8..=128,
                any::<bool>(),
            ),
        ),
        (
            any::<bool>(),
            0u16..=300,
            any::<bool>(),
            prop_oneof![0u32..200, 60u32..70_000, any::<u32>()],
            any::<(bool, bool, bool)>(),
        ),
        (
            any::<u32>(),
            any::<u8>(),
            "[a-z0-9 _.-]{0,40}",
            prop::option::of("[a-z0-9#{}-]{0,10}"),
            prop::option::of("[a-z0-9]{0,6}"),
            "[a-z0-9-]{0,20}",
        ),
        prop::collection::vec(
            (
                prop::sample::select(SELECTOR_WORDS),
                prop::sample::select(SELECTOR_WORDS),
                any::<bool>(),
                prop::option::of(prop_oneof![
                    Just(Protocol::Tcp),
                    Just(Protocol::Udp),
                    Just(Protocol::Icmp)
                ]),
                prop::option::of(any::<u16>()),
            ),
            0..5,
        ),
        (
            prop::collection::vec(any::<u32>(), 0..3),
            prop::collection::vec(any::<u16>(), 0..4),
            any::<(bool, bool)>(),
        ),
    )
        .prop_map(|(vms, tap, names, rules, misc)| {
            let (vms, template, (v4, p4, v6, p6, ipv6)) = vms;
            let (mq, queues, vnet, mtu, (nat4, nat6, anti)) = tap;
            let (group, proto, table, owner, gid, ext) = names;
            let (dns, ports, (inbound_drop, input_drop)) = misc;
            let mut c = Config::default();
            c.vms = vms;
            c.interface_template = template;
            c.ipv4.pool = Ipv4Net::new(Ipv4Addr::from(v4), p4).unwrap();
            c.ipv6.pool = Ipv6Net::new(Ipv6Addr::from(v6), p6).unwrap();
            c.ipv6.enabled = ipv6;
            c.tap.multi_queue = mq;
            c.tap.queues = queues;
            c.tap.vnet_hdr = vnet;
            c.tap.mtu = mtu;
            c.nat.ipv4 = nat4;
            c.nat.ipv6 = nat6;
            c.security.anti_spoofing = anti;
            c.ownership.link_group = group;
            c.ownership.route_protocol = proto;
            c.ownership.nft_table = table;
            c.owner = owner;
            c.group = gid;
            c.external_interface = ext;
            c.dns = dns
                .into_iter()
                .map(|d| IpAddr::V4(Ipv4Addr::from(d)))
                .collect();
            c.firewall.host_ports = ports;
            if inbound_drop {
                c.firewall.inbound_default = Action::Drop;
            }
            if input_drop {
                c.firewall.host_input_default = Action::Drop;
            }
            c.firewall.rules = rules
                .into_iter()
                .map(|(from, to, accept, protocol, port)| RuleConfig {
                    from: from.replace("@1", "vm1").replace("@3", "vm3"),
                    to: to.replace("@1", "vm1").replace("@3", "vm3"),
                    action: if accept { Action::Accept } else { Action::Drop },
                    protocol,
                    port,
                })
                .collect();
            c
        })
}

fn wild_facts() -> impl Strategy<Value = HostFacts> {
    (
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
        prop::option::of("[a-z0-9.@-]{0,17}"),
    )
        .prop_map(|(o, g, e)| HostFacts {
            owner_uid: o,
            group_gid: g,
            external_interface: e,
        })
}

/// The largest index both pools hold, kept one below what the layout
/// allows (so no VM gets a pool's last address) and at 65535 at most.
fn sound_max_index(v4: Ipv4Net, v6: Ipv6Net) -> u32 {
    let room = |bits: u32| {
        if bits >= 17 {
            0xffff
        } else {
            (1u32 << bits) - 2
        }
    };
    room(32 - u32::from(v4.prefix_len()))
        .min(room(128 - u32::from(v6.prefix_len())))
        .min(0xffff)
}

/// VMs as a count or as a list of disjoint indices and `A-B` ranges, with
/// the indices they select.
fn sound_vms(max: u32) -> impl Strategy<Value = (VmSelection, Vec<u32>)> {
    prop_oneof![
        (1..=max.min(40)).prop_map(|n| (VmSelection::Count(n), (1..=n).collect())),
        prop::collection::vec((1..=max, 0u32..4, any::<bool>()), 1..5).prop_map(move |parts| {
            let mut taken = BTreeSet::new();
            let mut specs = Vec::new();
            for (start, len, as_range) in parts {
                let end = start.saturating_add(len).min(max);
                if (start..=end).any(|i| taken.contains(&i)) {
                    continue;
                }
                taken.extend(start..=end);
                specs.push(if start == end && !as_range {
                    VmSpec::Index(start)
                } else {
                    VmSpec::Range(format!("{start}-{end}"))
                });
            }
            (VmSelection::List(specs), taken.into_iter().collect())
        }),
    ]
}

/// Rules with at least one end on planned VMs (a VM, or a range between two
/// planned VMs) and, when both ends are VMs, disjoint ones; the other end
/// `any`, `external` or a CIDR of the enabled families; a port only with
/// TCP or UDP; never two rules with the same match.
fn sound_rules(
    template: String,
    planned: Vec<u32>,
    ipv6: bool,
) -> impl Strategy<Value = Vec<RuleConfig>> {
    prop::collection::vec(
        (
            0u8..3,
            any::<[u16; 4]>(),
            0usize..5,
            any::<bool>(),
            prop::option::of(prop_oneof![
                Just(Protocol::Tcp),
                Just(Protocol::Udp),
                Just(Protocol::Icmp)
            ]),
            1u16..=65535,
        ),
        0..5,
    )
    .prop_map(move |rules| {
        let name = |i: u32| template.replace("{index}", &i.to_string());
        // A selector over planned[lo..hi] (hi > lo).
        let select = |lo: usize, hi: usize, r: [u16; 2]| {
            let a = lo + usize::from(r[0]) % (hi - lo);
            let b = a + usize::from(r[1]) % (hi - a);
            if a == b {
                name(planned[a])
            } else {
                format!("{}-{}", name(planned[a]), name(planned[b]))
            }
        };
        let mut others = vec!["any", "external", "192.0.2.0/24", "198.51.100.7"];
        if ipv6 {
            others.push("2001:db8::/32");
        }
        let n = planned.len();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for (kind, r, other, accept, protocol, port) in rules {
            let other = others[other % others.len()].to_string();
            let (from, to) = match kind {
                0 if n >= 2 => {
                    let split = 1 + usize::from(r[0]) % (n - 1);
                    let (a, b) = (
                        select(0, split, [r[1], r[2]]),
                        select(split, n, [r[3], r[0]]),
                    );
                    if r[3] % 2 == 0 { (a, b) } else { (b, a) }
                }
                1 => (select(0, n, [r[1], r[2]]), other),
                _ => (other, select(0, n, [r[1], r[2]])),
            };
            let port = matches!(protocol, Some(Protocol::Tcp | Protocol::Udp)).then_some(port);
            if seen.insert((from.clone(), to.clone(), format!("{protocol:?}"), port)) {
                out.push(RuleConfig {
                    from,
                    to,
                    action: if accept { Action::Accept } else { Action::Drop },
                    protocol,
                    port,
                });
            }
        }
        out
    })
}

/// A config built from valid parts only (a template with `{index}`, pools
/// with zero host bits, VM lists of disjoint ranges, rules over planned
/// VMs, an MTU IPv6 can use when it is on, safe names), and host facts
/// that agree with it: the planner should accept every one.
fn sound_config() -> impl Strategy<Value = (Config, HostFacts)> {
    (
        "[a-z][a-z0-9_-]{0,3}",
        prop_oneof![Just(String::new()), "[a-z_-][a-z0-9_-]?"],
        common::private_ipv4_pool(16),
        common::ula_ipv6_pool(64),
        any::<bool>(),
    )
        .prop_flat_map(|(prefix, suffix, v4, v6, ipv6)| {
            let template = format!("{prefix}{{index}}{suffix}");
            let vms = sound_vms(sound_max_index(v4, v6));
            (Just(template), Just((v4, v6, ipv6)), vms)
        })
        .prop_flat_map(|(template, (v4, v6, ipv6), (vms, planned))| {
            let rules = sound_rules(template.clone(), planned, ipv6);
            let min_mtu = if ipv6 { 1280 } else { 68 };
            (
                Just((template, v4, v6, ipv6, vms)),
                rules,
                (
                    any::<bool>(),
                    1u16..=8,
                    any::<bool>(),
                    prop_oneof![Just(1500u32), Just(9000), min_mtu..=65521u32],
                    any::<(bool, bool, bool)>(),
                ),
                (
                    1u32..=100_000,
                    5u8..=255,
                    "[a-z_][a-z0-9_-]{0,15}",
                    prop::option::of("[a-z][a-z0-9._-]{0,8}"),
                    prop::option::of("[a-z][a-z0-9._-]{0,8}"),
                    prop::sample::select(&["auto", "none", "eth0", "uplink0"][..]),
                ),
                (
                    prop::sample::subsequence(
                        &["9.9.9.9", "1.1.1.1", "192.0.2.53", "2620:fe::fe"][..],
                        0..=4,
                    ),
                    prop::collection::btree_set(1u16..=65535, 0..4),
                    any::<(bool, bool, bool)>(),
                    0u32..70_000,
                    0u32..70_000,
                ),
            )
        })
        .prop_map(|(head, rules, tap, names, misc)| {
            let (template, v4, v6, ipv6, vms) = head;
            let (mq, queues, vnet, mtu, (nat4, nat6, anti)) = tap;
            let (group, proto, table, owner, gid, ext) = names;
            let (dns, ports, (inbound_drop, input_drop, auto_found), uid, gid_n) = misc;
            let mut c = Config::default();
            c.vms = vms;
            c.interface_template = template;
            c.ipv4.pool = v4;
            c.ipv6.pool = v6;
            c.ipv6.enabled = ipv6;
            c.tap.multi_queue = mq;
            c.tap.queues = if mq { queues } else { 1 };
            c.tap.vnet_hdr = vnet;
            c.tap.mtu = mtu;
            c.nat.ipv4 = nat4;
            c.nat.ipv6 = nat6;
            c.security.anti_spoofing = anti;
            c.ownership.link_group = group;
            c.ownership.route_protocol = proto;
            c.ownership.nft_table = table;
            c.owner = owner.clone();
            c.group = gid.clone();
            c.external_interface = ext.to_string();
            c.dns = dns.iter().map(|d| d.parse().unwrap()).collect();
            c.firewall.host_ports = ports.into_iter().collect();
            if inbound_drop {
                c.firewall.inbound_default = Action::Drop;
            }
            if input_drop {
                c.firewall.host_input_default = Action::Drop;
            }
            // With no uplink a rule naming `external` can never match, and
            // the planner refuses it.
            c.firewall.rules = rules
                .into_iter()
                .filter(|r| ext != "none" || (r.from != "external" && r.to != "external"))
                .collect();
            let facts = HostFacts {
                owner_uid: owner.map(|_| uid),
                group_gid: gid.map(|_| gid_n),
                external_interface: match ext {
                    "none" => None,
                    "auto" => auto_found.then(|| "eth0".to_string()),
                    name => Some(name.to_string()),
                },
            };
            (c, facts)
        })
}

/// Whatever the planner accepts is sound: unique names and addresses,
/// names of at most 15 bytes, addresses in the pools, an MTU the kernel
/// takes, and the plan a fixed point of its own diff.
fn accepted_plans_are_sound(
    (config, facts): (Config, HostFacts),
) -> Result<Reached, TestCaseError> {
    let Ok(plan) = build_plan(&config, &facts) else {
        return Ok(Reached::Skipped);
    };
    let mut names = BTreeSet::new();
    let mut v4 = BTreeSet::new();
    let mut v6 = BTreeSet::new();
    for l in &plan.links {
        prop_assert!(
            names.insert(l.vm.interface.clone()),
            "{} twice",
            l.vm.interface
        );
        prop_assert!(v4.insert(l.vm.ipv4), "{} twice", l.vm.ipv4);
        prop_assert!(v6.insert(l.vm.ipv6), "{} twice", l.vm.ipv6);
        prop_assert!(l.vm.interface.len() <= 15, "{} is too long", l.vm.interface);
        prop_assert!(plan.layout.ipv4_pool().contains(&l.vm.ipv4));
        prop_assert_ne!(l.vm.ipv4, plan.layout.gateway_ipv4());
        if config.ipv6.enabled {
            prop_assert!(plan.layout.ipv6_pool().contains(&l.vm.ipv6));
            prop_assert_ne!(l.vm.ipv6, plan.layout.gateway_ipv6());
        }
        prop_assert!(l.mtu >= 68, "MTU {} on {}", l.mtu, l.vm.interface);
    }
    // An accepted plan is a fixed point of its own diff.
    prop_assert_eq!(
        diff(&plan, &observed_equal_to(&plan), &DiffOptions::default()).unwrap(),
        vec![]
    );
    Ok(Reached::Checks)
}

#[test]
fn arbitrary_configs_never_panic_and_accepted_plans_are_sound() {
    // Three in four configs are built from valid parts, so most cases get
    // past `build_plan`; the rest are wild (almost all refused).
    run_property(
        "accepted plans are sound",
        cases(),
        prop_oneof![3 => sound_config(), 1 => (wild_config(), wild_facts())],
        50,
        accepted_plans_are_sound,
    );
}

/// Keys of the config file (valid and not), and values of every TOML type.
const KEYS: &[&str] = &[
    "vms",
    "owner",
    "group",
    "external_interface",
    "interface_template",
    "dns",
    "ipv4.pool",
    "ipv6.pool",
    "ipv6.enabled",
    "tap.multi_queue",
    "tap.queues",
    "tap.vnet_hdr",
    "tap.mtu",
    "nat.ipv4",
    "nat.ipv6",
    "security.anti_spoofing",
    "firewall.inbound_default",
    "firewall.host_input_default",
    "firewall.host_ports",
    "ownership.link_group",
    "ownership.route_protocol",
    "ownership.nft_table",
    "bogus",
    "tap.bogus",
];
const VALUES: &[&str] = &[
    "3",
    "0",
    "-1",
    "4096",
    "99999999999",
    "1.5",
    "true",
    "\"\"",
    "\"root\"",
    "\"vm{index}\"",
    "\"x{index}{index}\"",
    "\"10.0.0.0/24\"",
    "\"10.0.0.1/24\"",
    "\"fec0::/64\"",
    "\"fd00::/127\"",
    "\"auto\"",
    "\"none\"",
    "\"drop\"",
    "\"accept\"",
    "[1, 2, \"3-5\"]",
    "[\"5-1\"]",
    "[]",
    "[\"8.8.8.8\"]",
    "[22, 80]",
    "{ a = 1 }",
    "\"a b\"",
    "65535",
    "1500",
];
const RULE_LINES: &[&str] = &[
    "from = \"vm1\"",
    "to = \"vm2\"",
    "from = \"external\"",
    "to = \"host\"",
    "action = \"drop\"",
    "action = \"accept\"",
    "action = \"maybe\"",
    "protocol = \"tcp\"",
    "protocol = \"icmp\"",
    "port = 22",
    "port = 0",
    "port = 70000",
    "from = \"10.0.0.0/33\"",
];

/// A TOML document assembled from random `key = value` lines, sections,
/// `[[firewall.rules]]` blocks and raw junk.
fn toml_fragments() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => (prop::sample::select(KEYS), prop::sample::select(VALUES)).prop_map(|(k, v)| {
                match k.split_once('.') {
                    Some((section, key)) => format!("[{section}]\n{key} = {v}"),
                    None => format!("{k} = {v}"),
                }
            }),
            2 => prop::collection::vec(prop::sample::select(RULE_LINES), 0..5)
                .prop_map(|l| format!("[[firewall.rules]]\n{}", l.join("\n"))),
            1 => "[\\[\\]=\"a-z0-9 .,{}#\n-]{0,16}",
        ],
        0..8,
    )
    .prop_map(|parts| parts.join("\n"))
}

/// No change deletes, recreates or re-attaches to a tap a VMM holds.
fn leaves_held_taps_alone(host: &ObservedHost, changes: &[Change]) -> Result<(), TestCaseError> {
    for c in changes {
        let name = match c {
            Change::DeleteLink { name }
            | Change::CreateTap { name, .. }
            | Change::SetTapOwnership { name, .. } => name,
            _ => continue,
        };
        let held = host
            .links
            .iter()
            .any(|l| &l.name == name && l.tun.as_ref().is_some_and(|t| t.queues > 0));
        prop_assert!(!held, "{:?} touches a tap a VMM holds", c);
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn toml_from_random_fragments_never_panics(text in toml_fragments(), facts in wild_facts()) {
        match Config::from_toml_str(&text, "fuzz.toml") {
            Ok(config) => {
                if let Err(e) = build_plan(&config, &facts) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Err(e) => {
                prop_assert_eq!(e.file.as_deref(), Some("fuzz.toml"));
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// Small valid plans: 1..6 VMs, IPv6 and NAT on or off, single- or
/// multi-queue taps.
fn plan_strategy() -> impl Strategy<Value = HostPlan> {
    (
        1u32..6,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0u32..3),
    )
        .prop_map(|(n, ipv6, mq, nat, owner)| {
            let mut c = Config::default();
            c.vms = VmSelection::Count(n);
            c.ipv6.enabled = ipv6;
            c.tap.multi_queue = mq;
            c.nat.ipv4 = nat;
            let facts = HostFacts {
                owner_uid: owner,
                group_gid: None,
                external_interface: nat.then(|| "eth0".to_string()),
            };
            build_plan(&c, &facts).unwrap()
        })
}

/// One observed link: a name that may collide with the plan, marks that
/// may be ours, half ours or foreign, any tun flags (or none), addresses
/// from a set that overlaps the plan's.
/// (name, group, alias, tun (tap, vnet_hdr, multi_queue, owner, queues a
/// VMM holds), up, mtu, addresses), each an index into the tables below or
/// a flag.
type LinkSpec = (
    usize,
    u8,
    u8,
    Option<(bool, bool, bool, Option<u32>, u32)>,
    bool,
    u32,
    Vec<usize>,
);

fn link_strategy() -> impl Strategy<Value = LinkSpec> {
    (
        0usize..9,
        0u8..3,
        0u8..3,
        prop::option::of((
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::option::of(0u32..3),
            prop::sample::select(&[0u32, 0, 1, 2][..]),
        )),
        any::<bool>(),
        prop::sample::select(&[1500u32, 1400, 9000][..]),
        prop::collection::vec(0usize..6, 0..4),
    )
}

const LINK_NAMES: &[&str] = &[
    "vm1", "vm2", "vm3", "vm4", "vm5", "vm6", "vm9", "eth0", "zz", "vmgw",
];
const ADDRESSES: &[&str] = &[
    "10.0.0.0/32",
    "fec0::/128",
    "10.0.0.0/24",
    "192.0.2.1/24",
    "fe80::1/64",
    "10.0.0.3/32",
];
const DESTINATIONS: &[&str] = &[
    "10.0.0.1/32",
    "10.0.0.2/32",
    "10.0.0.3/32",
    "fec0::1/128",
    "fec0::2/128",
    "10.0.0.128/25",
    "10.0.0.0/24",
    "fec0::/64",
    "0.0.0.0/0",
    "198.51.100.0/24",
    "10.1.0.0/16",
];

/// Any host: foreign and half-marked links under planned names, links of
/// ours that are not taps or have other flags, routes of ours on the wrong
/// link or in other tables, foreign routes inside and outside the pools,
/// any sysctl values and any state of our table.
fn wild_host(plan: &HostPlan) -> impl Strategy<Value = ObservedHost> + use<> {
    let own = plan.ownership.clone();
    let planned_sysctls = observed_equal_to(plan).sysctls;
    (
        prop::collection::vec(link_strategy(), 0..8),
        prop::collection::vec(
            (
                0usize..DESTINATIONS.len(),
                0usize..10,
                any::<bool>(),
                0u8..3,
            ),
            0..8,
        ),
        prop::collection::vec(prop::sample::select(&["0", "1", "2"][..]), 8),
        0u8..3,
        prop::collection::vec(any::<bool>(), 8),
    )
        .prop_map(move |(links, routes, sysvals, fw, sys_present)| {
            let mut host = common::empty_host();
            let mut seen = BTreeSet::new();
            for (i, (name, group, alias, tun, up, mtu, addrs)) in links.into_iter().enumerate() {
                let name = LINK_NAMES[name];
                if !seen.insert(name) {
                    continue;
                }
                let mut addresses: Vec<IpNet> = addrs
                    .iter()
                    .map(|a| ADDRESSES[*a].parse().unwrap())
                    .collect();
                addresses.sort();
                addresses.dedup();
                host.links.push(ObservedLink {
                    ifindex: 10 + i as u32,
                    name: name.to_string(),
                    group: [own.link_group, 0, 7][group as usize],
                    alias: match alias {
                        0 => Some(own.alias_for(name)),
                        1 => None,
                        _ => Some(format!("{ALIAS_PREFIX}stale")),
                    },
                    up,
                    mtu,
                    tun: tun.map(|(tap, vnet_hdr, multi_queue, owner, queues)| TunInfo {
                        tap,
                        pi: false,
                        vnet_hdr,
                        multi_queue,
                        persist: true,
                        owner,
                        group: None,
                        queues,
                    }),
                    root_noqueue: false,
                    root_qdisc: None,
                    ingress_qdisc: false,
                    addresses,
                    proxy_neighbours: Vec::new(),
                });
            }
            let names: Vec<String> = host.links.iter().map(|l| l.name.clone()).collect();
            let mut keys = BTreeSet::new();
            for (dest, dev, ours, table) in routes {
                let destination: IpNet = DESTINATIONS[dest].parse().unwrap();
                let table = [254u32, 255, 100][table as usize];
                let interface = names.get(dev).cloned();
                // The kernel holds one route per destination and table.
                if !keys.insert((destination, table)) {
                    continue;
                }
                // A route needs its link to be up (or to be a local route).
                if let Some(dev) = &interface
                    && table != 255
                    && !host.links.iter().any(|l| &l.name == dev && l.up)
                {
                    continue;
                }
                host.routes.push(ObservedRoute {
                    destination,
                    interface,
                    protocol: if ours { own.route_protocol } else { 4 },
                    table,
                    kind: RouteKind::Unicast,
                    gateway: None,
                    source: None,
                });
            }
            // Per-link keys of absent links do not exist; others may hold anything.
            for ((k, _), (v, present)) in planned_sysctls
                .iter()
                .zip(sysvals.into_iter().zip(sys_present))
            {
                if present {
                    host.sysctls.insert(k.clone(), v.to_string());
                }
            }
            host.firewall = match fw {
                0 => ObservedFirewall::Absent,
                1 => ObservedFirewall::InSync,
                _ => ObservedFirewall::Differs(vec!["drift".into()]),
            };
            host
        })
}

fn plan_and_wild_host() -> impl Strategy<Value = (HostPlan, ObservedHost, bool)> {
    plan_strategy().prop_flat_map(|plan| (Just(plan.clone()), wild_host(&plan), any::<bool>()))
}

/// `host` with nothing in the way of `plan`, decided from the marks and
/// the pools alone (not by asking the diff): a link under a planned name
/// that does not carry both our marks is renamed out of the way (its routes
/// follow it), and a route that is not ours with a link and overlaps a
/// pool is dropped. Everything else stays: links of ours with other flags
/// or held by a VMM, stale aliases, routes of ours anywhere, foreign routes
/// outside the pools, any sysctls and any state of our table.
fn out_of_the_way(plan: &HostPlan, mut host: ObservedHost) -> ObservedHost {
    let own = &plan.ownership;
    let planned: BTreeSet<&str> = plan.links.iter().map(|l| l.vm.interface.as_str()).collect();
    for (i, link) in host.links.iter_mut().enumerate() {
        let marked = link.group == own.link_group
            && link
                .alias
                .as_deref()
                .is_some_and(|a| a.starts_with(ALIAS_PREFIX));
        if planned.contains(link.name.as_str()) && !marked {
            let new = format!("fx{i}");
            for r in &mut host.routes {
                if r.interface.as_deref() == Some(link.name.as_str()) {
                    r.interface = Some(new.clone());
                }
            }
            link.name = new;
        }
    }
    let mut pools = vec![IpNet::V4(plan.layout.ipv4_pool())];
    if let Some(v6) = plan.firewall.ipv6_pool {
        pools.push(IpNet::V6(v6));
    }
    host.routes.retain(|r| {
        let ours = r.protocol == own.route_protocol && r.interface.is_some();
        ours || !pools.iter().any(|p| {
            p.contains(&r.destination)
                || (r.destination.prefix_len() > 0 && r.destination.contains(p))
        })
    });
    host
}

/// Mostly hosts with nothing in the way (so the properties below reach
/// their checks), one in four as wild as `plan_and_wild_host`.
fn plan_and_host_to_converge() -> impl Strategy<Value = (HostPlan, ObservedHost, bool)> {
    prop_oneof![
        3 => plan_strategy().prop_flat_map(|plan| {
            let tame = wild_host(&plan).prop_map({
                let plan = plan.clone();
                move |host| out_of_the_way(&plan, host)
            });
            (Just(plan), tame, any::<bool>())
        }),
        1 => plan_and_wild_host(),
    ]
}

/// A link the changes may touch: ours when observed, or created by them.
fn may_touch(host: &ObservedHost, plan: &HostPlan, name: &str, created: &BTreeSet<String>) -> bool {
    created.contains(name)
        || host
            .links
            .iter()
            .any(|l| l.name == name && is_ours(l, &plan.ownership))
}

/// Every change acts on our objects only.
fn touches_only_ours(
    plan: &HostPlan,
    host: &ObservedHost,
    changes: &[Change],
) -> Result<(), TestCaseError> {
    let own = &plan.ownership;
    let created: BTreeSet<String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateTap { name, .. } | Change::CreateIfb { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    for c in changes {
        match c {
            Change::DeleteLink { name } => {
                let link = host.links.iter().find(|l| &l.name == name);
                prop_assert!(link.is_some_and(|l| is_ours(l, own)), "{:?}", c);
            }
            Change::DeleteLinkGroup { group } => prop_assert_eq!(*group, own.link_group),
            Change::DeleteRoute { protocol, .. } | Change::AddRoute { protocol, .. } => {
                prop_assert_eq!(*protocol, own.route_protocol)
            }
            Change::DeleteAddress { interface, .. } | Change::AddAddress { interface, .. } => {
                prop_assert!(may_touch(host, plan, interface, &created), "{:?}", c)
            }
            Change::AddProxyNeighbour {
                interface,
                protocol,
                ..
            } => {
                prop_assert_eq!(*protocol, own.route_protocol);
                prop_assert!(may_touch(host, plan, interface, &created), "{:?}", c)
            }
            Change::DeleteProxyNeighbour { interface, .. } => {
                prop_assert!(may_touch(host, plan, interface, &created), "{:?}", c)
            }
            Change::CreateTap { name, .. } => {
                let existing = host.links.iter().find(|l| &l.name == name);
                prop_assert!(existing.is_none_or(|l| is_ours(l, own)), "{:?}", c);
            }
            Change::SetTapOwnership { name, .. }
            | Change::SetLink { name, .. }
            | Change::AddNoqueue { name }
            | Change::SetLimit { name, .. }
            | Change::DeleteLimit { name }
            | Change::CreateIfb { name, .. }
            | Change::AddIngressQdisc { name }
            | Change::AddRedirect { name, .. }
            | Change::DeleteIngressQdisc { name }
            | Change::LinkUp { name } => {
                prop_assert!(may_touch(host, plan, name, &created), "{:?}", c)
            }
            Change::SetSysctl { key, .. } => prop_assert!(
                plan.sysctls
                    .iter()
                    .chain(plan.links.iter().flat_map(|l| &l.sysctls))
                    .any(|s| &s.key == key),
                "{:?}",
                c
            ),
            Change::ReplaceFirewall { firewall } => {
                prop_assert_eq!(&firewall.table, &own.nft_table)
            }
            Change::DeleteFirewall { table }
            | Change::AddFirewallVm { table, .. }
            | Change::RemoveFirewallVm { table, .. } => prop_assert_eq!(table, &own.nft_table),
        }
    }
    Ok(())
}

/// Foreign links and routes (not ours, not deleted with a link of ours)
/// are exactly as they were.
fn foreign_kept(
    plan: &HostPlan,
    before: &ObservedHost,
    after: &ObservedHost,
) -> Result<(), TestCaseError> {
    let own = &plan.ownership;
    for l in before.links.iter().filter(|l| !is_ours(l, own)) {
        prop_assert!(after.links.contains(l), "foreign link changed: {:?}", l);
    }
    let ours: BTreeSet<&str> = before
        .links
        .iter()
        .filter(|l| is_ours(l, own))
        .map(|l| l.name.as_str())
        .collect();
    for r in before
        .routes
        .iter()
        .filter(|r| r.protocol != own.route_protocol)
    {
        if r.interface.as_deref().is_some_and(|d| ours.contains(d)) {
            continue;
        }
        prop_assert!(after.routes.contains(r), "foreign route changed: {:?}", r);
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn diff_on_any_host_names_real_conflicts_or_converges_in_one_round((plan, host, recreate) in plan_and_wild_host()) {
        let options = DiffOptions { allow_recreate: recreate };
        let found = match reconcile(&plan, &host, &options).into_changes() {
            Ok((changes, left_as_is)) => (changes, left_as_is),
            Err(conflicts) => {
                prop_assert!(!conflicts.0.is_empty());
                for c in &conflicts.0 {
                    match c {
                        Conflict::ForeignLink { name, .. } => prop_assert!(
                            host.links.iter().any(|l| &l.name == name && !is_ours(l, &plan.ownership)), "{}", c),
                        Conflict::ForeignRoute { destination, interface, protocol, .. } => prop_assert!(
                            (*protocol != plan.ownership.route_protocol || interface.is_none())
                                && host.routes.iter().any(|r| r.destination == *destination), "{}", c),
                        other => prop_assert!(!other.is_per_vm(), "a per-VM conflict stopped the host: {}", other),
                    }
                }
                return Ok(());
            }
        };
        let (changes, left_as_is) = found;
        for c in &left_as_is {
            let name = match c {
                Conflict::TapFlags { name, queues, .. } => {
                    prop_assert!(!recreate || *queues > 0, "{}", c);
                    name
                }
                Conflict::TapOwnershipHeld { name, .. } | Conflict::TapHeldUnplanned { name, .. } => name,
                other => { prop_assert!(false, "not per-VM: {}", other); continue }
            };
            prop_assert!(host.links.iter().any(|l| &l.name == name && is_ours(l, &plan.ownership)), "{}", c);
        }
        touches_only_ours(&plan, &host, &changes)?;
        leaves_held_taps_alone(&host, &changes)?;
        let after = model::try_apply(&host, &changes, &plan);
        prop_assert!(after.is_ok(), "{:?}\n{:#?}", after, changes);
        let after = after.unwrap();
        let again = reconcile(&plan, &after, &options).into_changes().unwrap();
        prop_assert_eq!(again, (vec![], left_as_is));
        foreign_kept(&plan, &host, &after)?;
    }

}

/// An apply cut after any change (the model twin of an interrupted run)
/// converges on the next run, which only finishes what the first left.
fn a_cut_apply_converges(
    ((plan, host, recreate), cut): ((HostPlan, ObservedHost, bool), prop::sample::Index),
) -> Result<Reached, TestCaseError> {
    let options = DiffOptions {
        allow_recreate: recreate,
    };
    // Taps a VMM holds are left as they are (`left_as_is`) and the rest is
    // applied; only a conflict that stops the whole host has nothing to cut.
    let Ok((changes, left_as_is)) = reconcile(&plan, &host, &options).into_changes() else {
        return Ok(Reached::Skipped);
    };
    let k = cut.index(changes.len() + 1);
    let partial = model::try_apply(&host, &changes[..k], &plan);
    prop_assert!(partial.is_ok(), "{:?}", partial);
    let partial = partial.unwrap();
    let rest = reconcile(&plan, &partial, &options).into_changes();
    prop_assert!(rest.is_ok(), "cut after {}: {:?}", k, rest);
    let (rest, left_again) = rest.unwrap();
    prop_assert_eq!(&left_again, &left_as_is, "cut after {}", k);
    // Never more to do than before, nothing redone twice: each change of
    // the second run is one the first run had not made yet (`changes[k..]`),
    // each used once.
    let mut undone: Vec<&Change> = changes[k..].iter().collect();
    for c in &rest {
        let Some(at) = undone.iter().position(|u| *u == c) else {
            return Err(TestCaseError::fail(format!(
                "cut after {k}: {c:?} was not left undone by the first run {changes:#?}"
            )));
        };
        undone.remove(at);
    }
    let after = model::try_apply(&partial, &rest, &plan);
    prop_assert!(after.is_ok(), "cut after {}: {:?}", k, after);
    let after = after.unwrap();
    prop_assert_eq!(
        reconcile(&plan, &after, &options).into_changes().unwrap(),
        (vec![], left_as_is)
    );
    foreign_kept(&plan, &host, &after)?;
    Ok(Reached::Checks)
}

#[test]
fn an_apply_cut_after_any_change_converges_on_the_next_run() {
    run_property(
        "a cut apply converges",
        cases(),
        (plan_and_host_to_converge(), any::<prop::sample::Index>()),
        50,
        a_cut_apply_converges,
    );
}

/// The VMs whose set elements `changes` add (`add`) or remove.
fn firewall_vms(changes: &[Change], add: bool) -> Vec<&FirewallVm> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::AddFirewallVm { vm, .. } if add => Some(vm),
            Change::RemoveFirewallVm { vm, .. } if !add => Some(vm),
            _ => None,
        })
        .collect()
}

/// Unwiring one VM of a converged host and wiring it again gives the plan
/// back, touching no other VM.
fn unwire_then_wire(
    ((plan, host, _), pick): ((HostPlan, ObservedHost, bool), prop::sample::Index),
) -> Result<Reached, TestCaseError> {
    let options = DiffOptions::default();
    let Ok((changes, left_as_is)) = reconcile(&plan, &host, &options).into_changes() else {
        return Ok(Reached::Skipped);
    };
    let synced = model::try_apply(&host, &changes, &plan);
    prop_assert!(synced.is_ok(), "{:?}", synced);
    let synced = synced.unwrap();
    prop_assert_eq!(&synced.firewall, &ObservedFirewall::InSync);
    // A VM whose tap was left as it is (a VMM holds it, or its flags differ)
    // is not one to unwire here.
    let free: Vec<&blixard_addr::plan::LinkPlan> = plan
        .links
        .iter()
        .filter(|l| {
            !left_as_is.iter().any(|c| match c {
                Conflict::TapFlags { name, .. }
                | Conflict::TapOwnershipHeld { name, .. }
                | Conflict::TapHeldUnplanned { name, .. } => *name == l.vm.interface,
                _ => false,
            })
        })
        .collect();
    if free.is_empty() {
        return Ok(Reached::Skipped);
    }
    let lp = free[pick.index(free.len())];
    let index: VmIndex = lp.vm.index;
    let elements = plan.firewall.vms.iter().find(|v| v.index == index);
    prop_assert!(
        elements.is_some(),
        "vm {} not in the plan's table",
        index.get()
    );
    let elements = elements.unwrap();

    // The model holds our table as absent, equal to the plan, or differing:
    // set elements are below that resolution (it leaves the table as it is
    // on AddFirewallVm/RemoveFirewallVm), so it cannot represent "the table
    // without one VM's elements". This test tracks those elements itself:
    // unwire removes exactly this VM's, and observe would then report the
    // table as differing from the plan.
    let unwire = unwire_vm(&plan, index, &synced);
    prop_assert_eq!(firewall_vms(&unwire, false), vec![elements]);
    let removed = model::try_apply(&synced, &unwire, &plan);
    prop_assert!(removed.is_ok(), "{:?}", removed);
    let mut removed = removed.unwrap();
    prop_assert!(!removed.links.iter().any(|l| l.name == lp.vm.interface));
    removed.firewall =
        ObservedFirewall::Differs(vec![format!("no set elements for {}", lp.vm.interface)]);

    // Wire adds exactly those elements back, and not the whole table.
    let wire = wire_vm(&plan, index, &removed, &options);
    prop_assert!(wire.is_ok(), "{:?}", wire);
    let wire = wire.unwrap();
    prop_assert_eq!(firewall_vms(&wire, true), vec![elements]);
    prop_assert!(
        !wire.iter().any(|c| matches!(
            c,
            Change::ReplaceFirewall { .. } | Change::DeleteFirewall { .. }
        )),
        "{:?}",
        wire
    );
    let rewired = model::try_apply(&removed, &wire, &plan);
    prop_assert!(rewired.is_ok(), "{:?}", rewired);
    let mut rewired = rewired.unwrap();
    // The model cannot see the elements come back either; they were the
    // table's only difference from the plan and wire added exactly them.
    prop_assert_eq!(&rewired.firewall, &removed.firewall);
    rewired.firewall = ObservedFirewall::InSync;
    prop_assert_eq!(
        reconcile(&plan, &rewired, &options).into_changes().unwrap(),
        (vec![], left_as_is)
    );
    // No other link, route or sysctl changed on the way.
    let others = |h: &ObservedHost| {
        let links: Vec<ObservedLink> = h
            .links
            .iter()
            .filter(|l| l.name != lp.vm.interface)
            .cloned()
            .collect();
        let routes: BTreeSet<String> = h
            .routes
            .iter()
            .filter(|r| r.interface.as_deref() != Some(lp.vm.interface.as_str()))
            .map(|r| format!("{r:?}"))
            .collect();
        (links, routes, h.sysctls.clone())
    };
    prop_assert_eq!(others(&rewired), others(&synced));
    Ok(Reached::Checks)
}

#[test]
fn unwire_then_wire_one_vm_returns_to_the_plan() {
    run_property(
        "unwire then wire",
        cases(),
        (plan_and_host_to_converge(), any::<prop::sample::Index>()),
        50,
        unwire_then_wire,
    );
}
