//! The synchronous session: observe, apply, default-route lookup.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::mem::discriminant;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use blixard_addr::plan::HostPlan;
use blixard_addr::state::{
    Change, Executor, ObservedFirewall, ObservedHost, ObservedLink, ObservedRoute, TunInfo,
};
use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use ipnet::IpNet;
use nix::errno::Errno;
use rtnetlink::Handle;
use rtnetlink::packet_core::{NLM_F_CREATE, NLM_F_REPLACE, NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::link::{
    AfSpecInet, AfSpecUnspec, InetDevConf, LinkAttribute, LinkExtentMask, LinkFlags, LinkMessage,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::sys::{AsyncSocket, SocketAddr};

use crate::RouteError;
use crate::nl::{self, Request};

/// Receive buffer asked for (root may exceed `rmem_max`): room for the acks
/// of a full pipeline window.
const RECV_BUFFER: usize = 8 << 20;

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
    /// Unicast routes in any table whose destination lies inside one of
    /// these are reported whatever their protocol (to detect a LAN route in
    /// the pool).
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

/// Reads the tun details of a link from its message, for
/// [`Session::observe_with`].
pub type TunParser<'a> = dyn Fn(&LinkMessage) -> Option<TunInfo> + 'a;

/// What [`Session::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyReport {
    /// Route-executor changes carried out (others in the list are skipped).
    pub applied: usize,
}

type Unsolicited = UnboundedReceiver<(NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>;

/// A synchronous rtnetlink handle bound to one network namespace.
///
/// It owns a current-thread tokio runtime and one rtnetlink connection made
/// in the *calling thread's* namespace; create it inside
/// [`blixard_netns::run_in`] / [`blixard_netns::run_in_new`] for another
/// namespace. The methods block; do not call them from inside an async
/// runtime (tokio refuses nested `block_on`).
pub struct Session {
    runtime: tokio::runtime::Runtime,
    handle: Handle,
    /// Where the socket reports receive-buffer overruns (seq 0, so netlink-proto
    /// routes them here rather than to a request).
    unsolicited: Unsolicited,
    /// Dumps go through a blocking socket of their own (see [`nl::DumpSocket`]).
    dumps: nl::DumpSocket,
    /// The namespace the socket lives in, so sysctls go to the same one even
    /// if the session is used from a thread elsewhere.
    netns: std::fs::File,
    netns_ino: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("netns_ino", &self.netns_ino)
            .finish_non_exhaustive()
    }
}

fn thread_netns() -> std::io::Result<std::fs::File> {
    std::fs::File::open("/proc/thread-self/ns/net")
}

impl Session {
    /// Opens the netlink socket in the calling thread's network namespace.
    pub fn new() -> Result<Session, RouteError> {
        let netns = thread_netns().map_err(RouteError::Setup)?;
        let netns_ino = netns.metadata().map_err(RouteError::Setup)?.ino();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(RouteError::Setup)?;
        let (mut conn, handle, unsolicited) = {
            let _enter = runtime.enter();
            rtnetlink::new_connection().map_err(RouteError::Setup)?
        };
        // Our own helpers read acks and DONE explicitly, so that a closed
        // connection is never mistaken for success.
        conn.set_forward_ack(true);
        conn.set_forward_done(true);
        let socket = conn.socket_mut().socket_mut();
        socket
            .set_netlink_get_strict_chk(true)
            .map_err(RouteError::Setup)?;
        socket.set_cap_ack(true).map_err(RouteError::Setup)?;
        // Best effort: RcvBufForce needs CAP_NET_ADMIN, plain SO_RCVBUF is
        // capped by rmem_max; either way the pipeline window stays bounded.
        if nix::sys::socket::setsockopt(
            &*socket,
            nix::sys::socket::sockopt::RcvBufForce,
            &RECV_BUFFER,
        )
        .is_err()
        {
            let _ = socket.set_rx_buf_sz(RECV_BUFFER);
        }
        runtime.spawn(conn);
        Ok(Session {
            runtime,
            handle,
            unsolicited,
            dumps: nl::DumpSocket::open().map_err(RouteError::Setup)?,
            netns,
            netns_ino,
        })
    }

    /// Runs `fut` to completion, failing with [`RouteError::Overrun`] if the
    /// socket reports lost messages meanwhile (a lost ack would otherwise
    /// leave its request waiting forever).
    fn block<F: Future>(&mut self, during: &str, fut: F) -> Result<F::Output, RouteError> {
        while self.unsolicited.try_recv().is_ok() {}
        let unsolicited = &mut self.unsolicited;
        let overrun = async move {
            while let Some((m, _)) = unsolicited.next().await {
                if matches!(m.payload, NetlinkPayload::Overrun(_)) {
                    return;
                }
            }
            futures::future::pending::<()>().await
        };
        self.runtime.block_on(async move {
            let fut = std::pin::pin!(fut);
            let overrun = std::pin::pin!(overrun);
            match futures::future::select(fut, overrun).await {
                futures::future::Either::Left((out, _)) => Ok(out),
                futures::future::Either::Right(_) => Err(RouteError::Overrun {
                    during: during.to_string(),
                }),
            }
        })
    }

    fn dump<T>(
        &mut self,
        request: RouteNetlinkMessage,
        what: &'static str,
        keep: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> Result<Vec<T>, RouteError> {
        self.dumps.dump(&request, what, keep)
    }

    /// Runs `f` in the session's namespace: directly when the calling thread
    /// is already there, else on a helper thread that enters it.
    fn in_netns<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, RouteError> + Send,
    ) -> Result<T, RouteError> {
        let here = std::fs::metadata("/proc/thread-self/ns/net")
            .map(|m| m.ino())
            .ok();
        if here == Some(self.netns_ino) {
            return f();
        }
        let path = format!("/proc/self/fd/{}", self.netns.as_raw_fd());
        blixard_netns::run_in(&blixard_netns::Netns::Path(path.into()), f)?
    }

    fn links(&mut self) -> Result<Vec<LinkRow>, RouteError> {
        self.links_with(&|_| None)
    }

    /// [`Self::links`], reading tun details with `tun` from each message.
    fn links_with(&mut self, tun: &TunParser<'_>) -> Result<Vec<LinkRow>, RouteError> {
        // Counters are most of a link message and nothing here reads them.
        let mut request = LinkMessage::default();
        request
            .attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.dump(RouteNetlinkMessage::GetLink(request), "links", |m| {
            link_row(m, tun)
        })
    }

    /// Route messages of `family` mapped by `keep` as they arrive; the
    /// kernel filters by `protocol` and `table` when given.
    fn routes<T>(
        &mut self,
        family: AddressFamily,
        protocol: Option<u8>,
        table: Option<u8>,
        mut keep: impl FnMut(&RouteMessage) -> Option<T>,
    ) -> Result<Vec<T>, RouteError> {
        let mut req = RouteMessage::default();
        req.header.address_family = family;
        // With NETLINK_GET_STRICT_CHK the kernel filters by these header fields.
        if let Some(p) = protocol {
            req.header.protocol = RouteProtocol::from(p);
        }
        if let Some(t) = table {
            req.header.table = t;
        }
        let what = if family == AddressFamily::Inet {
            "IPv4 routes"
        } else {
            "IPv6 routes"
        };
        self.dump(RouteNetlinkMessage::GetRoute(req), what, |m| match m {
            RouteNetlinkMessage::NewRoute(r) => keep(&r),
            _ => None,
        })
    }

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
            .map(|l| ObservedLink {
                ifindex: l.index,
                name: l.name.clone(),
                group: l.group,
                alias: l.alias.clone(),
                up: l.up,
                mtu: l.mtu,
                tun: l.tun.clone(),
                root_noqueue: false,
                addresses: Vec::new(),
            })
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
        let from_files = self.in_netns(move || {
            let mut out = BTreeMap::new();
            for key in from_files {
                if let Some(v) = crate::read_sysctl(&key)? {
                    out.insert(key, v);
                }
            }
            Ok(out)
        })?;
        sysctls.extend(from_files);

        Ok(ObservedHost {
            links: observed,
            routes,
            sysctls,
            firewall: ObservedFirewall::Absent,
        })
    }

    /// What [`blixard_addr::diff::wire_vm`] and `unwire_vm` need of one VM,
    /// read without listing the rest of the host, so its cost does not grow
    /// with the number of VMs: its link by name (`RTM_GETLINK` with
    /// `IFLA_IFNAME`, its root qdisc from `IFLA_QDISC`), that link's
    /// addresses and routes (dumps the kernel filters by ifindex and table),
    /// the route each VM destination resolves to now (`RTM_F_FIB_MATCH`:
    /// a foreign route in the way) and the scope's sysctls.
    pub fn observe_vm(
        &mut self,
        scope: &VmObserveScope,
        tun: &TunParser<'_>,
    ) -> Result<ObservedHost, RouteError> {
        let mut request = LinkMessage::default();
        request
            .attributes
            .push(LinkAttribute::IfName(scope.interface.clone()));
        request
            .attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        let found = self
            .dumps
            .get(&RouteNetlinkMessage::GetLink(request), &scope.interface)?;
        let root_noqueue = matches!(&found, Some(RouteNetlinkMessage::NewLink(l))
            if l.attributes.iter().any(|a| matches!(a, LinkAttribute::Qdisc(q) if q == "noqueue")));
        let row = found.and_then(|m| link_row(m, tun));
        let mut names: HashMap<u32, String> = HashMap::new();
        let mut links = Vec::new();
        let mut routes = Vec::new();
        let mut sysctls = BTreeMap::new();
        if let Some(row) = &row {
            names.insert(row.index, row.name.clone());
            let mut request = AddressMessage::default();
            request.header.index = row.index;
            let mut addresses = self.dump(
                RouteNetlinkMessage::GetAddress(request),
                "addresses",
                |a| match a {
                    RouteNetlinkMessage::NewAddress(a)
                        if a.header.index == row.index && a.header.scope != AddressScope::Link =>
                    {
                        address_of(&a)
                    }
                    _ => None,
                },
            )?;
            addresses.sort();
            links.push(ObservedLink {
                ifindex: row.index,
                name: row.name.clone(),
                group: row.group,
                alias: row.alias.clone(),
                up: row.up,
                mtu: row.mtu,
                tun: row.tun.clone(),
                root_noqueue,
                addresses,
            });
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
                        RouteNetlinkMessage::NewRoute(r) if is_unicast_like(r.header.kind) => {
                            observed_route(&r, &by_name)
                        }
                        _ => None,
                    },
                )?);
            }
            if let Some(conf) = row.inet.as_deref() {
                let devconf: HashMap<&str, &InetDevConf> = [(row.name.as_str(), conf)].into();
                for key in &scope.sysctls {
                    if let Some(value) = link_conf_value(key, &devconf) {
                        sysctls.insert(key.clone(), value.to_string());
                    }
                }
            }
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
        sysctls.extend(self.in_netns(move || {
            let mut out = BTreeMap::new();
            for key in from_files {
                if let Some(v) = crate::read_sysctl(&key)? {
                    out.insert(key, v);
                }
            }
            Ok(out)
        })?);
        Ok(ObservedHost {
            links,
            routes,
            sysctls,
            firewall: ObservedFirewall::Absent,
        })
    }

    /// The route `destination` resolves to in the main table, as the FIB
    /// holds it (`RTM_F_FIB_MATCH`), unless it is the kernel's own
    /// bookkeeping (local, broadcast) or only the default route.
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
        let Some(RouteNetlinkMessage::NewRoute(r)) = self
            .dumps
            .get(&RouteNetlinkMessage::GetRoute(request), &what)?
        else {
            return Ok(None);
        };
        if !is_unicast_like(r.header.kind) || r.header.destination_prefix_length == 0 {
            return Ok(None);
        }
        let oif = r.attributes.iter().find_map(|a| match a {
            RouteAttribute::Oif(i) => Some(*i),
            _ => None,
        });
        if let Some(index) = oif.filter(|i| !names.contains_key(i)) {
            let mut request = LinkMessage::default();
            request.header.index = index;
            request
                .attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
            if let Some(row) = self
                .dumps
                .get(&RouteNetlinkMessage::GetLink(request), &what)?
                .and_then(|m| link_row(m, &|_| None))
            {
                names.insert(index, row.name);
            }
        }
        let by_name: HashMap<u32, &str> = names.iter().map(|(i, n)| (*i, n.as_str())).collect();
        Ok(observed_route(&r, &by_name))
    }

    /// Our routes, foreign unicast routes inside the scope's pools, and
    /// connected subnets that contain a pool.
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
                let in_pool = is_unicast_like(r.header.kind)
                    && pools.iter().any(|p| {
                        p.contains(&route.destination)
                            || (is_connected_subnet(r, &route) && route.destination.contains(p))
                    });
                (ours || in_pool).then_some(route)
            };
            routes.extend(if pools.is_empty() {
                self.routes(family, Some(scope.route_protocol), None, keep)?
            } else {
                self.routes(family, None, None, keep)?
            });
        }
        Ok(routes)
    }

    /// Carries out the [`Executor::Route`] changes in list order (others are
    /// skipped). Runs of the same kind go out together with many requests in
    /// flight on the one socket. Every failure of a run is reported, then
    /// apply stops.
    pub fn apply(&mut self, changes: &[Change]) -> Result<ApplyReport, RouteError> {
        let ours: Vec<&Change> = changes
            .iter()
            .filter(|c| c.executor() == Executor::Route)
            .collect();
        let names: HashSet<&str> = ours.iter().filter_map(|c| link_of(c)).collect();
        // A few links (one VM wired) are looked up by name, so the cost does
        // not grow with the host; many in one dump.
        let index: HashMap<String, u32> = if names.len() <= LOOKUPS_MAX {
            let mut index = HashMap::new();
            for name in names {
                let mut request = LinkMessage::default();
                request
                    .attributes
                    .push(LinkAttribute::IfName(name.to_string()));
                request
                    .attributes
                    .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
                if let Some(RouteNetlinkMessage::NewLink(l)) = self
                    .dumps
                    .get(&RouteNetlinkMessage::GetLink(request), name)?
                {
                    index.insert(name.to_string(), l.header.index);
                }
            }
            index
        } else {
            self.links()?
                .into_iter()
                .map(|l| (l.name, l.index))
                .collect()
        };
        let mut applied = 0;
        for run in ours.chunk_by(|a, b| discriminant(*a) == discriminant(*b)) {
            let mut failures = Vec::new();
            if matches!(run[0], Change::SetSysctl { .. }) {
                let writes: Vec<(String, String)> = run
                    .iter()
                    .filter_map(|c| match c {
                        Change::SetSysctl { key, value } => Some((key.clone(), value.clone())),
                        _ => None,
                    })
                    .collect();
                let results = self.in_netns(move || {
                    Ok(writes
                        .iter()
                        .map(|(k, v)| crate::write_sysctl(k, v))
                        .collect::<Vec<_>>())
                })?;
                for r in results {
                    match r {
                        Ok(()) => applied += 1,
                        Err(e) => failures.push(e),
                    }
                }
            } else {
                let mut requests = Vec::new();
                for c in run {
                    match request_for(c, &index) {
                        Ok(r) => requests.push(r),
                        Err(e) => failures.push(e),
                    }
                }
                let during = format!(
                    "{} change(s) starting with {}",
                    requests.len(),
                    describe(run[0])
                );
                let handle = self.handle.clone();
                let results = self.block(&during, nl::pipeline(&handle, requests))?;
                for r in results {
                    match r {
                        Ok(()) => applied += 1,
                        Err(e) => failures.push(e),
                    }
                }
            }
            if !failures.is_empty() {
                return Err(RouteError::Apply { applied, failures });
            }
        }
        Ok(ApplyReport { applied })
    }

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

    /// Brings a link up by name.
    pub fn set_up(&mut self, name: &str) -> Result<(), RouteError> {
        let change = Change::LinkUp {
            name: name.to_string(),
        };
        self.apply(std::slice::from_ref(&change))
            .map(|_| ())
            .map_err(|e| match e {
                RouteError::Apply { mut failures, .. } if failures.len() == 1 => failures.remove(0),
                e => e,
            })
    }
}

