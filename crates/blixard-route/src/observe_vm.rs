//! Observing one VM without listing the host: its tap by name, that tap's
//! addresses and routes, and the route each of its destinations resolves
//! to now.

use std::collections::{BTreeMap, HashMap};

use blixard_addr::state::{ObservedFirewall, ObservedHost, ObservedRootQdisc, ObservedRoute};
use ipnet::IpNet;
use netlink_packet_route::address::{AddressMessage, AddressScope};
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteType,
};
use netlink_packet_route::tc::{TcHandle, TcMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::requests::family_of;
use crate::rows::{LinkRow, TunParser, address_of, link_conf_value, link_row, observed_route};
use crate::session::link_request;
use crate::{RouteError, Session, VmObserveScope};

impl Session {
    /// What [`blixard_addr::diff::wire_vm`] and `unwire_vm` need of one VM,
    /// read without listing the rest of the host, so its cost does not grow
    /// with the number of VMs: the gateway device and the VM's link by name
    /// (`RTM_GETLINK` with `IFLA_IFNAME`, its root qdisc from `IFLA_QDISC`),
    /// their addresses, the tap's routes and proxy entries (dumps the kernel
    /// filters by ifindex and table),
    /// the route each VM destination resolves to now (`RTM_F_FIB_MATCH`:
    /// a foreign route in the way) and the scope's sysctls.
    pub fn observe_vm(
        &mut self,
        scope: &VmObserveScope,
        tun: &TunParser<'_>,
    ) -> Result<ObservedHost, RouteError> {
        let mut names: HashMap<u32, String> = HashMap::new();
        let mut links = Vec::new();
        let mut routes = Vec::new();
        let mut sysctls = BTreeMap::new();
        if let Some((row, _)) = self.link_by_name(&scope.gateway, &|_| None)? {
            let addresses = self.addresses_of(row.index)?;
            links.push(row.observed(false, addresses));
        }
        if let Some((row, root_noqueue)) = self.link_by_name(&scope.interface, tun)? {
            names.insert(row.index, row.name.clone());
            let addresses = self.addresses_of(row.index)?;
            let mut link = row.observed(root_noqueue, addresses);
            if !root_noqueue {
                link.root_qdisc = self.root_qdisc(row.index)?;
            }
            link.ingress_qdisc = self.has_ingress_qdisc(row.index)?;
            link.proxy_neighbours = self
                .proxies(Some(row.index))?
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            links.push(link);
            for family in [AddressFamily::Inet, AddressFamily::Inet6] {
                let mut request = RouteMessage::default();
                request.header.address_family = family;
                request.header.table = blixard_addr::model::MAIN_TABLE as u8;
                request.attributes.push(RouteAttribute::Oif(row.index));
                let by_name: HashMap<u32, &str> = [(row.index, row.name.as_str())].into();
                routes.extend(self.dump(
                    RouteNetlinkMessage::GetRoute(request),
                    "routes on the VM's link",
                    |m| match m {
                        RouteNetlinkMessage::NewRoute(r) => observed_route(&r, &by_name),
                        _ => None,
                    },
                )?);
            }
            let rows: HashMap<&str, &LinkRow> = [(row.name.as_str(), &row)].into();
            for key in &scope.sysctls {
                if let Some(value) = link_conf_value(key, &rows) {
                    sysctls.insert(key.clone(), value.to_string());
                }
            }
        }
        if let Some(ifb) = &scope.ifb
            && let Some((row, _)) = self.link_by_name(ifb, &|_| None)?
        {
            let mut link = row.observed(false, Vec::new());
            link.root_qdisc = self.root_qdisc(row.index)?;
            links.push(link);
        }
        for destination in &scope.destinations {
            let Some(route) = self.route_to(destination, &mut names)? else {
                continue;
            };
            if !routes.contains(&route) {
                routes.push(route);
            }
        }
        let from_files: Vec<String> = scope
            .sysctls
            .iter()
            .filter(|k| !sysctls.contains_key(*k))
            .cloned()
            .collect();
        sysctls.extend(self.read_sysctls(from_files)?);
        Ok(ObservedHost {
            links,
            routes,
            sysctls,
            firewall: ObservedFirewall::Absent,
        })
    }

    /// One link by name (`RTM_GETLINK` with `IFLA_IFNAME`), with whether
    /// its root qdisc is `noqueue` (`IFLA_QDISC`).
    fn link_by_name(
        &mut self,
        name: &str,
        tun: &TunParser<'_>,
    ) -> Result<Option<(LinkRow, bool)>, RouteError> {
        let mut request = link_request();
        request
            .attributes
            .push(LinkAttribute::IfName(name.to_string()));
        let found = self.get(RouteNetlinkMessage::GetLink(request), name)?;
        let root_noqueue = matches!(&found, Some(RouteNetlinkMessage::NewLink(l))
            if l.attributes.iter().any(|a| matches!(a, LinkAttribute::Qdisc(q) if q == "noqueue")));
        Ok(found
            .and_then(|m| link_row(m, tun))
            .map(|row| (row, root_noqueue)))
    }

    /// A link's root qdisc when it is neither the kernel's default nor
    /// `noqueue` (our limit, or someone else's), by `RTM_GETQDISC` for
    /// the root of that link alone.
    fn root_qdisc(&mut self, index: u32) -> Result<Option<ObservedRootQdisc>, RouteError> {
        Ok(
            match self.qdisc(index, TcHandle::ROOT, "root qdisc")?.as_ref() {
                Some(q) => match crate::tc::root_of(q) {
                    Some((_, crate::tc::Root::Other(other))) => Some(other),
                    _ => None,
                },
                None => None,
            },
        )
    }

    /// Whether a link has an `ingress` qdisc (an echoed `RTM_GETQDISC` for
    /// that parent: `ENOENT` when there is none).
    fn has_ingress_qdisc(&mut self, index: u32) -> Result<bool, RouteError> {
        Ok(self
            .qdisc(index, TcHandle::INGRESS, "ingress qdisc")?
            .is_some())
    }

    /// The qdisc of link `index` at `parent`, by an echoed `RTM_GETQDISC`
    /// (traffic control answers a get only to those asking for an echo).
    fn qdisc(
        &mut self,
        index: u32,
        parent: TcHandle,
        what: &str,
    ) -> Result<Option<TcMessage>, RouteError> {
        let mut request = TcMessage::default();
        request.header.index = i32::try_from(index).expect("ifindex fits in i32");
        request.header.parent = parent;
        Ok(
            match self.get_echoed(RouteNetlinkMessage::GetQueueDiscipline(request), what)? {
                Some(RouteNetlinkMessage::NewQueueDiscipline(q)) => Some(q),
                _ => None,
            },
        )
    }

    /// A link's addresses but the kernel's link-local ones, by a dump the
    /// kernel filters by ifindex.
    fn addresses_of(&mut self, index: u32) -> Result<Vec<IpNet>, RouteError> {
        let mut request = AddressMessage::default();
        request.header.index = index;
        let mut addresses = self.dump(
            RouteNetlinkMessage::GetAddress(request),
            "addresses",
            |a| match a {
                RouteNetlinkMessage::NewAddress(a)
                    if a.header.index == index && a.header.scope != AddressScope::Link =>
                {
                    address_of(&a)
                }
                _ => None,
            },
        )?;
        addresses.sort();
        Ok(addresses)
    }

    /// The route `destination` resolves to, as the FIB holds it
    /// (`RTM_F_FIB_MATCH`), whatever it is: the default route, a local
    /// route or one in the way (`blixard_addr::route_policy` tells).
    fn route_to(
        &mut self,
        destination: &IpNet,
        names: &mut HashMap<u32, String>,
    ) -> Result<Option<ObservedRoute>, RouteError> {
        let mut request = RouteMessage::default();
        request.header.address_family = family_of(destination);
        request.header.destination_prefix_length = destination.prefix_len();
        request.header.flags = RouteFlags::FibMatch;
        request
            .attributes
            .push(RouteAttribute::Destination(match destination {
                IpNet::V4(n) => RouteAddress::Inet(n.addr()),
                IpNet::V6(n) => RouteAddress::Inet6(n.addr()),
            }));
        let what = format!("route to {destination}");
        let reply = match self.get(RouteNetlinkMessage::GetRoute(request), &what) {
            Err(RouteError::Netlink(e)) => match e.errno().and_then(refusing_type) {
                Some(kind) => return self.refusing_route(destination, kind, names),
                None => return Err(e.into()),
            },
            other => other?,
        };
        let Some(RouteNetlinkMessage::NewRoute(r)) = reply else {
            return Ok(None);
        };
        let oif = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        });
        if let Some(index) = oif.filter(|i| !names.contains_key(i)) {
            let mut request = link_request();
            request.header.index = index;
            if let Some(row) = self
                .get(RouteNetlinkMessage::GetLink(request), &what)?
                .and_then(|m| link_row(m, &|_| None))
            {
                names.insert(index, row.name);
            }
        }
        let by_name: HashMap<u32, &str> = names.iter().map(|(i, n)| (*i, n.as_str())).collect();
        Ok(observed_route(&r, &by_name))
    }
}

