//! `net.*` sysctls through `/proc/sys`.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens the
//! file, so these functions act on the calling thread's namespace.

use std::io::ErrorKind;
use std::path::PathBuf;

use crate::RouteError;

/// The file behind a dotted `net.` key, after validating the key: only
/// `[A-Za-z0-9_-]` components, no empty component, no `/`, so a key can never
/// leave `/proc/sys/net`.
pub fn sysctl_path(key: &str) -> Result<PathBuf, RouteError> {
    let bad = |reason| RouteError::BadSysctlKey {
        key: key.to_string(),
        reason,
    };
    if key.contains('/') {
        return Err(bad("'/' is not allowed (use dots)"));
    }
    let mut parts = key.split('.');
    if parts.next() != Some("net") {
        return Err(bad("only net.* keys are handled here"));
    }
    let mut path = PathBuf::from("/proc/sys/net");
    let mut any = false;
    for part in parts {
        if part.is_empty() {
            return Err(bad("empty component (\"..\" or a trailing dot)"));
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad("components may only hold letters, digits, '_' and '-'"));
        }
        path.push(part);
        any = true;
    }
    if !any {
        return Err(bad("names no setting"));
    }
    Ok(path)
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
