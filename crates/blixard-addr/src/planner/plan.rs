//! Config + host facts -> [`HostPlan`]: the taps, addresses, routes,
//! sysctls and firewall model, for the whole host or one VM.

use ipnet::IpNet;

use super::validate::{
    Resolved, check_gateway_name, check_interface_name, check_not_a_planned_tap, resolve,
};
use super::{HostFacts, UNSET_ID};
use crate::bgp::BgpPlan;
use crate::config::{Config, EgressMethod};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::layout::{Layout, VmIndex};
use crate::plan::{
    EgressPlan, FirewallPlan, FirewallVm, GatewayPlan, GuestPlan, HostPlan, LinkPlan, Ownership,
    SysctlCondition, SysctlPlan, TapPlan,
};
use crate::sysctl::{Family, SysctlKey};

/// Builds the plan; fails with the first problem found, naming its key.
pub fn build_plan(config: &Config, facts: &HostFacts) -> Result<HostPlan, ConfigError> {
    ValidConfig::new(config)?.plan(facts)
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
    ValidConfig::new(config)?.plan_vm(facts, index)
}

/// A config that passed every check needing no host facts
/// ([`Config::validated`]), with what the checks derived (its layout, VM
/// indices and placed rules): planning it checks only what the facts add.
/// For a caller that must validate before it resolves the facts (an owner
/// name is checked before it is looked up), so that the config is
/// validated once, not again by [`build_plan`].
///
/// ```
/// use blixard_addr::{Config, HostFacts};
/// let config = Config::parse_toml("vms = 2\n", "network.toml").unwrap();
/// let valid = config.validated().unwrap();
/// // ... resolve the facts of `valid.config()` on the host ...
/// let plan = valid.plan(&HostFacts::default()).unwrap();
/// assert_eq!(plan.links.len(), 2);
/// ```
pub struct ValidConfig<'a> {
    config: &'a Config,
    resolved: Resolved,
}

impl<'a> ValidConfig<'a> {
    pub(crate) fn new(config: &'a Config) -> Result<Self, ConfigError> {
        Ok(Self {
            config,
            resolved: resolve(config)?,
        })
    }

    /// The config that was validated.
    pub fn config(&self) -> &'a Config {
        self.config
    }

    /// Its address layout.
    pub fn layout(&self) -> &Layout {
        &self.resolved.layout
    }

    /// The VM indices the config wires, sorted (with `[bgp]`, this host's
    /// share of the cluster's pools).
    pub fn indices(&self) -> &[VmIndex] {
        &self.resolved.indices
    }

    /// What this host announces and accepts over BGP (`None` without
    /// `[bgp]`).
    pub fn bgp(&self) -> Option<&BgpPlan> {
        self.resolved.bgp.as_ref()
    }

    /// The plan under `facts` (what [`build_plan`] returns).
    pub fn plan(self, facts: &HostFacts) -> Result<HostPlan, ConfigError> {
        build(self, facts, None)
    }

    /// The plan narrowed to VM `index` (what [`build_vm_plan`] returns).
    pub fn plan_vm(self, facts: &HostFacts, index: u32) -> Result<HostPlan, ConfigError> {
        build(self, facts, Some(index))
    }
}

impl std::fmt::Debug for ValidConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidConfig")
            .field("config", self.config)
            .finish_non_exhaustive()
    }
}

