//! Unit tests of the config model, its TOML loading and its error locations.

use super::*;
use crate::error::{ConfigError, ConfigErrorKind, LayoutError};

#[test]
fn schema_file_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.schema.json");
    let fresh = json_schema_string();
    if std::env::var_os("BLIXARD_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(path, &fresh).expect("write config.schema.json");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{path} is stale: run `BLIXARD_BLESS=1 cargo test -p blixard-addr schema_file_is_fresh`"
    );
}

#[test]
fn readme_lists_the_real_defaults() {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("README has a toml block") + 8;
    let len = readme[start..].find("```").expect("closed block");
    let parsed = Config::from_toml_str(&readme[start..start + len], "README.md").unwrap();
    assert_eq!(parsed, Config::default());
}

#[test]
fn default_config_round_trips_through_toml() {
    let config = Config::default();
    let text = config.to_toml_string();
    assert_eq!(Config::from_toml_str(&text, "x.toml").unwrap(), config);
    assert_eq!(Config::from_toml_str("", "empty.toml").unwrap(), config);
}

fn err(text: &str) -> ConfigError {
    Config::from_toml_str(text, "net.toml").expect_err("config must be rejected")
}

fn assert_at(e: &ConfigError, line: u32, key: &str) {
    assert_eq!(e.file.as_deref(), Some("net.toml"), "{e}");
    assert_eq!(e.line, Some(line), "{e}");
    assert!(e.column.is_some(), "{e}");
    assert_eq!(e.key.as_deref(), Some(key), "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("net.toml:{line}:")), "{shown}");
    assert!(shown.contains(key), "{shown}");
}

#[test]
fn syntax_error_names_file_line_and_key() {
    let e = err("vms = 4\n[ipv4]\npool = 10.0.0.0/24\n");
    assert_at(&e, 3, "ipv4.pool");
    assert!(matches!(e.kind, ConfigErrorKind::Toml(_)));
}

#[test]
fn unterminated_string_names_the_key_on_its_line() {
    let e = err("vms = 2\nowner = \"root\n");
    assert_at(&e, 2, "owner");
    let e = err(
        "vms = 2\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"drop\"\n[[firewall.rules]]\nfrom = \"vm1\n",
    );
    assert_at(&e, 7, "firewall.rules[1].from");
    let e = err("vms = 2\n[ipv4\npool = \"10.0.0.0/24\"\n");
    assert_at(&e, 2, "ipv4");
}

#[test]
fn wrong_vms_type_says_what_to_write() {
    let e = err("vms = \"two\"\n");
    assert_at(&e, 1, "vms");
    assert!(e.to_string().contains("a VM count such as 64"), "{e}");
}

#[test]
fn wrong_type_names_key() {
    let e = err("vms = 4\n\n[tap]\nmtu = \"big\"\n");
    assert_at(&e, 4, "tap.mtu");
    assert_eq!(e.column, Some(7));
}

#[test]
fn unknown_key_names_key() {
    let e = err("[ipv4]\npool = \"10.0.0.0/24\"\npoool = \"x\"\n");
    assert_at(&e, 3, "ipv4.poool");
    assert!(e.to_string().contains("unknown field"), "{e}");
}

#[test]
fn pool_not_network_names_key() {
    let e = err("vms = 4\n[ipv4]\npool = \"10.0.0.1/24\"\n");
    assert_at(&e, 3, "ipv4.pool");
    assert!(matches!(
        e.kind,
        ConfigErrorKind::Layout(LayoutError::PoolNotNetwork(_))
    ));
}

#[test]
fn rule_selector_error_names_rule_and_field() {
    let text = "vms = 4\n\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"drop\"\n\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm9\"\naction = \"drop\"\n";
    let e = err(text);
    assert_at(&e, 10, "firewall.rules[1].to");
    assert_eq!(
        e.kind,
        ConfigErrorKind::VmNotPlanned {
            selector: "vm9".into(),
            index: 9
        }
    );
}

#[test]
fn malformed_range_names_list_item() {
    let e = err("vms = [1, \"10-2\"]\n");
    assert_at(&e, 1, "vms[1]");
    assert_eq!(
        e.kind,
        ConfigErrorKind::BadRange {
            range: "10-2".into()
        }
    );
    let e = err("vms = [\"a-b\"]\n");
    assert_eq!(
        e.kind,
        ConfigErrorKind::BadRange {
            range: "a-b".into()
        }
    );
}

#[test]
fn queues_without_multi_queue_names_key() {
    let e = err("[tap]\nmulti_queue = false\nqueues = 4\n");
    assert_at(&e, 3, "tap.queues");
    assert_eq!(
        e.kind,
        ConfigErrorKind::QueuesWithoutMultiQueue { queues: 4 }
    );
}

#[test]
fn reserved_route_protocol_names_key() {
    let e = err("[ownership]\nroute_protocol = 4\n");
    assert_at(&e, 2, "ownership.route_protocol");
    let e = err("[ownership]\nlink_group = 0\n");
    assert_at(&e, 2, "ownership.link_group");
}

#[test]
fn unsafe_table_name_names_key() {
    let e = err("[ownership]\nnft_table = \"x; flush ruleset\"\n");
    assert_at(&e, 2, "ownership.nft_table");
    assert!(matches!(e.kind, ConfigErrorKind::UnsafeName { .. }));
}

#[test]
fn too_many_vms_names_key() {
    let e = err("\n\nvms = 300\n");
    assert_at(&e, 3, "vms");
    assert_eq!(
        e.kind,
        ConfigErrorKind::Layout(LayoutError::TooManyVms {
            count: 300,
            max: 255
        })
    );
}

#[test]
fn defaulted_key_falls_back_to_parent_line() {
    // `tap.queues` is not written: the error points at `[tap]`.
    let e = err("vms = 2\n[tap]\nmulti_queue = false\nqueues = 0\n");
    assert_at(&e, 4, "tap.queues");
    let e = Config::from_toml_str("vms = 2\n\n[tap]\nmtu = 9000\n", "n.toml").unwrap();
    let mut bad = e.clone();
    bad.tap.queues = 3;
    let located = bad
        .validate()
        .unwrap_err()
        .locate("vms = 2\n\n[tap]\nmtu = 9000\n", "n.toml");
    assert_eq!(located.line, Some(3));
}

#[test]
fn conflicting_rules_are_rejected() {
    let text = "vms = 4\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"drop\"\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"accept\"\n";
    let e = err(text);
    assert_at(&e, 6, "firewall.rules[1]");
    assert_eq!(
        e.kind,
        ConfigErrorKind::ConflictingRule {
            rule: 1,
            earlier: 0
        }
    );
}
