//! Limits from the VMs policed in our table: one set per distinct limit
//! with the limit as its statement, the taps with that limit its
//! elements, one drop rule per set right after the `vm_tx` count; what nft
//! lists back (in its own units) compares equal, so a no-op stays a no-op;
//! a set or element deleted by hand is drift; wiring a VM adds its element,
//! and says so when the table has no set for its limit.

mod common;

use blixard_addr::config::Config;
use blixard_addr::plan::{FirewallPlan, RateLimit};
use blixard_addr::state::ObservedFirewall;
use blixard_nat::Nft;
use blixard_nat::canon::CanonTable;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{TABLE, planned};

/// Five VMs policed at 20mbit, vm2 at 8mbit with a burst of its own.
fn policed() -> FirewallPlan {
    planned(5, Vec::new(), |c| {
        let toml = "vms = 5\n[limits]\negress = { rate = \"20mbit\" }\n\
                    [limits.vms.vm2]\negress = { rate = \"8mbit\", burst = \"64k\" }\n";
        c.limits = Config::from_toml_str(toml, "test").unwrap().limits;
    })
}

const DEFAULT_SET: &str = "police_2500000_25000";
const VM2_SET: &str = "police_1000000_65536";

#[test]
fn each_limit_is_a_set_with_its_taps_and_one_rule_after_the_tx_count() {
    let p = policed();
    let canonical = blixard_nat::render::canonical(&p);
    assert_eq!(canonical, CanonTable::from_batch(&Nft::render(&p)));
    let text: serde_json::Value =
        serde_json::from_str(&blixard_nat::render::render_text(&p)).unwrap();
    assert_eq!(text, Nft::render(&p));
    let members = |set: &str| canonical.elements[set].iter().cloned().collect::<Vec<_>>();
    assert_eq!(members(DEFAULT_SET), ["vm1", "vm3", "vm4", "vm5"]);
    assert_eq!(members(VM2_SET), ["vm2"]);
    assert_eq!(
        canonical.sets[VM2_SET]["stmt"],
        serde_json::json!([{ "limit": { "rate": 1_000_000, "burst": 65_536, "per": "second",
            "inv": true, "rate_unit": "bytes", "burst_unit": "bytes" } }])
    );
    let prerouting = &canonical.rules["prerouting"];
    assert!(prerouting[0].contains("@vm_tx"), "{prerouting:?}");
    for (i, set) in [VM2_SET, DEFAULT_SET].iter().enumerate() {
        assert!(
            prerouting[1 + i].contains(&format!("@{set}")) && prerouting[1 + i].contains("drop"),
            "{prerouting:?}"
        );
    }
    assert!(prerouting[3].contains("@vm_v4"), "anti-spoofing follows");
    // One rule per limit, whatever the number of VMs.
    let more = planned(40, Vec::new(), |c| c.limits = policed_limits());
    assert_eq!(
        Nft::desired(&more).rule_count(),
        canonical.rule_count(),
        "rules grow with VMs"
    );
    // A VM's element goes in its own set.
    let vm2 = p.vms.iter().find(|v| v.interface == "vm2").unwrap();
    let added = serde_json::to_string(&blixard_nat::render::vm_elements(TABLE, vm2)).unwrap();
    assert!(
        added.contains(VM2_SET) && !added.contains(DEFAULT_SET),
        "{added}"
    );
}

fn policed_limits() -> blixard_addr::config::LimitsConfig {
    let toml = "vms = 40\n[limits]\negress = { rate = \"20mbit\" }\n\
                [limits.vms.vm2]\negress = { rate = \"8mbit\", burst = \"64k\" }\n";
    Config::from_toml_str(toml, "test").unwrap().limits
}

fn differs(nft: &Nft, p: &FirewallPlan, want: &[&str]) {
    match nft.observe(p).unwrap() {
        ObservedFirewall::Differs(d) => {
            let all = d.join("\n");
            for w in want {
                assert!(all.contains(w), "{w:?} not in differences:\n{all}");
            }
        }
        other => panic!("expected Differs, got {other:?}"),
    }
}

#[test]
fn what_nft_lists_back_is_in_sync_and_a_set_or_element_deleted_by_hand_is_drift() {
    in_fresh_netns("police_sets_in_sync_and_drift", || {
        let nft = Nft::new();
        let p = policed();
        nft.apply(&p).unwrap();
        // nft lists the limits back in its units (`1000000 bytes`, `64 kbytes`).
        let listed = sh_ok(&format!("nft list set inet {TABLE} {VM2_SET}"));
        assert!(
            listed.contains("limit rate over 1000000 bytes/second burst 64 kbytes"),
            "{listed}"
        );
        assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);
        let full = CanonTable::from_listing(&nft.list_table(TABLE).unwrap().unwrap());
        assert_eq!(full.differences(&Nft::desired(&p)), Vec::<String>::new());

        sh_ok(&format!(
            "nft delete element inet {TABLE} {DEFAULT_SET} '{{ \"vm3\" }}'"
        ));
        differs(&nft, &p, &[&format!("set {DEFAULT_SET} lacks vm3")]);
        let vm3 = p.vms.iter().find(|v| v.interface == "vm3").unwrap();
        assert!(matches!(
            nft.observe_vm(TABLE, vm3).unwrap(),
            ObservedFirewall::Differs(_)
        ));
        nft.add_vm(TABLE, vm3).unwrap();
        assert_eq!(
            nft.observe_vm(TABLE, vm3).unwrap(),
            ObservedFirewall::InSync
        );
        assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);

        // A set in use goes only with its rule.
        let handle = sh_ok(&format!("nft -a list chain inet {TABLE} prerouting"))
            .lines()
            .find(|l| l.contains(VM2_SET))
            .and_then(|l| l.split("# handle ").nth(1))
            .unwrap()
            .trim()
            .to_string();
        sh_ok(&format!(
            "nft delete rule inet {TABLE} prerouting handle {handle} && \
             nft delete set inet {TABLE} {VM2_SET}"
        ));
        differs(
            &nft,
            &p,
            &[&format!("set {VM2_SET} is missing"), "chain prerouting"],
        );
        nft.apply(&p).unwrap();
        assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);

        // Unwiring takes the VM out of its set, and only that.
        let vm2 = p.vms.iter().find(|v| v.interface == "vm2").unwrap();
        nft.remove_vm(TABLE, vm2).unwrap();
        nft.remove_vm(TABLE, vm2).unwrap();
        differs(&nft, &p, &[&format!("set {VM2_SET} lacks vm2")]);
        assert!(
            !sh_ok(&format!("nft list set inet {TABLE} {VM2_SET}")).contains("\"vm2\""),
            "vm2 is still policed"
        );
        nft.add_vm(TABLE, vm2).unwrap();
        assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);

        // A limit the table has no set for (the config changed, no apply
        // since): wiring says so.
        let changed = vm2.clone().policed(Some(RateLimit::new(3_000_000, 30_000)));
        let err = nft.add_vm(TABLE, &changed).unwrap_err();
        assert!(
            matches!(&err, blixard_nat::NatError::NoPoliceSet { set, .. } if set == "police_3000000_30000"),
            "{err}"
        );
        assert!(err.to_string().contains("blixard-net apply"), "{err}");
    });
}
