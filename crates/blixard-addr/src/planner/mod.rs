//! Config -> `HostPlan`, with validation.
//!
//! Every error names the config key it concerns (`ipv4.pool`,
//! `firewall.rules[2].to`); [`ConfigError::locate`] adds file, line and
//! column when the config came from a file.
//!
//! `nat.ipv6` is ignored when `ipv6.enabled` is false: there is no IPv6
//! traffic to masquerade, and refusing the combination would make turning
//! IPv6 off a two-key edit.

use std::collections::{BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{Config, Protocol, Selector, VmSelection, VmSpec};
use crate::error::{ConfigError, ConfigErrorKind, LayoutError};
use crate::layout::{Layout, MAX_INTERFACE_NAME_LEN, VmIndex, is_safe_name_char};
mod placement;
use crate::plan::{
    FirewallPlan, FirewallRule, FirewallVm, HostPlan, LinkPlan, Ownership, SysctlCondition,
    SysctlPlan, TapPlan,
};

/// Facts about the host that only the effect side can learn (user names,
/// the default route), resolved before planning so planning stays pure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFacts {
    /// Tap owner uid (resolved from `owner`).
    pub owner_uid: Option<u32>,
    /// Tap group gid (resolved from `group`).
    pub group_gid: Option<u32>,
    /// External interface (resolved from `external_interface`: the CLI turns
    /// `"auto"` into the default route's interface and `"none"` into `None`).
    pub external_interface: Option<String>,
}

/// Smallest MTU the kernel accepts for IPv4 on a tap.
pub const MIN_MTU: u32 = 68;
/// Largest MTU of a tap (`ETH_MAX_MTU`... minus tun's headroom).
pub const MAX_MTU: u32 = 65521;
/// Smallest MTU of a link that carries IPv6 (RFC 8200; the kernel refuses
/// IPv6 addresses on a smaller one).
pub const MIN_IPV6_MTU: u32 = 1280;
/// Longest nft table name: `NFT_NAME_MAXLEN` is 256 bytes with the NUL.
pub const MAX_NFT_TABLE_LEN: usize = 255;
/// `(uid_t)-1` / `(gid_t)-1`: the kernel's "no owner", which
/// `TUNSETOWNER`/`TUNSETGROUP` refuse (`uid_valid` fails).
pub const UNSET_ID: u32 = u32::MAX;
/// The sysctl that makes the host route IPv4 between its links.
pub const IPV4_FORWARDING: &str = "net.ipv4.ip_forward";
/// The sysctl that makes the host route IPv6 between its links.
pub const IPV6_FORWARDING: &str = "net.ipv6.conf.all.forwarding";

/// The parts of a config that planning derives and validation checks.
pub(crate) struct Resolved {
    pub(crate) layout: Layout,
    pub(crate) indices: Vec<VmIndex>,
    pub(crate) rules: Vec<FirewallRule>,
    pub(crate) allow_networks: Vec<IpNet>,
}

/// Builds the plan; fails with the first problem found, naming its key.
pub fn build_plan(config: &Config, facts: &HostFacts) -> Result<HostPlan, ConfigError> {
    build(config, facts, None)
}

/// The plan narrowed to VM `index` (no link at all when the config does not
/// wire it): the whole config is validated, but only that VM's link and set
/// elements are built, so wiring one VM costs the same on any host. The
/// host-wide parts (sysctls, the table's chains and rules) are the full
/// plan's.
pub fn build_vm_plan(
    config: &Config,
    facts: &HostFacts,
    index: u32,
) -> Result<HostPlan, ConfigError> {
    build(config, facts, Some(index))
}

