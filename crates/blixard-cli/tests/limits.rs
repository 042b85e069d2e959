//! Bandwidth limits (issue 15, part 2) end to end: the real binary applies
//! `[limits]` in a fresh namespace, a guest behind the stand-in VMM
//! receives TCP and UDP from the host and sends them to it, and the rate
//! measured is the limit within 15% each way; a changed limit is applied in
//! place (the tap and its ifb keep their ifindex); `status` names a limit removed by hand; a root qdisc that is
//! not ours is a conflict that changes nothing; `wire` applies a VM's limit
//! and `down` leaves nothing behind.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use blixard_addr::Config;
use blixard_addr::planner::{HostFacts, build_plan};
use blixard_addr::render::{self, GuestNetwork};
use blixard_host::testbed::Guest;
use blixard_netns::Netns;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{Scratch, cli, exits, ok};

/// Two VMs with `limits` (the body of `[limits]` and what follows).
fn with_limits(limits: &str) -> String {
    format!("vms = 2\nowner = \"root\"\nexternal_interface = \"none\"\n\n[limits]\n{limits}")
}

/// `rate` towards every VM, vm2 an override of its own.
fn config(rate: &str) -> String {
    with_limits(&format!(
        "ingress = {{ rate = \"{rate}\" }}\n[limits.vms.vm2]\ningress = {{ rate = \"200mbit\", burst = \"64k\" }}\n"
    ))
}

/// How long each measurement sends, and how much of its start (the burst,
/// TCP's slow start) is left out of the rate.
const SEND: Duration = Duration::from_millis(2500);
const WARM_UP: Duration = Duration::from_millis(500);
const PORT: u16 = 7171;

fn start_guest(toml: &str) -> Guest {
    let config = Config::from_toml_str(toml, "test").unwrap();
    let plan = build_plan(&config, &HostFacts::default()).unwrap();
    let link = &plan.links[0];
    let network = GuestNetwork::new(&plan, link.vm.clone());
    Guest::start(&link.vm, 1, &render::ip_commands(&network).join(" && ")).unwrap()
}

/// Bytes a reader counts after the warm-up, per second.
struct Meter {
    first: Option<Instant>,
    counted: u64,
    last: Instant,
}

impl Meter {
    fn new() -> Self {
        Meter {
            first: None,
            counted: 0,
            last: Instant::now(),
        }
    }

    fn add(&mut self, bytes: usize) {
        let now = Instant::now();
        let first = *self.first.get_or_insert(now);
        if now.duration_since(first) >= WARM_UP {
            self.counted += bytes as u64;
            self.last = now;
        }
    }

    /// Bits per second over the counted part.
    fn bits_per_second(&self) -> f64 {
        let first = self.first.expect("nothing arrived") + WARM_UP;
        let window = self.last.duration_since(first).as_secs_f64();
        assert!(window > 1.0, "only {window:.2} s of traffic counted");
        self.counted as f64 * 8.0 / window
    }
}

/// TCP from the host to the guest at full speed for [`SEND`]: the rate
/// the guest received.
fn tcp_towards(guest: &Netns) -> f64 {
    let listener = blixard_netns::run_in(guest, || TcpListener::bind(("0.0.0.0", PORT)))
        .unwrap()
        .unwrap();
    let receiver = std::thread::spawn(move || receive_tcp(&listener));
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([10, 0, 0, 1], PORT)),
        Duration::from_secs(5),
    )
    .unwrap();
    send_tcp(&mut stream);
    drop(stream);
    receiver.join().unwrap()
}

/// TCP from the guest to the host at full speed for [`SEND`]: the rate
/// the host received.
fn tcp_from(guest: &Netns) -> f64 {
    let listener = TcpListener::bind(("10.0.0.0", PORT)).unwrap();
    let receiver = std::thread::spawn(move || receive_tcp(&listener));
    let mut stream = blixard_netns::run_in(guest, || {
        TcpStream::connect_timeout(
            &SocketAddr::from(([10, 0, 0, 0], PORT)),
            Duration::from_secs(5),
        )
    })
    .unwrap()
    .unwrap();
    send_tcp(&mut stream);
    drop(stream);
    receiver.join().unwrap()
}

/// The rate of the first connection to `listener`, until it closes.
fn receive_tcp(listener: &TcpListener) -> f64 {
    let (mut stream, _) = listener.accept().unwrap();
    let mut meter = Meter::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match stream.read(&mut buf).unwrap() {
            0 => return meter.bits_per_second(),
            n => meter.add(n),
        }
    }
}

fn send_tcp(stream: &mut TcpStream) {
    let chunk = vec![0x5au8; 64 << 10];
    let start = Instant::now();
    while start.elapsed() < SEND {
        stream.write_all(&chunk).unwrap();
    }
}

