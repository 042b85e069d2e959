//! Tap devices a VMM can open, made through `/dev/net/tun`.
//!
//! * [`create`], [`create_many`], [`set_ownership`], [`delete`], [`delete_group`]:
//!   the host side, needing CAP_NET_ADMIN, carrying out the core's changes
//!   (whether a tap should exist, or be recreated, is the diff's decision).
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

mod create;
mod error;
mod existing;
mod netlink;
mod open;
pub mod relay;
#[allow(unsafe_code)]
pub mod sys;

use std::fs::OpenOptions as FileOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

pub use create::{NewTap, create, create_many, set_ownership, testing};
pub use error::TapError;
pub use existing::{
    create_ifbs, delete, delete_group, list, resolve_group, resolve_user, tun_info,
};
pub use open::{OpenOptions, attached, open_queues, vnet_hdr_size};
pub(crate) use open::{create_transient, set_mac};
use sys::{IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_VNET_HDR};

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
}
