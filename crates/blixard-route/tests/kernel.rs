//! Real-kernel tests, each in a throwaway network namespace, checked
//! independently with `ip -j` / `tc -j`.

use std::collections::BTreeSet;

use blixard_addr::config::{Action, DEFAULT_LINK_GROUP, DEFAULT_ROUTE_PROTOCOL};
use blixard_addr::plan::{
    FirewallPlan, GatewayPlan, HostPlan, LinkPlan, Ownership, SysctlCondition, SysctlPlan, TapPlan,
};
use blixard_addr::state::RouteKind;
use blixard_addr::{Change, Layout, route_policy};
use blixard_netns::testing::{NetnsHolder, in_fresh_netns, sh_ok};
use blixard_route::{ObserveScope, RouteError, Session, VmObserveScope, read_sysctl, write_sysctl};
use ipnet::IpNet;
use serde_json::Value;

const GROUP: u32 = DEFAULT_LINK_GROUP;
const PROTO: u8 = DEFAULT_ROUTE_PROTOCOL;

/// The seed's plan for VMs `1..=n`, built by hand (plain data).
fn plan(n: u32, multi_queue: bool) -> HostPlan {
    let layout = Layout::default();
    let ownership = Ownership {
        link_group: GROUP,
        route_protocol: PROTO,
        nft_table: "blixard".into(),
    };
    let links = (1..=n)
        .map(|i| {
            let vm = layout.vm_at(i).unwrap();
            LinkPlan {
                alias: ownership.alias_for(&vm.interface),
                tap: TapPlan {
                    multi_queue,
                    vnet_hdr: true,
                    owner: None,
                    group: None,
                    owner_required: false,
                },
                mtu: 1500,
                noqueue: multi_queue,
                ingress_limit: None,
                egress: None,
                routes: vec![IpNet::V4(vm.ipv4_net()), IpNet::V6(vm.ipv6_net())],
                proxy_neighbours: vec![vm.gateway_ipv6],
                sysctls: vec![SysctlPlan {
                    key: format!("net.ipv4.conf.{}.rp_filter", vm.interface),
                    value: "1".into(),
                    when: SysctlCondition::Always,
                }],
                vm,
            }
        })
        .collect();
    HostPlan {
        firewall: FirewallPlan {
            table: "blixard".into(),
            external_interface: None,
            ipv4_pool: layout.ipv4_pool(),
            ipv6_pool: Some(layout.ipv6_pool()),
            masquerade_ipv4: false,
            masquerade_ipv6: false,
            anti_spoofing: true,
            inbound_default: Action::Drop,
            host_input_default: Action::Accept,
            host_ports: vec![],
            allow_networks: vec![],
            vms: vec![],
            rules: vec![],
            cluster: false,
            forwards: Vec::new(),
            police: Vec::new(),
        },
        gateway: GatewayPlan::new(
            "vmgw",
            &ownership,
            vec![
                IpNet::new(layout.gateway_ipv4().into(), 32).unwrap(),
                IpNet::new(layout.gateway_ipv6().into(), 128).unwrap(),
            ],
        ),
        layout,
        ownership,
        links,
        sysctls: vec![
            SysctlPlan {
                key: "net.ipv4.ip_forward".into(),
                value: "1".into(),
                when: SysctlCondition::Always,
            },
            SysctlPlan {
                key: "net.ipv6.conf.all.forwarding".into(),
                value: "1".into(),
                when: SysctlCondition::Always,
            },
        ],
        external_interface: None,
        guest: Default::default(),
        bgp: None,
    }
}

/// What the diff emits from scratch once the taps exist: each kind for all
/// links together, in the order the kernel needs (noqueue before up).
fn changes_from_scratch(plan: &HostPlan) -> Vec<Change> {
    let gw = &plan.gateway;
    let mut out = vec![Change::SetLink {
        name: gw.name.clone(),
        group: plan.ownership.link_group,
        alias: gw.alias.clone(),
        mtu: 1500,
    }];
    for l in &plan.links {
        out.push(Change::SetLink {
            name: l.vm.interface.clone(),
            group: plan.ownership.link_group,
            alias: l.alias.clone(),
            mtu: l.mtu,
        });
    }
    for l in plan.links.iter().filter(|l| l.noqueue) {
        out.push(Change::AddNoqueue {
            name: l.vm.interface.clone(),
        });
    }
    for name in [&gw.name]
        .into_iter()
        .chain(plan.links.iter().map(|l| &l.vm.interface))
    {
        out.push(Change::LinkUp { name: name.clone() });
    }
    for a in &gw.addresses {
        out.push(Change::AddAddress {
            interface: gw.name.clone(),
            address: *a,
        });
    }
    for l in &plan.links {
        for r in &l.routes {
            out.push(Change::AddRoute {
                destination: *r,
                interface: l.vm.interface.clone(),
                protocol: plan.ownership.route_protocol,
            });
        }
    }
    for l in &plan.links {
        for address in &l.proxy_neighbours {
            out.push(Change::AddProxyNeighbour {
                interface: l.vm.interface.clone(),
                address: *address,
                protocol: plan.ownership.route_protocol,
            });
        }
    }
    for s in plan
        .sysctls
        .iter()
        .chain(plan.links.iter().flat_map(|l| &l.sysctls))
    {
        out.push(Change::SetSysctl {
            key: s.key.clone(),
            value: s.value.clone(),
        });
    }
    out
}

/// Creates the plain gateway tap `vmgw`, then taps `vm1..=vmN` in the
/// current namespace in one `ip` process.
fn make_taps(n: u32, multi_queue: bool) {
    let mq = if multi_queue { " multi_queue" } else { "" };
    let script: String = std::iter::once("tuntap add dev vmgw mode tap\n".to_string())
        .chain((1..=n).map(|i| format!("tuntap add dev vm{i} mode tap{mq}\n")))
        .collect();
    sh_ok(&format!("ip -batch - <<'EOF'\n{script}EOF"));
}

