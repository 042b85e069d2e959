//! `[bgp]` without a network: `bgp config` prints a configuration BIRD 2
//! itself accepts (`bird -p`, parse only), errors name their key, and a
//! cluster host allocates only its own indices.

mod common;

use std::process::Command;

use common::{Scratch, cli, exits, ok};

/// Host 2 of the issue's cluster: indices 65..=128 of shared pools, an
/// iBGP peer and an eBGP one.
const HOST2: &str = r#"
vms = ["65-128"]

[ipv4]
pool = "10.0.0.0/16"

[ipv6]
pool = "fd00:b1::/64"

[bgp]
asn = 64512
router_id = "198.51.100.2"

[[bgp.peers]]
address = "198.51.100.1"
asn = 64512

[[bgp.peers]]
address = "198.51.100.3"
asn = 64513
"#;

fn bird_available() -> bool {
    Command::new("bird").arg("--version").output().is_ok()
}

#[test]
fn bgp_config_is_a_configuration_bird_accepts() {
    if !bird_available() {
        blixard_netns::testing::skip(
            "bgp_config_is_a_configuration_bird_accepts",
            "bird (apt-get install bird2)",
        );
        return;
    }
    let scratch = Scratch::new("bgp-config");
    for (name, toml) in [
        ("host2", HOST2.to_string()),
        (
            "no-ipv6-next-hop-named",
            HOST2
                .replace("[ipv6]\npool = \"fd00:b1::/64\"", "[ipv6]\nenabled = false")
                .replace(
                    "router_id = \"198.51.100.2\"",
                    "router_id = \"198.51.100.2\"\nipv6_next_hop = \"2001:db8::2\"",
                ),
        ),
        (
            "no-peers-no-blocks",
            "vms = [5]\n[bgp]\nasn = 4200000000\nrouter_id = \"192.0.2.1\"\n".into(),
        ),
    ] {
        let config = scratch.config(&toml);
        let out = ok(cli(&scratch, &config, &["bgp", "config"]));
        let file = scratch.0.join(format!("{name}.conf"));
        std::fs::write(&file, &out).unwrap();
        let parsed = Command::new("bird")
            .arg("-p")
            .arg("-c")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            parsed.status.success(),
            "{name}: bird -p refused it: {}{}\n{out}",
            String::from_utf8_lossy(&parsed.stdout),
            String::from_utf8_lossy(&parsed.stderr)
        );
    }
}

#[test]
fn bgp_config_prints_the_blocks_sessions_and_filters() {
    let scratch = Scratch::new("bgp-print");
    let config = scratch.config(HOST2);
    let out = ok(cli(&scratch, &config, &["bgp", "config"]));
    for line in [
        "router id 198.51.100.2;",
        "    route 10.0.0.96/27 blackhole;",
        "    route 10.0.0.128/32 blackhole;",
        "    route fd00:b1::80/128 blackhole;",
        "protocol bgp blixard_peer_198_51_100_3 from blixard_peer {\n    neighbor 198.51.100.3 as 64513;",
    ] {
        assert!(out.contains(line), "missing {line:?}:\n{out}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&ok(cli(&scratch, &config, &["--json", "bgp", "config"]))).unwrap();
    assert_eq!(json["bird_config"].as_str(), Some(out.as_str()));
    assert_eq!(json["plan"]["blocks"].as_array().unwrap().len(), 5);
    assert_eq!(json["plan"]["lone_vms"][1]["index"], 128);
}

#[test]
fn bgp_errors_are_bad_input_naming_file_line_and_key() {
    let scratch = Scratch::new("bgp-errors");
    let config = scratch.config("vms = 2\n");
    let out = exits(cli(&scratch, &config, &["bgp", "config"]), 2);
    assert!(out.contains("no [bgp] section"), "{out}");
    let config = scratch.config(&HOST2.replace("198.51.100.3", "10.0.9.9"));
    let out = exits(cli(&scratch, &config, &["bgp", "config"]), 2);
    let at = format!("{}:19:", config.display());
    assert!(out.contains(&at), "{out}");
    assert!(
        out.contains("bgp.peers[1].address: 10.0.9.9 cannot be a peer: it is inside the VM pool"),
        "{out}"
    );
    // Every command validates [bgp], not only `bgp config`.
    let out = exits(cli(&scratch, &config, &["plan"]), 2);
    assert!(out.contains("bgp.peers[1].address"), "{out}");
}

#[test]
fn a_cluster_host_allocates_only_its_own_indices() {
    let scratch = Scratch::new("bgp-alloc");
    let config = scratch.config(HOST2);
    let out = ok(cli(&scratch, &config, &["alloc", "web"]));
    assert!(
        out.contains("web: index 65 (vm65, 10.0.0.65, fd00:b1::41)"),
        "{out}"
    );
    let out = exits(cli(&scratch, &config, &["alloc", "db", "--index", "5"]), 2);
    assert!(
        out.contains("VM index 5 is not one of this host's"),
        "{out}"
    );
    // Without [bgp] any index of the pool is the host's.
    let single = scratch.config("vms = 2\n");
    let out = ok(cli(&scratch, &single, &["alloc", "db", "--index", "5"]));
    assert!(out.contains("db: index 5"), "{out}");
}
