//! The configuration file model (`/etc/blixard/network.toml`).
//!
//! Every key has a default; the defaults are the seed's layout (64 VMs,
//! `vmN`, `10.0.0.N/32`, `fec0::N/128`, NAT, Quad9 DNS).

use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigErrorKind, LayoutError};
use crate::layout::Layout;
use crate::planner::ValidConfig;

mod bgp;
mod defaults;
mod firewall;
mod forwards;
mod limits;
mod location;
mod queues;

#[doc(no_inline)]
pub use crate::plan::ALIAS_PREFIX;
pub use bgp::{BgpConfig, BgpPeerConfig};
pub use defaults::{
    DEFAULT_GATEWAY_INTERFACE, DEFAULT_INTERFACE_TEMPLATE, DEFAULT_IPV4_POOL, DEFAULT_IPV6_POOL,
    DEFAULT_LINK_GROUP, DEFAULT_NFT_TABLE, DEFAULT_ROUTE_PROTOCOL, DEFAULT_VMS,
};
pub use firewall::{Action, FirewallConfig, Protocol, RuleConfig, Selector};
pub use forwards::ForwardConfig;
pub(crate) use limits::ResolvedLimits;
pub use limits::{
    DEFAULT_BURST_MS, EgressMethod, LimitConfig, LimitError, LimitsConfig, MIN_DEFAULT_BURST,
    VmLimitsConfig, default_burst, parse_rate, parse_size,
};
pub(crate) use location::{key_offset, line_column};
pub use queues::QueueError;

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Which VMs to wire: a count (`64` means 1..=64) or a list of indices and
    /// ranges (`[1, 2, "10-20"]`). With `[bgp]`, this host's indices in the
    /// cluster's pools, which no other host may hold.
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
    /// The device of ours that holds the host's gateway addresses
    /// (`10.0.0.0`, `fec0::`) for every VM: a tap no VMM opens.
    pub gateway_interface: String,
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
    /// Host ports forwarded to VMs (`[[forwards]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forwards: Vec<ForwardConfig>,
    /// How our objects are marked on the host.
    pub ownership: OwnershipConfig,
    /// Bandwidth limits per VM: a default and per-VM overrides.
    #[serde(skip_serializing_if = "LimitsConfig::is_empty")]
    pub limits: LimitsConfig,
    /// This host in a cluster routed by BGP; absent, a single host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            vms: VmSelection::Count(DEFAULT_VMS),
            owner: None,
            group: None,
            external_interface: "auto".into(),
            interface_template: DEFAULT_INTERFACE_TEMPLATE.into(),
            gateway_interface: DEFAULT_GATEWAY_INTERFACE.into(),
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
            forwards: Vec::new(),
            ownership: OwnershipConfig::default(),
            limits: LimitsConfig::default(),
            bgp: None,
        }
    }
}

/// Which VMs are wired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[non_exhaustive]
pub enum VmSelection {
    /// VMs `1..=N`.
    Count(u32),
    /// Explicit indices and `"A-B"` ranges.
    List(Vec<VmSpec>),
}

/// One entry of a VM list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
#[non_exhaustive]
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
    /// The VM pool; its first address is the host gateway of every VM.
    #[schemars(with = "String")]
    pub pool: Ipv4Net,
}

impl Default for Ipv4Config {
    fn default() -> Self {
        Self {
            pool: DEFAULT_IPV4_POOL,
        }
    }
}

/// `[ipv6]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct Ipv6Config {
    /// Whether VMs get IPv6 at all.
    pub enabled: bool,
    /// The VM pool; its prefix address is the host gateway of every VM.
    /// `fec0::/10` is deprecated site-local space (RFC 3879), kept as the
    /// default for compatibility; prefer a ULA such as `fd00:b1::/64`.
    #[schemars(with = "String")]
    pub pool: Ipv6Net,
}

impl Default for Ipv6Config {
    fn default() -> Self {
        Self {
            enabled: true,
            pool: DEFAULT_IPV6_POOL,
        }
    }
}

/// `[tap]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
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
#[non_exhaustive]
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
#[non_exhaustive]
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

/// `[ownership]`: how our objects are marked so we only touch our own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct OwnershipConfig {
    /// Interface group of our taps (`ip link ... group N`).
    pub link_group: u32,
    /// Route protocol number on our routes (`ip route ... proto N`).
    pub route_protocol: u8,
    /// Our nftables table (family `inet`).
    pub nft_table: String,
}

