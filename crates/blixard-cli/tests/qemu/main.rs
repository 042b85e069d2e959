//! The real-VMM tier: QEMU guests (Debian's kernel, a busybox initramfs)
//! on taps wired by the real `blixard-net`, started with the NIC arguments
//! `blixard-net vmm N --kind qemu` prints and configured by the script
//! `blixard-net guest N --format shell` prints. Real ping and TCP between
//! the host namespace (a fresh one per test), the guests and an upstream
//! namespace standing in for the internet, which has no route back to the
//! pool unless a test adds one.
//!
//! Every check that something is blocked has a check beside it that the
//! same kind of probe gets through, and a probe that cannot run (guest
//! gone, no answer) fails the test instead of counting as "blocked".
//! Without QEMU, the kernel or a static busybox the tests are skipped with
//! a notice (a failure under `CI`).

#[path = "../common/mod.rs"]
mod common;
mod cpio;
mod harness;
mod operator;
#[path = "../rate/mod.rs"]
mod rate;

use std::net::IpAddr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use blixard_addr::Vm;
use blixard_host::testbed::{self, ECHO_PORT, Upstream};
use blixard_netns::Netns;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{Scratch, cli, exits, ok, plan_of, text};
use harness::{Guest, Kit, Spec};

/// For probes that must get through: TCG guests are slow, and the first
/// packets wait for neighbour discovery.
const PATIENCE: Duration = Duration::from_secs(15);
/// For probes that must not: a drop shows as a timeout.
const REFUSAL: Duration = Duration::from_secs(3);

const BASE: &str = r#"
vms = 3
owner = "root"
external_interface = "bx-up0"
"#;

const MULTI_QUEUE: &str = "
[tap]
multi_queue = true
queues = 2
";

/// How to start the guest on one VM.
struct At {
    index: u32,
    /// `--queues N` for `blixard-net vmm`.
    queues: Option<u16>,
    /// Appended to the `-netdev` argument, as a user would.
    netdev_suffix: &'static str,
    smp: u32,
}

impl At {
    fn vm(index: u32) -> Self {
        At {
            index,
            queues: None,
            netdev_suffix: "",
            smp: 1,
        }
    }
}

/// The stdout of a successful run.
fn stdout(out: Output) -> String {
    assert!(out.status.success(), "blixard-net failed: {}", text(&out));
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Splits a line the way a POSIX shell would for what `vmm` prints: words
/// separated by spaces, `'...'` quoting and `\` escapes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    let mut chars = line.trim_end().chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_default();
            }
            ' ' if !quoted => words.extend(word.take()),
            '\\' if !quoted => word.get_or_insert_default().extend(chars.next()),
            c => word.get_or_insert_default().push(c),
        }
    }
    assert!(!quoted, "unbalanced quote in {line:?}");
    words.extend(word);
    words
}

/// Boots the guests in parallel, each with its NIC and network from the CLI.
fn boot(kit: &Kit, scratch: &Scratch, config: &Path, at: &[At]) -> Vec<Guest> {
    let results: Vec<Result<Guest, String>> = std::thread::scope(|s| {
        let threads: Vec<_> = at
            .iter()
            .map(|at| s.spawn(|| boot_one(kit, scratch, config, at)))
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("boot thread panicked".into()))
            })
            .collect()
    });
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "guests did not boot:\n{failures:#?}");
    results.into_iter().map(Result::unwrap).collect()
}

fn boot_one(kit: &Kit, scratch: &Scratch, config: &Path, at: &At) -> Result<Guest, String> {
    let index = at.index.to_string();
    let queues = at.queues.map(|q| q.to_string());
    let mut vmm = vec!["vmm", &index, "--kind", "qemu"];
    if let Some(q) = &queues {
        vmm.extend(["--queues", q]);
    }
    // What an operator would paste into a shell, checked against what a
    // program would read.
    let mut args = shell_words(&stdout(cli(scratch, config, &vmm)));
    let json: Vec<String> = serde_json::from_str(&stdout(cli(
        scratch,
        config,
        &[&["--json"], vmm.as_slice()].concat(),
    )))
    .expect("vmm --json prints an array of strings");
    assert_eq!(args, json, "vmm prints different arguments with --json");
    if !at.netdev_suffix.is_empty() {
        let netdev = args
            .iter()
            .position(|a| a == "-netdev")
            .ok_or_else(|| format!("no -netdev in {args:?}"))?
            + 1;
        args[netdev].push_str(at.netdev_suffix);
    }
    let script = stdout(cli(
        scratch,
        config,
        &["guest", &index, "--format", "shell"],
    ));
    let spec = Spec {
        name: format!("vm{index}"),
        net_args: args,
        net_script: Some(script),
        smp: at.smp,
    };
    let guest = Guest::boot(kit, &scratch.0, &spec).map_err(|e| e.to_string())?;
    // The script as printed, under busybox: any incompatibility fails here.
    if guest.net_status != "ok" {
        return Err(format!(
            "{}: `blixard-net guest {index} --format shell` failed in the guest ({}):\n{}\n{}",
            guest.name,
            guest.net_status,
            guest.net_log,
            guest.logs()
        ));
    }
    Ok(guest)
}