impl Session {
    /// The route a lookup of `destination` refused through (a blackhole,
    /// unreachable or prohibit route answers a lookup with its errno, not
    /// itself, even with `RTM_F_FIB_MATCH`): the longest route of that
    /// `kind` holding it, from a dump the kernel filters by type, so the
    /// cost follows those few routes, not the host's.
    fn refusing_route(
        &mut self,
        destination: &IpNet,
        kind: RouteType,
        names: &HashMap<u32, String>,
    ) -> Result<Option<ObservedRoute>, RouteError> {
        let mut request = RouteMessage::default();
        request.header.address_family = family_of(destination);
        request.header.kind = kind;
        let by_name: HashMap<u32, &str> = names.iter().map(|(i, n)| (*i, n.as_str())).collect();
        let found = self.dump(
            RouteNetlinkMessage::GetRoute(request),
            &format!("routes refusing {destination}"),
            |m| match m {
                RouteNetlinkMessage::NewRoute(r) if r.header.kind == kind => {
                    observed_route(&r, &by_name)
                }
                _ => None,
            },
        )?;
        Ok(found
            .into_iter()
            .filter(|r| r.destination.contains(destination))
            .max_by_key(|r| r.destination.prefix_len()))
    }
}

/// The route type whose lookup fails with `errno` (the kernel's
/// `fib_props`): blackhole `EINVAL`, unreachable `EHOSTUNREACH`, prohibit
/// `EACCES`.
fn refusing_type(errno: i32) -> Option<RouteType> {
    match nix::errno::Errno::from_raw(errno) {
        nix::errno::Errno::EINVAL => Some(RouteType::BlackHole),
        nix::errno::Errno::EHOSTUNREACH => Some(RouteType::Unreachable),
        nix::errno::Errno::EACCES => Some(RouteType::Prohibit),
        _ => None,
    }
}
