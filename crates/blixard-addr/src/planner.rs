//! Config -> `HostPlan`, with validation.
//!
//! Every error names the config key it concerns (`ipv4.pool`,
//! `firewall.rules[2].to`); [`ConfigError::locate`] adds file, line and
//! column when the config came from a file.
//!
//! `nat.ipv6` is ignored when `ipv6.enabled` is false: there is no IPv6
//! traffic to masquerade, and refusing the combination would make turning
//! IPv6 off a two-key edit.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{Config, Protocol, Selector, VmSelection, VmSpec};
use crate::error::{ConfigError, ConfigErrorKind, LayoutError};
use crate::layout::{Layout, MAX_INTERFACE_NAME_LEN, VmIndex, is_safe_name_char};
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

/// The parts of a config that planning derives and validation checks.
pub(crate) struct Resolved {
    pub(crate) layout: Layout,
    pub(crate) indices: Vec<VmIndex>,
    pub(crate) rules: Vec<FirewallRule>,
}

/// Builds the plan; fails with the first problem found, naming its key.
pub fn build_plan(config: &Config, facts: &HostFacts) -> Result<HostPlan, ConfigError> {
    let resolved = resolve(config)?;
    if let Some(ext) = &facts.external_interface {
        check_interface_name(ext).map_err(|k| ConfigError::at_key("external_interface", k))?;
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
    let mut sysctls = vec![always("net.ipv4.ip_forward", "1")];
    if ipv6 {
        sysctls.push(always("net.ipv6.conf.all.forwarding", "1"));
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
    let layout = Layout::new(
        config.ipv4.pool,
        config.ipv6.pool,
        &config.interface_template,
    )
    .map_err(|e| {
        let key = match &e {
            LayoutError::PoolNotNetwork(p) | LayoutError::PoolTooSmall(p) if p.contains(':') => {
                "ipv6.pool"
            }
            LayoutError::PoolNotNetwork(_) | LayoutError::PoolTooSmall(_) => "ipv4.pool",
            _ => "interface_template",
        };
        ConfigError::at_key(key, e)
    })?;
    let indices = resolve_vms(&config.vms, &layout)?;
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
    let mut rules: Vec<FirewallRule> = Vec::with_capacity(config.firewall.rules.len());
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
        let resolved = FirewallRule {
            from,
            to,
            protocol: rule.protocol,
            port: rule.port,
            action: rule.action,
        };
        if let Some(earlier) = rules.iter().position(|r| {
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
        rules.push(resolved);
    }
    Ok(Resolved {
        layout,
        indices,
        rules,
    })
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
/// table inet NAME`): a leading digit makes it a number there.
fn check_nft_identifier(name: &str) -> Result<(), ConfigErrorKind> {
    if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        Ok(())
    } else {
        Err(ConfigErrorKind::UnsafeName {
            value: name.to_string(),
            reason: "an nft table name must start with a letter or '_'".into(),
        })
    }
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
