//! Everything a config must satisfy before it is planned: what the kernel
//! or nft would refuse half-way through an apply is refused here, with the
//! key it concerns.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use ipnet::IpNet;

use super::UNSET_ID;
use super::placement;
use super::selector::{Unplanned, parse_selector, resolve_vms};
use crate::bgp::BgpPlan;
use crate::config::{Config, Protocol, QueueError, ResolvedLimits};
use crate::error::{ConfigError, ConfigErrorKind, LayoutError};
use crate::layout::{Layout, MAX_INTERFACE_NAME_LEN, VmIndex, is_safe_name_char};
use crate::plan::{FirewallRule, ForwardPlan};

/// Smallest MTU the kernel accepts for IPv4 on a tap.
pub const MIN_MTU: u32 = 68;
/// Largest MTU of a tap (`ETH_MAX_MTU`... minus tun's headroom).
pub const MAX_MTU: u32 = 65521;
/// Smallest MTU of a link that carries IPv6 (RFC 8200; the kernel refuses
/// IPv6 addresses on a smaller one).
pub const MIN_IPV6_MTU: u32 = 1280;
/// Longest nft table name: `NFT_NAME_MAXLEN` is 256 bytes with the NUL.
pub const MAX_NFT_TABLE_LEN: usize = 255;

/// The parts of a config that planning derives and validation checks.
pub(crate) struct Resolved {
    pub(crate) layout: Layout,
    pub(crate) indices: Vec<VmIndex>,
    pub(crate) rules: Vec<FirewallRule>,
    pub(crate) forwards: Vec<ForwardPlan>,
    pub(crate) allow_networks: Vec<IpNet>,
    pub(crate) bgp: Option<BgpPlan>,
    pub(crate) limits: ResolvedLimits,
}