fn json(script: &str) -> Value {
    serde_json::from_str(&sh_ok(script)).unwrap_or_else(|e| panic!("`{script}`: {e}"))
}

/// `(dst, dev)` of every route `ip` shows with our protocol.
fn ip_routes(family: &str) -> BTreeSet<(String, String)> {
    json(&format!(
        "ip {family} -j route show proto {PROTO} table all"
    ))
    .as_array()
    .unwrap()
    .iter()
    .map(|r| {
        (
            r["dst"].as_str().unwrap().to_string(),
            r["dev"].as_str().unwrap().to_string(),
        )
    })
    .collect()
}

#[test]
fn apply_64_vms_from_scratch_gives_the_seed_layout_and_observe_matches_the_plan() {
    in_fresh_netns("apply_64_vms_from_scratch", || {
        let plan = plan(64, false);
        make_taps(64, false);
        let mut s = Session::new().unwrap();
        let changes = changes_from_scratch(&plan);
        let report = s.apply(&changes).unwrap();
        assert_eq!(report.applied, changes.len());

        // Addresses, per `ip -j addr`: the gateway pair once, on the
        // gateway device (v6 not tentative); none on the taps.
        let links = json("ip -j addr show");
        let addresses_of = |name: &str| -> BTreeSet<String> {
            let link = links
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["ifname"] == name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(link["group"], GROUP.to_string(), "{name} group");
            assert!(
                link["flags"].as_array().unwrap().iter().any(|f| f == "UP"),
                "{name} not up"
            );
            link["addr_info"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["scope"] != "link")
                .map(|a| {
                    assert_ne!(a["tentative"], true, "{name}: {a} is tentative");
                    if a["family"] == "inet6" {
                        assert_eq!(a["nodad"], true, "{name}: {a}");
                    }
                    format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"])
                })
                .collect()
        };
        assert_eq!(
            addresses_of("vmgw"),
            BTreeSet::from(["10.0.0.0/32".to_string(), "fec0::/128".to_string()])
        );
        for i in 1..=64u32 {
            let name = format!("vm{i}");
            assert_eq!(addresses_of(&name), BTreeSet::new(), "{name}");
        }
        // Every tap answers for the IPv6 gateway, by a permanent proxy
        // entry of ours.
        let proxies = json("ip -6 -j neigh show proxy");
        let proxied: BTreeSet<String> = proxies
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert_eq!(p["dst"], "fec0::", "{p}");
                assert_eq!(p["protocol"], PROTO.to_string(), "{p}");
                p["dev"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(proxied, (1..=64u32).map(|i| format!("vm{i}")).collect());
        let alias = json("ip -j -d link show vm7");
        assert_eq!(alias[0]["ifalias"], "blixard:vm7");

        // Routes, per `ip -j route` / `ip -6 -j route`.
        let want4: BTreeSet<_> = (1..=64u32)
            .map(|i| (format!("10.0.0.{i}"), format!("vm{i}")))
            .collect();
        let want6: BTreeSet<_> = (1..=64u32)
            .map(|i| (format!("fec0::{i:x}"), format!("vm{i}")))
            .collect();
        assert_eq!(ip_routes("-4"), want4);
        assert_eq!(ip_routes("-6"), want6);
        assert!(want6.contains(&("fec0::40".to_string(), "vm64".to_string())));
        // Nothing else in the pools: no kernel prefix routes from our addresses.
        let main4 = json("ip -j route show");
        assert_eq!(main4.as_array().unwrap().len(), 64, "{main4}");
        let main6: Vec<Value> = json("ip -6 -j route show")
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["dst"].as_str().unwrap().starts_with("fec0"))
            .cloned()
            .collect();
        assert_eq!(main6.len(), 64);
        assert_eq!(
            read_sysctl("net.ipv4.ip_forward").unwrap().as_deref(),
            Some("1")
        );
        assert_eq!(
            read_sysctl("net.ipv4.conf.vm9.rp_filter")
                .unwrap()
                .as_deref(),
            Some("1")
        );

        // Observe returns exactly the planned objects.
        let scope = ObserveScope::for_plan(&plan);
        let seen = s.observe(&scope).unwrap();
        assert_eq!(seen.links.len(), 1 + 64);
        let gw = &seen.links[0];
        assert_eq!(gw.name, "vmgw");
        assert_eq!(gw.addresses, plan.gateway.addresses);
        for (l, p) in seen.links[1..].iter().zip(&plan.links) {
            assert_eq!(l.name, p.vm.interface);
            assert_eq!(l.group, GROUP);
            assert_eq!(l.alias.as_deref(), Some(p.alias.as_str()));
            assert!(l.up, "{}", l.name);
            assert_eq!(l.mtu, p.mtu);
            assert_eq!(l.addresses, vec![], "{}", l.name);
            let proxied: Vec<_> = l
                .proxy_neighbours
                .iter()
                .map(|p| (p.address, p.protocol))
                .collect();
            assert_eq!(proxied, vec![(p.vm.gateway_ipv6, PROTO)], "{}", l.name);
            assert!(l.tun.is_none());
        }
        // No route names a source (docs/LAYOUT.md).
        assert!(seen.routes.iter().all(|r| r.source.is_none()));
        let seen_routes: BTreeSet<(IpNet, String, u8, u32)> = seen
            .routes
            .iter()
            .map(|r| {
                (
                    r.destination,
                    r.interface.clone().unwrap(),
                    r.protocol,
                    r.table,
                )
            })
            .collect();
        let planned_routes: BTreeSet<_> = plan
            .links
            .iter()
            .flat_map(|l| {
                l.routes
                    .iter()
                    .map(|r| (*r, l.vm.interface.clone(), PROTO, 254))
            })
            .collect();
        assert_eq!(seen_routes, planned_routes);
        assert_eq!(seen.routes.len(), 128);
        assert_eq!(seen.sysctls.len(), 2 + 64);
        assert!(seen.sysctls.values().all(|v| v == "1"));

        // Applying the same list again succeeds and changes nothing.
        // A link's carrier state is the kernel's to report when it gets to
        // it (linkwatch): not ours to compare.
        let settled = |script: &str| {
            let mut links = json(script);
            for l in links.as_array_mut().unwrap() {
                let l = l.as_object_mut().unwrap();
                l.remove("operstate");
                if let Some(Value::Array(flags)) = l.get_mut("flags") {
                    flags.retain(|f| f != "NO-CARRIER" && f != "LOWER_UP" && f != "linkdown");
                }
            }
            links.to_string()
        };
        let dump = || {
            (
                settled("ip -j -d link show"),
                settled("ip -j addr show"),
                settled("ip -j route show table all"),
                settled("ip -6 -j route show table all"),
                sh_ok("ip -6 -j neigh show proxy"),
            )
        };
        let before = dump();
        let again = s.apply(&changes).unwrap();
        assert_eq!(again.applied, changes.len());
        assert_eq!(dump(), before);
        assert_eq!(s.observe(&scope).unwrap(), seen);
    });
}

