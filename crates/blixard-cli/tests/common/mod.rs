//! Shared by the end-to-end and reliability suites: run the real binary
//! against a scratch lock/state dir, and an exact oracle of the host's state
//! read back with `ip -j`, `nft` and `/proc/sys`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use blixard_addr::Config;
use blixard_addr::plan::{HostPlan, SysctlCondition};
use blixard_addr::planner::{HostFacts, build_plan};
use blixard_host::testbed::Guest;
use blixard_netns::testing::sh_ok;
use serde_json::Value;

/// The host's uplink: one end of a veth pair (the `dummy` module may be
/// missing), up, so NAT has an interface to name. The same name as the
/// testbed's, so configs work with either.
pub const UPLINK: &str = blixard_host::testbed::UPLINK;

/// 3 VMs with IPv6 and NAT, multi-queue taps (so a root qdisc per tap), a
/// tap group and one firewall rule: every kind of change `apply` makes.
pub const FULL: &str = r#"
vms = 3
owner = "root"
group = "root"
external_interface = "bx-up0"

[tap]
multi_queue = true
queues = 2

[[firewall.rules]]
from = "vm1"
to = "vm2"
action = "drop"
"#;

/// A lock/state directory and config file of one test, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory named after the test.
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("blixard-rel-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `toml` as this test's config file.
    pub fn config(&self, toml: &str) -> PathBuf {
        let path = self.0.join("network.toml");
        std::fs::write(&path, toml).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with `--config` and this test's lock/state dirs; run from
/// the calling thread, so in its namespace.
pub fn command(scratch: &Scratch, config: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blixard-net"));
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .env("BLIXARD_LOCK_DIR", &scratch.0)
        .env("BLIXARD_STATE_DIR", &scratch.0)
        .env_remove("SUDO_USER")
        .env_remove(blixard_host::FAULT_AFTER_ENV);
    cmd
}

/// Runs the binary to completion.
pub fn cli(scratch: &Scratch, config: &Path, args: &[&str]) -> Output {
    command(scratch, config, args).output().unwrap()
}

/// stdout and stderr together.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts exit 0 and returns the output.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "blixard-net failed: {}", text(&out));
    text(&out)
}

/// Asserts the exit code and returns the output.
pub fn exits(out: Output, code: i32) -> String {
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    text(&out)
}

/// How many changes an `apply` output reports as made (0 for "no change").
pub fn changes_made(output: &str) -> usize {
    output
        .lines()
        .find_map(|l| l.strip_prefix("apply: ")?.strip_suffix(" change(s) made"))
        .map_or(0, |n| n.parse().unwrap())
}

/// Creates the uplink in the calling thread's namespace. Without DAD, so its
/// link-local address is not "tentative" in one snapshot and settled in the
/// next.
pub fn uplink() {
    sh_ok(&format!(
        "ip link add {UPLINK} type veth peer name bx-up1 && \
         echo 0 > /proc/sys/net/ipv6/conf/{UPLINK}/accept_dad && ip link set {UPLINK} up"
    ));
}

/// The plan the binary builds from `toml` here (owner and group root, the
/// uplink as external interface).
pub fn plan_of(toml: &str) -> HostPlan {
    let config = Config::from_toml_str(toml, "test").unwrap();
    let facts = HostFacts {
        owner_uid: Some(0),
        group_gid: config.group.as_ref().map(|_| 0),
        external_interface: Some(UPLINK.into()),
    };
    build_plan(&config, &facts).unwrap()
}

fn json(script: &str) -> Vec<Value> {
    let out = sh_ok(script);
    if out.trim().is_empty() {
        return Vec::new();
    }
    serde_json::from_str::<Vec<Value>>(&out).unwrap_or_else(|e| panic!("{script}: {e}: {out}"))
}

fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Everything of ours in the calling thread's namespace, normalized (no
/// ifindexes, MACs or counters) so two hosts holding the same state print
/// the same text: links in our group with marks, flags, tun attributes and
/// qdisc; every non-link-local address on them; every route with our
/// protocol; the plan's sysctls; the list of nft tables and our table.
pub fn host_state(plan: &HostPlan) -> String {
    let keys: Vec<&str> = plan
        .sysctls
        .iter()
        .chain(plan.links.iter().flat_map(|l| &l.sysctls))
        .map(|s| s.key.as_str())
        .collect();
    state_of(
        plan.ownership.link_group,
        plan.ownership.route_protocol,
        &keys,
        &plan.firewall.table,
    )
}

/// [`host_state`] for the given marks, sysctl keys and table name.
pub fn state_of(group: u32, proto: u8, sysctl_keys: &[&str], table: &str) -> String {
    let mut links = Vec::new();
    // `ip -j link show group N` prints `{}` for each link it filtered out.
    for link in json(&format!("ip -j -d link show group {group}"))
        .into_iter()
        .filter(|l| l["ifname"].is_string())
    {
        let info = &link["linkinfo"]["info_data"];
        let up = link["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "UP"));
        let mut block = vec![format!(
            "link {} group={} alias={} mtu={} up={up} qdisc={} tun={}/pi={}/vnet_hdr={}/mq={}/persist={}/user={}/group={}",
            s(&link, "ifname"),
            s(&link, "group"),
            s(&link, "ifalias"),
            s(&link, "mtu"),
            s(&link, "qdisc"),
            s(info, "type"),
            s(info, "pi"),
            s(info, "vnet_hdr"),
            s(info, "multi_queue"),
            s(info, "persist"),
            s(info, "user"),
            s(info, "group"),
        )];
        let mut addrs: Vec<String> = json(&format!("ip -j addr show dev {}", s(&link, "ifname")))
            .iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|a| s(a, "scope") != "link")
            .map(|a| {
                format!(
                    "  addr {}/{} dev {}",
                    s(&a, "local"),
                    s(&a, "prefixlen"),
                    s(&link, "ifname")
                )
            })
            .collect();
        addrs.sort();
        block.extend(addrs);
        links.push(block);
    }
    // By name: the kernel lists links by ifindex, which a repair changes.
    links.sort();
    let mut out: Vec<String> = links.into_iter().flatten().collect();
    for family in ["-4", "-6"] {
        for r in json(&format!(
            "ip {family} -j route show table all proto {proto}"
        )) {
            let table = r["table"].as_str().unwrap_or("main");
            let source = r["prefsrc"]
                .as_str()
                .map(|src| format!(" src {src}"))
                .unwrap_or_default();
            out.push(format!(
                "route {} dev {} table {table}{source}",
                s(&r, "dst"),
                s(&r, "dev")
            ));
        }
    }
    let mut proxies: Vec<String> = json("ip -6 -j neigh show proxy")
        .iter()
        .map(|p| {
            format!(
                "proxy {} dev {} proto {}",
                s(p, "dst"),
                s(p, "dev"),
                s(p, "protocol")
            )
        })
        .collect();
    proxies.sort();
    out.extend(proxies);
    for key in sysctl_keys {
        out.push(format!(
            "sysctl {key}={}",
            read_sysctl(key).unwrap_or("-".into())
        ));
    }
    out.push(format!("tables: {}", sh_ok("nft list tables").trim()));
    if sh_ok("nft list tables").contains(&format!("table inet {table}\n")) {
        out.push(sh_ok(&format!(
            "nft list table inet {table} | {WITHOUT_COUNTER_VALUES}"
        )));
    }
    out.join("\n")
}

/// The sysctls `FULL` sets, written out by hand.
const FULL_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv6.conf.all.forwarding", "1"),
    // The uplink took router advertisements (1, a new veth's default):
    // forwarding on would stop that, so 2.
    ("net.ipv6.conf.bx-up0.accept_ra", "2"),
    ("net.ipv4.conf.vm1.rp_filter", "1"),
    ("net.ipv4.conf.vm2.rp_filter", "1"),
    ("net.ipv4.conf.vm3.rp_filter", "1"),
    ("net.ipv6.conf.vm1.proxy_ndp", "1"),
    ("net.ipv6.conf.vm2.proxy_ndp", "1"),
    ("net.ipv6.conf.vm3.proxy_ndp", "1"),
    ("net.ipv6.neigh.vm1.proxy_delay", "0"),
    ("net.ipv6.neigh.vm2.proxy_delay", "0"),
    ("net.ipv6.neigh.vm3.proxy_delay", "0"),
];

