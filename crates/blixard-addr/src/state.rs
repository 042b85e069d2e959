//! Observed host state and the changes that move it to a plan.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::plan::{FirewallPlan, FirewallVm, TapPlan};

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
    /// Addresses on the link (only collected for our links).
    pub addresses: Vec<IpNet>,
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
    /// Current values of the sysctls the plan names.
    pub sysctls: BTreeMap<String, String>,
    /// Our nftables table.
    pub firewall: ObservedFirewall,
}

/// One step towards the plan. Applying a `Vec<Change>` in order is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Delete one link of ours (its addresses and routes go with it).
    DeleteLink {
        /// Interface name.
        name: String,
    },
    /// Delete every link in our interface group in one request.
    DeleteLinkGroup {
        /// Our interface group.
        group: u32,
    },
    /// Delete a route of ours.
    DeleteRoute {
        /// Destination prefix.
        destination: IpNet,
        /// Output interface.
        interface: String,
        /// Our route protocol.
        protocol: u8,
    },
    /// Delete an address from one of our links.
    DeleteAddress {
        /// Interface name.
        interface: String,
        /// The address.
        address: IpNet,
    },
    /// Create a persistent tap (ioctl, not netlink).
    CreateTap {
        /// Interface name.
        name: String,
        /// Flags and ownership.
        tap: TapPlan,
    },
    /// Correct owner/group of an existing tap of ours.
    SetTapOwnership {
        /// Interface name.
        name: String,
        /// Owner uid; `None` leaves it as it is (the kernel cannot unset it).
        owner: Option<u32>,
        /// Group gid; `None` leaves it as it is (the kernel cannot unset it).
        group: Option<u32>,
    },
    /// Mark a link as ours and set its MTU.
    SetLink {
        /// Interface name.
        name: String,
        /// Our interface group.
        group: u32,
        /// Our alias mark.
        alias: String,
        /// MTU.
        mtu: u32,
    },
    /// Attach a root `noqueue` qdisc (before `up`).
    AddNoqueue {
        /// Interface name.
        name: String,
    },
    /// Bring a link up.
    LinkUp {
        /// Interface name.
        name: String,
    },
    /// Add a host address (with `IFA_F_NODAD` for IPv6).
    AddAddress {
        /// Interface name.
        interface: String,
        /// The address.
        address: IpNet,
    },
    /// Add a route with our protocol.
    AddRoute {
        /// Destination prefix.
        destination: IpNet,
        /// Output interface.
        interface: String,
        /// Our route protocol.
        protocol: u8,
    },
    /// Write a sysctl.
    SetSysctl {
        /// Dotted key.
        key: String,
        /// Value.
        value: String,
    },
    /// Replace our nftables table atomically with the plan's.
    ReplaceFirewall {
        /// The desired table.
        firewall: Box<FirewallPlan>,
    },
    /// Delete our nftables table.
    DeleteFirewall {
        /// Table name.
        table: String,
    },
    /// Add one VM's set elements to our existing table (per-VM wiring).
    AddFirewallVm {
        /// Table name.
        table: String,
        /// The VM.
        vm: FirewallVm,
    },
    /// Remove one VM's set elements from our table (per-VM unwiring).
    RemoveFirewallVm {
        /// Table name.
        table: String,
        /// The VM.
        vm: FirewallVm,
    },
}

/// Which effect crate carries out a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Executor {
    /// `blixard-tap`: tap ioctls and link deletion.
    Tap,
    /// `blixard-route`: links, qdiscs, addresses, routes, sysctls.
    Route,
    /// `blixard-nat`: our nftables table.
    Firewall,
}

impl Change {
    /// Whether carrying this out can let traffic reach a tap or cross the
    /// host: `up`, an address, a route, a sysctl (forwarding above all).
    /// [`crate::diff`] orders every such change after our firewall, so an
    /// executor may run the firewall beside the changes before it
    /// (deletions, taps and their marks) but must finish it before this
    /// one starts.
    pub fn opens_a_path(&self) -> bool {
        matches!(
            self,
            Change::LinkUp { .. }
                | Change::AddAddress { .. }
                | Change::AddRoute { .. }
                | Change::SetSysctl { .. }
        )
    }

    /// Which effect crate carries this change out.
    pub fn executor(&self) -> Executor {
        match self {
            Change::CreateTap { .. }
            | Change::SetTapOwnership { .. }
            | Change::DeleteLink { .. }
            | Change::DeleteLinkGroup { .. } => Executor::Tap,
            Change::SetLink { .. }
            | Change::AddNoqueue { .. }
            | Change::LinkUp { .. }
            | Change::AddAddress { .. }
            | Change::DeleteAddress { .. }
            | Change::AddRoute { .. }
            | Change::DeleteRoute { .. }
            | Change::SetSysctl { .. } => Executor::Route,
            Change::ReplaceFirewall { .. }
            | Change::DeleteFirewall { .. }
            | Change::AddFirewallVm { .. }
            | Change::RemoveFirewallVm { .. } => Executor::Firewall,
        }
    }
}

