//! The tun driver's ABI: ioctl numbers, flag values and the few ioctl
//! wrappers this crate needs. The only module allowed `unsafe`.
//!
//! Values are written out rather than taken from `libc` so that every one is
//! visible in one place; unit tests pin them against the kernel headers'
//! numbers and against `libc`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `_IOW('T', 202, int)`: attach the fd to (or create) a tun/tap device.
pub const TUNSETIFF: u32 = 0x4004_54ca;
/// `_IOW('T', 203, int)`: make the device survive its last fd (argument by value).
pub const TUNSETPERSIST: u32 = 0x4004_54cb;
/// `_IOW('T', 204, int)`: owning uid (argument by value, not a pointer).
pub const TUNSETOWNER: u32 = 0x4004_54cc;
/// `_IOW('T', 206, int)`: owning gid (argument by value, not a pointer).
pub const TUNSETGROUP: u32 = 0x4004_54ce;
/// `_IOR('T', 207, unsigned int)`: the `IFF_*` flags the driver supports.
pub const TUNGETFEATURES: u32 = 0x8004_54cf;
/// `_IOW('T', 208, unsigned int)`: `TUN_F_*` offloads (argument by value).
pub const TUNSETOFFLOAD: u32 = 0x4004_54d0;
/// `_IOR('T', 210, unsigned int)`: name and flags of the attached device.
pub const TUNGETIFF: u32 = 0x8004_54d2;
/// `_IOR('T', 215, int)`: virtio-net header size (pointer).
pub const TUNGETVNETHDRSZ: u32 = 0x8004_54d7;
/// `_IOW('T', 216, int)`: virtio-net header size (pointer).
pub const TUNSETVNETHDRSZ: u32 = 0x4004_54d8;

/// L3 device.
pub const IFF_TUN: u16 = 0x0001;
/// L2 device.
pub const IFF_TAP: u16 = 0x0002;
/// Several fds, one per queue.
pub const IFF_MULTI_QUEUE: u16 = 0x0100;
/// Persistent (reported by `TUNGETIFF`, not settable through `TUNSETIFF`).
pub const IFF_PERSIST: u16 = 0x0800;
/// No packet-information header in front of each frame.
pub const IFF_NO_PI: u16 = 0x1000;
/// A `struct virtio_net_hdr` in front of each frame.
pub const IFF_VNET_HDR: u16 = 0x4000;
/// Fail with EBUSY instead of attaching when the name already exists.
pub const IFF_TUN_EXCL: u16 = 0x8000;

/// Checksum offload.
pub const TUN_F_CSUM: u32 = 0x01;
/// TCP segmentation offload, IPv4.
pub const TUN_F_TSO4: u32 = 0x02;
/// TCP segmentation offload, IPv6.
pub const TUN_F_TSO6: u32 = 0x04;
/// TSO with ECN.
pub const TUN_F_TSO_ECN: u32 = 0x08;
/// UDP fragmentation offload.
pub const TUN_F_UFO: u32 = 0x10;
/// UDP segmentation offload, IPv4.
pub const TUN_F_USO4: u32 = 0x20;
/// UDP segmentation offload, IPv6.
pub const TUN_F_USO6: u32 = 0x40;

/// `IFLA_INFO_DATA` attributes of kind `tun` (`enum ifla_tun` in
/// `include/uapi/linux/if_link.h`).
pub mod ifla_tun {
    /// u32, present only when an owner is set.
    pub const OWNER: u16 = 1;
    /// u32, present only when a group is set.
    pub const GROUP: u16 = 2;
    /// u8: `IFF_TUN` or `IFF_TAP`.
    pub const TYPE: u16 = 3;
    /// u8: 1 when the packet-information header is on (`IFF_NO_PI` clear).
    pub const PI: u16 = 4;
    /// u8.
    pub const VNET_HDR: u16 = 5;
    /// u8.
    pub const PERSIST: u16 = 6;
    /// u8.
    pub const MULTI_QUEUE: u16 = 7;
    /// u32, multi-queue devices only.
    pub const NUM_QUEUES: u16 = 8;
    /// u32, multi-queue devices only.
    pub const NUM_DISABLED_QUEUES: u16 = 9;
}

/// Interface name buffer size, NUL included.
pub const IFNAMSIZ: usize = 16;

/// `struct ifreq` as far as the tun ioctls use it: name and `ifr_flags`,
/// padded to the kernel's 40 bytes (the union's largest member, `ifmap`, is
/// 24 bytes on 64-bit) so the kernel's `copy_from_user` never reads past it.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

