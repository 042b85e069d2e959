//! The default-route lookup: which links the host's traffic leaves by.

use std::collections::HashMap;

use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::{RouteAttribute, RouteHeader, RouteType};

use crate::{RouteError, Session};

impl Session {
    /// Interfaces of the main table's default route(s), IPv4 first then
    /// IPv6, each family by ascending metric, deduplicated.
    pub fn default_route_interfaces(&mut self) -> Result<Vec<String>, RouteError> {
        let names: HashMap<u32, String> = self
            .links()?
            .into_iter()
            .map(|l| (l.index, l.name))
            .collect();
        let mut out: Vec<String> = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut defaults: Vec<(u32, Vec<u32>)> =
                self.routes(family, None, Some(RouteHeader::RT_TABLE_MAIN), |r| {
                    if r.header.destination_prefix_length != 0
                        || r.header.kind != RouteType::Unicast
                    {
                        return None;
                    }
                    let metric = r
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            RouteAttribute::Priority(p) => Some(*p),
                            _ => None,
                        })
                        .unwrap_or(0);
                    let mut oifs = Vec::new();
                    for a in &r.attributes {
                        match a {
                            RouteAttribute::Oif(i) => oifs.push(*i),
                            RouteAttribute::MultiPath(hops) => {
                                oifs.extend(hops.iter().map(|h| h.interface_index))
                            }
                            _ => {}
                        }
                    }
                    Some((metric, oifs))
                })?;
            defaults.sort_by_key(|(metric, _)| *metric);
            for name in defaults
                .into_iter()
                .flat_map(|(_, o)| o)
                .filter_map(|i| names.get(&i))
            {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
        Ok(out)
    }
}