/// The VMs of `toml` as the planner maps them.
fn vms(toml: &str) -> Vec<Vm> {
    plan_of(toml).links.into_iter().map(|l| l.vm).collect()
}

/// A probe that could not run fails the test.
fn probed<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("could not probe: {e}"))
}

fn v4(vm: &Vm) -> IpAddr {
    IpAddr::V4(vm.ipv4)
}

fn v6(vm: &Vm) -> IpAddr {
    IpAddr::V6(vm.ipv6)
}

/// `ip -d -j link show`'s tun attributes of `name`.
fn tun_info(name: &str) -> serde_json::Value {
    let out = sh_ok(&format!("ip -d -j link show {name}"));
    let links: Vec<serde_json::Value> = serde_json::from_str(&out).expect("ip -j");
    links[0]["linkinfo"]["info_data"].clone()
}

/// Each guest's checks on a thread of its own (threads inherit the test's
/// namespace); the names of the failed ones.
fn probe_all<F>(guests: &[Guest], vms: &[Vm], per_guest: F) -> Vec<String>
where
    F: Fn(&Guest, &Vm, &mut dyn FnMut(String, bool)) + Sync,
{
    std::thread::scope(|s| {
        let threads: Vec<_> = guests
            .iter()
            .zip(vms)
            .map(|(g, vm)| {
                let per_guest = &per_guest;
                s.spawn(move || {
                    let mut failed = Vec::new();
                    per_guest(g, vm, &mut |what, passed| {
                        if !passed {
                            failed.push(what);
                        }
                    });
                    failed
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("probe thread"))
            .collect()
    })
}

#[test]
fn qemu_guests_reach_host_each_other_and_upstream_over_ipv4_and_ipv6() {
    const TEST: &str = "qemu_connectivity";
    let Some(kit) = harness::kit(TEST) else {
        return;
    };
    in_fresh_netns(TEST, || {
        let scratch = Scratch::new("qemu-connectivity");
        let config = scratch.config(BASE);
        let upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let vms = vms(BASE);
        let guests = boot(kit, &scratch, &config, &[At::vm(1), At::vm(2), At::vm(3)]);
        testbed::echo_server(&Netns::Current, ECHO_PORT).unwrap();
        testbed::echo_server(&upstream.ns.netns(), ECHO_PORT).unwrap();
        for g in &guests {
            probed(g.serve_peer(ECHO_PORT));
        }
        let upstream_pairs: [(IpAddr, IpAddr); 2] = [
            (
                testbed::UPSTREAM_V4.parse().unwrap(),
                testbed::HOST_UPLINK_V4.parse().unwrap(),
            ),
            (
                testbed::UPSTREAM_V6.parse().unwrap(),
                testbed::HOST_UPLINK_V6.parse().unwrap(),
            ),
        ];
        let all = &vms;
        let failed = probe_all(&guests, &vms, |g, vm, check| {
            let me = &vm.interface;
            for addr in [v4(vm), v6(vm)] {
                check(
                    format!("host -> {me} ping {addr}"),
                    probed(testbed::ping(None, addr, PATIENCE)),
                );
                check(
                    format!("host -> {me} tcp {addr}"),
                    probed(testbed::tcp_probe(
                        &Netns::Current,
                        addr,
                        ECHO_PORT,
                        PATIENCE,
                    ))
                    .is_some(),
                );
            }
            // VM -> host and VM -> VM arrive with the VM's own address.
            for (gateway, own) in [
                (IpAddr::V4(vm.gateway_ipv4), v4(vm)),
                (IpAddr::V6(vm.gateway_ipv6), v6(vm)),
            ] {
                check(
                    format!("{me} -> host ping {gateway}"),
                    probed(g.ping(gateway, PATIENCE)),
                );
                let seen = probed(g.tcp(gateway, ECHO_PORT, PATIENCE));
                check(
                    format!("{me} -> host tcp {gateway} (seen as {seen:?})"),
                    seen == Some(own),
                );
            }
            for other in all.iter().filter(|o| o.index != vm.index) {
                for (addr, own) in [(v4(other), v4(vm)), (v6(other), v6(vm))] {
                    let to = &other.interface;
                    check(
                        format!("{me} -> {to} ping {addr}"),
                        probed(g.ping(addr, PATIENCE)),
                    );
                    let seen = probed(g.tcp(addr, ECHO_PORT, PATIENCE));
                    check(
                        format!("{me} -> {to} tcp {addr} (seen as {seen:?})"),
                        seen == Some(own),
                    );
                }
            }
            // No route back to the pool upstream: only a masqueraded
            // connection, seen from the host's uplink address, gets through.
            for (addr, masqueraded) in upstream_pairs {
                check(
                    format!("{me} -> upstream ping {addr}"),
                    probed(g.ping(addr, PATIENCE)),
                );
                let seen = probed(g.tcp(addr, ECHO_PORT, PATIENCE));
                check(
                    format!("{me} -> upstream tcp {addr} (seen as {seen:?})"),
                    seen == Some(masqueraded),
                );
            }
        });
        assert!(failed.is_empty(), "failed probes: {failed:#?}");
    });
}

#[test]
fn qemu_the_seeds_firewall_examples_hold_for_real_guests() {
    const TEST: &str = "qemu_firewall";
    let toml = format!(
        "{BASE}
[firewall]
inbound_default = \"drop\"
[[firewall.rules]]
from = \"vm1\"
to = \"vm2\"
action = \"drop\"
[[firewall.rules]]
from = \"external\"
to = \"vm3\"
protocol = \"tcp\"
port = 22
action = \"accept\"
"
    );
    let Some(kit) = harness::kit(TEST) else {
        return;
    };
    in_fresh_netns(TEST, || {
        let scratch = Scratch::new("qemu-firewall");
        let config = scratch.config(&toml);
        let upstream = Upstream::build().unwrap();
        // For inbound probes only: the upstream may route to the pool via us.
        upstream.ns.sh_ok(&format!(
            "ip route add 10.0.0.0/24 via {}",
            testbed::HOST_UPLINK_V4
        ));
        ok(cli(&scratch, &config, &["apply"]));
        let vms = vms(&toml);
        let guests = boot(kit, &scratch, &config, &[At::vm(1), At::vm(2), At::vm(3)]);
        for g in &guests {
            probed(g.serve_peer(ECHO_PORT));
            probed(g.serve_peer(22));
        }
        let (vm1, vm2, vm3) = (&guests[0], &guests[1], &guests[2]);
        let ip = |i: usize| v4(&vms[i]);

        // "Block VM 1 from accessing VM 2": that and nothing else. vm2 ->
        // vm1 works, so vm1's replies to vm2 pass: only new connections
        // are judged.
        assert_eq!(
            probed(vm1.tcp(ip(2), ECHO_PORT, PATIENCE)),
            Some(ip(0)),
            "vm1 -> vm3 blocked"
        );
        assert_eq!(
            probed(vm1.tcp(ip(1), ECHO_PORT, REFUSAL)),
            None,
            "vm1 -> vm2 tcp passed"
        );
        assert!(probed(vm1.ping(ip(2), PATIENCE)), "vm1 -> vm3 ping blocked");
        assert!(!probed(vm1.ping(ip(1), REFUSAL)), "vm1 -> vm2 ping passed");
        assert_eq!(
            probed(vm2.tcp(ip(0), ECHO_PORT, PATIENCE)),
            Some(ip(1)),
            "vm2 -> vm1 blocked"
        );
        assert!(probed(vm2.ping(ip(0), PATIENCE)), "vm2 -> vm1 ping blocked");
        assert_eq!(
            probed(vm2.tcp(ip(2), ECHO_PORT, PATIENCE)),
            Some(ip(1)),
            "vm2 -> vm3 blocked"
        );
        assert_eq!(
            probed(vm3.tcp(ip(1), ECHO_PORT, PATIENCE)),
            Some(ip(2)),
            "vm3 -> vm2 blocked"
        );

        // "Allow only SSH to VM 3 from outside": the upstream connects to
        // vm3:22 without translation, and to nothing else.
        let outside = upstream.ns.netns();
        let upstream_v4: IpAddr = testbed::UPSTREAM_V4.parse().unwrap();
        assert_eq!(
            probed(testbed::tcp_probe(&outside, ip(2), 22, PATIENCE)),
            Some(upstream_v4),
            "upstream -> vm3:22 blocked"
        );
        assert_eq!(
            probed(testbed::tcp_probe(&outside, ip(2), ECHO_PORT, REFUSAL)),
            None,
            "upstream -> vm3:{ECHO_PORT} passed"
        );
        assert_eq!(
            probed(testbed::tcp_probe(&outside, ip(0), 22, REFUSAL)),
            None,
            "upstream -> vm1:22 passed"
        );
        // The VMs themselves still reach VM 3 on any port.
        assert_eq!(probed(vm1.tcp(ip(2), 22, PATIENCE)), Some(ip(0)));
        // And the guests still answer where the rules say nothing.
        assert!(
            probed(testbed::tcp_probe(
                &Netns::Current,
                ip(1),
                ECHO_PORT,
                PATIENCE
            ))
            .is_some()
        );
    });
}

#[test]
fn qemu_a_guest_with_vnet_hdr_off_and_one_with_the_default_both_work_and_status_is_clean() {
    const TEST: &str = "qemu_vnet_hdr";
    let Some(kit) = harness::kit(TEST) else {
        return;
    };
    in_fresh_netns(TEST, || {
        let scratch = Scratch::new("qemu-vnet-hdr");
        let config = scratch.config(BASE);
        let _upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let vms = vms(BASE);
        let off = At {
            netdev_suffix: ",vnet_hdr=off",
            ..At::vm(1)
        };
        let guests = boot(kit, &scratch, &config, &[off, At::vm(2)]);
        // QEMU's TUNSETIFF sets the tap's flags while it holds it: the
        // premise of this test is that vm1 really runs without the header.
        assert_eq!(tun_info("vm1")["vnet_hdr"], false, "{}", tun_info("vm1"));
        assert_eq!(tun_info("vm2")["vnet_hdr"], true, "{}", tun_info("vm2"));
        for g in &guests {
            probed(g.serve_peer(ECHO_PORT));
        }
        let failed = probe_all(&guests, &vms, |g, vm, check| {
            let me = &vm.interface;
            for addr in [v4(vm), v6(vm)] {
                check(
                    format!("host -> {me} ping {addr}"),
                    probed(testbed::ping(None, addr, PATIENCE)),
                );
                // TCP is where offloads and the header matter.
                check(
                    format!("host -> {me} tcp {addr}"),
                    probed(testbed::tcp_probe(
                        &Netns::Current,
                        addr,
                        ECHO_PORT,
                        PATIENCE,
                    ))
                    .is_some(),
                );
            }
            for gateway in [IpAddr::V4(vm.gateway_ipv4), IpAddr::V6(vm.gateway_ipv6)] {
                check(
                    format!("{me} -> host ping {gateway}"),
                    probed(g.ping(gateway, PATIENCE)),
                );
            }
        });
        assert!(failed.is_empty(), "failed probes: {failed:#?}");
        let status = cli(&scratch, &config, &["status"]);
        assert_eq!(
            status.status.code(),
            Some(0),
            "status while vm1 runs with vnet_hdr=off: {}",
            text(&status)
        );
        assert!(guests.iter().all(Guest::alive));
    });
}

#[test]
fn qemu_a_multi_queue_tap_gives_the_guest_two_queue_pairs() {
    const TEST: &str = "qemu_multi_queue";
    let Some(kit) = harness::kit(TEST) else {
        return;
    };
    let toml = format!("{BASE}{MULTI_QUEUE}");
    in_fresh_netns(TEST, || {
        let scratch = Scratch::new("qemu-multi-queue");
        let config = scratch.config(&toml);
        let _upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let vm = &vms(&toml)[0];
        // virtio-net uses as many queue pairs as the guest has CPUs.
        let at = At {
            queues: Some(2),
            smp: 2,
            ..At::vm(1)
        };
        let guests = boot(kit, &scratch, &config, &[at]);
        let g = &guests[0];
        let queues = probed(g.run_ok("ls /sys/class/net/eth0/queues"));
        assert_eq!(
            queues.split_whitespace().collect::<Vec<_>>(),
            ["rx-0", "rx-1", "tx-0", "tx-1"],
            "{queues}"
        );
        assert!(probed(g.ping(IpAddr::V4(vm.gateway_ipv4), PATIENCE)));
        assert!(probed(g.ping(IpAddr::V6(vm.gateway_ipv6), PATIENCE)));
        assert!(probed(testbed::ping(None, v4(vm), PATIENCE)));
        assert_eq!(tun_info("vm1")["multi_queue"], true, "{}", tun_info("vm1"));
        let status = cli(&scratch, &config, &["status"]);
        assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    });
}

#[test]
fn qemu_a_route_deleted_under_running_guests_is_drift_that_apply_repairs_live() {
    const TEST: &str = "qemu_drift";
    let Some(kit) = harness::kit(TEST) else {
        return;
    };
    in_fresh_netns(TEST, || {
        let scratch = Scratch::new("qemu-drift");
        let config = scratch.config(BASE);
        let _upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let vms = vms(BASE);
        let guests = boot(kit, &scratch, &config, &[At::vm(1), At::vm(2)]);
        let (vm1, vm2) = (&guests[0], &guests[1]);
        let gateway = IpAddr::V4(vms[1].gateway_ipv4);
        assert!(probed(vm1.ping(gateway, PATIENCE)));
        assert!(probed(vm2.ping(gateway, PATIENCE)));
        let status = cli(&scratch, &config, &["status"]);
        assert_eq!(
            status.status.code(),
            Some(0),
            "status while guests run: {}",
            text(&status)
        );
        let pids: Vec<u32> = guests.iter().map(Guest::pid).collect();

        let proto = plan_of(BASE).ownership.route_protocol;
        sh_ok(&format!("ip route del 10.0.0.2/32 dev vm2 proto {proto}"));
        // The route is what carries the host's answers to vm2.
        assert!(
            !probed(vm2.ping(gateway, REFUSAL)),
            "vm2 reached the host without its route"
        );
        assert!(probed(vm1.ping(gateway, PATIENCE)), "vm1 lost the host");
        let drift = exits(cli(&scratch, &config, &["status"]), 3);
        assert!(drift.contains("10.0.0.2/32 dev vm2"), "{drift}");

        let repair = ok(cli(&scratch, &config, &["apply"]));
        assert!(repair.contains("1 change(s) made"), "{repair}");
        assert_eq!(
            guests.iter().map(Guest::pid).collect::<Vec<_>>(),
            pids,
            "guests were replaced"
        );
        assert!(
            guests.iter().all(Guest::alive),
            "a guest died in the repair"
        );
        assert!(
            probed(vm2.ping(gateway, PATIENCE)),
            "vm2 still cut off after the repair"
        );
        assert!(probed(testbed::ping(None, v4(&vms[1]), PATIENCE)));
        exits(cli(&scratch, &config, &["status"]), 0);
    });
}

#[test]
fn qemu_a_tap_flag_change_leaves_the_running_guest_and_repairs_the_rest() {
    const TEST: &str = "qemu_held_tap";
    let Some(kit) = harness::kit(TEST) else {
        return;
    };
    in_fresh_netns(TEST, || {
        let scratch = Scratch::new("qemu-held-tap");
        let config = scratch.config(BASE);
        let _upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let vm1 = &vms(BASE)[0];
        let guests = boot(kit, &scratch, &config, &[At::vm(1)]);
        let g = &guests[0];
        let gateway = IpAddr::V4(vm1.gateway_ipv4);
        assert!(probed(g.ping(gateway, PATIENCE)));
        let pid = g.pid();

        // Multi-queue taps would need vm1's tap recreated under its VMM.
        // Before each run a route goes missing, to see it repaired in the
        // same run: vm2's (a tap nobody holds), then vm1's own (its tap is
        // left, not what is on it; the guest's ping needs the route back).
        let proto = plan_of(BASE).ownership.route_protocol;
        let config = scratch.config(&format!("{BASE}{MULTI_QUEUE}"));
        for (args, vm, ip) in [
            (&["apply"][..], "vm2", "10.0.0.2"),
            (&["apply", "--allow-recreate"], "vm1", "10.0.0.1"),
        ] {
            let route = format!("ip route show {ip}/32 dev {vm} proto {proto}");
            sh_ok(&format!("ip route del {ip}/32 dev {vm} proto {proto}"));
            assert_eq!(sh_ok(&route), "");
            let out = exits(cli(&scratch, &config, args), 4);
            assert!(out.contains("vm1"), "{args:?} did not name vm1: {out}");
            assert!(
                g.alive() && g.pid() == pid,
                "{args:?} took vm1's guest down"
            );
            assert!(
                !sh_ok(&route).is_empty(),
                "{args:?} did not restore {vm}'s route: {out}"
            );
            assert_eq!(
                tun_info("vm1")["multi_queue"],
                false,
                "{args:?} changed the held tap"
            );
            assert!(
                probed(g.ping(gateway, PATIENCE)),
                "vm1's guest lost its network after {args:?}"
            );
        }
        // Taps nobody holds were recreated as asked.
        assert_eq!(tun_info("vm2")["multi_queue"], true, "{}", tun_info("vm2"));
        let status = exits(cli(&scratch, &config, &["status"]), 3);
        assert!(status.contains("vm1"), "{status}");
    });
}
