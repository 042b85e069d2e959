//! [`SysctlKey`]: a `net.` sysctl key, built from its parts and read back
//! into them, printed as the dotted key `/proc/sys/net` names
//! (`net.ipv4.conf.vm3.rp_filter`). Every key the core writes is built
//! here, and every key it takes apart (which link a per-link key belongs
//! to) is parsed here.
//!
//! The plan and the observed host still hold keys as `String`
//! ([`crate::plan::SysctlPlan::key`], [`crate::Change::SetSysctl`],
//! [`crate::ObservedHost::sysctls`]), each this type's `Display`; read one
//! back with [`str::parse`] or [`crate::plan::SysctlPlan::typed_key`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The sysctl that makes the host route IPv4 between its links.
pub const IPV4_FORWARDING: &str = "net.ipv4.ip_forward";
/// The sysctl that makes the host route IPv6 between its links.
pub const IPV6_FORWARDING: &str = "net.ipv6.conf.all.forwarding";

/// An address family's tree of sysctls: `net.ipv4` or `net.ipv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `net.ipv4`.
    Ipv4,
    /// `net.ipv6`.
    Ipv6,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        }
    }
}

/// The per-interface trees of a family: device settings (`conf`) and
/// neighbour-table parameters (`neigh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Tree {
    Conf,
    Neigh,
}

impl Tree {
    fn name(self) -> &'static str {
        match self {
            Tree::Conf => "conf",
            Tree::Neigh => "neigh",
        }
    }
}

/// A `net.` sysctl key whose every component holds only letters, digits,
/// `_` and `-`, so that it names a file under `/proc/sys/net` and nothing
/// else ([`SysctlKey::proc_path`]). `Display` and [`FromStr`] round-trip.
///
/// ```
/// use blixard_addr::sysctl::{Family, SysctlKey};
/// let key = SysctlKey::conf(Family::Ipv4, "vm3", "rp_filter").unwrap();
/// assert_eq!(key.to_string(), "net.ipv4.conf.vm3.rp_filter");
/// assert_eq!("net.ipv4.conf.vm3.rp_filter".parse(), Ok(key.clone()));
/// assert_eq!(key.per_link(), Some((Family::Ipv4, "vm3", "rp_filter")));
/// assert_eq!(SysctlKey::ipv6_forwarding().per_link(), None, "`all` is no link");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SysctlKey(Repr);

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Repr {
    /// `net.{family}.{tree}.{interface}.{setting}`; the interface may be
    /// the kernel's `all` or `default`.
    PerInterface {
        family: Family,
        tree: Tree,
        interface: String,
        setting: String,
    },
    /// Any other key, dotted (`net.ipv4.ip_forward`).
    Other(String),
}

impl SysctlKey {
    /// [`IPV4_FORWARDING`].
    pub fn ipv4_forwarding() -> Self {
        Self(Repr::Other(IPV4_FORWARDING.into()))
    }

    /// [`IPV6_FORWARDING`].
    pub fn ipv6_forwarding() -> Self {
        Self::conf(Family::Ipv6, "all", "forwarding").expect("a valid key")
    }

    /// `net.{family}.conf.{interface}.{setting}`: a setting of one
    /// interface (or of the kernel's `all` and `default`).
    pub fn conf(family: Family, interface: &str, setting: &str) -> Result<Self, SysctlKeyError> {
        Self::per_interface(family, Tree::Conf, interface, setting)
    }

    /// `net.{family}.neigh.{interface}.{setting}`: a neighbour-table
    /// parameter of one interface (`proxy_delay`).
    pub fn neigh(family: Family, interface: &str, setting: &str) -> Result<Self, SysctlKeyError> {
        Self::per_interface(family, Tree::Neigh, interface, setting)
    }

    fn per_interface(
        family: Family,
        tree: Tree,
        interface: &str,
        setting: &str,
    ) -> Result<Self, SysctlKeyError> {
        let key = Self(Repr::PerInterface {
            family,
            tree,
            interface: interface.into(),
            setting: setting.into(),
        });
        for part in [interface, setting] {
            check_component(part).map_err(|reason| SysctlKeyError {
                key: key.to_string(),
                reason,
            })?;
        }
        Ok(key)
    }

