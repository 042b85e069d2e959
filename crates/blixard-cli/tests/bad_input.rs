//! Bad input (issue 8, part 1): broken configs and flag sets, each run by
//! the real binary against a host that already holds applied state. Every
//! one must exit 2, name the file, line and key (or the flag), and leave
//! the namespace byte-identical. The corpus is listed, with each message,
//! in docs/RELIABILITY.md.

mod common;
mod rejects;

use blixard_netns::testing::in_fresh_netns;
use rejects::{Case, Whence};

/// Config files that are broken on their own or against the host.
fn file_cases() -> Vec<Case> {
    use Whence::{Key, Line};
    let f = Case::file;
    // Rule tables used below: the header is on line 2.
    let rules = |extra: &str| {
        format!(
            "vms = 3\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"drop\"\n{extra}"
        )
    };
    vec![
        // Malformed TOML.
        f(
            "unterminated_string",
            "vms = 2\nowner = \"root\n",
            Line(2, "owner"),
            "invalid basic string",
        ),
        f("missing_value", "vms =\n", Line(1, "vms"), "expected"),
        f(
            "unclosed_header",
            "vms = 2\n[ipv4\npool = \"10.0.0.0/24\"\n",
            Line(2, "ipv4"),
            "unclosed table",
        ),
        f(
            "duplicate_key",
            "vms = 2\nowner = \"root\"\nvms = 3\n",
            Line(3, "vms"),
            "duplicate key",
        ),
        f(
            "bare_word_value",
            "vms = 2\nowner = root\n",
            Line(2, "owner"),
            "expected",
        ),
        // Unknown keys.
        f(
            "unknown_top_key",
            "vms = 2\ncolour = \"blue\"\n",
            Line(2, "colour"),
            "unknown field `colour`",
        ),
        f(
            "unknown_nested_key",
            "vms = 2\n[tap]\nmtuu = 9000\n",
            Line(3, "tap.mtuu"),
            "unknown field `mtuu`",
        ),
        f(
            "unknown_table",
            "vms = 2\n[nat6]\nipv4 = true\n",
            Line(2, "nat6"),
            "unknown field `nat6`",
        ),
        f(
            "unknown_rule_key",
            &rules("porrt = 22\n"),
            Line(6, "firewall.rules[0].porrt"),
            "unknown field `porrt`",
        ),
        // Wrong types.
        f(
            "vms_as_string",
            "vms = \"two\"\n",
            Line(1, "vms"),
            "a VM count such as 64",
        ),
        f(
            "negative_vms",
            "vms = -1\n",
            Line(1, "vms"),
            "a VM count such as 64",
        ),
        f(
            "mtu_as_string",
            "vms = 2\n[tap]\nmtu = \"big\"\n",
            Line(3, "tap.mtu"),
            "invalid type",
        ),
        f(
            "bool_as_string",
            "vms = 2\n[nat]\nipv4 = \"yes\"\n",
            Line(3, "nat.ipv4"),
            "expected a boolean",
        ),
        f(
            "port_over_u16",
            "vms = 2\n[firewall]\nhost_ports = [53, 70000]\n",
            Line(3, "firewall.host_ports[1]"),
            "70000",
        ),
        f(
            "route_protocol_over_u8",
            "vms = 2\n[ownership]\nroute_protocol = 300\n",
            Line(3, "ownership.route_protocol"),
            "300",
        ),
        f(
            "dns_not_an_address",
            "vms = 2\ndns = [\"9.9.9.9\", \"not-an-ip\"]\n",
            Line(2, "dns[1]"),
            "invalid IP address",
        ),
        f(
            "unknown_action",
            "vms = 2\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"reject\"\n",
            Line(5, "firewall.rules[0].action"),
            "unknown variant `reject`",
        ),
        f(
            "rule_without_to",
            "vms = 2\n[[firewall.rules]]\nfrom = \"vm1\"\naction = \"drop\"\n",
            Line(2, "firewall.rules[0]"),
            "missing field `to`",
        ),
        // Indices and pools.
        f(
            "index_zero",
            "vms = [0]\n",
            Line(1, "vms[0]"),
            "VM index 0 is out of range",
        ),
        f(
            "index_past_pool",
            "vms = [1, 256]\n",
            Line(1, "vms[1]"),
            "VM index 256 is out of range: valid indices are 1..=255",
        ),
        f(
            "range_past_pool",
            "vms = [\"250-300\"]\n",
            Line(1, "vms[0]"),
            "VM index 300 is out of range",
        ),
        f(
            "backwards_range",
            "vms = [\"5-2\"]\n",
            Line(1, "vms[0]"),
            "is not a range",
        ),
        f(
            "index_twice",
            "vms = [3, \"2-4\"]\n",
            Line(1, "vms[1]"),
            "VM index 3 is listed more than once",
        ),
        f("zero_vms", "vms = 0\n", Line(1, "vms"), "no VMs selected"),
        f(
            "pool_cannot_hold_count",
            "vms = 20\n[ipv4]\npool = \"10.0.0.0/28\"\n",
            Line(1, "vms"),
            "20 VMs do not fit in the pool: at most 15",
        ),
        f(
            "pool_too_small",
            "vms = 1\n[ipv4]\npool = \"10.0.0.0/31\"\n",
            Line(3, "ipv4.pool"),
            "too small",
        ),
        f(
            "pool_host_bits",
            "vms = 2\n[ipv4]\npool = \"10.0.0.1/24\"\n",
            Line(3, "ipv4.pool"),
            "not a network address",
        ),
        f(
            "ipv6_pool_host_bits",
            "vms = 2\n[ipv6]\npool = \"fec0::1/64\"\n",
            Line(3, "ipv6.pool"),
            "not a network address",
        ),
        // Names.
        f(
            "template_over_15_bytes",
            "vms = 2\ninterface_template = \"averyverylong{index}\"\n",
            Line(2, "interface_template"),
            "longer than 15 bytes",
        ),
        f(
            "external_over_15_bytes",
            "vms = 2\nexternal_interface = \"a-very-long-uplink\"\n",
            Line(2, "external_interface"),
            "at most 15 bytes",
        ),
        f(
            "template_with_quote",
            "vms = 2\ninterface_template = \"v\\\"{index}\"\n",
            Line(2, "interface_template"),
            "character '\"' is not allowed",
        ),
        f(
            "template_with_space",
            "vms = 2\ninterface_template = \"v m{index}\"\n",
            Line(2, "interface_template"),
            "character ' ' is not allowed",
        ),
        f(
            "template_with_semicolon",
            "vms = 2\ninterface_template = \"vm{index};\"\n",
            Line(2, "interface_template"),
            "character ';' is not allowed",
        ),
        f(
            "template_with_star",
            "vms = 2\ninterface_template = \"vm*{index}\"\n",
            Line(2, "interface_template"),
            "character '*' is not allowed",
        ),
        f(
            "template_non_ascii",
            "vms = 2\ninterface_template = \"vé{index}\"\n",
            Line(2, "interface_template"),
            "character 'é' is not allowed",
        ),
        f(
            "template_without_index",
            "vms = 2\ninterface_template = \"vm\"\n",
            Line(2, "interface_template"),
            "{index}",
        ),
        f(
            "owner_with_quote",
            "vms = 2\nowner = \"ro\\\"ot\"\n",
            Line(2, "owner"),
            "character '\"' is not allowed",
        ),
        f(
            "group_with_semicolon",
            "vms = 2\nowner = \"root\"\ngroup = \"wheel;\"\n",
            Line(3, "group"),
            "character ';' is not allowed",
        ),
        // Names the host does not have.
        f(
            "unknown_user",
            "vms = 2\nowner = \"no-such-user\"\nexternal_interface = \"bx-up0\"\n",
            Line(2, "owner"),
            "unknown user \"no-such-user\"",
        ),
        f(
            "unknown_group",
            "vms = 2\nowner = \"root\"\ngroup = \"no-such-group\"\nexternal_interface = \"bx-up0\"\n",
            Line(3, "group"),
            "unknown group \"no-such-group\"",
        ),
        f(
            "missing_external_interface",
            "vms = 2\nowner = \"root\"\nexternal_interface = \"nope0\"\n",
            Line(3, "external_interface"),
            "interface \"nope0\" does not exist",
        ),
        f(
            "auto_without_default_route",
            "vms = 2\nowner = \"root\"\nexternal_interface = \"auto\"\n",
            Line(3, "external_interface"),
            "no default route",
        ),
        f(
            "auto_by_default",
            "vms = 2\nowner = \"root\"\n",
            Key("external_interface"),
            "no default route",
        ),
        // Overlaps with what the host already has.
        f(
            "ipv4_pool_over_foreign_route",
            "vms = 2\nowner = \"root\"\nexternal_interface = \"bx-up0\"\n[ipv4]\npool = \"198.51.100.0/24\"\n",
            Line(5, "ipv4.pool"),
            "route 198.51.100.0/24",
        ),
        f(
            "ipv6_pool_over_foreign_route",
            "vms = 2\nowner = \"root\"\nexternal_interface = \"bx-up0\"\n[ipv6]\npool = \"fd77::/64\"\n",
            Line(5, "ipv6.pool"),
            "route fd77::/64",
        ),
        f(
            "planned_tap_name_taken",
            "vms = 4\nowner = \"root\"\nexternal_interface = \"bx-up0\"\ninterface_template = \"vm{index}\"\n",
            Line(4, "interface_template"),
            "interface vm4 exists and is not ours",
        ),
        // Rules that contradict each other or the layout.
        f(
            "conflicting_rules",
            &rules("[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"accept\"\n"),
            Line(6, "firewall.rules[1]"),
            "conflicting rules: rule 1 can never match because rule 0",
        ),
        f(
            "port_without_protocol",
            &rules("port = 22\n"),
            Line(6, "firewall.rules[0].port"),
            "a port needs protocol",
        ),
        f(
            "rule_names_unplanned_vm",
            "vms = 3\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm9\"\naction = \"drop\"\n",
            Line(4, "firewall.rules[0].to"),
            "names VM 9, which `vms` does not wire",
        ),
        f(
            "rule_cidr_garbage",
            "vms = 3\n[[firewall.rules]]\nfrom = \"10.0.0.0/33\"\nto = \"vm2\"\naction = \"drop\"\n",
            Line(3, "firewall.rules[0].from"),
            "is not a rule endpoint",
        ),
        f(
            "rule_cidr_host_bits",
            "vms = 3\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"10.1.2.3/16\"\naction = \"drop\"\n",
            Line(4, "firewall.rules[0].to"),
            "host bits",
        ),
        // Tap and ownership settings.
        f(
            "queues_without_multi_queue",
            "vms = 2\n[tap]\nqueues = 4\n",
            Line(3, "tap.queues"),
            "need multi-queue taps",
        ),
        f(
            "mtu_too_small",
            "vms = 2\n[tap]\nmtu = 67\n",
            Line(3, "tap.mtu"),
            "MTU 67 is outside",
        ),
        f(
            "link_group_zero",
            "vms = 2\n[ownership]\nlink_group = 0\n",
            Line(3, "ownership.link_group"),
            "link_group 0",
        ),
        f(
            "nft_table_leading_digit",
            "vms = 2\n[ownership]\nnft_table = \"1blixard\"\n",
            Line(3, "ownership.nft_table"),
            "must start with a letter",
        ),
        f(
            "kernel_route_protocol",
            "vms = 2\n[ownership]\nroute_protocol = 4\n",
            Line(3, "ownership.route_protocol"),
            "reserved by the kernel",
        ),
    ]
}

