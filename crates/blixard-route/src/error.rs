//! Typed errors that name the object and keep the kernel's errno.

use std::path::PathBuf;

/// Why a route operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A netlink operation failed: what, on what, and the kernel's errno
    /// with its extended-ack text (or what went wrong with the socket).
    #[error(transparent)]
    Netlink(#[from] blixard_netlink::NetlinkError),
    /// A change names an interface that does not exist.
    #[error("{op} {object}: no interface named {name}")]
    NoSuchLink {
        /// What was attempted.
        op: &'static str,
        /// The object.
        object: String,
        /// The missing interface.
        name: String,
    },
    /// The socket's receive buffer overflowed, so some kernel replies were
    /// lost and the outcome of some requests is unknown.
    #[error(
        "netlink receive buffer overran during {during}: replies were lost; the operation is idempotent, run it again"
    )]
    Overrun {
        /// What was running.
        during: String,
    },
    /// A sysctl key is malformed or outside `net.`.
    #[error("invalid sysctl key {key:?}: {reason}")]
    BadSysctlKey {
        /// The key as given.
        key: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// Reading or writing a sysctl failed.
    #[error("sysctl {key} ({}): {source}", path.display())]
    Sysctl {
        /// The dotted key.
        key: String,
        /// The file under `/proc/sys`.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The session's network namespace could not be entered for a sysctl.
    #[error("cannot enter the session's network namespace: {0}")]
    Netns(#[from] blixard_netns::NetnsError),
    /// Some changes of one phase failed; later phases were not started.
    #[error(
        "{} change(s) failed ({applied} applied before): {}",
        failures.len(),
        failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; ")
    )]
    Apply {
        /// Changes carried out before the failing phase ended.
        applied: usize,
        /// Every failure of the failing phase.
        failures: Vec<RouteError>,
    },
}

impl RouteError {
    /// The kernel errno behind this error, if there is exactly one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            RouteError::Netlink(e) => e.errno(),
            RouteError::Sysctl { source, .. } => source.raw_os_error(),
            RouteError::Apply { failures, .. } if failures.len() == 1 => failures[0].errno(),
            _ => None,
        }
    }
}
