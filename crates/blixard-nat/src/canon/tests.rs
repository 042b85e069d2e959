use super::*;

#[test]
fn normalize_ignores_counter_values_and_set_order() {
    let a = serde_json::json!([{"match": {"op": "==", "left": 1, "right": {"set": [53, 22]}}},
                              {"counter": {"packets": 5, "bytes": 300}}, {"drop": null}]);
    let b = serde_json::json!([{"match": {"op": "==", "left": 1, "right": {"set": [22, 53]}}},
                              {"counter": null}, {"drop": null}]);
    assert_eq!(normalize(&a), normalize(&b));
    let one = serde_json::json!({"set": ["vm1"]});
    assert_eq!(normalize(&one), serde_json::json!("vm1"));
    let c = serde_json::json!([{"match": {"op": "==", "left": 1, "right": 22}}, {"drop": null}]);
    assert_ne!(normalize(&a), normalize(&c));
    let fib = |flags: [&str; 2]| serde_json::json!({"fib": {"result": "oif", "flags": flags}});
    for plain in [
        serde_json::json!("vm1"),
        serde_json::json!({"concat": ["vm1", "10.0.0.1"]}),
        serde_json::json!([{"concat": ["tcp", 8080]}, "10.0.0.3"]),
    ] {
        assert!(is_plain(&plain), "{plain}");
        assert_eq!(
            normalize(&plain),
            plain,
            "normalize leaves {plain} as it is"
        );
    }
    assert!(!is_plain(&serde_json::json!({"set": ["b", "a"]})));
    assert_eq!(
        normalize(&fib(["iif", "saddr"])),
        normalize(&fib(["saddr", "iif"]))
    );
}

#[test]
fn a_byte_limit_compares_in_bytes_whatever_unit_nft_lists() {
    let limit = |rate: u64, rate_unit: &str, burst: u64, burst_unit: &str| {
        serde_json::json!([{"limit": {"rate": rate, "burst": burst, "per": "second",
            "inv": true, "rate_unit": rate_unit, "burst_unit": burst_unit}}])
    };
    assert_eq!(
        normalize(&limit(1, "mbytes", 16, "kbytes")),
        normalize(&limit(1 << 20, "bytes", 16 << 10, "bytes"))
    );
    assert_ne!(
        normalize(&limit(1, "mbytes", 16, "kbytes")),
        normalize(&limit(1 << 20, "bytes", 16 << 11, "bytes"))
    );
    let packets = serde_json::json!({"limit": {"rate": 10, "burst": 5, "per": "second"}});
    assert_eq!(normalize(&packets), packets);
}