fn build(config: &Config, facts: &HostFacts, only: Option<u32>) -> Result<HostPlan, ConfigError> {
    let mut resolved = resolve(config)?;
    if let Some(ext) = &facts.external_interface {
        check_interface_name(ext)
            .and_then(|()| check_not_a_planned_tap(ext, &resolved.layout, &resolved.indices))
            .map_err(|k| ConfigError::at_key("external_interface", k))?;
    }
    // The names resolved to ids on the host ($SUDO_USER included); an id
    // the kernel refuses would fail after the first taps were made.
    for (key, id) in [("owner", facts.owner_uid), ("group", facts.group_gid)] {
        if id == Some(UNSET_ID) {
            return Err(ConfigError::at_key(
                key,
                ConfigErrorKind::UnsetId { id: UNSET_ID },
            ));
        }
    }
    let layout = resolved.layout;
    let ipv6 = config.ipv6.enabled;
    let ownership = Ownership {
        link_group: config.ownership.link_group,
        route_protocol: config.ownership.route_protocol,
        nft_table: config.ownership.nft_table.clone(),
    };
    let tap = TapPlan {
        multi_queue: config.tap.multi_queue,
        vnet_hdr: config.tap.vnet_hdr,
        owner: facts.owner_uid,
        group: facts.group_gid,
        owner_required: config.owner.is_some(),
    };
    let gw4 = IpNet::new(layout.gateway_ipv4().into(), 32).expect("/32");
    let gw6 = IpNet::new(layout.gateway_ipv6().into(), 128).expect("/128");
    let mut links = Vec::with_capacity(resolved.indices.len());
    let mut fw_vms = Vec::with_capacity(resolved.indices.len());
    if let Some(only) = only {
        resolved.indices.retain(|i| i.get() == only);
    }
    for &index in &resolved.indices {
        let vm = layout
            .vm(index)
            .map_err(|e| ConfigError::at_key("vms", e))?;
        let mut addresses = vec![gw4];
        let mut routes = vec![IpNet::V4(vm.ipv4_net())];
        if ipv6 {
            addresses.push(gw6);
            routes.push(IpNet::V6(vm.ipv6_net()));
        }
        let sysctls = if config.security.anti_spoofing {
            vec![SysctlPlan {
                key: format!("net.ipv4.conf.{}.rp_filter", vm.interface),
                value: "1".into(),
                when: SysctlCondition::Always,
            }]
        } else {
            Vec::new()
        };
        fw_vms.push(FirewallVm {
            index,
            interface: vm.interface.clone(),
            ipv4: vm.ipv4,
            ipv6: ipv6.then_some(vm.ipv6),
        });
        links.push(LinkPlan {
            alias: ownership.alias_for(&vm.interface),
            tap: tap.clone(),
            mtu: config.tap.mtu,
            noqueue: config.tap.multi_queue,
            addresses,
            routes,
            sysctls,
            vm,
        });
    }
    let mut sysctls = vec![always(IPV4_FORWARDING, "1")];
    if ipv6 {
        sysctls.push(always(IPV6_FORWARDING, "1"));
        if let Some(ext) = &facts.external_interface {
            // Forwarding on stops the uplink from taking router
            // advertisements; 2 keeps them, but only where RA was in use.
            sysctls.push(SysctlPlan {
                key: format!("net.ipv6.conf.{ext}.accept_ra"),
                value: "2".into(),
                when: SysctlCondition::IfCurrently("1".into()),
            });
        }
    }
    let firewall = FirewallPlan {
        table: ownership.nft_table.clone(),
        external_interface: facts.external_interface.clone(),
        ipv4_pool: layout.ipv4_pool(),
        ipv6_pool: ipv6.then(|| layout.ipv6_pool()),
        masquerade_ipv4: config.nat.ipv4 && facts.external_interface.is_some(),
        masquerade_ipv6: ipv6 && config.nat.ipv6 && facts.external_interface.is_some(),
        anti_spoofing: config.security.anti_spoofing,
        inbound_default: config.firewall.inbound_default,
        host_input_default: config.firewall.host_input_default,
        host_ports: config.firewall.host_ports.clone(),
        allow_networks: resolved.allow_networks,
        vms: fw_vms,
        rules: resolved.rules,
    };
    Ok(HostPlan {
        layout,
        ownership,
        links,
        sysctls,
        firewall,
        external_interface: facts.external_interface.clone(),
    })
}