/// [`host_state`] for `FULL`, without asking the planner what to read:
/// our default marks (group 2833, route protocol 177, table `blixard`)
/// and `FULL`'s sysctls, written out by hand.
pub fn full_state() -> String {
    let keys: Vec<&str> = FULL_SYSCTLS.iter().map(|(k, _)| *k).collect();
    state_of(2833, 177, &keys, "blixard")
}

/// Asserts that the host holds exactly what `FULL` asks for, from values
/// written out by hand rather than built by the planner under test: taps
/// vm1..vm3 (marked, up, multi-queue with vnet_hdr, owner and group root,
/// MTU 1500, noqueue) with no address, the gateway device vmgw holding
/// 10.0.0.0/32 and fec0::/128, one /32 and one /128 route to each VM, a
/// proxy entry for fec0:: on each tap, the
/// sysctls, and one table of ours with each VM's set elements.
pub fn assert_host_is_full() {
    let state = full_state();
    let mut want = Vec::new();
    for i in 1..=3 {
        want.push(format!(
            "link vm{i} group=2833 alias=blixard:vm{i} mtu=1500 up=true qdisc=noqueue \
             tun=tap/pi=false/vnet_hdr=true/mq=true/persist=true/user=root/group=root"
        ));
    }
    want.push(
        "link vmgw group=2833 alias=blixard:vmgw mtu=1500 up=true qdisc=pfifo_fast \
         tun=tap/pi=false/vnet_hdr=false/mq=false/persist=true/user=-/group=-"
            .into(),
    );
    want.push("  addr 10.0.0.0/32 dev vmgw".into());
    want.push("  addr fec0::/128 dev vmgw".into());
    let mut routes: Vec<String> = (1..=3)
        .flat_map(|i| {
            [
                format!("route 10.0.0.{i} dev vm{i} table main"),
                format!("route fec0::{i} dev vm{i} table main"),
            ]
        })
        .collect();
    routes.sort();
    want.extend(routes);
    want.extend((1..=3).map(|i| format!("proxy fec0:: dev vm{i} proto 177")));
    want.extend(FULL_SYSCTLS.iter().map(|(k, v)| format!("sysctl {k}={v}")));
    let head = state
        .split_once("\ntables: ")
        .map_or(state.as_str(), |(head, _)| head);
    let mut have: Vec<&str> = head.lines().collect();
    // Routes as the kernel lists them, in address order.
    let first = have
        .iter()
        .position(|l| l.starts_with("route "))
        .unwrap_or(have.len());
    let last = have
        .iter()
        .rposition(|l| l.starts_with("route "))
        .map_or(first, |i| i + 1);
    have[first..last].sort();
    assert_unchanged(&want.join("\n"), &have.join("\n"), "the host against FULL");
    let tables = sh_ok("nft list tables");
    assert_eq!(
        tables.matches("table inet blixard\n").count(),
        1,
        "{tables}"
    );
    let table = sh_ok("nft list table inet blixard");
    for i in 1..=3 {
        for element in [
            format!("\"vm{i}\" . 10.0.0.{i}"),
            format!("\"vm{i}\" . fec0::{i}"),
        ] {
            assert!(
                table.contains(&element),
                "{element} missing from our table:\n{table}"
            );
        }
    }
}