impl IfReq {
    fn new(name: &str, flags: u16) -> io::Result<Self> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut req = IfReq {
            name: [0; IFNAMSIZ],
            flags: flags as libc::c_short,
            _pad: [0; 22],
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        Ok(req)
    }
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `TUNSETIFF`: create the device `name` or attach `fd` to it.
pub(crate) fn set_iff(fd: BorrowedFd<'_>, name: &str, flags: u16) -> io::Result<()> {
    let mut req = IfReq::new(name, flags)?;
    // SAFETY: `fd` is a live descriptor for the call's duration (BorrowedFd);
    // TUNSETIFF reads and writes one `struct ifreq`, and `req` is a properly
    // initialised, exclusively borrowed `#[repr(C)]` buffer at least as large
    // as the kernel's struct ifreq.
    check(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            TUNSETIFF as libc::Ioctl,
            &mut req as *mut IfReq,
        )
    })
}

/// `TUNGETIFF`: the attached device's name and flags (with `IFF_PERSIST`).
pub(crate) fn get_iff(fd: BorrowedFd<'_>) -> io::Result<(String, u16)> {
    let mut req = IfReq {
        name: [0; IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    // SAFETY: `fd` is live (BorrowedFd); TUNGETIFF writes one `struct ifreq`
    // into `req`, an exclusively borrowed buffer at least that large.
    check(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            TUNGETIFF as libc::Ioctl,
            &mut req as *mut IfReq,
        )
    })?;
    let len = req.name.iter().position(|b| *b == 0).unwrap_or(IFNAMSIZ);
    Ok((
        String::from_utf8_lossy(&req.name[..len]).into_owned(),
        req.flags as u16,
    ))
}

/// An ioctl whose argument is an integer passed by value.
fn ioctl_value(fd: BorrowedFd<'_>, request: u32, value: libc::c_ulong) -> io::Result<()> {
    // SAFETY: `fd` is live (BorrowedFd); the requests passed here
    // (TUNSETPERSIST, TUNSETOWNER, TUNSETGROUP, TUNSETOFFLOAD) take their
    // argument by value and dereference no user memory.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request as libc::Ioctl, value) })
}

/// `TUNSETPERSIST`.
pub(crate) fn set_persist(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    ioctl_value(fd, TUNSETPERSIST, on as libc::c_ulong)
}

/// `TUNSETOWNER` with the uid itself as the argument.
pub(crate) fn set_owner(fd: BorrowedFd<'_>, uid: u32) -> io::Result<()> {
    ioctl_value(fd, TUNSETOWNER, uid as libc::c_ulong)
}

/// `TUNSETGROUP` with the gid itself as the argument.
pub(crate) fn set_group(fd: BorrowedFd<'_>, gid: u32) -> io::Result<()> {
    ioctl_value(fd, TUNSETGROUP, gid as libc::c_ulong)
}

/// `TUNSETOFFLOAD`.
pub(crate) fn set_offload(fd: BorrowedFd<'_>, flags: u32) -> io::Result<()> {
    ioctl_value(fd, TUNSETOFFLOAD, flags as libc::c_ulong)
}

/// `TUNGETFEATURES`.
pub(crate) fn get_features(fd: BorrowedFd<'_>) -> io::Result<u32> {
    let mut features: libc::c_uint = 0;
    // SAFETY: `fd` is live (BorrowedFd); TUNGETFEATURES writes one unsigned
    // int through the pointer, which points at a live local of that type.
    check(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            TUNGETFEATURES as libc::Ioctl,
            &mut features as *mut libc::c_uint,
        )
    })?;
    Ok(features)
}

/// `TUNGETVNETHDRSZ`.
pub(crate) fn get_vnet_hdr_sz(fd: BorrowedFd<'_>) -> io::Result<i32> {
    let mut size: libc::c_int = 0;
    // SAFETY: `fd` is live (BorrowedFd); TUNGETVNETHDRSZ writes one int
    // through the pointer, which points at a live local of that type.
    check(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            TUNGETVNETHDRSZ as libc::Ioctl,
            &mut size as *mut libc::c_int,
        )
    })?;
    Ok(size)
}

