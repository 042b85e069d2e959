//! A pure model of what the kernel holds after a list of changes.
//!
//! It is what the property tests (and later fuzzing) check the diff
//! against: applying `diff(plan, observed)` to `observed` in the model must
//! succeed step by step and yield a state whose diff is empty. It enforces
//! the kernel's preconditions that the diff's order relies on (a route needs
//! its link up, an address needs its link, no duplicates) and models the
//! side effects the diff relies on (a deleted link takes its routes,
//! addresses and per-link sysctls with it).
//!
//! The model knows nothing of kernel-generated routes (prefix routes of
//! IPv6 addresses, local routes): the observed state of the diff ignores
//! them too.

use crate::change::Change;
use crate::plan::HostPlan;
use crate::state::{
    ObservedFirewall, ObservedHost, ObservedLink, ObservedProxy, ObservedRootQdisc, ObservedRoute,
    RouteKind, TunInfo,
};
use crate::sysctl::SysctlKey;

/// The main routing table, where our routes go.
pub const MAIN_TABLE: u32 = 254;
/// MTU of a freshly created tap.
pub const DEFAULT_TAP_MTU: u32 = 1500;

/// A change the kernel would refuse in the modelled state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change #{position} ({change:?}) would fail: {reason}")]
pub struct ModelError {
    /// 0-based position in the list of changes.
    pub position: usize,
    /// The change.
    pub change: Box<Change>,
    /// What the kernel would say (`ENODEV`, `EEXIST`, ...).
    pub reason: String,
}

/// Applies `changes` in order, skipping any the kernel would refuse (see
/// [`try_apply`] to have them reported).
pub fn apply(observed: &ObservedHost, changes: &[Change], plan: &HostPlan) -> ObservedHost {
    let mut host = observed.clone();
    for change in changes {
        // A refused change leaves the state as it was, as in the kernel.
        let _ = step(&mut host, change, plan);
    }
    host
}

/// Applies `changes` in order and fails at the first one the kernel would
/// refuse.
pub fn try_apply(
    observed: &ObservedHost,
    changes: &[Change],
    plan: &HostPlan,
) -> Result<ObservedHost, ModelError> {
    let mut host = observed.clone();
    for (position, change) in changes.iter().enumerate() {
        step(&mut host, change, plan).map_err(|reason| ModelError {
            position,
            change: Box::new(change.clone()),
            reason,
        })?;
    }
    Ok(host)
}

fn link_mut<'a>(host: &'a mut ObservedHost, name: &str) -> Result<&'a mut ObservedLink, String> {
    host.links
        .iter_mut()
        .find(|l| l.name == name)
        .ok_or_else(|| format!("ENODEV: no link {name}"))
}

/// Per-link sysctl keys (`net.ipv4.conf.vm3.rp_filter`,
/// `net.ipv6.neigh.vm3.proxy_delay`) name their link.
fn sysctl_link(key: &str) -> Option<String> {
    let key: SysctlKey = key.parse().ok()?;
    key.link().map(str::to_string)
}

fn remove_link(host: &mut ObservedHost, keep: impl Fn(&ObservedLink) -> bool) {
    let removed: Vec<String> = host
        .links
        .iter()
        .filter(|l| !keep(l))
        .map(|l| l.name.clone())
        .collect();
    host.links.retain(|l| keep(l));
    host.routes
        .retain(|r| !r.interface.as_ref().is_some_and(|d| removed.contains(d)));
    host.sysctls
        .retain(|k, _| !sysctl_link(k).is_some_and(|d| removed.contains(&d)));
}

/// A new link of ours, down, with the next ifindex.
fn add_link(
    host: &mut ObservedHost,
    name: &str,
    group: u32,
    alias: &str,
    mtu: u32,
    tun: Option<TunInfo>,
) {
    let ifindex = host.links.iter().map(|l| l.ifindex).max().unwrap_or(1) + 1;
    host.links.push(ObservedLink {
        ifindex,
        name: name.to_string(),
        group,
        alias: Some(alias.to_string()),
        up: false,
        mtu,
        tun,
        root_noqueue: false,
        root_qdisc: None,
        ingress_qdisc: false,
        addresses: Vec::new(),
        proxy_neighbours: Vec::new(),
    });
}

