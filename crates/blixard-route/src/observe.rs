//! Observing the whole host: what [`ObserveScope`] names, one dump each,
//! and the scopes of both observations.

use std::collections::{BTreeMap, HashMap, HashSet};

use blixard_addr::plan::HostPlan;
use blixard_addr::route_policy;
use blixard_addr::state::{ObservedFirewall, ObservedHost, ObservedLink, ObservedRoute};
use ipnet::IpNet;
use netlink_packet_route::address::{AddressMessage, AddressScope};
use netlink_packet_route::link::InetDevConf;
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::rows::{TunParser, address_of, link_conf_value, observed_route};
use crate::{RouteError, Session};

/// What [`Session::observe_vm`] looks at: one VM's tap and what could be in
/// its way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VmObserveScope {
    /// The VM's tap.
    pub interface: String,
    /// The VM's route destinations (`10.0.0.N/32`, `fec0::N/128`): the route
    /// each resolves to now is reported, to find a foreign one in the way.
    pub destinations: Vec<IpNet>,
    /// Sysctl keys to read (global and the tap's); missing keys are left out.
    pub sysctls: Vec<String>,
}

impl VmObserveScope {
    /// What `plan` wires for `link`: its tap, its routes and the sysctls
    /// of the host and of that tap.
    pub fn for_link(plan: &HostPlan, link: &blixard_addr::plan::LinkPlan) -> VmObserveScope {
        VmObserveScope {
            interface: link.vm.interface.clone(),
            destinations: link.routes.clone(),
            sysctls: plan
                .sysctls
                .iter()
                .chain(&link.sysctls)
                .map(|s| s.key.clone())
                .collect(),
        }
    }
}

/// What [`Session::observe`] looks at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObserveScope {
    /// Links in this interface group are ours and always reported.
    pub link_group: u32,
    /// Routes with this protocol are ours and always reported.
    pub route_protocol: u8,
    /// Links with these names are reported whatever their group (to detect a
    /// foreign link in the way).
    pub names: Vec<String>,
    /// Routes in any table that are in the way of one of these
    /// (`blixard_addr::route_policy`: inside a pool, or a connected subnet
    /// holding one) are reported whatever their protocol.
    pub pools: Vec<IpNet>,
    /// Sysctl keys to read; missing keys are left out.
    pub sysctls: Vec<String>,
    /// Only links and routes, with their marks (what a teardown needs): no
    /// qdisc or address dump, and `sysctls` is not read.
    pub links_and_routes_only: bool,
}

impl ObserveScope {
    /// Everything `plan` mentions: its marks, its link names, its pools and
    /// every sysctl key (global and per link).
    pub fn for_plan(plan: &HostPlan) -> ObserveScope {
        let mut pools = vec![IpNet::V4(plan.layout.ipv4_pool())];
        if let Some(v6) = plan.firewall.ipv6_pool {
            pools.push(IpNet::V6(v6));
        }
        let mut seen = HashSet::new();
        let sysctls: Vec<String> = plan
            .sysctls
            .iter()
            .chain(plan.links.iter().flat_map(|l| &l.sysctls))
            .filter(|s| seen.insert(s.key.as_str()))
            .map(|s| s.key.clone())
            .collect();
        ObserveScope {
            link_group: plan.ownership.link_group,
            route_protocol: plan.ownership.route_protocol,
            names: plan.links.iter().map(|l| l.vm.interface.clone()).collect(),
            pools,
            sysctls,
            links_and_routes_only: false,
        }
    }
}

impl Session {
    /// Observes links, qdiscs, addresses, routes and sysctls in one dump
    /// each. `tun` is left `None` and `firewall` `Absent`: other crates fill
    /// them in. Per-link IPv4 settings (`net.ipv4.conf.IF.rp_filter` and the
    /// like) come from the link dump, which carries them, rather than from
    /// one `/proc/sys` file each.
    pub fn observe(&mut self, scope: &ObserveScope) -> Result<ObservedHost, RouteError> {
        self.observe_with(scope, &|_| None)
    }

