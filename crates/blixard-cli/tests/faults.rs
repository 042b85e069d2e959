//! Interrupted apply: an apply stopped after each k-th change (the test-only
//! `BLIXARD_FAULT_AFTER` hook) or SIGKILLed at a random moment leaves a
//! partial host; the next apply must converge to exactly the plan, with
//! nothing duplicated. Each run gets a fresh network namespace.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{
    FULL, Scratch, assert_host_is, assert_unchanged, changes_made, cli, command, exits, host_state,
    ok, plan_of, read_sysctl, text, uplink,
};
use serde_json::Value;

fn json(script: &str) -> Vec<Value> {
    serde_json::from_str(&sh_ok(script)).unwrap_or_default()
}

/// What lets traffic reach a VM's tap or the host through it, as the
/// kernel shows it: each tap of ours that is up, each address on one
/// (not link-local: the kernel adds those itself) and each route of ours.
fn open_paths() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for link in json("ip -j link show group 2833") {
        let Some(name) = link["ifname"].as_str() else {
            continue;
        };
        if link["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP"))
        {
            out.insert(format!("up {name}"));
        }
        for a in json(&format!("ip -j addr show dev {name}"))
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["scope"] != "link")
        {
            out.insert(format!("address {} dev {name}", a["local"]));
        }
    }
    for family in ["-4", "-6"] {
        for r in json(&format!("ip {family} -j route show table all proto 177")) {
            out.insert(format!("route {} dev {}", r["dst"], r["dev"]));
        }
    }
    out
}

/// Our table as nft prints it, if it exists.
fn our_table() -> Option<String> {
    sh_ok("nft list tables")
        .contains("table inet blixard\n")
        .then(|| {
            sh_ok(&format!(
                "nft list table inet blixard | {}",
                common::WITHOUT_COUNTER_VALUES
            ))
        })
}

const FORWARDING: [&str; 2] = ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"];

/// The order of apply keeps the host closed wherever it stops: nothing
/// opened since `before` (a tap up, an address, a route) unless our table
/// is the plan's, and forwarding on only when nothing else is left to do.
fn assert_closed(
    scratch: &Scratch,
    config: &std::path::Path,
    before: &BTreeSet<String>,
    table: &str,
    what: &str,
) {
    let opened: Vec<String> = open_paths().difference(before).cloned().collect();
    if !opened.is_empty() {
        assert!(
            our_table().as_deref() == Some(table),
            "{what}: {opened:?} before our table was in place:\n{:?}",
            our_table()
        );
    }
    if FORWARDING
        .iter()
        .any(|key| read_sysctl(key).as_deref() == Some("1"))
    {
        let out = command(scratch, config, &["status", "--json"])
            .output()
            .unwrap();
        let status: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{what}: status --json: {e}: {}", text(&out)));
        let left: Vec<&Value> = status["drift"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| !(c["op"] == "set_sysctl" && FORWARDING.iter().any(|key| c["key"] == *key)))
            .collect();
        assert!(
            left.is_empty(),
            "{what}: forwarding is on while these are still to do: {left:#?}"
        );
    }
}

/// Checks what every interrupted run must end in: the repair apply works,
/// `status` is clean, the host equals `reference` (a clean apply's state),
/// and another apply has nothing to do.
fn assert_converges(scratch: &Scratch, config: &std::path::Path, reference: &str, what: &str) {
    let repair = cli(scratch, config, &["apply"]);
    assert!(
        repair.status.success(),
        "{what}: repair apply failed: {}",
        text(&repair)
    );
    let status = cli(scratch, config, &["status"]);
    assert_eq!(status.status.code(), Some(0), "{what}: {}", text(&status));
    let state = host_state(&plan_of(FULL));
    assert_unchanged(
        reference,
        &state,
        &format!("{what}: differs from a clean apply"),
    );
    let again = ok(cli(scratch, config, &["apply"]));
    assert!(again.contains("no change"), "{what}: {again}");
}

/// The state of a clean apply of [`FULL`] from an empty host, checked
/// against the plan, the number of changes it takes and our table.
fn clean_reference(scratch: &Scratch) -> (String, usize, String) {
    in_fresh_netns("clean_reference", || {
        uplink();
        let config = scratch.config(FULL);
        let total = changes_made(&ok(cli(scratch, &config, &["apply"])));
        assert_host_is(&plan_of(FULL));
        let table = our_table().expect("a clean apply makes our table");
        (host_state(&plan_of(FULL)), total, table)
    })
    .expect("checked by the caller")
}

