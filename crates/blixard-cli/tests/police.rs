//! Limits from the VM policed in our table (`[limits] egress_method =
//! "police"`, the default) end to end: the real binary applies them in a
//! fresh namespace, a guest behind the stand-in VMM sends TCP and UDP to
//! the host and the rate measured is the limit within 15%; a VM's override
//! is a set of its own and holds its own rate; a changed limit replaces the
//! table, never the tap; a police set or element deleted by hand is drift
//! `status` names and `apply` repairs; `wire` adds the element, `unwire`
//! takes it, and no ifb is ever made.

mod common;
mod rate;

use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{Scratch, cli, exits, ok};
use rate::{POLICED, assert_near, ifindex, start_guest, tcp_from, udp_from};

/// Two VMs, `rate` from every VM, vm2 at 8mbit with a 64 KiB burst.
fn config(rate: &str) -> String {
    format!(
        "vms = 2\nowner = \"root\"\nexternal_interface = \"none\"\n\n[limits]\n\
         egress = {{ rate = \"{rate}\" }}\n[limits.vms.vm2]\n\
         egress = {{ rate = \"8mbit\", burst = \"64k\" }}\n"
    )
}

const SET_20: &str = "police_2500000_25000";
const SET_8: &str = "police_1000000_16384";
const SET_VM2: &str = "police_1000000_65536";

/// The taps in police set `set`, sorted.
fn set_members(set: &str) -> Vec<String> {
    let listed: serde_json::Value =
        serde_json::from_str(&sh_ok(&format!("nft -j list set inet blixard {set}"))).unwrap();
    let mut taps: Vec<String> = listed["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["set"]["elem"].as_array())
        .flatten()
        .map(|e| e["elem"]["val"].as_str().unwrap().to_string())
        .collect();
    taps.sort();
    taps
}

#[test]
fn a_policed_limit_from_the_vm_holds_for_tcp_and_udp_and_changes_in_place() {
    in_fresh_netns("a_policed_limit_from_the_vm", || {
        let scratch = Scratch::new("police-rate");
        sh_ok("ip link set lo up");
        let path = scratch.config(&config("20mbit"));
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);
        let again = ok(cli(&scratch, &path, &["apply"]));
        assert_eq!(common::changes_made(&again), 0, "{again}");
        assert_eq!(set_members(SET_20), ["vm1"]);
        assert_eq!(set_members(SET_VM2), ["vm2"]);
        assert_eq!(sh_ok("ip -o link show type ifb").trim(), "", "no ifb");
        assert!(!sh_ok("tc qdisc show dev vm1").contains("ingress"));

        let guest = start_guest(&config("20mbit"));
        let ns = guest.ns.netns();
        assert_near("policed TCP from vm1", tcp_from(&ns, POLICED), 20e6);
        assert_near("policed UDP from vm1", udp_from(&ns, 20e6, POLICED), 20e6);
        let vm2 = rate::start_guest_of(&config("20mbit"), 1);
        let ns2 = vm2.ns.netns();
        assert_near(
            "policed TCP from vm2 (its own set)",
            tcp_from(&ns2, POLICED),
            8e6,
        );

        // Changed in the config: the table is replaced, the tap stays.
        let before = ifindex("vm1");
        std::fs::write(&path, config("8mbit")).unwrap();
        let changed = ok(cli(&scratch, &path, &["apply"]));
        assert!(
            changed.contains("replace nft table inet blixard"),
            "{changed}"
        );
        assert_eq!(common::changes_made(&changed), 1, "{changed}");
        assert_eq!(ifindex("vm1"), before, "the tap was recreated");
        assert!(guest.relay().is_running());
        // vm2's rate with the default burst (16 KiB): a set of its own.
        assert_eq!(set_members(SET_8), ["vm1"]);
        assert_eq!(set_members(SET_VM2), ["vm2"]);
        assert_near(
            "policed TCP from vm1 after the change",
            tcp_from(&ns, POLICED),
            8e6,
        );
        assert_near(
            "policed UDP from vm1 after the change",
            udp_from(&ns, 8e6, POLICED),
            8e6,
        );
        exits(cli(&scratch, &path, &["status"]), 0);
    });
}

