//! `Nft::observe_vm` over nf_tables netlink, against the real kernel and
//! against what `nft get element` says of the same elements.

use blixard_addr::plan::FirewallVm;
use blixard_addr::state::ObservedFirewall;
use blixard_addr::{Config, HostFacts, VmIndex, build_plan};
use blixard_nat::Nft;
use blixard_netns::testing::{in_fresh_netns, sh_ok};

fn nft_has(vm: &FirewallVm) -> bool {
    std::process::Command::new("nft")
        .args(["get", "element", "inet", "blixard", "vm_v4"])
        .arg(format!("{{ \"{}\" . {} }}", vm.interface, vm.ipv4))
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn observe_vm_follows_the_vms_set_elements_and_the_table() {
    in_fresh_netns("observe_vm_follows_the_vms_set_elements", || {
        let config = Config::from_toml_str("vms = 3\n", "test").unwrap();
        let plan = build_plan(&config, &HostFacts::default()).unwrap();
        let nft = Nft::new();
        let table = &plan.firewall.table;
        let vm = |i: u32| {
            plan.firewall
                .vms
                .iter()
                .find(|v| v.index == VmIndex::new(i).unwrap())
                .unwrap()
                .clone()
        };
        assert_eq!(
            nft.observe_vm(table, &vm(2)).unwrap(),
            ObservedFirewall::Absent
        );
        nft.apply(&plan.firewall).unwrap();
        for i in 1..=3 {
            assert_eq!(
                nft.observe_vm(table, &vm(i)).unwrap(),
                ObservedFirewall::InSync
            );
            assert!(nft_has(&vm(i)));
        }
        nft.remove_vm(table, &vm(2)).unwrap();
        assert!(!nft_has(&vm(2)));
        assert!(matches!(
            nft.observe_vm(table, &vm(2)).unwrap(),
            ObservedFirewall::Differs(_)
        ));
        assert_eq!(
            nft.observe_vm(table, &vm(3)).unwrap(),
            ObservedFirewall::InSync
        );
        // Only the IPv6 element gone: still missing.
        sh_ok("nft delete element inet blixard vm_v6 '{ \"vm3\" . fec0::3 }'");
        assert!(matches!(
            nft.observe_vm(table, &vm(3)).unwrap(),
            ObservedFirewall::Differs(_)
        ));
        nft.add_vm(table, &vm(2)).unwrap();
        assert_eq!(
            nft.observe_vm(table, &vm(2)).unwrap(),
            ObservedFirewall::InSync
        );
        // The counter sets are wired and unwired with the rest.
        let counted = |nft: &Nft| -> Vec<String> {
            nft.counters(table)
                .unwrap()
                .into_iter()
                .map(|c| c.vm)
                .collect()
        };
        assert_eq!(counted(&nft), ["vm1", "vm2", "vm3"]);
        nft.remove_vm(table, &vm(2)).unwrap();
        assert_eq!(counted(&nft), ["vm1", "vm3"]);
        nft.add_vm(table, &vm(2)).unwrap();
        sh_ok("nft delete element inet blixard vm_dropped '{ \"vm1\" }'");
        assert!(matches!(
            nft.observe_vm(table, &vm(1)).unwrap(),
            ObservedFirewall::Differs(_)
        ));
        nft.add_vm(table, &vm(1)).unwrap();
        assert_eq!(
            nft.observe_vm(table, &vm(1)).unwrap(),
            ObservedFirewall::InSync
        );
        nft.delete(table).unwrap();
        assert!(counted(&nft).is_empty());
        assert_eq!(
            nft.observe_vm(table, &vm(1)).unwrap(),
            ObservedFirewall::Absent
        );
    });
}
