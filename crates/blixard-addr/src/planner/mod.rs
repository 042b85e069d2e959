//! Config -> `HostPlan`, with validation.
//!
//! Every error names the config key it concerns (`ipv4.pool`,
//! `firewall.rules[2].to`); [`ConfigError::locate`](crate::error::ConfigError::locate) adds file, line and
//! column when the config came from a file.
//!
//! `nat.ipv6` is ignored when `ipv6.enabled` is false: there is no IPv6
//! traffic to masquerade, and refusing the combination would make turning
//! IPv6 off a two-key edit.

mod forwards;
mod placement;
mod plan;
mod selector;
mod validate;

pub use plan::{ValidConfig, build_plan, build_vm_plan};
pub use validate::{MAX_MTU, MAX_NFT_TABLE_LEN, MIN_IPV6_MTU, MIN_MTU};

/// Facts about the host that only the effect side can learn (user names,
/// the default route), resolved before planning so planning stays pure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFacts {
    /// Tap owner uid (resolved from `owner`).
    pub owner_uid: Option<u32>,
    /// Tap group gid (resolved from `group`).
    pub group_gid: Option<u32>,
    /// External interface (resolved from `external_interface`: the CLI turns
    /// `"auto"` into the default route's interface and `"none"` into `None`).
    pub external_interface: Option<String>,
}

/// `(uid_t)-1` / `(gid_t)-1`: the kernel's "no owner", which
/// `TUNSETOWNER`/`TUNSETGROUP` refuse (`uid_valid` fails).
pub const UNSET_ID: u32 = u32::MAX;
#[doc(no_inline)]
pub use crate::sysctl::{IPV4_FORWARDING, IPV6_FORWARDING};

/// Whether `id` has a mapping in a user namespace's id map (the text of
/// `/proc/self/uid_map` or `gid_map`: `INSIDE OUTSIDE COUNT` per line). The
/// kernel refuses an unmapped id as a tap's owner or group (EINVAL), and
/// [`UNSET_ID`] never maps.
pub fn id_is_mapped(map: &str, id: u32) -> bool {
    id != UNSET_ID
        && map.lines().any(|line| {
            let mut fields = line.split_whitespace().map(str::parse::<u64>);
            match (fields.next(), fields.next(), fields.next()) {
                (Some(Ok(inside)), Some(Ok(_)), Some(Ok(count))) => {
                    (inside..inside.saturating_add(count)).contains(&u64::from(id))
                }
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests;
