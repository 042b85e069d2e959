//! Foreign state: objects that are not ours, in our way or beside us. apply
//! refuses (exit 2, naming the object, changing nothing) or reports, and
//! apply + down leave every foreign object exactly as it was.

mod common;

use blixard_host::{ApplyOptions, Host};
use blixard_netns::Netns;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{
    FULL, Scratch, assert_host_is_full, assert_unchanged, cli, exits, ok, plan_of, snapshot, uplink,
};

/// [`FULL`] with six VMs, so `vm5` and `10.0.0.128/25`'s neighbours are
/// planned.
fn six_vms() -> String {
    FULL.replace("vms = 3", "vms = 6")
}

/// Runs `apply` and `status` against a host with something foreign in the
/// way: `apply` exits 2 and `status` (a report) 3, both naming it, and the
/// host is unchanged.
fn refused(scratch: &Scratch, toml: &str, names: &[&str]) {
    let config = scratch.config(toml);
    let before = snapshot();
    for args in [&["apply"][..], &["status"], &["apply", "--allow-recreate"]] {
        let report = args == ["status"];
        let out = exits(cli(scratch, &config, args), if report { 3 } else { 2 });
        for name in names {
            assert!(out.contains(name), "{args:?} does not name {name}: {out}");
        }
        if !report {
            assert!(out.contains("nothing was changed"), "{out}");
        }
    }
    assert_unchanged(&before, &snapshot(), "a refused apply");
}

#[test]
fn an_unmarked_vm5_is_refused_by_name_and_survives_apply_and_down() {
    in_fresh_netns("an_unmarked_vm5", || {
        let scratch = Scratch::new("foreign-vm5");
        uplink();
        sh_ok("ip tuntap add vm5 mode tap");
        let vm5 = || sh_ok("ip -d link show vm5");
        let vm5_before = vm5();
        refused(
            &scratch,
            &six_vms(),
            &["interface vm5 exists and is not ours"],
        );
        // Beside a smaller plan it is left alone by apply and down.
        let config = scratch.config(FULL);
        ok(cli(&scratch, &config, &["apply"]));
        assert_eq!(vm5(), vm5_before);
        ok(cli(&scratch, &config, &["down"]));
        assert_eq!(vm5(), vm5_before);
    });
}

#[test]
fn a_tap_in_our_group_without_our_alias_is_foreign_and_down_keeps_it() {
    in_fresh_netns("a_tap_in_our_group", || {
        let scratch = Scratch::new("foreign-half");
        uplink();
        let config = scratch.config(FULL);
        ok(cli(&scratch, &config, &["apply"]));
        // Half-marked: someone else's tap that borrowed our group number.
        sh_ok("ip tuntap add vm5 mode tap && ip link set vm5 group 2833");
        let vm5_before = sh_ok("ip -d link show vm5");
        refused(
            &scratch,
            &six_vms(),
            &["interface vm5 exists and is not ours"],
        );
        let down = ok(cli(&scratch, &config, &["down", "-v"]));
        // Not by group (that would take vm5): one by one.
        assert!(down.contains("delete link vm3"), "{down}");
        assert_eq!(sh_ok("ip -d link show vm5"), vm5_before);
        assert_eq!(sh_ok("ip -o link show group 2833").lines().count(), 1);
    });
}

#[test]
fn a_foreign_route_inside_the_pool_is_refused_by_name() {
    for (route, named) in [
        ("ip route add 10.0.0.128/25 dev fx0", "route 10.0.0.128/25"),
        ("ip -6 route add fec0::80/121 dev fx0", "route fec0::80/121"),
        // Even one VM's exact address, on a foreign link.
        ("ip route add 10.0.0.2/32 dev fx0", "route 10.0.0.2/32"),
        // A LAN holding the whole pool: our /32s would steal its hosts.
        ("ip addr add 10.0.0.250/16 dev fx0", "route 10.0.0.0/16"),
        (
            "ip -6 addr add fec0::ff:1/32 dev fx0 nodad",
            "route fec0::/32",
        ),
    ] {
        in_fresh_netns("a_foreign_route_inside_the_pool", || {
            let scratch = Scratch::new("foreign-route");
            uplink();
            sh_ok(&format!(
                "ip link add fx0 type veth peer name fx1 && ip link set fx0 up && {route}"
            ));
            refused(&scratch, &six_vms(), &[named, "not ours"]);
        });
    }
}

#[test]
fn a_wider_route_through_a_gateway_is_not_in_the_way() {
    // A VPN's 10.0.0.0/8: only the pool's addresses are shadowed, and those
    // are ours by configuration. Refusing it would refuse most laptops.
    in_fresh_netns("a_wider_route_through_a_gateway", || {
        let scratch = Scratch::new("foreign-wide");
        uplink();
        sh_ok(
            "ip link add fx0 type veth peer name fx1 && ip link set fx0 up && \
             ip addr add 198.51.100.1/24 dev fx0 && ip route add 10.0.0.0/8 via 198.51.100.254",
        );
        let config = scratch.config(FULL);
        ok(cli(&scratch, &config, &["apply"]));
        assert!(sh_ok("ip route show 10.0.0.0/8").contains("via 198.51.100.254"));
    });
}

