//! End to end: the real `blixard-net` binary wires VMs in a throwaway host
//! namespace; guests in their own namespaces sit behind stand-in VMMs
//! (frame relays through real taps); an upstream namespace with no route
//! back to the pool stands in for the internet. Real ping and TCP.

mod common;

use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use blixard_host::testbed::{self, Upstream};
use blixard_netns::Netns;
use blixard_netns::testing::{NetnsHolder, in_fresh_netns, sh_ok};
use common::{
    PATIENCE, REFUSAL, Scratch, assert_unchanged, cli, exits, ok, snapshot, start_guests, text,
};

const BASE: &str = r#"
vms = 3
owner = "root"
external_interface = "bx-up0"
"#;

#[test]
fn three_vms_wired_by_the_cli_reach_everything_and_reapply_is_a_no_op() {
    in_fresh_netns("three_vms_wired_by_the_cli", || {
        let scratch = Scratch::new("connectivity");
        let config = scratch.config(BASE);
        let upstream = Upstream::build().unwrap();

        // A dry run first: it must change nothing at all.
        let before = snapshot();
        let dry = ok(cli(&scratch, &config, &["apply", "--dry-run"]));
        assert!(dry.contains("create tap vm3"), "{dry}");
        assert_unchanged(&before, &snapshot(), "apply --dry-run");

        ok(cli(&scratch, &config, &["apply"]));
        let again = ok(cli(&scratch, &config, &["apply"]));
        assert!(
            again.contains("no change"),
            "second apply changed something: {again}"
        );

        let guests = start_guests(BASE);
        let probes = testbed::connectivity_matrix(&guests, &upstream);
        let failed: Vec<_> = probes.iter().filter(|p| !p.ok).collect();
        assert!(failed.is_empty(), "failed probes: {failed:#?}");
        // host<->VM (4 each), VM->host (2), VM<->VM (8 per peer), VM->upstream (4)
        assert_eq!(probes.len(), 3 * (4 + 2 + 2 * 4 + 4));
    });
}

#[test]
fn status_reports_drift_with_exit_3_and_apply_repairs_it() {
    in_fresh_netns("status_reports_drift", || {
        let scratch = Scratch::new("status");
        let config = scratch.config(BASE);
        let _upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let status = cli(&scratch, &config, &["status"]);
        assert_eq!(status.status.code(), Some(0), "{}", text(&status));

        sh_ok("ip route del 10.0.0.2/32");
        let drift = cli(&scratch, &config, &["status"]);
        assert_eq!(drift.status.code(), Some(3), "{}", text(&drift));
        assert!(
            text(&drift).contains("10.0.0.2/32 dev vm2"),
            "{}",
            text(&drift)
        );

        let dry_before = snapshot();
        ok(cli(&scratch, &config, &["apply", "--dry-run"]));
        assert_unchanged(&dry_before, &snapshot(), "apply --dry-run");

        let repair = ok(cli(&scratch, &config, &["apply"]));
        assert!(repair.contains("1 change(s) made"), "{repair}");
        assert_eq!(cli(&scratch, &config, &["status"]).status.code(), Some(0));
    });
}