/// A sysctl of the calling thread's namespace (through a child process:
/// `/proc/sys/net` shows the reader's namespace).
pub fn read_sysctl(key: &str) -> Option<String> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let out = Command::new("cat").arg(&path).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Asserts that the host holds exactly `plan` (the oracle, read from the
/// kernel, independent of the diff): each planned tap once, marked, up, with
/// the planned flags, owner, MTU and qdisc; exactly the planned addresses on
/// it; exactly the planned routes, once each; every sysctl the plan always
/// sets; exactly one table of ours, holding the planned VMs.
pub fn assert_host_is(plan: &HostPlan) {
    let state = host_state(plan);
    let lines: Vec<&str> = state.lines().collect();
    let links: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("link "))
        .collect();
    assert_eq!(links.len(), plan.links.len() + 1, "links:\n{state}");
    let gw = &plan.gateway;
    let gateway = links
        .iter()
        .find(|l| l.starts_with(&format!("{} ", gw.name)))
        .unwrap_or_else(|| panic!("{} missing:\n{state}", gw.name));
    assert!(
        gateway.starts_with(&format!(
            "{} group={} alias={} mtu=1500 up=true ",
            gw.name, plan.ownership.link_group, gw.alias
        )),
        "{gateway}"
    );
    let mut have: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("  addr ") && l.ends_with(&format!(" dev {}", gw.name)))
        .map(|l| l.trim())
        .collect();
    have.sort();
    let mut want: Vec<String> = gw
        .addresses
        .iter()
        .map(|a| format!("addr {a} dev {}", gw.name))
        .collect();
    want.sort();
    assert_eq!(have, want, "addresses of {}:\n{state}", gw.name);
    let mut proxies = Vec::new();
    let mut routes = Vec::new();
    for lp in &plan.links {
        let name = &lp.vm.interface;
        let link = links
            .iter()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing:\n{state}"));
        let owner = match lp.tap.owner {
            Some(0) => "root".to_string(),
            Some(uid) => uid.to_string(),
            None => "-".into(),
        };
        let group = match lp.tap.group {
            Some(0) => "root".to_string(),
            Some(gid) => gid.to_string(),
            None => "-".into(),
        };
        let want = format!(
            "{name} group={} alias={} mtu={} up=true qdisc={} tun=tap/pi=false/vnet_hdr={}/mq={}/persist=true/user={owner}/group={group}",
            plan.ownership.link_group,
            lp.alias,
            lp.mtu,
            if lp.noqueue { "noqueue" } else { "pfifo_fast" },
            lp.tap.vnet_hdr,
            lp.tap.multi_queue,
        );
        assert_eq!(*link, want, "link {name}:\n{state}");
        let mut have: Vec<String> = lines
            .iter()
            .filter(|l| l.ends_with(&format!(" dev {name}")) && l.starts_with("  addr "))
            .map(|l| l.trim().to_string())
            .collect();
        have.sort();
        assert_eq!(have, Vec::<String>::new(), "addresses of {name}:\n{state}");
        routes.extend(lp.routes.iter().map(|r| {
            let dst = if r.prefix_len() == r.max_prefix_len() {
                r.addr().to_string()
            } else {
                r.to_string()
            };
            format!("route {dst} dev {name} table main")
        }));
        proxies.extend(lp.proxy_neighbours.iter().map(|a| {
            format!(
                "proxy {a} dev {name} proto {}",
                plan.ownership.route_protocol
            )
        }));
    }
    let mut have_proxies: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("proxy "))
        .collect();
    have_proxies.sort();
    proxies.sort();
    assert_eq!(have_proxies, proxies, "proxy entries:\n{state}");
    let mut have: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("route "))
        .map(|l| l.to_string())
        .collect();
    have.sort();
    routes.sort();
    assert_eq!(have, routes, "routes:\n{state}");
    for s in plan
        .sysctls
        .iter()
        .chain(plan.links.iter().flat_map(|l| &l.sysctls))
    {
        if s.when == SysctlCondition::Always {
            assert_eq!(
                read_sysctl(&s.key).as_deref(),
                Some(s.value.as_str()),
                "{}",
                s.key
            );
        }
    }
    let table = &plan.firewall.table;
    let tables = sh_ok("nft list tables");
    assert_eq!(
        tables.matches(&format!("table inet {table}\n")).count(),
        1,
        "{tables}"
    );
    let ruleset = sh_ok(&format!("nft list table inet {table}"));
    for lp in &plan.links {
        assert!(
            ruleset.contains(&format!("\"{}\" . {}", lp.vm.interface, lp.vm.ipv4)),
            "{} missing from our table:\n{ruleset}",
            lp.vm.interface
        );
    }
}

