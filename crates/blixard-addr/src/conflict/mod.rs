//! [`Conflict`]: something in the way that is not ours, or a tap of ours
//! that cannot be changed while a VMM holds it.

use ipnet::IpNet;
use serde::Serialize;

/// Something in the way that is not ours: the plan cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[non_exhaustive]
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
    /// A link with the gateway device's name exists and is not ours.
    #[error(
        "interface {name} exists and is not ours (group {group}, alias {alias:?}); it is the name of the device that holds the VMs' gateway addresses: if it is a leftover, `ip link del {name}`; otherwise change gateway_interface"
    )]
    ForeignGateway {
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
    /// A tap of ours has a root qdisc that is someone else's where the
    /// plan puts a limit: it is never replaced.
    #[error(
        "tap {name} has a root qdisc {kind} {major:x}: that is not ours (ours is tbf {:x}:); remove it (`tc qdisc del dev {name} root`) or drop the VM's limit from [limits]",
        crate::plan::LIMIT_QDISC_MAJOR
    )]
    ForeignQdisc {
        /// The tap.
        name: String,
        /// The qdisc's kind.
        kind: String,
        /// Its handle's major number.
        major: u16,
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

    /// The config key that decides whether the conflict arises: the one to
    /// change to get out of its way (a pool for a foreign route, the
    /// template for a foreign link, `vms` for a VM the plan leaves out).
    /// A tap that is not a tap at all names the `[tap]` section: no key
    /// makes a link of ours a tap again, only recreating it.
    ///
    /// ```
    /// use blixard_addr::Conflict;
    /// assert_eq!(Conflict::VmNotPlanned { index: 9 }.config_key(), "vms");
    /// ```
    pub fn config_key(&self) -> &'static str {
        match self {
            Conflict::ForeignLink { .. } => "interface_template",
            Conflict::ForeignGateway { .. } => "gateway_interface",
            Conflict::ForeignRoute { pool, .. } if pool.addr().is_ipv6() => "ipv6.pool",
            Conflict::ForeignRoute { .. } => "ipv4.pool",
            Conflict::TapFlags { field, .. } if field == "multi_queue" => "tap.multi_queue",
            Conflict::TapFlags { .. } => "tap",
            Conflict::TapOwnershipHeld { .. } => "owner",
            Conflict::ForeignQdisc { .. } => "limits",
            Conflict::TapHeldUnplanned { .. } | Conflict::VmNotPlanned { .. } => "vms",
        }
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

impl Conflicts {
    /// The config key of the first conflict ([`Conflict::config_key`]):
    /// where an operator is pointed to first.
    pub fn config_key(&self) -> Option<&'static str> {
        self.0.first().map(Conflict::config_key)
    }
}

#[cfg(test)]
mod tests;
