//! How a namespace is named: [`Netns`], its spec syntax and its check.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NetnsError;

/// Where to run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Netns {
    /// The calling thread's namespace (no switch; still a dedicated thread).
    #[default]
    Current,
    /// A named namespace, `/run/netns/NAME` (as made by `ip netns add`).
    Named(String),
    /// A namespace file, e.g. `/proc/1234/ns/net` or a bind mount.
    Path(PathBuf),
    /// The namespace of a process.
    Pid(u32),
}

impl Netns {
    /// The file that names the namespace, if it is not the current one.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Netns::Current => None,
            Netns::Named(name) => Some(PathBuf::from("/run/netns").join(name)),
            Netns::Path(p) => Some(p.clone()),
            Netns::Pid(pid) => Some(PathBuf::from(format!("/proc/{pid}/ns/net"))),
        }
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netns::Current => f.write_str("the current network namespace"),
            Netns::Named(n) => write!(f, "network namespace {n:?}"),
            Netns::Path(p) => write!(f, "network namespace {}", p.display()),
            Netns::Pid(pid) => write!(f, "network namespace of pid {pid}"),
        }
    }
}

impl FromStr for Netns {
    type Err = NetnsError;
    /// `NAME` (in `/run/netns`), an absolute `PATH`, or `pid:N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NetnsError::BadSpec(s.into()));
        }
        if let Some(pid) = s.strip_prefix("pid:") {
            return match pid.parse() {
                Ok(0) => Err(NetnsError::NoSuchProcess { pid: 0 }),
                Ok(pid) => Ok(Netns::Pid(pid)),
                Err(_) => Err(NetnsError::BadSpec(s.into())),
            };
        }
        if s.starts_with('/') {
            return Ok(Netns::Path(s.into()));
        }
        if s.contains('/') || s == "." || s == ".." {
            return Err(NetnsError::BadSpec(s.into()));
        }
        Ok(Netns::Named(s.into()))
    }
}

impl Netns {
    /// Checks that the namespace can be named here: its file exists and is
    /// a network namespace, opened without blocking (a FIFO would block
    /// `open` forever). [`run_in`](crate::run_in) does the same before entering; this lets
    /// a caller refuse bad input before doing anything else.
    pub fn check(&self) -> Result<(), NetnsError> {
        match self.path() {
            None => Ok(()),
            Some(path) => crate::sys::open_netns(self, &path).map(drop),
        }
    }
}
