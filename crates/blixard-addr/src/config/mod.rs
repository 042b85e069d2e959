//! The configuration file model (`/etc/blixard/network.toml`).
//!
//! Every key has a default; the defaults are the seed's layout (64 VMs,
//! `vmN`, `10.0.0.N/32`, `fec0::N/128`, NAT, Quad9 DNS).

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

#[cfg(test)]
use crate::error::LayoutError;
use crate::error::{ConfigError, ConfigErrorKind};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it through.
    Accept,
    /// Drop it silently.
    Drop,
}

/// Transport protocol of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
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
    /// What VMs may open to the host itself beyond ICMP, `host_ports` and
    /// replies: `"accept"` lets VMs reach every host port, `"drop"` only
    /// the ports listed in `host_ports`.
    pub host_input_default: Action,
    /// Host TCP/UDP ports VMs may reach (DNS by default); a rule that says
    /// otherwise comes first.
    pub host_ports: Vec<u16>,
    /// Networks VMs may reach besides other VMs and the external interface
    /// (a LAN, a VPN, a container bridge), whatever interface routes them;
    /// routed, not masqueraded. Every other network the host is attached
    /// to is closed to VMs unless a rule names it.
    #[schemars(with = "Vec<String>")]
    pub allow_networks: Vec<IpNet>,
    /// Rules in order; first match wins; they apply to new connections.
    pub rules: Vec<RuleConfig>,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        Self {
            inbound_default: Action::Drop,
            host_input_default: Action::Accept,
            host_ports: vec![53],
            allow_networks: Vec::new(),
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, JsonSchema)]
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
        let config: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start);
            let key = offset.and_then(|o| key_path_at(text, o).or_else(|| key_on_line(text, o)));
            let (line, column) = match offset {
                Some(o) => {
                    let (l, c) = crate::error::line_column(text, o);
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
        })?;
        config.validate().map_err(|e| e.locate(text, source))?;
        Ok(config)
    }

    /// The config as TOML; [`Config::from_toml_str`] reads it back unchanged.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("every config value has a TOML form")
    }

    /// Checks everything that does not need host facts (the same checks as
    /// [`crate::planner::build_plan`] minus the resolved external interface).
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::planner::resolve(self).map(|_| ())
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

enum Seg {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn parse_path(key: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        while let Some((index, tail)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Seg::Index(i));
            }
            rest = tail.strip_prefix('[').unwrap_or(tail);
        }
    }
    out
}

/// The key path of the innermost key or value around byte `offset`, e.g.
/// `firewall.rules[1].port`. Tables written as `[headers]` have spans that
/// cover only the header, so every table is searched, not just enclosing
/// spans.
fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let (table, _) = DeTable::parse_recoverable(text);
    let mut path = Vec::new();
    search_table(table.get_ref(), offset, &mut path).then(|| render_path(&path))
}

fn contains(span: std::ops::Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end
}

fn search_table(table: &DeTable<'_>, offset: usize, path: &mut Vec<Seg>) -> bool {
    for (key, value) in table.iter() {
        path.push(Seg::Key(key.get_ref().to_string()));
        let here = contains(key.span(), offset) || contains(value.span(), offset);
        if search_value(value.get_ref(), offset, path) || here {
            return true;
        }
        path.pop();
    }
    false
}

fn search_value(value: &DeValue<'_>, offset: usize, path: &mut Vec<Seg>) -> bool {
    match value {
        DeValue::Table(t) => search_table(t, offset, path),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                if search_value(item.get_ref(), offset, path) || contains(item.span(), offset) {
                    return true;
                }
                path.pop();
            }
            false
        }
        _ => false,
    }
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

