//! The system calls: open a namespace file (and say what it is when it is
//! not a network namespace), `setns` into it, `unshare` a new one.

use crate::{Netns, NetnsError};

/// Opens a namespace file and makes sure it is a network namespace: nsfs
/// files look like empty regular files to `fstat`, so the kind comes from
/// the fd's link in /proc (`net:[4026531840]`); anything else is named by
/// its file type.
#[cfg(target_os = "linux")]
pub(crate) fn open_netns(ns: &Netns, path: &std::path::Path) -> Result<std::fs::File, NetnsError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| match ns {
            _ if source.kind() != std::io::ErrorKind::NotFound => NetnsError::Open {
                path: path.to_path_buf(),
                source,
            },
            Netns::Named(name) => NetnsError::NoSuchName { name: name.clone() },
            Netns::Pid(pid) => NetnsError::NoSuchProcess { pid: *pid },
            _ => NetnsError::Open {
                path: path.to_path_buf(),
                source,
            },
        })?;
    let not = |what: &str| NetnsError::NotANamespace {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    // Without /proc there is nothing to ask: setns itself decides.
    let Ok(link) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) else {
        return Ok(file);
    };
    let link = link.to_string_lossy();
    if link.starts_with("net:[") {
        return Ok(file);
    }
    if let Some((kind, rest)) = link.split_once(":[")
        && rest.ends_with(']')
    {
        let kind = match kind {
            "mnt" => "mount",
            "uts" => "UTS",
            "ipc" => "IPC",
            "pid" | "pid_for_children" => "PID",
            "time" | "time_for_children" => "time",
            other => other,
        };
        return Err(not(&format!("a {kind} namespace")));
    }
    // A bind-mounted namespace (`ip netns add`'s /run/netns/NAME) reads as
    // its mount point; its file system is nsfs. setns checks that it is a
    // network namespace.
    if nix::sys::statfs::fstatfs(&file)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
    {
        return Ok(file);
    }
    let kind = file
        .metadata()
        .map(|m| m.file_type())
        .map_err(|source| NetnsError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    Err(not(crate::file_kind(kind).unwrap_or("not a namespace file")))
}

#[cfg(target_os = "linux")]
pub(crate) fn enter(ns: &Netns, path: &std::path::Path) -> Result<(), NetnsError> {
    use nix::sched::{CloneFlags, setns};
    let file = open_netns(ns, path)?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        // nsfs, but another kind of namespace (a bind-mounted one).
        nix::errno::Errno::EINVAL => NetnsError::NotANamespace {
            path: path.to_path_buf(),
            what: "a namespace, but not a network namespace".into(),
        },
        e => NetnsError::Enter {
            what: ns.to_string(),
            errno: std::io::Error::from_raw_os_error(e as i32),
        },
    })
}

#[cfg(target_os = "linux")]
pub(crate) fn unshare_net() -> Result<(), NetnsError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Enter {
        what: "a new network namespace".into(),
        errno: std::io::Error::from_raw_os_error(e as i32),
    })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn enter(_: &Netns, _: &std::path::Path) -> Result<(), NetnsError> {
    Err(NetnsError::Unsupported)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn open_netns(_: &Netns, _: &std::path::Path) -> Result<std::fs::File, NetnsError> {
    Err(NetnsError::Unsupported)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn unshare_net() -> Result<(), NetnsError> {
    Err(NetnsError::Unsupported)
}
