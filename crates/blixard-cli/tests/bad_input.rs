//! Bad input (issue 8, part 1): broken configs and flag sets, each run by
//! the real binary against a host that already holds applied state. Every
//! one must exit 2, name the file, line and key (or the flag), and leave
//! the namespace byte-identical. The corpus is listed, with each message,
//! in docs/RELIABILITY.md.

mod common;
mod rejects;

use blixard_netns::testing::in_fresh_netns;
use rejects::{BASE, Case, Whence};

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
    // A forward table: `vms` on line 1, the header on line 2.
    let forward = |rest: &str| format!("vms = 3\n[[forwards]]\nhost_port = 8080\n{rest}");
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
        // Port forwards (issue 15).
        f(
            "forward_to_unknown_vm",
            &forward("vm = \"web\"\nport = 80\nprotocol = \"tcp\"\n"),
            Line(4, "forwards[0].vm"),
            "\"web\" is no VM of the layout",
        ),
        f(
            "forward_to_unwired_vm",
            &forward("vm = \"vm9\"\nport = 80\nprotocol = \"tcp\"\n"),
            Line(4, "forwards[0].vm"),
            "names VM 9, which `vms` does not wire",
        ),
        f(
            "forward_port_zero",
            &forward("vm = \"vm1\"\nport = 0\nprotocol = \"tcp\"\n"),
            Line(5, "forwards[0].port"),
            "port 0 is not a port",
        ),
        f(
            "forward_twice",
            &format!(
                "{}{}",
                forward("vm = \"vm1\"\nport = 80\nprotocol = \"tcp\"\n"),
                "[[forwards]]\nhost_port = 8080\nvm = \"vm2\"\nport = 81\nprotocol = \"tcp\"\n"
            ),
            Line(7, "forwards[1]"),
            "forwards[0] already forwards this address",
        ),
        f(
            "forward_ipv6_address_without_ipv6",
            &format!(
                "{}[ipv6]\nenabled = false\n",
                forward("vm = \"vm1\"\nport = 80\nprotocol = \"tcp\"\naddress = \"2001:db8::1\"\n")
            ),
            Line(7, "forwards[0].address"),
            "VMs have no IPv6",
        ),
        f(
            "forward_icmp",
            &forward("vm = \"vm1\"\nport = 80\nprotocol = \"icmp\"\n"),
            Line(6, "forwards[0].protocol"),
            "ICMP has no ports",
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
        // Limits (issue 15).
        f(
            "unknown_egress_method",
            "vms = 2\n[limits]\negress_method = \"tc\"\n",
            Line(3, "limits.egress_method"),
            "unknown variant `tc`",
        ),
    ]
}

