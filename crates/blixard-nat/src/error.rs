//! Why an nft operation failed: [`NatError`], with the errno nft names.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Why an nft operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NatError {
    /// A netfilter netlink request (per-VM reads) failed.
    #[error("{what}: {source}")]
    Netlink {
        /// What was being read.
        what: String,
        /// The socket's or the kernel's error.
        source: std::io::Error,
    },
    /// The `nft` binary is not installed (or not at the configured path).
    #[error("`{binary}` not found: install the `nftables` package (apt-get install nftables)")]
    NotInstalled {
        /// The binary we tried to run.
        binary: PathBuf,
    },
    /// `nft` could not be started or talked to.
    #[error("running `{binary}` to {what}: {source}")]
    Spawn {
        /// The binary.
        binary: PathBuf,
        /// What we were doing (`replace table inet blixard`).
        what: String,
        /// The OS error (errno kept).
        source: std::io::Error,
    },
    /// `nft` ran and failed; `stderr` is what nft said (it names the kernel
    /// error, e.g. "Operation not permitted", "No such file or directory").
    #[error("nft failed to {what} ({status}): {}", stderr.trim())]
    Nft {
        /// What we were doing.
        what: String,
        /// nft's exit status.
        status: ExitStatus,
        /// nft's standard error.
        stderr: String,
    },
    /// nft printed something that is not the JSON we asked for.
    #[error("cannot parse nft's JSON output for {what}: {source}")]
    Parse {
        /// What we were reading.
        what: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Wiring a VM needs the police set of its limit from it, which our
    /// table does not hold: the config's limits changed since the table
    /// was last applied.
    #[error(
        "table inet {table} has no set {set} for {vm}'s limit from it (the limits changed since the last apply); run `blixard-net apply`"
    )]
    NoPoliceSet {
        /// The table.
        table: String,
        /// The set the VM's limit needs.
        set: String,
        /// The VM's interface.
        vm: String,
    },
    /// A per-VM operation needs our table, which does not exist.
    #[error("table inet {table} does not exist; apply the whole plan before {what}")]
    NoTable {
        /// The table.
        table: String,
        /// The operation (`adding vm7`).
        what: String,
    },
}

impl NatError {
    /// The errno nft reported, when its message names one of the common ones.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NatError::Spawn { source, .. } => source.raw_os_error(),
            NatError::Nft { stderr, .. } => errno_from_text(stderr),
            _ => None,
        }
    }
}

pub(crate) fn errno_from_text(text: &str) -> Option<i32> {
    const KNOWN: [(&str, i32); 6] = [
        ("Operation not permitted", 1),
        ("No such file or directory", 2),
        ("File exists", 17),
        ("Invalid argument", 22),
        ("Device or resource busy", 16),
        ("Operation not supported", 95),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| text.contains(m))
        .map(|(_, e)| *e)
}