/// Whether `id` has a mapping in a user namespace's id map (the text of
/// `/proc/self/uid_map` or `gid_map`: `INSIDE OUTSIDE COUNT` per line). The
/// kernel refuses an unmapped id as a tap's owner or group (EINVAL), and
/// [`UNSET_ID`] never maps.
pub fn id_is_mapped(map: &str, id: u32) -> bool {
    id != UNSET_ID
        && map.lines().any(|line| {
            let mut fields = line.split_whitespace().map(str::parse::<u64>);
            match (fields.next(), fields.next(), fields.next()) {
                (Some(Ok(inside)), Some(Ok(_)), Some(Ok(count))) => {
                    (inside..inside.saturating_add(count)).contains(&u64::from(id))
                }
                _ => false,
            }
        })
}

fn always(key: &str, value: &str) -> SysctlPlan {
    SysctlPlan {
        key: key.into(),
        value: value.into(),
        when: SysctlCondition::Always,
    }
}

/// Validates everything that needs no host facts.
pub(crate) fn resolve(config: &Config) -> Result<Resolved, ConfigError> {
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
    if tap.queues == 0 {
        return Err(ConfigError::at_key(
            "tap.queues",
            ConfigErrorKind::ZeroQueues,
        ));
    }
    if tap.queues > 1 && !tap.multi_queue {
        return Err(ConfigError::at_key(
            "tap.queues",
            ConfigErrorKind::QueuesWithoutMultiQueue { queues: tap.queues },
        ));
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
    let layout = Layout::new(
        config.ipv4.pool,
        config.ipv6.pool,
        &config.interface_template,
    )
    .map_err(|e| {
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
    })?;
    let indices = resolve_vms(&config.vms, &layout)?;
    if !matches!(config.external_interface.as_str(), "auto" | "none") {
        check_not_a_planned_tap(&config.external_interface, &layout, &indices)
            .map_err(|k| ConfigError::at_key("external_interface", k))?;
    }
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
    for (i, rule) in config.firewall.rules.iter().enumerate() {
        let key = |field: &str| format!("firewall.rules[{i}].{field}");
        if rule.port.is_some() && !matches!(rule.protocol, Some(Protocol::Tcp | Protocol::Udp)) {
            return Err(ConfigError::at_key(
                key("port"),
                ConfigErrorKind::PortWithoutProtocol,
            ));
        }
        let from = parse_selector(&rule.from, &layout, &indices)
            .map_err(|k| ConfigError::at_key(key("from"), k))?;
        let to = parse_selector(&rule.to, &layout, &indices)
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
    Ok(Resolved {
        allow_networks: placement::allow_networks(config)?,
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
fn check_not_a_planned_tap(
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

fn resolve_vms(selection: &VmSelection, layout: &Layout) -> Result<Vec<VmIndex>, ConfigError> {
    let max = layout.max_index();
    match selection {
        VmSelection::Count(0) => Err(ConfigError::at_key("vms", ConfigErrorKind::NoVms)),
        VmSelection::Count(n) if *n > max => Err(ConfigError::at_key(
            "vms",
            LayoutError::TooManyVms { count: *n, max },
        )),
        VmSelection::Count(n) => (1..=*n)
            .map(|i| layout.index(i).map_err(|e| ConfigError::at_key("vms", e)))
            .collect(),
        VmSelection::List(specs) if specs.is_empty() => {
            Err(ConfigError::at_key("vms", ConfigErrorKind::NoVms))
        }
        VmSelection::List(specs) => {
            let mut seen = BTreeSet::new();
            for (i, spec) in specs.iter().enumerate() {
                let key = || format!("vms[{i}]");
                let (lo, hi) = match spec {
                    VmSpec::Index(n) => (*n, *n),
                    VmSpec::Range(r) => parse_range(r).ok_or_else(|| {
                        ConfigError::at_key(key(), ConfigErrorKind::BadRange { range: r.clone() })
                    })?,
                };
                for bound in [lo, hi] {
                    layout
                        .index(bound)
                        .map_err(|e| ConfigError::at_key(key(), e))?;
                }
                for n in lo..=hi {
                    if !seen.insert(n) {
                        return Err(ConfigError::at_key(
                            key(),
                            ConfigErrorKind::DuplicateVm { index: n },
                        ));
                    }
                }
            }
            Ok(seen
                .into_iter()
                .map(|n| layout.index(n).expect("checked"))
                .collect())
        }
    }
}

fn parse_range(range: &str) -> Option<(u32, u32)> {
    let (a, b) = range.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(a.trim()) || !digits(b.trim()) {
        return None;
    }
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// Parses a rule endpoint: `vmN` (an interface name of the layout),
/// `vmA-vmB`, `host`, `external`, `any`, a CIDR or a bare address.
pub fn parse_selector(
    text: &str,
    layout: &Layout,
    planned: &[VmIndex],
) -> Result<Selector, ConfigErrorKind> {
    let bad = |reason: &str| ConfigErrorKind::BadSelector {
        selector: text.to_string(),
        reason: reason.to_string(),
    };
    let is_planned = |i: VmIndex| planned.binary_search(&i).is_ok();
    match text {
        "host" => return Ok(Selector::Host),
        "external" => return Ok(Selector::External),
        "any" => return Ok(Selector::Any),
        _ => {}
    }
    if let Ok(net) = text.parse::<IpNet>() {
        if net.network() != net.addr() {
            return Err(bad("the address has host bits set beyond its prefix"));
        }
        return Ok(Selector::Cidr(net));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Selector::Cidr(IpNet::from(ip)));
    }
    if let Some(index) = layout.index_of_interface(text) {
        if !is_planned(index) {
            return Err(ConfigErrorKind::VmNotPlanned {
                selector: text.to_string(),
                index: index.get(),
            });
        }
        return Ok(Selector::Vms(vec![text.to_string()]));
    }
    // A template may itself contain '-', so try every split point.
    for (pos, _) in text.match_indices('-') {
        let (a, b) = (&text[..pos], &text[pos + 1..]);
        let (Some(lo), Some(hi)) = (layout.index_of_interface(a), layout.index_of_interface(b))
        else {
            continue;
        };
        if lo > hi {
            return Err(bad("the first VM of a range must not be after the last"));
        }
        for end in [lo, hi] {
            if !is_planned(end) {
                return Err(ConfigErrorKind::VmNotPlanned {
                    selector: text.to_string(),
                    index: end.get(),
                });
            }
        }
        let names = planned
            .iter()
            .filter(|i| (lo..=hi).contains(i))
            .map(|i| layout.interface_name(i.get()))
            .collect();
        return Ok(Selector::Vms(names));
    }
    Err(bad(&format!(
        "use {}, {}-{}, host, external, any or a CIDR such as 192.0.2.0/24",
        layout.interface_name(1),
        layout.interface_name(1),
        layout.interface_name(2)
    )))
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

fn check_interface_name(name: &str) -> Result<(), ConfigErrorKind> {
    check_safe(name, false)?;
    if name.len() > MAX_INTERFACE_NAME_LEN {
        return Err(ConfigErrorKind::UnsafeName {
            value: name.to_string(),
            reason: format!("interface names are at most {MAX_INTERFACE_NAME_LEN} bytes"),
        });
    }
    Ok(())
}

// Tests tweak one field of the default config at a time, which reads best
// as assignments.
#[cfg(test)]
#[allow(clippy::field_reassign_with_default, clippy::type_complexity)]
mod tests {
    use super::*;
    use crate::config::{Action, RuleConfig};

    fn facts() -> HostFacts {
        HostFacts {
            owner_uid: Some(1000),
            group_gid: Some(100),
            external_interface: Some("eth0".into()),
        }
    }

    #[test]
    fn a_vm_plan_is_the_full_plan_narrowed_to_that_vm() {
        let config = Config {
            vms: VmSelection::Count(300),
            ipv4: crate::config::Ipv4Config {
                pool: "10.0.0.0/16".parse().unwrap(),
            },
            ..Config::default()
        };
        let full = build_plan(&config, &facts()).unwrap();
        let one = build_vm_plan(&config, &facts(), 7).unwrap();
        let seven = VmIndex::new(7).unwrap();
        assert_eq!(one.links, vec![full.link(seven).unwrap().clone()]);
        assert_eq!(one.sysctls, full.sysctls);
        assert_eq!(one.firewall.rules, full.firewall.rules);
        assert_eq!(
            one.firewall.vms,
            full.firewall
                .vms
                .iter()
                .filter(|v| v.index == seven)
                .cloned()
                .collect::<Vec<_>>()
        );
        assert!(
            build_vm_plan(&config, &facts(), 301)
                .unwrap()
                .links
                .is_empty()
        );
    }

    #[test]
    fn default_plan_matches_the_seed() {
        let plan = build_plan(&Config::default(), &facts()).unwrap();
        assert_eq!(plan.links.len(), 64);
        let l3 = &plan.links[2];
        assert_eq!(l3.vm.interface, "vm3");
        assert_eq!(l3.alias, "blixard:vm3");
        assert_eq!(
            l3.addresses,
            vec![
                "10.0.0.0/32".parse::<IpNet>().unwrap(),
                "fec0::/128".parse().unwrap()
            ]
        );
        assert_eq!(
            l3.routes,
            vec![
                "10.0.0.3/32".parse::<IpNet>().unwrap(),
                "fec0::3/128".parse().unwrap()
            ]
        );
        assert_eq!(l3.tap.owner, Some(1000));
        assert_eq!(l3.tap.group, Some(100));
        assert!(!l3.noqueue);
        assert_eq!(l3.sysctls[0].key, "net.ipv4.conf.vm3.rp_filter");
        assert_eq!(plan.links[63].routes[1].to_string(), "fec0::40/128");
        let keys: Vec<_> = plan.sysctls.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "net.ipv4.ip_forward",
                "net.ipv6.conf.all.forwarding",
                "net.ipv6.conf.eth0.accept_ra"
            ]
        );
        assert_eq!(
            plan.sysctls[2].when,
            SysctlCondition::IfCurrently("1".into())
        );
        assert!(plan.firewall.masquerade_ipv4 && plan.firewall.masquerade_ipv6);
    }

    #[test]
    fn ipv6_disabled_drops_v6_and_ignores_nat_ipv6() {
        let mut c = Config::default();
        c.ipv6.enabled = false;
        c.vms = VmSelection::List(vec![VmSpec::Index(5), VmSpec::Range("1-2".into())]);
        let plan = build_plan(&c, &facts()).unwrap();
        let names: Vec<_> = plan.links.iter().map(|l| l.vm.interface.as_str()).collect();
        assert_eq!(names, ["vm1", "vm2", "vm5"]);
        assert_eq!(plan.links[0].addresses.len(), 1);
        assert_eq!(plan.links[0].routes.len(), 1);
        assert_eq!(plan.sysctls.len(), 1);
        assert!(!plan.firewall.masquerade_ipv6);
        assert_eq!(plan.firewall.ipv6_pool, None);
        assert_eq!(plan.firewall.vms[2].ipv6, None);
    }

    #[test]
    fn no_external_interface_means_no_nat() {
        let plan = build_plan(&Config::default(), &HostFacts::default()).unwrap();
        assert!(!plan.firewall.masquerade_ipv4);
        assert_eq!(plan.sysctls.len(), 2);
    }

    #[test]
    fn multi_queue_plans_noqueue() {
        let mut c = Config::default();
        c.tap.multi_queue = true;
        c.tap.queues = 4;
        let plan = build_plan(&c, &facts()).unwrap();
        assert!(plan.links.iter().all(|l| l.noqueue && l.tap.multi_queue));
    }

    #[test]
    fn selectors_resolve_to_planned_interfaces() {
        let mut c = Config::default();
        c.vms = VmSelection::List(vec![VmSpec::Range("1-3".into()), VmSpec::Index(9)]);
        c.firewall.rules = vec![
            RuleConfig {
                from: "vm2-vm9".into(),
                to: "10.1.0.0/16".into(),
                action: Action::Drop,
                protocol: Some(Protocol::Tcp),
                port: Some(22),
            },
            RuleConfig {
                from: "any".into(),
                to: "vm3".into(),
                action: Action::Accept,
                protocol: None,
                port: None,
            },
        ];
        let plan = build_plan(&c, &facts()).unwrap();
        assert_eq!(
            plan.firewall.rules[0].from,
            Selector::Vms(vec!["vm2".into(), "vm3".into(), "vm9".into()])
        );
        assert_eq!(
            plan.firewall.rules[0].to,
            Selector::Cidr("10.1.0.0/16".parse().unwrap())
        );
        assert_eq!(plan.firewall.rules[1].to, Selector::Vms(vec!["vm3".into()]));
    }

    fn plan_err(mutate: impl FnOnce(&mut Config)) -> ConfigError {
        let mut c = Config::default();
        mutate(&mut c);
        build_plan(&c, &facts()).expect_err("must be rejected")
    }

    #[test]
    fn invalid_configs_name_their_key() {
        let cases: Vec<(Box<dyn FnOnce(&mut Config)>, &str)> = vec![
            (Box::new(|c| c.vms = VmSelection::Count(0)), "vms"),
            (
                Box::new(|c| c.vms = VmSelection::List(vec![VmSpec::Index(0)])),
                "vms[0]",
            ),
            (
                Box::new(|c| {
                    c.vms = VmSelection::List(vec![VmSpec::Index(3), VmSpec::Range("2-4".into())])
                }),
                "vms[1]",
            ),
            (Box::new(|c| c.tap.queues = 0), "tap.queues"),
            (Box::new(|c| c.tap.mtu = 67), "tap.mtu"),
            (Box::new(|c| c.tap.mtu = 65522), "tap.mtu"),
            (Box::new(|c| c.owner = Some("a b".into())), "owner"),
            (Box::new(|c| c.group = Some("wheel;".into())), "group"),
            (
                Box::new(|c| c.external_interface = "a-very-long-ifname".into()),
                "external_interface",
            ),
            (
                Box::new(|c| c.interface_template = "vm".into()),
                "interface_template",
            ),
            (
                Box::new(|c| c.ipv6.pool = "fec0::1/64".parse().unwrap()),
                "ipv6.pool",
            ),
            (
                Box::new(|c| {
                    c.firewall.rules = vec![RuleConfig {
                        from: "vm1".into(),
                        to: "any".into(),
                        action: Action::Drop,
                        protocol: Some(Protocol::Icmp),
                        port: Some(1),
                    }]
                }),
                "firewall.rules[0].port",
            ),
            (
                Box::new(|c| {
                    c.firewall.rules = vec![RuleConfig {
                        from: "vm1-vmx".into(),
                        to: "any".into(),
                        action: Action::Drop,
                        protocol: None,
                        port: None,
                    }]
                }),
                "firewall.rules[0].from",
            ),
        ];
        for (mutate, key) in cases {
            let e = plan_err(mutate);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
        }
    }

    fn rule(from: &str, to: &str, port: Option<u16>) -> RuleConfig {
        RuleConfig {
            from: from.into(),
            to: to.into(),
            action: Action::Drop,
            protocol: port.map(|_| Protocol::Tcp),
            port,
        }
    }

    #[test]
    fn what_the_kernel_or_nft_would_refuse_is_refused_here() {
        let cases: Vec<(Box<dyn FnOnce(&mut Config)>, &str, &str)> = vec![
            (Box::new(|c| c.tap.mtu = 1279), "tap.mtu", "at least 1280"),
            (
                Box::new(|c| c.ownership.nft_table = "t".repeat(256)),
                "ownership.nft_table",
                "at most 255 bytes",
            ),
            (
                Box::new(|c| c.ipv6.pool = "ff02::/64".parse().unwrap()),
                "ipv6.pool",
                "multicast",
            ),
            (
                Box::new(|c| c.ipv4.pool = "127.0.0.0/24".parse().unwrap()),
                "ipv4.pool",
                "loopback",
            ),
            (
                Box::new(|c| c.owner = Some("4294967295".into())),
                "owner",
                "unset",
            ),
            (
                Box::new(|c| c.group = Some("4294967295".into())),
                "group",
                "unset",
            ),
            (
                Box::new(|c| c.external_interface = "vm64".into()),
                "external_interface",
                "VM 64",
            ),
            (
                Box::new(|c| c.firewall.host_ports = vec![53, 0]),
                "firewall.host_ports[1]",
                "port 0",
            ),
            (
                Box::new(|c| {
                    c.firewall.rules =
                        vec![rule("vm1", "vm2", Some(22)), rule("vm1", "vm3", Some(0))]
                }),
                "firewall.rules[1].port",
                "port 0",
            ),
            (
                Box::new(|c| c.interface_template = "-{index}".into()),
                "interface_template",
                "'-'",
            ),
        ];
        for (mutate, key, says) in cases {
            let e = plan_err(mutate);
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn the_limits_themselves_are_accepted() {
        let mut c = Config::default();
        c.tap.mtu = MIN_IPV6_MTU;
        c.ownership.nft_table = "t".repeat(MAX_NFT_TABLE_LEN);
        c.owner = Some("4294967294".into());
        // Not planned (64 VMs): an interface of that name is not ours.
        c.external_interface = "vm65".into();
        c.firewall.host_ports = vec![1, 65535];
        build_plan(&c, &facts()).unwrap();
        // Without IPv6 the IPv4 minimum is the limit.
        let mut c = Config::default();
        c.ipv6.enabled = false;
        c.tap.mtu = MIN_MTU;
        build_plan(&c, &facts()).unwrap();
    }

    #[test]
    fn resolved_facts_the_kernel_refuses_are_refused() {
        for (facts, key) in [
            (
                HostFacts {
                    owner_uid: Some(UNSET_ID),
                    ..facts()
                },
                "owner",
            ),
            (
                HostFacts {
                    group_gid: Some(UNSET_ID),
                    ..facts()
                },
                "group",
            ),
            (
                HostFacts {
                    external_interface: Some("vm3".into()),
                    ..facts()
                },
                "external_interface",
            ),
        ] {
            let e = build_plan(&Config::default(), &facts).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
        }
    }

    #[test]
    fn ids_map_as_the_kernel_maps_them() {
        // The initial user namespace: everything but -1.
        let init = "         0          0 4294967295\n";
        assert!(id_is_mapped(init, 0) && id_is_mapped(init, 4294967294));
        assert!(!id_is_mapped(init, UNSET_ID));
        // A rootless container: root and a subordinate range.
        let container = "0 1000 1\n1 100000 65536\n";
        for (id, mapped) in [
            (0, true),
            (1, true),
            (65536, true),
            (65537, false),
            (1000, true),
            (70000, false),
        ] {
            assert_eq!(id_is_mapped(container, id), mapped, "{id}");
        }
        assert!(!id_is_mapped("", 0));
    }

    #[test]
    fn a_repeated_match_names_its_first_rule_among_many() {
        // Every rule distinct: from each VM to each of a set of networks.
        let distinct: Vec<RuleConfig> = (1..=64)
            .flat_map(|vm| {
                (0..100).map(move |net| rule(&format!("vm{vm}"), &format!("10.{net}.0.0/16"), None))
            })
            .collect();
        let mut c = Config::default();
        c.firewall.rules = distinct.clone();
        assert_eq!(build_plan(&c, &facts()).unwrap().firewall.rules.len(), 6400);
        // The same match again, with another action, far from its first.
        let mut again = distinct[1234].clone();
        again.action = Action::Accept;
        c.firewall.rules.push(rule("vm1", "any", Some(22)));
        c.firewall.rules.push(again);
        let e = build_plan(&c, &facts()).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("firewall.rules[6401]"));
        assert_eq!(
            e.kind,
            ConfigErrorKind::ConflictingRule {
                rule: 6401,
                earlier: 1234
            }
        );
        // Same endpoints, another port or protocol: a different match.
        let mut c = Config::default();
        c.firewall.rules = vec![
            rule("vm1", "vm2", Some(22)),
            rule("vm1", "vm2", Some(23)),
            rule("vm1", "vm2", None),
        ];
        build_plan(&c, &facts()).unwrap();
    }

    #[test]
    fn out_of_range_index_is_a_layout_error() {
        let e = plan_err(|c| c.vms = VmSelection::List(vec![VmSpec::Index(256)]));
        assert_eq!(
            e.kind,
            ConfigErrorKind::Layout(LayoutError::IndexOutOfRange {
                index: 256,
                max: 255
            })
        );
    }

    #[test]
    fn resolved_external_interface_is_checked() {
        let e = build_plan(
            &Config::default(),
            &HostFacts {
                external_interface: Some("eth0;rm".into()),
                ..HostFacts::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("external_interface"));
    }
}
