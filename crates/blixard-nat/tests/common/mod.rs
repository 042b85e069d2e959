//! Shared test fixtures: plans built by hand and a "host" namespace with
//! veth-backed stand-in VMs and an upstream network.
#![allow(dead_code)]

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use blixard_addr::VmIndex;
use blixard_addr::config::{Action, Config, Protocol, RuleConfig, Selector, VmSelection};
use blixard_addr::plan::{FirewallPlan, FirewallRule, FirewallVm, RuleChain};
use blixard_addr::planner::{HostFacts, build_plan};
use blixard_netns::testing::{NetnsHolder, sh_ok};

pub const TABLE: &str = "blixard";

pub fn vm(i: u32) -> FirewallVm {
    FirewallVm {
        index: VmIndex::new(i).unwrap(),
        interface: format!("vm{i}"),
        ipv4: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i),
        ipv6: Some(Ipv6Addr::from(
            u128::from("fec0::".parse::<Ipv6Addr>().unwrap()) + u128::from(i),
        )),
        police: None,
    }
}

/// The seed's policy for VMs `1..=n`; pool /16 so thousands fit.
pub fn plan(n: u32, ext: Option<&str>) -> FirewallPlan {
    FirewallPlan {
        table: TABLE.into(),
        external_interface: ext.map(Into::into),
        ipv4_pool: if n > 254 {
            "10.0.0.0/16".parse().unwrap()
        } else {
            "10.0.0.0/24".parse().unwrap()
        },
        ipv6_pool: Some("fec0::/64".parse().unwrap()),
        masquerade_ipv4: true,
        masquerade_ipv6: true,
        anti_spoofing: true,
        inbound_default: Action::Drop,
        host_input_default: Action::Accept,
        host_ports: vec![53],
        allow_networks: Vec::new(),
        vms: (1..=n).map(vm).collect(),
        rules: Vec::new(),
        cluster: false,
        forwards: Vec::new(),
        police: Vec::new(),
    }
}

/// The seed's two example rules.
pub fn seed_rules() -> Vec<FirewallRule> {
    vec![
        FirewallRule {
            from: Selector::Vms(vec!["vm1".into()]),
            to: Selector::Vms(vec!["vm2".into()]),
            protocol: None,
            port: None,
            action: Action::Drop,
            chains: vec![RuleChain::Forward],
        },
        FirewallRule {
            from: Selector::External,
            to: Selector::Vms(vec!["vm3".into()]),
            protocol: Some(Protocol::Tcp),
            port: Some(22),
            action: Action::Accept,
            chains: vec![RuleChain::Forward],
        },
    ]
}

/// Stand-in VMs (veth `vmN` <-> `eth0` in a guest namespace) and an upstream
/// namespace behind `ext0`, wired the routed way, in the calling thread's
/// (fresh) namespace.
pub struct Topology {
    pub guests: Vec<NetnsHolder>,
    pub upstream: NetnsHolder,
}

pub const UPSTREAM_V4: &str = "192.0.2.2";
pub const UPSTREAM_V6: &str = "2001:db8::2";
pub const HOST_EXT_V4: &str = "192.0.2.1";
pub const HOST_EXT_V6: &str = "2001:db8::1";

impl Topology {
    pub fn new(n: u32) -> Topology {
        // No DAD anywhere: addresses usable at once, no sleeps needed.
        sh_ok(
            "sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 \
             net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
             net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 && ip link set lo up",
        );
        let mut guests = Vec::new();
        for i in 1..=n {
            let g = NetnsHolder::spawn().unwrap();
            g.sh_ok("sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 && ip link set lo up");
            sh_ok(&format!(
                "ip link add vm{i} type veth peer name eth0 netns {pid} && \
                 ip addr add 10.0.0.0/32 dev vm{i} && ip -6 addr add fec0::/128 dev vm{i} nodad && \
                 ip link set vm{i} up && ip route add 10.0.0.{i}/32 dev vm{i} && \
                 ip -6 route add fec0::{i:x}/128 dev vm{i}",
                pid = g.pid()
            ));
            g.sh_ok(&format!(
                "ip addr add 10.0.0.{i}/32 dev eth0 && ip -6 addr add fec0::{i:x}/128 dev eth0 nodad && \
                 ip link set eth0 up && ip route add 10.0.0.0/32 dev eth0 && \
                 ip route add default via 10.0.0.0 dev eth0 onlink && \
                 ip -6 route add default via fec0:: dev eth0 onlink"
            ));
            guests.push(g);
        }
        let upstream = NetnsHolder::spawn().unwrap();
        upstream.sh_ok("sysctl -qw net.ipv6.conf.default.accept_dad=0 && ip link set lo up");
        sh_ok(&format!(
            "ip link add ext0 type veth peer name up0 netns {pid} && \
             ip addr add {HOST_EXT_V4}/24 dev ext0 && ip -6 addr add {HOST_EXT_V6}/64 dev ext0 nodad && \
             ip link set ext0 up",
            pid = upstream.pid()
        ));
        upstream.sh_ok(&format!(
            "ip addr add {UPSTREAM_V4}/24 dev up0 && ip -6 addr add {UPSTREAM_V6}/64 dev up0 nodad && \
             ip link set up0 up"
        ));
        Topology { guests, upstream }
    }

