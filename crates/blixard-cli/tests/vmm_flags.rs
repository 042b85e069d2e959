//! Taps belong to their VMM while it runs, shown with the stand-in VMM
//! opening each tap as a real VMM does (firecracker: single-queue with a
//! vnet header; QEMU `vnet_hdr=off`; cloud-hypervisor multi-queue), so these
//! cases run without QEMU. The QEMU tier (`tests/qemu`) repeats the main
//! ones with real guests.

mod common;

use blixard_addr::render::{self, GuestNetwork};
use blixard_host::testbed::{self, Guest};
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{FULL, Scratch, cli, exits, ok, uplink};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(10);

/// Three single-queue VMs (firecracker's and QEMU's default).
const SINGLE: &str = r#"
vms = 3
owner = "root"
external_interface = "bx-up0"
"#;

fn guest(toml: &str, index: u32, queues: usize, vnet_hdr: Option<bool>) -> Guest {
    let plan = common::plan_of(toml);
    let vm = plan.layout.vm_at(index).unwrap();
    let network = GuestNetwork::new(&plan, vm.clone());
    Guest::start_as(
        &vm,
        queues,
        vnet_hdr,
        &render::ip_commands(&network).join(" && "),
    )
    .unwrap()
}

/// From `ip` (sysfs shows the namespace it was mounted in, not ours).
fn ifindex(name: &str) -> String {
    sh_ok(&format!("ip -o link show {name} | cut -d: -f1"))
}

fn vnet_hdr_of(name: &str) -> bool {
    sh_ok(&format!("ip -d link show {name}")).contains("vnet_hdr on")
}

#[test]
fn each_vmms_flags_are_in_sync_and_the_guests_reach_the_host() {
    in_fresh_netns("each_vmms_flags_are_in_sync", || {
        let scratch = Scratch::new("vmm-flags");
        let config = scratch.config(SINGLE);
        uplink();
        ok(cli(&scratch, &config, &["apply"]));
        assert!(vnet_hdr_of("vm1"), "taps are created with a vnet header");
        // QEMU vnet_hdr=off on vm1, firecracker on vm2.
        let qemu = guest(SINGLE, 1, 1, Some(false));
        let firecracker = guest(SINGLE, 2, 1, Some(true));
        assert!(
            !vnet_hdr_of("vm1"),
            "the opener's vnet_hdr=off is in the tap"
        );
        for (g, ip) in [(&qemu, "10.0.0.0"), (&firecracker, "10.0.0.0")] {
            assert_eq!(
                testbed::ping(Some(&g.ns), ip.parse().unwrap(), PATIENCE),
                Ok(true)
            );
        }
        let status = exits(cli(&scratch, &config, &["status"]), 0);
        assert!(status.contains("in sync"), "{status}");
        let again = ok(cli(&scratch, &config, &["apply"]));
        assert!(again.contains("no change"), "{again}");
        assert!(qemu.relay().is_running() && firecracker.relay().is_running());
    });
}

#[test]
fn cloud_hypervisor_multi_queue_is_in_sync() {
    in_fresh_netns("cloud_hypervisor_multi_queue_is_in_sync", || {
        let scratch = Scratch::new("vmm-mq");
        let config = scratch.config(FULL);
        uplink();
        ok(cli(&scratch, &config, &["apply"]));
        let ch = guest(FULL, 1, 2, Some(true));
        assert!(sh_ok("ip -d link show vm1").contains("numqueues 2"));
        assert_eq!(
            testbed::ping(Some(&ch.ns), "10.0.0.0".parse().unwrap(), PATIENCE),
            Ok(true)
        );
        exits(cli(&scratch, &config, &["status"]), 0);
    });
}

