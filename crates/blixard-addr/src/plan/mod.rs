//! `HostPlan`: the desired host state computed from a config.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::Serialize;

use crate::bgp::BgpPlan;
use crate::config::{Action, Protocol, Selector};
use crate::layout::{Layout, Vm, VmIndex};
use crate::sysctl::{SysctlKey, SysctlKeyError};

mod forward;
mod limit;
mod table;

pub use forward::ForwardPlan;
pub use limit::{
    EgressPlan, LIMIT_QDISC_MAJOR, LIMIT_QUEUE_MS, POLICE_SET_PREFIX, RateLimit, ifb_name,
};

/// What the host must look like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    /// The address layout the plan was computed from.
    pub layout: Layout,
    /// How our objects are marked.
    pub ownership: Ownership,
    /// The device of ours that holds the host's gateway addresses.
    pub gateway: GatewayPlan,
    /// One entry per wired VM, sorted by index.
    pub links: Vec<LinkPlan>,
    /// Sysctls the plan needs.
    pub sysctls: Vec<SysctlPlan>,
    /// The nftables model.
    pub firewall: FirewallPlan,
    /// The interface towards the internet (resolved, never `"auto"`).
    pub external_interface: Option<String>,
    /// What every guest and its VMM are handed (DNS, the taps' flags,
    /// queue pairs): all the renderers read beside the VM's mapping.
    pub guest: GuestPlan,
    /// What the host announces and accepts over BGP (`[bgp]`): its
    /// blocks, its VMs outside them, its sessions. `None` on a single host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpPlan>,
}

/// What every guest and its VMM are handed beside the VM's own mapping,
/// the same for each VM: the input of [`crate::render`] with
/// [`HostPlan::ipv6_enabled`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GuestPlan {
    /// DNS servers for the guests, in the config's order; the IPv6 ones
    /// only when the plan gives VMs IPv6.
    pub dns: Vec<IpAddr>,
    /// The flags each VMM must open its tap with: every link's
    /// [`LinkPlan::tap`].
    pub tap: TapPlan,
    /// Queue pairs each VMM opens on its tap (`tap.queues`).
    pub queues: u16,
}

/// No DNS server, one queue pair, [`TapPlan::default`]'s taps: for a plan
/// built by hand that renders no guest.
impl Default for GuestPlan {
    fn default() -> Self {
        Self {
            dns: Vec::new(),
            tap: TapPlan::default(),
            queues: 1,
        }
    }
}

/// Prefix of the `ifalias` that marks a tap as ours (`blixard:vm7`):
/// [`Ownership::alias_for`] writes it, [`crate::diff::is_ours`] reads it.
pub const ALIAS_PREFIX: &str = "blixard:";

/// The marks that make an object ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Ownership {
    /// Interface group of our taps.
    pub link_group: u32,
    /// Route protocol of our routes.
    pub route_protocol: u8,
    /// Our nftables table (family `inet`).
    pub nft_table: String,
}

impl Ownership {
    /// The `ifalias` that marks VM `vm`'s tap as ours.
    pub fn alias_for(&self, interface: &str) -> String {
        format!("{ALIAS_PREFIX}{interface}")
    }
}

/// Tap flags and ownership. The default is the default config's taps
/// with no owner or group set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TapPlan {
    /// `IFF_MULTI_QUEUE`.
    pub multi_queue: bool,
    /// `IFF_VNET_HDR`.
    pub vnet_hdr: bool,
    /// Owning uid (`TUNSETOWNER`); `None` leaves it unset.
    pub owner: Option<u32>,
    /// Owning gid (`TUNSETGROUP`); `None` leaves it unset.
    pub group: Option<u32>,
    /// Whether the config asked for `owner` (rather than defaulting it to
    /// `$SUDO_USER` or root): only an asked-for owner is corrected on an
    /// existing tap, so a systemd unit and a `sudo` shell agree on one host.
    pub owner_required: bool,
}

impl Default for TapPlan {
    fn default() -> Self {
        let config = crate::config::TapConfig::default();
        Self {
            multi_queue: config.multi_queue,
            vnet_hdr: config.vnet_hdr,
            owner: None,
            group: None,
            owner_required: false,
        }
    }
}

/// The device of ours holding the guests' gateway addresses (`10.0.0.0/32`,
/// `fec0::/128`) once for the whole host: a tap no VMM opens, made before
/// the VMs' taps. The same address on every tap would put every copy in
/// one chain of the kernel's address hash, a cost that grows with the
/// square of the VMs (docs/LAYOUT.md); the host answers the guests' ARP
/// for an address of another device anyway, and proxy NDP on each tap
/// ([`LinkPlan::proxy_neighbours`]) answers their neighbour solicitations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct GatewayPlan {
    /// Its name (`gateway_interface`, `vmgw` by default).
    pub name: String,
    /// `ifalias` mark.
    pub alias: String,
    /// The gateway addresses, added with `IFA_F_NODAD`: the device never
    /// has a carrier.
    pub addresses: Vec<IpNet>,
}

