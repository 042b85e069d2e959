//! Tap devices a VMM can open, made through `/dev/net/tun`.
//!
//! * [`create`], [`ensure`], [`set_ownership`], [`delete`], [`delete_group`]:
//!   the host side, needing CAP_NET_ADMIN.
//! * [`list`]: every tun/tap with its attributes, read over netlink.
//! * [`open_queues`]: the VMM side, opening queue fds of an existing tap.
//! * [`relay::Relay`]: a stand-in VMM that copies frames between a host tap
//!   and a tap inside a guest network namespace.
//!
//! Everything acts on the calling thread's network namespace and is
//! synchronous. To act on another namespace, wrap the call in
//! `blixard_netns::run_in`.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

mod error;
mod netlink;
pub mod relay;
#[allow(unsafe_code)]
pub mod sys;

use std::collections::BTreeMap;
use std::fs::OpenOptions as FileOptions;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use blixard_addr::plan::TapPlan;
use blixard_addr::state::TunInfo;

pub use error::TapError;
use netlink::{LinkRecord, Rtnl};
use sys::{IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_TUN_EXCL, IFF_VNET_HDR};

/// The clone device every tap is made and opened through.
pub const TUN_DEVICE: &str = "/dev/net/tun";

/// How a link is marked as ours: interface group and `ifalias`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMark<'a> {
    /// Interface group (`IFLA_GROUP`).
    pub group: u32,
    /// `ifalias`, e.g. `blixard:vm7`.
    pub alias: &'a str,
}

/// What [`ensure`] may do to a tap of ours whose flags are wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnsureOptions {
    /// Delete and recreate it (a VMM attached to it loses its queues).
    pub allow_recreate: bool,
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// The tap did not exist and was created.
    Created,
    /// The tap was already as asked; nothing was touched.
    Unchanged,
    /// Owner and/or group were set in place.
    OwnershipCorrected,
    /// Flags differed; the tap was deleted and created again.
    Recreated,
}

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

/// The `IFF_*` flags the kernel's tun driver supports (`TUNGETFEATURES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunFeatures(pub u32);

impl TunFeatures {
    /// Whether every bit of `flag` is supported.
    pub fn supports(self, flag: u16) -> bool {
        self.0 & u32::from(flag) == u32::from(flag)
    }
    /// `IFF_VNET_HDR`.
    pub fn vnet_hdr(self) -> bool {
        self.supports(IFF_VNET_HDR)
    }
    /// `IFF_MULTI_QUEUE`.
    pub fn multi_queue(self) -> bool {
        self.supports(IFF_MULTI_QUEUE)
    }
}

fn validate_name(name: &str) -> Result<(), TapError> {
    let bad = |reason| {
        Err(TapError::BadName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > sys::IFNAMSIZ - 1 {
        return bad("longer than 15 bytes");
    }
    if name == "." || name == ".." {
        return bad("reserved");
    }
    // '%' would make the kernel pick a name (`vm%d`); the rest it rejects.
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '%' || c.is_whitespace() || c == '\0')
    {
        return bad("contains '/', ':', '%', NUL or whitespace");
    }
    Ok(())
}

fn open_tun(nonblocking: bool) -> Result<OwnedFd, TapError> {
    let mut opts = FileOptions::new();
    opts.read(true).write(true);
    if nonblocking {
        opts.custom_flags(libc::O_NONBLOCK);
    }
    // std opens with O_CLOEXEC.
    match opts.open(TUN_DEVICE) {
        Ok(file) => Ok(file.into()),
        Err(source)
            if matches!(
                source.raw_os_error(),
                Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO)
            ) =>
        {
            Err(TapError::NoTunDevice { source })
        }
        Err(source) => Err(TapError::Io {
            what: format!("opening {TUN_DEVICE}"),
            source,
        }),
    }
}

/// `TUNGETFEATURES`: what the kernel's tun driver supports.
pub fn features() -> Result<TunFeatures, TapError> {
    let fd = open_tun(false)?;
    sys::get_features(fd.as_fd())
        .map(TunFeatures)
        .map_err(|e| TapError::ioctl(TUN_DEVICE, "TUNGETFEATURES", e))
}

