//! Three hosts routed by BGP (issue 14, part 5), end to end: three host
//! namespaces on a fabric (a bridge in a namespace of its own,
//! 198.51.100.0/24 and 2001:db8:51::/64), each wired by the real binary
//! (`--netns pid:N`) and running its own BIRD (config, control socket and
//! pid file in the test's directory, killed when the test ends, passed or
//! not), each with guests behind stand-in VMMs. Every namespace is one
//! this test made; nothing waits by sleeping, every wait polls with a
//! deadline.

#[path = "../common/mod.rs"]
mod common;
mod node;

use blixard_host::testbed::{self, Bird, FABRIC_SELF, Fabric, Guest, bird_available};
use blixard_netns::testing::{in_fresh_netns, skip};
use common::Scratch;
use node::{CONVERGE, Node, WITHDRAW, eventually, reachable_both_ways, rogue_config};
use serde_json::Value;

#[test]
fn three_hosts_route_their_vms_to_each_other_through_bgp() {
    let test = "three_hosts_route_their_vms_to_each_other_through_bgp";
    if !bird_available() {
        skip(test, "bird and birdc (apt-get install bird2)");
        return;
    }
    in_fresh_netns(test, || {
        let fabric = Fabric::build().unwrap();
        // Host 1: block 2-3 and VM 1 alone; host 2: block 64-65 and 66
        // alone; host 3: block 128-129 and 130 alone. Host 1 also peers
        // with the stand-in router.
        let mut nodes = [
            Node::new(&fabric, 1, "host1", "[\"1-3\"]", &[2, 3, FABRIC_SELF]),
            Node::new(&fabric, 2, "host2", "[\"64-66\"]", &[1, 3]),
            Node::new(&fabric, 3, "host3", "[\"128-130\"]", &[1, 2]),
        ];
        // The stand-in router runs from the start: a peer that refuses
        // connections for long makes BIRD wait minutes between attempts.
        let rogue_dir = Scratch::new("cluster-rogue");
        let rogue_file = rogue_dir.0.join("rogue.conf");
        std::fs::write(&rogue_file, rogue_config()).unwrap();
        let _rogue = blixard_netns::run_in(&fabric.ns.netns(), || {
            Bird::start(&rogue_dir.0, "rogue", &rogue_file)
        })
        .unwrap()
        .unwrap();
        let indices: [&[u32]; 3] = [&[1, 2, 3], &[64, 65, 66], &[128, 129, 130]];
        for (node, vms) in nodes.iter_mut().zip(indices) {
            node.start_bird();
            let out = node.ok(&["apply"]);
            assert!(out.contains("bird: ") && out.contains("unchanged"), "{out}");
            for &index in vms {
                node.start_guest(index);
            }
        }

        // Every host installs the others' blocks and lone VMs, with BIRD's
        // protocol and metric, through the owner's fabric address.
        let announced = [
            ("10.0.0.2/31", "fd00:b1::2/127", 1),
            ("10.0.0.1", "fd00:b1::1", 1),
            ("10.0.0.64/31", "fd00:b1::40/127", 2),
            ("10.0.0.66", "fd00:b1::42", 2),
            ("10.0.0.128/31", "fd00:b1::80/127", 3),
            ("10.0.0.130", "fd00:b1::82", 3),
        ];
        for node in &nodes {
            let n = node.host.number();
            eventually(
                &nodes,
                &format!("{}'s routes from its peers", node.name),
                CONVERGE,
                || {
                    announced
                        .iter()
                        .filter(|(.., owner)| *owner != n)
                        .all(|(v4, v6, owner)| {
                            node.routes_via(v4, *owner) && node.routes_via(v6, *owner)
                        })
                },
            );
            let routes = node.bird_routes();
            for (v4, v6, owner) in announced.iter().filter(|(.., o)| *o != n) {
                for prefix in [v4, v6] {
                    let r = &routes[*prefix];
                    assert_eq!(r["protocol"], "bird", "{prefix} on {}: {r}", node.name);
                    assert_eq!(r["metric"], 2048, "{prefix} on {}: {r}", node.name);
                    assert_eq!(
                        r["dev"],
                        testbed::FABRIC_LINK,
                        "{prefix} via host{owner}: {r}"
                    );
                }
            }
        }

        // The matrix: every VM reaches every VM on the other hosts over
        // IPv4 and IPv6, ping and TCP, with its own source address.
        let guests: Vec<(&str, &Guest)> = nodes
            .iter()
            .flat_map(|n| n.guests.values().map(move |g| (n.name, g)))
            .collect();
        let probes = testbed::cluster_matrix(&guests);
        assert_eq!(probes.len(), 9 * 6 * 4);
        let failed: Vec<_> = probes.iter().filter(|p| !p.ok).collect();
        assert!(failed.is_empty(), "failed probes: {failed:#?}");

        // status: the host and its BGP side in sync (once BIRD has put in
        // the kernel what it took from every peer: polled, BGP is
        // asynchronous), every session established.
        for node in &nodes {
            let status = || {
                let out = node.cli(&["--json", "status"]);
                serde_json::from_str::<Value>(&String::from_utf8_lossy(&out.stdout)).unwrap()
            };
            eventually(&nodes, &format!("{} in sync", node.name), CONVERGE, || {
                status()["in_sync"] == true
            });
            let json = status();
            let sessions = json["bgp"]["sessions"].as_array().unwrap();
            assert_eq!(sessions.len(), node.peers.len(), "{json}");
            assert!(
                sessions.iter().all(|s| s["established"] == true),
                "{}: {sessions:?}",
                node.name
            );
        }

        // A peer announcing a default route, a prefix outside the pools,
        // the pool itself or host 1's own block gets none of it installed.
        let host1 = &nodes[0];
        eventually(
            &nodes,
            "host 1 installs the stand-in router's in-pool prefix",
            CONVERGE,
            || {
                host1.routes_via("10.0.200.0/24", FABRIC_SELF)
                    && host1.routes_via("fd00:b1::c800:0/120", FABRIC_SELF)
            },
        );
        let routes = host1.bird_routes();
        for refused in ["default", "192.168.77.0/24", "2001:db8:77::/48"] {
            assert!(
                !routes.contains_key(refused),
                "{refused} installed: {routes:#?}"
            );
        }
        for own in ["10.0.0.0/16", "fd00:b1::/64"] {
            assert_eq!(
                routes[own]["type"], "unreachable",
                "the pool is ours, not the router's"
            );
        }
        assert_eq!(
            routes["10.0.0.2/31"]["type"], "blackhole",
            "host 1's own block stays its own"
        );
        let main = host1
            .host
            .ns
            .sh_ok("ip route show default; ip -6 route show default");
        assert!(
            main.trim().is_empty(),
            "a default route was installed: {main}"
        );

        // unwire withdraws a lone VM from the other hosts at once.
        nodes[1].guests.remove(&66);
        nodes[1].ok(&["unwire", "66"]);
        let took = eventually(
            &nodes,
            "10.0.0.66 withdrawn from hosts 1 and 3",
            WITHDRAW,
            || {
                [&nodes[0], &nodes[2]].iter().all(|n| {
                    let routes = n.bird_routes();
                    !routes.contains_key("10.0.0.66") && !routes.contains_key("fd00:b1::42")
                })
            },
        );
        eprintln!("unwire 66: withdrawn from the peers in {took:?}");
        nodes[1].ok(&["wire", "66"]);
        nodes[1].start_guest(66);
        eventually(&nodes, "10.0.0.66 announced again", CONVERGE, || {
            nodes[0].routes_via("10.0.0.66", 2) && nodes[2].routes_via("fd00:b1::42", 2)
        });
        reachable_both_ways(&nodes[0].guests[&1], &nodes[1].guests[&66]);

        // BIRD killed on host 2: the paths it had stay up (graceful
        // restart on the peers, persist in its own kernel), and come back
        // to established sessions when it is started again.
        nodes[1].bird.as_mut().unwrap().kill();
        eventually(
            &nodes,
            "host 1 notices host 2's BIRD is gone",
            CONVERGE,
            || !nodes[0].session(2).contains("Established"),
        );
        assert!(
            nodes[0].routes_via("10.0.0.64/31", 2),
            "host 1 kept host 2's block"
        );
        assert!(
            nodes[1].routes_via("10.0.0.2/31", 1),
            "host 2 kept host 1's block"
        );
        reachable_both_ways(&nodes[0].guests[&2], &nodes[1].guests[&64]);
        reachable_both_ways(&nodes[2].guests[&129], &nodes[1].guests[&65]);
        let ns = nodes[1].host.netns();
        let bird = nodes[1].bird.as_mut().unwrap();
        blixard_netns::run_in(&ns, || bird.restart())
            .unwrap()
            .unwrap();
        eventually(
            &nodes,
            "host 2's sessions established again",
            CONVERGE,
            || {
                [(0, 2), (2, 2), (1, 1), (1, 3)]
                    .iter()
                    .all(|&(node, peer)| nodes[node].session(peer).contains("Established"))
            },
        );
        assert!(nodes[0].routes_via("10.0.0.64/31", 2));
        reachable_both_ways(&nodes[0].guests[&3], &nodes[1].guests[&65]);

        // Moving VM 2 from host 1's block to host 3, in the documented
        // order: unwire it on host 1 and take it out of host 1's `vms`,
        // then add it to host 3's and wire it there.
        nodes[0].guests.remove(&2);
        nodes[0].ok(&["unwire", "2"]);
        nodes[0].vms = "[1, 3]".into();
        let out = nodes[0].ok(&["apply"]);
        assert!(out.contains("reloaded BIRD"), "{out}");
        nodes[2].vms = "[\"128-130\", 2]".into();
        let out = nodes[2].ok(&["wire", "2"]);
        assert!(out.contains("reloaded BIRD"), "{out}");
        nodes[2].start_guest(2);
        eventually(
            &nodes,
            "host 2 routes VM 2 to host 3, and host 1 stops",
            CONVERGE,
            || {
                let routes = nodes[1].bird_routes();
                nodes[1].routes_via("10.0.0.2", 3)
                    && nodes[1].routes_via("fd00:b1::2", 3)
                    && !routes.contains_key("10.0.0.2/31")
                    && nodes[1].routes_via("10.0.0.3", 1)
            },
        );
        eventually(&nodes, "host 1 routes VM 2 to host 3", CONVERGE, || {
            nodes[0].routes_via("10.0.0.2", 3)
        });
        reachable_both_ways(&nodes[1].guests[&64], &nodes[2].guests[&2]);
        reachable_both_ways(&nodes[0].guests[&1], &nodes[2].guests[&2]);
    });
}

#[test]
fn the_cluster_demo_prints_an_all_green_matrix() {
    let test = "the_cluster_demo_prints_an_all_green_matrix";
    if !bird_available() {
        skip(test, "bird and birdc (apt-get install bird2)");
        return;
    }
    // The demo makes its own namespaces; run it from a fresh one anyway so
    // a bug in it could never reach the machine's network.
    in_fresh_netns(test, || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_blixard-net"))
            .args(["--config", "/dev/null", "demo", "--hosts", "3"])
            .output()
            .unwrap();
        let all = common::text(&out);
        assert!(out.status.success(), "{all}");
        // 3 hosts of 2 VMs: each VM to the 4 on other hosts, 4 probes each.
        assert!(all.contains("96/96 probes ok: all green"), "{all}");
        assert!(all.contains("host3/vm193 host2/vm129 tcp"), "{all}");
        assert!(all.contains("every BGP session established"), "{all}");
    });
}