    /// The family, link and setting of a per-link device setting
    /// (`conf`); `None` for a host-wide one (`all` and `default`
    /// included) and for a neighbour-table parameter.
    pub fn per_link(&self) -> Option<(Family, &str, &str)> {
        match &self.0 {
            Repr::PerInterface {
                tree: Tree::Conf,
                family,
                interface,
                setting,
            } if !is_host_wide(interface) => Some((*family, interface.as_str(), setting.as_str())),
            _ => None,
        }
    }

    /// The family, link and parameter of a per-link neighbour-table key
    /// (`net.ipv6.neigh.vm3.proxy_delay`); `None` for any other.
    pub fn per_link_neighbour(&self) -> Option<(Family, &str, &str)> {
        match &self.0 {
            Repr::PerInterface {
                tree: Tree::Neigh,
                family,
                interface,
                setting,
            } if !is_host_wide(interface) => Some((*family, interface.as_str(), setting.as_str())),
            _ => None,
        }
    }

    /// The link a per-link key of either tree belongs to (it goes with the
    /// link).
    pub fn link(&self) -> Option<&str> {
        match &self.0 {
            Repr::PerInterface { interface, .. } if !is_host_wide(interface) => Some(interface),
            _ => None,
        }
    }

    /// The file behind the key: `/proc/sys/net/...`, one directory per
    /// component. It cannot leave `/proc/sys/net`.
    pub fn proc_path(&self) -> PathBuf {
        let mut path = PathBuf::from("/proc/sys");
        path.extend(self.to_string().split('.'));
        path
    }
}

impl fmt::Display for SysctlKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::PerInterface {
                family,
                tree,
                interface,
                setting,
            } => write!(
                f,
                "net.{}.{}.{interface}.{setting}",
                family.name(),
                tree.name()
            ),
            Repr::Other(key) => f.write_str(key),
        }
    }
}

impl FromStr for SysctlKey {
    type Err = SysctlKeyError;

    fn from_str(key: &str) -> Result<Self, SysctlKeyError> {
        let bad = |reason| SysctlKeyError {
            key: key.to_string(),
            reason,
        };
        if key.contains('/') {
            return Err(bad("'/' is not allowed (use dots)"));
        }
        let parts: Vec<&str> = key.split('.').collect();
        if parts[0] != "net" {
            return Err(bad("only net.* keys are handled here"));
        }
        for part in &parts[1..] {
            check_component(part).map_err(bad)?;
        }
        if parts.len() == 1 {
            return Err(bad("names no setting"));
        }
        let family = match parts[1] {
            "ipv4" => Some(Family::Ipv4),
            "ipv6" => Some(Family::Ipv6),
            _ => None,
        };
        let tree = match parts.get(2) {
            Some(&"conf") => Some(Tree::Conf),
            Some(&"neigh") => Some(Tree::Neigh),
            _ => None,
        };
        Ok(Self(match (family, tree, &parts[2..]) {
            (Some(family), Some(tree), [_, interface, setting]) => Repr::PerInterface {
                family,
                tree,
                interface: (*interface).into(),
                setting: (*setting).into(),
            },
            _ => Repr::Other(key.into()),
        }))
    }
}

impl serde::Serialize for SysctlKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The kernel's own entries beside the interfaces of a tree.
fn is_host_wide(interface: &str) -> bool {
    matches!(interface, "all" | "default")
}

fn check_component(part: &str) -> Result<(), &'static str> {
    if part.is_empty() {
        return Err("empty component (\"..\" or a trailing dot)");
    }
    if !part
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("components may only hold letters, digits, '_' and '-'");
    }
    Ok(())
}

/// A string that is no `net.` sysctl key [`SysctlKey`] accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sysctl key {key:?}: {reason}")]
#[non_exhaustive]
pub struct SysctlKeyError {
    /// The key as given.
    pub key: String,
    /// Why it is refused.
    pub reason: &'static str,
}

#[cfg(test)]
mod tests;
