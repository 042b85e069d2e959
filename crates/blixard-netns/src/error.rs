//! Why a namespace could not be named or entered.

use std::path::PathBuf;

/// Why a namespace could not be entered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsError {
    /// The namespace spec is malformed.
    #[error(
        "{0:?} is not a network namespace: use NAME (in /run/netns), an absolute path, or pid:N"
    )]
    BadSpec(String),
    /// The namespace file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `pid:N` names no running process.
    #[error("{}", no_process(*pid))]
    NoSuchProcess {
        /// The pid asked for.
        pid: u32,
    },
    /// `NAME` is not in `/run/netns`.
    #[error("no network namespace named {name:?} in /run/netns (`ip netns list` shows them)")]
    NoSuchName {
        /// The name asked for.
        name: String,
    },
    /// The file opens but is not a network namespace (a regular file, a
    /// device, a FIFO, another kind of namespace).
    #[error("{} is {what}, not a network namespace", path.display())]
    NotANamespace {
        /// The file.
        path: PathBuf,
        /// What it is instead ("a regular file", "a mount namespace").
        what: String,
    },
    /// `setns`/`unshare` failed.
    #[error("cannot enter {what}: {errno}{}", enter_hint(errno))]
    Enter {
        /// What was being entered.
        what: String,
        /// The errno.
        errno: std::io::Error,
    },
    /// The closure panicked.
    #[error("the code running in the namespace panicked")]
    Panicked,
    /// Not Linux.
    #[error("network namespaces are a Linux feature")]
    Unsupported,
}

fn no_process(pid: u32) -> String {
    if pid == 0 {
        "pid 0 is not a process: pid:N names a running process, whose network namespace is used"
            .into()
    } else {
        format!("no process with pid {pid} (pid:N names a running process)")
    }
}

/// Only a missing privilege is worth a hint: as root, EINVAL or EBADF means
/// the file is not what it claims.
fn enter_hint(errno: &std::io::Error) -> &'static str {
    if errno.kind() == std::io::ErrorKind::PermissionDenied {
        " (needs root / CAP_SYS_ADMIN)"
    } else {
        ""
    }
}