/// UDP from the host to the guest at twice `limit` for [`SEND`]: the rate
/// the guest received (what the shaper let through).
fn udp_towards(guest: &Netns, limit: f64) -> f64 {
    let socket = blixard_netns::run_in(guest, || UdpSocket::bind(("0.0.0.0", PORT)))
        .unwrap()
        .unwrap();
    let sender = UdpSocket::bind(("0.0.0.0", 0)).unwrap();
    udp(socket, sender, "10.0.0.1", limit)
}

/// UDP from the guest to the host at twice `limit`: the rate the host
/// received.
fn udp_from(guest: &Netns, limit: f64) -> f64 {
    let socket = UdpSocket::bind(("10.0.0.0", PORT)).unwrap();
    let sender = blixard_netns::run_in(guest, || UdpSocket::bind(("0.0.0.0", 0)))
        .unwrap()
        .unwrap();
    udp(socket, sender, "10.0.0.0", limit)
}

/// Datagrams from `sender` to `to` at twice `limit` for [`SEND`], paced:
/// the rate `socket` received.
fn udp(socket: UdpSocket, sender: UdpSocket, to: &str, limit: f64) -> f64 {
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let receiver = std::thread::spawn(move || {
        let mut meter = Meter::new();
        let mut buf = vec![0u8; 2048];
        // The sender's end is the first silence after traffic began.
        while let Ok(n) = socket.recv(&mut buf) {
            meter.add(n);
        }
        meter.bits_per_second()
    });
    let datagram = vec![0xa5u8; 1200];
    let per_ms = (2.0 * limit / 8.0 / 1200.0 / 1000.0).ceil() as u64;
    let start = Instant::now();
    let mut sent_ms = 0;
    while start.elapsed() < SEND {
        // Paced per millisecond: a flood would only burn the CPU that
        // the stand-in VMM needs.
        let due = start.elapsed().as_millis() as u64;
        while sent_ms < due {
            for _ in 0..per_ms {
                // A full queue refuses some: that is the shaper at work.
                let _ = sender.send_to(&datagram, (to, PORT));
            }
            sent_ms += 1;
        }
        std::thread::yield_now();
    }
    receiver.join().unwrap()
}

fn assert_near(what: &str, measured: f64, limit: f64) {
    let ratio = measured / limit;
    eprintln!(
        "{what}: {:.2} Mbit/s against a limit of {:.2} Mbit/s ({:+.1}%)",
        measured / 1e6,
        limit / 1e6,
        (ratio - 1.0) * 100.0
    );
    assert!(
        (0.85..=1.15).contains(&ratio),
        "{what}: {:.2} Mbit/s is not within 15% of {:.2} Mbit/s",
        measured / 1e6,
        limit / 1e6
    );
}

fn ifindex(name: &str) -> String {
    sh_ok(&format!("ip -o link show {name} | cut -d: -f1"))
}

#[test]
fn a_limit_towards_the_vm_holds_for_tcp_and_udp_and_changes_in_place() {
    in_fresh_netns("a_limit_towards_the_vm", || {
        let scratch = Scratch::new("limits-rate");
        sh_ok("ip link set lo up");
        let path = scratch.config(&config("20mbit"));
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);
        let qdisc = sh_ok("tc qdisc show dev vm1");
        assert!(
            qdisc.contains("tbf b1a: root") && qdisc.contains("rate 20Mbit"),
            "{qdisc}"
        );
        assert!(sh_ok("tc qdisc show dev vm2").contains("rate 200Mbit burst 64Kb"));
        let guest = start_guest(&config("20mbit"));
        let ns = guest.ns.netns();
        assert_near("TCP towards vm1", tcp_towards(&ns), 20e6);
        assert_near("UDP towards vm1", udp_towards(&ns, 20e6), 20e6);

        // Changed in the config: replaced in place, the tap stays.
        let before = ifindex("vm1");
        std::fs::write(&path, config("8mbit")).unwrap();
        let changed = ok(cli(&scratch, &path, &["apply"]));
        assert!(
            changed.contains("set limit on vm1: root qdisc tbf rate 8mbit"),
            "{changed}"
        );
        assert_eq!(common::changes_made(&changed), 1, "{changed}");
        assert_eq!(ifindex("vm1"), before, "the tap was recreated");
        assert!(guest.relay().is_running());
        assert_near("TCP towards vm1 after the change", tcp_towards(&ns), 8e6);
    });
}

/// `rate` from every VM.
fn egress_config(rate: &str) -> String {
    with_limits(&format!("egress = {{ rate = \"{rate}\" }}\n"))
}

