//! Observed host state: what an effect crate saw of the links, routes,
//! sysctls and our firewall table, as the diff takes it in.
//!
//! [`Change`], [`Executor`], [`Conflict`] and [`Conflicts`] live in
//! [`crate::change`] and [`crate::conflict`]; they are re-exported here
//! because callers import them from this module.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use serde::Serialize;

#[doc(no_inline)]
pub use crate::change::{Change, Executor};
#[doc(no_inline)]
pub use crate::conflict::{Conflict, Conflicts};

/// Tun/tap attributes as the kernel reports them (`IFLA_INFO_DATA` of kind
/// `tun`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunInfo {
    /// `true` for tap (L2), `false` for tun (L3).
    pub tap: bool,
    /// `IFF_NO_PI` cleared: packet information header present.
    pub pi: bool,
    /// `IFF_VNET_HDR`.
    pub vnet_hdr: bool,
    /// `IFF_MULTI_QUEUE`.
    pub multi_queue: bool,
    /// Persistent (survives its last fd).
    pub persist: bool,
    /// Owner uid, if set.
    pub owner: Option<u32>,
    /// Owner gid, if set.
    pub group: Option<u32>,
    /// Queues currently attached by a VMM.
    pub queues: u32,
}

/// A link as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedLink {
    /// Kernel ifindex.
    pub ifindex: u32,
    /// Name.
    pub name: String,
    /// Interface group.
    pub group: u32,
    /// `ifalias`, if set.
    pub alias: Option<String>,
    /// Administratively up.
    pub up: bool,
    /// MTU.
    pub mtu: u32,
    /// `Some` for tun/tap devices.
    pub tun: Option<TunInfo>,
    /// A root qdisc other than the default is attached (e.g. `noqueue`).
    pub root_noqueue: bool,
    /// The root qdisc when it is neither the kernel's default nor
    /// `noqueue`: our limit, or someone else's qdisc.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_qdisc: Option<ObservedRootQdisc>,
    /// An `ingress` qdisc is attached (where a limit from the VM is
    /// redirected to its ifb).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ingress_qdisc: bool,
    /// Addresses on the link (only collected for our links), but the
    /// kernel's link-local ones.
    pub addresses: Vec<IpNet>,
    /// IPv6 proxy entries on the link (only collected for our links).
    pub proxy_neighbours: Vec<ObservedProxy>,
}

/// A link's root qdisc that is neither the kernel's default nor `noqueue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ObservedRootQdisc {
    /// Ours: a `tbf` with our handle ([`crate::plan::LIMIT_QDISC_MAJOR`]),
    /// and the limit it holds.
    Limit(crate::plan::RateLimit),
    /// Anyone else's: its kind and the major number of its handle.
    Foreign {
        /// `htb`, `fq_codel`, ...
        kind: String,
        /// Its handle's major number.
        major: u16,
    },
}

/// An IPv6 proxy-NDP entry (`ip -6 neigh show proxy`) as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObservedProxy {
    /// The address answered for.
    pub address: Ipv6Addr,
    /// Its `NDA_PROTOCOL` (0 when none was given).
    pub protocol: u8,
}

/// A route as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedRoute {
    /// Destination prefix.
    pub destination: IpNet,
    /// Output interface name, if any.
    pub interface: Option<String>,
    /// Route protocol (`proto`).
    pub protocol: u8,
    /// Routing table.
    pub table: u32,
    /// What the route does with a packet (`rtm_type`).
    pub kind: RouteKind,
    /// The next hop's address (`RTA_GATEWAY`, `RTA_VIA`, or the first of a
    /// multipath route's hops that has one); `None` for a directly
    /// connected route.
    pub gateway: Option<IpAddr>,
    /// The source address the host gives its own packets on this route
    /// (`RTA_PREFSRC`).
    pub source: Option<IpAddr>,
}

/// A route's type (`rtm_type`) as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RouteKind {
    /// Forwarded to a link or a gateway (`RTN_UNICAST`).
    #[default]
    Unicast,
    /// An address of this host (`RTN_LOCAL`).
    Local,
    /// A broadcast address of a link (`RTN_BROADCAST`).
    Broadcast,
    /// An anycast address (`RTN_ANYCAST`).
    Anycast,
    /// A multicast route (`RTN_MULTICAST`).
    Multicast,
    /// Dropped silently (`RTN_BLACKHOLE`).
    Blackhole,
    /// Refused with host unreachable (`RTN_UNREACHABLE`).
    Unreachable,
    /// Refused with administratively prohibited (`RTN_PROHIBIT`).
    Prohibit,
    /// Lookup continues in the next table (`RTN_THROW`).
    Throw,
    /// Any other type.
    Other,
}

/// Our nftables table as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ObservedFirewall {
    /// Our table does not exist.
    Absent,
    /// Our table exists and equals what the plan renders to.
    InSync,
    /// Our table exists but differs (named differences, for `status`).
    Differs(Vec<String>),
}

/// Everything observed that the diff needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedHost {
    /// Links that are ours (our group) plus any link whose name the plan
    /// wants (to detect foreign ones in the way).
    pub links: Vec<ObservedLink>,
    /// Routes with our protocol, plus foreign routes that overlap a pool.
    pub routes: Vec<ObservedRoute>,
    /// Current values of the sysctls the plan names, by dotted key (a
    /// [`crate::sysctl::SysctlKey`] printed).
    pub sysctls: BTreeMap<String, String>,
    /// Our nftables table.
    pub firewall: ObservedFirewall,
}
