//! Typed errors of the pure core.

use thiserror::Error;

/// A layout or mapping problem.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutError {
    /// The index is 0 or beyond what the pool holds.
    #[error("VM index {index} is out of range: valid indices are 1..={max} (0 is the host gateway)")]
    IndexOutOfRange {
        /// The index asked for.
        index: u32,
        /// The largest valid index.
        max: u32,
    },
    /// A pool was written with host bits set, e.g. `10.0.0.1/24`.
    #[error("pool {0} is not a network address (did you mean its network, with the host bits zero?)")]
    PoolNotNetwork(String),
    /// A pool too small to hold the gateway and a VM.
    #[error("pool {0} is too small: it must hold the gateway and at least one VM")]
    PoolTooSmall(String),
    /// A bad interface name template.
    #[error("interface template {template:?} {reason}")]
    BadTemplate {
        /// The template as given.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The interface name of the largest index is longer than the kernel allows.
    #[error("interface name {name:?} is longer than {max} bytes (the kernel's limit)")]
    NameTooLong {
        /// The offending name.
        name: String,
        /// The limit.
        max: usize,
    },
    /// The VM count does not fit in the pool.
    #[error("{count} VMs do not fit in the pool: at most {max} (use a larger pool, e.g. a /16)")]
    TooManyVms {
        /// The VM count asked for.
        count: u32,
        /// What the pool holds.
        max: u32,
    },
    /// A string that is not a MAC address.
    #[error("{0:?} is not a MAC address")]
    BadMac(String),
    /// No VM matches the query.
    #[error("no VM in this layout matches {0:?}")]
    NoSuchVm(String),
}