#[test]
fn observe_reports_changes_made_behind_our_back() {
    in_fresh_netns("observe_reports_changes_made_behind_our_back", || {
        let plan = plan(2, false);
        make_taps(2, false);
        let mut s = Session::new().unwrap();
        s.apply(&changes_from_scratch(&plan)).unwrap();
        let scope = ObserveScope::for_plan(&plan);
        let before = s.observe(&scope).unwrap();
        assert!(
            before
                .routes
                .iter()
                .any(|r| r.destination.to_string() == "10.0.0.1/32")
        );

        sh_ok(
            "ip route del 10.0.0.1/32 dev vm1 && ip addr del fec0::/128 dev vmgw && \
             ip link set vm2 down && ip link set vm1 mtu 1400 && \
             sysctl -qw net.ipv4.conf.vm1.rp_filter=0",
        );
        let after = s.observe(&scope).unwrap();
        assert!(
            !after
                .routes
                .iter()
                .any(|r| r.destination.to_string() == "10.0.0.1/32"),
            "deleted route still reported"
        );
        // Taking vm2 down also makes the kernel flush both of vm2's routes.
        assert_eq!(after.routes.len(), before.routes.len() - 3);
        assert!(
            after
                .routes
                .iter()
                .all(|r| r.interface.as_deref() == Some("vm1"))
        );
        let vm2 = after.links.iter().find(|l| l.name == "vm2").unwrap();
        assert!(!vm2.up);
        // Down also drops the tap's proxy entries: drift the diff repairs.
        assert!(vm2.proxy_neighbours.is_empty(), "{vm2:?}");
        let gw = after.links.iter().find(|l| l.name == "vmgw").unwrap();
        assert_eq!(gw.addresses, vec!["10.0.0.0/32".parse::<IpNet>().unwrap()]);
        let vm1 = after.links.iter().find(|l| l.name == "vm1").unwrap();
        assert!(vm1.up);
        assert_eq!(vm1.proxy_neighbours.len(), 1);
        assert_eq!(vm1.mtu, 1400);
        assert_eq!(after.sysctls["net.ipv4.conf.vm1.rp_filter"], "0");

        // A foreign link with a planned name is reported although not ours.
        sh_ok("ip link del vm2 && ip tuntap add dev vm2 mode tap");
        let foreign = s.observe(&scope).unwrap();
        let vm2 = foreign.links.iter().find(|l| l.name == "vm2").unwrap();
        assert_eq!((vm2.group, vm2.alias.as_deref()), (0, None));
        // Per-interface keys of a missing interface are left out, not errors.
        let mut scope = scope;
        scope.sysctls.push("net.ipv4.conf.vm99.rp_filter".into());
        assert!(
            !s.observe(&scope)
                .unwrap()
                .sysctls
                .contains_key("net.ipv4.conf.vm99.rp_filter")
        );
    });
}