/// `IFF_*` flags for a tap, probing the driver's features (once per
/// `probed`) only when an optional flag is asked for.
fn flags_for(
    name: &str,
    vnet_hdr: bool,
    multi_queue: bool,
    probed: &mut Option<TunFeatures>,
) -> Result<u16, TapError> {
    let mut flags = IFF_TAP | IFF_NO_PI;
    if vnet_hdr || multi_queue {
        let feats = match probed {
            Some(f) => *f,
            None => *probed.insert(features()?),
        };
        for (wanted, flag, label) in [
            (vnet_hdr, IFF_VNET_HDR, "IFF_VNET_HDR"),
            (multi_queue, IFF_MULTI_QUEUE, "IFF_MULTI_QUEUE"),
        ] {
            if wanted {
                if !feats.supports(flag) {
                    return Err(TapError::Unsupported {
                        name: name.to_string(),
                        flag: label,
                    });
                }
                flags |= flag;
            }
        }
    }
    Ok(flags)
}

/// Creates a persistent tap in the calling thread's namespace, marked as ours.
///
/// Order matters for crash safety: `TUNSETIFF` (with `IFF_TUN_EXCL`, so an
/// existing interface is never adopted), `TUNSETOWNER`/`TUNSETGROUP`, the
/// netlink mark (group + alias), and `TUNSETPERSIST` last. Until that last
/// step the tap lives only as long as this call's fd, so a process killed
/// half-way leaves nothing behind, and a persistent tap always carries our mark.
pub fn create(name: &str, tap: &TapPlan, mark: LinkMark) -> Result<(), TapError> {
    create_many(&[NewTap { name, tap, mark }])
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
        let marks: Vec<(&str, u32, &str)> = window[..fds.len()]
            .iter()
            .map(|t| (t.name, t.mark.group, t.mark.alias))
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

fn find_tap(nl: &mut Rtnl, name: &str) -> Result<(LinkRecord, TunInfo), TapError> {
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
fn attach_flags(info: &TunInfo) -> u16 {
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

/// The tun attributes carried by one `RTM_NEWLINK` message (from a dump
/// made elsewhere, e.g. `blixard_route`'s), `None` for a link that is not a
/// tun/tap device. Lets a caller that dumps links anyway skip [`list`]'s.
pub fn tun_info(link: &netlink_packet_route::link::LinkMessage) -> Option<TunInfo> {
    netlink::tun_info(link)
}

/// Every tun/tap device in the namespace, by name, from one `RTM_GETLINK`
/// dump (retried when the kernel marks it interrupted).
pub fn list() -> Result<BTreeMap<String, TunInfo>, TapError> {
    let mut nl = Rtnl::open()?;
    Ok(nl
        .dump_links()?
        .into_iter()
        .filter_map(|l| l.tun.map(|t| (l.name, t)))
        .collect())
}

/// The first attribute where an existing tap of ours differs from the plan in
/// a way that cannot be fixed in place, by the same rules as the core's
/// diff: only the type and `IFF_MULTI_QUEUE` bind a VMM; `vnet_hdr` and
/// `pi` are rewritten by every opener, and an owner or group the plan does
/// not name is "don't care" (the kernel cannot unset one).
fn unfixable_difference(info: &TunInfo, tap: &TapPlan) -> Option<(&'static str, String, String)> {
    let show = |v: bool| v.to_string();
    if !info.tap {
        return Some(("type", "tun".into(), "tap".into()));
    }
    if info.multi_queue != tap.multi_queue {
        return Some(("multi_queue", show(info.multi_queue), show(tap.multi_queue)));
    }
    None
}

/// Makes tap `name` exist as planned and marked as ours, touching it only
/// when it differs. An interface with the name that does not carry our mark
/// is an error ([`TapError::Foreign`]), never adopted.
pub fn ensure(
    name: &str,
    tap: &TapPlan,
    mark: LinkMark,
    opts: EnsureOptions,
) -> Result<EnsureOutcome, TapError> {
    validate_name(name)?;
    let mut nl = Rtnl::open()?;
    let Some(link) = nl.get_link(name)? else {
        create(name, tap, mark)?;
        return Ok(EnsureOutcome::Created);
    };
    if link.group != mark.group || link.alias.as_deref() != Some(mark.alias) {
        return Err(TapError::Foreign {
            name: name.to_string(),
            group: link.group,
            alias: link.alias,
            want_group: mark.group,
            want_alias: mark.alias.to_string(),
        });
    }
    let Some(info) = link.tun else {
        return Err(TapError::NotATap {
            name: name.to_string(),
            kind: link.kind,
        });
    };
    if let Some((field, observed, wanted)) = unfixable_difference(&info, tap) {
        // A tap a VMM holds is never recreated: the VMM would lose it.
        if !opts.allow_recreate || info.queues > 0 {
            return Err(TapError::FlagMismatch {
                name: name.to_string(),
                field,
                observed,
                wanted,
            });
        }
        nl.delete_by_name(name)?;
        create(name, tap, mark)?;
        return Ok(EnsureOutcome::Recreated);
    }
    let owner = tap
        .owner
        .filter(|uid| tap.owner_required && info.owner != Some(*uid));
    let group = tap.group.filter(|gid| info.group != Some(*gid));
    if owner.is_none() && group.is_none() {
        return Ok(EnsureOutcome::Unchanged);
    }
    set_ownership(name, owner, group)?;
    Ok(EnsureOutcome::OwnershipCorrected)
}

/// Deletes interface `name` (`RTM_DELLINK` by name). The caller decides
/// whether it is ours.
pub fn delete(name: &str) -> Result<(), TapError> {
    validate_name(name)?;
    let mut nl = Rtnl::open()?;
    nl.delete_by_name(name).map_err(|e| match e.raw_os_error() {
        Some(libc::ENODEV) => TapError::NotFound {
            name: name.to_string(),
        },
        _ => e,
    })
}

/// Deletes every interface in `group` with one `RTM_DELLINK` carrying
/// `IFLA_GROUP` (what `ip link del group N` does; far faster than one delete
/// per link). An empty group is not an error. Group 0 is refused.
pub fn delete_group(group: u32) -> Result<(), TapError> {
    if group == 0 {
        return Err(TapError::DefaultGroup);
    }
    let mut nl = Rtnl::open()?;
    match nl.delete_group(group) {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        other => other,
    }
}

/// A uid from a user name (`getpwnam_r`) or a number.
pub fn resolve_user(name_or_uid: &str) -> Result<u32, TapError> {
    if let Ok(uid) = name_or_uid.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(name_or_uid) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        Ok(None) => Err(TapError::UnknownUser {
            name: name_or_uid.to_string(),
        }),
        Err(e) => Err(TapError::Lookup {
            name: name_or_uid.to_string(),
            source: std::io::Error::from_raw_os_error(e as i32),
        }),
    }
}

/// A gid from a group name (`getgrnam_r`) or a number.
pub fn resolve_group(name_or_gid: &str) -> Result<u32, TapError> {
    if let Ok(gid) = name_or_gid.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(name_or_gid) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        Ok(None) => Err(TapError::UnknownGroup {
            name: name_or_gid.to_string(),
        }),
        Err(e) => Err(TapError::Lookup {
            name: name_or_gid.to_string(),
            source: std::io::Error::from_raw_os_error(e as i32),
        }),
    }
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
        create_many_inner(&[NewTap { name, tap, mark }], pause)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_kernel_would_mangle_are_rejected() {
        for bad in ["", "a/b", "vm%d", "a b", "0123456789abcdef", ".", "x:y"] {
            assert!(
                matches!(validate_name(bad), Err(TapError::BadName { .. })),
                "{bad:?}"
            );
        }
        validate_name("vm7").unwrap();
        validate_name("0123456789abcde").unwrap();
    }

    #[test]
    fn errno_classification_gives_actionable_messages() {
        let e = TapError::ioctl(
            "vm7",
            "TUNSETIFF",
            std::io::Error::from_raw_os_error(libc::EBUSY),
        );
        assert!(
            e.to_string()
                .contains("a VMM holds single-queue tap vm7 open"),
            "{e}"
        );
        assert_eq!(e.raw_os_error(), Some(libc::EBUSY));
        let e = TapError::ioctl(
            "vm7",
            "TUNSETIFF",
            std::io::Error::from_raw_os_error(libc::EPERM),
        );
        assert!(
            e.to_string().contains("needs CAP_NET_ADMIN (run as root)"),
            "{e}"
        );
        assert!(e.to_string().contains("vm7"), "{e}");
        let e = TapError::NoTunDevice {
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert!(e.to_string().contains("modprobe tun"), "{e}");
    }

    #[test]
    fn only_type_and_multi_queue_need_recreation() {
        let info = TunInfo {
            tap: true,
            pi: false,
            vnet_hdr: false,
            multi_queue: false,
            persist: true,
            owner: Some(1000),
            group: None,
            queues: 0,
        };
        let mut plan = TapPlan {
            multi_queue: false,
            vnet_hdr: true,
            owner: Some(1000),
            group: None,
            owner_required: true,
        };
        assert_eq!(
            unfixable_difference(&info, &plan),
            None,
            "vnet_hdr is the opener's"
        );
        plan.owner = Some(1001);
        assert_eq!(unfixable_difference(&info, &plan), None, "fixable in place");
        plan.owner = None;
        assert_eq!(unfixable_difference(&info, &plan), None, "unset means any");
        plan.multi_queue = true;
        let (field, observed, wanted) = unfixable_difference(&info, &plan).unwrap();
        assert_eq!(
            (field, observed.as_str(), wanted.as_str()),
            ("multi_queue", "false", "true")
        );
    }
}
