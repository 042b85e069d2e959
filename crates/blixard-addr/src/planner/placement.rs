//! Where each user rule judges traffic, decided from its (from, to) pair,
//! and the rules that can never match, refused with their key.
//!
//! An endpoint can stand for VMs, for the host, for the networks beyond
//! the host, or several of these:
//!
//! * `vmN`, `vmA-vmB`: VMs;
//! * `any`: VMs and the networks beyond, never the host (a rule about the
//!   host says `host`);
//! * `host`: the host; `external`: the networks beyond the external
//!   interface;
//! * a CIDR: VMs where it overlaps a pool (other than the gateway), the host
//!   where it holds a gateway, and, where it leaves the pools, the networks
//!   beyond *and* the host, because the host's other addresses (the
//!   uplink's) are not known here.
//!
//! A rule is placed wherever a packet between what its ends stand for is
//! judged: VM <-> VM and VM <-> beyond in `forward`, VM -> host in `input`,
//! host -> VM in `output`. The host's traffic with anything else is not
//! ours, except on the external interface when a rule names both `host`
//! and `external`.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{Config, Selector};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::layout::Layout;
use crate::plan::{FirewallRule, RuleChain, vm_pools};

/// What the planner knows about the addresses a rule may name.
pub(crate) struct Scope {
    pools: Vec<IpNet>,
    gateways: Vec<IpAddr>,
    no_external: bool,
}

impl Scope {
    /// The pools VMs use (IPv6 only when enabled), their gateways, and
    /// whether the config says there is no external interface.
    pub(crate) fn new(layout: &Layout, config: &Config) -> Scope {
        let ipv6 = config.ipv6.enabled;
        let mut gateways = vec![IpAddr::V4(layout.gateway_ipv4())];
        if ipv6 {
            gateways.push(IpAddr::V6(layout.gateway_ipv6()));
        }
        Scope {
            pools: vm_pools(layout.ipv4_pool(), ipv6.then(|| layout.ipv6_pool())),
            gateways,
            no_external: config.external_interface == "none",
        }
    }
}

/// What an endpoint can stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Roles {
    vm: bool,
    host: bool,
    beyond: bool,
}

fn roles(sel: &Selector, scope: &Scope) -> Roles {
    match sel {
        Selector::Vms(_) => Roles {
            vm: true,
            host: false,
            beyond: false,
        },
        Selector::Any => Roles {
            vm: true,
            host: false,
            beyond: true,
        },
        Selector::Host => Roles {
            vm: false,
            host: true,
            beyond: false,
        },
        Selector::External => Roles {
            vm: false,
            host: false,
            beyond: true,
        },
        Selector::Cidr(net) => {
            let inside = scope.pools.iter().any(|p| p.contains(net));
            let overlaps = scope
                .pools
                .iter()
                .any(|p| p.contains(net) || net.contains(p));
            let gateway_only =
                net.prefix_len() == net.max_prefix_len() && scope.gateways.contains(&net.addr());
            Roles {
                vm: overlaps && !gateway_only,
                host: !inside || scope.gateways.iter().any(|g| net.contains(g)),
                beyond: !inside,
            }
        }
    }
}

