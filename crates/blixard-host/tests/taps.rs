//! Taps through the whole path (observe, the core's diff, blixard-tap as the
//! executor) in throwaway namespaces: only what differs is changed, a tap is
//! recreated only when asked and never while held, and a foreign interface
//! with one of our names is never adopted or touched.

mod common;

use blixard_addr::Conflict;
use blixard_host::{ApplyOptions, Host, HostError};
use blixard_netns::Netns;
use blixard_netns::testing::{in_fresh_netns, sh_ok, wait_until};
use common::plan;
use serde_json::Value;

fn link(name: &str) -> Value {
    let out = sh_ok(&format!("ip -d -j link show {name}"));
    serde_json::from_str::<Vec<Value>>(&out).unwrap()[0].clone()
}

fn ifindex(name: &str) -> u64 {
    link(name)["ifindex"].as_u64().expect("ifindex")
}

/// The tun details `ip -d` prints (`linkinfo.info_data`).
fn tun(name: &str) -> Value {
    link(name)["linkinfo"]["info_data"].clone()
}

/// The tap's owner and group as the kernel reports them (numbers; `ip`
/// prints names).
fn owner_group(name: &str) -> (Option<u32>, Option<u32>) {
    let info = blixard_tap::list().unwrap()[name].clone();
    (info.owner, info.group)
}

const ONE_VM: &str = "vms = 1\nowner = \"65534\"\nexternal_interface = \"none\"\n";

#[test]
fn taps_change_only_where_they_differ() {
    in_fresh_netns("taps_change_only_where_they_differ", || {
        let host = Host::new(Netns::Current);
        host.apply(&plan(ONE_VM), &ApplyOptions::default()).unwrap();
        let idx = ifindex("vm1");
        assert_eq!(owner_group("vm1").0, Some(65534));

        // Ownership is corrected in place: same device.
        let regrouped = plan(&format!("{ONE_VM}group = \"65533\"\n"));
        let outcome = host.apply(&regrouped, &ApplyOptions::default()).unwrap();
        assert!(
            outcome
                .changes
                .iter()
                .all(|c| matches!(c, blixard_addr::Change::SetTapOwnership { .. })),
            "{:?}",
            outcome.changes
        );
        assert_eq!(owner_group("vm1"), (Some(65534), Some(65533)));
        assert_eq!(ifindex("vm1"), idx, "ownership is corrected in place");

        // A flag only recreating could fix is a conflict unless asked for,
        // and then the tap is a new device with our marks.
        let multi = plan(&format!(
            "{ONE_VM}group = \"65533\"\n[tap]\nmulti_queue = true\n"
        ));
        let kept = host.apply(&multi, &ApplyOptions::default()).unwrap();
        assert!(
            kept.left_as_is
                .iter()
                .any(|c| matches!(c, Conflict::TapFlags { name, .. } if name == "vm1")),
            "{:?}",
            kept.left_as_is
        );
        assert_eq!(ifindex("vm1"), idx, "a refused recreate touched the tap");
        assert_eq!(tun("vm1")["multi_queue"], false);

        host.apply(&multi, &ApplyOptions::default().with_allow_recreate(true))
            .unwrap();
        assert_ne!(ifindex("vm1"), idx, "recreated means a new device");
        assert_eq!(tun("vm1")["multi_queue"], true);
        assert_eq!(link("vm1")["ifalias"], multi.links[0].alias);
        assert!(host.status(&multi).unwrap().in_sync());
    });
}

#[test]
fn foreign_interfaces_with_our_names_are_neither_adopted_nor_touched() {
    in_fresh_netns(
        "foreign_interfaces_with_our_names_are_neither_adopted_nor_touched",
        || {
            let host = Host::new(Netns::Current);
            let plan = plan("vms = 2\nowner = \"root\"\nexternal_interface = \"none\"\n");
            // A tap without our alias, and a veth in our group.
            sh_ok(&format!(
                "ip tuntap add vm1 mode tap && ip link add vm2 type veth peer name vm2p && \
                 ip link set vm2 group {}",
                plan.ownership.link_group
            ));
            let before = (link("vm1"), link("vm2"));
            let err = host
                .apply(&plan, &ApplyOptions::default().with_allow_recreate(true))
                .unwrap_err();
            let HostError::Conflicts(conflicts) = &err else {
                panic!("not a conflict: {err}");
            };
            for name in ["vm1", "vm2"] {
                assert!(
                    conflicts
                        .0
                        .iter()
                        .any(|c| matches!(c, Conflict::ForeignLink { name: n, .. } if n == name)),
                    "{name}: {conflicts:?}"
                );
            }
            assert_eq!((link("vm1"), link("vm2")), before);
        },
    );
}

#[test]
fn a_new_tap_gets_its_mark_and_mtu_as_it_is_created() {
    in_fresh_netns("a_new_tap_gets_its_mark_and_mtu_as_it_is_created", || {
        let host = Host::new(Netns::Current);
        let jumbo = plan(&format!("{ONE_VM}[tap]\nmtu = 9000\n"));
        let outcome = host.apply(&jumbo, &ApplyOptions::default()).unwrap();
        // The create carries the mark and MTU: no separate SetLink for it.
        assert!(
            !outcome
                .changes
                .iter()
                .any(|c| matches!(c, blixard_addr::Change::SetLink { .. })),
            "{:?}",
            outcome.changes
        );
        let vm1 = link("vm1");
        assert_eq!(vm1["mtu"], 9000, "{vm1}");
        assert_eq!(vm1["group"], jumbo.ownership.link_group.to_string());
        assert_eq!(vm1["ifalias"], jumbo.links[0].alias);
        let again = host.apply(&jumbo, &ApplyOptions::default()).unwrap();
        assert_eq!(again.changes, Vec::new());
    });
}

/// The proxy entry that answers a guest's neighbour solicitations for the
/// IPv6 gateway must outlive its VMM: the kernel drops a tap's
/// non-permanent proxy entries when the carrier goes, which is whenever
/// the VMM closes the tap (stops, restarts, reboots the guest).
#[test]
fn a_taps_proxy_entry_survives_its_vmm_coming_and_going() {
    in_fresh_netns("a_taps_proxy_entry_survives_its_vmm", || {
        let host = Host::new(Netns::Current);
        let plan = plan(ONE_VM);
        host.apply(&plan, &ApplyOptions::default()).unwrap();
        let proxies = || sh_ok("ip -6 neigh show proxy dev vm1");
        assert!(proxies().contains("fec0::"), "{}", proxies());
        for _ in 0..2 {
            let opts = blixard_tap::OpenOptions {
                vnet_hdr: plan.links[0].tap.vnet_hdr,
                ..Default::default()
            };
            let queues = blixard_tap::open_queues("vm1", 1, &opts).unwrap();
            wait_until("vm1 has a carrier", || {
                !sh_ok("ip link show vm1").contains("NO-CARRIER")
            });
            drop(queues);
            wait_until("vm1 lost its carrier", || {
                sh_ok("ip link show vm1").contains("NO-CARRIER")
            });
            assert!(
                proxies().contains("fec0::"),
                "the VMM's exit took the proxy entry: {}",
                proxies()
            );
        }
        // Nothing left for a repair to do.
        let outcome = host.apply(&plan, &ApplyOptions::default()).unwrap();
        assert!(outcome.changes.is_empty(), "{:?}", outcome.changes);
    });
}
