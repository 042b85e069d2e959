//! `Host::wire_vm` and `unwire_vm` against the real kernel, in a throwaway
//! namespace: one VM goes and comes back, the VMs beside it are not touched
//! (same ifindex, addresses, routes and firewall elements).

mod common;

use blixard_addr::{Change, VmIndex};
use blixard_host::{ApplyOptions, Host};
use blixard_netns::Netns;
use blixard_netns::testing::in_fresh_netns;
use common::{THREE_VMS, our_links, our_routes, plan, snapshot, vm_state};

#[test]
fn wire_and_unwire_of_one_vm_change_only_that_vm() {
    in_fresh_netns("wire_and_unwire_of_one_vm_change_only_that_vm", || {
        let host = Host::new(Netns::Current);
        let plan = plan(THREE_VMS);
        host.apply(&plan, &ApplyOptions::default()).unwrap();
        let neighbours = || [vm_state(&plan, "vm1"), vm_state(&plan, "vm3")];
        let before = neighbours();
        let vm2 = VmIndex::new(2).unwrap();

        let unwired = host.unwire_vm(&plan, vm2, false).unwrap();
        assert!(unwired.applied && !unwired.changes.is_empty());
        // The gateway device is the host's, not vm2's: it stays.
        assert_eq!(our_links(&plan), ["vm1", "vm3", "vmgw"]);
        let routes = our_routes(&plan);
        assert!(!routes.contains("vm2"), "vm2's routes survived: {routes}");
        assert_eq!(neighbours(), before, "unwiring vm2 touched its neighbours");
        // The host now differs from the plan by vm2 alone.
        let status = host.status(&plan).unwrap();
        assert!(!status.in_sync());
        let drift: Vec<String> = status.drift.iter().map(ToString::to_string).collect();
        assert!(drift.iter().any(|c| c.contains("vm2")), "{drift:?}");
        assert!(
            !drift.iter().any(|c| c.contains("vm1") || c.contains("vm3")),
            "{drift:?}"
        );
        let gone = snapshot();
        // Unwiring again changes nothing. It still lists the removal of
        // vm2's set elements: the per-VM nft observation says `Differs`
        // both when they are partly there and when they are all gone, so
        // the diff cannot tell (the removal itself is idempotent).
        let again = host.unwire_vm(&plan, vm2, false).unwrap();
        assert!(
            again
                .changes
                .iter()
                .all(|c| matches!(c, Change::RemoveFirewallVm { .. })),
            "unwiring an unwired VM: {:?}",
            again.changes
        );
        assert_eq!(snapshot(), gone, "unwiring an unwired VM changed the host");

        let dry = host
            .wire_vm(&plan, vm2, &ApplyOptions::default().with_dry_run(true))
            .unwrap();
        assert!(!dry.applied && !dry.changes.is_empty());
        assert_eq!(snapshot(), gone, "a dry-run wire changed the host");

        let wired = host.wire_vm(&plan, vm2, &ApplyOptions::default()).unwrap();
        assert_eq!(wired.changes, dry.changes);
        assert_eq!(our_links(&plan), ["vm1", "vm2", "vm3", "vmgw"]);
        assert_eq!(neighbours(), before, "wiring vm2 touched its neighbours");
        assert!(host.status(&plan).unwrap().in_sync());
        let again = host.wire_vm(&plan, vm2, &ApplyOptions::default()).unwrap();
        assert_eq!(again.changes, Vec::new(), "a second wire changed things");
    });
}
