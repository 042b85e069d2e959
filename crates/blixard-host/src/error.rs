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

    /// The config key behind the error when the input is at fault: the
    /// one named by an unknown user or group or an unmapped id (not
    /// `$SUDO_USER`, which is no key), `external_interface` without a
    /// default route, and for conflicts the first one's
    /// ([`Conflicts::config_key`]). `None` for a failed change.
    pub fn config_key(&self) -> Option<&'static str> {
        match self {
            HostError::UnknownName { key, .. } | HostError::UnmappedId { key, .. } => {
                Some(*key).filter(|k| !k.starts_with('$'))
            }
            HostError::NoDefaultRoute(_) => Some("external_interface"),
            HostError::Conflicts(c) => c.config_key(),
            _ => None,
        }
    }

    /// What to say after the [`config_key`](Self::config_key) when it is
    /// shown: the message, without the key and value an unknown name
    /// would repeat (`unknown user "x"`, not `owner = "x": unknown user "x"`).
    pub fn reason(&self) -> String {
        match self {
            HostError::UnknownName { source, .. } => source.to_string(),
            e => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use blixard_addr::{Conflict, Conflicts};

    use super::HostError;

    fn unknown(key: &'static str) -> HostError {
        HostError::UnknownName {
            key,
            value: "nobody-here".into(),
            source: Box::new(blixard_tap::TapError::UnknownUser {
                name: "nobody-here".into(),
            }),
        }
    }

    #[test]
    fn the_inputs_faults_name_their_config_key() {
        assert_eq!(unknown("owner").config_key(), Some("owner"));
        assert_eq!(unknown("$SUDO_USER").config_key(), None, "no config key");
        let unmapped = |key| HostError::UnmappedId {
            key,
            id: 7,
            map: "/proc/self/uid_map",
        };
        assert_eq!(unmapped("group").config_key(), Some("group"));
        assert_eq!(unmapped("$SUDO_USER").config_key(), None);
        assert_eq!(
            HostError::NoDefaultRoute("the current namespace".into()).config_key(),
            Some("external_interface")
        );
        let conflicts = Conflicts(vec![Conflict::VmNotPlanned { index: 3 }]);
        assert_eq!(HostError::from(conflicts).config_key(), Some("vms"));
        assert_eq!(HostError::Teardown(vec!["x".into()]).config_key(), None);
    }

    #[test]
    fn the_reason_leaves_out_what_the_key_says() {
        let e = unknown("owner");
        assert!(
            e.to_string().starts_with("owner = \"nobody-here\": "),
            "{e}"
        );
        assert_eq!(
            e.reason(),
            "unknown user \"nobody-here\": not in the passwd database and not a number"
        );
        let route = HostError::NoDefaultRoute("ns".into());
        assert_eq!(route.reason(), route.to_string());
    }
}
