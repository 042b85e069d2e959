//! A cluster host with its BIRD (issue 14, part 2), in a throwaway
//! namespace: `apply`, `wire` and `unwire` write `bgp.bird_config` and
//! reload BIRD only when it changed, a BIRD that does not answer is an
//! error naming its socket, BIRD's routes inside the pools are expected
//! (not foreign routes in the way), and `status`/`doctor` report the
//! sessions and the routes BIRD should have installed against those it
//! did.

mod common;

use std::time::{Duration, Instant};

use blixard_host::testbed::{Bird, bird_available};
use blixard_netns::testing::{in_fresh_netns, sh_ok, skip};
use common::{Scratch, cli, exits, ok, text};

/// VMs 1..=4: the block 2-3, and 1 and 4 alone; a peer that never answers.
fn config(scratch: &Scratch) -> String {
    let dir = scratch.0.display();
    format!(
        r#"
vms = ["1-4"]
owner = "root"
external_interface = "none"

[bgp]
asn = 64512
router_id = "198.51.100.2"
bird_config = "{dir}/bird.conf"
bird_socket = "{dir}/bird.ctl"

[[bgp.peers]]
address = "198.51.100.9"
asn = 64512
"#
    )
}

/// Polls `done` with a deadline: BIRD acts on a reload asynchronously.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn announced_alone(bird: &Bird) -> String {
    bird.birdc_ok(&["show", "route", "protocol", "blixard_vms4"])
        .unwrap()
}

#[test]
fn apply_wire_and_unwire_keep_birds_configuration_and_status_reports_it() {
    if !bird_available() {
        skip(
            "apply_wire_and_unwire_keep_birds_configuration",
            "bird and birdc (apt-get install bird2)",
        );
        return;
    }
    in_fresh_netns("apply_wire_and_unwire_keep_birds_configuration", || {
        let scratch = Scratch::new("bird");
        let config = scratch.config(&config(&scratch));
        let file = scratch.0.join("bird.conf");
        let socket = Bird::socket_path(&scratch.0, "bird");

        // No BIRD yet: the host is wired and the file written, and the
        // failed reload names the socket and birdc's words.
        let out = exits(cli(&scratch, &config, &["apply"]), 1);
        assert!(
            out.contains(&format!("birdc -s {} configure", socket.display())),
            "{out}"
        );
        assert!(out.contains("Unable to connect"), "{out}");
        let written = std::fs::read_to_string(&file).unwrap();
        assert!(
            written.contains("route 10.0.0.2/31 blackhole;"),
            "{written}"
        );
        assert!(
            written.contains("route 10.0.0.4/32 blackhole;"),
            "{written}"
        );
        sh_ok("ip link show vm4");

        let bird = Bird::start(&scratch.0, "bird", &file).unwrap();
        // BIRD blackholes the block in the kernel with its protocol; with
        // [bgp] that route in the pool is expected, not in the way.
        // And makes the rest of the pool unreachable.
        eventually(
            "the block's blackhole and the pool's unreachable route",
            || {
                let v4 = sh_ok("ip route show proto bird");
                let v6 = sh_ok("ip -6 route show proto bird");
                v4.contains("blackhole 10.0.0.2/31")
                    && v4.contains("unreachable 10.0.0.0/24")
                    && v6.contains("blackhole fec0::2/127")
                    && v6.contains("unreachable fec0::/64")
            },
        );
        let again = ok(cli(&scratch, &config, &["apply"]));
        assert!(again.contains("no change"), "{again}");
        assert!(
            again.contains(&format!("bird: {} unchanged", file.display())),
            "{again}"
        );

        let status = ok(cli(&scratch, &config, &["--json", "status"]));
        let json: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(json["in_sync"], true, "{status}");
        let bgp = &json["bgp"];
        assert_eq!(bgp["config_file"], "current", "{status}");
        let installed: Vec<&str> = bgp["installed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(
            installed,
            ["10.0.0.0/24", "10.0.0.2/31", "fec0::/64", "fec0::2/127"],
            "{status}"
        );
        assert_eq!(bgp["expected"], bgp["installed"], "{status}");
        assert_eq!(bgp["sessions"][0]["peer"], "198.51.100.9", "{status}");
        assert_eq!(bgp["sessions"][0]["established"], false, "{status}");
        let shown = ok(cli(&scratch, &config, &["status"]));
        assert!(shown.contains("bgp: in sync: AS 64512"), "{shown}");
        assert!(
            shown.contains("session 198.51.100.9 (AS 64512): "),
            "{shown}"
        );

        // A lone VM unwired is withdrawn from BIRD at once; one in a block
        // changes nothing of BIRD's.
        let out = ok(cli(&scratch, &config, &["unwire", "4"]));
        assert!(out.contains("and reloaded BIRD"), "{out}");
        assert!(
            !std::fs::read_to_string(&file)
                .unwrap()
                .contains("10.0.0.4/32")
        );
        eventually("10.0.0.4/32 withdrawn", || {
            !announced_alone(&bird).contains("10.0.0.4/32")
        });
        assert!(announced_alone(&bird).contains("10.0.0.1/32"));
        // The host now lacks vm4 (drift); BIRD's file is what it should be.
        let status = exits(cli(&scratch, &config, &["--json", "status"]), 3);
        let json: serde_json::Value = serde_json::from_str(&status).unwrap();
        assert_eq!(json["bgp"]["config_file"], "current", "{status}");

        let before = std::fs::read_to_string(&file).unwrap();
        let dry = ok(cli(&scratch, &config, &["wire", "4", "--dry-run"]));
        assert!(dry.contains("would change"), "{dry}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
        let out = ok(cli(&scratch, &config, &["wire", "4"]));
        assert!(out.contains("and reloaded BIRD"), "{out}");
        eventually("10.0.0.4/32 announced", || {
            announced_alone(&bird).contains("10.0.0.4/32")
        });
        let out = ok(cli(&scratch, &config, &["unwire", "2"]));
        assert!(out.contains("unchanged"), "{out}");
        ok(cli(&scratch, &config, &["wire", "2"]));

        // A file edited by hand is drift; apply rewrites it.
        std::fs::write(&file, format!("{before}# edited\n")).unwrap();
        let drift = exits(cli(&scratch, &config, &["status"]), 3);
        assert!(drift.contains("stale"), "{drift}");
        let out = ok(cli(&scratch, &config, &["apply"]));
        assert!(out.contains("and reloaded BIRD"), "{out}");

        let doctor = text(&cli(&scratch, &config, &["doctor"]));
        for line in [
            "PASS bird config: ",
            "WARN bgp session: 198.51.100.9 (AS 64512): ",
            "PASS bgp routes: the kernel holds the 4 route(s) BIRD exports to it",
        ] {
            assert!(doctor.contains(line), "missing {line:?}:\n{doctor}");
        }
        drop(bird);
        let doctor = text(&cli(&scratch, &config, &["doctor"]));
        assert!(
            doctor.contains("FAIL bird: asking BIRD failed: "),
            "{doctor}"
        );
    });
}
