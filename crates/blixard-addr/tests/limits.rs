//! `[limits]` through the planner and the diff: each VM's limit is in its
//! link plan (an override replaces the default; a multi-queue tap gets no
//! `noqueue` under a limit), a host holding the plan needs no change, a
//! missing or different limit is set in place before the tap goes up, a
//! dropped one is deleted, and someone else's root qdisc is in the way.

mod common;

use blixard_addr::config::LimitError;
use blixard_addr::diff::{DiffOptions, reconcile, wire_vm};
use blixard_addr::plan::RateLimit;
use blixard_addr::state::{Change, Conflict, ObservedRootQdisc};
use blixard_addr::{Config, ConfigErrorKind, HostPlan, model};
use common::{empty_host, observed_equal_to, plan_of};

const LIMITS: &str = r#"
vms = 3
[tap]
multi_queue = true
queues = 2
[limits]
ingress = { rate = "100mbit", burst = "256k" }
[limits.vms.vm3]
ingress = { rate = "1gbit" }
"#;

fn limit_changes(plan: &HostPlan, observed: &blixard_addr::ObservedHost) -> Vec<Change> {
    let found = reconcile(plan, observed, &DiffOptions::default());
    found
        .changes
        .into_iter()
        .filter(|c| matches!(c, Change::SetLimit { .. } | Change::DeleteLimit { .. }))
        .collect()
}

#[test]
fn each_link_plans_its_limit_and_no_noqueue_under_it() {
    let plan = plan_of(LIMITS);
    let limits: Vec<Option<RateLimit>> = plan.links.iter().map(|l| l.ingress_limit).collect();
    assert_eq!(
        limits,
        [
            Some(RateLimit::new(12_500_000, 262_144)),
            Some(RateLimit::new(12_500_000, 262_144)),
            Some(RateLimit::new(125_000_000, 1_250_000)),
        ]
    );
    assert!(plan.links.iter().all(|l| !l.noqueue));
    // Without limits, multi-queue taps keep their noqueue.
    let plain = plan_of("vms = 1\n[tap]\nmulti_queue = true\nqueues = 2\n");
    assert!(plain.links[0].noqueue && plain.links[0].ingress_limit.is_none());
}

#[test]
fn new_taps_get_their_limit_before_they_go_up_and_a_host_holding_the_plan_needs_nothing() {
    let plan = plan_of(LIMITS);
    let changes = reconcile(&plan, &empty_host(), &DiffOptions::default()).changes;
    let set = changes
        .iter()
        .position(|c| matches!(c, Change::SetLimit { name, .. } if name == "vm1"))
        .expect("vm1's limit");
    let up = changes
        .iter()
        .position(|c| matches!(c, Change::LinkUp { name } if name == "vm1"))
        .unwrap();
    assert!(set < up, "{changes:#?}");
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::AddNoqueue { .. }))
    );
    let after = model::apply(&empty_host(), &changes, &plan);
    assert_eq!(limit_changes(&plan, &after), []);
    assert_eq!(limit_changes(&plan, &observed_equal_to(&plan)), []);
}

