//! Typed errors that name the object and keep the kernel's errno.

use std::path::PathBuf;

/// Why a route operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The netlink socket or the private runtime could not be set up.
    #[error("cannot set up the rtnetlink session: {0}")]
    Setup(#[source] std::io::Error),
    /// The kernel refused a request.
    #[error("{op} {object}: {errno}")]
    Kernel {
        /// What was attempted, e.g. `add route`.
        op: &'static str,
        /// The object, e.g. `10.0.0.7/32 dev vm7 proto 177`.
        object: String,
        /// The kernel's errno.
        errno: std::io::Error,
    },
    /// A request got no usable answer (the connection closed, an unexpected
    /// message arrived).
    #[error("{op} {object}: {reason}")]
    NoReply {
        /// What was attempted.
        op: &'static str,
        /// The object.
        object: String,
        /// What went wrong.
        reason: String,
    },
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
    /// A dump kept being interrupted by concurrent changes (`NLM_F_DUMP_INTR`).
    #[error("dump of {what} was interrupted by concurrent changes {attempts} times in a row")]
    DumpInterrupted {
        /// What was being dumped.
        what: &'static str,
        /// How often it was tried.
        attempts: u32,
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
            RouteError::Kernel { errno, .. } => errno.raw_os_error(),
            RouteError::Sysctl { source, .. } | RouteError::Setup(source) => source.raw_os_error(),
            RouteError::Apply { failures, .. } if failures.len() == 1 => failures[0].errno(),
            _ => None,
        }
    }
}
