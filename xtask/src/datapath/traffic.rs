//! `xtask __traffic`: the guest side of the data-path bench. Opens two VMs'
//! taps as a VMM does (`blixard_tap::open_queues`), writes hand-built UDP
//! frames into vm1's and reads what the kernel forwards out of vm2's (or
//! out of the uplink, into a UDP socket in the sink namespace), answering
//! the host's ARP as a guest would.
//!
//! It runs as a child process of the bench, inside the namespace the bench
//! made, so that it can be pinned to one core, its CPU time read with
//! `getrusage` and its kernel time profiled with `perf record` without the
//! bench's own work in the figures. The kernel forwards a frame written to
//! a tap inside that `write()` (tun -> netif_receive_skb with bottom halves
//! off), so the tool's system time is the forwarding cost.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use blixard_addr::config::{DEFAULT_INTERFACE_TEMPLATE, DEFAULT_IPV6_POOL};
use blixard_addr::layout::{Layout, MacAddr, Vm};
use blixard_tap::{OpenOptions, open_queues};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::frame::{self, Flow};
pub use super::spec::{Args, Mode, Outcome, Target, quantile};

/// Frames written per burst before draining the receiving end: below the
/// tap's queue (txqueuelen 1000) and a UDP socket's default buffer.
const BURST: u64 = 64;
/// UDP ports of the flow (source in the guest, destination at the far end).
pub const GUEST_PORT: u16 = 40000;
pub const SINK_PORT: u16 = 9;
const WAIT: Duration = Duration::from_secs(1);
/// How long the first round trip may take (the host's ARP, a bridge
/// learning; seconds on a loaded machine at 4096 taps).
const WARM_UP: Duration = Duration::from_secs(10);

/// `xtask __traffic ARGS`: prints one JSON object (see [`Outcome::to_json`]),
/// with the round trips' quantiles.
pub fn main(args: &[String]) -> Result<()> {
    let args = Args::parse(args)?;
    if let Some(cpu) = args.cpu {
        let mut set = nix::sched::CpuSet::new();
        set.set(cpu).context("--cpu")?;
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
            .with_context(|| format!("pinning to CPU {cpu}"))?;
    }
    let out = run(&args)?;
    println!("{}", out.to_json());
    Ok(())
}

/// A guest behind a tap: the VMM's queue fd, the guest's addresses.
struct Guest {
    tap: File,
    vm: Vm,
}

enum Got {
    Seq(u64),
    Empty,
}

impl Guest {
    /// Opens the (single-queue) tap as a VMM does, with no vnet header:
    /// the frames are plain Ethernet. Looked up by name, not by a dump,
    /// which would cost seconds at 4096 taps.
    fn open(vm: Vm) -> Result<Guest> {
        let mut fds = open_queues(&vm.interface, 1, &OpenOptions::default())
            .with_context(|| format!("opening {} as a VMM", vm.interface))?;
        Ok(Guest {
            tap: File::from(fds.remove(0)),
            vm,
        })
    }

    fn write(&mut self, frame: &[u8]) -> Result<()> {
        let n = self
            .tap
            .write(frame)
            .with_context(|| format!("writing into {}", self.vm.interface))?;
        ensure!(n == frame.len(), "short write into {}", self.vm.interface);
        Ok(())
    }

    /// The next UDP frame to this guest's `port`, without blocking; ARP
    /// requests for the guest are answered on the way, other frames (IPv6
    /// neighbour discovery, MLD) are what a guest would ignore here.
    fn next(&mut self, buf: &mut [u8], port: u16) -> Result<Got> {
        loop {
            let n = match self.tap.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Got::Empty),
                Err(e) => return Err(e).context(format!("reading {}", self.vm.interface)),
            };
            let frame = &buf[..n];
            if let Some(seq) = frame::udp_seq(frame, self.vm.ipv4, port) {
                return Ok(Got::Seq(seq));
            }
            if let Some(reply) = frame::arp_reply(frame, self.vm.ipv4, self.vm.mac) {
                self.write(&reply)?;
            }
        }
    }
}

/// The far end of vm1's flow.
enum Far {
    Guest(Guest),
    Sink(UdpSocket),
}

impl Far {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Far::Guest(g) => g.tap.as_fd(),
            Far::Sink(s) => s.as_fd(),
        }
    }

    /// The next datagram of the flow and who sent it (the sink sees the
    /// masqueraded source).
    fn next(&mut self, buf: &mut [u8]) -> Result<Option<(u64, Option<SocketAddr>)>> {
        match self {
            Far::Guest(g) => Ok(match g.next(buf, GUEST_PORT + 1)? {
                Got::Seq(s) => Some((s, None)),
                Got::Empty => None,
            }),
            Far::Sink(sock) => match sock.recv_from(buf) {
                Ok((n, from)) => Ok(frame::seq_of_payload(&buf[..n]).map(|s| (s, Some(from)))),
                Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
                Err(e) => Err(e).context("receiving at the sink"),
            },
        }
    }
}

