//! `[limits] egress_method = "police"` (the default) through the planner
//! and the diff: a VM's limit from it is no ifb but its tap's membership of
//! the set of its limit, named by the limit alone; the firewall plan lists
//! every distinct limit the config can give, also when planned for one VM;
//! moving a host from the ifb removes the ifbs and their redirects; a bad
//! method names its key.

mod common;

use blixard_addr::diff::{DiffOptions, reconcile};
use blixard_addr::plan::RateLimit;
use blixard_addr::planner::build_vm_plan;
use blixard_addr::state::Change;
use blixard_addr::{Config, HostFacts};
use common::{observed_equal_to, plan_of};

const POLICED: &str = r#"
vms = 3
[limits]
egress = { rate = "50mbit" }
[limits.vms.vm2]
egress = { rate = "10mbit", burst = "64k" }
[limits.vms.vm3]
ingress = { rate = "1gbit" }
"#;

#[test]
fn a_policed_limit_is_a_set_named_by_the_limit_with_the_tap_in_it() {
    let plan = plan_of(POLICED);
    assert!(plan.links.iter().all(|l| l.egress.is_none()), "no ifb");
    let default = RateLimit::new(6_250_000, 62_500);
    let own = RateLimit::new(1_250_000, 65_536);
    let police: Vec<_> = plan.firewall.vms.iter().map(|v| v.police).collect();
    // vm3's override names only its ingress: its egress is the default.
    assert_eq!(police, [Some(default), Some(own), Some(default)]);
    assert_eq!(plan.firewall.police, [own, default]);
    assert_eq!(default.police_set(), "police_6250000_62500");
    assert_eq!(own.police_set(), "police_1250000_65536");
    let longest = RateLimit::new(u64::MAX, u32::MAX).police_set();
    assert!(longest.len() <= 38, "{longest}");
    assert!(
        plan.to_table().contains("egress=10mbit"),
        "{}",
        plan.to_table()
    );
}

#[test]
fn one_vms_plan_lists_every_limit_the_config_can_give() {
    let config = Config::from_toml_str(POLICED, "test").unwrap();
    let one = build_vm_plan(&config, &HostFacts::default(), 1).unwrap();
    assert_eq!(one.firewall.vms.len(), 1);
    assert_eq!(one.firewall.police, plan_of(POLICED).firewall.police);
    // Without a limit from the VMs there is no set.
    assert!(plan_of("vms = 2\n").firewall.police.is_empty());
    assert!(
        plan_of("vms = 2\n[limits]\ningress = { rate = \"10mbit\" }\n")
            .firewall
            .police
            .is_empty()
    );
}

#[test]
fn the_ifb_method_keeps_the_ifb_and_no_set() {
    let plan = plan_of(&POLICED.replace("[limits]\n", "[limits]\negress_method = \"ifb\"\n"));
    assert!(plan.firewall.police.is_empty());
    assert!(plan.firewall.vms.iter().all(|v| v.police.is_none()));
    assert_eq!(plan.links[1].egress.as_ref().unwrap().ifb, "bxifb2");
}

#[test]
fn moving_from_the_ifb_to_policing_removes_the_redirects_and_the_ifbs() {
    let ifb = plan_of(&POLICED.replace("[limits]\n", "[limits]\negress_method = \"ifb\"\n"));
    let held = observed_equal_to(&ifb);
    let policed = plan_of(POLICED);
    let changes = reconcile(&policed, &held, &DiffOptions::default()).changes;
    let links: Vec<_> = changes
        .iter()
        .filter(|c| !matches!(c, Change::ReplaceFirewall { .. }))
        .cloned()
        .collect();
    let mut want: Vec<Change> = (1..=3)
        .map(|i| Change::DeleteIngressQdisc {
            name: format!("vm{i}"),
        })
        .collect();
    want.extend((1..=3).map(|i| Change::DeleteLink {
        name: format!("bxifb{i}"),
    }));
    assert_eq!(links, want);
}

#[test]
fn the_method_is_checked_with_its_key_and_kept_when_written_back() {
    let toml = "vms = 2\n[limits]\negress_method = \"tc\"\n";
    let e = Config::from_toml_str(toml, "test.toml").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("limits.egress_method"), "{e}");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.to_string().contains("unknown variant `tc`"), "{e}");

    let ifb = Config::from_toml_str("vms = 2\n[limits]\negress_method = \"ifb\"\n", "t").unwrap();
    let written = toml::to_string(&ifb).unwrap();
    assert!(written.contains("egress_method = \"ifb\""), "{written}");
    let default = Config::from_toml_str("vms = 2\n", "t").unwrap();
    assert!(!toml::to_string(&default).unwrap().contains("limits"));
}
