//! Which routes that are not ours stand in the way of the pools: the
//! decision, made here on the observer's raw facts (a route's destination,
//! kind, gateway, table and protocol) so that the diff and its property
//! tests see it. The observer may use it to keep fewer routes; it never
//! decides anything itself.

use ipnet::IpNet;

use crate::bgp::RTPROT_BIRD;
use crate::state::{ObservedRoute, RouteKind};

/// The kernel's `local` routing table: its routes are the kernel's
/// bookkeeping for addresses.
pub(crate) const LOCAL_TABLE: u32 = 255;

/// The pool `route` is in the way of, if any (the first of `pools`):
/// a route that is not ours, that steers traffic, and that either lies
/// inside a pool (a LAN's `10.0.0.128/25`: it would take some VMs'
/// addresses) or is a directly connected subnet holding one (a LAN's
/// `10.0.0.0/16 dev eth0`: our /32 routes would steal its hosts).
///
/// Not in the way:
/// * ours: `ours_protocol` on a link (we never make a route without one,
///   so one with our protocol and no link is foreign);
/// * the kernel's bookkeeping for addresses: the `local` table, and local,
///   broadcast, anycast and multicast routes (our own `10.0.0.0/32` makes
///   one); blackhole, unreachable and prohibit routes do shadow the pool;
/// * a wider route through a gateway (a VPN's `10.0.0.0/8 via ...`): it is
///   shadowed only for the pool's addresses, which are ours by
///   configuration, and refusing it would refuse most laptops;
/// * a default route.
pub fn pool_in_the_way<'p>(
    route: &ObservedRoute,
    pools: &'p [IpNet],
    ours_protocol: u8,
) -> Option<&'p IpNet> {
    let ours = route.protocol == ours_protocol && route.interface.is_some();
    if ours || route.table == LOCAL_TABLE || is_bookkeeping(route.kind) {
        return None;
    }
    pools.iter().find(|pool| {
        pool.contains(&route.destination)
            || (is_connected_subnet(route) && route.destination.contains(*pool))
    })
}

/// Whether `route` is in the way of one of `pools` (see [`pool_in_the_way`]).
pub fn is_in_the_way(route: &ObservedRoute, pools: &[IpNet], ours_protocol: u8) -> bool {
    pool_in_the_way(route, pools, ours_protocol).is_some()
}

/// Whether `route` is one BIRD installed for a cluster (`[bgp]`): BIRD's
/// protocol ([`RTPROT_BIRD`]) and either a prefix inside one of `pools`
/// that does not hold the pool's gateway (what our BIRD configuration
/// accepts from peers, and blackholes for our own blocks) or the pool
/// itself, unreachable (the rest of the pool, which no host announces).
/// With `[bgp]` such routes are expected, not in the way; any other BIRD
/// route holding a pool's gateway is no route of ours.
pub fn is_cluster_route(route: &ObservedRoute, pools: &[IpNet]) -> bool {
    route.protocol == RTPROT_BIRD
        && route.table != LOCAL_TABLE
        && pools.iter().any(|pool| {
            let inside =
                pool.contains(&route.destination) && !route.destination.contains(&pool.network());
            inside || (route.destination == *pool && route.kind == RouteKind::Unreachable)
        })
}

/// Routes the kernel makes for addresses, not to steer traffic.
fn is_bookkeeping(kind: RouteKind) -> bool {
    matches!(
        kind,
        RouteKind::Local | RouteKind::Broadcast | RouteKind::Anycast | RouteKind::Multicast
    )
}

