//! Bandwidth limits (issue 15, part 2) end to end: the real binary applies
//! `[limits]` in a fresh namespace, a guest behind the stand-in VMM
//! receives TCP and UDP from the host and sends them to it, and the rate
//! measured is the limit within 15% each way; a changed limit is applied in
//! place (the tap and its ifb keep their ifindex); `status` names a limit removed by hand; a root qdisc that is
//! not ours is a conflict that changes nothing; `wire` applies a VM's limit
//! and `down` leaves nothing behind.

mod common;
mod rate;

use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{Scratch, cli, exits, ok};
use rate::{
    SHAPED, assert_near, ifindex, start_guest, tcp_from, tcp_towards, udp_from, udp_towards,
};

/// Two VMs with `limits` (the body of `[limits]` and what follows).
fn with_limits(limits: &str) -> String {
    format!("vms = 2\nowner = \"root\"\nexternal_interface = \"none\"\n\n[limits]\n{limits}")
}

/// `rate` towards every VM, vm2 an override of its own.
fn config(rate: &str) -> String {
    with_limits(&format!(
        "ingress = {{ rate = \"{rate}\" }}\n[limits.vms.vm2]\ningress = {{ rate = \"200mbit\", burst = \"64k\" }}\n"
    ))
}

#[test]
fn a_limit_towards_the_vm_holds_for_tcp_and_udp_and_changes_in_place() {
    in_fresh_netns("a_limit_towards_the_vm", || {
        let scratch = Scratch::new("limits-rate");
        sh_ok("ip link set lo up");
        let path = scratch.config(&config("20mbit"));
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);
        let qdisc = sh_ok("tc qdisc show dev vm1");
        assert!(
            qdisc.contains("tbf b1a: root") && qdisc.contains("rate 20Mbit"),
            "{qdisc}"
        );
        assert!(sh_ok("tc qdisc show dev vm2").contains("rate 200Mbit burst 64Kb"));
        let guest = start_guest(&config("20mbit"));
        let ns = guest.ns.netns();
        assert_near("TCP towards vm1", tcp_towards(&ns, SHAPED), 20e6);
        assert_near("UDP towards vm1", udp_towards(&ns, 20e6, SHAPED), 20e6);

        // Changed in the config: replaced in place, the tap stays.
        let before = ifindex("vm1");
        std::fs::write(&path, config("8mbit")).unwrap();
        let changed = ok(cli(&scratch, &path, &["apply"]));
        assert!(
            changed.contains("set limit on vm1: root qdisc tbf rate 8mbit"),
            "{changed}"
        );
        assert_eq!(common::changes_made(&changed), 1, "{changed}");
        assert_eq!(ifindex("vm1"), before, "the tap was recreated");
        assert!(guest.relay().is_running());
        assert_near(
            "TCP towards vm1 after the change",
            tcp_towards(&ns, SHAPED),
            8e6,
        );
    });
}

/// `rate` from every VM, shaped on an ifb.
fn egress_config(rate: &str) -> String {
    with_limits(&format!(
        "egress_method = \"ifb\"\negress = {{ rate = \"{rate}\" }}\n"
    ))
}

#[test]
fn a_limit_from_the_vm_holds_for_tcp_and_udp_and_changes_in_place() {
    in_fresh_netns("a_limit_from_the_vm", || {
        let scratch = Scratch::new("limits-egress");
        sh_ok("ip link set lo up");
        let path = scratch.config(&egress_config("20mbit"));
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);
        assert!(sh_ok("tc qdisc show dev bxifb1").contains("tbf b1a: root"));
        assert!(sh_ok("tc filter show dev vm1 ingress").contains("Redirect to device bxifb1"));
        let guest = start_guest(&egress_config("20mbit"));
        let ns = guest.ns.netns();
        assert_near("TCP from vm1", tcp_from(&ns, SHAPED), 20e6);
        assert_near("UDP from vm1", udp_from(&ns, 20e6, SHAPED), 20e6);

        let (tap, ifb) = (ifindex("vm1"), ifindex("bxifb1"));
        std::fs::write(&path, egress_config("8mbit")).unwrap();
        let changed = ok(cli(&scratch, &path, &["apply"]));
        assert!(
            changed.contains("set limit on bxifb1: root qdisc tbf rate 8mbit"),
            "{changed}"
        );
        assert_eq!(common::changes_made(&changed), 2, "{changed}");
        assert_eq!((ifindex("vm1"), ifindex("bxifb1")), (tap, ifb), "recreated");
        assert!(guest.relay().is_running());
        assert_near("TCP from vm1 after the change", tcp_from(&ns, SHAPED), 8e6);

        // Dropped: the redirect and the ifb go, the VM sends unlimited.
        std::fs::write(
            &path,
            egress_config("8mbit").replace("egress =", "# egress ="),
        )
        .unwrap();
        ok(cli(&scratch, &path, &["apply"]));
        assert_eq!(sh_ok("ip -o link show type ifb").trim(), "");
        assert!(!sh_ok("tc qdisc show dev vm1").contains("ingress"));
        exits(cli(&scratch, &path, &["status"]), 0);
    });
}

