//! `stats` and `metrics` end to end: real traffic through the stand-in
//! VMMs moves the per-VM counters by what was sent; a forged source bumps
//! the spoofing counter, a refused connection the firewall's; the metrics
//! endpoint, run in the test's namespace and stopped by it, serves the same
//! counters in Prometheus' text format.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use blixard_host::testbed::{self, Upstream};
use blixard_netns::testing::in_fresh_netns;
use common::{Scratch, cli, command, counter, ok, start_guests, stats};

const BASE: &str = r#"
vms = 2
owner = "root"
external_interface = "bx-up0"
"#;

/// One HTTP/1.1 request; (status line, body).
fn http_get(addr: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The exposition parsed: every sample line is `name{labels} value`, every
/// family has HELP and TYPE before its samples. (name, vm) -> value.
fn parse_exposition(text: &str) -> BTreeMap<(String, String), u64> {
    let mut helped = Vec::new();
    let mut typed = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.push(rest.split_whitespace().next().unwrap().to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            typed.push(parts.next().unwrap().to_string());
            assert_eq!(parts.next(), Some("counter"), "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("name{labels} value");
        let value: u64 = value.parse().expect("an integer value");
        let (name, labels) = series.split_once('{').expect("labels");
        let labels = labels.strip_suffix('}').expect("closed labels");
        let vm = labels
            .strip_prefix("vm=\"")
            .and_then(|l| l.strip_suffix('"'))
            .expect("one vm label");
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        assert!(name.ends_with("_total"), "{name}");
        assert!(helped.contains(&name.to_string()), "no HELP before {line}");
        assert!(typed.contains(&name.to_string()), "no TYPE before {line}");
        samples.insert((name.to_string(), vm.to_string()), value);
    }
    samples
}

#[test]
fn stats_and_metrics_count_real_traffic_spoofing_and_drops() {
    in_fresh_netns("stats_and_metrics_count_real_traffic", || {
        let scratch = Scratch::new("stats");
        let config = scratch.config(BASE);
        let upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let guests = start_guests(BASE);
        let (vm1, vm2) = (&guests[0].ns, &guests[1].ns);
        // Neighbour resolution and the guests' IPv6 start-up first.
        assert!(
            testbed::ping(
                Some(vm1),
                "10.0.0.2".parse().unwrap(),
                Duration::from_secs(5)
            )
            .unwrap()
        );

        let before = stats(&scratch, &config);
        // 20 pings of 100 bytes: 128-byte IP packets each way.
        vm1.sh_ok("ping -n -q -c20 -i0.02 -s100 -W1 10.0.0.2");
        let after = stats(&scratch, &config);
        let grew = |vm: &str, what: &str| counter(&after, vm, what) - counter(&before, vm, what);
        for (vm, way) in [
            ("vm1", "transmit"),
            ("vm1", "receive"),
            ("vm2", "transmit"),
            ("vm2", "receive"),
        ] {
            let packets = grew(vm, &format!("{way}.packets"));
            let bytes = grew(vm, &format!("{way}.bytes"));
            // Exactly the pings, but for a few packets of the guests' own
            // (neighbour solicitations, MLD).
            assert!(
                (20..=30).contains(&packets),
                "{vm} {way}: {packets} packets"
            );
            assert!(
                (20 * 128..=20 * 128 + 10 * 100).contains(&bytes),
                "{vm} {way}: {bytes} bytes"
            );
        }

        // A forged source: dropped, counted on the tap it came in by.
        vm1.sh_ok("ip addr add 10.0.0.99/32 dev eth0");
        // Exactly the forged packets: a guest's IPv6 start-up sends from
        // `::` (duplicate address detection, MLD), dropped but no spoofing.
        let spoofs = |s: &BTreeMap<_, _>| {
            (
                counter(s, "vm1", "spoofed_drops.packets"),
                counter(s, "vm2", "spoofed_drops.packets"),
            )
        };
        let clean = stats(&scratch, &config);
        assert_eq!(spoofs(&clean), (0, 0));
        vm1.sh("ping -n -q -c5 -i0.05 -W1 -I 10.0.0.99 10.0.0.2");
        let spoofed = stats(&scratch, &config);
        let (was, now) = (spoofs(&clean), spoofs(&spoofed));
        assert_eq!((now.0 - was.0, now.1 - was.1), (5, 0));

        // Unsolicited inbound (inbound_default = "drop"): the VM it was
        // meant for counts it.
        upstream.ns.sh_ok("ip route add 10.0.0.0/24 via 192.0.2.1");
        testbed::echo_server(&vm2.netns(), 7007).unwrap();
        let refused = testbed::tcp_probe(
            &upstream.ns.netns(),
            "10.0.0.2".parse().unwrap(),
            7007,
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(refused, None);
        let dropped = stats(&scratch, &config);
        assert!(counter(&dropped, "vm2", "firewall_drops.packets") >= 1);
        assert_eq!(counter(&dropped, "vm1", "firewall_drops.packets"), 0);

        // The endpoint, in this namespace, stopped at the end.
        let listen = "127.0.0.1:19433";
        let mut server = command(&scratch, &config, &["metrics", "--listen", listen])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        blixard_netns::testing::wait_until("metrics to listen", || {
            TcpStream::connect(listen).is_ok()
        });
        let low = stats(&scratch, &config);
        let (status, body) = http_get(listen, "/metrics");
        let high = stats(&scratch, &config);
        assert_eq!(status, "HTTP/1.1 200 OK");
        let samples = parse_exposition(&body);
        for (metric, field) in [
            ("blixard_vm_receive_bytes_total", "receive.bytes"),
            ("blixard_vm_receive_packets_total", "receive.packets"),
            ("blixard_vm_transmit_bytes_total", "transmit.bytes"),
            ("blixard_vm_transmit_packets_total", "transmit.packets"),
            ("blixard_vm_spoofed_drops_total", "spoofed_drops.packets"),
            ("blixard_vm_firewall_drops_total", "firewall_drops.packets"),
        ] {
            for vm in ["vm1", "vm2"] {
                let scraped = samples[&(metric.to_string(), vm.to_string())];
                // The guests may send a packet of their own between reads.
                assert!(
                    counter(&low, vm, field) <= scraped && scraped <= counter(&high, vm, field),
                    "{metric}{{vm={vm}}} = {scraped}, stats said {} then {}",
                    counter(&low, vm, field),
                    counter(&high, vm, field)
                );
            }
        }
        assert_eq!(samples.len(), 6 * 2);
        let (status, _) = http_get(listen, "/other");
        assert_eq!(status, "HTTP/1.1 404 Not Found");
        server.kill().unwrap();
        server.wait().unwrap();
    });
}
