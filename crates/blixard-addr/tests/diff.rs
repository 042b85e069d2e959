//! Diff, teardown and per-VM wiring on hand-built observed states.
// Configs are built as the default plus the field under test.
#![allow(clippy::field_reassign_with_default)]

mod common;

use blixard_addr::config::VmSelection;
use blixard_addr::diff::{DiffOptions, diff, reconcile, teardown, unwire_vm, wire_vm};
use blixard_addr::state::{Change, Conflict, ObservedFirewall, ObservedRoute, RouteKind};
use blixard_addr::{Config, HostFacts, HostPlan, VmIndex, build_plan, model};
use common::{empty_host, observed_equal_to, plain_link};
use ipnet::IpNet;

fn plan(vms: u32) -> HostPlan {
    let mut c = Config::default();
    c.vms = VmSelection::Count(vms);
    // Asked for, so that an existing tap's owner is held to it.
    c.owner = Some("1000".into());
    build_plan(
        &c,
        &HostFacts {
            owner_uid: Some(1000),
            group_gid: None,
            external_interface: Some("eth0".into()),
        },
    )
    .unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn op(c: &Change) -> String {
    serde_json::to_value(c).unwrap()["op"]
        .as_str()
        .unwrap()
        .to_string()
}

fn opts() -> DiffOptions {
    DiffOptions::default()
}

#[test]
fn fresh_host_gets_the_full_create_sequence_in_order() {
    let plan = plan(2);
    let changes = diff(&plan, &empty_host(), &opts()).unwrap();
    let ops: Vec<String> = changes.iter().map(op).collect();
    assert_eq!(
        ops,
        [
            // The gateway device first, then the taps, each carrying its
            // mark and MTU: no set_link after them.
            "create_tap",
            "create_tap",
            "create_tap",
            "replace_firewall",
            "link_up",
            "link_up",
            "link_up",
            // The gateway addresses, once.
            "add_address",
            "add_address",
            "add_proxy_neighbour",
            "add_proxy_neighbour",
            "set_sysctl",
            "set_sysctl",
            "set_sysctl",
            "set_sysctl",
            "set_sysctl",
            "set_sysctl",
            "add_route",
            "add_route",
            "add_route",
            "add_route",
            "set_sysctl",
            "set_sysctl",
        ]
    );
    assert!(matches!(&changes[0], Change::CreateTap { name, .. } if name == "vmgw"));
    assert_eq!(
        changes[7..9],
        [
            Change::AddAddress {
                interface: "vmgw".into(),
                address: net("10.0.0.0/32")
            },
            Change::AddAddress {
                interface: "vmgw".into(),
                address: net("fec0::/128")
            }
        ]
    );
    assert_eq!(
        changes[9],
        Change::AddProxyNeighbour {
            interface: "vm1".into(),
            address: "fec0::".parse().unwrap(),
            protocol: 0xb1,
        }
    );
    assert_eq!(
        changes[17],
        Change::AddRoute {
            destination: net("10.0.0.1/32"),
            interface: "vm1".into(),
            protocol: 0xb1,
        }
    );
    assert_eq!(
        changes[14],
        Change::SetSysctl {
            key: "net.ipv4.conf.vm2.rp_filter".into(),
            value: "1".into()
        }
    );
    // Forwarding last: every other change is made when the host starts
    // routing.
    assert_eq!(
        changes[21..],
        [
            Change::SetSysctl {
                key: "net.ipv4.ip_forward".into(),
                value: "1".into()
            },
            Change::SetSysctl {
                key: "net.ipv6.conf.all.forwarding".into(),
                value: "1".into()
            }
        ]
    );
    assert_closed_order(&changes);
    let after = model::try_apply(&empty_host(), &changes, &plan).unwrap();
    assert_eq!(diff(&plan, &after, &opts()).unwrap(), vec![]);
}

/// The order that keeps the host closed wherever an apply stops: nothing
/// that lets traffic reach a tap or cross the host before our table, and
/// forwarding after everything else.
fn assert_closed_order(changes: &[Change]) {
    let firewall = changes.iter().position(|c| {
        matches!(
            c,
            Change::ReplaceFirewall { .. } | Change::AddFirewallVm { .. }
        )
    });
    let first_open = changes.iter().position(Change::opens_a_path);
    if let (Some(firewall), Some(open)) = (firewall, first_open) {
        assert!(
            firewall < open,
            "{} before the firewall",
            op(&changes[open])
        );
    }
    let forwarding = |c: &Change| {
        matches!(c, Change::SetSysctl { key, .. }
            if key == "net.ipv4.ip_forward" || key == "net.ipv6.conf.all.forwarding")
    };
    if let Some(first) = changes.iter().position(forwarding) {
        assert!(changes[first..].iter().all(forwarding), "{changes:#?}");
    }
}

#[test]
fn multi_queue_taps_get_noqueue_before_up() {
    let mut c = Config::default();
    c.vms = VmSelection::Count(1);
    c.tap.multi_queue = true;
    c.tap.queues = 2;
    let plan = build_plan(&c, &HostFacts::default()).unwrap();
    let changes = diff(&plan, &empty_host(), &opts()).unwrap();
    let noqueue = changes
        .iter()
        .position(|c| matches!(c, Change::AddNoqueue { name } if name == "vm1"))
        .unwrap();
    let up = changes
        .iter()
        .position(|c| matches!(c, Change::LinkUp { name } if name == "vm1"))
        .unwrap();
    assert!(noqueue < up, "{changes:?}");
}

#[test]
fn plan_against_itself_is_empty() {
    let plan = plan(5);
    assert_eq!(
        diff(&plan, &observed_equal_to(&plan), &opts()).unwrap(),
        vec![]
    );
}

fn route(dest: &str, dev: Option<&str>, protocol: u8, table: u32) -> ObservedRoute {
    ObservedRoute {
        destination: net(dest),
        interface: dev.map(Into::into),
        protocol,
        table,
        kind: RouteKind::Unicast,
        gateway: None,
        source: None,
    }
}

#[test]
fn every_conflict_is_reported_at_once() {
    let plan = plan(3);
    let mut host = observed_equal_to(&plan);
    host.links[1] = plain_link("vm2");
    host.routes.push(route("10.0.0.0/24", Some("eth1"), 4, 254));
    host.routes.push(route("fec0::8/125", None, 3, 254));
    // A connected subnet holding the pool (among wider routes only those
    // are in the way, not routes through a gateway: `route_policy`).
    host.routes.push(route("10.0.0.0/8", Some("eth1"), 4, 254));
    // Not in the way: the default route, local routes, kernel routes on our
    // links, and routes elsewhere.
    host.routes.push(route("0.0.0.0/0", Some("eth0"), 3, 254));
    host.routes.push(route("10.0.0.0/32", Some("vm1"), 2, 255));
    host.routes.push(route("fec0::/128", Some("vm1"), 2, 254));
    host.routes
        .push(route("192.168.1.0/24", Some("eth0"), 2, 254));
    let conflicts = diff(&plan, &host, &opts()).unwrap_err().0;
    assert_eq!(conflicts.len(), 4, "{conflicts:?}");
    assert_eq!(
        conflicts[0],
        Conflict::ForeignLink {
            name: "vm2".into(),
            group: 0,
            alias: None
        }
    );
    assert!(
        conflicts[0]
            .to_string()
            .contains("if it is a leftover, `ip link del vm2`")
    );
    assert!(matches!(
        &conflicts[1],
        Conflict::ForeignRoute { destination, pool, .. }
            if *destination == net("10.0.0.0/24") && *pool == net("10.0.0.0/24")
    ));
    assert!(
        matches!(&conflicts[2], Conflict::ForeignRoute { pool, .. } if *pool == net("fec0::/64"))
    );
    assert!(matches!(
        &conflicts[3],
        Conflict::ForeignRoute { destination, pool, .. }
            if *destination == net("10.0.0.0/8") && *pool == net("10.0.0.0/24")
    ));
}

#[test]
fn marks_are_both_required() {
    let plan = plan(1);
    let mut host = observed_equal_to(&plan);
    host.links[0].alias = None;
    assert!(matches!(
        diff(&plan, &host, &opts()).unwrap_err().0[0],
        Conflict::ForeignLink { .. }
    ));
    let mut host = observed_equal_to(&plan);
    host.links[0].group = 7;
    assert!(diff(&plan, &host, &opts()).is_err());
}

#[test]
fn tap_flag_drift_conflicts_unless_recreation_is_allowed() {
    let plan = plan(2);
    let mut host = observed_equal_to(&plan);
    host.links[1].tun.as_mut().unwrap().multi_queue = true;
    let conflicts = diff(&plan, &host, &opts()).unwrap_err().0;
    assert_eq!(
        conflicts,
        vec![Conflict::TapFlags {
            name: "vm2".into(),
            field: "multi_queue".into(),
            observed: true,
            wanted: false,
            queues: 0,
        }]
    );
    let changes = diff(
        &plan,
        &host,
        &DiffOptions {
            allow_recreate: true,
        },
    )
    .unwrap();
    assert_eq!(changes[0], Change::DeleteLink { name: "vm2".into() });
    assert_eq!(op(&changes[1]), "create_tap");
    assert!(
        changes
            .iter()
            .all(|c| !format!("{c:?}").contains("\"vm1\""))
    );
    let after = model::try_apply(&host, &changes, &plan).unwrap();
    assert_eq!(diff(&plan, &after, &opts()).unwrap(), vec![]);
}

#[test]
fn vnet_hdr_and_pi_are_the_openers_never_drift() {
    // QEMU's `vnet_hdr=off` (or any VMM's TUNSETIFF) rewrites them.
    let plan = plan(2);
    let mut host = observed_equal_to(&plan);
    for link in &mut host.links {
        let tun = link.tun.as_mut().unwrap();
        tun.vnet_hdr = !tun.vnet_hdr;
        tun.pi = !tun.pi;
        tun.queues = 1;
    }
    assert_eq!(diff(&plan, &host, &opts()).unwrap(), vec![]);
}

#[test]
fn a_held_tap_is_never_recreated_and_the_rest_is_still_repaired() {
    let plan = plan(3);
    let mut host = observed_equal_to(&plan);
    let tun = host.links[0].tun.as_mut().unwrap();
    tun.multi_queue = true;
    tun.queues = 1;
    // Drift elsewhere: vm1's and vm3's routes gone behind our back.
    host.routes
        .retain(|r| !matches!(r.interface.as_deref(), Some("vm1" | "vm3")));
    let recreate = DiffOptions {
        allow_recreate: true,
    };
    for options in [opts(), recreate] {
        let found = reconcile(&plan, &host, &options);
        assert_eq!(found.in_the_way, vec![]);
        assert_eq!(
            found.left_as_is,
            vec![Conflict::TapFlags {
                name: "vm1".into(),
                field: "multi_queue".into(),
                observed: true,
                wanted: false,
                queues: 1,
            }]
        );
        assert!(
            found.changes.iter().all(|c| !matches!(
                c,
                Change::DeleteLink { .. }
                    | Change::CreateTap { .. }
                    | Change::SetTapOwnership { .. }
            )),
            "{:?}",
            found.changes
        );
        // Routes come back on vm3 and on the held vm1 (adding a route does
        // not disturb the VMM).
        let routed: Vec<&str> = found
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::AddRoute { interface, .. } => Some(interface.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(routed, ["vm1", "vm1", "vm3", "vm3"]);
        // The strict form refuses with the same conflict.
        assert_eq!(
            diff(&plan, &host, &options).unwrap_err().0,
            found.left_as_is
        );
    }
}

#[test]
fn only_an_asked_for_owner_is_drift_and_never_on_a_held_tap() {
    let facts = |owner| HostFacts {
        owner_uid: Some(owner),
        ..HostFacts::default()
    };
    // The owner defaulted ($SUDO_USER under sudo, root under systemd).
    let defaulted = build_plan(&Config::default(), &facts(0)).unwrap();
    let mut host = observed_equal_to(&defaulted);
    for link in &mut host.links {
        link.tun.as_mut().unwrap().owner = Some(1000);
    }
    assert_eq!(diff(&defaulted, &host, &opts()).unwrap(), vec![]);
    // Asked for: corrected on an idle tap, left alone on a held one.
    let config = Config {
        owner: Some("root".into()),
        ..Config::default()
    };
    let asked = build_plan(&config, &facts(0)).unwrap();
    host.links[1].tun.as_mut().unwrap().queues = 2;
    let found = reconcile(&asked, &host, &opts());
    let owned: Vec<&str> = found
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::SetTapOwnership { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    // Every tap but the held one; the gateway device has no owner to hold.
    assert_eq!(owned.len(), asked.links.len() - 1);
    assert!(!owned.contains(&"vm2"));
    assert!(matches!(
        found.left_as_is.as_slice(),
        [Conflict::TapOwnershipHeld { name, queues: 2, .. }] if name == "vm2"
    ));
}

#[test]
fn drift_on_our_link_is_corrected_in_place() {
    let plan = plan(2);
    let mut host = observed_equal_to(&plan);
    let l = &mut host.links[0];
    l.mtu = 9000;
    l.up = false;
    l.alias = Some("blixard:old".into());
    l.tun.as_mut().unwrap().owner = Some(0);
    l.addresses = vec![net("fec0::/128"), net("192.0.2.1/24"), net("fe80::1/64")];
    host.routes.retain(|r| r.destination != net("10.0.0.1/32"));
    host.routes
        .push(route("10.0.0.77/32", Some("vm1"), 0xb1, 254));
    host.routes
        .push(route("10.9.0.0/16", Some("eth0"), 0xb1, 254));
    host.sysctls
        .insert("net.ipv4.conf.vm2.rp_filter".into(), "0".into());
    host.sysctls
        .insert("net.ipv6.conf.eth0.accept_ra".into(), "1".into());
    host.firewall = ObservedFirewall::Differs(vec!["chain forward".into()]);
    let changes = diff(&plan, &host, &opts()).unwrap();
    let expected = vec![
        Change::DeleteRoute {
            destination: net("10.0.0.77/32"),
            interface: "vm1".into(),
            protocol: 0xb1,
        },
        Change::DeleteRoute {
            destination: net("10.9.0.0/16"),
            interface: "eth0".into(),
            protocol: 0xb1,
        },
        Change::SetTapOwnership {
            name: "vm1".into(),
            owner: Some(1000),
            group: None,
        },
        Change::SetLink {
            name: "vm1".into(),
            group: 0xb11,
            alias: "blixard:vm1".into(),
            mtu: 1500,
        },
        Change::ReplaceFirewall {
            firewall: Box::new(plan.firewall.clone()),
        },
        Change::LinkUp { name: "vm1".into() },
        Change::SetSysctl {
            key: "net.ipv4.conf.vm2.rp_filter".into(),
            value: "1".into(),
        },
        // A tap carries no address of ours: the stray ones go, the
        // kernel's link-local one stays; routes after, since deleting a
        // link's last IPv4 address flushes its IPv4 routes.
        Change::DeleteAddress {
            interface: "vm1".into(),
            address: net("fec0::/128"),
        },
        Change::DeleteAddress {
            interface: "vm1".into(),
            address: net("192.0.2.1/24"),
        },
        Change::AddRoute {
            destination: net("10.0.0.1/32"),
            interface: "vm1".into(),
            protocol: 0xb1,
        },
        Change::SetSysctl {
            key: "net.ipv6.conf.eth0.accept_ra".into(),
            value: "2".into(),
        },
    ];
    assert_eq!(changes, expected);
    assert_closed_order(&changes);
    let after = model::try_apply(&host, &changes, &plan).unwrap();
    assert_eq!(diff(&plan, &after, &opts()).unwrap(), vec![]);
}

#[test]
fn unplanned_links_of_ours_are_deleted_first_with_their_routes() {
    let plan = plan(1);
    let mut host = observed_equal_to(&plan3());
    host.firewall = ObservedFirewall::InSync;
    let changes = diff(&plan, &host, &opts()).unwrap();
    assert_eq!(
        changes,
        vec![
            Change::DeleteLink { name: "vm2".into() },
            Change::DeleteLink { name: "vm3".into() }
        ]
    );
}

fn plan3() -> HostPlan {
    plan(3)
}

#[test]
fn teardown_deletes_the_group_when_every_member_is_ours() {
    let plan = plan(3);
    let mut host = observed_equal_to(&plan);
    host.links.push(plain_link("eth0"));
    host.routes
        .push(route("10.9.0.0/16", Some("eth0"), 0xb1, 254));
    host.routes.push(route("10.8.0.0/16", Some("eth0"), 3, 254));
    assert_eq!(
        teardown(&plan.ownership, &host),
        vec![
            Change::DeleteRoute {
                destination: net("10.9.0.0/16"),
                interface: "eth0".into(),
                protocol: 0xb1
            },
            Change::DeleteLinkGroup { group: 0xb11 },
            Change::DeleteFirewall {
                table: "blixard".into()
            },
        ]
    );
}

#[test]
fn teardown_spares_an_unmarked_member_of_our_group() {
    let plan = plan(2);
    let mut host = observed_equal_to(&plan);
    let mut intruder = plain_link("other0");
    intruder.group = 0xb11;
    host.links.push(intruder);
    host.firewall = ObservedFirewall::Absent;
    assert_eq!(
        teardown(&plan.ownership, &host),
        vec![
            Change::DeleteLink { name: "vm1".into() },
            Change::DeleteLink { name: "vm2".into() },
            Change::DeleteLink {
                name: "vmgw".into()
            }
        ]
    );
    let after = model::try_apply(&host, &teardown(&plan.ownership, &host), &plan).unwrap();
    assert_eq!(after.links.len(), 1);
    assert_eq!(after.links[0].name, "other0");
    assert!(after.routes.is_empty());
}

#[test]
fn wire_vm_touches_only_that_vm() {
    let plan = plan(4);
    let mut host = observed_equal_to(&plan);
    // Drift on other VMs must stay untouched.
    host.links.retain(|l| l.name != "vm3");
    host.routes
        .retain(|r| r.interface.as_deref() != Some("vm3"));
    host.links[0].mtu = 1234;
    host.firewall = ObservedFirewall::Differs(vec![]);
    let index = VmIndex::new(3).unwrap();
    let changes = wire_vm(&plan, index, &host, &opts()).unwrap();
    for c in &changes {
        let text = serde_json::to_string(c).unwrap();
        assert!(
            !text.contains("\"vm1\"") && !text.contains("\"vm2\"") && !text.contains("\"vm4\""),
            "{text}"
        );
    }
    assert_eq!(op(&changes[0]), "create_tap");
    // Its set elements (anti-spoofing) are in before its tap goes up.
    assert_eq!(op(&changes[1]), "add_firewall_vm");
    assert_closed_order(&changes);
    let after = model::try_apply(&host, &changes, &plan).unwrap();
    let again = wire_vm(&plan, index, &after, &opts()).unwrap();
    assert_eq!(
        again.iter().map(op).collect::<Vec<_>>(),
        ["add_firewall_vm"]
    );

    // With no table yet, the per-VM path builds the whole table and turns
    // forwarding on.
    let changes = wire_vm(&plan, index, &empty_host(), &opts()).unwrap();
    let ops: Vec<String> = changes.iter().map(op).collect();
    assert!(ops.contains(&"replace_firewall".to_string()));
    assert_closed_order(&changes);
    assert!(changes.contains(&Change::SetSysctl {
        key: "net.ipv4.ip_forward".into(),
        value: "1".into()
    }));

    assert_eq!(
        wire_vm(&plan, VmIndex::new(9).unwrap(), &host, &opts())
            .unwrap_err()
            .0,
        vec![Conflict::VmNotPlanned { index: 9 }]
    );
}

#[test]
fn wire_vm_reports_only_its_own_conflicts() {
    let plan = plan(3);
    let mut host = observed_equal_to(&plan);
    host.links[0] = plain_link("vm1");
    host.routes.push(route("10.0.0.2/32", Some("eth1"), 3, 254));
    assert!(wire_vm(&plan, VmIndex::new(3).unwrap(), &host, &opts()).is_ok());
    let conflicts = wire_vm(&plan, VmIndex::new(2).unwrap(), &host, &opts())
        .unwrap_err()
        .0;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert!(matches!(conflicts[0], Conflict::ForeignRoute { .. }));
}

#[test]
fn unwire_vm_removes_only_that_vm() {
    let plan = plan(3);
    let host = observed_equal_to(&plan);
    let changes = unwire_vm(&plan, VmIndex::new(2).unwrap(), &host);
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0], Change::DeleteLink { name: "vm2".into() });
    assert!(matches!(&changes[1], Change::RemoveFirewallVm { vm, .. } if vm.interface == "vm2"));
    let mut host = host;
    host.links[1] = plain_link("vm2");
    host.firewall = ObservedFirewall::Absent;
    assert_eq!(unwire_vm(&plan, VmIndex::new(2).unwrap(), &host), vec![]);
}

#[test]
fn sysctl_conditions() {
    let plan = plan(1);
    let mut host = observed_equal_to(&plan);
    host.sysctls
        .insert("net.ipv6.conf.eth0.accept_ra".into(), "2".into());
    assert_eq!(diff(&plan, &host, &opts()).unwrap(), vec![]);
    host.sysctls.remove("net.ipv4.ip_forward");
    assert_eq!(
        diff(&plan, &host, &opts()).unwrap(),
        vec![Change::SetSysctl {
            key: "net.ipv4.ip_forward".into(),
            value: "1".into()
        }]
    );
}

#[test]
fn plan_table_and_json() {
    let plan = plan(3);
    let table = plan.to_table();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("INDEX  INTERFACE  IPV4"), "{table}");
    assert_eq!(
        lines[3],
        "3      vm3        10.0.0.3  fec0::3  02:00:00:00:03:01  mtu=1500 vnet_hdr  1000:-"
    );
    assert!(
        table.contains("net.ipv6.conf.eth0.accept_ra = 2 (only if currently 1)"),
        "{table}"
    );
    assert!(
        table.contains("masquerade ipv4+ipv6 out of eth0"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    assert_eq!(json["links"][2]["vm"]["ipv6"], "fec0::3");
    assert_eq!(json["links"][2]["vm"]["mac"], "02:00:00:00:03:01");
}

#[test]
fn an_unplanned_tap_group_is_left_alone_because_the_kernel_cannot_unset_it() {
    // The plan has no tap group; someone set one. TUNSETGROUP cannot clear
    // it, so emitting a change would never converge.
    let plan = plan(1);
    let mut host = observed_equal_to(&plan);
    host.links[0].tun.as_mut().unwrap().group = Some(100);
    assert_eq!(diff(&plan, &host, &opts()).unwrap(), vec![]);
    // A wrong owner the plan does name is still corrected.
    host.links[0].tun.as_mut().unwrap().owner = Some(0);
    assert_eq!(
        diff(&plan, &host, &opts()).unwrap(),
        vec![Change::SetTapOwnership {
            name: "vm1".into(),
            owner: Some(1000),
            group: None
        }]
    );
}

/// A host wired by the previous layout: the gateway addresses on every tap,
/// no gateway device and no proxy entries.
fn previous_layout(plan: &HostPlan) -> blixard_addr::state::ObservedHost {
    let mut host = observed_equal_to(plan);
    host.links.retain(|l| l.name != plan.gateway.name);
    for l in &mut host.links {
        l.addresses = plan.gateway.addresses.clone();
        l.proxy_neighbours.clear();
    }
    host.sysctls
        .retain(|k, _| !k.ends_with(".proxy_ndp") && !k.ends_with(".proxy_delay"));
    host
}

#[test]
fn the_previous_layout_converges_without_a_moment_lacking_the_gateway() {
    let plan = plan(3);
    let old = previous_layout(&plan);
    let changes = diff(&plan, &old, &opts()).unwrap();
    assert_closed_order(&changes);
    // Nothing of a tap is recreated or taken down: the VMs keep their taps.
    assert!(
        !changes.iter().any(|c| matches!(
            c,
            Change::DeleteLink { .. } | Change::DeleteLinkGroup { .. }
        )),
        "{changes:#?}"
    );
    // Step by step, the host holds both gateway addresses and every tap
    // answers for the IPv6 gateway (by its own copy of the address or by a
    // proxy entry). A VM's IPv4 route is gone only between the deletion of
    // its tap's copy of 10.0.0.0 (the kernel flushes a link's IPv4 routes
    // with its last IPv4 address) and the route's re-add right after; the
    // e2e test measures that moment with real traffic.
    let gw6: std::net::Ipv6Addr = "fec0::".parse().unwrap();
    let mut host = old.clone();
    for (i, change) in changes.iter().enumerate() {
        host = model::try_apply(&host, std::slice::from_ref(change), &plan).unwrap();
        for gw in &plan.gateway.addresses {
            assert!(
                host.links.iter().any(|l| l.addresses.contains(gw)),
                "after #{i} {change}: no {gw} on the host"
            );
        }
        for lp in &plan.links {
            for dest in &lp.routes {
                let re_added_later = changes[i + 1..].iter().any(
                    |c| matches!(c, Change::AddRoute { destination, .. } if destination == dest),
                );
                assert!(
                    host.routes.iter().any(|r| r.destination == *dest) || re_added_later,
                    "after #{i} {change}: no route to {dest}, and none to come"
                );
            }
            let tap = host
                .links
                .iter()
                .find(|l| l.name == lp.vm.interface)
                .unwrap();
            assert!(
                tap.addresses.contains(&net("fec0::/128"))
                    || tap.proxy_neighbours.iter().any(|p| p.address == gw6),
                "after #{i} {change}: {} does not answer for fec0::",
                lp.vm.interface
            );
        }
    }
    assert_eq!(diff(&plan, &host, &opts()).unwrap(), vec![]);
    // Only the IPv4 routes the kernel flushed are added again, each right
    // after the last of the retirements; no route is deleted.
    let routes: Vec<&Change> = changes
        .iter()
        .filter(|c| matches!(c, Change::AddRoute { .. } | Change::DeleteRoute { .. }))
        .collect();
    assert_eq!(routes.len(), plan.links.len(), "{changes:#?}");
    assert!(routes.iter().all(
        |c| matches!(c, Change::AddRoute { destination, .. } if destination.addr().is_ipv4())
    ));
    let last_retire = changes
        .iter()
        .rposition(|c| matches!(c, Change::DeleteAddress { .. }))
        .unwrap();
    let first_route = changes
        .iter()
        .position(|c| matches!(c, Change::AddRoute { .. }))
        .unwrap();
    assert_eq!(first_route, last_retire + 1, "{changes:#?}");
    assert_eq!(host.routes.len(), old.routes.len());
    assert!(
        host.links
            .iter()
            .filter(|l| l.name != plan.gateway.name)
            .all(|l| l.addresses.is_empty())
    );
}

#[test]
fn a_foreign_link_under_the_gateway_name_stops_the_host_and_is_left_alone() {
    let plan = plan(2);
    let mut host = empty_host();
    host.links.push(plain_link("vmgw"));
    let found = reconcile(&plan, &host, &opts());
    assert!(
        matches!(found.in_the_way.as_slice(), [Conflict::ForeignGateway { name, .. }] if name == "vmgw"),
        "{:?}",
        found.in_the_way
    );
    assert_eq!(found.in_the_way[0].config_key(), "gateway_interface");
    assert!(found.into_changes().is_err());
    // wire refuses it too: a VM's routes need the gateway's addresses.
    assert!(matches!(
        wire_vm(&plan, VmIndex::new(1).unwrap(), &host, &opts())
            .unwrap_err()
            .0
            .as_slice(),
        [Conflict::ForeignGateway { .. }]
    ));
}

#[test]
fn wire_on_a_bare_host_makes_the_gateway_first_and_once() {
    let plan = plan(4);
    let changes = wire_vm(&plan, VmIndex::new(2).unwrap(), &empty_host(), &opts()).unwrap();
    assert!(matches!(&changes[0], Change::CreateTap { name, .. } if name == "vmgw"));
    let after = model::try_apply(&empty_host(), &changes, &plan).unwrap();
    // Wiring the next VM finds the gateway in place.
    let next = wire_vm(&plan, VmIndex::new(3).unwrap(), &after, &opts()).unwrap();
    assert!(
        !next.iter().any(
            |c| matches!(c, Change::CreateTap { name, .. } if name == "vmgw")
                || matches!(c, Change::AddAddress { .. })
        ),
        "{next:#?}"
    );
    model::try_apply(&after, &next, &plan).unwrap();
}

#[test]
fn a_stale_proxy_entry_of_ours_goes_and_anothers_stays() {
    use blixard_addr::state::ObservedProxy;
    let plan = plan(1);
    let mut host = observed_equal_to(&plan);
    host.links[0].proxy_neighbours = vec![
        ObservedProxy {
            address: "fec0::".parse().unwrap(),
            protocol: 3,
        },
        ObservedProxy {
            address: "fec0::99".parse().unwrap(),
            protocol: 0xb1,
        },
        ObservedProxy {
            address: "2001:db8::1".parse().unwrap(),
            protocol: 0,
        },
    ];
    assert_eq!(
        diff(&plan, &host, &opts()).unwrap(),
        vec![
            Change::DeleteProxyNeighbour {
                interface: "vm1".into(),
                address: "fec0::99".parse().unwrap(),
            },
            // The wanted entry under another protocol is re-added as ours.
            Change::AddProxyNeighbour {
                interface: "vm1".into(),
                address: "fec0::".parse().unwrap(),
                protocol: 0xb1,
            },
        ]
    );
}