/// Validates everything that needs no host facts.
pub(super) fn resolve(config: &Config) -> Result<Resolved, ConfigError> {
    let ownership = &config.ownership;
    if ownership.link_group == 0 {
        return Err(ConfigError::at_key(
            "ownership.link_group",
            ConfigErrorKind::LinkGroupZero,
        ));
    }
    if ownership.route_protocol <= 4 {
        return Err(ConfigError::at_key(
            "ownership.route_protocol",
            ConfigErrorKind::ReservedRouteProtocol {
                protocol: ownership.route_protocol,
            },
        ));
    }
    check_safe(&ownership.nft_table, false)
        .and_then(|()| check_nft_identifier(&ownership.nft_table))
        .map_err(|k| ConfigError::at_key("ownership.nft_table", k))?;
    for (key, value) in [("owner", &config.owner), ("group", &config.group)] {
        if let Some(v) = value {
            check_safe(v, true).map_err(|k| ConfigError::at_key(key, k))?;
            if v.parse::<u32>() == Ok(UNSET_ID) {
                return Err(ConfigError::at_key(
                    key,
                    ConfigErrorKind::UnsetId { id: UNSET_ID },
                ));
            }
        }
    }
    match config.external_interface.as_str() {
        "auto" | "none" => {}
        name => {
            check_interface_name(name).map_err(|k| ConfigError::at_key("external_interface", k))?
        }
    }
    let tap = &config.tap;
    match tap.check_queues(tap.queues) {
        Err(QueueError::Zero) => {
            return Err(ConfigError::at_key(
                "tap.queues",
                ConfigErrorKind::ZeroQueues,
            ));
        }
        Err(QueueError::NeedsMultiQueue { queues }) => {
            return Err(ConfigError::at_key(
                "tap.queues",
                ConfigErrorKind::QueuesWithoutMultiQueue { queues },
            ));
        }
        // Multi-queue taps may serve a VMM given more pairs on its own
        // command line; its arguments are checked when rendered.
        Err(QueueError::OnePairOnMultiQueueTap) | Ok(()) => {}
    }
    if !(MIN_MTU..=MAX_MTU).contains(&tap.mtu) {
        return Err(ConfigError::at_key(
            "tap.mtu",
            ConfigErrorKind::MtuOutOfRange { mtu: tap.mtu },
        ));
    }
    if config.ipv6.enabled && tap.mtu < MIN_IPV6_MTU {
        return Err(ConfigError::at_key(
            "tap.mtu",
            ConfigErrorKind::MtuTooSmallForIpv6 { mtu: tap.mtu },
        ));
    }
    let layout = config.layout()?;
    let indices = resolve_vms(&config.vms, &layout)?;
    if !matches!(config.external_interface.as_str(), "auto" | "none") {
        check_not_a_planned_tap(&config.external_interface, &layout, &indices)
            .map_err(|k| ConfigError::at_key("external_interface", k))?;
    }
    check_gateway_name(
        &config.gateway_interface,
        &config.external_interface,
        &layout,
        &indices,
    )?;
    // The layout checked the pool's largest name; check the largest planned
    // one too, so the error names what will actually be created.
    if let Some(last) = indices.last() {
        let name = layout.interface_name(last.get());
        if name.len() > MAX_INTERFACE_NAME_LEN {
            return Err(ConfigError::at_key(
                "interface_template",
                LayoutError::NameTooLong {
                    name,
                    max: MAX_INTERFACE_NAME_LEN,
                },
            ));
        }
    }
    check_ports(config)?;
    let mut rules: Vec<FirewallRule> = Vec::with_capacity(config.firewall.rules.len());
    // Rules by the hash of their match, to find a repeated match in linear
    // time (60k rules took 8 s comparing each with all before it).
    let mut by_match: HashMap<u64, Vec<usize>> = HashMap::new();
    let scope = placement::Scope::new(&layout, config);
    // In a cluster a rule may name the VMs of other hosts.
    let unplanned = match config.bgp {
        Some(_) => Unplanned::OtherHost {
            ipv6: config.ipv6.enabled,
        },
        None => Unplanned::Refused,
    };
    for (i, rule) in config.firewall.rules.iter().enumerate() {
        let key = |field: &str| format!("firewall.rules[{i}].{field}");
        if rule.port.is_some() && !matches!(rule.protocol, Some(Protocol::Tcp | Protocol::Udp)) {
            return Err(ConfigError::at_key(
                key("port"),
                ConfigErrorKind::PortWithoutProtocol,
            ));
        }
        let from = parse_selector(&rule.from, &layout, &indices, unplanned)
            .map_err(|k| ConfigError::at_key(key("from"), k))?;
        let to = parse_selector(&rule.to, &layout, &indices, unplanned)
            .map_err(|k| ConfigError::at_key(key("to"), k))?;
        let mut resolved = FirewallRule {
            from,
            to,
            protocol: rule.protocol,
            port: rule.port,
            action: rule.action,
            chains: Vec::new(),
        };
        let hash = match_hash(&resolved);
        let same = by_match.entry(hash).or_default();
        if let Some(&earlier) = same.iter().find(|&&j| {
            let r = &rules[j];
            r.from == resolved.from
                && r.to == resolved.to
                && r.protocol == resolved.protocol
                && r.port == resolved.port
        }) {
            return Err(ConfigError::at_key(
                format!("firewall.rules[{i}]"),
                ConfigErrorKind::ConflictingRule { rule: i, earlier },
            ));
        }
        resolved.chains = placement::place(&resolved, i, &scope)?;
        same.push(rules.len());
        rules.push(resolved);
    }
    let limits = config.limits.resolve(|name| {
        layout
            .index_of_interface(name)
            .is_some_and(|i| indices.contains(&i))
    })?;
    Ok(Resolved {
        forwards: super::forwards::resolve_forwards(config, &layout, &indices)?,
        limits,
        allow_networks: placement::allow_networks(config)?,
        bgp: crate::bgp::resolve(config, &layout, &indices)?,
        layout,
        indices,
        rules,
    })
}

/// What a rule matches, hashed: rules with the same match hash alike.
fn match_hash(rule: &FirewallRule) -> u64 {
    let mut h = DefaultHasher::new();
    (&rule.from, &rule.to, rule.protocol, rule.port).hash(&mut h);
    h.finish()
}

