//! Unit tests of the cluster addressing (blocks, lone VMs), the `[bgp]`
//! checks and the BIRD renderer.

use std::collections::BTreeSet;

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::config::Config;

const PEERS: &str = "[bgp]\nasn = 64512\nrouter_id = \"198.51.100.2\"\n\
                     [[bgp.peers]]\naddress = \"198.51.100.1\"\nasn = 64512\n\
                     [[bgp.peers]]\naddress = \"198.51.100.3\"\nasn = 64512\n";

fn cluster_config(vms: &str, extra: &str) -> String {
    format!(
        "vms = {vms}\n[ipv4]\npool = \"10.0.0.0/16\"\n[ipv6]\npool = \"fd00:b1::/64\"\n{PEERS}{extra}"
    )
}

fn plan_of(text: &str) -> BgpPlan {
    let config = Config::from_toml_str(text, "net.toml").unwrap();
    config
        .validated()
        .unwrap()
        .bgp()
        .cloned()
        .expect("[bgp] is set")
}

fn blocks(plan: &BgpPlan) -> Vec<String> {
    plan.blocks
        .iter()
        .map(|b| format!("{} {}", b.ipv4, b.ipv6.unwrap()))
        .collect()
}

fn lone(plan: &BgpPlan) -> Vec<u32> {
    plan.lone_vms.iter().map(|v| v.index.get()).collect()
}

#[test]
fn a_range_is_its_largest_aligned_blocks_and_the_odd_ends_stand_alone() {
    let plan = plan_of(&cluster_config("[\"65-128\"]", ""));
    assert_eq!(
        blocks(&plan),
        [
            "10.0.0.66/31 fd00:b1::42/127",
            "10.0.0.68/30 fd00:b1::44/126",
            "10.0.0.72/29 fd00:b1::48/125",
            "10.0.0.80/28 fd00:b1::50/124",
            "10.0.0.96/27 fd00:b1::60/123",
        ]
    );
    assert_eq!(lone(&plan), [65, 128]);
    let vm = plan.lone_vms[1];
    assert_eq!(
        (vm.ipv4.to_string(), vm.ipv6.unwrap().to_string()),
        ("10.0.0.128/32".into(), "fd00:b1::80/128".into())
    );
    // An aligned range is one block; a VM moved in from another host's
    // block stands alone.
    let plan = plan_of(&cluster_config("[\"64-127\", 5]", ""));
    assert_eq!(blocks(&plan), ["10.0.0.64/26 fd00:b1::40/122"]);
    assert_eq!(lone(&plan), [5]);
    assert!(plan.blocks[0].contains(VmIndex::new(127).unwrap()));
    assert!(!plan.blocks[0].contains(VmIndex::new(128).unwrap()));
}

#[test]
fn the_gateway_is_in_no_block() {
    // 1..=64: the block 0-63 would hold the gateway, index 0.
    let plan = plan_of(&cluster_config("64", ""));
    assert_eq!(lone(&plan), [1, 64]);
    assert_eq!(plan.blocks[0].ipv4.to_string(), "10.0.0.2/31");
    assert!(
        plan.blocks
            .iter()
            .all(|b| !b.ipv4.contains(&plan.ipv4_pool.network()))
    );
    assert_eq!(
        plan.gateways(),
        (
            "10.0.0.0".parse().unwrap(),
            Some("fd00:b1::".parse().unwrap())
        )
    );
}

proptest! {
    #[test]
    fn blocks_and_lone_vms_cover_the_indices_exactly_once(
        indices in proptest::collection::btree_set(1u32..=300, 0..120)
    ) {
        let indices: Vec<VmIndex> = indices.into_iter().map(|i| VmIndex::new(i).unwrap()).collect();
        let (runs, alone) = blocks::aligned_runs(&indices);
        let mut covered: Vec<u32> = alone.iter().map(|i| i.get()).collect();
        for run in &runs {
            let size = 1u32 << run.bits;
            prop_assert!(run.bits >= 1);
            prop_assert_eq!(run.first % size, 0, "aligned");
            covered.extend(run.first..run.first + size);
        }
        covered.sort_unstable();
        let wanted: Vec<u32> = indices.iter().map(|i| i.get()).collect();
        prop_assert_eq!(covered, wanted);
        // Largest: no two neighbouring runs of one size form a bigger
        // aligned run.
        for pair in runs.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let size = 1u32 << a.bits;
            prop_assert!(!(a.bits == b.bits && a.first % (2 * size) == 0 && b.first == a.first + size));
        }
    }
}