/// For text too broken to parse with spans (an unterminated string): the
/// key written at the start of the line holding `offset`, under the last
/// table header above it (`[[t]]` headers counted, so `t[1].key`).
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?.trim();
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if line.starts_with('[') {
        // A broken header (`[ipv4`): the table it names.
        let name = line.trim_start_matches('[').split(']').next()?.trim();
        return bare(name).then(|| name.to_string());
    }
    let key = line.split_once('=')?.0.trim();
    if !bare(key) {
        return None;
    }
    let above: Vec<&str> = text[..start].lines().map(str::trim).collect();
    let Some(header) = above.iter().rev().find(|l| l.starts_with('[')) else {
        return Some(key.to_string());
    };
    let table = if let Some(name) = header.strip_prefix("[[") {
        let name = name.split("]]").next()?.trim();
        let count = above.iter().filter(|l| *l == header).count();
        format!("{name}[{}]", count - 1)
    } else {
        header[1..].split(']').next()?.trim().to_string()
    };
    bare(table.split('[').next()?).then(|| format!("{table}.{key}"))
}

/// Byte offset where `key` (or its nearest parent present in the file) is
/// written; `None` when not even its top-level key is in the file.
pub(crate) fn key_offset(text: &str, key: &str) -> Option<usize> {
    let (table, _) = DeTable::parse_recoverable(text);
    let mut segs = parse_path(key).into_iter();
    let Some(Seg::Key(first)) = segs.next() else {
        return None;
    };
    let (k, v) = table.get_ref().get_key_value(first.as_str())?;
    let mut found = k.span().start;
    let mut current = v.get_ref();
    for seg in segs {
        match (seg, current) {
            (Seg::Key(k), DeValue::Table(t)) => match t.get_key_value(k.as_str()) {
                Some((k, v)) => {
                    found = k.span().start;
                    current = v.get_ref();
                }
                None => break,
            },
            (Seg::Index(i), DeValue::Array(items)) => match items.get(i) {
                Some(item) => {
                    // An array-of-tables item's span is its `[[header]]`;
                    // an inline item's span is the item itself.
                    found = item.span().start;
                    current = item.get_ref();
                }
                None => break,
            },
            _ => break,
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_file_is_fresh() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config.schema.json");
        let fresh = json_schema_string();
        if std::env::var_os("BLIXARD_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(path, &fresh).expect("write config.schema.json");
            return;
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{path} is stale: run `BLIXARD_BLESS=1 cargo test -p blixard-addr schema_file_is_fresh`"
        );
    }

    #[test]
    fn readme_lists_the_real_defaults() {
        let readme = include_str!("../../README.md");
        let start = readme.find("```toml\n").expect("README has a toml block") + 8;
        let len = readme[start..].find("```").expect("closed block");
        let parsed = Config::from_toml_str(&readme[start..start + len], "README.md").unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn default_config_round_trips_through_toml() {
        let config = Config::default();
        let text = config.to_toml_string();
        assert_eq!(Config::from_toml_str(&text, "x.toml").unwrap(), config);
        assert_eq!(Config::from_toml_str("", "empty.toml").unwrap(), config);
    }

    fn err(text: &str) -> ConfigError {
        Config::from_toml_str(text, "net.toml").expect_err("config must be rejected")
    }

    fn assert_at(e: &ConfigError, line: u32, key: &str) {
        assert_eq!(e.file.as_deref(), Some("net.toml"), "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.column.is_some(), "{e}");
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        let shown = e.to_string();
        assert!(shown.starts_with(&format!("net.toml:{line}:")), "{shown}");
        assert!(shown.contains(key), "{shown}");
    }

    #[test]
    fn syntax_error_names_file_line_and_key() {
        let e = err("vms = 4\n[ipv4]\npool = 10.0.0.0/24\n");
        assert_at(&e, 3, "ipv4.pool");
        assert!(matches!(e.kind, ConfigErrorKind::Toml(_)));
    }

    #[test]
    fn unterminated_string_names_the_key_on_its_line() {
        let e = err("vms = 2\nowner = \"root\n");
        assert_at(&e, 2, "owner");
        let e = err(
            "vms = 2\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"drop\"\n[[firewall.rules]]\nfrom = \"vm1\n",
        );
        assert_at(&e, 7, "firewall.rules[1].from");
        let e = err("vms = 2\n[ipv4\npool = \"10.0.0.0/24\"\n");
        assert_at(&e, 2, "ipv4");
    }

    #[test]
    fn wrong_vms_type_says_what_to_write() {
        let e = err("vms = \"two\"\n");
        assert_at(&e, 1, "vms");
        assert!(e.to_string().contains("a VM count such as 64"), "{e}");
    }

    #[test]
    fn wrong_type_names_key() {
        let e = err("vms = 4\n\n[tap]\nmtu = \"big\"\n");
        assert_at(&e, 4, "tap.mtu");
        assert_eq!(e.column, Some(7));
    }

    #[test]
    fn unknown_key_names_key() {
        let e = err("[ipv4]\npool = \"10.0.0.0/24\"\npoool = \"x\"\n");
        assert_at(&e, 3, "ipv4.poool");
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn pool_not_network_names_key() {
        let e = err("vms = 4\n[ipv4]\npool = \"10.0.0.1/24\"\n");
        assert_at(&e, 3, "ipv4.pool");
        assert!(matches!(
            e.kind,
            ConfigErrorKind::Layout(LayoutError::PoolNotNetwork(_))
        ));
    }

    #[test]
    fn rule_selector_error_names_rule_and_field() {
        let text = "vms = 4\n\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"drop\"\n\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm9\"\naction = \"drop\"\n";
        let e = err(text);
        assert_at(&e, 10, "firewall.rules[1].to");
        assert_eq!(
            e.kind,
            ConfigErrorKind::VmNotPlanned {
                selector: "vm9".into(),
                index: 9
            }
        );
    }

    #[test]
    fn malformed_range_names_list_item() {
        let e = err("vms = [1, \"10-2\"]\n");
        assert_at(&e, 1, "vms[1]");
        assert_eq!(
            e.kind,
            ConfigErrorKind::BadRange {
                range: "10-2".into()
            }
        );
        let e = err("vms = [\"a-b\"]\n");
        assert_eq!(
            e.kind,
            ConfigErrorKind::BadRange {
                range: "a-b".into()
            }
        );
    }

    #[test]
    fn queues_without_multi_queue_names_key() {
        let e = err("[tap]\nmulti_queue = false\nqueues = 4\n");
        assert_at(&e, 3, "tap.queues");
        assert_eq!(
            e.kind,
            ConfigErrorKind::QueuesWithoutMultiQueue { queues: 4 }
        );
    }

    #[test]
    fn reserved_route_protocol_names_key() {
        let e = err("[ownership]\nroute_protocol = 4\n");
        assert_at(&e, 2, "ownership.route_protocol");
        let e = err("[ownership]\nlink_group = 0\n");
        assert_at(&e, 2, "ownership.link_group");
    }

    #[test]
    fn unsafe_table_name_names_key() {
        let e = err("[ownership]\nnft_table = \"x; flush ruleset\"\n");
        assert_at(&e, 2, "ownership.nft_table");
        assert!(matches!(e.kind, ConfigErrorKind::UnsafeName { .. }));
    }

    #[test]
    fn too_many_vms_names_key() {
        let e = err("\n\nvms = 300\n");
        assert_at(&e, 3, "vms");
        assert_eq!(
            e.kind,
            ConfigErrorKind::Layout(LayoutError::TooManyVms {
                count: 300,
                max: 255
            })
        );
    }

    #[test]
    fn defaulted_key_falls_back_to_parent_line() {
        // `tap.queues` is not written: the error points at `[tap]`.
        let e = err("vms = 2\n[tap]\nmulti_queue = false\nqueues = 0\n");
        assert_at(&e, 4, "tap.queues");
        let e = Config::from_toml_str("vms = 2\n\n[tap]\nmtu = 9000\n", "n.toml").unwrap();
        let mut bad = e.clone();
        bad.tap.queues = 3;
        let located = bad
            .validate()
            .unwrap_err()
            .locate("vms = 2\n\n[tap]\nmtu = 9000\n", "n.toml");
        assert_eq!(located.line, Some(3));
    }

    #[test]
    fn conflicting_rules_are_rejected() {
        let text = "vms = 4\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"drop\"\n[[firewall.rules]]\nfrom = \"vm1\"\nto = \"vm2\"\naction = \"accept\"\n";
        let e = err(text);
        assert_at(&e, 6, "firewall.rules[1]");
        assert_eq!(
            e.kind,
            ConfigErrorKind::ConflictingRule {
                rule: 1,
                earlier: 0
            }
        );
    }
}
