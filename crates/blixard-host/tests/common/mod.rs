//! Shared by blixard-host's kernel tests: a plan resolved through the
//! library as an embedder would, and the host's state read back with `ip`
//! and `nft` (never through the code under test).
#![allow(dead_code)]

use blixard_addr::{Config, HostPlan, build_plan};
use blixard_host::Host;
use blixard_netns::Netns;
use blixard_netns::testing::sh_ok;
use serde_json::Value;

/// Two VMs with IPv6, taps owned by root, no NAT (so no uplink is needed).
pub const TWO_VMS: &str = r#"
vms = 2
owner = "root"
external_interface = "none"
"#;

/// Three VMs, so one can be wired and unwired between two others.
pub const THREE_VMS: &str = r#"
vms = 3
owner = "root"
external_interface = "none"
"#;

/// The plan for `toml` on `host`, its facts resolved by the library.
pub fn plan_on(host: &Host, toml: &str) -> HostPlan {
    let config = Config::from_toml_str(toml, "test").unwrap();
    let facts = host.facts(&config).unwrap();
    build_plan(&config, &facts).unwrap()
}

/// [`plan_on`] for the calling thread's namespace.
pub fn plan(toml: &str) -> HostPlan {
    plan_on(&Host::new(Netns::Current), toml)
}

/// Everything observable in the calling thread's namespace: links (with
/// ifindexes, so a recreated link shows), addresses, routes of every table,
/// the whole nft ruleset and the forwarding sysctls. Counter values are
/// left out: the per-VM counter sets count the kernel's own traffic on a
/// tap (MLD reports), which is no change of anyone's.
pub fn snapshot() -> String {
    sh_ok(
        "ip -d link; ip addr; ip route show table all; ip -6 route show table all; \
         ip -6 neigh show proxy; \
         nft list ruleset | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/g'; \
         cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding",
    )
}

/// The names of the links in our group, sorted.
pub fn our_links(plan: &HostPlan) -> Vec<String> {
    let out = sh_ok(&format!(
        "ip -j link show group {}",
        plan.ownership.link_group
    ));
    let links: Vec<Value> = serde_json::from_str(&out).unwrap_or_default();
    let mut names: Vec<String> = links
        .iter()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The routes with our protocol, IPv4 and IPv6, as `ip` prints them.
pub fn our_routes(plan: &HostPlan) -> String {
    let proto = plan.ownership.route_protocol;
    sh_ok(&format!(
        "ip route show table all proto {proto}; ip -6 route show table all proto {proto}"
    ))
}

/// Whether our nft table exists.
pub fn our_table_exists(plan: &HostPlan) -> bool {
    sh_ok("nft list tables").contains(&format!("table inet {}\n", plan.firewall.table))
}

/// One VM's host side as the kernel shows it: its link (with ifindex and
/// marks), its addresses, its routes and its firewall set elements.
pub fn vm_state(plan: &HostPlan, interface: &str) -> String {
    let vm = &plan
        .links
        .iter()
        .find(|l| l.vm.interface == interface)
        .expect("a planned VM")
        .vm;
    let table = &plan.firewall.table;
    sh_ok(&format!(
        "ip -d link show dev {interface}; ip addr show dev {interface}; \
         ip route show table all dev {interface}; ip -6 route show table all dev {interface}; \
         nft get element inet {table} vm_v4 '{{ \"{interface}\" . {} }}'; \
         nft get element inet {table} vm_v6 '{{ \"{interface}\" . {} }}'",
        vm.ipv4, vm.ipv6
    ))
}
