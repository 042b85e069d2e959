//! Existing taps, host side: reading them (tun details from link messages),
//! deleting them, and the users and groups that may own them.

use std::collections::BTreeMap;

use blixard_addr::state::TunInfo;

use crate::netlink::{self, Rtnl};
use crate::{LinkMark, TapError, validate_name};

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

/// Creates `ifb`s of ours (for limits from VMs: each tap's ingress is
/// redirected to its ifb), each marked with its mark; down until brought
/// up. All creations are in flight at once on one socket, then all marks.
pub fn create_ifbs(ifbs: &[(&str, LinkMark<'_>)]) -> Result<(), TapError> {
    for (name, _) in ifbs {
        validate_name(name)?;
    }
    let mut nl = Rtnl::open()?;
    nl.create_ifbs(ifbs)?.into_iter().try_for_each(|r| r)?;
    // The alias is set on an existing link only (`do_setlink`).
    let marks: Vec<_> = ifbs
        .iter()
        .map(|(name, mark)| (*name, *mark, None))
        .collect();
    nl.set_marks(&marks)?.into_iter().try_for_each(|r| r)
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