/// Something in the way that is not ours: the plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum Conflict {
    /// A link with a planned name exists and is not ours.
    #[error(
        "interface {name} exists and is not ours (group {group}, alias {alias:?}); if it is a leftover, `ip link del {name}`; otherwise rename it or change interface_template"
    )]
    ForeignLink {
        /// Its name.
        name: String,
        /// Its group.
        group: u32,
        /// Its alias.
        alias: Option<String>,
    },
    /// A route we do not own overlaps a pool.
    #[error(
        "route {destination} (dev {}, proto {protocol}) overlaps the VM pool {pool} and is not ours; choose another pool", interface.as_deref().unwrap_or("none")
    )]
    ForeignRoute {
        /// Its destination.
        destination: IpNet,
        /// Its interface.
        interface: Option<String>,
        /// Its protocol.
        protocol: u8,
        /// The pool it overlaps.
        pool: IpNet,
    },
    /// A tap of ours has a type or `multi_queue` flag that cannot be changed
    /// in place: it must be recreated, which only `--allow-recreate` does,
    /// and never while a VMM holds it (`queues` > 0).
    #[error("{}", tap_flags_message(name, field, *observed, *wanted, *queues))]
    TapFlags {
        /// Its name.
        name: String,
        /// Which flag.
        field: String,
        /// What it has.
        observed: bool,
        /// What the plan wants.
        wanted: bool,
        /// Queues a VMM has attached (0: nobody holds it).
        queues: u32,
    },
    /// A tap of ours has another owner or group than the plan asks for, and
    /// a VMM holds it: changing them means attaching to it, which rewrites
    /// the running VMM's per-attach flags (`vnet_hdr`, `pi`).
    #[error(
        "tap {name} is owned by {} but the plan asks for {}; a VMM holds it ({queues} queue(s) attached), so it is left as it is until that VMM stops",
        id_pair(*observed_owner, *observed_group), id_pair(*owner, *group)
    )]
    TapOwnershipHeld {
        /// Its name.
        name: String,
        /// The uid it has.
        observed_owner: Option<u32>,
        /// The gid it has.
        observed_group: Option<u32>,
        /// The uid the plan asks for (`None`: any).
        owner: Option<u32>,
        /// The gid the plan asks for (`None`: any).
        group: Option<u32>,
        /// Queues the VMM has attached.
        queues: u32,
    },
    /// A tap of ours that the plan no longer wants, but a VMM holds it: it
    /// is left as it is (with its routes) until that VMM stops.
    #[error(
        "tap {name} is no longer in the plan but a VMM holds it ({queues} queue(s) attached), so it is left as it is; stop that VMM and apply again, or remove it with `unwire`"
    )]
    TapHeldUnplanned {
        /// Its name.
        name: String,
        /// Queues the VMM has attached.
        queues: u32,
    },
    /// A per-VM operation named a VM the plan does not wire.
    #[error("VM {index} is not in the plan (check `vms` in the config)")]
    VmNotPlanned {
        /// The index asked for.
        index: u32,
    },
}

impl Conflict {
    /// Whether the conflict concerns one VM's tap only, so that the rest of
    /// the host can still be reconciled around it (the VM is left as it is).
    pub fn is_per_vm(&self) -> bool {
        matches!(
            self,
            Conflict::TapFlags { .. }
                | Conflict::TapOwnershipHeld { .. }
                | Conflict::TapHeldUnplanned { .. }
        )
    }
}

fn tap_flags_message(name: &str, field: &str, observed: bool, wanted: bool, queues: u32) -> String {
    let fix = if queues > 0 {
        format!(
            "a VMM holds it ({queues} queue(s) attached), so it is left as it is; stop that VMM, then apply with --allow-recreate"
        )
    } else {
        "it must be recreated (apply with --allow-recreate)".to_string()
    };
    format!("tap {name} has {field}={observed} but the plan wants {wanted}; {fix}")
}

fn id_pair(uid: Option<u32>, gid: Option<u32>) -> String {
    let show = |id: Option<u32>| id.map_or("-".to_string(), |i| i.to_string());
    format!("{}:{}", show(uid), show(gid))
}

/// Every conflict found, so the operator sees them all at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{} conflict(s): {}", .0.len(), .0.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; "))]
pub struct Conflicts(pub Vec<Conflict>);
