//! The VMM side: opening queues of an existing tap with its own flags, and
//! the non-persistent guest-side taps of the stand-in VMM.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use blixard_addr::state::TunInfo;

use crate::netlink::{LinkRecord, Rtnl};
use crate::sys::{self, IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_TUN_EXCL, IFF_VNET_HDR};
use crate::{TapError, flags_for, open_tun, validate_name};

/// How a VMM opens a tap's queues; must match how the tap was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenOptions {
    /// `IFF_VNET_HDR`.
    pub vnet_hdr: bool,
    /// `IFF_MULTI_QUEUE`.
    pub multi_queue: bool,
    /// `TUNSETVNETHDRSZ` (10 or 12 for virtio-net), when asked.
    pub vnet_hdr_size: Option<i32>,
    /// `TUNSETOFFLOAD` with these `TUN_F_*` bits, when asked.
    pub offloads: Option<u32>,
}

pub(crate) fn find_tap(nl: &mut Rtnl, name: &str) -> Result<(LinkRecord, TunInfo), TapError> {
    validate_name(name)?;
    let link = nl.get_link(name)?.ok_or_else(|| TapError::NotFound {
        name: name.to_string(),
    })?;
    match link.tun.clone() {
        Some(info) if info.tap => Ok((link, info)),
        _ => Err(TapError::NotATap {
            name: name.to_string(),
            kind: link.kind,
        }),
    }
}

/// The `TUNSETIFF` flags that attach to an existing tap without changing it:
/// the kernel overwrites the tap's PI/VNET_HDR flags with the opener's.
pub(crate) fn attach_flags(info: &TunInfo) -> u16 {
    let mut flags = IFF_TAP;
    if !info.pi {
        flags |= IFF_NO_PI;
    }
    if info.vnet_hdr {
        flags |= IFF_VNET_HDR;
    }
    if info.multi_queue {
        flags |= IFF_MULTI_QUEUE;
    }
    flags
}

/// VMM side: opens `queues` fds (`O_NONBLOCK | O_CLOEXEC`) of the existing tap
/// `name`, as a VMM does. The tap's `multi_queue` must match `opts` (the
/// kernel would otherwise answer a bare EINVAL), so a mismatch is an error
/// naming both sides. `vnet_hdr` is the opener's choice: the kernel rewrites
/// the tap's flag from it (as QEMU's `vnet_hdr=off` does), and every queue
/// is opened without packet information (`IFF_NO_PI`).
pub fn open_queues(
    name: &str,
    queues: usize,
    opts: &OpenOptions,
) -> Result<Vec<OwnedFd>, TapError> {
    let mut nl = Rtnl::open()?;
    let (_, info) = find_tap(&mut nl, name)?;
    drop(nl);
    let mismatch = |field, tap, asked| TapError::OpenMismatch {
        name: name.to_string(),
        field,
        tap,
        asked,
    };
    if info.multi_queue != opts.multi_queue {
        return Err(mismatch("multi_queue", info.multi_queue, opts.multi_queue));
    }
    if queues == 0 {
        return Err(TapError::Queues {
            name: name.to_string(),
            queues,
            reason: "at least one is needed",
        });
    }
    if queues > 1 && !info.multi_queue {
        return Err(TapError::Queues {
            name: name.to_string(),
            queues,
            reason: "the tap is single-queue; create it with multi_queue",
        });
    }
    let flags = attach_flags(&TunInfo {
        pi: false,
        vnet_hdr: opts.vnet_hdr,
        ..info
    });
    let mut fds = Vec::with_capacity(queues);
    for _ in 0..queues {
        let fd = open_tun(true)?;
        sys::set_iff(fd.as_fd(), name, flags)
            .map_err(|e| TapError::ioctl(name, "TUNSETIFF (open queue)", e))?;
        if let Some(size) = opts.vnet_hdr_size {
            sys::set_vnet_hdr_sz(fd.as_fd(), size)
                .map_err(|e| TapError::ioctl(name, "TUNSETVNETHDRSZ", e))?;
        }
        if let Some(offloads) = opts.offloads {
            sys::set_offload(fd.as_fd(), offloads)
                .map_err(|e| TapError::ioctl(name, "TUNSETOFFLOAD", e))?;
        }
        fds.push(fd);
    }
    Ok(fds)
}

/// The virtio-net header size of the tap behind a queue fd (`TUNGETVNETHDRSZ`).
pub fn vnet_hdr_size(fd: BorrowedFd<'_>) -> Result<i32, TapError> {
    sys::get_vnet_hdr_sz(fd).map_err(|e| TapError::ioctl("(queue fd)", "TUNGETVNETHDRSZ", e))
}

/// The tap a queue fd is attached to and its `IFF_*` flags (`TUNGETIFF`;
/// includes `IFF_PERSIST`).
pub fn attached(fd: BorrowedFd<'_>) -> Result<(String, u16), TapError> {
    sys::get_iff(fd).map_err(|e| TapError::ioctl("(queue fd)", "TUNGETIFF", e))
}

/// Creates the non-persistent tap `name` in the calling thread's namespace
/// and returns `queues` fds of it, for the relay's guest side.
pub(crate) fn create_transient(
    name: &str,
    queues: usize,
    vnet_hdr: bool,
    multi_queue: bool,
    vnet_hdr_size: Option<i32>,
) -> Result<Vec<OwnedFd>, TapError> {
    validate_name(name)?;
    let flags = flags_for(name, vnet_hdr, multi_queue, &mut None)?;
    let mut fds = Vec::with_capacity(queues);
    for i in 0..queues {
        let fd = open_tun(true)?;
        // The first fd creates the tap and must not attach to a stranger's.
        let excl = if i == 0 { IFF_TUN_EXCL } else { 0 };
        sys::set_iff(fd.as_fd(), name, flags | excl).map_err(|source| {
            if i == 0 && source.raw_os_error() == Some(libc::EBUSY) {
                TapError::AlreadyExists {
                    name: name.to_string(),
                    source,
                }
            } else {
                TapError::ioctl(name, "TUNSETIFF (guest tap)", source)
            }
        })?;
        if let Some(size) = vnet_hdr_size {
            sys::set_vnet_hdr_sz(fd.as_fd(), size)
                .map_err(|e| TapError::ioctl(name, "TUNSETVNETHDRSZ", e))?;
        }
        fds.push(fd);
    }
    Ok(fds)
}

/// Sets the MAC of link `name` and returns its ifindex.
pub(crate) fn set_mac(name: &str, mac: [u8; 6]) -> Result<u32, TapError> {
    let mut nl = Rtnl::open()?;
    let link = nl.get_link(name)?.ok_or_else(|| TapError::NotFound {
        name: name.to_string(),
    })?;
    nl.set_address(name, link.index, mac)?;
    Ok(link.index)
}