/// `status` names `drift` (exit 3), `apply` repairs it, `status` is clean.
fn named_and_repaired(scratch: &Scratch, path: &std::path::Path, drift: &str) {
    let status = exits(cli(scratch, path, &["status"]), 3);
    assert!(status.contains(drift), "{status}");
    ok(cli(scratch, path, &["apply"]));
    exits(cli(scratch, path, &["status"]), 0);
}

#[test]
fn police_drift_wire_unwire_and_down() {
    in_fresh_netns("police_drift_wire_unwire_and_down", || {
        let scratch = Scratch::new("police-drift");
        let path = scratch.config(&config("20mbit"));
        ok(cli(&scratch, &path, &["apply"]));

        // An element deleted by hand: named, put back.
        sh_ok(&format!(
            "nft delete element inet blixard {SET_20} '{{ \"vm1\" }}'"
        ));
        named_and_repaired(&scratch, &path, &format!("set {SET_20} lacks vm1"));
        assert_eq!(set_members(SET_20), ["vm1"]);

        // The set deleted by hand (with its rule, which holds it): the same.
        let handle = sh_ok("nft -a list chain inet blixard prerouting")
            .lines()
            .find(|l| l.contains(SET_VM2))
            .and_then(|l| l.split("# handle ").nth(1))
            .unwrap()
            .trim()
            .to_string();
        sh_ok(&format!(
            "nft delete rule inet blixard prerouting handle {handle} && \
             nft delete set inet blixard {SET_VM2}"
        ));
        named_and_repaired(&scratch, &path, &format!("set {SET_VM2} is missing"));

        // wire and unwire add and take the element, nothing else.
        ok(cli(&scratch, &path, &["unwire", "2"]));
        assert!(set_members(SET_VM2).is_empty());
        let rules = sh_ok("nft -a list chain inet blixard prerouting");
        let wired = ok(cli(&scratch, &path, &["wire", "2"]));
        assert!(wired.contains("vm2"), "{wired}");
        assert_eq!(set_members(SET_VM2), ["vm2"]);
        assert_eq!(sh_ok("nft -a list chain inet blixard prerouting"), rules);
        let again = ok(cli(&scratch, &path, &["wire", "2"]));
        assert!(again.contains("no change"), "{again}");
        exits(cli(&scratch, &path, &["status"]), 0);
        assert_eq!(sh_ok("ip -o link show type ifb").trim(), "", "no ifb");

        // vm2's override dropped, and only `wire` run: it moves to the
        // default's set and leaves its old one (never policed twice).
        let moved = scratch.config(&config("20mbit").replace(
            "[limits.vms.vm2]\negress = { rate = \"8mbit\", burst = \"64k\" }\n",
            "",
        ));
        ok(cli(&scratch, &moved, &["wire", "2"]));
        assert_eq!(set_members(SET_20), ["vm1", "vm2"]);
        assert!(set_members(SET_VM2).is_empty(), "vm2 stayed in {SET_VM2}");
        // Put back in the old set by hand: `wire` sees it and takes it out.
        sh_ok(&format!(
            "nft add element inet blixard {SET_VM2} '{{ \"vm2\" }}'"
        ));
        let rewired = ok(cli(&scratch, &moved, &["wire", "2"]));
        assert!(!rewired.contains("no change"), "{rewired}");
        assert!(set_members(SET_VM2).is_empty(), "vm2 stayed in {SET_VM2}");
        // And `unwire` takes it out of every police set.
        sh_ok(&format!(
            "nft add element inet blixard {SET_VM2} '{{ \"vm2\" }}'"
        ));
        ok(cli(&scratch, &moved, &["unwire", "2"]));
        assert_eq!(set_members(SET_20), ["vm1"]);
        assert!(set_members(SET_VM2).is_empty(), "vm2 stayed in {SET_VM2}");
        ok(cli(&scratch, &path, &["apply"]));

        ok(cli(&scratch, &path, &["down"]));
        assert_eq!(sh_ok("nft list tables").trim(), "");
    });
}
