//! Creating taps of ours: each made persistent only once its mark is set, so
//! a crash leaves no unmarked tap; many at once on one netlink socket.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use blixard_addr::plan::TapPlan;

use crate::netlink::Rtnl;
use crate::open::{attach_flags, find_tap};
use crate::sys::{self, IFF_TUN_EXCL};
use crate::{LinkMark, TapError, flags_for, open_tun, validate_name};

/// Creates a persistent tap in the calling thread's namespace, marked as ours.
///
/// Order matters for crash safety: `TUNSETIFF` (with `IFF_TUN_EXCL`, so an
/// existing interface is never adopted), `TUNSETOWNER`/`TUNSETGROUP`, the
/// netlink mark (group + alias), and `TUNSETPERSIST` last. Until that last
/// step the tap lives only as long as this call's fd, so a process killed
/// half-way leaves nothing behind, and a persistent tap always carries our mark.
pub fn create(name: &str, tap: &TapPlan, mark: LinkMark) -> Result<(), TapError> {
    create_many(&[NewTap {
        name,
        tap,
        mark,
        mtu: None,
    }])
}

/// One tap for [`create_many`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewTap<'a> {
    /// Interface name.
    pub name: &'a str,
    /// Flags and ownership.
    pub tap: &'a TapPlan,
    /// The mark that makes it ours.
    pub mark: LinkMark<'a>,
    /// The MTU, set with the mark (`None`: the kernel's default, 1500).
    pub mtu: Option<u32>,
}

/// Taps in flight at once in [`create_many`]: each holds an fd until it is
/// persistent (the soft `RLIMIT_NOFILE` is often 1024), and the acks of one
/// window must fit in the netlink socket's receive buffer.
const CREATE_WINDOW: usize = 128;

/// Creates many taps as [`create`] does, in order, with the same crash
/// safety (a tap becomes persistent only after its mark is set), but sharing
/// one feature probe and one netlink socket, and setting the marks of up to
/// 128 taps in one pipeline. Every name is validated before
/// anything is touched. On a failure the taps before the failing one exist,
/// persistent and marked, and the failing one and those after it do not.
pub fn create_many(taps: &[NewTap<'_>]) -> Result<(), TapError> {
    create_many_inner(taps, || ())
}

fn create_many_inner(taps: &[NewTap<'_>], before_persist: impl FnOnce()) -> Result<(), TapError> {
    let mut flags = Vec::with_capacity(taps.len());
    let mut features = None;
    for t in taps {
        validate_name(t.name)?;
        flags.push(
            flags_for(t.name, t.tap.vnet_hdr, t.tap.multi_queue, &mut features)? | IFF_TUN_EXCL,
        );
    }
    let mut before_persist = Some(before_persist);
    let mut nl: Option<Rtnl> = None;
    for (window, flags) in taps.chunks(CREATE_WINDOW).zip(flags.chunks(CREATE_WINDOW)) {
        let mut fds = Vec::with_capacity(window.len());
        let mut failure = None;
        for (t, &flags) in window.iter().zip(flags) {
            match open_new(t, flags) {
                Ok(fd) => fds.push(fd),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let nl = match &mut nl {
            Some(nl) => nl,
            None => nl.insert(Rtnl::open()?),
        };
        let marks: Vec<(&str, LinkMark<'_>, Option<u32>)> = window[..fds.len()]
            .iter()
            .map(|t| (t.name, t.mark, t.mtu))
            .collect();
        let mut marked = 0;
        for answer in nl.set_marks(&marks)? {
            if let Err(e) = answer {
                // An earlier failure than the TUNSETIFF one, if any.
                failure = Some(e);
                break;
            }
            marked += 1;
        }
        if marked > 0
            && let Some(hook) = before_persist.take()
        {
            hook();
        }
        for (t, fd) in window.iter().zip(&fds).take(marked) {
            sys::set_persist(fd.as_fd(), true)
                .map_err(|e| TapError::ioctl(t.name, "TUNSETPERSIST", e))?;
        }
        // Closing the fds drops every tap of the window that is not
        // persistent: those after a failure vanish.
        drop(fds);
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(())
}

/// `TUNSETIFF` (exclusive) and ownership: a tap that lives as long as the fd.
fn open_new(t: &NewTap<'_>, flags: u16) -> Result<OwnedFd, TapError> {
    let fd = open_tun(false)?;
    sys::set_iff(fd.as_fd(), t.name, flags).map_err(|source| {
        if source.raw_os_error() == Some(libc::EBUSY) {
            TapError::AlreadyExists {
                name: t.name.to_string(),
                source,
            }
        } else {
            TapError::ioctl(t.name, "TUNSETIFF (create)", source)
        }
    })?;
    apply_ownership(fd.as_fd(), t.name, t.tap.owner, t.tap.group)?;
    Ok(fd)
}

fn apply_ownership(
    fd: BorrowedFd<'_>,
    name: &str,
    owner: Option<u32>,
    group: Option<u32>,
) -> Result<(), TapError> {
    if let Some(uid) = owner {
        sys::set_owner(fd, uid).map_err(|e| TapError::ioctl(name, "TUNSETOWNER", e))?;
    }
    if let Some(gid) = group {
        sys::set_group(fd, gid).map_err(|e| TapError::ioctl(name, "TUNSETGROUP", e))?;
    }
    Ok(())
}

/// Sets owner and/or group of an existing tap; `None` leaves that one as it
/// is (the kernel cannot unset an owner). Attaches briefly, so a single-queue
/// tap held by a VMM gives [`TapError::Busy`].
pub fn set_ownership(name: &str, owner: Option<u32>, group: Option<u32>) -> Result<(), TapError> {
    let mut nl = Rtnl::open()?;
    let (_, info) = find_tap(&mut nl, name)?;
    if owner.is_none() && group.is_none() {
        return Ok(());
    }
    let fd = open_tun(false)?;
    sys::set_iff(fd.as_fd(), name, attach_flags(&info))
        .map_err(|e| TapError::ioctl(name, "TUNSETIFF (attach)", e))?;
    apply_ownership(fd.as_fd(), name, owner, group)
}

/// Test support, not a stable API.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// [`create`] that calls `pause` right before `TUNSETPERSIST`, so a test
    /// can kill the process there and check that no tap survives.
    pub fn create_pausing_before_persist(
        name: &str,
        tap: &TapPlan,
        mark: LinkMark,
        pause: impl FnOnce(),
    ) -> Result<(), TapError> {
        create_many_inner(
            &[NewTap {
                name,
                tap,
                mark,
                mtu: None,
            }],
            pause,
        )
    }
}
