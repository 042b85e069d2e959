//! Unit tests of the data-path options, medians, verdicts and profile buckets.

use super::*;

fn fig(pps: f64, p99: f64) -> Figure {
    Figure {
        pps,
        cpu_ns: 1000.0,
        lost: 0,
        p50_us: p99 / 2.0,
        p99_us: p99,
    }
}

#[test]
fn options_parse_and_reject_nonsense() {
    let mut o = Options::default();
    let mut value = |v: &str| -> Result<String> { Ok(v.to_string()) };
    let given = |o: &mut Options, arg: &str, v: &str| {
        let mut value = |_: &str| -> Result<String> { Ok(v.to_string()) };
        o.take(arg, &mut value)
    };
    assert!(given(&mut o, "--datapath-sizes", "64, 1500").unwrap());
    assert_eq!(o.sizes, vec![64, 1500]);
    assert!(given(&mut o, "--datapath-cpu", "none").unwrap());
    assert_eq!(o.cpu, None);
    assert!(given(&mut o, "--datapath-sizes", "20").is_err());
    assert!(given(&mut o, "--datapath-runs", "0").is_err());
    assert!(!o.take("--runs", &mut value).unwrap());
    assert!(o.take("--datapath-only", &mut value).unwrap());
    assert!(o.take("--no-datapath", &mut value).is_err());
}

#[test]
fn a_missing_flowtable_is_a_missed_target_with_its_reason_and_ratios_use_medians() {
    let opts = Options {
        sizes: vec![64],
        ..Options::default()
    };
    let mut figures = Figures::new();
    let vm = PathKind::VmToVm;
    for (c, runs) in [
        (
            Contender::Ours,
            vec![fig(950.0, 10.0), fig(900.0, 11.0), fig(1.0, 99.0)],
        ),
        (Contender::Ours4096, vec![fig(930.0, 10.0)]),
        (Contender::Bare, vec![fig(1000.0, 9.0)]),
        (Contender::Bare4096, vec![fig(1000.0, 9.0)]),
        (Contender::Bridge, vec![fig(800.0, 12.0)]),
        (Contender::BridgeNf, vec![fig(700.0, 13.0)]),
    ] {
        figures.insert((c, vm, 64), runs);
    }
    let mut unavailable = Unavailable::new();
    unavailable.insert(Contender::Flowtable, "no flowtables".into());
    let v = report(&opts, &figures, &unavailable);
    let find = |needle: &str| {
        v.iter()
            .find(|v| v.target.contains(needle))
            .unwrap_or_else(|| panic!("no verdict {needle}"))
    };
    // The median of 950, 900 and 1 is 900: 0.90x bare.
    assert!(find("ours (64 VMs): >= 0.9x").met);
    assert_eq!(
        find("ours (64 VMs): >= 0.9x").measured,
        "0.90x (per CPU-second: 1.00x)"
    );
    assert!(find("within 5%").met);
    assert!(find("bridge's packets/s").met);
    assert!(find("p99").met);
    let flow = find("flowtable");
    assert!(
        !flow.met && flow.measured.contains("no flowtables"),
        "{}",
        flow.measured
    );
}

#[test]
fn profile_lines_land_in_their_buckets() {
    let report = "    30.00%  [k] nf_conntrack_in\n    10.00%  [k] nf_nat_inet_fn\n     5.50%  [k] nft_do_chain\n     4.50%  [k] fib_table_lookup\n     2.00%  [k] tun_get_user\n     1.00%  [.] main\n";
    let b = profile::buckets(report);
    assert_eq!(b["conntrack"], 30.0);
    assert_eq!(b["NAT"], 10.0);
    assert_eq!(b["nftables rules"], 5.5);
    assert_eq!(b["IP routing and forwarding"], 4.5);
    assert_eq!(b["tap and copies"], 2.0);
    assert_eq!(b["syscall, scheduler, other"], 1.0);
}