#[test]
fn limit_drift_conflicts_wire_and_down() {
    in_fresh_netns("limit_drift_conflicts_wire_and_down", || {
        let scratch = Scratch::new("limits-drift");
        sh_ok("ip link set lo up");
        let path = scratch.config(&config("20mbit"));
        ok(cli(&scratch, &path, &["apply"]));

        // Removed by hand: status names it, apply puts it back.
        sh_ok("tc qdisc del dev vm1 root");
        let status = exits(cli(&scratch, &path, &["status"]), 3);
        assert!(
            status.contains("set limit on vm1: root qdisc tbf rate 20mbit"),
            "{status}"
        );
        // Changed by hand: the same.
        sh_ok("tc qdisc change dev vm2 root handle b1a: tbf rate 1mbit burst 64k latency 50ms");
        let status = exits(cli(&scratch, &path, &["status"]), 3);
        assert!(status.contains("set limit on vm2"), "{status}");
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);

        // Someone else's root qdisc is never replaced: exit 2, nothing changed.
        sh_ok("tc qdisc replace dev vm1 root handle 1: htb");
        let refused = exits(cli(&scratch, &path, &["apply"]), 2);
        assert!(
            refused.contains("tap vm1 has a root qdisc htb 1:"),
            "{refused}"
        );
        assert!(refused.contains("limits"), "{refused}");
        assert!(sh_ok("tc qdisc show dev vm1").contains("htb 1: root"));
        sh_ok("tc qdisc del dev vm1 root");

        // The ifb of a limit from the VM deleted by hand: made again, and
        // the redirect follows it to its new ifindex.
        std::fs::write(
            &path,
            config("20mbit").replace(
                "[limits]",
                "[limits]\negress_method = \"ifb\"\negress = { rate = \"5mbit\" }",
            ),
        )
        .unwrap();
        ok(cli(&scratch, &path, &["apply"]));
        sh_ok("ip link del bxifb1");
        let status = exits(cli(&scratch, &path, &["status"]), 3);
        assert!(status.contains("create ifb bxifb1"), "{status}");
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);
        assert!(sh_ok("tc filter show dev vm1 ingress").contains("Redirect to device bxifb1"));

        // wire applies the VM's limits; unwire and down leave nothing.
        ok(cli(&scratch, &path, &["unwire", "1"]));
        assert_eq!(
            sh_ok("ip -o link show bxifb1 2>/dev/null || true").trim(),
            ""
        );
        let wired = ok(cli(&scratch, &path, &["wire", "1"]));
        assert!(wired.contains("set limit on vm1"), "{wired}");
        assert!(
            wired.contains("redirect what vm1's VM sends to bxifb1"),
            "{wired}"
        );
        let again = ok(cli(&scratch, &path, &["wire", "1"]));
        assert!(again.contains("no change"), "{again}");
        ok(cli(&scratch, &path, &["down"]));
        assert_eq!(sh_ok("tc qdisc show | grep b1a: || true").trim(), "");
        assert_eq!(sh_ok("ip -o link show group 2833").trim(), "");
    });
}

#[test]
fn a_bad_limit_names_file_line_and_key_and_changes_nothing() {
    in_fresh_netns("a_bad_limit_names_its_key", || {
        let scratch = Scratch::new("limits-bad");
        let path = scratch.config(&config("lots"));
        let before = common::snapshot();
        let out = exits(cli(&scratch, &path, &["apply"]), 2);
        assert!(
            out.contains(&format!(
                "{}:6:13: limits.ingress.rate: \"lots\" is not a rate",
                path.display()
            )),
            "{out}"
        );
        common::assert_unchanged(&before, &common::snapshot(), "a refused apply");
    });
}