#[test]
fn observe_reports_foreign_routes_inside_the_pool_and_connected_subnets_holding_it() {
    in_fresh_netns("observe_reports_a_foreign_route_inside_the_pool", || {
        let plan = plan(1, false);
        make_taps(1, false);
        let mut s = Session::new().unwrap();
        s.apply(&changes_from_scratch(&plan)).unwrap();
        sh_ok(
            "ip link add dummy0 type veth peer name dummy0p && ip link set dummy0 up && \
             ip link set dummy0p up && \
             ip addr add 192.0.2.1/24 dev dummy0 && \
             ip route add 10.0.0.128/25 dev dummy0 && \
             ip route add default via 192.0.2.254 dev dummy0 && \
             ip route add 10.0.0.0/8 via 192.0.2.254 dev dummy0 && \
             ip route add 10.0.0.64/26 dev dummy0 table 100 && \
             ip -6 route add fec0::100/120 dev dummy0 proto static && \
             ip -6 route add fec0::/16 dev dummy0 && \
             ip route add blackhole 10.0.0.32/27",
        );
        let seen = s.observe(&ObserveScope::for_plan(&plan)).unwrap();
        let foreign: BTreeSet<(String, Option<String>, u8, u32)> = seen
            .routes
            .iter()
            .filter(|r| r.protocol != PROTO)
            .map(|r| {
                (
                    r.destination.to_string(),
                    r.interface.clone(),
                    r.protocol,
                    r.table,
                )
            })
            .collect();
        let dummy = Some("dummy0".to_string());
        assert_eq!(
            foreign,
            BTreeSet::from([
                ("10.0.0.128/25".to_string(), dummy.clone(), 3, 254),
                ("10.0.0.64/26".to_string(), dummy.clone(), 3, 100),
                ("fec0::100/120".to_string(), dummy.clone(), 4, 254),
                // A connected subnet holding the pool: its hosts would lose
                // their addresses to our /128s. The default route and
                // 10.0.0.0/8 via a gateway are not reported.
                ("fec0::/16".to_string(), dummy.clone(), 3, 254),
                // No link, and it does shadow the pool.
                ("10.0.0.32/27".to_string(), None, 3, 254),
            ])
        );
        // Raw facts, for the core to decide on.
        let kind_of = |dst: &str| {
            let r = seen
                .routes
                .iter()
                .find(|r| r.destination.to_string() == dst)
                .unwrap();
            (r.kind, r.gateway)
        };
        assert_eq!(kind_of("10.0.0.32/27"), (RouteKind::Blackhole, None));
        assert_eq!(kind_of("10.0.0.128/25"), (RouteKind::Unicast, None));
        assert_eq!(
            seen.routes.iter().filter(|r| r.protocol == PROTO).count(),
            2
        );

        // Without pools the kernel filters by our protocol alone.
        let mut scope = ObserveScope::for_plan(&plan);
        scope.pools.clear();
        let ours = s.observe(&scope).unwrap();
        assert_eq!(ours.routes.len(), 2);
        assert!(ours.routes.iter().all(|r| r.protocol == PROTO));
    });
}

#[test]
fn noqueue_before_up_keeps_a_multiqueue_tap_on_noqueue() {
    in_fresh_netns(
        "noqueue_before_up_keeps_a_multiqueue_tap_on_noqueue",
        || {
            make_taps(2, true);
            let plan = plan(1, true);
            let changes = changes_from_scratch(&plan);
            assert!(
                changes
                    .iter()
                    .any(|c| matches!(c, Change::AddNoqueue { .. }))
            );
            let mut s = Session::new().unwrap();
            s.apply(&changes).unwrap();
            // vm2 is the control: up without a noqueue qdisc gets mq.
            sh_ok("ip link set vm2 up");
            let root = |dev: &str| -> String {
                let q = json(&format!("tc -j qdisc show dev {dev} root"));
                q[0]["kind"].as_str().unwrap().to_string()
            };
            assert_eq!(root("vm1"), "noqueue");
            assert_eq!(root("vm2"), "mq");
            assert_eq!(json("ip -j link show vm1")[0]["qdisc"], "noqueue");
            let mut scope = ObserveScope::for_plan(&plan);
            scope.names.push("vm2".into());
            let seen = s.observe(&scope).unwrap();
            let noqueue = |n: &str| {
                seen.links
                    .iter()
                    .find(|l| l.name == n)
                    .unwrap()
                    .root_noqueue
            };
            assert!(noqueue("vm1"));
            assert!(!noqueue("vm2"));
            // Idempotent: the replace of an existing noqueue succeeds.
            s.apply(&changes).unwrap();
            assert_eq!(root("vm1"), "noqueue");
        },
    );
}