    /// [`Self::observe`], also filling each link's `tun` with what `tun`
    /// reads from its message (e.g. `blixard_tap::tun_info`), so that the
    /// tun details need no second link dump.
    pub fn observe_with(
        &mut self,
        scope: &ObserveScope,
        tun: &TunParser<'_>,
    ) -> Result<ObservedHost, RouteError> {
        let links = self.links_with(tun)?;
        let wanted: HashSet<&str> = scope.names.iter().map(String::as_str).collect();
        // Borrowed from `links`: at thousands of links every copy counts.
        let names: HashMap<u32, &str> = links.iter().map(|l| (l.index, l.name.as_str())).collect();
        let mut observed: Vec<ObservedLink> = links
            .iter()
            .filter(|l| l.group == scope.link_group || wanted.contains(l.name.as_str()))
            .map(|l| l.observed(false, Vec::new()))
            .collect();
        let position: HashMap<u32, usize> = observed
            .iter()
            .enumerate()
            .map(|(i, l)| (l.ifindex, i))
            .collect();

        if scope.links_and_routes_only {
            return Ok(ObservedHost {
                links: observed,
                routes: self.observe_routes(scope, &names)?,
                sysctls: BTreeMap::new(),
                firewall: ObservedFirewall::Absent,
            });
        }

        let noqueue = self.dump(
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
            "qdiscs",
            |q| {
                let RouteNetlinkMessage::NewQueueDiscipline(q) = q else {
                    return None;
                };
                let root_noqueue = q.header.parent == TcHandle::ROOT
                    && q.attributes
                        .iter()
                        .any(|a| matches!(a, TcAttribute::Kind(k) if k == "noqueue"));
                root_noqueue.then_some(q.header.index)
            },
        )?;
        for index in noqueue {
            if let Some(&i) = u32::try_from(index).ok().and_then(|ix| position.get(&ix)) {
                observed[i].root_noqueue = true;
            }
        }

        let addresses = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            "addresses",
            |a| {
                let RouteNetlinkMessage::NewAddress(a) = a else {
                    return None;
                };
                let &i = position.get(&a.header.index)?;
                // Kernel-made link-local addresses are not the plan's business.
                if a.header.scope == AddressScope::Link {
                    return None;
                }
                Some((i, address_of(&a)?))
            },
        )?;
        for (i, net) in addresses {
            observed[i].addresses.push(net);
        }
        for l in &mut observed {
            l.addresses.sort();
        }

        let routes = self.observe_routes(scope, &names)?;

        let mut sysctls = BTreeMap::new();
        let mut from_files = Vec::new();
        let devconf: HashMap<&str, &InetDevConf> = links
            .iter()
            .filter_map(|l| Some((l.name.as_str(), l.inet.as_deref()?)))
            .collect();
        for key in &scope.sysctls {
            match link_conf_value(key, &devconf) {
                Some(value) => {
                    sysctls.insert(key.clone(), value.to_string());
                }
                None => from_files.push(key.clone()),
            }
        }
        sysctls.extend(self.read_sysctls(from_files)?);

        Ok(ObservedHost {
            links: observed,
            routes,
            sysctls,
            firewall: ObservedFirewall::Absent,
        })
    }

    /// Our routes, and the routes [`route_policy`] finds in the way of the
    /// scope's pools: the core's own test, so that the diff sees every
    /// route it could act on and the rest is never kept.
    fn observe_routes(
        &mut self,
        scope: &ObserveScope,
        names: &HashMap<u32, &str>,
    ) -> Result<Vec<ObservedRoute>, RouteError> {
        let mut routes = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let pools: Vec<IpNet> = scope
                .pools
                .iter()
                .copied()
                .filter(|p| {
                    matches!(
                        (p, family),
                        (IpNet::V4(_), AddressFamily::Inet) | (IpNet::V6(_), AddressFamily::Inet6)
                    )
                })
                .collect();
            // Pool overlap needs every route anyway, so then one unfiltered
            // dump covers ours too; otherwise the kernel filters by protocol.
            let keep = |r: &RouteMessage| {
                let route = observed_route(r, names)?;
                let ours = route.protocol == scope.route_protocol;
                (ours || route_policy::is_in_the_way(&route, &pools, scope.route_protocol))
                    .then_some(route)
            };
            routes.extend(if pools.is_empty() {
                self.routes(family, Some(scope.route_protocol), None, keep)?
            } else {
                self.routes(family, None, None, keep)?
            });
        }
        Ok(routes)
    }

    /// The values of `keys` from `/proc/sys` in the session's namespace;
    /// missing keys are left out.
    pub(crate) fn read_sysctls(
        &self,
        keys: Vec<String>,
    ) -> Result<BTreeMap<String, String>, RouteError> {
        self.in_netns(move || {
            let mut out = BTreeMap::new();
            for key in keys {
                if let Some(v) = crate::read_sysctl(&key)? {
                    out.insert(key, v);
                }
            }
            Ok(out)
        })
    }
}