#[test]
fn no_bgp_section_no_bgp_plan_and_the_section_round_trips() {
    let config = Config::from_toml_str("vms = 2\n", "net.toml").unwrap();
    assert_eq!(config.validated().unwrap().bgp(), None);
    let text = cluster_config("[\"65-128\"]", "");
    let text = text.replacen(
        "[[bgp.peers]]",
        "bird_config = \"/run/blixard/bird.conf\"\nbird_socket = \"/run/bird/bird.ctl\"\nipv6_next_hop = \"2001:db8::2\"\n[[bgp.peers]]",
        1,
    );
    let config = Config::from_toml_str(&text, "net.toml").unwrap();
    let bgp = config.bgp.clone().unwrap();
    assert_eq!(bgp.peers.len(), 2);
    assert_eq!(
        bgp.bird_socket.as_deref(),
        Some(Path::new("/run/bird/bird.ctl"))
    );
    let again = Config::from_toml_str(&config.to_toml_string(), "again.toml").unwrap();
    assert_eq!(again, config);
}

fn err(text: &str) -> ConfigError {
    Config::from_toml_str(text, "net.toml").expect_err("must be refused")
}

fn assert_at(e: &ConfigError, line: u32, key: &str, says: &str) {
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.key.as_deref(), Some(key), "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("net.toml:{line}:")), "{shown}");
    assert!(shown.contains(says), "{shown}");
}

#[test]
fn bgp_errors_name_file_line_and_key() {
    let base = cluster_config("[\"65-128\"]", "");
    // Lines: 1 vms, 2 [ipv4], 3 pool, 4 [ipv6], 5 pool, 6 [bgp], 7 asn,
    // 8 router_id, 9 [[bgp.peers]], 10 address, 11 asn, 12 [[...]], 13, 14.
    let e = err(&base.replace("asn = 64512\nrouter_id", "asn = 0\nrouter_id"));
    assert_at(&e, 7, "bgp.asn", "AS 0 is reserved");
    let e = err(&base.replace("198.51.100.2", "10.0.3.1"));
    assert_at(&e, 8, "bgp.router_id", "inside the VM pool 10.0.0.0/16");
    let e = err(&base.replace("198.51.100.2", "127.0.0.1"));
    assert_at(&e, 8, "bgp.router_id", "loopback");
    let e = err(&base.replace("198.51.100.2", "not-an-address"));
    assert_at(&e, 8, "bgp.router_id", "IPv4");
    let e = err(&base.replace("198.51.100.3", "198.51.100.1"));
    assert_at(&e, 13, "bgp.peers[1].address", "already bgp.peers[0]");
    let e = err(&base.replace("198.51.100.3", "198.51.100.2"));
    assert_at(&e, 13, "bgp.peers[1].address", "this host's router id");
    let e = err(&base.replace("198.51.100.3\"\nasn = 64512", "198.51.100.3\"\nasn = 23456"));
    assert_at(&e, 14, "bgp.peers[1].asn", "AS_TRANS");
    let e = err(&base.replace("asn = 64512\nrouter_id", "router_id"));
    assert_eq!(e.line, Some(6), "{e}");
    assert!(e.to_string().contains("asn"), "{e}");
    let with = |line: &str| base.replacen("[[bgp.peers]]", &format!("{line}\n[[bgp.peers]]"), 1);
    let e = err(&with("bird_config = \"bird.conf\""));
    assert_at(&e, 9, "bgp.bird_config", "not an absolute path");
    let e = err(&with("bird_socket = \"/run/bird.ctl\""));
    assert_at(&e, 9, "bgp.bird_socket", "needs bgp.bird_config");
    let e = err(&with("ipv6_next_hop = \"fe80::1\""));
    assert_at(&e, 9, "bgp.ipv6_next_hop", "link-local");
    let e = err(&with("ipv6_next_hop = \"fd00:b1::9\""));
    assert_at(
        &e,
        9,
        "bgp.ipv6_next_hop",
        "inside the VM pool fd00:b1::/64",
    );
    let e = err(&with("unknown = 1"));
    assert_at(&e, 9, "bgp.unknown", "unknown field");
}

fn wired(indices: &[u32]) -> BTreeSet<VmIndex> {
    indices.iter().map(|&i| VmIndex::new(i).unwrap()).collect()
}

