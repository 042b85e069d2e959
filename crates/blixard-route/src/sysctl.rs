//! `net.*` sysctls through `/proc/sys`.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens the
//! file, so these functions act on the calling thread's namespace.

use std::io::ErrorKind;
use std::path::PathBuf;

use blixard_addr::sysctl::SysctlKey;

use crate::RouteError;

/// The file behind a dotted `net.` key, after the core's validation of it
/// ([`SysctlKey`]: only `[A-Za-z0-9_-]` components, no empty one, no `/`), so
/// a key can never leave `/proc/sys/net`.
pub fn sysctl_path(key: &str) -> Result<PathBuf, RouteError> {
    key.parse::<SysctlKey>()
        .map(|key| key.proc_path())
        .map_err(|e| RouteError::BadSysctlKey {
            key: e.key,
            reason: e.reason,
        })
}

/// Reads a `net.` sysctl in the calling thread's namespace; `None` when the
/// key does not exist (e.g. a per-interface key of a missing interface).
pub fn read_sysctl(key: &str) -> Result<Option<String>, RouteError> {
    let path = sysctl_path(key)?;
    match std::fs::read_to_string(&path) {
        Ok(v) => Ok(Some(v.trim_end_matches('\n').to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RouteError::Sysctl {
            key: key.to_string(),
            path,
            source,
        }),
    }
}

/// Writes a `net.` sysctl in the calling thread's namespace.
pub fn write_sysctl(key: &str, value: &str) -> Result<(), RouteError> {
    let path = sysctl_path(key)?;
    // No create/truncate: a missing key is an error, never a new file.
    let result = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()));
    result.map_err(|source| RouteError::Sysctl {
        key: key.to_string(),
        path,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_under_proc_sys_net_and_cannot_escape() {
        assert_eq!(
            sysctl_path("net.ipv4.conf.vm7.rp_filter").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/conf/vm7/rp_filter")
        );
        for bad in [
            "kernel.hostname",
            "net",
            "net.",
            "net..ipv4",
            "net.ipv4/../../kernel",
            "net.ipv4.conf.a b.x",
            "net.ipv4.ip_forward.",
        ] {
            assert!(
                matches!(sysctl_path(bad), Err(RouteError::BadSysctlKey { .. })),
                "{bad} accepted"
            );
        }
    }
}
