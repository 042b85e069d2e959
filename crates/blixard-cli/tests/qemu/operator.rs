//! Issue 15's operator features with real QEMU guests, where the stand-in
//! VMM tests cannot speak for a VMM: port forwards reaching a guest's own
//! listener (from upstream, from the host itself, hairpin from another
//! guest; IPv4 and IPv6; one bound to an address), the per-VM counters
//! moved by a guest's own traffic and forged source, and limits both ways
//! holding on QEMU's virtio-net tap, whose `vnet_hdr` lets the host and the
//! guest hand each other 64 KiB segments: shaped towards the guest, policed
//! from it.

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::common::{Scratch, cli, counter, ok, stats};
use blixard_host::testbed::{self, Upstream};
use blixard_netns::Netns;
use blixard_netns::testing::in_fresh_netns;

use super::rate::{POLICED, assert_near, receive_tcp};
use super::{At, BASE, PATIENCE, REFUSAL, boot, harness, probed, v4, v6, vms};

/// vm1 serves [`VM1_PORT`], vm2 [`VM2_PORT`]: a forward that reached the
/// wrong guest finds nothing listening.
const VM1_PORT: u16 = 7101;
const VM2_PORT: u16 = 7102;
/// vm1's sink for the limit: reads until the host closes.
const SINK_PORT: u16 = 7103;
/// The host's sink for what vm1 sends through its limit.
const HOST_SINK_PORT: u16 = 7104;
/// Every address's forward to vm1, and vm2's bound to the uplink's IPv4.
const ANY_PORT: u16 = 2201;
const BOUND_PORT: u16 = 2202;
/// The limits of vm1 each way, in bits per second, and what is sent
/// towards it.
const LIMIT_BITS: f64 = 4e6;
const SENT: usize = 1_500_000;

