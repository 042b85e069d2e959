//! Observing the whole host: what [`ObserveScope`] names, one dump each,
//! and the scopes of both observations.

use std::collections::{BTreeMap, HashMap, HashSet};

use blixard_addr::plan::HostPlan;
use blixard_addr::state::{ObservedFirewall, ObservedHost, ObservedLink};
use ipnet::IpNet;
use netlink_packet_route::neighbour::{NeighbourFlags, NeighbourMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::rows::{LinkRow, TunParser, link_conf_value, proxy_of};
use crate::{RouteError, Session};

/// What [`Session::observe_vm`] looks at: one VM's tap and what could be in
/// its way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VmObserveScope {
    /// The VM's tap.
    pub interface: String,
    /// The gateway device, which wiring the VM needs (and makes on a host
    /// with no VM yet).
    pub gateway: String,
    /// The VM's route destinations (`10.0.0.N/32`, `fec0::N/128`): the route
    /// each resolves to now is reported, to find a foreign one in the way.
    pub destinations: Vec<IpNet>,
    /// Sysctl keys to read (global and the tap's); missing keys are left out.
    pub sysctls: Vec<String>,
    /// The VM's ifb (`plan::ifb_name`), looked at whether the plan limits
    /// the VM's sending or not (one it no longer does goes).
    pub ifb: Option<String>,
}

impl VmObserveScope {
    /// What `plan` wires for `link`: its tap, its routes and the sysctls
    /// of the host and of that tap.
    pub fn for_link(plan: &HostPlan, link: &blixard_addr::plan::LinkPlan) -> VmObserveScope {
        VmObserveScope {
            interface: link.vm.interface.clone(),
            gateway: plan.gateway.name.clone(),
            destinations: link.routes.clone(),
            sysctls: plan
                .sysctls
                .iter()
                .chain(&link.sysctls)
                .map(|s| s.key.clone())
                .collect(),
            ifb: Some(blixard_addr::plan::ifb_name(link.vm.index.get())),
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
    /// Everything `plan` mentions: its marks, its link names (the gateway
    /// device's too), its pools and every sysctl key (global and per link).
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
            names: plan
                .links
                .iter()
                .map(|l| l.vm.interface.clone())
                .chain([plan.gateway.name.clone()])
                .collect(),
            pools,
            sysctls,
            links_and_routes_only: false,
        }
    }
}

impl Session {
    /// Observes links, qdiscs, addresses, routes and sysctls in one dump
    /// each: the link dump on this session's socket while a second socket
    /// in the same namespace reads the others. `tun` is left `None` and `firewall` `Absent`: other crates fill
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
        // The link dump is the largest; the other dumps need no link names,
        // so a second socket in the same namespace reads them meanwhile.
        let mut second = self.in_netns(Session::new)?;
        let (links, mut by_index) = std::thread::scope(|threads| {
            let others = threads.spawn(move || second.dump_by_index(scope));
            let links = self.links_with(tun);
            let others = others
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok::<_, RouteError>((links?, others?))
        })?;
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
        let routes = by_index.routes_named(scope, &names);

        if scope.links_and_routes_only {
            return Ok(ObservedHost {
                links: observed,
                routes,
                sysctls: BTreeMap::new(),
                firewall: ObservedFirewall::Absent,
            });
        }

        for (index, root) in std::mem::take(&mut by_index.roots) {
            if let Some(&i) = u32::try_from(index).ok().and_then(|ix| position.get(&ix)) {
                match root {
                    crate::tc::Root::Noqueue => observed[i].root_noqueue = true,
                    crate::tc::Root::Other(other) => observed[i].root_qdisc = Some(other),
                    crate::tc::Root::Ingress => observed[i].ingress_qdisc = true,
                }
            }
        }
        for (ifindex, net) in by_index.addresses {
            if let Some(&i) = position.get(&ifindex) {
                observed[i].addresses.push(net);
            }
        }
        for l in &mut observed {
            l.addresses.sort();
        }
        for (ifindex, proxy) in by_index.proxies {
            if let Some(&i) = position.get(&ifindex) {
                observed[i].proxy_neighbours.push(proxy);
            }
        }

        let mut sysctls = BTreeMap::new();
        let mut from_files = Vec::new();
        let rows: HashMap<&str, &LinkRow> = links.iter().map(|l| (l.name.as_str(), l)).collect();
        for key in &scope.sysctls {
            let value = link_conf_value(key, &rows)
                .map(i64::from)
                .or_else(|| neighbour_value(key, &rows, &by_index.proxy_delays));
            match value {
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

    /// The IPv6 proxy entries of the host, or of one link (the kernel
    /// filters by `NDA_IFINDEX`), with the ifindex of each.
    pub(crate) fn proxies(
        &mut self,
        ifindex: Option<u32>,
    ) -> Result<Vec<(u32, blixard_addr::state::ObservedProxy)>, RouteError> {
        let mut request = NeighbourMessage::default();
        request.header.family = AddressFamily::Inet6;
        request.header.flags = NeighbourFlags::Proxy;
        request
            .attributes
            .extend(ifindex.map(netlink_packet_route::neighbour::NeighbourAttribute::IfIndex));
        let mut found = self.dump(
            RouteNetlinkMessage::GetNeighbour(request),
            "proxy neighbours",
            |m| match m {
                RouteNetlinkMessage::NewNeighbour(n) => {
                    proxy_of(&n).filter(|(i, _)| ifindex.is_none_or(|want| *i == want))
                }
                _ => None,
            },
        )?;
        found.sort();
        Ok(found)
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

/// `net.ipv6.neigh.IF.proxy_delay` from the neighbour-table dump when it
/// is 0 (what the plan sets); `None` sends any other value or key to
/// `/proc/sys`, which shows the delay in USER_HZ ticks rounded from the
/// kernel's jiffies, a value ms cannot be converted back to exactly.
fn neighbour_value(
    key: &str,
    rows: &HashMap<&str, &LinkRow>,
    proxy_delays: &HashMap<u32, u64>,
) -> Option<i64> {
    let key: blixard_addr::sysctl::SysctlKey = key.parse().ok()?;
    let (family, interface, name) = key.per_link_neighbour()?;
    if family != blixard_addr::sysctl::Family::Ipv6 || name != "proxy_delay" {
        return None;
    }
    let ms = *proxy_delays.get(&rows.get(interface)?.index)?;
    (ms == 0).then_some(0)
}
