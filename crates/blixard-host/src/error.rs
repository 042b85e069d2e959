//! What stops an operation, and whether it changed anything.

use blixard_addr::state::Conflicts;

#[cfg(feature = "fault-injection")]
use crate::fault::FAULT_AFTER_ENV;

/// Anything that stopped an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] blixard_netns::NetnsError),
    /// A tap operation failed.
    #[error(transparent)]
    Tap(#[from] blixard_tap::TapError),
    /// A netlink operation failed.
    #[error(transparent)]
    Route(#[from] blixard_route::RouteError),
    /// An nft operation failed.
    #[error(transparent)]
    Nat(#[from] blixard_nat::NatError),
    /// Foreign objects in the way: nothing was changed.
    #[error(transparent)]
    Conflicts(#[from] Conflicts),
    /// Teardown is best effort: these steps failed, the others were done.
    #[error("teardown left {} error(s): {}", .0.len(), .0.join("; "))]
    Teardown(Vec<String>),
    /// A config value names something the host does not have (an unknown
    /// user or group): nothing was changed.
    #[error("{key} = {value:?}: {source}")]
    UnknownName {
        /// The config key (`owner`, `group`).
        key: &'static str,
        /// Its value.
        value: String,
        /// Why it did not resolve (boxed: it is much larger than the
        /// other variants).
        source: Box<blixard_tap::TapError>,
    },
    /// An owner or group id that this user namespace does not map: the
    /// kernel would refuse it for a tap (nothing was changed).
    #[error(
        "{key} resolves to id {id}, which has no mapping in this user namespace ({map}); the kernel refuses it as a tap's owner or group"
    )]
    UnmappedId {
        /// The config key (`owner`, `group`, `$SUDO_USER`).
        key: &'static str,
        /// The id.
        id: u32,
        /// The id map read.
        map: &'static str,
    },
    /// The test-only fault hook ([`FAULT_AFTER_ENV`]) stopped an apply after
    /// its first `done` changes: the host holds exactly those. Only with the
    /// `fault-injection` feature.
    #[cfg(feature = "fault-injection")]
    #[error(
        "stopped after {done} of {total} change(s) by {FAULT_AFTER_ENV} (test-only fault injection)"
    )]
    InjectedFault {
        /// Changes carried out before the stop.
        done: usize,
        /// Changes the apply had planned.
        total: usize,
    },
    /// The external interface could not be resolved.
    #[error(
        "external_interface = \"auto\" but there is no default route in {0}; set external_interface to an interface name, or \"none\" to disable NAT"
    )]
    NoDefaultRoute(String),
}

impl HostError {
    /// Whether the host was left unchanged because the input or the host's
    /// foreign state was wrong (exit code 2), as opposed to a failed change.
    pub fn changed_nothing(&self) -> bool {
        matches!(
            self,
            HostError::Conflicts(_)
                | HostError::NoDefaultRoute(_)
                | HostError::UnknownName { .. }
                | HostError::UnmappedId { .. }
        )
    }
}