#[test]
fn default_route_interfaces_follow_the_default_routes() {
    in_fresh_netns("default_route_interfaces_follow_the_default_routes", || {
        let mut s = Session::new().unwrap();
        s.set_up("lo").unwrap();
        assert!(
            json("ip -j link show lo")[0]["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "UP")
        );
        assert_eq!(s.default_route_interfaces().unwrap(), Vec::<String>::new());
        sh_ok(
            "ip link add up0 type veth peer name up0p && \
             ip link add up1 type veth peer name up1p && \
             ip link set up0 up && ip link set up1 up && \
             ip link set up0p up && ip link set up1p up && \
             ip addr add 192.0.2.1/24 dev up0 && ip addr add 198.51.100.1/24 dev up1 && \
             ip -6 addr add 2001:db8::1/64 dev up1 nodad && \
             ip -6 route add default via 2001:db8::ff dev up1 && \
             ip route add default via 198.51.100.254 dev up1 metric 200 && \
             ip route add default via 192.0.2.254 dev up0 metric 100",
        );
        assert_eq!(
            s.default_route_interfaces().unwrap(),
            vec!["up0".to_string(), "up1".to_string()]
        );
        sh_ok("ip route del default dev up0");
        assert_eq!(
            s.default_route_interfaces().unwrap(),
            vec!["up1".to_string()]
        );
        sh_ok("ip route del default dev up1 && ip -6 route del default dev up1");
        assert!(s.default_route_interfaces().unwrap().is_empty());
    });
}

#[test]
fn a_session_made_inside_run_in_applies_into_that_namespace_only() {
    in_fresh_netns("a_session_made_inside_run_in_applies_there_only", || {
        let holder = NetnsHolder::spawn().unwrap();
        holder.sh_ok("ip tuntap add dev vmgw mode tap && ip tuntap add dev vm1 mode tap");
        let plan = plan(1, false);
        let changes = changes_from_scratch(&plan);
        let applied = blixard_netns::run_in(&holder.netns(), || {
            let mut s = Session::new()?;
            s.apply(&changes)
        })
        .unwrap()
        .unwrap();
        assert_eq!(applied.applied, changes.len());
        let there = holder.sh_ok("ip -j route show proto 177; ip -j addr show vmgw");
        assert!(there.contains("10.0.0.1"), "{there}");
        assert!(there.contains("fec0::"), "{there}");
        assert_eq!(
            holder
                .sh_ok("cat /proc/sys/net/ipv4/conf/vm1/rp_filter")
                .trim(),
            "1"
        );
        // The caller's (fresh) namespace saw none of it.
        assert_eq!(
            sh_ok(&format!("ip -j route show proto {PROTO}")).trim(),
            "[]"
        );
        assert!(!sh_ok("ip -o link").contains("vm1"));
        assert!(!sh_ok("ip -o link").contains("vmgw"));
        assert_eq!(
            read_sysctl("net.ipv4.ip_forward").unwrap().as_deref(),
            Some("0")
        );
    });
}

#[test]
fn a_session_moved_to_another_thread_writes_sysctls_in_its_own_namespace() {
    in_fresh_netns("a_session_moved_to_another_thread", || {
        // Made in a nested namespace, then used from this thread (elsewhere).
        let mut s = blixard_netns::run_in_new(|| Session::new().unwrap()).unwrap();
        let set = |v: &str| Change::SetSysctl {
            key: "net.ipv4.ip_forward".into(),
            value: v.into(),
        };
        s.apply(&[set("1")]).unwrap();
        assert_eq!(
            read_sysctl("net.ipv4.ip_forward").unwrap().as_deref(),
            Some("0")
        );
        let scope = ObserveScope {
            sysctls: vec!["net.ipv4.ip_forward".into()],
            ..ObserveScope::default()
        };
        assert_eq!(
            s.observe(&scope).unwrap().sysctls["net.ipv4.ip_forward"],
            "1"
        );
    });
}

#[test]
fn sysctl_written_in_a_fresh_namespace_stays_there() {
    let key = "net.ipv4.ip_forward";
    // Only read here: this may be the machine's own namespace.
    let Some(outside) = read_sysctl(key).unwrap() else {
        panic!("{key} missing")
    };
    let flipped = if outside == "1" { "0" } else { "1" };
    let Some(inside) = in_fresh_netns("sysctl_written_in_a_fresh_namespace_stays_there", || {
        write_sysctl(key, flipped).unwrap();
        let via_file = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
        assert_eq!(via_file.trim(), flipped);
        read_sysctl(key).unwrap()
    }) else {
        return;
    };
    assert_eq!(inside.as_deref(), Some(flipped));
    assert_eq!(read_sysctl(key).unwrap(), Some(outside));
    assert!(
        read_sysctl("net.ipv4.conf.nosuchdev.rp_filter")
            .unwrap()
            .is_none()
    );
}

#[test]
fn failures_of_a_phase_are_all_reported_with_object_and_errno_then_apply_stops() {
    in_fresh_netns("failures_of_a_phase_are_all_reported", || {
        make_taps(1, false);
        let mut s = Session::new().unwrap();
        let changes = vec![
            Change::SetLink {
                name: "vm1".into(),
                group: GROUP,
                alias: "blixard:vm1".into(),
                mtu: 70000,
            },
            Change::SetLink {
                name: "vm99".into(),
                group: GROUP,
                alias: "blixard:vm99".into(),
                mtu: 1500,
            },
            Change::LinkUp { name: "vm1".into() },
        ];
        let err = s.apply(&changes).unwrap_err();
        let RouteError::Apply { applied, failures } = &err else {
            panic!("{err}")
        };
        assert_eq!(*applied, 0);
        assert_eq!(failures.len(), 2, "{err}");
        let text = err.to_string();
        assert!(text.contains("vm1") && text.contains("vm99"), "{text}");
        // With the kernel's extended-ack text.
        assert!(text.contains("(mtu greater than device maximum)"), "{text}");
        assert!(
            failures
                .iter()
                .any(|f| f.errno() == Some(nix::errno::Errno::EINVAL as i32)),
            "{err:?}"
        );
        assert!(
            failures
                .iter()
                .any(|f| matches!(f, RouteError::NoSuchLink { name, .. } if name == "vm99"))
        );
        // The phase after the failing one never ran.
        let up = json("ip -j link show vm1")[0]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "UP");
        assert!(!up, "apply went on after a failed phase");
        // Deleting what is already gone counts as done.
        let gone = vec![
            Change::DeleteRoute {
                destination: "10.0.0.1/32".parse().unwrap(),
                interface: "vm1".into(),
                protocol: PROTO,
            },
            Change::DeleteAddress {
                interface: "vm1".into(),
                address: "10.0.0.0/32".parse().unwrap(),
            },
            Change::DeleteProxyNeighbour {
                interface: "vm1".into(),
                address: "fec0::".parse().unwrap(),
            },
        ];
        assert_eq!(s.apply(&gone).unwrap().applied, 3);
    });
}

#[test]
fn delete_changes_remove_only_our_objects() {
    in_fresh_netns("delete_changes_remove_only_our_objects", || {
        let plan = plan(1, false);
        make_taps(1, false);
        let mut s = Session::new().unwrap();
        s.apply(&changes_from_scratch(&plan)).unwrap();
        // A foreign (proto static) route to the same VM in another table.
        sh_ok("ip route add 10.0.0.1/32 dev vm1 proto static table 100");
        let del = vec![
            Change::DeleteRoute {
                destination: "10.0.0.1/32".parse().unwrap(),
                interface: "vm1".into(),
                protocol: PROTO,
            },
            Change::DeleteRoute {
                destination: "fec0::1/128".parse().unwrap(),
                interface: "vm1".into(),
                protocol: PROTO,
            },
            Change::DeleteAddress {
                interface: "vmgw".into(),
                address: "fec0::/128".parse().unwrap(),
            },
            Change::DeleteProxyNeighbour {
                interface: "vm1".into(),
                address: "fec0::".parse().unwrap(),
            },
        ];
        assert_eq!(s.apply(&del).unwrap().applied, 4);
        assert!(ip_routes("-4").is_empty());
        assert!(ip_routes("-6").is_empty());
        assert!(sh_ok("ip -j route show table 100").contains("10.0.0.1"));
        let addrs = sh_ok("ip -j addr show dev vmgw");
        assert!(
            addrs.contains("10.0.0.0") && !addrs.contains("fec0::"),
            "{addrs}"
        );
        assert_eq!(sh_ok("ip -6 -j neigh show proxy").trim(), "[]");
        // Deleting them again counts as done.
        assert_eq!(s.apply(&del).unwrap().applied, 4);
    });
}