/// A filter for `nft list` output: counter values are the traffic's (the
/// per-VM counter sets count what the kernel itself sends on a tap, e.g.
/// MLD reports), not a change of anyone's.
pub const WITHOUT_COUNTER_VALUES: &str = "sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g'";

/// `nft -j` output with every counter's values taken out, as
/// [`WITHOUT_COUNTER_VALUES`] does for the text form.
pub fn without_counter_values(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if k == "counter" && v.is_object() {
                    *v = serde_json::Value::Null;
                } else {
                    without_counter_values(v);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(without_counter_values),
        _ => {}
    }
}

/// Everything in the calling thread's namespace as `ip`/`nft` print it, to
/// prove "nothing changed". Waits for taps to lose their carrier first (the
/// kernel's link watch does that asynchronously after the creating fd
/// closes) and for duplicate address detection to finish, with a deadline;
/// a tap that is down has no carrier to lose.
pub fn snapshot() -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sh_ok("ip -o link show type tun")
        .lines()
        .filter_map(|l| l.split_once('<').and_then(|(_, r)| r.split_once('>')))
        .any(|(flags, _)| {
            let flags: Vec<&str> = flags.split(',').collect();
            flags.contains(&"UP") && !flags.contains(&"NO-CARRIER")
        })
    {
        assert!(Instant::now() < deadline, "taps kept their carrier");
        std::thread::yield_now();
    }
    // A tap brought up while its carrier was still on gets a link-local
    // address whose duplicate detection finishes a second later: the
    // kernel's doing, not a change of ours, so let it finish.
    while !sh_ok("ip -6 addr show tentative").trim().is_empty() {
        assert!(Instant::now() < deadline, "addresses stayed tentative");
        std::thread::yield_now();
    }
    sh_ok(&format!(
        "ip -d link show; ip addr show; ip route show table all; ip -6 route show table all; nft list ruleset | {WITHOUT_COUNTER_VALUES}; \
         for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding /proc/sys/net/ipv4/conf/*/rp_filter; do echo $f $(cat $f); done",
    ))
}