/// A link's MAC, from rtnetlink (`/sys/class/net` shows the namespace
/// sysfs was mounted in, not the caller's).
fn mac_of(dev: &str) -> Result<MacAddr> {
    let out = std::process::Command::new("ip")
        .args(["-j", "link", "show", "dev", dev])
        .output()
        .context("starting ip")?;
    ensure!(
        out.status.success(),
        "ip link show {dev}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let links: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    links[0]["address"]
        .as_str()
        .with_context(|| format!("{dev} has no MAC"))?
        .parse()
        .map_err(|e| anyhow::anyhow!("{dev}'s MAC: {e:?}"))
}

fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> Result<bool> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    Ok(poll(&mut fds, PollTimeout::from(ms)).context("poll")? > 0)
}

struct Setup {
    near: Guest,
    far: Far,
    /// vm1 -> far end.
    out: Flow,
    /// Far end -> vm1 (a guest's reply; the sink replies through its socket).
    back: Flow,
}

fn setup(args: &Args) -> Result<Setup> {
    let layout = Layout::new(args.pool, DEFAULT_IPV6_POOL, DEFAULT_INTERFACE_TEMPLATE)
        .context("the pool")?;
    let (vm1, vm2) = (layout.vm_at(1)?, layout.vm_at(2)?);
    // Routed: a guest sends to its gateway, the tap's own MAC. Bridged:
    // to the other guest's MAC, or the bridge's to leave the subnet.
    let gateway_mac = |tap: &str| mac_of(args.bridge.as_deref().unwrap_or(tap));
    let near_mac = gateway_mac(&vm1.interface)?;
    let (far, out_dst, back) = match &args.target {
        Target::Vm => {
            let dst_mac = if args.bridge.is_some() {
                vm2.mac
            } else {
                near_mac
            };
            let back_mac = if args.bridge.is_some() {
                vm1.mac
            } else {
                gateway_mac(&vm2.interface)?
            };
            let back = Flow {
                src_mac: vm2.mac,
                dst_mac: back_mac,
                src_ip: vm2.ipv4,
                dst_ip: vm1.ipv4,
                src_port: GUEST_PORT + 1,
                dst_port: GUEST_PORT,
            };
            let ip = vm2.ipv4;
            (
                Far::Guest(Guest::open(vm2)?),
                (dst_mac, ip, GUEST_PORT + 1),
                back,
            )
        }
        Target::Uplink { ip, netns } => {
            let ns: blixard_netns::Netns = netns.parse().context("--sink-netns")?;
            let sock = blixard_netns::run_in(&ns, || UdpSocket::bind((*ip, SINK_PORT)))
                .context("entering the sink namespace")?
                .with_context(|| format!("binding {ip}:{SINK_PORT} in the sink namespace"))?;
            sock.set_nonblocking(true)?;
            // Unused: the sink answers through its socket.
            let back = Flow {
                src_mac: near_mac,
                dst_mac: vm1.mac,
                src_ip: *ip,
                dst_ip: vm1.ipv4,
                src_port: SINK_PORT,
                dst_port: GUEST_PORT,
            };
            (Far::Sink(sock), (near_mac, *ip, SINK_PORT), back)
        }
    };
    let out = Flow {
        src_mac: vm1.mac,
        dst_mac: out_dst.0,
        src_ip: vm1.ipv4,
        dst_ip: out_dst.1,
        src_port: GUEST_PORT,
        dst_port: out_dst.2,
    };
    Ok(Setup {
        near: Guest::open(vm1)?,
        far,
        out,
        back,
    })
}