/// The chains rule `i` goes to, or why it can never match.
pub(crate) fn place(
    rule: &FirewallRule,
    i: usize,
    scope: &Scope,
) -> Result<Vec<RuleChain>, ConfigError> {
    let refuse = |field: &str, reason: &str| {
        let key = if field.is_empty() {
            format!("firewall.rules[{i}]")
        } else {
            format!("firewall.rules[{i}].{field}")
        };
        Err(ConfigError::at_key(
            key,
            ConfigErrorKind::RuleCannotMatch {
                reason: reason.into(),
            },
        ))
    };
    for (field, sel) in [("from", &rule.from), ("to", &rule.to)] {
        if scope.no_external && *sel == Selector::External {
            return refuse(
                field,
                "external_interface is \"none\", so no traffic is external",
            );
        }
    }
    if let (Selector::Cidr(a), Selector::Cidr(b)) = (&rule.from, &rule.to)
        && a.addr().is_ipv4() != b.addr().is_ipv4()
    {
        return refuse("", "one end is IPv4 and the other IPv6; no packet is both");
    }
    if let (Selector::Vms(a), Selector::Vms(b)) = (&rule.from, &rule.to)
        && a.len() == 1
        && a == b
    {
        return refuse(
            "",
            "a VM's traffic to itself stays inside the VM; the host never sees it",
        );
    }
    let (f, t) = (roles(&rule.from, scope), roles(&rule.to, scope));
    let mut chains = Vec::new();
    if (f.vm && (t.vm || t.beyond)) || (f.beyond && t.vm) {
        chains.push(RuleChain::Forward);
    }
    if rule.from == Selector::External && t.host {
        chains.push(RuleChain::InputFromExternal);
    }
    if f.vm && t.host {
        chains.push(RuleChain::InputFromVms);
    }
    if rule.to == Selector::External && f.host {
        chains.push(RuleChain::OutputToExternal);
    }
    if f.host && t.vm {
        chains.push(RuleChain::OutputToVms);
    }
    if !chains.is_empty() {
        return Ok(chains);
    }
    let host_only = |r: Roles| r.host && !r.vm && !r.beyond;
    if host_only(f) && host_only(t) {
        refuse(
            "",
            "the host's traffic to itself never leaves it (loopback); our table judges traffic between VMs and the host",
        )
    } else {
        refuse(
            "",
            "neither end is a VM: rules judge traffic from, to or between VMs (and, with `host` and `external`, the host's traffic on the external interface); traffic between other networks, or between the host and them, is the host firewall's",
        )
    }
}

/// `firewall.allow_networks`, checked: each one written as a network.
pub(crate) fn allow_networks(config: &Config) -> Result<Vec<IpNet>, ConfigError> {
    for (i, net) in config.firewall.allow_networks.iter().enumerate() {
        if net.trunc() != *net {
            return Err(ConfigError::at_key(
                format!("firewall.allow_networks[{i}]"),
                ConfigErrorKind::NotANetwork {
                    network: net.to_string(),
                    suggest: net.trunc().to_string(),
                },
            ));
        }
    }
    Ok(config.firewall.allow_networks.clone())
}

