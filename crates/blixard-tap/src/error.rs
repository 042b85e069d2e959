//! Typed errors that name the tap and keep the kernel's errno.

use std::io;

/// Everything that can go wrong with a tap.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TapError {
    /// `/dev/net/tun` is missing or cannot be opened.
    #[error("cannot open /dev/net/tun: {source}; load the tun module (modprobe tun)")]
    NoTunDevice {
        /// The OS error.
        source: io::Error,
    },
    /// EPERM/EACCES from the kernel.
    #[error(
        "{op} on tap {name}: {source}; needs CAP_NET_ADMIN (run as root), or for opening an existing tap, the tap's owner uid or group"
    )]
    PermissionDenied {
        /// The tap.
        name: String,
        /// What was attempted.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// EBUSY: the single queue of the tap is already attached.
    #[error(
        "a VMM holds single-queue tap {name} open ({op}: {source}); stop that VMM first, or create the tap multi-queue"
    )]
    Busy {
        /// The tap.
        name: String,
        /// What was attempted.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// Any other failed ioctl.
    #[error("{op} on tap {name} failed: {source}")]
    Ioctl {
        /// The tap.
        name: String,
        /// Which ioctl.
        op: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// A netlink request failed: what, on what, the kernel's errno and its
    /// extended-ack text.
    #[error(transparent)]
    Netlink(#[from] blixard_netlink::NetlinkError),
    /// No interface of that name in this namespace.
    #[error("no interface {name} in this network namespace")]
    NotFound {
        /// The name.
        name: String,
    },
    /// The interface exists but is not a tap.
    #[error("interface {name} exists but is not a tap (kind {})", kind.as_deref().unwrap_or("unknown"))]
    NotATap {
        /// The name.
        name: String,
        /// Its `IFLA_INFO_KIND` (`tun` for an L3 tun device).
        kind: Option<String>,
    },
    /// `create` found the name taken.
    #[error(
        "interface {name} already exists ({source}); delete it first (a tap of ours in the way is the diff's to handle)"
    )]
    AlreadyExists {
        /// The name.
        name: String,
        /// The OS error (EBUSY from `TUNSETIFF` with `IFF_TUN_EXCL`).
        source: io::Error,
    },
    /// A VMM asked to open a tap with flags other than the tap's.
    #[error(
        "tap {name} was created with {field}={tap} but the VMM opens it with {field}={asked}; make the VMM's setting and the tap's creation agree"
    )]
    OpenMismatch {
        /// The tap.
        name: String,
        /// Which flag.
        field: &'static str,
        /// The tap's value.
        tap: bool,
        /// The opener's value.
        asked: bool,
    },
    /// More than one queue asked of a single-queue tap, or zero queues.
    #[error("tap {name}: cannot open {queues} queue(s): {reason}")]
    Queues {
        /// The tap.
        name: String,
        /// How many were asked for.
        queues: usize,
        /// Why not.
        reason: &'static str,
    },
    /// An interface name the kernel would reject or truncate.
    #[error("{name:?} is not a valid interface name: {reason}")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The kernel's tun driver lacks a flag.
    #[error(
        "the kernel's tun driver does not support {flag} (needed for tap {name}); upgrade the kernel or do not ask for it"
    )]
    Unsupported {
        /// The tap.
        name: String,
        /// The flag.
        flag: &'static str,
    },
    /// A user name that does not resolve.
    #[error("unknown user {name:?}: not in the passwd database and not a number")]
    UnknownUser {
        /// The name.
        name: String,
    },
    /// A group name that does not resolve.
    #[error("unknown group {name:?}: not in the group database and not a number")]
    UnknownGroup {
        /// The name.
        name: String,
    },
    /// The passwd/group lookup itself failed.
    #[error("looking up {name:?}: {source}")]
    Lookup {
        /// The name.
        name: String,
        /// The OS error.
        source: io::Error,
    },
    /// `delete_group(0)`.
    #[error(
        "refusing to delete interface group 0: every interface not in another group is in it (lo, the uplink, ...)"
    )]
    DefaultGroup,
    /// Entering a namespace (relay) failed.
    #[error("{what}: {source}")]
    Netns {
        /// What was attempted.
        what: String,
        /// The cause.
        source: blixard_netns::NetnsError,
    },
    /// Other I/O (relay plumbing).
    #[error("{what}: {source}")]
    Io {
        /// What was attempted.
        what: String,
        /// The OS error.
        source: io::Error,
    },
}

impl TapError {
    /// The kernel's errno behind the error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            TapError::NoTunDevice { source }
            | TapError::PermissionDenied { source, .. }
            | TapError::Busy { source, .. }
            | TapError::Ioctl { source, .. }
            | TapError::AlreadyExists { source, .. }
            | TapError::Lookup { source, .. }
            | TapError::Io { source, .. } => source.raw_os_error(),
            TapError::Netlink(e) => e.errno(),
            _ => None,
        }
    }

    /// Classifies an ioctl failure on tap `name`.
    pub(crate) fn ioctl(name: &str, op: &'static str, source: io::Error) -> Self {
        let name = name.to_string();
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => {
                TapError::PermissionDenied { name, op, source }
            }
            Some(libc::EBUSY) => TapError::Busy { name, op, source },
            _ => TapError::Ioctl { name, op, source },
        }
    }
}