#[test]
fn the_bird_config_blackholes_blocks_and_announces_wired_lone_vms() {
    let plan = plan_of(&cluster_config("[\"65-128\"]", ""));
    let all = bird::render(&plan, &plan.all_lone());
    for line in [
        "router id 198.51.100.2;",
        "protocol static blixard_blocks4 {\n    ipv4;\n    route 10.0.0.66/31 blackhole;\n    route 10.0.0.68/30 blackhole;",
        "    route fd00:b1::60/123 blackhole;",
        "protocol static blixard_vms4 {\n    ipv4;\n    route 10.0.0.65/32 blackhole;\n    route 10.0.0.128/32 blackhole;\n}",
        "protocol static blixard_vms6 {\n    ipv6;\n    route fd00:b1::41/128 blackhole;\n    route fd00:b1::80/128 blackhole;\n}",
        "    metric 2048;\n    persist;\n    graceful restart on;",
        "            if proto = \"blixard_blocks6\" || proto = \"blixard_pool6\" then accept;\n            if source = RTS_BGP then accept;",
        "protocol static blixard_pool4 {\n    ipv4;\n    route 10.0.0.0/16 unreachable;\n}",
        "protocol static blixard_pool6 {\n    ipv6;\n    route fd00:b1::/64 unreachable;\n}",
        "    if net.len = 0 then reject;\n    if net !~ [ 10.0.0.0/16+ ] then reject;\n    if net.ip = 10.0.0.0 then reject;\n    if net ~ [ 10.0.0.66/31, 10.0.0.68/30, 10.0.0.72/29, 10.0.0.80/28, 10.0.0.96/27 ] then reject;",
        "    if net !~ [ fd00:b1::/64+ ] then reject;\n    if net.ip = fd00:b1:: then reject;",
        "    if proto = \"blixard_blocks4\" || proto = \"blixard_vms4\" then accept;\n    reject;",
        "template bgp blixard_peer {\n    local 198.51.100.2 as 64512;\n    direct;\n    graceful restart on;\n    ipv4 {\n        import filter blixard_import4;\n        export filter blixard_export4;\n        next hop self;\n    };",
        "protocol bgp blixard_peer_198_51_100_1 from blixard_peer {\n    neighbor 198.51.100.1 as 64512;\n}",
        "protocol bgp blixard_peer_198_51_100_3 from blixard_peer {",
    ] {
        assert!(all.contains(line), "missing {line:?} in\n{all}");
    }
    assert!(!all.contains("next hop address"), "{all}");
    // An unwired lone VM is not announced; the blocks stay.
    let some = bird::render(&plan, &wired(&[128, 90]));
    assert!(!some.contains("10.0.0.65/32"), "{some}");
    assert!(some.contains("route 10.0.0.128/32 blackhole;"), "{some}");
    assert!(some.contains("route 10.0.0.80/28 blackhole;"), "{some}");
    assert_eq!(some, bird::render(&plan, &wired(&[128])));
    let none = bird::render(&plan, &BTreeSet::new());
    assert!(
        none.contains("protocol static blixard_vms4 {\n    ipv4;\n}"),
        "{none}"
    );
}

#[test]
fn without_ipv6_the_bird_config_has_no_ipv6_and_a_next_hop_is_rendered_when_named() {
    let text = cluster_config("[\"64-127\"]", "").replacen(
        "[[bgp.peers]]",
        "ipv6_next_hop = \"2001:db8::2\"\n[[bgp.peers]]",
        1,
    );
    let plan = plan_of(&text);
    let out = bird::render(&plan, &plan.all_lone());
    assert!(
        out.contains("        next hop self;\n        next hop address 2001:db8::2;\n    };"),
        "{out}"
    );
    let plan = plan_of(
        &format!("{text}[ipv6]\nenabled = false\n")
            .replace("[ipv6]\npool = \"fd00:b1::/64\"\n", ""),
    );
    assert_eq!(plan.ipv6_pool, None);
    let out = bird::render(&plan, &plan.all_lone());
    assert!(!out.contains("ipv6"), "{out}");
    assert!(!out.contains("blixard_kernel6"), "{out}");
    assert!(out.contains("protocol kernel blixard_kernel4"), "{out}");
}