/// Configs that passed validation and then failed in the kernel or nft
/// half-way through an apply, or were applied though they must not be
/// (issue 11). Each has the owner and uplink the host has, so that
/// without the check it would reach the kernel.
fn fail_closed_cases() -> Vec<Case> {
    use Whence::Line;
    let f = Case::file;
    // `BASE` is three lines: the table below starts on line 4.
    let host = |extra: &str| format!("{BASE}{extra}");
    let pool4 = |pool: &str| host(&format!("[ipv4]\npool = \"{pool}\"\n"));
    let pool6 = |pool: &str| host(&format!("[ipv6]\npool = \"{pool}\"\n"));
    let long_table = "t".repeat(256);
    vec![
        f(
            "mtu_below_ipv6_minimum",
            &host("[tap]\nmtu = 1000\n"),
            Line(5, "tap.mtu"),
            "IPv6 needs an MTU of at least 1280",
        ),
        f(
            "nft_table_too_long",
            &host(&format!("[ownership]\nnft_table = \"{long_table}\"\n")),
            Line(5, "ownership.nft_table"),
            "at most 255 bytes",
        ),
        f(
            "ipv6_pool_multicast",
            &pool6("ff02::/64"),
            Line(5, "ipv6.pool"),
            "multicast",
        ),
        f(
            "ipv6_pool_unspecified",
            &pool6("::/64"),
            Line(5, "ipv6.pool"),
            "unspecified",
        ),
        f(
            "ipv6_pool_link_local",
            &pool6("fe80::/64"),
            Line(5, "ipv6.pool"),
            "link-local",
        ),
        f(
            "ipv6_pool_ipv4_mapped",
            &pool6("::ffff:0.0.0.0/104"),
            Line(5, "ipv6.pool"),
            "IPv4-mapped",
        ),
        f(
            "ipv4_pool_loopback",
            &pool4("127.0.0.0/24"),
            Line(5, "ipv4.pool"),
            "loopback",
        ),
        f(
            "ipv4_pool_multicast",
            &pool4("224.0.0.0/24"),
            Line(5, "ipv4.pool"),
            "multicast",
        ),
        f(
            "ipv4_pool_reserved",
            &pool4("240.0.0.0/24"),
            Line(5, "ipv4.pool"),
            "reserved",
        ),
        f(
            "ipv4_pool_broadcast",
            &pool4("255.255.255.0/24"),
            Line(5, "ipv4.pool"),
            "broadcast",
        ),
        f(
            "ipv4_pool_this_network",
            &pool4("0.0.0.0/24"),
            Line(5, "ipv4.pool"),
            "\"this network\"",
        ),
        f(
            "ipv4_pool_link_local",
            &pool4("169.254.0.0/24"),
            Line(5, "ipv4.pool"),
            "link-local",
        ),
        f(
            "owner_minus_one",
            "vms = 2\nowner = \"4294967295\"\nexternal_interface = \"bx-up0\"\n",
            Line(2, "owner"),
            "the kernel's \"unset\"",
        ),
        f(
            "group_minus_one",
            &host("group = \"4294967295\"\n"),
            Line(4, "group"),
            "the kernel's \"unset\"",
        ),
        f(
            "external_is_a_planned_tap",
            "vms = 2\nowner = \"root\"\nexternal_interface = \"vm1\"\n",
            Line(3, "external_interface"),
            "a tap this plan creates",
        ),
        f(
            "rule_port_zero",
            &host(
                "[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"drop\"\nprotocol = \"tcp\"\nport = 0\n",
            ),
            Line(9, "firewall.rules[0].port"),
            "port 0",
        ),
        f(
            "host_port_zero",
            &host("[firewall]\nhost_ports = [53, 0]\n"),
            Line(5, "firewall.host_ports[1]"),
            "port 0",
        ),
        f(
            "template_leading_dash",
            &host("interface_template = \"-vm{index}\"\n"),
            Line(4, "interface_template"),
            "must not start with '-'",
        ),
    ]
}

/// `--netns` values that are not network namespaces, and one flag naming
/// a tap of the plan as the uplink.
fn fail_closed_flag_cases() -> Vec<Case> {
    use Whence::Flag;
    let f = Case::flags;
    vec![
        f(
            "external_flag_planned_tap",
            &["apply", "--external-interface", "vm2"],
            Flag("--external-interface"),
            "a tap this plan creates",
        ),
        f(
            "netns_regular_file",
            &["apply", "--netns", "/etc/passwd"],
            Flag("--netns"),
            "/etc/passwd is a regular file, not a network namespace",
        ),
        f(
            "netns_device",
            &["apply", "--netns", "/dev/null"],
            Flag("--netns"),
            "/dev/null is a character device, not a network namespace",
        ),
        f(
            "netns_directory",
            &["apply", "--netns", "/"],
            Flag("--netns"),
            "/ is a directory, not a network namespace",
        ),
        f(
            "netns_mount_namespace",
            &["apply", "--netns", "/proc/self/ns/mnt"],
            Flag("--netns"),
            "is a mount namespace, not a network namespace",
        ),
        f(
            "netns_pid_zero",
            &["apply", "--netns", "pid:0"],
            Flag("--netns"),
            "pid 0 is not a process",
        ),
        f(
            "netns_no_such_pid",
            &["apply", "--netns", "pid:99999999"],
            Flag("--netns"),
            "no process with pid 99999999",
        ),
        f(
            "netns_no_such_name",
            &["status", "--netns", "blixard-no-such-ns"],
            Flag("--netns"),
            "no network namespace named \"blixard-no-such-ns\"",
        ),
    ]
}

