//! One host of the cluster test and the probes between guests: the
//! binary run against the host's namespace, its BIRD, its guests, its
//! routes as `ip -j` shows them, and polling with a deadline.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use blixard_addr::Config;
use blixard_addr::planner::{HostFacts, build_plan};
use blixard_addr::render::{self, GuestNetwork};
use blixard_host::testbed::{self, Bird, ECHO_PORT, Fabric, FabricHost, Guest};
use serde_json::Value;

use crate::common::{self, Scratch, text};

/// How long BGP may take to bring a route (BIRD waits 5 s before it
/// connects) or to withdraw one.
pub const CONVERGE: Duration = Duration::from_secs(60);
/// How long an unwired VM's route may stay on the other hosts.
pub const WITHDRAW: Duration = Duration::from_secs(10);

/// One host of the cluster: its namespace on the fabric, its config, its
/// BIRD and its guests.
pub struct Node {
    pub name: &'static str,
    pub host: FabricHost,
    pub scratch: Scratch,
    pub vms: String,
    pub peers: Vec<u8>,
    pub bird: Option<Bird>,
    pub guests: BTreeMap<u32, Guest>,
}

impl Node {
    pub fn new(fabric: &Fabric, n: u8, name: &'static str, vms: &str, peers: &[u8]) -> Node {
        Node {
            name,
            host: fabric.host(n).unwrap(),
            scratch: Scratch::new(&format!("cluster-{name}")),
            vms: vms.into(),
            peers: peers.to_vec(),
            bird: None,
            guests: BTreeMap::new(),
        }
    }

    pub fn toml(&self) -> String {
        let dir = self.scratch.0.display();
        let mut out = format!(
            "vms = {vms}\nowner = \"root\"\n# The fabric is the uplink too: masquerade must skip the pools.\n\
             external_interface = \"{link}\"\n\n[ipv4]\npool = \"10.0.0.0/16\"\n\n[ipv6]\npool = \"fd00:b1::/64\"\n\n\
             [bgp]\nasn = 64512\nrouter_id = \"{id}\"\nbird_config = \"{dir}/bird.conf\"\nbird_socket = \"{dir}/bird.ctl\"\n",
            vms = self.vms,
            link = testbed::FABRIC_LINK,
            id = self.host.ipv4(),
        );
        for peer in &self.peers {
            out.push_str(&format!(
                "\n[[bgp.peers]]\naddress = \"198.51.100.{peer}\"\nasn = 64512\n"
            ));
        }
        out
    }

    pub fn config(&self) -> PathBuf {
        self.scratch.config(&self.toml())
    }

