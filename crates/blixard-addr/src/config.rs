//! The configuration file model (`/etc/blixard/network.toml`).
//!
//! Every key has a default; the defaults are the seed's layout (64 VMs,
//! `vmN`, `10.0.0.N/32`, `fec0::N/128`, NAT, Quad9 DNS).

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Which VMs to wire: a count (`64` means 1..=64) or a list of indices and
    /// ranges (`[1, 2, "10-20"]`).
    pub vms: VmSelection,
    /// Tap owner: a user name or a numeric uid. Default: `$SUDO_USER`, else root.
    pub owner: Option<String>,
    /// Optional tap group: a group name or numeric gid.
    pub group: Option<String>,
    /// Interface towards the internet, for NAT; `"auto"` is the interface of
    /// the default route, `"none"` disables NAT to the outside.
    pub external_interface: String,
    /// Tap name template; `{index}` is replaced by the VM index.
    pub interface_template: String,
    /// DNS servers handed to guests.
    pub dns: Vec<IpAddr>,
    /// IPv4 settings.
    pub ipv4: Ipv4Config,
    /// IPv6 settings.
    pub ipv6: Ipv6Config,
    /// Tap device settings.
    pub tap: TapConfig,
    /// NAT settings.
    pub nat: NatConfig,
    /// Security settings.
    pub security: SecurityConfig,
    /// Firewall policy and rules.
    pub firewall: FirewallConfig,
    /// How our objects are marked on the host.
    pub ownership: OwnershipConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            vms: VmSelection::Count(64),
            owner: None,
            group: None,
            external_interface: "auto".into(),
            interface_template: "vm{index}".into(),
            dns: vec![
                "9.9.9.9".parse().expect("valid"),
                "149.112.112.112".parse().expect("valid"),
                "2620:fe::fe".parse().expect("valid"),
                "2620:fe::9".parse().expect("valid"),
            ],
            ipv4: Ipv4Config::default(),
            ipv6: Ipv6Config::default(),
            tap: TapConfig::default(),
            nat: NatConfig::default(),
            security: SecurityConfig::default(),
            firewall: FirewallConfig::default(),
            ownership: OwnershipConfig::default(),
        }
    }
}

/// Which VMs are wired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VmSelection {
    /// VMs `1..=N`.
    Count(u32),
    /// Explicit indices and `"A-B"` ranges.
    List(Vec<VmSpec>),
}

/// One entry of a VM list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VmSpec {
    /// A single index.
    Index(u32),
    /// An inclusive range written `"A-B"`.
    Range(String),
}

/// `[ipv4]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Ipv4Config {
    /// The VM pool; its first address is the host gateway on every tap.
    #[schemars(with = "String")]
    pub pool: Ipv4Net,
}

impl Default for Ipv4Config {
    fn default() -> Self {
        Self {
            pool: "10.0.0.0/24".parse().expect("valid"),
        }
    }
}

/// `[ipv6]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Ipv6Config {
    /// Whether VMs get IPv6 at all.
    pub enabled: bool,
    /// The VM pool; its prefix address is the host gateway on every tap.
    /// `fec0::/10` is deprecated site-local space (RFC 3879), kept as the
    /// default for compatibility; prefer a ULA such as `fd00:b1::/64`.
    #[schemars(with = "String")]
    pub pool: Ipv6Net,
}

impl Default for Ipv6Config {
    fn default() -> Self {
        Self {
            enabled: true,
            pool: "fec0::/64".parse().expect("valid"),
        }
    }
}

/// `[tap]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TapConfig {
    /// Create multi-queue taps (cloud-hypervisor/qemu with several queue
    /// pairs). Firecracker needs `false`.
    pub multi_queue: bool,
    /// Queue pairs the VMM will open (used for VMM arguments; > 1 needs
    /// `multi_queue`).
    pub queues: u16,
    /// Create taps with `IFF_VNET_HDR` (virtio-net offloads).
    pub vnet_hdr: bool,
    /// MTU of the host side of every tap.
    pub mtu: u32,
}

impl Default for TapConfig {
    fn default() -> Self {
        Self {
            multi_queue: false,
            queues: 1,
            vnet_hdr: true,
            mtu: 1500,
        }
    }
}

/// `[nat]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NatConfig {
    /// Masquerade IPv4 from the pool leaving by the external interface.
    pub ipv4: bool,
    /// Masquerade IPv6 from the pool leaving by the external interface.
    pub ipv6: bool,
}

impl Default for NatConfig {
    fn default() -> Self {
        Self {
            ipv4: true,
            ipv6: true,
        }
    }
}

/// `[security]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Drop packets entering by `vmN` whose source is not VM N's address.
    pub anti_spoofing: bool,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            anti_spoofing: true,
        }
    }
}

/// Accept or drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it through.
    Accept,
    /// Drop it silently.
    Drop,
}

/// Transport protocol of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
}

/// `[firewall]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FirewallConfig {
    /// Unsolicited connections from outside to a VM.
    pub inbound_default: Action,
    /// What VMs may open to the host itself beyond ICMP and replies
    /// (which always pass): `"accept"` lets VMs reach every host port,
    /// `"drop"` only the ports listed in `host_ports`.
    pub host_input_default: Action,
    /// Host TCP/UDP ports VMs may always reach (DNS by default).
    pub host_ports: Vec<u16>,
    /// Rules in order; first match wins; they apply to new connections.
    pub rules: Vec<RuleConfig>,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        Self {
            inbound_default: Action::Drop,
            host_input_default: Action::Accept,
            host_ports: vec![53],
            rules: Vec::new(),
        }
    }
}

/// One `[[firewall.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Source: `"vmN"`, `"vmA-vmB"`, `"host"`, `"external"`, `"any"` or a CIDR.
    pub from: String,
    /// Destination, same forms as `from`.
    pub to: String,
    /// What to do with a matching new connection.
    pub action: Action,
    /// Optional protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Optional destination port (needs `protocol` tcp or udp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// `[ownership]`: how our objects are marked so we only touch our own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OwnershipConfig {
    /// Interface group of our taps (`ip link ... group N`).
    pub link_group: u32,
    /// Route protocol number on our routes (`ip route ... proto N`).
    pub route_protocol: u8,
    /// Our nftables table (family `inet`).
    pub nft_table: String,
}

/// Default interface group of our taps.
pub const DEFAULT_LINK_GROUP: u32 = 0xb11;
/// Default route protocol of our routes.
pub const DEFAULT_ROUTE_PROTOCOL: u8 = 0xb1;
/// Prefix of the `ifalias` we set on our taps (`blixard:vm7`).
pub const ALIAS_PREFIX: &str = "blixard:";

impl Default for OwnershipConfig {
    fn default() -> Self {
        Self {
            link_group: DEFAULT_LINK_GROUP,
            route_protocol: DEFAULT_ROUTE_PROTOCOL,
            nft_table: "blixard".into(),
        }
    }
}

/// A parsed rule endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// Any of these VM taps.
    Vms(Vec<String>),
    /// The host itself.
    Host,
    /// Anything beyond the external interface.
    External,
    /// Anything.
    Any,
    /// An address range.
    Cidr(#[schemars(with = "String")] IpNet),
}