#[test]
fn a_limit_from_the_vm_holds_for_tcp_and_udp_and_changes_in_place() {
    in_fresh_netns("a_limit_from_the_vm", || {
        let scratch = Scratch::new("limits-egress");
        sh_ok("ip link set lo up");
        let path = scratch.config(&egress_config("20mbit"));
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);
        assert!(sh_ok("tc qdisc show dev bxifb1").contains("tbf b1a: root"));
        assert!(sh_ok("tc filter show dev vm1 ingress").contains("Redirect to device bxifb1"));
        let guest = start_guest(&egress_config("20mbit"));
        let ns = guest.ns.netns();
        assert_near("TCP from vm1", tcp_from(&ns), 20e6);
        assert_near("UDP from vm1", udp_from(&ns, 20e6), 20e6);

        let (tap, ifb) = (ifindex("vm1"), ifindex("bxifb1"));
        std::fs::write(&path, egress_config("8mbit")).unwrap();
        let changed = ok(cli(&scratch, &path, &["apply"]));
        assert!(
            changed.contains("set limit on bxifb1: root qdisc tbf rate 8mbit"),
            "{changed}"
        );
        assert_eq!(common::changes_made(&changed), 2, "{changed}");
        assert_eq!((ifindex("vm1"), ifindex("bxifb1")), (tap, ifb), "recreated");
        assert!(guest.relay().is_running());
        assert_near("TCP from vm1 after the change", tcp_from(&ns), 8e6);

        // Dropped: the redirect and the ifb go, the VM sends unlimited.
        std::fs::write(&path, egress_config("8mbit").replace("egress", "# egress")).unwrap();
        ok(cli(&scratch, &path, &["apply"]));
        assert_eq!(sh_ok("ip -o link show type ifb").trim(), "");
        assert!(!sh_ok("tc qdisc show dev vm1").contains("ingress"));
        exits(cli(&scratch, &path, &["status"]), 0);
    });
}

#[test]
fn limit_drift_conflicts_wire_and_down() {
    in_fresh_netns("limit_drift_conflicts_wire_and_down", || {
        let scratch = Scratch::new("limits-drift");
        sh_ok("ip link set lo up");
        let path = scratch.config(&config("20mbit"));
        ok(cli(&scratch, &path, &["apply"]));

        // Removed by hand: status names it, apply puts it back.
        sh_ok("tc qdisc del dev vm1 root");
        let status = exits(cli(&scratch, &path, &["status"]), 3);
        assert!(
            status.contains("set limit on vm1: root qdisc tbf rate 20mbit"),
            "{status}"
        );
        // Changed by hand: the same.
        sh_ok("tc qdisc change dev vm2 root handle b1a: tbf rate 1mbit burst 64k latency 50ms");
        let status = exits(cli(&scratch, &path, &["status"]), 3);
        assert!(status.contains("set limit on vm2"), "{status}");
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);

        // Someone else's root qdisc is never replaced: exit 2, nothing changed.
        sh_ok("tc qdisc replace dev vm1 root handle 1: htb");
        let refused = exits(cli(&scratch, &path, &["apply"]), 2);
        assert!(
            refused.contains("tap vm1 has a root qdisc htb 1:"),
            "{refused}"
        );
        assert!(refused.contains("limits"), "{refused}");
        assert!(sh_ok("tc qdisc show dev vm1").contains("htb 1: root"));
        sh_ok("tc qdisc del dev vm1 root");

        // The ifb of a limit from the VM deleted by hand: made again, and
        // the redirect follows it to its new ifindex.
        std::fs::write(
            &path,
            config("20mbit").replace("[limits]", "[limits]\negress = { rate = \"5mbit\" }"),
        )
        .unwrap();
        ok(cli(&scratch, &path, &["apply"]));
        sh_ok("ip link del bxifb1");
        let status = exits(cli(&scratch, &path, &["status"]), 3);
        assert!(status.contains("create ifb bxifb1"), "{status}");
        ok(cli(&scratch, &path, &["apply"]));
        exits(cli(&scratch, &path, &["status"]), 0);
        assert!(sh_ok("tc filter show dev vm1 ingress").contains("Redirect to device bxifb1"));

        // wire applies the VM's limits; unwire and down leave nothing.
        ok(cli(&scratch, &path, &["unwire", "1"]));
        assert_eq!(
            sh_ok("ip -o link show bxifb1 2>/dev/null || true").trim(),
            ""
        );
        let wired = ok(cli(&scratch, &path, &["wire", "1"]));
        assert!(wired.contains("set limit on vm1"), "{wired}");
        assert!(
            wired.contains("redirect what vm1's VM sends to bxifb1"),
            "{wired}"
        );
        let again = ok(cli(&scratch, &path, &["wire", "1"]));
        assert!(again.contains("no change"), "{again}");
        ok(cli(&scratch, &path, &["down"]));
        assert_eq!(sh_ok("tc qdisc show | grep b1a: || true").trim(), "");
        assert_eq!(sh_ok("ip -o link show group 2833").trim(), "");
    });
}

#[test]
fn a_bad_limit_names_file_line_and_key_and_changes_nothing() {
    in_fresh_netns("a_bad_limit_names_its_key", || {
        let scratch = Scratch::new("limits-bad");
        let path = scratch.config(&config("lots"));
        let before = common::snapshot();
        let out = exits(cli(&scratch, &path, &["apply"]), 2);
        assert!(
            out.contains(&format!(
                "{}:6:13: limits.ingress.rate: \"lots\" is not a rate",
                path.display()
            )),
            "{out}"
        );
        common::assert_unchanged(&before, &common::snapshot(), "a refused apply");
    });
}