#[test]
fn a_missing_or_different_limit_is_set_in_place_and_a_dropped_one_deleted() {
    let plan = plan_of(LIMITS);
    let mut observed = observed_equal_to(&plan);
    observed.links[0].root_qdisc = None;
    observed.links[1].root_qdisc =
        Some(ObservedRootQdisc::Limit(RateLimit::new(1_000_000, 16_384)));
    // Read back a few bytes off: the kernel keeps the burst as a time.
    if let Some(ObservedRootQdisc::Limit(l)) = &mut observed.links[2].root_qdisc {
        l.burst -= 3;
    }
    let changes = limit_changes(&plan, &observed);
    assert_eq!(
        changes,
        [
            Change::SetLimit {
                name: "vm1".into(),
                limit: plan.links[0].ingress_limit.unwrap()
            },
            Change::SetLimit {
                name: "vm2".into(),
                limit: plan.links[1].ingress_limit.unwrap()
            },
        ]
    );
    // The per-VM diff decides the same for its VM.
    let one = wire_vm(
        &plan,
        plan.links[1].vm.index,
        &observed,
        &DiffOptions::default(),
    )
    .unwrap();
    assert!(one.contains(&changes[1]), "{one:#?}");

    // Dropped from the config: deleted (single-queue), or replaced by the
    // noqueue a multi-queue tap has without a limit.
    let held = observed_equal_to(&plan);
    let single = plan_of("vms = 3\n");
    let mut on_single = observed_equal_to(&single);
    for (link, was) in on_single.links.iter_mut().zip(&held.links) {
        link.root_qdisc = was.root_qdisc.clone();
    }
    assert_eq!(
        limit_changes(&single, &on_single),
        (1..=3)
            .map(|i| Change::DeleteLimit {
                name: format!("vm{i}")
            })
            .collect::<Vec<_>>()
    );
    let multi = plan_of("vms = 3\n[tap]\nmulti_queue = true\nqueues = 2\n");
    let mut on_multi = observed_equal_to(&multi);
    for (link, was) in on_multi.links.iter_mut().zip(&held.links) {
        link.root_noqueue = false;
        link.root_qdisc = was.root_qdisc.clone();
    }
    let changes = reconcile(&multi, &on_multi, &DiffOptions::default()).changes;
    assert_eq!(
        changes,
        (1..=3)
            .map(|i| Change::AddNoqueue {
                name: format!("vm{i}")
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn someone_elses_root_qdisc_is_in_the_way_and_never_replaced() {
    let plan = plan_of(LIMITS);
    let mut observed = observed_equal_to(&plan);
    observed.links[1].root_qdisc = Some(ObservedRootQdisc::Foreign {
        kind: "htb".into(),
        major: 1,
    });
    let found = reconcile(&plan, &observed, &DiffOptions::default());
    assert_eq!(
        found.in_the_way,
        [Conflict::ForeignQdisc {
            name: "vm2".into(),
            kind: "htb".into(),
            major: 1
        }]
    );
    assert_eq!(found.in_the_way[0].config_key(), "limits");
    assert!(
        !found
            .changes
            .iter()
            .any(|c| matches!(c, Change::SetLimit { name, .. } if name == "vm2"))
    );
}

#[test]
fn bad_limits_name_their_key() {
    for (toml, key, kind) in [
        (
            "[limits]\ningress = { rate = \"fast\" }\n",
            "limits.ingress.rate",
            "BadRate",
        ),
        (
            "[limits]\ningress = { rate = \"1mbit\", burst = \"1k\" }\n",
            "limits.ingress.burst",
            "BurstOutOfRange",
        ),
        (
            "vms = 2\n[limits.vms.vm9]\ningress = { rate = \"1mbit\" }\n",
            "limits.vms.vm9",
            "UnknownVm",
        ),
    ] {
        let e = Config::from_toml_str(toml, "test.toml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        let ConfigErrorKind::Limit(limit) = &e.kind else {
            panic!("{e}")
        };
        let name = match limit {
            LimitError::BadRate(_) => "BadRate",
            LimitError::BurstOutOfRange(_) => "BurstOutOfRange",
            LimitError::UnknownVm(_) => "UnknownVm",
            other => panic!("{other:?}"),
        };
        assert_eq!(name, kind);
        assert!(e.line.is_some(), "no line in {e}");
    }
}

const EGRESS: &str = r#"
vms = 2
[limits]
egress_method = "ifb"
egress = { rate = "50mbit" }
[limits.vms.vm2]
egress = { rate = "10mbit", burst = "64k" }
"#;

#[test]
fn a_limit_from_the_vm_is_an_ifb_of_ours_with_the_taps_ingress_redirected_to_it() {
    let plan = plan_of(EGRESS);
    let egress = plan.links[1].egress.as_ref().unwrap();
    assert_eq!(egress.ifb, "bxifb2");
    assert_eq!(egress.alias, "blixard:bxifb2");
    assert_eq!(egress.limit, RateLimit::new(1_250_000, 65_536));
    let changes = reconcile(&plan, &empty_host(), &DiffOptions::default()).changes;
    let at = |want: &Change| {
        changes
            .iter()
            .position(|c| c == want)
            .unwrap_or_else(|| panic!("{want:?} missing: {changes:#?}"))
    };
    let create = at(&Change::CreateIfb {
        name: "bxifb1".into(),
        group: plan.ownership.link_group,
        alias: "blixard:bxifb1".into(),
    });
    let shape = at(&Change::SetLimit {
        name: "bxifb1".into(),
        limit: plan.links[0].egress.as_ref().unwrap().limit,
    });
    let ingress = at(&Change::AddIngressQdisc { name: "vm1".into() });
    let redirect = at(&Change::AddRedirect {
        name: "vm1".into(),
        ifb: "bxifb1".into(),
    });
    let up = at(&Change::LinkUp {
        name: "bxifb1".into(),
    });
    let tap_up = at(&Change::LinkUp { name: "vm1".into() });
    assert!(create < shape && shape < ingress && ingress < redirect && redirect < tap_up);
    assert!(redirect < up, "{changes:#?}");
    // What the model makes of it needs nothing more; nor does a host
    // holding the plan.
    let after = model::try_apply(&empty_host(), &changes, &plan).unwrap();
    assert_eq!(
        reconcile(&plan, &after, &DiffOptions::default()).changes,
        []
    );
    assert_eq!(
        reconcile(&plan, &observed_equal_to(&plan), &DiffOptions::default()).changes,
        []
    );
}

#[test]
fn a_dropped_limit_from_the_vm_removes_the_redirect_before_its_ifb_and_unwire_takes_both() {
    let plan = plan_of(EGRESS);
    let held = observed_equal_to(&plan);
    let plain = plan_of("vms = 2\n");
    let changes = reconcile(&plain, &held, &DiffOptions::default()).changes;
    assert_eq!(
        changes,
        [
            Change::DeleteIngressQdisc { name: "vm1".into() },
            Change::DeleteIngressQdisc { name: "vm2".into() },
            Change::DeleteLink {
                name: "bxifb1".into()
            },
            Change::DeleteLink {
                name: "bxifb2".into()
            },
        ]
    );
    let unwired = blixard_addr::diff::unwire_vm(&plan, plan.links[0].vm.index, &held);
    assert!(unwired.contains(&Change::DeleteLink {
        name: "bxifb1".into()
    }));
    // Someone else's link with the ifb's name is in the way.
    let mut foreign = held.clone();
    let ifb = foreign
        .links
        .iter_mut()
        .find(|l| l.name == "bxifb2")
        .unwrap();
    ifb.group = 0;
    ifb.alias = None;
    let found = reconcile(&plan, &foreign, &DiffOptions::default());
    assert!(
        matches!(&found.in_the_way[..], [Conflict::ForeignLink { name, .. }] if name == "bxifb2"),
        "{:?}",
        found.in_the_way
    );
}