fn config() -> String {
    format!(
        r#"{BASE}
[limits.vms.vm1]
ingress = {{ rate = "4mbit" }}
egress = {{ rate = "4mbit" }}

[[forwards]]
host_port = {ANY_PORT}
vm = "vm1"
port = {VM1_PORT}
protocol = "tcp"

[[forwards]]
host_port = {BOUND_PORT}
vm = "vm2"
port = {VM2_PORT}
protocol = "tcp"
address = "{}"
"#,
        testbed::HOST_UPLINK_V4
    )
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

#[test]
fn qemu_forwards_counters_and_a_limit_hold_for_real_guests() {
    const TEST: &str = "qemu_operator_features";
    let Some(kit) = harness::kit(TEST) else {
        return;
    };
    in_fresh_netns(TEST, || {
        let scratch = Scratch::new("qemu-operator");
        let toml = config();
        let config = scratch.config(&toml);
        let upstream = Upstream::build().unwrap();
        ok(cli(&scratch, &config, &["apply"]));
        let vms = vms(&toml);
        let guests = boot(kit, &scratch, &config, &[At::vm(1), At::vm(2)]);
        probed(guests[0].serve_peer(VM1_PORT));
        probed(guests[1].serve_peer(VM2_PORT));
        let (uplink_v4, uplink_v6) = (ip(testbed::HOST_UPLINK_V4), ip(testbed::HOST_UPLINK_V6));
        let (upstream_v4, upstream_v6) = (ip(testbed::UPSTREAM_V4), ip(testbed::UPSTREAM_V6));
        let outside = upstream.ns.netns();

        let mut failed = Vec::new();
        let mut check = |what: String, passed: bool| {
            if !passed {
                failed.push(what);
            }
        };
        // No SNAT in the routed layout: the guest sees who connected.
        for (host, client) in [(uplink_v4, upstream_v4), (uplink_v6, upstream_v6)] {
            let seen = probed(testbed::tcp_probe(&outside, host, ANY_PORT, PATIENCE));
            check(
                format!("upstream -> {host}:{ANY_PORT} reaches vm1 (seen as {seen:?})"),
                seen == Some(client),
            );
            let seen = probed(testbed::tcp_probe(
                &Netns::Current,
                host,
                ANY_PORT,
                PATIENCE,
            ));
            check(
                format!("the host -> {host}:{ANY_PORT} reaches vm1 (seen as {seen:?})"),
                seen == Some(host),
            );
        }
        let seen = probed(testbed::tcp_probe(
            &outside, uplink_v4, BOUND_PORT, PATIENCE,
        ));
        check(
            format!("upstream -> {uplink_v4}:{BOUND_PORT} reaches vm2 (seen as {seen:?})"),
            seen == Some(upstream_v4),
        );
        let seen = probed(testbed::tcp_probe(&outside, uplink_v6, BOUND_PORT, REFUSAL));
        check(
            format!(
                "{BOUND_PORT} is bound to {uplink_v4}: {uplink_v6} does not forward it (got {seen:?})"
            ),
            seen.is_none(),
        );
        // Hairpin: vm2 to the host's public address reaches vm1, which
        // answers vm2 directly and sees vm2's own address.
        let vm2 = &vms[1];
        for (host, own) in [(uplink_v4, v4(vm2)), (uplink_v6, v6(vm2))] {
            let seen = probed(guests[1].tcp(host, ANY_PORT, PATIENCE));
            check(
                format!("vm2 -> {host}:{ANY_PORT} hairpins to vm1 (seen as {seen:?})"),
                seen == Some(own),
            );
        }
        // vm1 to its own forward: it would see its own address as the
        // source and ignore the packet, so the host stands in as the
        // gateway.
        let vm1 = &vms[0];
        for (host, gateway) in [
            (uplink_v4, IpAddr::V4(vm1.gateway_ipv4)),
            (uplink_v6, IpAddr::V6(vm1.gateway_ipv6)),
        ] {
            let seen = probed(guests[0].tcp(host, ANY_PORT, PATIENCE));
            check(
                format!("vm1 -> {host}:{ANY_PORT} reaches itself (seen as {seen:?})"),
                seen == Some(gateway),
            );
        }
        assert!(failed.is_empty(), "failed forward probes: {failed:#?}");

        counters_follow_a_guest(&scratch, &config, &guests, &vms);
        the_limit_holds_towards_a_guest(&guests[0], v4(&vms[0]));
        the_policed_limit_holds_from_a_guest(&guests[0], vms[0].gateway_ipv4);
    });
}

/// A guest's pings move its counters both ways, and a source it does not
/// own is dropped and counted as spoofing on its tap alone.
fn counters_follow_a_guest(
    scratch: &Scratch,
    config: &std::path::Path,
    guests: &[harness::Guest],
    vms: &[blixard_addr::Vm],
) {
    let gateway = IpAddr::V4(vms[0].gateway_ipv4);
    let before = stats(scratch, config);
    probed(guests[0].run_ok(&format!("ping -c 20 -i 0.05 -s 100 {gateway}")));
    let after = stats(scratch, config);
    // 20 echo requests and replies of 128 bytes each, and whatever the
    // guest's kernel sent on its own meanwhile.
    for way in ["transmit", "receive"] {
        let grew = |what: &str| {
            counter(&after, "vm1", &format!("{way}.{what}"))
                - counter(&before, "vm1", &format!("{way}.{what}"))
        };
        assert!(
            grew("packets") >= 20,
            "vm1 {way}: {} packets",
            grew("packets")
        );
        assert!(
            grew("bytes") >= 20 * 128,
            "vm1 {way}: {} bytes",
            grew("bytes")
        );
    }
    let forged = "10.0.0.99";
    probed(guests[0].run_ok(&format!("ip addr add {forged}/32 dev eth0")));
    let clean = stats(scratch, config);
    let (code, out) = probed(guests[0].run(
        &format!("ping -c 5 -i 0.1 -W 1 -I {forged} {gateway}"),
        Duration::from_secs(20),
    ));
    assert_ne!(code, 0, "a forged source got answers: {out}");
    let spoofed = stats(scratch, config);
    let grew = |vm: &str| {
        counter(&spoofed, vm, "spoofed_drops.packets")
            - counter(&clean, vm, "spoofed_drops.packets")
    };
    assert_eq!((grew("vm1"), grew("vm2")), (5, 0), "spoofing drops counted");
    probed(guests[0].run_ok(&format!("ip addr del {forged}/32 dev eth0")));
}

/// [`SENT`] bytes from the host to `guest` through its limit arrive at the
/// limit within 15% (the bucket's burst is 1% of them): the limit holds on
/// QEMU's tap, and a TCG guest keeps up with it (it takes 40 Mbit/s
/// through a 40 Mbit/s limit here).
fn the_limit_holds_towards_a_guest(guest: &harness::Guest, address: IpAddr) {
    probed(guest.run_ok(&format!(
        "printf '#!/bin/sh\\ncat >/dev/null\\n' >/bin/sink && chmod +x /bin/sink && \
         (nc -ll -p {SINK_PORT} -e /bin/sink >/dev/null 2>&1 &)"
    )));
    let target = SocketAddr::new(address, SINK_PORT);
    let deadline = Instant::now() + PATIENCE;
    // The sink starts listening in the background.
    let mut stream = loop {
        match TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("could not probe: connect to {target}: {e}"),
        }
    };
    let started = Instant::now();
    let chunk = vec![0u8; 64 << 10];
    let mut left = SENT;
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n]).expect("sending to the sink");
        left -= n;
    }
    stream.shutdown(Shutdown::Write).expect("shutdown");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    // The sink closes when it has read everything.
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the sink's close");
    let elapsed = started.elapsed().as_secs_f64();
    let rate = SENT as f64 * 8.0 / elapsed;
    assert_near("TCP towards vm1 (QEMU), shaped", rate, LIMIT_BITS);
}

/// vm1 sends to the host as fast as it can for [`POLICED`]'s time: the
/// host receives the limit, counted once the policer's bucket (a second
/// at the rate) is spent.
fn the_policed_limit_holds_from_a_guest(guest: &harness::Guest, gateway: std::net::Ipv4Addr) {
    let listener = std::net::TcpListener::bind((gateway, HOST_SINK_PORT)).expect("host sink");
    let receiver = std::thread::spawn(move || receive_tcp(&listener, POLICED));
    let seconds = POLICED.send.as_secs();
    // `timeout` ends nc (status 143); what matters is what the host got.
    probed(guest.run(
        &format!("timeout {seconds} nc {gateway} {HOST_SINK_PORT} </dev/zero"),
        POLICED.send + Duration::from_secs(20),
    ));
    let rate = receiver.join().expect("the host's sink");
    assert_near("TCP from vm1 (QEMU), policed", rate, LIMIT_BITS);
}