impl GatewayPlan {
    /// The gateway device `name` with `addresses`, marked as ours.
    pub fn new(name: &str, ownership: &Ownership, addresses: Vec<IpNet>) -> Self {
        Self {
            name: name.to_string(),
            alias: ownership.alias_for(name),
            addresses,
        }
    }

    /// The flags it is made with: a plain single-queue tap, with no owner
    /// so that no VMM but root's can attach to it.
    pub fn tap() -> TapPlan {
        TapPlan {
            multi_queue: false,
            vnet_hdr: false,
            owner: None,
            group: None,
            owner_required: false,
        }
    }
}

/// Everything about one VM's host side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkPlan {
    /// The VM's mapping.
    pub vm: Vm,
    /// The tap device.
    pub tap: TapPlan,
    /// `ifalias` mark.
    pub alias: String,
    /// MTU of the host side.
    pub mtu: u32,
    /// Attach a root `noqueue` qdisc before `up` (multi-queue taps: avoids
    /// building a 256-child `mq` qdisc). Never with a limit towards the VM,
    /// whose qdisc is the root instead.
    pub noqueue: bool,
    /// Shaping towards the VM (`[limits] ingress`): our `tbf` as the tap's
    /// root qdisc. `None`: the kernel's default (or `noqueue`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress_limit: Option<RateLimit>,
    /// Shaping from the VM (`[limits] egress` with `egress_method =
    /// "ifb"`): the tap's ingress redirected to an `ifb` of ours with our
    /// `tbf` as its root. Policing is the firewall's
    /// ([`FirewallVm::police`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressPlan>,
    /// Routes to the guest through the tap (`10.0.0.N/32`, `fec0::N/128`).
    /// The tap itself carries no address. The routes name no source
    /// (`RTA_PREFSRC`): the kernel deletes every IPv4 route with source A
    /// when *any* copy of A is deleted, which would cut every VM off while
    /// a host moves from the previous layout (docs/LAYOUT.md).
    pub routes: Vec<IpNet>,
    /// Addresses the host answers neighbour solicitations for on the tap
    /// (proxy NDP: the IPv6 gateway, which sits on the gateway device).
    pub proxy_neighbours: Vec<Ipv6Addr>,
    /// Per-tap sysctls (strict `rp_filter` when anti-spoofing is on;
    /// `proxy_ndp` and an immediate proxy answer with IPv6).
    pub sysctls: Vec<SysctlPlan>,
}

/// When a sysctl entry applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SysctlCondition {
    /// Always set it.
    Always,
    /// Set it only when its current value is this (e.g. `accept_ra` 1 -> 2
    /// on an uplink that takes router advertisements).
    IfCurrently(String),
}

/// One sysctl the plan wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SysctlPlan {
    /// Dotted key, e.g. `net.ipv4.ip_forward`: a [`SysctlKey`] printed
    /// (the planner builds every one as a `SysctlKey`);
    /// [`SysctlPlan::typed_key`] reads it back.
    pub key: String,
    /// Desired value.
    pub value: String,
    /// When to apply it.
    pub when: SysctlCondition,
}

impl SysctlPlan {
    /// The key, typed: its family, link and setting
    /// ([`SysctlKey::per_link`]) and its file. An error only for a plan
    /// built by hand with a key that is no `net.` sysctl.
    pub fn typed_key(&self) -> Result<SysctlKey, SysctlKeyError> {
        self.key.parse()
    }
}

/// One VM as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FirewallVm {
    /// Its index.
    pub index: VmIndex,
    /// Its tap.
    pub interface: String,
    /// Its IPv4 address.
    pub ipv4: Ipv4Addr,
    /// Its IPv6 address, when IPv6 is enabled.
    pub ipv6: Option<Ipv6Addr>,
    /// Its limit from the VM when it is policed (`egress_method =
    /// "police"`): its tap is an element of that limit's set
    /// ([`RateLimit::police_set`]), one of [`FirewallPlan::police`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub police: Option<RateLimit>,
}

impl FirewallVm {
    /// VM `vm` as the firewall sees it: its IPv6 address only with IPv6,
    /// not policed. The one place a `FirewallVm` is built from a VM's
    /// mapping.
    pub fn new(vm: &Vm, ipv6: bool) -> Self {
        Self {
            index: vm.index,
            interface: vm.interface.clone(),
            ipv4: vm.ipv4,
            ipv6: ipv6.then_some(vm.ipv6),
            police: None,
        }
    }

    /// The same VM, what it sends policed at `limit` (or not).
    pub fn policed(self, limit: Option<RateLimit>) -> Self {
        Self {
            police: limit,
            ..self
        }
    }
}