/// Config and namespace files that are not regular files or are too big:
/// refused without reading them (a FIFO used to block forever, /dev/zero
/// to read until memory ran out). Made in `scratch`, each at the path its
/// case's config file would have.
fn special_file_cases(scratch: &common::Scratch) -> (Vec<Case>, Vec<std::path::PathBuf>) {
    use Whence::{File, Flag};
    let path = |name: &str| scratch.0.join(format!("{name}.toml"));
    let fifo = |p: &std::path::Path| {
        nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap()
    };
    fifo(&path("config_fifo"));
    std::os::unix::fs::symlink("/dev/zero", path("config_dev_zero")).unwrap();
    std::fs::create_dir(path("config_directory")).unwrap();
    let ns_fifo = scratch.0.join("netns.fifo");
    fifo(&ns_fifo);
    let ns_fifo_arg: &'static str = Box::leak(ns_fifo.display().to_string().into_boxed_str());
    let file = |name: &'static str, says: &'static str| Case {
        name,
        toml: None,
        args: vec!["apply"],
        whence: File,
        says,
    };
    let cases = vec![
        file("config_fifo", "is a FIFO, not a regular file"),
        file(
            "config_dev_zero",
            "is a character device, not a regular file",
        ),
        file("config_directory", "is a directory, not a regular file"),
        Case::file(
            "config_too_big",
            &"# padding\n".repeat(200_000),
            File,
            "config files are limited to 1 MiB",
        ),
        Case::flags(
            "netns_fifo",
            &["apply", "--netns", ns_fifo_arg],
            Flag("--netns"),
            "is a FIFO, not a network namespace",
        ),
    ];
    (cases, vec![path("config_fifo"), ns_fifo])
}

/// Opens and closes the write end of each FIFO while `stop` is unset: a
/// reader blocked in `open` (the bug) then reads an empty file and the
/// case fails on its message instead of hanging the suite.
fn unblock_fifo_readers(
    fifos: Vec<std::path::PathBuf>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::thread::spawn(move || {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for fifo in &fifos {
                // ENXIO unless someone has the read end open.
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(nix::libc::O_NONBLOCK)
                    .open(fifo);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    })
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
    let mut cases: Vec<Case> = file_cases()
        .into_iter()
        .chain(flag_cases())
        .chain(fail_closed_cases())
        .chain(fail_closed_flag_cases())
        .collect();
    assert!(cases.len() >= 30, "the issue asks for at least 30 cases");
    in_fresh_netns("every_bad_config_and_flag", || {
        let scratch = rejects::prepared_host("bad-input");
        let (special, fifos) = special_file_cases(&scratch);
        cases.extend(special);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let unblocker = unblock_fifo_readers(fifos, stop.clone());
        let rejections = rejects::assert_all_rejected(&scratch, &cases);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        unblocker.join().unwrap();
        rejects::report(&rejections);
    });
}

/// Teardown never uses the tap owner: `down` and `unwire` work with an
/// owner this host cannot resolve (they exited 2 on the lookup).
#[test]
fn down_and_unwire_need_no_owner() {
    in_fresh_netns("down_and_unwire_need_no_owner", || {
        let scratch = common::Scratch::new("no-owner");
        common::uplink();
        let applied =
            scratch.config("vms = 3\nowner = \"root\"\nexternal_interface = \"bx-up0\"\n");
        common::ok(common::cli(&scratch, &applied, &["apply"]));
        let unknown = scratch.config(
            "vms = 3\nowner = \"no-such-user\"\ngroup = \"no-such-group\"\nexternal_interface = \"nope0\"\n",
        );
        common::ok(common::cli(&scratch, &unknown, &["unwire", "2"]));
        let links = blixard_netns::testing::sh_ok("ip -o link show group 2833");
        assert!(
            links.contains(" vm1:") && !links.contains(" vm2:") && links.contains(" vm3:"),
            "{links}"
        );
        common::ok(common::cli(&scratch, &unknown, &["down"]));
        assert_eq!(
            blixard_netns::testing::sh_ok("ip -o link show group 2833"),
            ""
        );
        assert_eq!(blixard_netns::testing::sh_ok("nft list tables").trim(), "");
    });
}