/// Port 0 is no TCP/UDP port: nft would accept the rule and it would never
/// match anything.
fn check_ports(config: &Config) -> Result<(), ConfigError> {
    if let Some(i) = config.firewall.host_ports.iter().position(|&p| p == 0) {
        return Err(ConfigError::at_key(
            format!("firewall.host_ports[{i}]"),
            ConfigErrorKind::PortZero,
        ));
    }
    if let Some(i) = config.firewall.rules.iter().position(|r| r.port == Some(0)) {
        return Err(ConfigError::at_key(
            format!("firewall.rules[{i}].port"),
            ConfigErrorKind::PortZero,
        ));
    }
    Ok(())
}

/// The uplink must not be one of the plan's own taps: NAT and `accept_ra`
/// would be set up on a VM's link.
pub(super) fn check_not_a_planned_tap(
    name: &str,
    layout: &Layout,
    planned: &[VmIndex],
) -> Result<(), ConfigErrorKind> {
    match layout.index_of_interface(name) {
        Some(index) if planned.binary_search(&index).is_ok() => {
            Err(ConfigErrorKind::ExternalIsPlannedTap {
                name: name.to_string(),
                index: index.get(),
            })
        }
        _ => Ok(()),
    }
}

/// The gateway device is a link of ours beside the taps: neither a planned
/// tap nor the uplink may have its name (the uplink named by the config,
/// or found by `auto` on the host).
pub(super) fn check_gateway_name(
    name: &str,
    uplink: &str,
    layout: &Layout,
    planned: &[VmIndex],
) -> Result<(), ConfigError> {
    let at_key = |k| ConfigError::at_key("gateway_interface", k);
    check_interface_name(name).map_err(at_key)?;
    if let Some(index) = layout.index_of_interface(name)
        && planned.binary_search(&index).is_ok()
    {
        return Err(at_key(ConfigErrorKind::GatewayIsPlannedTap {
            name: name.to_string(),
            index: index.get(),
        }));
    }
    if name == uplink {
        return Err(at_key(ConfigErrorKind::GatewayIsUplink {
            name: name.to_string(),
        }));
    }
    Ok(())
}

fn check_safe(value: &str, dots: bool) -> Result<(), ConfigErrorKind> {
    let unsafe_name = |reason: String| ConfigErrorKind::UnsafeName {
        value: value.to_string(),
        reason,
    };
    if value.is_empty() {
        return Err(unsafe_name("it is empty".into()));
    }
    if let Some(c) = value
        .chars()
        .find(|&c| !(is_safe_name_char(c) || (dots && c == '.')))
    {
        let allowed = if dots {
            "letters, digits, '_', '-' and '.'"
        } else {
            "letters, digits, '_' and '-'"
        };
        return Err(unsafe_name(format!(
            "character {c:?} is not allowed (use {allowed})"
        )));
    }
    Ok(())
}

/// nft's own parser reads the table name when we list the table (`nft list
/// table inet NAME`): a leading digit makes it a number there. The kernel
/// refuses a longer name (ERANGE) only once the taps and routes are made.
fn check_nft_identifier(name: &str) -> Result<(), ConfigErrorKind> {
    let refused = |reason: String| ConfigErrorKind::UnsafeName {
        value: name.to_string(),
        reason,
    };
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return Err(refused(
            "an nft table name must start with a letter or '_'".into(),
        ));
    }
    if name.len() > MAX_NFT_TABLE_LEN {
        return Err(refused(format!(
            "it is {} bytes and an nft table name is at most {MAX_NFT_TABLE_LEN} bytes",
            name.len()
        )));
    }
    Ok(())
}

pub(super) fn check_interface_name(name: &str) -> Result<(), ConfigErrorKind> {
    check_safe(name, false)?;
    if name.len() > MAX_INTERFACE_NAME_LEN {
        return Err(ConfigErrorKind::UnsafeName {
            value: name.to_string(),
            reason: format!("interface names are at most {MAX_INTERFACE_NAME_LEN} bytes"),
        });
    }
    Ok(())
}
