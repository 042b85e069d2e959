//! `Host::apply`, `status` and `down` against the real kernel, each test in
//! a throwaway network namespace: the plan is made, a second apply is a
//! no-op, down removes only ours, and a foreign object in the way is a
//! typed error that changes nothing.

mod common;

use blixard_addr::Conflict;
use blixard_host::{ApplyOptions, Host, HostError};
use blixard_netns::Netns;
use blixard_netns::testing::{NetnsHolder, in_fresh_netns, sh_ok};
use common::{TWO_VMS, our_links, our_routes, our_table_exists, plan, plan_on, snapshot};

#[test]
fn apply_makes_the_plan_and_status_is_then_in_sync() {
    in_fresh_netns("apply_makes_the_plan_and_status_is_then_in_sync", || {
        let host = Host::new(Netns::Current);
        let plan = plan(TWO_VMS);
        let before = host.status(&plan).unwrap();
        assert!(!before.in_sync() && !before.drift.is_empty());

        // A dry run reports the same changes and makes none of them.
        let untouched = snapshot();
        let dry = host
            .apply(&plan, &ApplyOptions::default().with_dry_run(true))
            .unwrap();
        assert!(!dry.applied);
        assert_eq!(snapshot(), untouched, "a dry run changed the host");
        assert_eq!(dry.changes, before.drift);

        let outcome = host.apply(&plan, &ApplyOptions::default()).unwrap();
        assert!(outcome.applied);
        assert_eq!(outcome.changes, dry.changes);
        assert!(outcome.left_as_is.is_empty(), "{:?}", outcome.left_as_is);
        assert_eq!(our_links(&plan), ["vm1", "vm2", "vmgw"]);
        let routes = our_routes(&plan);
        for link in &plan.links {
            for address in [link.vm.ipv4.to_string(), link.vm.ipv6.to_string()] {
                assert!(
                    routes.contains(&format!("{address} dev {}", link.vm.interface)),
                    "no route to {address}: {routes}"
                );
            }
        }
        assert!(our_table_exists(&plan));
        assert_eq!(sh_ok("cat /proc/sys/net/ipv4/ip_forward").trim(), "1");

        let status = host.status(&plan).unwrap();
        assert!(status.in_sync(), "{status:?}");
        assert!(status.firewall_differences.is_empty());
    });
}

#[test]
fn a_second_apply_changes_nothing() {
    in_fresh_netns("a_second_apply_changes_nothing", || {
        let host = Host::new(Netns::Current);
        let plan = plan(TWO_VMS);
        assert!(
            !host
                .apply(&plan, &ApplyOptions::default())
                .unwrap()
                .changes
                .is_empty()
        );
        let applied = snapshot();
        let again = host.apply(&plan, &ApplyOptions::default()).unwrap();
        assert_eq!(again.changes, Vec::new(), "a second apply changed things");
        assert!(again.left_as_is.is_empty());
        assert_eq!(snapshot(), applied, "a no-op apply touched the host");
    });
}

#[test]
fn down_removes_everything_ours_and_leaves_foreign_objects_alone() {
    in_fresh_netns(
        "down_removes_everything_ours_and_leaves_foreign_objects_alone",
        || {
            // Someone else's links, route and table, beside ours.
            sh_ok(
                "ip link add fx0 type veth peer name fx1 && ip link set fx0 up && \
                 ip addr add 198.51.100.1/24 dev fx0 && ip tuntap add other0 mode tap && \
                 ip route add 203.0.113.0/24 dev fx0 && nft add table inet someone",
            );
            let foreign = || {
                sh_ok(
                    "ip -d link show fx0; ip -d link show fx1; ip -d link show other0; \
                     ip addr show dev fx0; ip route show dev fx0; nft list table inet someone",
                )
            };
            let foreign_before = foreign();
            let host = Host::new(Netns::Current);
            let plan = plan(TWO_VMS);
            host.apply(&plan, &ApplyOptions::default()).unwrap();
            // Two taps and the gateway device.
            assert_eq!(our_links(&plan).len(), 3);

            let dry = host.down(&plan, true).unwrap();
            assert!(!dry.applied && !dry.changes.is_empty());
            assert_eq!(our_links(&plan).len(), 3, "a dry-run down removed links");

            let down = host.down(&plan, false).unwrap();
            assert!(down.applied);
            assert_eq!(down.changes, dry.changes);
            assert_eq!(our_links(&plan), Vec::<String>::new());
            assert_eq!(our_routes(&plan).trim(), "");
            assert!(!our_table_exists(&plan));
            assert_eq!(foreign(), foreign_before, "down touched foreign objects");

            let again = host.down(&plan, false).unwrap();
            assert_eq!(again.changes, Vec::new(), "a second down changed things");
        },
    );
}

#[test]
fn a_foreign_link_in_the_way_is_a_typed_error_and_changes_nothing() {
    in_fresh_netns(
        "a_foreign_link_in_the_way_is_a_typed_error_and_changes_nothing",
        || {
            // Not ours: no group, no alias.
            sh_ok("ip tuntap add vm2 mode tap");
            let host = Host::new(Netns::Current);
            let plan = plan(TWO_VMS);
            let before = snapshot();

            let e = host.apply(&plan, &ApplyOptions::default()).unwrap_err();
            assert!(e.changed_nothing(), "{e}");
            let HostError::Conflicts(conflicts) = &e else {
                panic!("not a conflict: {e}");
            };
            assert!(
                matches!(
                    conflicts.0.as_slice(),
                    [Conflict::ForeignLink { name, .. }] if name == "vm2"
                ),
                "{conflicts:?}"
            );
            assert_eq!(snapshot(), before, "a refused apply changed the host");

            // status reports the same conflict instead of failing.
            let status = host.status(&plan).unwrap();
            assert!(!status.in_sync());
            assert!(
                status
                    .conflicts
                    .iter()
                    .any(|c| matches!(c, Conflict::ForeignLink { name, .. } if name == "vm2")),
                "{status:?}"
            );
            assert_eq!(snapshot(), before, "status changed the host");
        },
    );
}

#[test]
fn a_host_in_another_namespace_is_reconciled_there_and_only_there() {
    in_fresh_netns(
        "a_host_in_another_namespace_is_reconciled_there_and_only_there",
        || {
            let other = NetnsHolder::spawn().unwrap();
            let here = snapshot();
            let host = Host::new(other.netns());
            let plan = plan_on(&host, TWO_VMS);
            let outcome = host.apply(&plan, &ApplyOptions::default()).unwrap();
            assert!(!outcome.changes.is_empty());
            let links = other.sh_ok(&format!(
                "ip -o link show group {}",
                plan.ownership.link_group
            ));
            assert!(
                links.contains("vm1") && links.contains("vm2"),
                "not in the other namespace: {links}"
            );
            assert!(host.status(&plan).unwrap().in_sync());
            assert_eq!(snapshot(), here, "apply reached the caller's namespace");
            host.down(&plan, false).unwrap();
            assert_eq!(
                other
                    .sh_ok(&format!(
                        "ip -o link show group {}",
                        plan.ownership.link_group
                    ))
                    .trim(),
                ""
            );
        },
    );
}