    pub fn guest(&self, i: u32) -> &NetnsHolder {
        &self.guests[i as usize - 1]
    }
}

/// One ping with a short timeout, retried until `deadline` so that a first
/// lost packet during neighbour resolution is not mistaken for a block.
pub fn ping(ns: &NetnsHolder, args: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        if ns.sh(&format!("ping -n -c1 -W1 {args}")).status.success() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
    }
}

/// A listener inside `ns`; the socket stays in that namespace.
pub fn listen(ns: &NetnsHolder, addr: &str) -> TcpListener {
    let addr: SocketAddr = addr.parse().unwrap();
    blixard_netns::run_in(&ns.netns(), move || bind(addr)).unwrap()
}

/// Binds a listener in the calling thread's namespace. The previous
/// probe's sockets on the same port may still be closing (their FINs cross
/// namespaces asynchronously) and make the bind fail with EADDRINUSE for a
/// moment: wait that out.
pub fn bind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("listen on {addr}: {e}"),
        }
    }
}

/// Connects from inside `ns`; `Some(peer address as the listener saw it)`.
pub fn tcp(ns: &NetnsHolder, listener: &TcpListener, to: &str) -> Option<SocketAddr> {
    let to: SocketAddr = to.parse().unwrap();
    let stream = blixard_netns::run_in(&ns.netns(), move || {
        TcpStream::connect_timeout(&to, Duration::from_secs(2))
    })
    .unwrap();
    let stream = stream.ok()?;
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match listener.accept() {
            Ok((_, peer)) => {
                drop(stream);
                return Some(peer);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "connected but never accepted");
                std::thread::yield_now();
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Packet count of the first rule in `chain` of `table` (in `ns` or here)
/// whose text contains `needle`, read from `nft -a list` output.
pub fn counter(out: &str, needle: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.contains(needle) && l.contains("counter packets"))
        .unwrap_or_else(|| panic!("no counter rule containing {needle:?} in:\n{out}"));
    let after = line.split("counter packets ").nth(1).unwrap();
    after.split_whitespace().next().unwrap().parse().unwrap()
}

/// The planner's firewall for VMs `1..=n` behind `ext0`, with `rules`: the
/// kernel tests go through the planner because where a rule is placed is
/// its decision, not the renderer's.
pub fn planned(n: u32, rules: Vec<RuleConfig>, tweak: impl FnOnce(&mut Config)) -> FirewallPlan {
    let mut c = Config {
        vms: VmSelection::Count(n),
        ..Config::default()
    };
    c.firewall.rules = rules;
    tweak(&mut c);
    let facts = HostFacts {
        external_interface: Some("ext0".into()),
        ..HostFacts::default()
    };
    build_plan(&c, &facts).unwrap().firewall
}

/// A rule from the config's point of view; a port means TCP.
pub fn rule(from: &str, to: &str, port: Option<u16>, action: Action) -> RuleConfig {
    RuleConfig {
        from: from.into(),
        to: to.into(),
        action,
        protocol: port.map(|_| Protocol::Tcp),
        port,
    }
}

/// One end of a probe: a guest, the host (the test's own namespace) or
/// the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Guest N.
    Vm(u32),
    /// The host namespace.
    Host,
    /// The upstream namespace behind `ext0`.
    Up,
}

/// How long a connection may take before it counts as dropped: everything
/// here is one veth hop away, an answer takes milliseconds.
pub const DROPPED_AFTER: Duration = Duration::from_millis(1000);

/// A TCP connection from `from` to a fresh listener in `to`'s namespace at
/// `addr`: the peer address as the listener saw it (so it counts at the
/// target), or the kind of the connect error (`TimedOut` for a drop).
pub fn tcp_probe(topo: &Topology, from: End, to: End, addr: &str) -> Result<SocketAddr, ErrorKind> {
    let ns = |end| match end {
        End::Host => None,
        End::Vm(i) => Some(topo.guest(i)),
        End::Up => Some(&topo.upstream),
    };
    tcp_between(ns(from), ns(to), addr)
}

/// [`tcp_probe`] between any two namespaces; `None` is the host (the
/// calling thread's namespace).
pub fn tcp_between(
    from: Option<&NetnsHolder>,
    to: Option<&NetnsHolder>,
    addr: &str,
) -> Result<SocketAddr, ErrorKind> {
    let target: SocketAddr = addr.parse().unwrap();
    let listener = match to {
        None => bind(target),
        Some(ns) => listen(ns, addr),
    };
    let connect = move || TcpStream::connect_timeout(&target, DROPPED_AFTER);
    let stream = match from {
        None => connect(),
        Some(ns) => blixard_netns::run_in(&ns.netns(), connect).unwrap(),
    };
    let stream = stream.map_err(|e| e.kind())?;
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match listener.accept() {
            Ok((_, peer)) => {
                drop(stream);
                return Ok(peer);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "connected but never accepted");
                std::thread::yield_now();
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}