fn build(
    valid: ValidConfig<'_>,
    facts: &HostFacts,
    only: Option<u32>,
) -> Result<HostPlan, ConfigError> {
    let ValidConfig {
        config,
        mut resolved,
    } = valid;
    if let Some(ext) = &facts.external_interface {
        check_interface_name(ext)
            .and_then(|()| check_not_a_planned_tap(ext, &resolved.layout, &resolved.indices))
            .map_err(|k| ConfigError::at_key("external_interface", k))?;
        check_gateway_name(
            &config.gateway_interface,
            ext,
            &resolved.layout,
            &resolved.indices,
        )?;
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
    let gateway = GatewayPlan::new(
        &config.gateway_interface,
        &ownership,
        if ipv6 { vec![gw4, gw6] } else { vec![gw4] },
    );
    let mut links = Vec::with_capacity(resolved.indices.len());
    let mut fw_vms = Vec::with_capacity(resolved.indices.len());
    if let Some(only) = only {
        resolved.indices.retain(|i| i.get() == only);
    }
    for &index in &resolved.indices {
        let vm = layout
            .vm(index)
            .map_err(|e| ConfigError::at_key("vms", e))?;
        let mut routes = vec![IpNet::V4(vm.ipv4_net())];
        let mut proxy_neighbours = Vec::new();
        let mut sysctls = Vec::new();
        if config.security.anti_spoofing {
            sysctls.push(always(
                conf_key(Family::Ipv4, &vm.interface, "rp_filter"),
                "1",
            ));
        }
        if ipv6 {
            routes.push(IpNet::V6(vm.ipv6_net()));
            proxy_neighbours.push(layout.gateway_ipv6());
            sysctls.push(always(
                conf_key(Family::Ipv6, &vm.interface, "proxy_ndp"),
                "1",
            ));
            // The kernel delays a proxied answer to a multicast
            // solicitation by up to 0.8 s (RFC 4861's anycast delay): the
            // guest's first IPv6 packet would wait for it.
            sysctls.push(always(
                SysctlKey::neigh(Family::Ipv6, &vm.interface, "proxy_delay")
                    .expect("interface names are checked"),
                "0",
            ));
        }
        let ingress_limit = resolved.limits.ingress_of(&vm.interface);
        let egress_limit = resolved.limits.egress_of(&vm.interface);
        let (egress, police) = match resolved.limits.egress_method() {
            EgressMethod::Police => (None, egress_limit),
            EgressMethod::Ifb => (
                egress_limit.map(|limit| {
                    let ifb = crate::plan::ifb_name(index.get());
                    EgressPlan {
                        alias: ownership.alias_for(&ifb),
                        ifb,
                        limit,
                    }
                }),
                None,
            ),
        };
        fw_vms.push(FirewallVm::new(&vm, ipv6).policed(police));
        links.push(LinkPlan {
            alias: ownership.alias_for(&vm.interface),
            tap: tap.clone(),
            mtu: config.tap.mtu,
            // A limit's qdisc is the root: a multi-queue tap never builds
            // its `mq` with it either.
            noqueue: config.tap.multi_queue && ingress_limit.is_none(),
            ingress_limit,
            egress,
            routes,
            proxy_neighbours,
            sysctls,
            vm,
        });
    }
    let mut sysctls = vec![always(SysctlKey::ipv4_forwarding(), "1")];
    if ipv6 {
        sysctls.push(always(SysctlKey::ipv6_forwarding(), "1"));
        if let Some(ext) = &facts.external_interface {
            // Forwarding on stops the uplink from taking router
            // advertisements; 2 keeps them, but only where RA was in use.
            sysctls.push(SysctlPlan {
                key: conf_key(Family::Ipv6, ext, "accept_ra").to_string(),
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
        forwards: resolved.forwards,
        police: match resolved.limits.egress_method() {
            EgressMethod::Police => resolved.limits.egress_limits(),
            EgressMethod::Ifb => Vec::new(),
        },
        cluster: resolved.bgp.is_some(),
    };
    let guest = GuestPlan {
        dns: config
            .dns
            .iter()
            .copied()
            .filter(|d| ipv6 || d.is_ipv4())
            .collect(),
        tap,
        queues: config.tap.queues,
    };
    Ok(HostPlan {
        layout,
        ownership,
        gateway,
        links,
        sysctls,
        firewall,
        external_interface: facts.external_interface.clone(),
        guest,
        bgp: resolved.bgp,
    })
}

/// A setting of a tap or the uplink: their names were checked to hold only
/// what a sysctl component may.
fn conf_key(family: Family, interface: &str, setting: &str) -> SysctlKey {
    SysctlKey::conf(family, interface, setting).expect("interface names are checked")
}

fn always(key: SysctlKey, value: &str) -> SysctlPlan {
    SysctlPlan {
        key: key.to_string(),
        value: value.into(),
        when: SysctlCondition::Always,
    }
}