#[test]
fn a_held_tap_is_left_as_is_while_the_rest_of_the_host_is_repaired() {
    in_fresh_netns("a_held_tap_is_left_as_is", || {
        let scratch = Scratch::new("vmm-held");
        let config = scratch.config(SINGLE);
        uplink();
        ok(cli(&scratch, &config, &["apply"]));
        let running = guest(SINGLE, 1, 1, None);
        let vm1 = ifindex("vm1");
        // Drift elsewhere, then a change only recreating vm1 could make.
        sh_ok("ip route del 10.0.0.2/32 dev vm2");
        let multi = scratch.config(&format!("{SINGLE}\n[tap]\nmulti_queue = true\n"));
        let status = exits(cli(&scratch, &multi, &["status"]), 3);
        assert!(
            status.contains("tap vm1 has multi_queue=false")
                && status.contains("a VMM holds it")
                && status.contains("10.0.0.2/32"),
            "{status}"
        );
        for args in [&["apply"][..], &["apply", "--allow-recreate"]] {
            let out = exits(cli(&scratch, &multi, args), 4);
            assert!(out.contains("left as is: tap vm1"), "{args:?}: {out}");
            assert_eq!(ifindex("vm1"), vm1, "{args:?} recreated a held tap");
            assert!(running.relay().is_running());
            assert_eq!(
                testbed::ping(Some(&running.ns), "10.0.0.0".parse().unwrap(), PATIENCE),
                Ok(true)
            );
        }
        assert!(
            sh_ok("ip route show 10.0.0.2/32").contains("dev vm2"),
            "vm2's route was not repaired beside the held vm1"
        );
        // The idle taps were recreated multi-queue; once the VMM stops,
        // vm1 follows.
        assert!(sh_ok("ip -d link show vm2").contains("multi_queue"));
        drop(running);
        blixard_netns::testing::wait_until("vm1's queue to detach", || {
            !sh_ok("ip -d link show vm1").contains("numqueues 1")
        });
        ok(cli(&scratch, &multi, &["apply", "--allow-recreate"]));
        exits(cli(&scratch, &multi, &["status"]), 0);
    });
}

#[test]
fn an_owner_nobody_asked_for_is_never_changed_on_an_existing_tap() {
    in_fresh_netns("an_owner_nobody_asked_for", || {
        let scratch = Scratch::new("vmm-owner");
        let config = scratch.config("vms = 2\nexternal_interface = \"bx-up0\"\n");
        uplink();
        // `sudo blixard-net apply` as user nobody, then the systemd unit
        // (no $SUDO_USER): the taps stay nobody's.
        let mut sudo = common::command(&scratch, &config, &["apply"]);
        sudo.env("SUDO_USER", "nobody");
        assert!(sudo.status().unwrap().success());
        let owner = || sh_ok("ip -d link show vm1");
        assert!(owner().contains("user nobody"), "{}", owner());
        let unit = ok(cli(&scratch, &config, &["apply"]));
        assert!(unit.contains("no change"), "{unit}");
        exits(cli(&scratch, &config, &["status"]), 0);
        assert!(owner().contains("user nobody"), "{}", owner());
        // Asked for, it is corrected.
        let root = scratch.config("vms = 2\nowner = \"root\"\nexternal_interface = \"bx-up0\"\n");
        exits(cli(&scratch, &root, &["status"]), 3);
        ok(cli(&scratch, &root, &["apply"]));
        assert!(owner().contains("user root"), "{}", owner());
    });
}

#[test]
fn doctor_opens_a_tap_as_its_owner_would() {
    in_fresh_netns("doctor_opens_a_tap_as_its_owner_would", || {
        let scratch = Scratch::new("vmm-doctor");
        uplink();
        let nobody =
            scratch.config("vms = 2\nowner = \"nobody\"\nexternal_interface = \"bx-up0\"\n");
        ok(cli(&scratch, &nobody, &["apply"]));
        let vnet_before = vnet_hdr_of("vm1");
        let doctor = common::text(&cli(&scratch, &nobody, &["doctor"]));
        assert!(
            doctor.contains("PASS tap owner access: uid 65534 can open vm1"),
            "{doctor}"
        );
        assert_eq!(
            vnet_hdr_of("vm1"),
            vnet_before,
            "doctor's open changed the tap"
        );
        // Control: a VMM running as another user cannot (the owner is held
        // to the config, so the taps stay nobody's while doctor asks as 4242).
        let other = scratch.config("vms = 2\nowner = \"4242\"\nexternal_interface = \"bx-up0\"\n");
        let out = cli(&scratch, &other, &["doctor"]);
        let doctor = common::text(&out);
        assert!(
            doctor.contains("FAIL tap owner access: uid 4242 cannot open vm1"),
            "{doctor}"
        );
        assert!(!out.status.success());
    });
}
