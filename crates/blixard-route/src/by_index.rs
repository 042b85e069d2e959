//! The dumps of a whole-host observation that need no link names: qdiscs,
//! addresses, proxy entries, neighbour-table parameters and routes. They
//! are keyed by ifindex, so a second socket reads them while the link dump
//! (the largest: at 4096 VMs about 60 of a no-op's 130 ms of dumps) runs on
//! the first, and [`Session::observe_with`] joins the two by ifindex.

use std::collections::HashMap;

use blixard_addr::route_policy;
use blixard_addr::state::{ObservedProxy, ObservedRoute};
use ipnet::IpNet;
use netlink_packet_route::address::{AddressMessage, AddressScope};
use netlink_packet_route::tc::TcMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::observe::ObserveScope;
use crate::rows::{address_of, route_by_index};
use crate::{RouteError, Session};

/// What the dumps besides the link dump found, by ifindex.
#[derive(Debug, Default)]
pub(crate) struct ByIndex {
    /// Root and ingress qdiscs other than the kernel's default.
    pub(crate) roots: Vec<(i32, crate::tc::Root)>,
    /// Addresses other than link-local ones.
    pub(crate) addresses: Vec<(u32, IpNet)>,
    pub(crate) proxies: Vec<(u32, ObservedProxy)>,
    /// Each link's IPv6 `proxy_delay` in ms (only when the scope reads a
    /// neighbour setting).
    pub(crate) proxy_delays: HashMap<u32, u64>,
    /// Routes that may be ours or in the way, each with its output ifindex:
    /// [`ByIndex::routes_named`] names their links and keeps the ones that
    /// are.
    pub(crate) routes: Vec<(Option<u32>, ObservedRoute)>,
}

impl Session {
    /// The dumps of [`ByIndex`] that `scope` needs (only routes for a
    /// links-and-routes scope).
    pub(crate) fn dump_by_index(&mut self, scope: &ObserveScope) -> Result<ByIndex, RouteError> {
        let mut found = ByIndex {
            routes: self.candidate_routes(scope)?,
            ..ByIndex::default()
        };
        if scope.links_and_routes_only {
            return Ok(found);
        }
        found.roots = self.dump(
            RouteNetlinkMessage::GetQueueDiscipline(TcMessage::default()),
            "qdiscs",
            |q| {
                let RouteNetlinkMessage::NewQueueDiscipline(q) = q else {
                    return None;
                };
                crate::tc::root_of(&q)
            },
        )?;
        found.addresses = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            "addresses",
            |a| {
                let RouteNetlinkMessage::NewAddress(a) = a else {
                    return None;
                };
                // Kernel-made link-local addresses are not the plan's business.
                if a.header.scope == AddressScope::Link {
                    return None;
                }
                Some((a.header.index, address_of(&a)?))
            },
        )?;
        found.proxies = self.proxies(None)?;
        let wants_neighbour = |k: &String| {
            k.parse::<blixard_addr::sysctl::SysctlKey>()
                .is_ok_and(|k| k.per_link_neighbour().is_some())
        };
        if scope.sysctls.iter().any(wants_neighbour) {
            found.proxy_delays = self.proxy_delays()?;
        }
        Ok(found)
    }

    /// Our routes and every route that could be in the way of the scope's
    /// pools, before their links are named: a route's link only decides
    /// whether it is ours, so a route with an output link passes here as if
    /// it were, and [`ByIndex::routes_named`] decides again.
    fn candidate_routes(
        &mut self,
        scope: &ObserveScope,
    ) -> Result<Vec<(Option<u32>, ObservedRoute)>, RouteError> {
        let mut routes = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let pools = pools_of(scope, family);
            let keep = |r: &netlink_packet_route::route::RouteMessage| {
                let (oif, mut route) = route_by_index(r)?;
                if route.protocol == scope.route_protocol {
                    return Some((oif, route));
                }
                route.interface = oif.map(|_| String::new());
                let in_the_way = route_policy::is_in_the_way(&route, &pools, scope.route_protocol);
                route.interface = None;
                in_the_way.then_some((oif, route))
            };
            // Pool overlap needs every route anyway, so then one unfiltered
            // dump covers ours too; otherwise the kernel filters by protocol.
            routes.extend(if pools.is_empty() {
                self.routes(family, Some(scope.route_protocol), None, keep)?
            } else {
                self.routes(family, None, None, keep)?
            });
        }
        Ok(routes)
    }

    /// Each link's IPv6 `proxy_delay` in ms, from one neighbour-table dump
    /// (`RTM_GETNEIGHTBL`), by ifindex.
    fn proxy_delays(&mut self) -> Result<HashMap<u32, u64>, RouteError> {
        use netlink_packet_route::neighbour_table::{
            NeighbourTableAttribute, NeighbourTableMessage, NeighbourTableParameter,
        };
        let mut request = NeighbourTableMessage::default();
        request.header.family = AddressFamily::Inet6;
        let found = self.dump(
            RouteNetlinkMessage::GetNeighbourTable(request),
            "neighbour table parameters",
            |m| {
                let RouteNetlinkMessage::NewNeighbourTable(t) = m else {
                    return None;
                };
                t.attributes.iter().find_map(|a| match a {
                    NeighbourTableAttribute::Parms(parms) => {
                        let ifindex = parms.iter().find_map(|p| match p {
                            NeighbourTableParameter::Ifindex(i) => Some(*i),
                            _ => None,
                        })?;
                        let delay = parms.iter().find_map(|p| match p {
                            NeighbourTableParameter::ProxyDelay(ms) => Some(*ms),
                            _ => None,
                        })?;
                        Some((ifindex, delay))
                    }
                    _ => None,
                })
            },
        )?;
        Ok(found.into_iter().collect())
    }
}

impl ByIndex {
    /// The candidate routes with their links named from `names`, keeping
    /// ours and those in the way of the scope's pools.
    pub(crate) fn routes_named(
        &mut self,
        scope: &ObserveScope,
        names: &HashMap<u32, &str>,
    ) -> Vec<ObservedRoute> {
        std::mem::take(&mut self.routes)
            .into_iter()
            .filter_map(|(oif, mut route)| {
                route.interface = oif.and_then(|i| names.get(&i)).map(|n| n.to_string());
                let ours = route.protocol == scope.route_protocol;
                (ours || route_policy::is_in_the_way(&route, &scope.pools, scope.route_protocol))
                    .then_some(route)
            })
            .collect()
    }
}

/// The scope's pools of one address family.
fn pools_of(scope: &ObserveScope, family: AddressFamily) -> Vec<IpNet> {
    scope
        .pools
        .iter()
        .copied()
        .filter(|p| {
            matches!(
                (p, family),
                (IpNet::V4(_), AddressFamily::Inet) | (IpNet::V6(_), AddressFamily::Inet6)
            )
        })
        .collect()
}