/// Asserts two snapshots are equal, showing only the lines that differ.
pub fn assert_unchanged(before: &str, after: &str, what: &str) {
    if before == after {
        return;
    }
    let gone: Vec<&str> = before
        .lines()
        .filter(|l| !after.lines().any(|a| a == *l))
        .collect();
    let new: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    panic!(
        "{what}:\nonly before: {gone:#?}\nonly after: {new:#?}\n(lines in another order otherwise)"
    );
}

/// How long a probe that must succeed may retry.
pub const PATIENCE: Duration = Duration::from_secs(5);
/// A connection that must fail is given less time: a drop shows as a timeout.
pub const REFUSAL: Duration = Duration::from_secs(2);

/// A guest behind a stand-in VMM for every VM of `config_toml`, configured
/// as `render::ip_commands` says (the host must be applied first).
pub fn start_guests(config_toml: &str) -> Vec<Guest> {
    use blixard_addr::render::{self, GuestNetwork};
    let config = Config::from_toml_str(config_toml, "test").unwrap();
    let plan = build_plan(&config, &HostFacts::default()).unwrap();
    plan.links
        .iter()
        .map(|link| {
            let network = GuestNetwork::new(&plan, link.vm.clone());
            Guest::start(&link.vm, 1, &render::ip_commands(&network).join(" && ")).unwrap()
        })
        .collect()
}

/// `blixard-net --json stats` as (vm, `counter.field`) -> value, e.g.
/// (`vm1`, `receive.bytes`).
pub fn stats(scratch: &Scratch, config: &Path) -> BTreeMap<(String, String), u64> {
    let out = cli(scratch, config, &["--json", "stats"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["table"], "blixard");
    let mut m = BTreeMap::new();
    for vm in v["vms"].as_array().unwrap() {
        let name = vm["vm"].as_str().unwrap().to_string();
        for counter in ["receive", "transmit", "spoofed_drops", "firewall_drops"] {
            for field in ["packets", "bytes"] {
                let n = vm[counter][field].as_u64().unwrap();
                m.insert((name.clone(), format!("{counter}.{field}")), n);
            }
        }
    }
    m
}

/// One value of [`stats`]: `counter(&s, "vm1", "spoofed_drops.packets")`.
pub fn counter(stats: &BTreeMap<(String, String), u64>, vm: &str, what: &str) -> u64 {
    stats[&(vm.to_string(), what.to_string())]
}
