//! [`Change`]: one step towards the plan, and which effect crate carries
//! it out. Its one-line description is in `describe.rs`.

use std::net::Ipv6Addr;

use ipnet::IpNet;
use serde::Serialize;

use crate::plan::{FirewallPlan, FirewallVm, TapPlan};

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
    /// Create a persistent tap (ioctl, not netlink), carrying the mark that
    /// makes it ours and its MTU: the executor sets them before the tap
    /// becomes persistent, so it is ours from its first observable moment
    /// and needs no `SetLink` after.
    CreateTap {
        /// Interface name.
        name: String,
        /// Flags and ownership.
        tap: TapPlan,
        /// Our interface group.
        group: u32,
        /// Our `ifalias` for it.
        alias: String,
        /// Its MTU.
        mtu: u32,
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
    /// Shape what the host sends towards a VM: our `tbf` as the tap's
    /// root qdisc, created or replaced in place (the tap stays).
    SetLimit {
        /// Interface name.
        name: String,
        /// The limit.
        limit: crate::plan::RateLimit,
    },
    /// Remove our limit from a tap (the kernel's default root comes back).
    DeleteLimit {
        /// Interface name.
        name: String,
    },
    /// Create an `ifb` of ours (marked, down) for a limit from a VM.
    CreateIfb {
        /// Its name.
        name: String,
        /// Our interface group.
        group: u32,
        /// Our alias mark.
        alias: String,
    },
    /// Attach an `ingress` qdisc to a tap (for its redirect).
    AddIngressQdisc {
        /// The tap.
        name: String,
    },
    /// Redirect everything the VM sends (the tap's ingress) to its ifb:
    /// a match-all `u32` filter with a `mirred` redirect.
    AddRedirect {
        /// The tap.
        name: String,
        /// The ifb.
        ifb: String,
    },
    /// Remove a tap's `ingress` qdisc, and its redirect with it.
    DeleteIngressQdisc {
        /// The tap.
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
    /// Add a route with our protocol (replacing one to the same
    /// destination on the same link).
    AddRoute {
        /// Destination prefix.
        destination: IpNet,
        /// Output interface.
        interface: String,
        /// Our route protocol.
        protocol: u8,
    },
    /// Answer neighbour solicitations for `address` on a tap of ours (an
    /// IPv6 proxy entry, `NTF_PROXY`, carrying our protocol).
    AddProxyNeighbour {
        /// Interface name.
        interface: String,
        /// The address answered for.
        address: Ipv6Addr,
        /// Our route protocol, as the entry's `NDA_PROTOCOL`.
        protocol: u8,
    },
    /// Delete a proxy entry of ours from a tap of ours.
    DeleteProxyNeighbour {
        /// Interface name.
        interface: String,
        /// The address answered for.
        address: Ipv6Addr,
    },
    /// Write a sysctl.
    SetSysctl {
        /// Dotted key: a [`crate::sysctl::SysctlKey`] printed.
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
                | Change::AddProxyNeighbour { .. }
                | Change::SetSysctl { .. }
        )
    }

    /// Which effect crate carries this change out.
    pub fn executor(&self) -> Executor {
        match self {
            Change::CreateTap { .. }
            | Change::SetTapOwnership { .. }
            | Change::DeleteLink { .. }
            | Change::CreateIfb { .. }
            | Change::DeleteLinkGroup { .. } => Executor::Tap,
            Change::SetLink { .. }
            | Change::AddNoqueue { .. }
            | Change::SetLimit { .. }
            | Change::DeleteLimit { .. }
            | Change::AddIngressQdisc { .. }
            | Change::AddRedirect { .. }
            | Change::DeleteIngressQdisc { .. }
            | Change::LinkUp { .. }
            | Change::AddAddress { .. }
            | Change::DeleteAddress { .. }
            | Change::AddRoute { .. }
            | Change::DeleteRoute { .. }
            | Change::AddProxyNeighbour { .. }
            | Change::DeleteProxyNeighbour { .. }
            | Change::SetSysctl { .. } => Executor::Route,
            Change::ReplaceFirewall { .. }
            | Change::DeleteFirewall { .. }
            | Change::AddFirewallVm { .. }
            | Change::RemoveFirewallVm { .. } => Executor::Firewall,
        }
    }
}