#[test]
fn a_phase_larger_than_one_pipeline_window_is_applied_completely() {
    in_fresh_netns("a_phase_larger_than_one_pipeline_window", || {
        const N: u32 = 1000;
        make_taps(N, false);
        let mut changes = Vec::new();
        let name = |i: u32| format!("vm{i}");
        let dst = |i: u32| -> IpNet { format!("10.1.{}.{}/32", i / 256, i % 256).parse().unwrap() };
        for i in 1..=N {
            changes.push(Change::SetLink {
                name: name(i),
                group: GROUP,
                alias: format!("blixard:{}", name(i)),
                mtu: 1500,
            });
        }
        for i in 1..=N {
            changes.push(Change::LinkUp { name: name(i) });
        }
        for i in 1..=N {
            changes.push(Change::AddAddress {
                interface: name(i),
                address: "10.1.255.255/32".parse().unwrap(),
            });
        }
        for i in 1..=N {
            changes.push(Change::AddRoute {
                destination: dst(i),
                interface: name(i),
                protocol: PROTO,
            });
        }
        let mut s = Session::new().unwrap();
        let started = std::time::Instant::now();
        assert_eq!(s.apply(&changes).unwrap().applied, changes.len());
        eprintln!(
            "{} changes for {N} links in {:?}",
            changes.len(),
            started.elapsed()
        );
        let routes = ip_routes("-4");
        assert_eq!(routes.len(), N as usize);
        assert!(routes.contains(&("10.1.3.232".to_string(), "vm1000".to_string())));
        let up = sh_ok(&format!("ip -o link show group {GROUP} up | wc -l"));
        assert_eq!(up.trim(), N.to_string());
        let seen = s
            .observe(&ObserveScope {
                link_group: GROUP,
                route_protocol: PROTO,
                ..ObserveScope::default()
            })
            .unwrap();
        assert_eq!(seen.links.len(), N as usize);
        assert_eq!(seen.routes.len(), N as usize);
        assert!(seen.links.iter().all(|l| l.up && l.addresses.len() == 1));
    });
}

/// blixard-tap's part of observe, stood in for: every tap is what the plan
/// wants (the taps here are made by `ip tuntap` to match).
fn fill_tun(plan: &HostPlan, seen: &mut blixard_addr::ObservedHost) {
    for l in &mut seen.links {
        if let Some(p) = plan.links.iter().find(|p| p.vm.interface == l.name) {
            l.tun = Some(blixard_addr::state::TunInfo {
                tap: true,
                pi: false,
                vnet_hdr: p.tap.vnet_hdr,
                multi_queue: p.tap.multi_queue,
                persist: true,
                owner: p.tap.owner,
                group: p.tap.group,
                queues: 0,
            });
        }
    }
}

#[test]
fn with_the_real_planner_and_diff_the_second_diff_has_nothing_for_us() {
    use blixard_addr::diff::{DiffOptions, diff};
    use blixard_addr::planner::{HostFacts, build_plan};
    in_fresh_netns("with_the_real_planner_and_diff", || {
        let plan = build_plan(&blixard_addr::Config::default(), &HostFacts::default()).unwrap();
        assert_eq!(plan.links.len(), 64);
        let script: String = plan
            .links
            .iter()
            .map(|l| format!("tuntap add dev {} mode tap vnet_hdr\n", l.vm.interface))
            .collect();
        sh_ok(&format!(
            "ip -batch - <<'EOF'\ntuntap add dev vmgw mode tap\n{script}EOF"
        ));
        // Unmarked taps with planned names are foreign: mark them as tap's
        // create step would have, so the diff takes them as ours.
        let mut s = Session::new().unwrap();
        let scope = ObserveScope::for_plan(&plan);
        let marks: Vec<Change> = plan
            .links
            .iter()
            .map(|l| Change::SetLink {
                name: l.vm.interface.clone(),
                group: plan.ownership.link_group,
                alias: l.alias.clone(),
                mtu: 9000,
            })
            .chain([Change::SetLink {
                name: plan.gateway.name.clone(),
                group: plan.ownership.link_group,
                alias: plan.gateway.alias.clone(),
                mtu: 1500,
            }])
            .collect();
        s.apply(&marks).unwrap();

        let mut seen = s.observe(&scope).unwrap();
        fill_tun(&plan, &mut seen);
        let first = diff(&plan, &seen, &DiffOptions::default()).unwrap();
        let ours = |cs: &[Change]| -> Vec<Change> {
            cs.iter()
                .filter(|c| c.executor() == blixard_addr::Executor::Route)
                .cloned()
                .collect()
        };
        // Per tap: MTU drift, up, 2 routes, 1 proxy entry, 3 sysctls; the
        // gateway: up, 2 addresses; 2 globals.
        assert_eq!(ours(&first).len(), 64 * 8 + 3 + 2, "{first:#?}");
        s.apply(&first).unwrap();

        let mut again = s.observe(&scope).unwrap();
        fill_tun(&plan, &mut again);
        let second = diff(&plan, &again, &DiffOptions::default()).unwrap();
        assert!(
            second
                .iter()
                .all(|c| c.executor() != blixard_addr::Executor::Route),
            "{second:#?}"
        );
        // A LAN route inside the pool becomes a conflict.
        sh_ok(
            "ip link add lan0 type veth peer name lan0p && ip link set lan0 up && \
             ip route add 10.0.0.128/25 dev lan0",
        );
        let mut lan = s.observe(&scope).unwrap();
        fill_tun(&plan, &mut lan);
        let conflicts = diff(&plan, &lan, &DiffOptions::default()).unwrap_err();
        assert!(
            conflicts.to_string().contains("10.0.0.128/25"),
            "{conflicts}"
        );
    });
}