#[test]
fn an_apply_stopped_after_every_change_converges_to_exactly_the_plan() {
    if !blixard_netns::testing::privileged("an_apply_stopped_after_every_change") {
        return;
    }
    let scratch = Scratch::new("fault-k");
    let (reference, total, table) = clean_reference(&scratch);
    // Every kind of change: taps (with their marks and MTU), ownership,
    // qdiscs, up, addresses, routes, sysctls, the table.
    assert!(total >= 28, "{total} changes");
    for k in 0..total {
        in_fresh_netns("an_apply_stopped_after_every_change", || {
            uplink();
            let config = scratch.config(FULL);
            let stopped = exits(
                command(&scratch, &config, &["apply"])
                    .env(blixard_host::FAULT_AFTER_ENV, k.to_string())
                    .output()
                    .unwrap(),
                1,
            );
            assert!(
                stopped.contains(&format!("stopped after {k} of {total} change(s)")),
                "{stopped}"
            );
            assert_closed(
                &scratch,
                &config,
                &BTreeSet::new(),
                &table,
                &format!("stopped after {k}"),
            );
            // The partial host is drift, named; it is never in sync.
            exits(cli(&scratch, &config, &["status"]), 3);
            assert_converges(&scratch, &config, &reference, &format!("stopped after {k}"));
        });
    }
}

/// A host wired by an older config: one VM more (to delete), another MTU,
/// no IPv6, no rules, a stray route of ours and forwarding off.
const OLD: &str = r#"
vms = 4
owner = "root"
group = "root"
external_interface = "bx-up0"

[ipv6]
enabled = false

[tap]
multi_queue = true
queues = 2
mtu = 9000
"#;

#[test]
fn a_repair_apply_stopped_after_every_change_converges_to_exactly_the_plan() {
    if !blixard_netns::testing::privileged("a_repair_apply_stopped") {
        return;
    }
    let scratch = Scratch::new("fault-repair");
    let (reference, _, table) = clean_reference(&scratch);
    let drifted = || {
        uplink();
        ok(cli(&scratch, &scratch.config(OLD), &["apply"]));
        sh_ok(
            "ip route add 198.51.100.7/32 dev vm1 proto 177 && echo 0 > /proc/sys/net/ipv4/ip_forward",
        );
    };
    let total = in_fresh_netns("a_repair_apply_stopped", || {
        drifted();
        let config = scratch.config(FULL);
        let out = ok(cli(&scratch, &config, &["apply", "-v"]));
        // Deletions, in-place corrections and additions.
        for kind in [
            "delete route",
            "delete link",
            "mtu 1500",
            "add address fec0::",
        ] {
            assert!(out.contains(kind), "no {kind}: {out}");
        }
        changes_made(&out)
    })
    .expect("privileged");
    for k in 0..total {
        in_fresh_netns("a_repair_apply_stopped", || {
            drifted();
            let config = scratch.config(FULL);
            let before = open_paths();
            exits(
                command(&scratch, &config, &["apply"])
                    .env(blixard_host::FAULT_AFTER_ENV, k.to_string())
                    .output()
                    .unwrap(),
                1,
            );
            assert_closed(
                &scratch,
                &config,
                &before,
                &table,
                &format!("repair stopped after {k}"),
            );
            assert_converges(
                &scratch,
                &config,
                &reference,
                &format!("repair stopped after {k}"),
            );
        });
    }
}

/// xorshift64*: a seeded generator, so a failing kill schedule reproduces
/// with `BLIXARD_FAULT_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn an_apply_killed_at_random_points_converges_to_exactly_the_plan() {
    if !blixard_netns::testing::privileged("an_apply_killed_at_random_points") {
        return;
    }
    let seed: u64 = std::env::var("BLIXARD_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_b11c);
    eprintln!("kill schedule seed {seed} (BLIXARD_FAULT_SEED)");
    let mut rng = Rng(seed | 1);
    let scratch = Scratch::new("fault-kill");
    let (reference, total, _) = clean_reference(&scratch);
    // How long a whole apply takes here: kills land across all of it.
    let span = in_fresh_netns("an_apply_killed_at_random_points", || {
        uplink();
        let start = Instant::now();
        ok(cli(&scratch, &scratch.config(FULL), &["apply"]));
        start.elapsed()
    })
    .expect("privileged");
    let span_us = span.as_micros().max(1000) as u64;
    let mut midway = 0;
    // Most of an apply is start-up, planning and observing; about a fifth of
    // the kills land between two changes, so 48 rounds make a handful.
    const ROUNDS: usize = 48;
    for round in 0..ROUNDS {
        let delay = Duration::from_micros(rng.below(span_us + span_us / 4));
        in_fresh_netns("an_apply_killed_at_random_points", || {
            uplink();
            let config = scratch.config(FULL);
            let mut child = command(&scratch, &config, &["apply"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            // The kill moment is the randomness under test, not a wait for
            // something: spawn has returned, so the binary is running.
            std::thread::sleep(delay);
            let _ = child.kill();
            child.wait().unwrap();
            let what = format!("round {round}: killed after {delay:?} (seed {seed})");
            let repair = ok(cli(&scratch, &config, &["apply"]));
            let left = changes_made(&repair);
            if left > 0 && left < total {
                midway += 1;
            }
            exits(cli(&scratch, &config, &["status"]), 0);
            assert_unchanged(&reference, &host_state(&plan_of(FULL)), &what);
            assert!(
                ok(cli(&scratch, &config, &["apply"])).contains("no change"),
                "{what}"
            );
        });
    }
    eprintln!("{midway}/{ROUNDS} kills landed between two changes (apply takes {span:?})");
    assert!(
        midway > 0,
        "no kill interrupted the changes themselves (seed {seed}, apply takes {span:?})"
    );
}