/// A subnet on a link, without a gateway, and not a default route.
fn is_connected_subnet(route: &ObservedRoute) -> bool {
    route.destination.prefix_len() > 0 && route.gateway.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: u8 = 177;

    fn pools() -> Vec<IpNet> {
        vec!["10.0.0.0/24".parse().unwrap(), "fec0::/64".parse().unwrap()]
    }

    fn route(destination: &str, interface: Option<&str>, protocol: u8) -> ObservedRoute {
        ObservedRoute {
            destination: destination.parse().unwrap(),
            interface: interface.map(Into::into),
            protocol,
            table: 254,
            kind: RouteKind::Unicast,
            gateway: None,
            source: None,
        }
    }

    fn pool_of(r: &ObservedRoute) -> Option<String> {
        pool_in_the_way(r, &pools(), OURS).map(|p| p.to_string())
    }

    #[test]
    fn a_route_inside_a_pool_is_in_the_way_whatever_its_next_hop() {
        let lan = route("10.0.0.128/25", Some("eth1"), 3);
        assert_eq!(pool_of(&lan).as_deref(), Some("10.0.0.0/24"));
        let via = ObservedRoute {
            gateway: Some("192.0.2.254".parse().unwrap()),
            source: None,
            ..lan.clone()
        };
        assert_eq!(pool_of(&via).as_deref(), Some("10.0.0.0/24"));
        let v6 = route("fec0::80/121", None, 3);
        assert_eq!(pool_of(&v6).as_deref(), Some("fec0::/64"));
        // One VM's exact address, on a foreign link.
        assert!(is_in_the_way(
            &route("10.0.0.2/32", Some("fx0"), 4),
            &pools(),
            OURS
        ));
    }

    #[test]
    fn ours_on_a_link_is_not_in_the_way_but_ours_without_one_is() {
        assert!(!is_in_the_way(
            &route("10.0.0.2/32", Some("vm2"), OURS),
            &pools(),
            OURS
        ));
        assert!(is_in_the_way(
            &route("10.0.0.2/32", None, OURS),
            &pools(),
            OURS
        ));
    }

    #[test]
    fn a_connected_subnet_holding_a_pool_is_in_the_way_a_gateway_route_is_not() {
        let lan = route("10.0.0.0/16", Some("eth0"), 2);
        assert_eq!(pool_of(&lan).as_deref(), Some("10.0.0.0/24"));
        let vpn = ObservedRoute {
            gateway: Some("198.51.100.254".parse().unwrap()),
            source: None,
            ..route("10.0.0.0/8", Some("fx0"), 3)
        };
        assert_eq!(pool_of(&vpn), None);
        // A blackhole holding the pool has no gateway: it does shadow it.
        let hole = ObservedRoute {
            kind: RouteKind::Blackhole,
            ..route("10.0.0.0/8", None, 3)
        };
        assert_eq!(pool_of(&hole).as_deref(), Some("10.0.0.0/24"));
        // The default route holds everything and is never in the way.
        assert_eq!(pool_of(&route("0.0.0.0/0", Some("eth0"), 3)), None);
        assert_eq!(pool_of(&route("::/0", Some("eth0"), 3)), None);
    }

    #[test]
    fn the_kernels_bookkeeping_is_not_in_the_way_blocking_kinds_are() {
        for kind in [
            RouteKind::Local,
            RouteKind::Broadcast,
            RouteKind::Anycast,
            RouteKind::Multicast,
        ] {
            let r = ObservedRoute {
                kind,
                ..route("10.0.0.0/32", Some("vm1"), 2)
            };
            assert_eq!(pool_of(&r), None, "{kind:?}");
        }
        for kind in [
            RouteKind::Unicast,
            RouteKind::Blackhole,
            RouteKind::Unreachable,
            RouteKind::Prohibit,
            RouteKind::Throw,
            RouteKind::Other,
        ] {
            let r = ObservedRoute {
                kind,
                ..route("10.0.0.64/26", None, 3)
            };
            assert!(pool_of(&r).is_some(), "{kind:?}");
        }
        // Whatever the kind, the local table is the kernel's.
        let local_table = ObservedRoute {
            table: LOCAL_TABLE,
            ..route("10.0.0.7/32", Some("eth0"), 2)
        };
        assert_eq!(pool_of(&local_table), None);
    }

    #[test]
    fn birds_routes_inside_a_pool_are_a_clusters_but_not_one_holding_the_gateway() {
        let peer = ObservedRoute {
            gateway: Some("198.51.100.1".parse().unwrap()),
            ..route("10.0.0.64/26", Some("eth0"), RTPROT_BIRD)
        };
        assert!(is_cluster_route(&peer, &pools()));
        // Still in the way under the single-host policy: only `[bgp]`
        // makes it expected (the diff asks both).
        assert!(is_in_the_way(&peer, &pools(), OURS));
        let hole = ObservedRoute {
            kind: RouteKind::Blackhole,
            ..route("fec0::40/122", None, RTPROT_BIRD)
        };
        assert!(is_cluster_route(&hole, &pools()));
        let rest = ObservedRoute {
            kind: RouteKind::Unreachable,
            ..route("10.0.0.0/24", None, RTPROT_BIRD)
        };
        assert!(is_cluster_route(&rest, &pools()));
        for foreign in [
            route("10.0.0.64/26", Some("eth0"), 3),
            route("10.0.0.0/26", Some("eth0"), RTPROT_BIRD),
            route("10.0.0.0/24", Some("eth0"), RTPROT_BIRD),
            route("10.0.0.0/8", Some("eth0"), RTPROT_BIRD),
            route("192.168.0.0/24", Some("eth0"), RTPROT_BIRD),
        ] {
            assert!(!is_cluster_route(&foreign, &pools()), "{foreign:?}");
        }
    }

    #[test]
    fn routes_elsewhere_and_other_families_are_not_in_the_way() {
        assert_eq!(pool_of(&route("192.168.1.0/24", Some("eth0"), 2)), None);
        assert_eq!(pool_of(&route("10.0.1.0/24", Some("eth0"), 2)), None);
        assert_eq!(pool_of(&route("fec1::/64", Some("eth0"), 2)), None);
        assert_eq!(
            pool_in_the_way(&route("10.0.0.7/32", None, 3), &[], OURS),
            None
        );
    }
}