#[test]
fn per_link_ipv4_settings_from_the_link_dump_agree_with_proc_sys() {
    in_fresh_netns("per_link_ipv4_settings_agree_with_proc_sys", || {
        make_taps(2, false);
        sh_ok(
            "sysctl -qw net.ipv4.conf.vm1.rp_filter=2 net.ipv4.conf.vm1.arp_ignore=1 \
             net.ipv4.conf.vm2.rp_filter=1 net.ipv4.conf.vm2.proxy_arp=1 \
             net.ipv4.conf.vm2.forwarding=1 net.ipv4.conf.vm2.log_martians=1 \
             net.ipv6.conf.vm1.proxy_ndp=1 net.ipv6.conf.vm2.accept_ra=2 \
             net.ipv6.conf.vm2.disable_ipv6=1 net.ipv6.neigh.vm1.proxy_delay=0 \
             net.ipv6.neigh.vm2.proxy_delay=37",
        );
        let names = [
            "forwarding",
            "proxy_arp",
            "accept_redirects",
            "send_redirects",
            "rp_filter",
            "accept_source_route",
            "log_martians",
            "arp_ignore",
            "arp_announce",
            "accept_local",
            "route_localnet",
        ];
        let mut sysctls: Vec<String> = ["vm1", "vm2", "all"]
            .iter()
            .flat_map(|i| names.iter().map(move |n| format!("net.ipv4.conf.{i}.{n}")))
            .collect();
        // IPv6 settings (the link dump's AF_INET6 block) and the
        // neighbour-table parameter (one RTM_GETNEIGHTBL dump).
        for i in ["vm1", "vm2"] {
            for n in ["forwarding", "accept_ra", "proxy_ndp", "disable_ipv6"] {
                sysctls.push(format!("net.ipv6.conf.{i}.{n}"));
            }
            sysctls.push(format!("net.ipv6.neigh.{i}.proxy_delay"));
        }
        sysctls.push("net.ipv4.conf.vm9.rp_filter".into());
        let scope = ObserveScope {
            link_group: GROUP,
            names: vec!["vm1".into(), "vm2".into()],
            sysctls: sysctls.clone(),
            ..ObserveScope::default()
        };
        let seen = Session::new().unwrap().observe(&scope).unwrap().sysctls;
        // The oracle is not `read_sysctl` (which observe itself uses for
        // keys the link dump does not carry) but `cat` in a shell spawned
        // from this thread, so in this namespace.
        let proc_sys = |key: &str| {
            let out = std::process::Command::new("sh")
                .args(["-c", &format!("cat /proc/sys/{}", key.replace('.', "/"))])
                .output()
                .unwrap();
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        for key in &sysctls {
            assert_eq!(
                seen.get(key).map(String::as_str),
                proc_sys(key).as_deref(),
                "{key}"
            );
        }
        assert_eq!(seen["net.ipv4.conf.vm1.rp_filter"], "2");
        assert_eq!(seen["net.ipv4.conf.vm2.proxy_arp"], "1");
        assert_eq!(seen["net.ipv6.conf.vm1.proxy_ndp"], "1");
        assert_eq!(seen["net.ipv6.neigh.vm1.proxy_delay"], "0");
        assert!(!seen.contains_key("net.ipv4.conf.vm9.rp_filter"));
    });
}

#[test]
fn links_and_routes_only_skips_addresses_qdiscs_and_sysctls() {
    in_fresh_netns("links_and_routes_only", || {
        let plan = plan(2, false);
        make_taps(2, false);
        let mut s = Session::new().unwrap();
        s.apply(&changes_from_scratch(&plan)).unwrap();
        let full = s.observe(&ObserveScope::for_plan(&plan)).unwrap();
        let narrow = s
            .observe(&ObserveScope {
                links_and_routes_only: true,
                ..ObserveScope::for_plan(&plan)
            })
            .unwrap();
        assert_eq!(narrow.routes, full.routes);
        assert_eq!(
            narrow
                .links
                .iter()
                .map(|l| (&l.name, l.group, &l.alias))
                .collect::<Vec<_>>(),
            full.links
                .iter()
                .map(|l| (&l.name, l.group, &l.alias))
                .collect::<Vec<_>>()
        );
        assert!(
            full.links
                .iter()
                .any(|l| l.name == "vmgw" && !l.addresses.is_empty())
        );
        assert!(full.links.iter().any(|l| !l.proxy_neighbours.is_empty()));
        assert!(
            narrow
                .links
                .iter()
                .all(|l| l.addresses.is_empty() && l.proxy_neighbours.is_empty())
        );
        assert!(!full.sysctls.is_empty() && narrow.sysctls.is_empty());
    });
}

#[test]
fn observe_vm_sees_what_the_whole_host_observation_sees_of_that_vm_and_what_is_in_its_way() {
    in_fresh_netns(
        "observe_vm_sees_what_the_whole_host_observation_sees",
        || {
            let plan = plan(3, true);
            make_taps(3, true);
            let mut s = Session::new().unwrap();
            s.apply(&changes_from_scratch(&plan)).unwrap();
            let whole = s
                .observe_with(&ObserveScope::for_plan(&plan), &|_| None)
                .unwrap();
            let link = &plan.links[1];
            let one = s
                .observe_vm(&VmObserveScope::for_link(&plan, link), &|_| None)
                .unwrap();
            // The gateway device and the VM's tap, as the whole-host
            // observation has them.
            assert_eq!(
                one.links,
                whole
                    .links
                    .iter()
                    .filter(|l| l.name == "vmgw" || l.name == "vm2")
                    .cloned()
                    .collect::<Vec<_>>()
            );
            assert!(one.links[1].root_noqueue, "IFLA_QDISC names the root qdisc");
            assert_eq!(one.links[0].addresses.len(), 2, "{:?}", one.links[0]);
            assert_eq!(one.links[1].proxy_neighbours.len(), 1, "{:?}", one.links[1]);
            let mut ours: Vec<_> = whole
                .routes
                .iter()
                .filter(|r| r.interface.as_deref() == Some("vm2"))
                .cloned()
                .collect();
            let mut seen = one.routes.clone();
            ours.sort_by_key(|r| r.destination);
            seen.sort_by_key(|r| r.destination);
            assert_eq!(seen, ours);
            for (key, value) in &one.sysctls {
                assert_eq!(whole.sysctls.get(key), Some(value), "{key}");
            }
            assert_eq!(one.sysctls.len(), plan.sysctls.len() + link.sysctls.len());

            // A VM not wired yet, with foreign routes over its addresses.
            sh_ok(
                "ip link add dummy0 type veth peer name dummy0p && ip link set dummy0 up && \
             ip route add 10.0.0.128/25 dev dummy0 && ip -6 route add fec0::/16 dev dummy0 && \
             ip route add default dev dummy0",
            );
            let vm = Layout::default().vm_at(200).unwrap();
            let scope = VmObserveScope {
                interface: vm.interface.clone(),
                gateway: "vmgw".into(),
                destinations: vec![IpNet::V4(vm.ipv4_net()), IpNet::V6(vm.ipv6_net())],
                sysctls: vec![],
                ifb: None,
            };
            let away = s.observe_vm(&scope, &|_| None).unwrap();
            assert!(
                away.links.iter().all(|l| l.name == "vmgw"),
                "{:?}",
                away.links
            );
            let found: BTreeSet<(String, Option<String>)> = away
                .routes
                .iter()
                .map(|r| (r.destination.to_string(), r.interface.clone()))
                .collect();
            let dummy = Some("dummy0".to_string());
            assert_eq!(
                found,
                BTreeSet::from([
                    ("10.0.0.128/25".to_string(), dummy.clone()),
                    ("fec0::/16".to_string(), dummy),
                ]),
                "the default route is never in the way"
            );

            // A VM only the default route covers (for IPv4): reported as the
            // kernel has it, and the core finds nothing in the way.
            let vm = Layout::default().vm_at(5).unwrap();
            let scope = VmObserveScope {
                interface: vm.interface.clone(),
                gateway: "vmgw".into(),
                destinations: vec![IpNet::V4(vm.ipv4_net())],
                sysctls: vec![],
                ifb: None,
            };
            let seen = s.observe_vm(&scope, &|_| None).unwrap();
            assert_eq!(seen.routes.len(), 1, "{:?}", seen.routes);
            let default = &seen.routes[0];
            assert_eq!(default.destination.to_string(), "0.0.0.0/0");
            assert_eq!(default.interface.as_deref(), Some("dummy0"));
            assert!(!route_policy::is_in_the_way(default, &pools_v4v6(), PROTO));
            assert!(away.routes.iter().all(|r| route_policy::is_in_the_way(
                r,
                &pools_v4v6(),
                PROTO
            )));
        },
    );
}

#[test]
fn observe_vm_reports_the_blackhole_unreachable_or_prohibit_route_a_lookup_refuses_through() {
    in_fresh_netns("observe_vm_reports_refusing_routes", || {
        // A lookup through these answers EINVAL, EHOSTUNREACH or EACCES,
        // not the route: a cluster host blackholes its own blocks.
        sh_ok(
            "ip route add blackhole 10.0.0.0/26 proto 12 && ip route add blackhole 10.0.0.2/31 && \
             ip -6 route add blackhole fec0::2/127 && ip route add unreachable 10.0.0.64/26 && \
             ip route add prohibit 10.0.0.128/26",
        );
        let layout = Layout::default();
        let seen = |index: u32| {
            let vm = layout.vm_at(index).unwrap();
            let scope = VmObserveScope {
                interface: vm.interface.clone(),
                gateway: "vmgw".into(),
                destinations: vec![IpNet::V4(vm.ipv4_net()), IpNet::V6(vm.ipv6_net())],
                sysctls: vec![],
                ifb: None,
            };
            let mut found: Vec<(String, RouteKind)> = Session::new()
                .unwrap()
                .observe_vm(&scope, &|_| None)
                .unwrap()
                .routes
                .iter()
                .map(|r| (r.destination.to_string(), r.kind))
                .collect();
            found.sort();
            found
        };
        assert_eq!(
            seen(3),
            [
                ("10.0.0.2/31".to_string(), RouteKind::Blackhole),
                ("fec0::2/127".to_string(), RouteKind::Blackhole),
            ],
            "the longest refusing route, in each family"
        );
        assert_eq!(
            seen(70),
            [("10.0.0.64/26".to_string(), RouteKind::Unreachable)]
        );
        assert_eq!(
            seen(130),
            [("10.0.0.128/26".to_string(), RouteKind::Prohibit)]
        );
    });
}

/// The default layout's pools.
fn pools_v4v6() -> Vec<IpNet> {
    let layout = Layout::default();
    vec![IpNet::V4(layout.ipv4_pool()), IpNet::V6(layout.ipv6_pool())]
}