impl Default for OwnershipConfig {
    fn default() -> Self {
        Self {
            link_group: DEFAULT_LINK_GROUP,
            route_protocol: DEFAULT_ROUTE_PROTOCOL,
            nft_table: DEFAULT_NFT_TABLE.into(),
        }
    }
}

/// The largest config file read (1 MiB): a real one is a few KiB (10,000
/// rules take about 600 KiB), and a reader must not be made to hold a
/// device's endless output or a stray huge file.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

impl Config {
    /// Parses and validates a config file. `source` names the file in error
    /// messages; every error carries the line, column and key path it
    /// concerns when the file shows them. Text over [`MAX_CONFIG_BYTES`] is
    /// refused unread.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Config, ConfigError> {
        let config = Config::parse_toml(text, source)?;
        config.validate().map_err(|e| e.locate(text, source))?;
        Ok(config)
    }

    /// Parses a config file without [`Config::validate`]: only its size,
    /// TOML syntax, types and keys are checked. For a caller that plans
    /// anyway: [`crate::planner::build_plan`] (or [`Config::validated`],
    /// then [`ValidConfig::plan`]) checks everything `validate` does, so
    /// parsing with this and locating the planner's error with
    /// [`ConfigError::locate`] validates the config once, not twice.
    pub fn parse_toml(text: &str, source: &str) -> Result<Config, ConfigError> {
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError {
                file: Some(source.to_string()),
                line: None,
                column: None,
                key: None,
                kind: ConfigErrorKind::TooBig {
                    bytes: text.len() as u64,
                },
            });
        }
        toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            let key = offset.and_then(|o| {
                location::key_path_at(text, o).or_else(|| location::key_on_line(text, o))
            });
            let (line, column) = match offset {
                Some(o) => {
                    let (l, c) = line_column(text, o);
                    (Some(l), Some(c))
                }
                None => (None, None),
            };
            ConfigError {
                file: Some(source.to_string()),
                line,
                column,
                key,
                kind: ConfigErrorKind::Toml(plain_message(e.message())),
            }
        })
    }

    /// The config as TOML; [`Config::from_toml_str`] reads it back unchanged.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("every config value has a TOML form")
    }

    /// Checks everything that does not need host facts (the same checks as
    /// [`crate::planner::build_plan`] minus the resolved external interface).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validated().map(|_| ())
    }

    /// [`Config::validate`], keeping what the checks derived so that
    /// planning does not check again: validate, resolve the host facts,
    /// then [`ValidConfig::plan`].
    pub fn validated(&self) -> Result<ValidConfig<'_>, ConfigError> {
        ValidConfig::new(self)
    }

    /// The address layout of the config (pools and template), checked
    /// alone: an error names `ipv4.pool`, `ipv6.pool` or
    /// `interface_template`. Cheaper than a plan when only the mapping is
    /// needed.
    pub fn layout(&self) -> Result<Layout, ConfigError> {
        Layout::new(self.ipv4.pool, self.ipv6.pool, &self.interface_template).map_err(|e| {
            let key = match &e {
                LayoutError::PoolNotNetwork(p)
                | LayoutError::PoolTooSmall(p)
                | LayoutError::SpecialPool { pool: p, .. }
                    if p.contains(':') =>
                {
                    "ipv6.pool"
                }
                LayoutError::PoolNotNetwork(_)
                | LayoutError::PoolTooSmall(_)
                | LayoutError::SpecialPool { .. } => "ipv4.pool",
                _ => "interface_template",
            };
            ConfigError::at_key(key, e)
        })
    }
}

/// The JSON schema of the config file, pretty-printed with a trailing newline
/// (committed as `crates/blixard-addr/config.schema.json`).
pub fn json_schema_string() -> String {
    let schema = schemars::schema_for!(Config);
    let mut out = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    out.push('\n');
    out
}

/// serde's message for an untagged enum names a Rust type; say what to write.
fn plain_message(message: &str) -> String {
    if message.contains("untagged enum VmSelection") {
        "expected a VM count such as 64, or a list of indices and \"A-B\" ranges such as [1, \"10-20\"]".into()
    } else if message.contains("untagged enum VmSpec") {
        "expected a VM index such as 7 or a range such as \"10-20\"".into()
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod tests;