#[test]
fn down_removes_only_ours_and_leaves_foreign_objects_byte_identical() {
    in_fresh_netns("down_removes_only_ours", || {
        let scratch = Scratch::new("down");
        let config = scratch.config(BASE);
        let _upstream = Upstream::build().unwrap();
        // Foreign state: a table with rules, an interface, a route in another table.
        sh_ok(
            "nft add table inet foreign && \
             nft add chain inet foreign fchain '{ type filter hook forward priority 10; policy accept; }' && \
             nft add rule inet foreign fchain ip saddr 198.51.100.0/24 counter accept && \
             ip link add foreign0 type veth peer name foreign1 && \
             ip addr add 198.51.100.1/24 dev foreign0",
        );
        let foreign = || {
            sh_ok("nft list table inet foreign; ip -d link show foreign0; ip addr show foreign0")
        };
        let foreign_before = foreign();

        ok(cli(&scratch, &config, &["apply"]));
        assert_eq!(foreign(), foreign_before, "apply touched foreign objects");

        let dry_before = snapshot();
        let dry = ok(cli(&scratch, &config, &["down", "--dry-run"]));
        assert!(dry.contains("delete links in group"), "{dry}");
        assert_unchanged(&dry_before, &snapshot(), "down --dry-run");

        ok(cli(&scratch, &config, &["down"]));
        assert_eq!(foreign(), foreign_before, "down touched foreign objects");
        let links = sh_ok("ip -o link show");
        assert!(!links.contains("vm1") && !links.contains("vm3"), "{links}");
        assert_eq!(
            sh_ok("ip route show proto 177; ip -6 route show proto 177"),
            ""
        );
        assert!(!sh_ok("nft list tables").contains("blixard"));
        assert!(!sh_ok("ip addr show").contains("10.0.0.0/32"));
        let again = ok(cli(&scratch, &config, &["down"]));
        assert!(again.contains("no change"), "{again}");
    });
}

#[test]
fn the_seeds_firewall_examples_are_enforced() {
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
    in_fresh_netns("the_seeds_firewall_examples", || {
        let scratch = Scratch::new("firewall");
        let config = scratch.config(&toml);
        let upstream = Upstream::build().unwrap();
        // For inbound tests only: the upstream may route to the pool via us.
        upstream.ns.sh_ok(&format!(
            "ip route add 10.0.0.0/24 via {}",
            testbed::HOST_UPLINK_V4
        ));
        ok(cli(&scratch, &config, &["apply"]));
        let guests = start_guests(&toml);
        for g in &guests {
            testbed::echo_server(&g.ns.netns(), testbed::ECHO_PORT).unwrap();
            testbed::echo_server(&g.ns.netns(), 22).unwrap();
        }
        let ns = |i: usize| guests[i].ns.netns();
        let ip = |i: usize| IpAddr::V4(guests[i].vm.ipv4);
        // Whether a connection got through; a probe that could not be made
        // at all fails the test rather than counting as blocked.
        let tcp = |from: &Netns, to: IpAddr, port: u16, wait: Duration| {
            testbed::tcp_probe(from, to, port, wait)
                .unwrap_or_else(|e| panic!("{from:?} -> {to}:{port}: {e}"))
                .is_some()
        };
        // "Block VM 1 from accessing VM 2": that and nothing else.
        assert!(
            !tcp(&ns(0), ip(1), testbed::ECHO_PORT, REFUSAL),
            "vm1 -> vm2 passed"
        );
        assert_eq!(
            testbed::ping(Some(&guests[0].ns), ip(1), REFUSAL),
            Ok(false),
            "vm1 -> vm2 ping passed (or could not be made)"
        );
        assert!(
            tcp(&ns(0), ip(2), testbed::ECHO_PORT, PATIENCE),
            "vm1 -> vm3 blocked"
        );
        assert!(
            tcp(&ns(1), ip(0), testbed::ECHO_PORT, PATIENCE),
            "vm2 -> vm1 blocked"
        );
        assert!(
            tcp(&ns(1), ip(2), testbed::ECHO_PORT, PATIENCE),
            "vm2 -> vm3 blocked"
        );
        // "Allow only SSH to VM 3 from outside".
        let outside = upstream.ns.netns();
        assert!(
            tcp(&outside, ip(2), 22, PATIENCE),
            "upstream -> vm3:22 blocked"
        );
        assert!(
            !tcp(&outside, ip(2), testbed::ECHO_PORT, REFUSAL),
            "upstream -> vm3:7007 passed"
        );
        assert!(
            !tcp(&outside, ip(0), 22, REFUSAL),
            "upstream -> vm1:22 passed"
        );
        // The VMs themselves still reach VM 3 on any port.
        assert!(tcp(&ns(0), ip(2), 22, PATIENCE));
    });
}