/// Sends `seq` out and waits for it at the far end; `Ok(None)` when it did
/// not arrive within `WAIT`.
fn there(
    s: &mut Setup,
    frame: &mut [u8],
    buf: &mut [u8],
    seq: u64,
) -> Result<Option<Option<SocketAddr>>> {
    frame::set_seq(frame, seq);
    s.near.write(frame)?;
    let deadline = Instant::now() + WAIT;
    loop {
        // The near guest answers the host's ARP for it meanwhile.
        let _ = s.near.next(buf, GUEST_PORT)?;
        match s.far.next(buf)? {
            Some((got, from)) if got == seq => return Ok(Some(from)),
            Some(_) => continue,
            None => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        wait_readable(s.far.fd(), left.min(Duration::from_millis(10)))?;
    }
}

/// Sends `seq` back from the far end and waits for it at vm1.
fn back(
    s: &mut Setup,
    reply: &mut [u8],
    buf: &mut [u8],
    seq: u64,
    from: Option<SocketAddr>,
) -> Result<bool> {
    match (&mut s.far, from) {
        (Far::Guest(g), _) => {
            frame::set_seq(reply, seq);
            g.write(reply)?;
        }
        (Far::Sink(sock), Some(to)) => {
            frame::set_seq(reply, seq);
            sock.send_to(frame::payload(reply), to)
                .context("replying from the sink")?;
        }
        (Far::Sink(_), None) => bail!("the sink got a datagram without a source"),
    }
    let deadline = Instant::now() + WAIT;
    loop {
        if let Far::Guest(g) = &mut s.far {
            // The far guest answers the host's ARP for it meanwhile.
            let _ = g.next(buf, GUEST_PORT + 1)?;
        }
        match s.near.next(buf, GUEST_PORT)? {
            Got::Seq(got) if got == seq => return Ok(true),
            Got::Seq(_) => continue,
            Got::Empty => {}
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        wait_readable(s.near.tap.as_fd(), left.min(Duration::from_millis(10)))?;
    }
}

fn cpu_now() -> Result<f64> {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
        .context("getrusage")?;
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(secs(u.user_time()) + secs(u.system_time()))
}

pub fn run(args: &Args) -> Result<Outcome> {
    let mut s = setup(args)?;
    let mut frame = frame::udp(&s.out, args.size)?;
    let mut reply = frame::udp(&s.back, args.size)?;
    let mut buf = vec![0u8; 65536];
    // Warm-up: the first frames wait for the host's ARP (and teach a
    // bridge where each guest is); a round trip proves both directions.
    let warm_deadline = Instant::now() + WARM_UP;
    let mut seq = 1u64 << 62;
    loop {
        seq += 1;
        if let Some(from) = there(&mut s, &mut frame, &mut buf, seq)?
            && back(&mut s, &mut reply, &mut buf, seq, from)?
        {
            break;
        }
        if Instant::now() >= warm_deadline {
            // What the host knows of the guests, to tell a lost ARP from a
            // dropped frame.
            let neigh = std::process::Command::new("ip")
                .args(["neigh", "show"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            bail!(
                "no round trip through the path in {} s (vm1 -> {:?}); the host's neighbours:\n{neigh}",
                WARM_UP.as_secs(),
                args.target
            );
        }
    }
    match args.mode {
        Mode::Rate => rate(&mut s, &mut frame, &mut buf, args.secs),
        Mode::PingPong => ping_pong(&mut s, &mut frame, &mut reply, &mut buf, args),
    }
}

fn rate(s: &mut Setup, frame: &mut [u8], buf: &mut [u8], secs: f64) -> Result<Outcome> {
    let (mut sent, mut received) = (0u64, 0u64);
    let cpu0 = cpu_now()?;
    let start = Instant::now();
    let window = Duration::from_secs_f64(secs);
    let mut bursts = 0u64;
    while start.elapsed() < window {
        for _ in 0..BURST {
            frame::set_seq(frame, sent);
            s.near.write(frame)?;
            sent += 1;
        }
        while s.far.next(buf)?.is_some() {
            received += 1;
        }
        bursts += 1;
        if bursts.is_multiple_of(256) {
            // The host may ask for vm1 (a neighbour probe) at any time.
            let _ = s.near.next(buf, GUEST_PORT)?;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_secs = cpu_now()? - cpu0;
    // Stragglers (a queue the kernel drains later) are not lost, but not
    // forwarded within the window either.
    let mut late = 0;
    while wait_readable(s.far.fd(), Duration::from_millis(100))? {
        let mut any = false;
        while s.far.next(buf)?.is_some() {
            late += 1;
            any = true;
        }
        if !any {
            break;
        }
    }
    Ok(Outcome {
        sent,
        received,
        lost: sent.saturating_sub(received + late),
        secs: elapsed,
        cpu_secs,
        ..Outcome::default()
    })
}

fn ping_pong(
    s: &mut Setup,
    frame: &mut [u8],
    reply: &mut [u8],
    buf: &mut [u8],
    args: &Args,
) -> Result<Outcome> {
    let mut rtt = Vec::with_capacity(args.rounds);
    let (mut sent, mut lost) = (0u64, 0u64);
    let cpu0 = cpu_now()?;
    let start = Instant::now();
    let budget = Duration::from_secs_f64(args.secs.max(0.1) * 5.0);
    for seq in 0..args.rounds as u64 {
        if start.elapsed() > budget {
            break;
        }
        let t0 = Instant::now();
        sent += 1;
        let Some(from) = there(s, frame, buf, seq)? else {
            lost += 1;
            continue;
        };
        if !back(s, reply, buf, seq, from)? {
            lost += 1;
            continue;
        }
        rtt.push(t0.elapsed().as_secs_f64() * 1e6);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu_secs = cpu_now()? - cpu0;
    rtt.sort_by(f64::total_cmp);
    Ok(Outcome {
        sent,
        received: sent - lost,
        lost,
        secs,
        cpu_secs,
        rtt_count: rtt.len(),
        p50_us: quantile(&rtt, 0.5),
        p99_us: quantile(&rtt, 0.99),
    })
}