fn step(host: &mut ObservedHost, change: &Change, plan: &HostPlan) -> Result<(), String> {
    match change {
        Change::DeleteLink { name } => {
            link_mut(host, name)?;
            remove_link(host, |l| &l.name != name);
        }
        Change::DeleteLinkGroup { group } => remove_link(host, |l| l.group != *group),
        Change::DeleteRoute {
            destination,
            interface,
            protocol,
        } => {
            let before = host.routes.len();
            host.routes.retain(|r| {
                !(r.destination == *destination
                    && r.interface.as_deref() == Some(interface.as_str())
                    && r.protocol == *protocol)
            });
            if host.routes.len() == before {
                return Err(format!("ESRCH: no route {destination} dev {interface}"));
            }
        }
        Change::DeleteAddress { interface, address } => {
            let link = link_mut(host, interface)?;
            let before = link.addresses.len();
            link.addresses.retain(|a| a != address);
            if link.addresses.len() == before {
                return Err(format!("EADDRNOTAVAIL: {address} not on {interface}"));
            }
            // Routes that name the address as source lose it: IPv4 deletes
            // every one, even while another link still holds a copy
            // (fib_sync_down_addr); IPv6 clears the source of those through
            // the same link (rt6_remove_prefsrc).
            let ip = address.addr();
            if ip.is_ipv4() {
                host.routes.retain(|r| r.source != Some(ip));
                // A link's last IPv4 address gone, the kernel flushes its
                // IPv4 routes (fib_disable_ip).
                let link = link_mut(host, interface)?;
                if !link.addresses.iter().any(|a| a.addr().is_ipv4()) {
                    host.routes.retain(|r| {
                        !(r.destination.addr().is_ipv4()
                            && r.interface.as_deref() == Some(interface.as_str()))
                    });
                }
            } else {
                for r in host.routes.iter_mut().filter(|r| {
                    r.source == Some(ip) && r.interface.as_deref() == Some(interface.as_str())
                }) {
                    r.source = None;
                }
            }
        }
        Change::CreateTap {
            name,
            tap,
            group,
            alias,
            mtu,
        } => {
            if host.links.iter().any(|l| &l.name == name) {
                return Err(format!("EBUSY: {name} exists"));
            }
            // A new device starts with default per-link sysctls; any value
            // recorded for an earlier device of that name is gone.
            host.sysctls
                .retain(|k, _| sysctl_link(k).as_deref() != Some(name.as_str()));
            // The tap executor marks the tap and sets its MTU before making
            // it persistent, so it is ours from its first observable moment.
            let tun = TunInfo {
                tap: true,
                pi: false,
                vnet_hdr: tap.vnet_hdr,
                multi_queue: tap.multi_queue,
                persist: true,
                owner: tap.owner,
                group: tap.group,
                queues: 0,
            };
            add_link(host, name, *group, alias, *mtu, Some(tun));
        }
        Change::CreateIfb { name, group, alias } => {
            if host.links.iter().any(|l| &l.name == name) {
                return Err(format!("EEXIST: {name} exists"));
            }
            add_link(host, name, *group, alias, 1500, None);
        }
        Change::AddIngressQdisc { name } => link_mut(host, name)?.ingress_qdisc = true,
        Change::AddRedirect { name, ifb } => {
            link_mut(host, ifb)?;
            if !link_mut(host, name)?.ingress_qdisc {
                return Err(format!("EINVAL: no ingress qdisc on {name}"));
            }
        }
        Change::DeleteIngressQdisc { name } => link_mut(host, name)?.ingress_qdisc = false,
        Change::SetTapOwnership { name, owner, group } => {
            let link = link_mut(host, name)?;
            let tun = link
                .tun
                .as_mut()
                .ok_or_else(|| format!("EINVAL: {name} is not a tap"))?;
            tun.owner = owner.or(tun.owner);
            tun.group = group.or(tun.group);
        }
        Change::SetLink {
            name,
            group,
            alias,
            mtu,
        } => {
            let link = link_mut(host, name)?;
            link.group = *group;
            link.alias = Some(alias.clone());
            link.mtu = *mtu;
        }
        Change::AddNoqueue { name } => {
            let link = link_mut(host, name)?;
            link.root_noqueue = true;
            link.root_qdisc = None;
        }
        Change::SetLimit { name, limit } => {
            let link = link_mut(host, name)?;
            link.root_noqueue = false;
            link.root_qdisc = Some(ObservedRootQdisc::Limit(*limit));
        }
        Change::DeleteLimit { name } => {
            let link = link_mut(host, name)?;
            if !matches!(link.root_qdisc, Some(ObservedRootQdisc::Limit(_))) {
                return Err(format!("ENOENT: no limit on {name}"));
            }
            link.root_qdisc = None;
        }
        Change::LinkUp { name } => link_mut(host, name)?.up = true,
        Change::AddAddress { interface, address } => {
            let link = link_mut(host, interface)?;
            if link.addresses.contains(address) {
                return Err(format!("EEXIST: {address} already on {interface}"));
            }
            link.addresses.push(*address);
        }
        Change::AddRoute {
            destination,
            interface,
            protocol,
        } => {
            let link = link_mut(host, interface)?;
            if !link.up {
                return Err(format!("ENETDOWN: {interface} is down"));
            }
            let same_key =
                |r: &ObservedRoute| r.table == MAIN_TABLE && r.destination == *destination;
            if host
                .routes
                .iter()
                .any(|r| same_key(r) && r.interface.as_deref() != Some(interface.as_str()))
            {
                return Err(format!(
                    "EEXIST: a route to {destination} exists on another link"
                ));
            }
            // The route executor uses replace semantics on its own link.
            host.routes.retain(|r| !same_key(r));
            host.routes.push(ObservedRoute {
                destination: *destination,
                interface: Some(interface.clone()),
                protocol: *protocol,
                table: MAIN_TABLE,
                kind: RouteKind::Unicast,
                gateway: None,
                source: None,
            });
        }
        Change::AddProxyNeighbour {
            interface,
            address,
            protocol,
        } => {
            // The kernel updates an existing entry's protocol in place.
            let proxies = &mut link_mut(host, interface)?.proxy_neighbours;
            proxies.retain(|p| p.address != *address);
            proxies.push(ObservedProxy {
                address: *address,
                protocol: *protocol,
            });
        }
        Change::DeleteProxyNeighbour { interface, address } => {
            let proxies = &mut link_mut(host, interface)?.proxy_neighbours;
            let before = proxies.len();
            proxies.retain(|p| p.address != *address);
            if proxies.len() == before {
                return Err(format!("ENOENT: no proxy {address} on {interface}"));
            }
        }
        Change::SetSysctl { key, value } => {
            if let Some(dev) = sysctl_link(key)
                && plan.links.iter().any(|l| l.vm.interface == dev)
                && !host.links.iter().any(|l| l.name == dev)
            {
                return Err(format!("ENOENT: {key} (no link {dev})"));
            }
            host.sysctls.insert(key.clone(), value.clone());
        }
        Change::ReplaceFirewall { firewall } => {
            host.firewall = if **firewall == plan.firewall {
                ObservedFirewall::InSync
            } else {
                ObservedFirewall::Differs(vec!["table replaced with another plan's".into()])
            };
        }
        Change::DeleteFirewall { table } => {
            if host.firewall == ObservedFirewall::Absent {
                return Err(format!("ENOENT: no table inet {table}"));
            }
            host.firewall = ObservedFirewall::Absent;
        }
        Change::AddFirewallVm { table, .. } | Change::RemoveFirewallVm { table, .. } => {
            // Set elements are below the model's resolution: the table
            // stays as it is, but it must exist.
            if host.firewall == ObservedFirewall::Absent {
                return Err(format!("ENOENT: no table inet {table}"));
            }
        }
    }
    Ok(())
}