/// `TUNSETVNETHDRSZ`.
pub(crate) fn set_vnet_hdr_sz(fd: BorrowedFd<'_>, size: i32) -> io::Result<()> {
    let size: libc::c_int = size;
    // SAFETY: `fd` is live (BorrowedFd); TUNSETVNETHDRSZ reads one int
    // through the pointer, which points at a live local of that type.
    check(unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            TUNSETVNETHDRSZ as libc::Ioctl,
            &size as *const libc::c_int,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `_IOC(dir, type, nr, size)` as in `include/uapi/asm-generic/ioctl.h`.
    const fn ioc(dir: u32, ty: u8, nr: u8, size: u32) -> u32 {
        (dir << 30) | (size << 16) | ((ty as u32) << 8) | nr as u32
    }
    const W: u32 = 1;
    const R: u32 = 2;

    #[test]
    fn ioctl_numbers_match_the_kernel_abi() {
        assert_eq!(TUNSETIFF, 0x400454ca);
        assert_eq!(TUNSETPERSIST, 0x400454cb);
        assert_eq!(TUNSETOWNER, 0x400454cc);
        assert_eq!(TUNSETGROUP, 0x400454ce);
        assert_eq!(TUNGETFEATURES, 0x800454cf);
        assert_eq!(TUNSETOFFLOAD, 0x400454d0);
        assert_eq!(TUNGETIFF, 0x800454d2);
        assert_eq!(TUNGETVNETHDRSZ, 0x800454d7);
        assert_eq!(TUNSETVNETHDRSZ, 0x400454d8);
        assert_eq!(TUNSETIFF, ioc(W, b'T', 202, 4));
        assert_eq!(TUNGETFEATURES, ioc(R, b'T', 207, 4));
        assert_eq!(TUNSETVNETHDRSZ, ioc(W, b'T', 216, 4));
    }

    #[test]
    fn ioctl_numbers_agree_with_libc() {
        assert_eq!(TUNSETIFF as libc::Ioctl, libc::TUNSETIFF);
        assert_eq!(TUNSETPERSIST as libc::Ioctl, libc::TUNSETPERSIST);
        assert_eq!(TUNSETOWNER as libc::Ioctl, libc::TUNSETOWNER);
        assert_eq!(TUNSETGROUP as libc::Ioctl, libc::TUNSETGROUP);
        assert_eq!(TUNGETFEATURES as libc::Ioctl, libc::TUNGETFEATURES);
        assert_eq!(TUNSETOFFLOAD as libc::Ioctl, libc::TUNSETOFFLOAD);
        assert_eq!(TUNGETIFF as libc::Ioctl, libc::TUNGETIFF);
        assert_eq!(TUNGETVNETHDRSZ as libc::Ioctl, libc::TUNGETVNETHDRSZ);
        assert_eq!(TUNSETVNETHDRSZ as libc::Ioctl, libc::TUNSETVNETHDRSZ);
    }

    #[test]
    fn flag_values_match_the_kernel_abi() {
        assert_eq!(IFF_TUN, 0x0001);
        assert_eq!(IFF_TAP, 0x0002);
        assert_eq!(IFF_MULTI_QUEUE, 0x0100);
        assert_eq!(IFF_PERSIST, 0x0800);
        assert_eq!(IFF_NO_PI, 0x1000);
        assert_eq!(IFF_VNET_HDR, 0x4000);
        assert_eq!(IFF_TUN_EXCL, 0x8000);
        assert_eq!(IFF_TAP as libc::c_int, libc::IFF_TAP);
        assert_eq!(IFF_NO_PI as libc::c_int, libc::IFF_NO_PI);
        assert_eq!(IFF_VNET_HDR as libc::c_int, libc::IFF_VNET_HDR);
        assert_eq!(IFF_MULTI_QUEUE as libc::c_int, libc::IFF_MULTI_QUEUE);
        assert_eq!(IFF_TUN_EXCL as libc::c_int, libc::IFF_TUN_EXCL);
        assert_eq!(
            [
                TUN_F_CSUM,
                TUN_F_TSO4,
                TUN_F_TSO6,
                TUN_F_TSO_ECN,
                TUN_F_UFO,
                TUN_F_USO4,
                TUN_F_USO6
            ],
            [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40]
        );
        assert_eq!(TUN_F_CSUM, libc::TUN_F_CSUM);
        assert_eq!(TUN_F_USO6, libc::TUN_F_USO6);
        assert_eq!(
            [
                ifla_tun::OWNER,
                ifla_tun::GROUP,
                ifla_tun::TYPE,
                ifla_tun::PI,
                ifla_tun::VNET_HDR,
                ifla_tun::PERSIST,
                ifla_tun::MULTI_QUEUE,
                ifla_tun::NUM_QUEUES,
                ifla_tun::NUM_DISABLED_QUEUES
            ],
            [1, 2, 3, 4, 5, 6, 7, 8, 9]
        );
    }

    #[test]
    fn ifreq_is_at_least_the_kernel_size() {
        assert!(std::mem::size_of::<IfReq>() >= std::mem::size_of::<libc::ifreq>());
        assert_eq!(std::mem::offset_of!(IfReq, flags), IFNAMSIZ);
    }

    #[test]
    fn ifreq_rejects_names_the_kernel_would_truncate() {
        assert!(IfReq::new("", 0).is_err());
        assert!(IfReq::new("0123456789abcdef", 0).is_err());
        assert!(IfReq::new("a\0b", 0).is_err());
        let req = IfReq::new("vm7", IFF_TAP).unwrap();
        assert_eq!(&req.name[..4], b"vm7\0");
        assert_eq!(req.flags as u16, IFF_TAP);
    }
}