/// One link as observe and apply need it, taken from its message as the
/// dump arrives so that the (large) parsed message is dropped at once.
struct LinkRow {
    index: u32,
    name: String,
    group: u32,
    alias: Option<String>,
    up: bool,
    mtu: u32,
    /// The IPv4 settings (`IFLA_AF_SPEC`/`AF_INET`/`IFLA_INET_CONF`): the
    /// same array `/proc/sys/net/ipv4/conf/IF/` shows.
    /// Boxed: most of a row's size, and a dump's row vector doubles as it grows.
    inet: Option<Box<InetDevConf>>,
    tun: Option<TunInfo>,
}

fn link_row(m: RouteNetlinkMessage, tun: &TunParser<'_>) -> Option<LinkRow> {
    let RouteNetlinkMessage::NewLink(l) = m else {
        return None;
    };
    let tun = tun(&l);
    let (mut name, mut group, mut alias, mut mtu, mut inet) = (None, 0, None, 0, None);
    for a in l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n),
            LinkAttribute::Group(g) => group = g,
            LinkAttribute::IfAlias(s) => alias = Some(s),
            LinkAttribute::Mtu(m) => mtu = m,
            LinkAttribute::AfSpecUnspec(specs) => {
                for spec in specs {
                    if let AfSpecUnspec::Inet(conf) = spec {
                        inet = conf.into_iter().find_map(|c| match c {
                            AfSpecInet::DevConf(c) => Some(Box::new(c)),
                            _ => None,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Some(LinkRow {
        index: l.header.index,
        name: name?,
        group,
        alias,
        up: l.header.flags.contains(LinkFlags::Up),
        mtu,
        inet,
        tun,
    })
}

/// The value of `net.ipv4.conf.IF.NAME` from IF's link message, for the
/// settings read here; `None` sends the key to `/proc/sys` (other settings,
/// `all`/`default`, links that were not dumped).
fn link_conf_value(key: &str, devconf: &HashMap<&str, &InetDevConf>) -> Option<i32> {
    let (interface, name) = key.strip_prefix("net.ipv4.conf.")?.rsplit_once('.')?;
    if matches!(interface, "all" | "default") {
        return None;
    }
    let conf = devconf.get(interface)?;
    Some(match name {
        "forwarding" => conf.forwarding,
        "proxy_arp" => conf.proxy_arp,
        "accept_redirects" => conf.accept_redirects,
        "send_redirects" => conf.send_redirects,
        "rp_filter" => conf.rp_filter,
        "accept_source_route" => conf.accept_source_route,
        "log_martians" => conf.log_martians,
        "arp_ignore" => conf.arp_ignore,
        "arp_announce" => conf.arp_announce,
        "accept_local" => conf.accept_local,
        "route_localnet" => conf.route_localnet,
        _ => return None,
    })
}

fn address_of(a: &AddressMessage) -> Option<IpNet> {
    // IFA_LOCAL is the local side on IPv4 (IFA_ADDRESS may be a peer);
    // IPv6 carries only IFA_ADDRESS.
    let local = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let addr = a.attributes.iter().find_map(|x| match x {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    });
    IpNet::new(local.or(addr)?, a.header.prefix_len).ok()
}

fn is_unicast_like(kind: RouteType) -> bool {
    // Local/broadcast/anycast/multicast routes are the kernel's bookkeeping
    // for addresses (our own 10.0.0.0/32 makes one); blackhole and
    // unreachable routes do shadow the pool, so they count.
    !matches!(
        kind,
        RouteType::Local | RouteType::Broadcast | RouteType::Anycast | RouteType::Multicast
    )
}

/// A directly connected subnet (no gateway, not a default route), such as a
/// LAN's `10.0.0.0/16 dev eth0`: if it holds a pool, our /32 routes would
/// steal its hosts' addresses. A wider route through a gateway (a VPN's
/// 10.0.0.0/8) is only shadowed for the pool's addresses and is left alone.
fn is_connected_subnet(r: &RouteMessage, route: &ObservedRoute) -> bool {
    route.destination.prefix_len() > 0
        && !r.attributes.iter().any(|a| {
            matches!(
                a,
                RouteAttribute::Gateway(_) | RouteAttribute::Via(_) | RouteAttribute::MultiPath(_)
            )
        })
}

fn observed_route(r: &RouteMessage, names: &HashMap<u32, &str>) -> Option<ObservedRoute> {
    let mut dst: Option<IpAddr> = None;
    let mut oif = None;
    let mut table = u32::from(r.header.table);
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(v4)) => dst = Some((*v4).into()),
            RouteAttribute::Destination(RouteAddress::Inet6(v6)) => dst = Some((*v6).into()),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    let dst = match (dst, r.header.address_family) {
        (Some(d), _) => d,
        (None, AddressFamily::Inet) => IpAddr::from([0u8; 4]),
        (None, AddressFamily::Inet6) => IpAddr::from([0u8; 16]),
        _ => return None,
    };
    Some(ObservedRoute {
        destination: IpNet::new(dst, r.header.destination_prefix_length).ok()?,
        interface: oif.and_then(|i| names.get(&i).map(|n| n.to_string())),
        protocol: u8::from(r.header.protocol),
        table,
    })
}

fn describe(c: &Change) -> String {
    match c {
        Change::SetLink { name, .. } => format!("set link {name}"),
        Change::AddNoqueue { name } => format!("add noqueue qdisc on {name}"),
        Change::LinkUp { name } => format!("set {name} up"),
        Change::AddAddress { interface, address } => {
            format!("add address {address} dev {interface}")
        }
        Change::DeleteAddress { interface, address } => {
            format!("delete address {address} dev {interface}")
        }
        Change::AddRoute {
            destination,
            interface,
            protocol,
        } => {
            format!("add route {destination} dev {interface} proto {protocol}")
        }
        Change::DeleteRoute {
            destination,
            interface,
            protocol,
        } => {
            format!("delete route {destination} dev {interface} proto {protocol}")
        }
        other => format!("{other:?}"),
    }
}

/// Up to this many links, [`Session::apply`] looks each up by name rather
/// than dumping every link.
const LOOKUPS_MAX: usize = 16;

/// The link a route-executor change acts on.
fn link_of(change: &Change) -> Option<&str> {
    match change {
        Change::SetLink { name, .. } | Change::AddNoqueue { name } | Change::LinkUp { name } => {
            Some(name)
        }
        Change::AddAddress { interface, .. }
        | Change::DeleteAddress { interface, .. }
        | Change::AddRoute { interface, .. }
        | Change::DeleteRoute { interface, .. } => Some(interface),
        _ => None,
    }
}

fn resolve(
    index: &HashMap<String, u32>,
    name: &str,
    op: &'static str,
    object: &str,
) -> Result<u32, RouteError> {
    index
        .get(name)
        .copied()
        .ok_or_else(|| RouteError::NoSuchLink {
            op,
            object: object.to_string(),
            name: name.to_string(),
        })
}

fn family_of(net: &IpNet) -> AddressFamily {
    match net {
        IpNet::V4(_) => AddressFamily::Inet,
        IpNet::V6(_) => AddressFamily::Inet6,
    }
}

fn address_message(ifindex: u32, address: &IpNet) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family_of(address);
    m.header.prefix_len = address.prefix_len();
    m.header.index = ifindex;
    let ip = address.addr();
    if ip.is_ipv4() {
        m.attributes.push(AddressAttribute::Local(ip));
    }
    m.attributes.push(AddressAttribute::Address(ip));
    m
}

fn route_message(ifindex: u32, destination: &IpNet, protocol: u8) -> RouteMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family_of(destination);
    m.header.destination_prefix_length = destination.prefix_len();
    m.header.table = RouteHeader::RT_TABLE_MAIN;
    m.header.protocol = RouteProtocol::from(protocol);
    m.header.scope = RouteScope::Link;
    m.header.kind = RouteType::Unicast;
    m.attributes
        .push(RouteAttribute::Destination(destination.addr().into()));
    m.attributes.push(RouteAttribute::Oif(ifindex));
    m
}

const EADDRNOTAVAIL: i32 = Errno::EADDRNOTAVAIL as i32;
const ESRCH: i32 = Errno::ESRCH as i32;
const ENOENT: i32 = Errno::ENOENT as i32;

fn request_for(change: &Change, index: &HashMap<String, u32>) -> Result<Request, RouteError> {
    let upsert = NLM_F_CREATE | NLM_F_REPLACE;
    Ok(match change {
        Change::SetLink {
            name,
            group,
            alias,
            mtu,
        } => {
            let op = "set group/alias/mtu of";
            let mut m = LinkMessage::default();
            m.header.index = resolve(index, name, op, name)?;
            m.attributes.push(LinkAttribute::Group(*group));
            m.attributes.push(LinkAttribute::IfAlias(alias.clone()));
            m.attributes.push(LinkAttribute::Mtu(*mtu));
            Request {
                message: RouteNetlinkMessage::SetLink(m),
                flags: 0,
                op,
                object: name.clone(),
                already_done: &[],
            }
        }
        Change::LinkUp { name } => {
            let op = "set up";
            let mut m = LinkMessage::default();
            m.header.index = resolve(index, name, op, name)?;
            m.header.flags = LinkFlags::Up;
            m.header.change_mask = LinkFlags::Up;
            Request {
                message: RouteNetlinkMessage::SetLink(m),
                flags: 0,
                op,
                object: name.clone(),
                already_done: &[],
            }
        }
        Change::AddNoqueue { name } => {
            let op = "add root noqueue qdisc on";
            let ifindex = resolve(index, name, op, name)?;
            let mut m = TcMessage::default();
            m.header.index = i32::try_from(ifindex).expect("ifindex fits in i32");
            m.header.parent = TcHandle::ROOT;
            m.header.handle = TcHandle::UNSPEC;
            m.attributes.push(TcAttribute::Kind("noqueue".into()));
            Request {
                message: RouteNetlinkMessage::NewQueueDiscipline(m),
                flags: upsert,
                op,
                object: name.clone(),
                already_done: &[],
            }
        }
        Change::AddAddress { interface, address } => {
            let op = "add address";
            let object = format!("{address} dev {interface}");
            let mut m = address_message(resolve(index, interface, op, &object)?, address);
            // NODAD: the tap has no carrier until the VMM attaches, and a
            // tentative address drops the guest's first packets.
            // NOPREFIXROUTE: a /128 would otherwise get a proto-kernel route
            // inside the pool, indistinguishable from a foreign one.
            let flags = if address.addr().is_ipv6() {
                AddressFlags::Nodad | AddressFlags::Noprefixroute
            } else {
                AddressFlags::Noprefixroute
            };
            if address.addr().is_ipv6() {
                m.header.flags = AddressHeaderFlags::Nodad;
            }
            m.attributes.push(AddressAttribute::Flags(flags));
            Request {
                message: RouteNetlinkMessage::NewAddress(m),
                flags: upsert,
                op,
                object,
                already_done: &[],
            }
        }
        Change::DeleteAddress { interface, address } => {
            let op = "delete address";
            let object = format!("{address} dev {interface}");
            let m = address_message(resolve(index, interface, op, &object)?, address);
            Request {
                message: RouteNetlinkMessage::DelAddress(m),
                flags: 0,
                op,
                object,
                already_done: &[EADDRNOTAVAIL],
            }
        }
        Change::AddRoute {
            destination,
            interface,
            protocol,
        } => {
            let op = "add route";
            let object = format!("{destination} dev {interface} proto {protocol}");
            let m = route_message(
                resolve(index, interface, op, &object)?,
                destination,
                *protocol,
            );
            Request {
                message: RouteNetlinkMessage::NewRoute(m),
                flags: upsert,
                op,
                object,
                already_done: &[],
            }
        }
        Change::DeleteRoute {
            destination,
            interface,
            protocol,
        } => {
            let op = "delete route";
            let object = format!("{destination} dev {interface} proto {protocol}");
            let mut m = route_message(
                resolve(index, interface, op, &object)?,
                destination,
                *protocol,
            );
            // NOWHERE matches any scope; the protocol still restricts the
            // delete to our route.
            m.header.scope = RouteScope::NoWhere;
            Request {
                message: RouteNetlinkMessage::DelRoute(m),
                flags: 0,
                op,
                object,
                already_done: &[ESRCH, ENOENT],
            }
        }
        other => unreachable!("not a netlink change: {other:?}"),
    })
}