    /// The binary against this host's namespace.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let config = self.config();
        common::command(&self.scratch, &config, args)
            .arg("--netns")
            .arg(format!("pid:{}", self.host.ns.pid()))
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.name,
            text(&out)
        );
        text(&out)
    }

    /// Writes the BIRD configuration `apply` would and starts BIRD on it,
    /// inside the host's namespace.
    pub fn start_bird(&mut self) {
        let file = self.scratch.0.join("bird.conf");
        std::fs::write(&file, self.ok(&["bgp", "config"])).unwrap();
        let dir = self.scratch.0.clone();
        let bird = blixard_netns::run_in(&self.host.netns(), || Bird::start(&dir, "bird", &file))
            .unwrap()
            .unwrap();
        self.bird = Some(bird);
    }

    pub fn bird(&self) -> &Bird {
        self.bird.as_ref().expect("BIRD started")
    }

    /// A guest behind the tap of VM `index`, configured as the planner
    /// says, started inside the host's namespace.
    pub fn start_guest(&mut self, index: u32) {
        let config = Config::from_toml_str(&self.toml(), "test").unwrap();
        let plan = build_plan(&config, &HostFacts::default()).unwrap();
        let vm = plan.layout.vm_at(index).unwrap();
        let script = render::ip_commands(&GuestNetwork::new(&plan, vm.clone())).join(" && ");
        let guest = blixard_netns::run_in(&self.host.netns(), || Guest::start(&vm, 1, &script))
            .unwrap()
            .unwrap();
        // TCP probes need an echo server behind each guest (the matrix
        // starts its own; a second one on the port is refused, harmlessly).
        testbed::echo_server(&guest.ns.netns(), ECHO_PORT).unwrap();
        self.guests.insert(index, guest);
    }

    /// This host's routes of BIRD's protocol: prefix -> the route as `ip -j`
    /// shows it (read unfiltered, so its protocol is shown).
    pub fn bird_routes(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for family in ["-4", "-6"] {
            let listed = self.host.ns.sh_ok(&format!("ip -j {family} route show"));
            for route in serde_json::from_str::<Vec<Value>>(&listed).unwrap() {
                if route["protocol"] == "bird" {
                    out.insert(route["dst"].as_str().unwrap().to_string(), route);
                }
            }
        }
        out
    }

    /// Whether this host routes `prefix` to fabric host `via` with BIRD.
    pub fn routes_via(&self, prefix: &str, via: u8) -> bool {
        let gateway = |r: &Value| r["gateway"].as_str()?.parse::<IpAddr>().ok();
        let via = [
            IpAddr::V4(testbed::fabric_ipv4(via)),
            IpAddr::V6(testbed::fabric_ipv6(via)),
        ];
        self.bird_routes()
            .get(prefix)
            .and_then(gateway)
            .is_some_and(|g| via.contains(&g))
    }

    /// BIRD's state of the session with fabric host `peer`.
    pub fn session(&self, peer: u8) -> String {
        let out = self.bird().birdc(&[
            "show",
            "protocols",
            &format!("blixard_peer_198_51_100_{peer}"),
        ]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Polls `done` until it holds or `within` passes; a timeout fails with
/// what every BIRD of `nodes` says of its sessions.
pub fn eventually(
    nodes: &[Node],
    what: &str,
    within: Duration,
    mut done: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > within {
            let said: Vec<String> = nodes
                .iter()
                .filter_map(|n| Some((n.name, n.bird.as_ref()?)))
                .map(|(name, bird)| {
                    let out = bird.birdc(&["show", "protocols", "all"]);
                    format!("{name}:\n{}", String::from_utf8_lossy(&out.stdout))
                })
                .collect();
            panic!(
                "timed out ({within:?}) waiting for {what}\n{}",
                said.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

fn ping_ok(from: &Guest, to: IpAddr) -> bool {
    testbed::ping(Some(&from.ns), to, Duration::from_secs(5)).unwrap_or(false)
}

/// TCP from `from` to `to` arrives with `from`'s own address.
fn tcp_own_source(from: &Guest, to: IpAddr) -> bool {
    let own = [IpAddr::V4(from.vm.ipv4), IpAddr::V6(from.vm.ipv6)];
    testbed::tcp_probe(&from.ns.netns(), to, ECHO_PORT, Duration::from_secs(5))
        .is_ok_and(|seen| seen.is_some_and(|s| own.contains(&s)))
}

pub fn reachable_both_ways(a: &Guest, b: &Guest) {
    for (from, to) in [(a, b), (b, a)] {
        for address in [IpAddr::V4(to.vm.ipv4), IpAddr::V6(to.vm.ipv6)] {
            assert!(
                ping_ok(from, address),
                "{} -> {address}: no ping",
                from.vm.interface
            );
            assert!(
                tcp_own_source(from, address),
                "{} -> {address}: no TCP with its own address",
                from.vm.interface
            );
        }
    }
}

/// A stand-in router on the fabric (in the fabric's namespace) peering
/// with host 1 and announcing what no host may install: a default route,
/// a prefix outside the pools, the pool itself and host 1's own block;
/// and, as the control that its session works, one prefix inside the
/// pools that no host owns.
pub fn rogue_config() -> String {
    "router id 198.51.100.254;\n\
     protocol device {}\n\
     protocol static rogue4 {\n  ipv4;\n  route 0.0.0.0/0 blackhole;\n  route 192.168.77.0/24 blackhole;\n  \
     route 10.0.0.0/16 blackhole;\n  route 10.0.0.2/31 blackhole;\n  route 10.0.200.0/24 blackhole;\n}\n\
     protocol static rogue6 {\n  ipv6;\n  route ::/0 blackhole;\n  route 2001:db8:77::/48 blackhole;\n  \
     route fd00:b1::/64 blackhole;\n  route fd00:b1::c800:0/120 blackhole;\n}\n\
     protocol bgp host1 {\n  local 198.51.100.254 as 64512;\n  neighbor 198.51.100.1 as 64512;\n  direct;\n  \
     ipv4 { import none; export all; next hop self; };\n  ipv6 { import none; export all; next hop self; };\n}\n"
        .to_string()
}