/// Flags that are bad alone or against the (valid) config file.
fn flag_cases() -> Vec<Case> {
    use Whence::{File, Flag};
    let f = Case::flags;
    vec![
        f(
            "vms_zero",
            &["apply", "--vms", "0"],
            Flag("--vms"),
            "no VMs selected",
        ),
        f(
            "vms_70000",
            &["apply", "--vms", "70000"],
            Flag("--vms"),
            "70000 VMs do not fit in the pool",
        ),
        f(
            "vms_not_a_number",
            &["apply", "--vms", "abc"],
            Flag("--vms"),
            "invalid value 'abc'",
        ),
        f(
            "user_with_space",
            &["apply", "--user", "a b"],
            Flag("--user"),
            "character ' ' is not allowed",
        ),
        f(
            "user_unknown",
            &["apply", "--user", "no-such-user"],
            Flag("--user"),
            "unknown user \"no-such-user\"",
        ),
        f(
            "netns_path_escape",
            &["apply", "--netns", "../x"],
            Flag("--netns"),
            "is not a network namespace",
        ),
        f(
            "netns_missing",
            &["apply", "--netns", "blixard-no-such-ns"],
            Flag("--netns"),
            "blixard-no-such-ns",
        ),
        f(
            "external_flag_injection",
            &["apply", "--external-interface", "eth0;x"],
            Flag("--external-interface"),
            "character ';' is not allowed",
        ),
        f(
            "external_flag_missing",
            &["apply", "--external-interface", "nope1"],
            Flag("--external-interface"),
            "interface \"nope1\" does not exist",
        ),
        f(
            "unknown_flag",
            &["apply", "--vmz", "3"],
            Flag("--vmz"),
            "unexpected argument",
        ),
        f(
            "unknown_subcommand",
            &["aply"],
            Flag("aply"),
            "unrecognized subcommand",
        ),
        Case {
            name: "config_file_missing",
            toml: None,
            args: vec!["apply"],
            whence: File,
            says: "cannot read config",
        },
    ]
}

#[test]
fn every_bad_config_and_flag_is_exit_2_named_and_changes_nothing() {
    let cases: Vec<Case> = file_cases().into_iter().chain(flag_cases()).collect();
    assert!(cases.len() >= 30, "the issue asks for at least 30 cases");
    in_fresh_netns("every_bad_config_and_flag", || {
        let scratch = rejects::prepared_host("bad-input");
        let rejections = rejects::assert_all_rejected(&scratch, &cases);
        rejects::report(&rejections);
    });
}