/// Foreign nft tables of every family, with sets, counters, NAT and
/// forward/input chains that accept (so they do not trip the scan).
const FOREIGN_TABLES: &str = r#"
table ip fnat {
    chain fpost { type nat hook postrouting priority 100; policy accept; oifname "fx0" masquerade; }
}
table inet fsec {
    set blocked { type ipv4_addr; flags interval; elements = { 198.51.100.0/24, 203.0.113.7 } }
    chain ffwd { type filter hook forward priority 10; policy accept; ip saddr @blocked counter drop; ct state established accept; }
    chain finput { type filter hook input priority 5; policy accept; tcp dport 22 counter accept; }
}
table ip6 f6 {
    chain fpre { type filter hook prerouting priority -150; policy accept; ip6 saddr 2001:db8:dead::/48 drop; }
}
table bridge fbr {
    chain ffwd { type filter hook forward priority 0; policy accept; ether type arp accept; }
}
table netdev fdev {
    chain fing { type filter hook ingress device "fx0" priority 0; policy accept; ip saddr 192.0.2.99 drop; }
}
"#;

/// What `down` leaves on purpose: sysctls (other services may rely on
/// forwarding). Everything else must be as it was before `apply`.
fn without_sysctls(snapshot: &str) -> String {
    snapshot
        .lines()
        .filter(|l| !l.starts_with("/proc/sys/"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn foreign_tables_links_and_routes_are_byte_identical_after_apply_and_down() {
    in_fresh_netns("foreign_tables_byte_identical", || {
        let scratch = Scratch::new("foreign-tables");
        uplink();
        sh_ok(
            "ip link add fx0 type veth peer name fx1 && ip link set fx0 up && ip addr add 198.18.0.1/24 dev fx0 && ip route add 198.19.0.0/16 dev fx0 proto static",
        );
        let path = scratch.0.join("foreign.nft");
        std::fs::write(&path, FOREIGN_TABLES).unwrap();
        sh_ok(&format!("nft -f {}", path.display()));
        let foreign = || {
            sh_ok(
                "for t in 'ip fnat' 'inet fsec' 'ip6 f6' 'bridge fbr' 'netdev fdev'; do nft list table $t; done; \
                 ip -d link show fx0; ip addr show fx0; ip route show dev fx0",
            )
        };
        let foreign_before = foreign();
        let before = snapshot();
        let config = scratch.config(FULL);
        ok(cli(&scratch, &config, &["apply"]));
        assert_host_is_full();
        assert_eq!(foreign(), foreign_before, "apply touched foreign objects");
        ok(cli(&scratch, &config, &["down"]));
        assert_eq!(foreign(), foreign_before, "down touched foreign objects");
        assert_unchanged(
            &without_sysctls(&before),
            &without_sysctls(&snapshot()),
            "apply + down",
        );
    });
}

/// Docker's iptables FORWARD policy DROP as nft shows it.
const DOCKER_FORWARD_DROP: &str = "nft add table ip filter && nft add chain ip filter FORWARD '{ type filter hook forward priority 0; policy drop; }'";

#[test]
fn a_docker_style_forward_drop_is_reported_not_touched() {
    in_fresh_netns("a_docker_style_forward_drop", || {
        let scratch = Scratch::new("foreign-docker");
        uplink();
        sh_ok(DOCKER_FORWARD_DROP);
        let docker = || sh_ok("nft list table ip filter");
        let docker_before = docker();
        let config = scratch.config(FULL);
        // Not ours to change: apply succeeds, and the library says why VM
        // forwarding will still fail, with the fix.
        let plan = plan_of(FULL);
        let outcome = Host::new(Netns::Current)
            .apply(&plan, &ApplyOptions::default())
            .unwrap();
        assert!(!outcome.changes.is_empty());
        assert!(
            outcome
                .warnings
                .iter()
                .any(|w| w.contains("ip table filter chain FORWARD") && w.contains("fix:")),
            "{:?}",
            outcome.warnings
        );
        assert_host_is_full();
        exits(cli(&scratch, &config, &["status"]), 0);
        // The CLI says it on stderr, even when there is nothing to change.
        let again = cli(&scratch, &config, &["apply"]);
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(
            again.status.success()
                && stderr.contains("warning: ip table filter chain FORWARD")
                && stderr.contains("fix:"),
            "{stderr}"
        );
        let doctor = cli(&scratch, &config, &["doctor"]);
        assert!(
            common::text(&doctor).contains("FORWARD"),
            "doctor does not name the chain: {}",
            common::text(&doctor)
        );
        assert_eq!(docker(), docker_before, "apply touched the FORWARD chain");
        ok(cli(&scratch, &config, &["down"]));
        assert_eq!(docker(), docker_before, "down touched the FORWARD chain");
        // Without it, no warning.
        sh_ok("nft delete table ip filter");
        let clean = Host::new(Netns::Current)
            .apply(&plan, &ApplyOptions::default())
            .unwrap();
        assert_eq!(clean.warnings, Vec::<String>::new());
    });
}

#[test]
fn a_foreign_route_to_a_vm_on_our_own_tap_is_refused_not_replaced() {
    in_fresh_netns("a_foreign_route_on_our_tap", || {
        let scratch = Scratch::new("foreign-route-ours");
        uplink();
        ok(cli(&scratch, &scratch.config(FULL), &["apply"]));
        // Someone's own route to vm2, on vm2, with their protocol.
        sh_ok("ip route del 10.0.0.2/32 && ip route add 10.0.0.2/32 dev vm2 proto static");
        refused(&scratch, FULL, &["route 10.0.0.2/32", "proto 4"]);
    });
}