fn bird_route(destination: &str) -> crate::state::ObservedRoute {
    crate::state::ObservedRoute {
        destination: destination.parse().unwrap(),
        interface: Some("eth0".into()),
        protocol: RTPROT_BIRD,
        table: 254,
        kind: crate::state::RouteKind::Unicast,
        gateway: Some("198.51.100.1".parse().unwrap()),
        source: None,
    }
}

#[test]
fn the_report_judges_the_file_the_sessions_and_birds_routes_against_the_kernels() {
    use report::{BirdAnswer, BirdFacts, ConfigFileState};
    let text = cluster_config("[\"64-127\", 5]", "").replacen(
        "[[bgp.peers]]",
        "bird_config = \"/etc/blixard/bird.conf\"\nbird_socket = \"/run/bird.ctl\"\n[[bgp.peers]]",
        1,
    );
    let plan = plan_of(&text);
    let mut facts = BirdFacts::new(wired(&[5]));
    let r = report::report(&plan, &facts);
    assert_eq!(r.config_file, ConfigFileState::Missing);
    assert!(!r.in_sync());
    facts.config_file = Some(bird::render(&plan, &wired(&[5])));
    assert_eq!(
        report::report(&plan, &facts).config_file,
        ConfigFileState::Current
    );
    // The file announces VM 5, which is no longer wired: stale.
    facts.wired.clear();
    assert_eq!(
        report::report(&plan, &facts).config_file,
        ConfigFileState::Stale
    );
    facts.wired = wired(&[5]);

    facts.bird = Some(Err(
        "birdc -s /run/bird.ctl show protocols: Unable to connect".into(),
    ));
    let r = report::report(&plan, &facts);
    assert!(
        r.bird_error
            .as_deref()
            .unwrap()
            .contains("Unable to connect")
    );
    assert!(!r.in_sync());

    facts.kernel_routes = vec![bird_route("10.0.0.128/26"), bird_route("10.0.0.64/26")];
    facts.bird = Some(Ok(BirdAnswer::new(
        vec![
            (
                "blixard_peer_198_51_100_1".into(),
                "up".into(),
                "Established".into(),
            ),
            (
                "blixard_peer_198_51_100_3".into(),
                "start".into(),
                "Active Socket: Connection refused".into(),
            ),
        ],
        vec![
            "10.0.0.64/26".parse().unwrap(),
            "10.0.0.192/26".parse().unwrap(),
        ],
    )));
    let r = report::report(&plan, &facts);
    let sessions: Vec<(String, bool)> = r
        .sessions
        .iter()
        .map(|s| (s.state.clone(), s.established))
        .collect();
    assert_eq!(
        sessions,
        [
            ("Established".to_string(), true),
            ("Active Socket: Connection refused".to_string(), false)
        ]
    );
    let shown = |v: &[IpNet]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(shown(&r.missing), ["10.0.0.192/26"]);
    assert_eq!(shown(&r.unexpected), ["10.0.0.128/26"]);
    assert!(!r.in_sync());
    facts.kernel_routes = vec![bird_route("10.0.0.192/26"), bird_route("10.0.0.64/26")];
    let r = report::report(&plan, &facts);
    assert!(r.in_sync(), "{r:?}");
    // A session that is not established is reported, not drift.
    assert!(!r.sessions[1].established);
}

#[test]
fn with_bgp_birds_routes_in_the_pools_are_expected_not_in_the_way() {
    use crate::diff::{DiffOptions, reconcile};
    use crate::planner::HostFacts;
    use crate::state::{ObservedFirewall, ObservedHost};
    let observed = ObservedHost {
        links: Vec::new(),
        routes: vec![bird_route("10.0.0.128/26"), bird_route("fd00:b1::80/122")],
        sysctls: Default::default(),
        firewall: ObservedFirewall::Absent,
    };
    let cluster = Config::from_toml_str(&cluster_config("[\"64-127\"]", ""), "net.toml").unwrap();
    let plan = crate::planner::build_plan(&cluster, &HostFacts::default()).unwrap();
    assert!(plan.bgp.is_some());
    let found = reconcile(&plan, &observed, &DiffOptions::default());
    assert!(found.in_the_way.is_empty(), "{:?}", found.in_the_way);
    let mut single = cluster.clone();
    single.bgp = None;
    let plan = crate::planner::build_plan(&single, &HostFacts::default()).unwrap();
    let found = reconcile(&plan, &observed, &DiffOptions::default());
    assert_eq!(found.in_the_way.len(), 2, "{:?}", found.in_the_way);
}
