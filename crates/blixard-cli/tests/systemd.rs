//! The shipped systemd units: they pass `systemd-analyze verify`, the apply
//! unit never takes the network down, and its reload command puts our
//! table back after a ruleset flush without touching a tap a VM is running
//! on; the watch unit runs `watch` after the apply unit and is restarted
//! when it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use blixard_addr::render::{self, GuestNetwork};
use blixard_host::testbed::{self, Guest};
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{Scratch, command, ok, uplink};

const INSTALLED_BINARY: &str = "/usr/local/bin/blixard-net";

const UNIT: &str = "blixard-net.service";
const WATCH_UNIT: &str = "blixard-net-watch.service";

fn unit_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib/systemd")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn unit() -> String {
    unit_text(UNIT)
}

/// The values of `key=` lines in the unit, in order.
fn values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
        .collect()
}

/// The arguments after the binary of the unit's `key=` command.
fn command_args(unit: &str, key: &str) -> Vec<String> {
    let [line] = values(unit, key)
        .try_into()
        .unwrap_or_else(|v: Vec<String>| panic!("the unit needs exactly one {key}=, has {v:?}"));
    let mut words = line.split_whitespace().map(str::to_string);
    assert_eq!(words.next().as_deref(), Some(INSTALLED_BINARY), "{line}");
    words.collect()
}

#[test]
fn the_units_pass_systemd_analyze_verify() {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        blixard_netns::testing::skip(
            "the_units_pass_systemd_analyze_verify",
            "systemd-analyze (apt-get install systemd)",
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("blixard-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // verify checks that the binary exists: point them at the one just
    // built. Together, since the watch requires the apply unit.
    let files: Vec<PathBuf> = [UNIT, WATCH_UNIT]
        .into_iter()
        .map(|name| {
            let file = dir.join(name);
            let text = unit_text(name).replace(INSTALLED_BINARY, env!("CARGO_BIN_EXE_blixard-net"));
            std::fs::write(&file, text).unwrap();
            file
        })
        .collect();
    let out = Command::new(analyze)
        .arg("verify")
        .args(&files)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Unknown keys are only warnings: any output is a failure here.
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

#[test]
fn the_unit_never_takes_the_network_down() {
    let unit = unit();
    assert!(values(&unit, "ExecStop").is_empty(), "{unit}");
    assert!(values(&unit, "ExecStopPost").is_empty(), "{unit}");
    assert!(
        unit.lines()
            .filter(|l| l.starts_with("Exec"))
            .all(|l| !l.contains(" down")),
        "{unit}"
    );
    assert_eq!(command_args(&unit, "ExecStart"), ["apply"]);
    assert_eq!(
        values(&unit, "ReloadPropagatedFrom"),
        ["nftables.service"],
        "a reload of nftables (a flush) must re-apply"
    );
    assert_eq!(values(&unit, "SuccessExitStatus"), ["4"]);
}

#[test]
fn the_watch_unit_runs_watch_after_the_apply_unit_and_restarts_on_failure() {
    let unit = unit_text(WATCH_UNIT);
    assert_eq!(command_args(&unit, "ExecStart"), ["watch"]);
    assert_eq!(values(&unit, "Requires"), [UNIT]);
    assert_eq!(values(&unit, "After"), [UNIT]);
    assert_eq!(values(&unit, "Restart"), ["on-failure"]);
    assert_eq!(values(&unit, "Type"), ["simple"]);
    assert!(values(&unit, "ExecStop").is_empty(), "{unit}");
}

#[test]
fn the_reload_command_restores_our_table_after_a_flush_and_touches_no_tap() {
    in_fresh_netns("the_reload_command_restores_our_table", || {
        let scratch = Scratch::new("unit-reload");
        let toml = "vms = 2\nowner = \"root\"\nexternal_interface = \"bx-up0\"\n";
        let config = scratch.config(toml);
        uplink();
        ok(common::cli(&scratch, &config, &["apply"]));
        // Stateless: counters move with the guest's own traffic.
        let table = || sh_ok("nft -s list table inet blixard");
        let before = table();
        let plan = common::plan_of(toml);
        let vm = plan.layout.vm_at(1).unwrap();
        let network = GuestNetwork::new(&plan, vm.clone());
        let running = Guest::start(&vm, 1, &render::ip_commands(&network).join(" && ")).unwrap();
        let group = blixard_addr::config::DEFAULT_LINK_GROUP;
        let links = || sh_ok(&format!("ip -o link show group {group} | cut -d: -f1,2"));
        let links_before = links();

        sh_ok("nft flush ruleset");
        assert!(!sh_ok("nft list tables").contains("blixard"));

        let args = command_args(&unit(), "ExecReload");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = command(&scratch, &config, &args).output().unwrap();
        assert!(out.status.success(), "{}", common::text(&out));
        assert_eq!(table(), before, "the table did not come back as it was");
        assert_eq!(links(), links_before, "the reload touched a tap");
        assert!(running.relay().is_running());
        assert_eq!(
            testbed::ping(
                Some(&running.ns),
                "10.0.0.0".parse().unwrap(),
                std::time::Duration::from_secs(10)
            ),
            Ok(true)
        );
    });
}