/// Counts echo requests from vm2's addresses (the sources vm1 spoofs) where
/// it is loaded: a table of its own, at the input hook before any other.
const SPOOF_PROBE: &str = "table inet spoofprobe {
  chain input { type filter hook input priority -400; policy accept;
    ip saddr 10.0.0.2 icmp type echo-request counter
    ip6 saddr fec0::2 icmpv6 type echo-request counter
  }
}";

/// (IPv4, IPv6) echo requests from vm2's addresses counted by
/// `SPOOF_PROBE` in `listing` (`nft list table inet spoofprobe`).
fn spoofed_arrivals(listing: &str) -> (u64, u64) {
    let count = |needle: &str| {
        let line = listing
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle} counter in:\n{listing}"));
        line.split("counter packets ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no packet count in {line:?}"))
    };
    (count("10.0.0.2"), count("fec0::2"))
}

/// Packets our prerouting chain has dropped (its anti-spoofing rules).
fn prerouting_drops() -> u64 {
    let chain = sh_ok("nft list table inet blixard");
    chain
        .lines()
        .filter(|l| l.contains("drop"))
        .filter_map(|l| {
            l.split("packets ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn a_vm_spoofing_another_vms_address_reaches_neither_peers_nor_host() {
    in_fresh_netns("a_vm_spoofing", || {
        let scratch = Scratch::new("spoof");
        let _upstream = Upstream::build().unwrap();
        // The control runs first, with anti-spoofing off: turning it on also
        // sets rp_filter = 1 on the taps, which an apply with it off leaves
        // as it is and which would then drop the IPv4 spoof by itself.
        let off = scratch.config(&format!("{BASE}\n[security]\nanti_spoofing = false\n"));
        ok(cli(&scratch, &off, &["apply"]));
        let guests = start_guests(BASE);
        let (vm1, vm3) = (&guests[0], &guests[2]);
        // Honest traffic first: the path works and the neighbours are known.
        for dst in ["10.0.0.3", "fec0::3", "10.0.0.0", "fec0::"] {
            let dst = dst.parse().unwrap();
            assert_eq!(
                testbed::ping(Some(&vm1.ns), dst, PATIENCE),
                Ok(true),
                "vm1 -> {dst}"
            );
        }
        // The targets count what arrives from vm2's addresses: vm3, and the
        // host (this namespace).
        vm3.ns
            .sh_ok(&format!("nft -f - <<'EOF'\n{SPOOF_PROBE}\nEOF"));
        sh_ok(&format!("nft -f - <<'EOF'\n{SPOOF_PROBE}\nEOF"));
        let at_vm3 = || spoofed_arrivals(&vm3.ns.sh_ok("nft list table inet spoofprobe"));
        let at_host = || spoofed_arrivals(&sh_ok("nft list table inet spoofprobe"));
        // vm1 claims vm2's addresses and sends from them. The replies go to
        // the real vm2, so the sender never sees one either way: only the
        // counters at the targets tell whether the requests arrived.
        vm1.ns
            .sh_ok("ip addr add 10.0.0.2/32 dev eth0 && ip -6 addr add fec0::2/128 dev eth0 nodad");
        let spoof = || {
            for (src, dst) in [
                ("10.0.0.2", "10.0.0.3"),
                ("10.0.0.2", "10.0.0.0"),
                ("fec0::2", "fec0::3"),
                ("fec0::2", "fec0::"),
            ] {
                let sent = testbed::ping_with(
                    Some(&vm1.ns),
                    &["-I", src],
                    dst.parse().unwrap(),
                    Duration::ZERO,
                );
                assert!(sent.is_ok(), "spoofed ping {src} -> {dst}: {sent:?}");
            }
        };

        // Control: without anti-spoofing the same packets do arrive, at
        // both targets, in both families.
        assert_eq!((at_vm3(), at_host()), ((0, 0), (0, 0)));
        blixard_netns::testing::wait_until(
            "the spoofed requests to arrive with anti-spoofing off",
            || {
                spoof();
                let (v, h) = (at_vm3(), at_host());
                v.0 > 0 && v.1 > 0 && h.0 > 0 && h.1 > 0
            },
        );

        // With anti-spoofing on (the default) they reach neither.
        let on = scratch.config(BASE);
        ok(cli(&scratch, &on, &["apply"]));
        let (vm3_before, host_before) = (at_vm3(), at_host());
        let drops_before = prerouting_drops();
        spoof();
        // Honest requests sent after them, on the same path, arrive (from
        // vm1's own addresses: it holds vm2's too now): a spoofed request
        // that had not been dropped would be there first.
        for (src, dst) in [
            ("10.0.0.1", "10.0.0.3"),
            ("fec0::1", "fec0::3"),
            ("10.0.0.1", "10.0.0.0"),
            ("fec0::1", "fec0::"),
        ] {
            let answered =
                testbed::ping_with(Some(&vm1.ns), &["-I", src], dst.parse().unwrap(), PATIENCE);
            assert_eq!(answered, Ok(true), "vm1 {src} -> {dst}");
        }
        assert_eq!(at_vm3(), vm3_before, "a spoofed request reached vm3");
        assert_eq!(at_host(), host_before, "a spoofed request reached the host");
        // They were dropped by our prerouting rules, not lost by accident.
        let drops = prerouting_drops() - drops_before;
        assert!(
            drops >= 4,
            "our anti-spoofing rules dropped {drops} packets, want >= 4"
        );
    });
}

#[test]
fn the_demo_prints_an_all_green_matrix() {
    // The demo makes its own namespaces; run it from a fresh one anyway so a
    // bug in it could never reach the machine's network.
    in_fresh_netns("the_demo_prints_an_all_green_matrix", || {
        let out = Command::new(env!("CARGO_BIN_EXE_blixard-net"))
            .args(["--config", "/dev/null", "demo", "--vms", "2"])
            .output()
            .unwrap();
        let all = text(&out);
        assert!(out.status.success(), "{all}");
        // 2 VMs: host<->VM 4, VM->host 2, VM<->VM 4, VM->upstream 4, each.
        assert!(all.contains("28/28 probes ok: all green"), "{all}");
        assert!(all.contains("second apply made 0 changes"), "{all}");
        assert!(
            !sh_ok("ip -o link show").contains("vm1"),
            "demo leaked into the caller's namespace"
        );
    });
}

#[test]
fn the_seed_script_workflow_sets_up_and_cleans_up() {
    in_fresh_netns("the_seed_script_workflow", || {
        let _upstream = Upstream::build().unwrap();
        let scratch = Scratch::new("script");
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/setup-tap-networking.sh"
        );
        let run = |args: &[&str]| {
            Command::new(script)
                .args(args)
                .env("BLIXARD_NET", env!("CARGO_BIN_EXE_blixard-net"))
                .env("BLIXARD_LOCK_DIR", &scratch.0)
                .env_remove("SUDO_USER")
                .output()
                .unwrap()
        };
        ok(run(&["root", "4", testbed::UPLINK]));
        let routes = sh_ok("ip -o route show proto 177");
        assert_eq!(routes.lines().count(), 4, "{routes}");
        assert!(sh_ok("ip -d link show vm4").contains("blixard:vm4"));
        assert!(sh_ok("nft list table inet blixard").contains(testbed::UPLINK));
        ok(run(&["cleanup"]));
        assert!(!sh_ok("ip -o link show").contains("vm1"));
        assert!(!sh_ok("nft list tables").contains("blixard"));
    });
}

#[test]
fn wire_and_unwire_touch_only_their_vm() {
    in_fresh_netns("wire_and_unwire_touch_only_their_vm", || {
        let scratch = Scratch::new("wire");
        let config = scratch.config(BASE);
        let _upstream = Upstream::build().unwrap();
        // From nothing, wiring VM 2 makes VM 2 (and the shared table and
        // forwarding), nothing of VM 1 or 3.
        ok(cli(&scratch, &config, &["wire", "2"]));
        let ours = sh_ok("ip -o link show group 2833");
        assert_eq!(ours.lines().count(), 2, "{ours}");
        assert!(
            ours.contains(" vmgw:"),
            "the gateway device comes with the first VM: {ours}"
        );
        assert!(sh_ok("ip route show proto 177").contains("10.0.0.2 dev vm2"));
        let ping2 = sh_ok("nft list set inet blixard vm_v4");
        assert!(
            ping2.contains("10.0.0.2") && !ping2.contains("10.0.0.1"),
            "{ping2}"
        );

        ok(cli(&scratch, &config, &["apply"]));
        let others = || {
            sh_ok(
                "ip -d link show vm1; ip -d link show vm3; ip route show dev vm1; ip route show dev vm3",
            )
        };
        let before = others();
        let out = ok(cli(&scratch, &config, &["unwire", "2"]));
        assert!(out.contains("delete link vm2"), "{out}");
        assert!(!sh_ok("ip -o link show").contains("vm2"));
        assert!(!sh_ok("nft list set inet blixard vm_v4").contains("10.0.0.2"));
        assert_eq!(others(), before, "unwire 2 touched vm1 or vm3");
        // Unwired is drift against a config that lists VM 2; wire repairs it.
        assert_eq!(cli(&scratch, &config, &["status"]).status.code(), Some(3));
        ok(cli(&scratch, &config, &["wire", "2"]));
        assert_eq!(others(), before, "wire 2 touched vm1 or vm3");
        assert_eq!(cli(&scratch, &config, &["status"]).status.code(), Some(0));
        let again = ok(cli(&scratch, &config, &["wire", "2"]));
        assert!(again.contains("no change"), "{again}");
        // An index the config does not wire is bad input.
        let out = cli(&scratch, &config, &["wire", "7"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    });
}

#[test]
fn netns_given_by_path_is_where_apply_status_and_down_act() {
    in_fresh_netns("netns_given_by_path", || {
        let scratch = Scratch::new("netns-path");
        let config = scratch.config("vms = 2\nowner = \"root\"\nexternal_interface = \"none\"\n");
        let target = NetnsHolder::spawn().unwrap();
        let path = format!("/proc/{}/ns/net", target.pid());
        let there = |args: &[&str]| {
            let mut all = vec!["--netns", path.as_str()];
            all.extend_from_slice(args);
            cli(&scratch, &config, &all)
        };
        let out = ok(there(&["apply"]));
        assert!(out.contains("create tap vm2"), "{out}");

        // In the namespace named: both taps with our marks, their routes,
        // our table.
        let links = target.sh_ok("ip -d -o link show group 2833");
        for vm in ["vm1", "vm2"] {
            assert!(
                links.contains(&format!("{vm}: "))
                    && links.contains(&format!("alias blixard:{vm}")),
                "{vm} not in the target namespace:\n{links}"
            );
        }
        let routes = target.sh_ok("ip route show proto 177");
        assert!(
            routes.contains("10.0.0.1 dev vm1") && routes.contains("10.0.0.2 dev vm2"),
            "{routes}"
        );
        assert!(target.sh_ok("nft list tables").contains("inet blixard"));
        // Here, where the binary ran: nothing of ours.
        assert!(
            !sh_ok("ip -o link show").contains("vm1"),
            "a tap was made here"
        );
        assert_eq!(
            sh_ok("ip route show proto 177; ip -6 route show proto 177"),
            ""
        );
        assert!(!sh_ok("nft list tables").contains("blixard"));

        // status reads the namespace named (in sync there, drift here), and
        // down empties it.
        exits(there(&["status"]), 0);
        exits(cli(&scratch, &config, &["status"]), 3);
        ok(there(&["down"]));
        assert_eq!(target.sh_ok("ip -o link show group 2833"), "");
        assert!(!target.sh_ok("nft list tables").contains("blixard"));
    });
}

/// The longest run of consecutive lost echo requests in a `ping` output
/// (sequence numbers 1..=transmitted), and how many were sent.
fn longest_loss(output: &str) -> (u32, u32) {
    let transmitted: u32 = output
        .lines()
        .find_map(|l| l.split_once(" packets transmitted"))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0);
    let answered: std::collections::BTreeSet<u32> = output
        .lines()
        .filter_map(|l| l.split_once("icmp_seq="))
        .filter_map(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .collect();
    let (mut longest, mut run) = (0, 0);
    for seq in 1..=transmitted {
        if answered.contains(&seq) {
            run = 0;
        } else {
            run += 1;
            longest = longest.max(run);
        }
    }
    (longest, transmitted)
}

/// A host wired by the previous layout (the gateway pair on every tap, no
/// gateway device or proxy entries) moves to
/// today's with `apply`, while guests keep pinging their gateway (IPv4 and
/// IPv6) and each other every 10 ms: no tap is recreated, and the longest
/// gap is measured and bounded.
#[test]
fn the_previous_layout_converges_while_a_guest_keeps_its_connection() {
    in_fresh_netns("the_previous_layout_converges", || {
        let scratch = Scratch::new("migrate");
        let config = scratch.config(BASE);
        let _upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        // Rewind to the previous layout by hand: the copies on the taps
        // first, then away with the gateway device and the proxy entries.
        let mut rewind = String::new();
        for i in 1..=3 {
            rewind.push_str(&format!(
                "ip addr add 10.0.0.0/32 dev vm{i} noprefixroute && \
                 ip addr add fec0::/128 dev vm{i} nodad noprefixroute && \
                 ip -6 neigh del proxy fec0:: dev vm{i} && "
            ));
        }
        rewind.push_str("ip link del vmgw");
        sh_ok(&rewind);
        assert!(!sh_ok("ip -o link").contains("vmgw"));
        // `/sys` shows the namespace it was mounted in; `ip` shows this one.
        let ifindex = |name: &str| sh_ok(&format!("ip -o link show {name} | cut -d: -f1"));
        let taps_before: Vec<String> = (1..=3).map(|i| ifindex(&format!("vm{i}"))).collect();

        let guests = start_guests(BASE);
        // Every path works on the previous layout before the move.
        for target in ["10.0.0.0", "fec0::", "10.0.0.2"] {
            let reached = testbed::ping(Some(&guests[0].ns), target.parse().unwrap(), PATIENCE);
            assert_eq!(reached, Ok(true), "vm1 -> {target} before the move");
        }
        let pingers: Vec<(String, std::process::Child)> =
            ["10.0.0.0", "fec0::", "10.0.0.2", "fec0::3"]
                .into_iter()
                .map(|target| {
                    let child = guests[0]
                        .ns
                        .command("ping")
                        .args(["-n", "-i", "0.01", "-w", "4", "-W", "1", target])
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                        .unwrap();
                    (target.to_string(), child)
                })
                .collect();
        // The pings run on both sides of the apply.
        std::thread::sleep(Duration::from_millis(500));
        let moved = ok(cli(&scratch, &config, &["apply"]));
        assert!(moved.contains("create tap vmgw"), "{moved}");
        for (target, child) in pingers {
            let out = child.wait_with_output().unwrap();
            let out = String::from_utf8_lossy(&out.stdout).to_string();
            let (longest, sent) = longest_loss(&out);
            eprintln!("vm1 -> {target}: {sent} echo requests, longest gap {longest} x 10 ms");
            assert!(sent > 100, "{out}");
            // A moment, not an outage: at most 50 ms without an answer.
            assert!(
                longest <= 5,
                "vm1 -> {target}: {longest} lost in a row\n{out}"
            );
        }
        let taps_after: Vec<String> = (1..=3).map(|i| ifindex(&format!("vm{i}"))).collect();
        assert_eq!(taps_before, taps_after, "a tap was recreated");
        assert_eq!(cli(&scratch, &config, &["status"]).status.code(), Some(0));
        assert!(!sh_ok("ip addr show dev vm1").contains("10.0.0.0"));
        let probes = testbed::connectivity_matrix(&guests, &_upstream);
        let failed: Vec<_> = probes.iter().filter(|p| !p.ok).collect();
        assert!(failed.is_empty(), "failed probes: {failed:#?}");
        // down removes the gateway device with the taps.
        ok(cli(&scratch, &config, &["down"]));
        assert_eq!(sh_ok("ip -o link show group 2833").trim(), "");
    });
}