/// Where a user rule judges traffic: a chain of our table, and the part of
/// it before or after the guard that lets everything but VM traffic pass.
/// The planner decides it from the rule's (from, to) pair; the renderer
/// only writes the rule there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleChain {
    /// `forward`: routed traffic with a VM at one end or both.
    Forward,
    /// `input`, before the guard: new connections from the external
    /// interface to the host (rules naming `external` and the host).
    InputFromExternal,
    /// `input`, after the guard: new connections from VMs to the host.
    InputFromVms,
    /// `output`, before the guard: the host's new connections out of the
    /// external interface (rules naming the host and `external`).
    OutputToExternal,
    /// `output`, after the guard: the host's new connections to VMs.
    OutputToVms,
}

/// One user rule, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FirewallRule {
    /// Source.
    pub from: Selector,
    /// Destination.
    pub to: Selector,
    /// Optional protocol.
    pub protocol: Option<Protocol>,
    /// Optional destination port.
    pub port: Option<u16>,
    /// Verdict for new connections that match.
    pub action: Action,
    /// Every place that sees traffic the rule names (a CIDR may name both
    /// VMs and the host, so more than one); never empty in a plan.
    pub chains: Vec<RuleChain>,
}

/// The nftables model: one table of ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FirewallPlan {
    /// Table name (family `inet`).
    pub table: String,
    /// Interface towards the internet; `None`: no NAT, no external traffic.
    pub external_interface: Option<String>,
    /// IPv4 VM pool.
    #[schemars(with = "String")]
    pub ipv4_pool: Ipv4Net,
    /// IPv6 VM pool, when IPv6 is enabled.
    #[schemars(with = "Option<String>")]
    pub ipv6_pool: Option<Ipv6Net>,
    /// Masquerade IPv4 leaving by the external interface.
    pub masquerade_ipv4: bool,
    /// Masquerade IPv6 leaving by the external interface.
    pub masquerade_ipv6: bool,
    /// Drop packets from `vmN` not carrying VM N's address.
    pub anti_spoofing: bool,
    /// Unsolicited external -> VM connections.
    pub inbound_default: Action,
    /// New VM -> host connections beyond ICMP, replies and `host_ports`.
    pub host_input_default: Action,
    /// Host TCP/UDP ports VMs may reach unless a rule says otherwise.
    pub host_ports: Vec<u16>,
    /// Networks VMs may reach beyond other VMs and the external interface,
    /// whatever interface routes them.
    #[schemars(with = "Vec<String>")]
    pub allow_networks: Vec<IpNet>,
    /// The wired VMs (set elements, not rules).
    pub vms: Vec<FirewallVm>,
    /// User rules in order, first match wins.
    pub rules: Vec<FirewallRule>,
    /// Host ports forwarded to VMs (`[[forwards]]`), in the config's
    /// order: map elements, rendered whether or not the VM is wired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<ForwardPlan>,
    /// Every limit from a VM the config can give when they are policed
    /// (the default and each override), sorted: one set of ours each
    /// ([`RateLimit::police_set`]), whether or not a VM with it is wired,
    /// so that wiring a VM only adds an element.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub police: Vec<RateLimit>,
    /// Whether the pools are a cluster's (`[bgp]`): a pool address no VM of
    /// this host holds is another host's VM, forwarded to and from without
    /// masquerade over the interface its route points to, and believed as a
    /// source only on that interface.
    pub cluster: bool,
}

impl FirewallPlan {
    /// The VM pools: IPv4, then IPv6 when it is enabled.
    pub fn pools(&self) -> Vec<IpNet> {
        vm_pools(self.ipv4_pool, self.ipv6_pool)
    }

    /// The guests' gateway addresses, the host's own on every tap: each
    /// pool's first address, as [`crate::Layout::gateway_ipv4`] and
    /// [`crate::Layout::gateway_ipv6`] give them.
    pub fn gateways(&self) -> Vec<IpAddr> {
        self.pools().iter().map(IpNet::network).collect()
    }
}

/// The one list of VM pools, for a plan ([`FirewallPlan::pools`]) and for
/// the planner before the plan exists.
pub(crate) fn vm_pools(ipv4: Ipv4Net, ipv6: Option<Ipv6Net>) -> Vec<IpNet> {
    std::iter::once(IpNet::V4(ipv4))
        .chain(ipv6.map(IpNet::V6))
        .collect()
}

impl HostPlan {
    /// Whether the plan gives VMs IPv6 (`ipv6.enabled`): the plan's one
    /// record of it is the firewall's IPv6 pool.
    pub fn ipv6_enabled(&self) -> bool {
        self.firewall.ipv6_pool.is_some()
    }

    /// The link plan of VM `index`, if the plan wires it.
    pub fn link(&self, index: VmIndex) -> Option<&LinkPlan> {
        self.links
            .binary_search_by_key(&index, |l| l.vm.index)
            .ok()
            .map(|i| &self.links[i])
    }
}
