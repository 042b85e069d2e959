//! Rates measured through the stand-in VMM, for the limits suites: TCP and
//! UDP each way between the host and a guest, the rate counted after a
//! warm-up, and the check that it is the limit within 15%.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use blixard_addr::Config;
use blixard_addr::planner::{HostFacts, build_plan};
use blixard_addr::render::{self, GuestNetwork};
use blixard_host::testbed::Guest;
use blixard_netns::Netns;

/// How long a measurement sends, and how much of its start is left out
/// of the rate.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The sender's time.
    pub send: Duration,
    /// Left out: what the bucket held when the sender started, and TCP's
    /// slow start.
    pub warm_up: Duration,
}

/// A shaper's (`tbf`): its bucket is the burst alone.
pub const SHAPED: Window = Window {
    send: Duration::from_millis(2500),
    warm_up: Duration::from_millis(500),
};

/// A policer's: nft's bucket holds one second at the rate beyond the
/// burst (the kernel's `nft_limit` sizes it `rate + burst` per unit, and
/// the unit is at least a second), so a sender that starts after a pause
/// gets up to a second's worth through at once. UDP at twice the rate
/// drains it in about a second: the first 1.5 s are left out, and the
/// steady rate is what is measured.
pub const POLICED: Window = Window {
    send: Duration::from_millis(4000),
    warm_up: Duration::from_millis(1500),
};

const PORT: u16 = 7171;

/// The first VM of `toml` behind the stand-in VMM.
pub fn start_guest(toml: &str) -> Guest {
    start_guest_of(toml, 0)
}

/// The `nth` VM of `toml` (from 0) behind the stand-in VMM.
pub fn start_guest_of(toml: &str, nth: usize) -> Guest {
    let config = Config::from_toml_str(toml, "test").unwrap();
    let plan = build_plan(&config, &HostFacts::default()).unwrap();
    let link = &plan.links[nth];
    let network = GuestNetwork::new(&plan, link.vm.clone());
    Guest::start(&link.vm, 1, &render::ip_commands(&network).join(" && ")).unwrap()
}

/// Bytes a reader counts after the warm-up, per second.
struct Meter {
    warm_up: Duration,
    first: Option<Instant>,
    counted: u64,
    last: Instant,
}

impl Meter {
    fn new(window: Window) -> Self {
        Meter {
            warm_up: window.warm_up,
            first: None,
            counted: 0,
            last: Instant::now(),
        }
    }

    fn add(&mut self, bytes: usize) {
        let now = Instant::now();
        let first = *self.first.get_or_insert(now);
        if now.duration_since(first) >= self.warm_up {
            self.counted += bytes as u64;
            self.last = now;
        }
    }

    /// Bits per second over the counted part.
    fn bits_per_second(&self) -> f64 {
        let first = self.first.expect("nothing arrived") + self.warm_up;
        let window = self.last.duration_since(first).as_secs_f64();
        assert!(window > 1.0, "only {window:.2} s of traffic counted");
        self.counted as f64 * 8.0 / window
    }
}

/// TCP from the host to the guest at full speed: the rate the guest
/// received.
pub fn tcp_towards(guest: &Netns, window: Window) -> f64 {
    let listener = blixard_netns::run_in(guest, || TcpListener::bind(("0.0.0.0", PORT)))
        .unwrap()
        .unwrap();
    let receiver = std::thread::spawn(move || receive_tcp(&listener, window));
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([10, 0, 0, 1], PORT)),
        Duration::from_secs(5),
    )
    .unwrap();
    send_tcp(&mut stream, window);
    drop(stream);
    receiver.join().unwrap()
}

/// TCP from the guest to the host at full speed: the rate the host
/// received.
pub fn tcp_from(guest: &Netns, window: Window) -> f64 {
    let listener = TcpListener::bind(("10.0.0.0", PORT)).unwrap();
    let receiver = std::thread::spawn(move || receive_tcp(&listener, window));
    let mut stream = blixard_netns::run_in(guest, || {
        TcpStream::connect_timeout(
            &SocketAddr::from(([10, 0, 0, 0], PORT)),
            Duration::from_secs(5),
        )
    })
    .unwrap()
    .unwrap();
    send_tcp(&mut stream, window);
    drop(stream);
    receiver.join().unwrap()
}

/// The rate of the first connection to `listener`, until it closes.
pub fn receive_tcp(listener: &TcpListener, window: Window) -> f64 {
    let (mut stream, _) = listener.accept().unwrap();
    let mut meter = Meter::new(window);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match stream.read(&mut buf).unwrap() {
            0 => return meter.bits_per_second(),
            n => meter.add(n),
        }
    }
}

fn send_tcp(stream: &mut TcpStream, window: Window) {
    let chunk = vec![0x5au8; 64 << 10];
    let start = Instant::now();
    while start.elapsed() < window.send {
        stream.write_all(&chunk).unwrap();
    }
}

/// UDP from the host to the guest at twice `limit`: the rate the guest
/// received (what the shaper let through).
pub fn udp_towards(guest: &Netns, limit: f64, window: Window) -> f64 {
    let socket = blixard_netns::run_in(guest, || UdpSocket::bind(("0.0.0.0", PORT)))
        .unwrap()
        .unwrap();
    let sender = UdpSocket::bind(("0.0.0.0", 0)).unwrap();
    udp(socket, sender, "10.0.0.1", limit, window)
}

/// UDP from the guest to the host at twice `limit`: the rate the host
/// received.
pub fn udp_from(guest: &Netns, limit: f64, window: Window) -> f64 {
    let socket = UdpSocket::bind(("10.0.0.0", PORT)).unwrap();
    let sender = blixard_netns::run_in(guest, || UdpSocket::bind(("0.0.0.0", 0)))
        .unwrap()
        .unwrap();
    udp(socket, sender, "10.0.0.0", limit, window)
}

/// Datagrams from `sender` to `to` at twice `limit`, paced: the rate
/// `socket` received.
fn udp(socket: UdpSocket, sender: UdpSocket, to: &str, limit: f64, window: Window) -> f64 {
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let receiver = std::thread::spawn(move || {
        let mut meter = Meter::new(window);
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
    while start.elapsed() < window.send {
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

/// The ifindex of link `name`: the same after a change means the link
/// was kept.
pub fn ifindex(name: &str) -> String {
    blixard_netns::testing::sh_ok(&format!("ip -o link show {name} | cut -d: -f1"))
}

/// That `measured` is `limit` within 15%.
pub fn assert_near(what: &str, measured: f64, limit: f64) {
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