// Tests tweak one field of the default config at a time.
#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;
    use crate::config::{Action, Protocol, RuleConfig, VmSelection};
    use crate::planner::{HostFacts, build_plan};
    use RuleChain::*;

    fn facts() -> HostFacts {
        HostFacts {
            external_interface: Some("eth0".into()),
            ..HostFacts::default()
        }
    }

    fn config(rules: &[(&str, &str)]) -> Config {
        let mut c = Config::default();
        c.vms = VmSelection::Count(3);
        c.firewall.rules = rules
            .iter()
            .map(|(from, to)| RuleConfig {
                from: (*from).into(),
                to: (*to).into(),
                action: Action::Drop,
                protocol: Some(Protocol::Tcp),
                port: Some(22),
            })
            .collect();
        c
    }

    fn chains(from: &str, to: &str) -> Vec<RuleChain> {
        let plan = build_plan(&config(&[(from, to)]), &facts())
            .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
        plan.firewall.rules[0].chains.clone()
    }

    #[test]
    fn every_pair_goes_where_its_traffic_is_judged() {
        let table: &[(&str, &str, &[RuleChain])] = &[
            ("vm1", "vm2", &[Forward]),
            ("vm1-vm2", "vm3", &[Forward]),
            ("vm1", "host", &[InputFromVms]),
            ("vm1", "external", &[Forward]),
            ("vm1", "any", &[Forward]),
            ("vm2", "10.0.0.0", &[InputFromVms]),
            ("vm2", "fec0::", &[InputFromVms]),
            ("vm1", "10.0.0.3", &[Forward]),
            ("vm1", "10.0.0.0/24", &[Forward, InputFromVms]),
            // Outside the pools: forwarded, or the host's own address.
            ("vm1", "192.168.50.0/24", &[Forward, InputFromVms]),
            ("host", "vm2", &[OutputToVms]),
            ("host", "any", &[OutputToVms]),
            ("host", "10.0.0.2", &[OutputToVms]),
            ("host", "external", &[OutputToExternal]),
            ("10.0.0.0", "vm2", &[OutputToVms]),
            ("external", "vm3", &[Forward]),
            ("external", "any", &[Forward]),
            ("external", "host", &[InputFromExternal]),
            ("external", "10.0.0.3", &[Forward]),
            ("external", "10.0.0.0/24", &[Forward, InputFromExternal]),
            ("external", "192.0.2.1", &[InputFromExternal]),
            ("any", "vm2", &[Forward]),
            ("any", "host", &[InputFromVms]),
            ("any", "external", &[Forward]),
            ("any", "any", &[Forward]),
            ("any", "192.0.2.0/24", &[Forward, InputFromVms]),
            ("10.0.0.0/24", "host", &[InputFromVms]),
            ("10.0.0.1", "any", &[Forward]),
            ("10.0.0.0/31", "external", &[Forward, OutputToExternal]),
            ("192.0.2.0/24", "vm3", &[Forward, OutputToVms]),
            ("192.0.2.0/24", "external", &[OutputToExternal]),
            ("192.0.2.0/24", "any", &[Forward, OutputToVms]),
        ];
        for (from, to, want) in table {
            assert_eq!(chains(from, to), *want, "{from} -> {to}");
        }
    }

    fn refused(c: &Config) -> ConfigError {
        build_plan(c, &facts()).expect_err("must be refused")
    }

    #[test]
    fn rules_that_can_never_match_are_refused_with_their_key() {
        for (from, to, key, says) in [
            ("host", "host", "firewall.rules[1]", "to itself"),
            ("10.0.0.0", "host", "firewall.rules[1]", "to itself"),
            ("host", "fec0::", "firewall.rules[1]", "to itself"),
            (
                "external",
                "external",
                "firewall.rules[1]",
                "neither end is a VM",
            ),
            (
                "192.0.2.0/24",
                "198.51.100.0/24",
                "firewall.rules[1]",
                "neither end",
            ),
            (
                "host",
                "192.168.50.0/24",
                "firewall.rules[1]",
                "neither end",
            ),
            (
                "192.168.50.0/24",
                "host",
                "firewall.rules[1]",
                "neither end",
            ),
            ("10.0.0.0/24", "2001:db8::/32", "firewall.rules[1]", "IPv4"),
            ("vm2", "vm2", "firewall.rules[1]", "stays inside the VM"),
        ] {
            let c = config(&[("vm1", "vm2"), (from, to)]);
            let e = refused(&c);
            assert_eq!(e.key.as_deref(), Some(key), "{from} -> {to}: {e}");
            assert!(e.to_string().contains(says), "{from} -> {to}: {e}");
            // `validate` (no host facts) refuses it too.
            assert_eq!(c.validate().unwrap_err(), e);
        }
    }

    #[test]
    fn external_without_an_external_interface_is_refused() {
        let mut c = config(&[("vm1", "external")]);
        c.external_interface = "none".into();
        let e = refused(&c);
        assert_eq!(e.key.as_deref(), Some("firewall.rules[0].to"), "{e}");
        let mut c = config(&[("external", "vm3")]);
        c.external_interface = "none".into();
        assert_eq!(refused(&c).key.as_deref(), Some("firewall.rules[0].from"));
        // "auto" may resolve later: the rule stays, and renders once it does.
        let c = config(&[("external", "vm3")]);
        let plan = build_plan(&c, &HostFacts::default()).unwrap();
        assert_eq!(plan.firewall.rules[0].chains, [Forward]);
    }

    #[test]
    fn without_ipv6_the_v6_pool_is_no_vm_of_ours() {
        let mut c = config(&[("vm1", "fec0::")]);
        c.ipv6.enabled = false;
        let plan = build_plan(&c, &facts()).unwrap();
        assert_eq!(plan.firewall.rules[0].chains, [Forward, InputFromVms]);
    }

    #[test]
    fn allowed_networks_must_be_networks() {
        let mut c = config(&[]);
        c.firewall.allow_networks = vec![
            "192.168.50.0/24".parse().unwrap(),
            "192.168.50.1/24".parse().unwrap(),
        ];
        let e = refused(&c);
        assert_eq!(e.key.as_deref(), Some("firewall.allow_networks[1]"));
        assert!(e.to_string().contains("write 192.168.50.0/24"), "{e}");
        c.firewall.allow_networks.pop();
        let plan = build_plan(&c, &facts()).unwrap();
        assert_eq!(
            plan.firewall.allow_networks,
            ["192.168.50.0/24".parse::<IpNet>().unwrap()]
        );
    }

    #[test]
    fn the_refusal_points_at_the_rules_line() {
        let text =
            "vms = 2\n[[firewall.rules]]\nfrom = \"host\"\nto = \"host\"\naction = \"drop\"\n";
        let e = Config::from_toml_str(text, "net.toml").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("firewall.rules[0]"));
        assert_eq!(e.line, Some(2), "{e}");
    }
}
