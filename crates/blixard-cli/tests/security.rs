//! Security (issue 8, part 6): state and lock files are not writable by
//! others whatever the umask; no config value or flag can inject nft or
//! shell syntax (rejected at validation, exit 2, nothing changed); names
//! that are nft keywords but valid reach nft only as JSON strings.
//!
//! Elsewhere: a tap opens for its owner/group and gives EPERM to another
//! uid in `blixard-tap/tests/tap.rs`
//! (`owner_and_group_grant_access_and_other_uids_get_eperm`); anti-spoofing
//! on real IPv4 and IPv6 packets in `e2e.rs`
//! (`a_vm_spoofing_another_vms_address_reaches_neither_peers_nor_host`).

mod common;
mod rejects;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{Scratch, cli, exits, ok, text};
use rejects::{BASE, Case, Whence};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn state_and_lock_files_are_not_writable_by_others_even_with_umask_0() {
    // Only files in a scratch directory: no namespace is needed.
    let scratch = Scratch::new("state-modes");
    let config = scratch.config("vms = 8\n");
    // Directories that do not exist yet, so the binary creates them.
    let state = scratch.0.join("lib/blixard-net");
    let lock = scratch.0.join("run/blixard-net");
    let run = |args: &[&str]| {
        let out = Command::new("sh")
            .args(["-c", "umask 000 && exec \"$@\"", "sh"])
            .arg(env!("CARGO_BIN_EXE_blixard-net"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("BLIXARD_STATE_DIR", &state)
            .env("BLIXARD_LOCK_DIR", &lock)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    };
    run(&["alloc", "web"]);
    run(&["alloc", "db", "--index", "5"]);
    run(&["release", "web"]);
    let files = [
        state.clone(),
        state.join("allocations.json"),
        lock.clone(),
        lock.join("host.lock"),
    ];
    for path in &files {
        let m = mode(path);
        assert_eq!(
            m & 0o022,
            0,
            "{} is writable by group or others: {m:o}",
            path.display()
        );
    }
    // Nothing else (a temp file of the atomic write) is left behind.
    let left: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["allocations.json"], "{left:?}");
}

/// Config values and flags carrying nft or shell syntax.
fn injection_cases() -> Vec<Case> {
    use Whence::{Flag, Line};
    let f = Case::file;
    let rule = |from: &str, to: &str| {
        format!("{BASE}[[firewall.rules]]\nfrom = {from:?}\nto = {to:?}\naction = \"drop\"\n")
    };
    vec![
        f(
            "nft_table_statement",
            &format!("{BASE}[ownership]\nnft_table = \"x; flush ruleset\"\n"),
            Line(5, "ownership.nft_table"),
            "character ';' is not allowed",
        ),
        f(
            "nft_table_quote_break",
            &format!("{BASE}[ownership]\nnft_table = 'blixard\" ; flush ruleset ; \"'\n"),
            Line(5, "ownership.nft_table"),
            "character '\"' is not allowed",
        ),
        f(
            "nft_table_braces",
            &format!("{BASE}[ownership]\nnft_table = \"t{{}}\"\n"),
            Line(5, "ownership.nft_table"),
            "character '{' is not allowed",
        ),
        f(
            "external_quote_break",
            "vms = 2\nowner = \"root\"\nexternal_interface = 'eth0\"; drop'\n",
            Line(3, "external_interface"),
            "character '\"' is not allowed",
        ),
        f(
            "external_newline",
            "vms = 2\nowner = \"root\"\nexternal_interface = \"eth0\\nflush ruleset\"\n",
            Line(3, "external_interface"),
            "character '\\n' is not allowed",
        ),
        f(
            "rule_cidr_statement",
            &rule("10.0.0.0/24; flush ruleset", "vm1"),
            Line(5, "firewall.rules[0].from"),
            "is not a rule endpoint",
        ),
        f(
            "rule_set_break",
            &rule("vm1", "vm2 } drop {"),
            Line(6, "firewall.rules[0].to"),
            "is not a rule endpoint",
        ),
        f(
            "rule_range_statement",
            &rule("vm1-vm2;flush", "any"),
            Line(5, "firewall.rules[0].from"),
            "is not a rule endpoint",
        ),
        f(
            "owner_command_substitution",
            "vms = 2\nowner = \"$(reboot)\"\n",
            Line(2, "owner"),
            "character '$' is not allowed",
        ),
        f(
            "group_backticks",
            "vms = 2\nowner = \"root\"\ngroup = \"`reboot`\"\n",
            Line(3, "group"),
            "character '`' is not allowed",
        ),
        f(
            "template_statement",
            "vms = 2\ninterface_template = \"vm{index};x\"\n",
            Line(2, "interface_template"),
            "character ';' is not allowed",
        ),
        f(
            "template_command_substitution",
            "vms = 2\ninterface_template = \"$(id){index}\"\n",
            Line(2, "interface_template"),
            "character '$' is not allowed",
        ),
        f(
            "template_path",
            "vms = 2\ninterface_template = \"../{index}\"\n",
            Line(2, "interface_template"),
            "character '.' is not allowed",
        ),
        Case::flags(
            "user_flag_substitution",
            &["apply", "--user", "$(id)"],
            Flag("--user"),
            "character '$' is not allowed",
        ),
        Case::flags(
            "external_flag_statement",
            &["apply", "--external-interface", "eth0 counter drop"],
            Flag("--external-interface"),
            "character ' ' is not allowed",
        ),
    ]
}

#[test]
fn no_config_value_or_flag_can_inject_nft_or_shell_syntax() {
    in_fresh_netns("no_config_value_can_inject", || {
        let scratch = rejects::prepared_host("injection");
        let rejections = rejects::assert_all_rejected(&scratch, &injection_cases());
        rejects::report(&rejections);
    });
}

#[test]
fn names_that_are_nft_keywords_reach_nft_as_strings_and_foreign_tables_are_untouched() {
    // Taps and an uplink named like nft statements, and a table name nft's
    // text parser would split at '-': as JSON strings they are names.
    let toml = "vms = 2\nowner = \"root\"\nexternal_interface = \"flush\"\ninterface_template = \"drop{index}\"\n\
                [ownership]\nnft_table = \"_odd-table\"\n\
                [[firewall.rules]]\nfrom = \"drop1\"\nto = \"drop2\"\naction = \"drop\"\n";
    in_fresh_netns("names_that_are_nft_keywords", || {
        let scratch = Scratch::new("keywords");
        let config = scratch.config(toml);
        sh_ok(
            "ip link add flush type veth peer name flush-peer && ip link set flush up && \
             nft add table inet foreign && \
             nft add chain inet foreign fchain '{ type filter hook forward priority 10; policy accept; }' && \
             nft add rule inet foreign fchain ip saddr 198.51.100.0/24 counter accept",
        );
        let foreign = || sh_ok("nft -j list table inet foreign");
        let foreign_before = foreign();

        ok(cli(&scratch, &config, &["apply"]));
        let tables = sh_ok("nft list tables");
        assert!(
            tables.contains("table inet _odd-table\n") && tables.contains("table inet foreign\n"),
            "{tables}"
        );
        let ours = sh_ok("nft list table inet _odd-table");
        for wanted in [
            "\"drop1\" . 10.0.0.1",
            "\"drop2\" . 10.0.0.2",
            "oifname \"flush\"",
        ] {
            assert!(ours.contains(wanted), "{wanted} missing:\n{ours}");
        }
        let links = sh_ok("ip -o link show group 2833");
        assert!(
            links.contains(" drop1:") && links.contains(" drop2:"),
            "{links}"
        );
        assert_eq!(foreign(), foreign_before, "apply touched the foreign table");
        exits(cli(&scratch, &config, &["status"]), 0);

        ok(cli(&scratch, &config, &["down"]));
        assert_eq!(foreign(), foreign_before, "down touched the foreign table");
        let tables = sh_ok("nft list tables");
        assert_eq!(tables.trim(), "table inet foreign", "{tables}");
        assert!(sh_ok("ip -o link show").contains(" flush@flush-peer:"));
        assert_eq!(sh_ok("ip -o link show group 2833"), "");
    });
}

#[test]
fn a_table_named_like_an_nft_keyword_works_end_to_end() {
    // `nft list table inet delete` is a syntax error in nft's text parser;
    // we only ever speak JSON to nft, so the name is just a name.
    let toml = "vms = 2\nowner = \"root\"\nexternal_interface = \"none\"\n[ownership]\nnft_table = \"delete\"\n";
    in_fresh_netns("a_table_named_like_an_nft_keyword", || {
        let scratch = Scratch::new("keyword-table");
        let config = scratch.config(toml);
        ok(cli(&scratch, &config, &["apply"]));
        assert!(sh_ok("nft list tables").contains("table inet delete"));
        exits(cli(&scratch, &config, &["status"]), 0);
        let again = ok(cli(&scratch, &config, &["apply"]));
        assert!(again.contains("no change"), "{again}");
        ok(cli(&scratch, &config, &["down"]));
        assert_eq!(sh_ok("nft list tables").trim(), "");
    });
}

/// A scratch lock and state directory (0755) and a file outside them that
/// a planted link points at.
struct Planted {
    scratch: Scratch,
    lock: std::path::PathBuf,
    state: std::path::PathBuf,
    victim: std::path::PathBuf,
}

const VICTIM: &[u8] = b"root-owned file outside our directories\n";

impl Planted {
    fn new(test: &str) -> Self {
        let scratch = Scratch::new(test);
        let (lock, state) = (scratch.0.join("run"), scratch.0.join("lib"));
        let outside = scratch.0.join("outside");
        for dir in [&lock, &state, &outside] {
            std::fs::create_dir(dir).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let victim = outside.join("victim");
        std::fs::write(&victim, VICTIM).unwrap();
        Planted {
            scratch,
            lock,
            state,
            victim,
        }
    }

    /// The binary with these lock and state dirs.
    fn run(&self, args: &[&str]) -> std::process::Output {
        let config = self.scratch.config("vms = 8\n");
        Command::new(env!("CARGO_BIN_EXE_blixard-net"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("BLIXARD_STATE_DIR", &self.state)
            .env("BLIXARD_LOCK_DIR", &self.lock)
            .output()
            .unwrap()
    }

    /// Exit 2 naming `says`, and the victim untouched.
    fn refused(&self, args: &[&str], says: &str) -> String {
        let out = self.run(args);
        let shown = exits(out, 2);
        assert!(shown.contains(says), "{args:?}: {shown}");
        assert_eq!(
            std::fs::read(&self.victim).unwrap(),
            VICTIM,
            "{args:?} wrote through the link"
        );
        shown
    }
}

#[test]
fn links_planted_at_our_lock_and_state_files_are_not_followed() {
    // A symlink at host.lock: `apply` and `alloc` used to truncate its
    // target and write their pid into it.
    let p = Planted::new("planted-lock");
    std::os::unix::fs::symlink(&p.victim, p.lock.join("host.lock")).unwrap();
    p.refused(&["alloc", "web"], "host.lock: is a symbolic link");
    p.refused(&["release", "web"], "host.lock: is a symbolic link");
    assert!(!p.state.join("allocations.json").exists());
    // `apply` refuses at the lock, before any change.
    in_fresh_netns("links_planted_at_our_lock", || {
        common::uplink();
        let before = rejects::snapshot();
        let config = p.scratch.config(BASE);
        let out = Command::new(env!("CARGO_BIN_EXE_blixard-net"))
            .arg("--config")
            .arg(&config)
            .arg("apply")
            .env("BLIXARD_STATE_DIR", &p.state)
            .env("BLIXARD_LOCK_DIR", &p.lock)
            .env_remove("SUDO_USER")
            .output()
            .unwrap();
        let shown = exits(out, 2);
        assert!(shown.contains("is a symbolic link"), "{shown}");
        common::assert_unchanged(&before, &rejects::snapshot(), "apply with a planted lock");
    });
    assert_eq!(std::fs::read(&p.victim).unwrap(), VICTIM);

    // A hard link at host.lock: the same file as the victim.
    let p = Planted::new("planted-hardlink");
    std::fs::hard_link(&p.victim, p.lock.join("host.lock")).unwrap();
    p.refused(&["alloc", "web"], "has 2 hard links");

    // A symlink at allocations.json: not read, not replaced.
    let p = Planted::new("planted-state");
    std::os::unix::fs::symlink(&p.victim, p.state.join("allocations.json")).unwrap();
    p.refused(&["alloc", "web"], "allocations.json: is a symbolic link");
    p.refused(&["list"], "allocations.json: is a symbolic link");
    assert!(
        std::fs::symlink_metadata(p.state.join("allocations.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // The directories themselves as symlinks (to a directory of someone
    // else's): refused, nothing made inside the target.
    let p = Planted::new("planted-dirs");
    let elsewhere = p.victim.parent().unwrap().to_path_buf();
    std::fs::remove_dir(&p.state).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &p.state).unwrap();
    p.refused(&["alloc", "web"], "lib: is a symbolic link");
    std::fs::remove_dir_all(&p.lock).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &p.lock).unwrap();
    p.refused(&["alloc", "web"], "run: is a symbolic link");
    let inside: Vec<_> = std::fs::read_dir(&elsewhere)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(inside, ["victim"], "{inside:?}");
}

#[test]
fn a_lock_or_state_directory_others_may_write_to_is_refused_and_left_as_it_is() {
    for (which, bits) in [
        ("lock", 0o777),
        ("lock", 0o1777),
        ("lock", 0o775),
        ("state", 0o777),
        ("state", 0o1733),
    ] {
        let p = Planted::new(&format!("writable-{which}-{bits:o}"));
        let dir = if which == "lock" { &p.lock } else { &p.state };
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(bits)).unwrap();
        let shown = p.refused(&["alloc", "web"], "is writable by group or others");
        assert!(
            shown.contains(&format!("(mode {bits:04o})"))
                && shown.contains(&format!("fix: chmod go-w {}", dir.display())),
            "{shown}"
        );
        // Never re-moded behind the operator's back (a chmod by path once
        // dropped a sticky bit through a symlink).
        assert_eq!(mode(dir), bits, "{which}");
        assert!(!p.state.join("allocations.json").exists());
    }
}

#[test]
fn an_allocations_file_that_breaks_the_invariants_is_refused_and_left_as_it_is() {
    // (file, says, also refused by `list` and `release`): the layout's
    // range is only known to `alloc`, which reads the config.
    let cases = [
        (
            "{\n  \"web\": 1,\n  \"db\": 2,\n  \"web\": 3\n}\n",
            "\"web\" is listed twice",
            true,
        ),
        (
            "{\n  \"web\": 5,\n  \"db\": 5\n}\n",
            "VM index 5 is allocated to both \"web\" and \"db\"",
            true,
        ),
        (
            "{\"web\": 0}\n",
            "holds VM index 0, which is out of range",
            true,
        ),
        (
            "{\"web\": 4294967295}\n",
            "holds VM index 4294967295, which is out of range",
            true,
        ),
        ("{\"web\": 300}\n", "outside this layout's 1..=255", false),
        ("{\"web\": 1} trailing\n", "trailing characters", true),
    ];
    for (i, (json, says, everywhere)) in cases.into_iter().enumerate() {
        let p = Planted::new(&format!("bad-state-{i}"));
        let file = p.state.join("allocations.json");
        std::fs::write(&file, json).unwrap();
        let unchanged = || assert_eq!(std::fs::read_to_string(&file).unwrap(), json, "{says}");
        let shown = exits(p.run(&["alloc", "api"]), 2);
        assert!(
            shown.contains(says) && shown.contains("allocations.json"),
            "{shown}"
        );
        unchanged();
        if !everywhere {
            continue;
        }
        for args in [&["list"][..], &["release", "web"][..]] {
            let shown = exits(p.run(args), 2);
            assert!(shown.contains(says), "{args:?}: {shown}");
            unchanged();
        }
    }
}
