//! VM index allocation: which name holds which index.
//!
//! Pure bookkeeping; the caller stores [`Allocations`] (it is serde-able)
//! and decides how to lock it. Indices must be unique across a cluster,
//! because the index is the VM's address.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::layout::{MAX_INDEX, VmIndex};

/// Name -> index. Deserializing checks what [`Allocations::allocate`]
/// guarantees (a file edited by hand, or by another tool, may not): every
/// name valid and listed once, every index in `1..=65535` and held by one
/// name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Allocations {
    by_name: BTreeMap<String, VmIndex>,
}

impl<'de> Deserialize<'de> for Allocations {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(AllocationsVisitor)
    }
}

/// Reads the map entry by entry: a derived map would keep the last of two
/// equal keys and silently lose the first allocation.
struct AllocationsVisitor;

impl<'de> Visitor<'de> for AllocationsVisitor {
    type Value = Allocations;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of VM names and their indices, such as {\"web\": 7}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Allocations, A::Error> {
        let mut by_name = BTreeMap::new();
        let mut by_index: BTreeMap<u32, String> = BTreeMap::new();
        while let Some((name, index)) = map.next_entry::<String, u32>()? {
            if !valid_name(&name) {
                return Err(de::Error::custom(AllocError::BadName(name)));
            }
            let Ok(vm) = VmIndex::new(index) else {
                return Err(de::Error::custom(format!(
                    "{name:?} holds VM index {index}, which is out of range: valid indices are 1..={MAX_INDEX}"
                )));
            };
            if by_name.contains_key(&name) {
                return Err(de::Error::custom(format!(
                    "{name:?} is listed twice (one name holds one index)"
                )));
            }
            if let Some(other) = by_index.insert(index, name.clone()) {
                return Err(de::Error::custom(format!(
                    "VM index {index} is allocated to both {other:?} and {name:?}"
                )));
            }
            by_name.insert(name, vm);
        }
        Ok(Allocations { by_name })
    }
}

/// Names are safe in a file name, a shell word and JSON.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// An allocation that cannot be made or released.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// Every index `1..=max` is taken.
    #[error(
        "the pool is full: all {max} VM indices are allocated (release one, or use a larger pool)"
    )]
    PoolFull {
        /// The largest index.
        max: u32,
    },
    /// Every index of this host (its `vms`, in a cluster) is taken.
    #[error(
        "this host's {count} VM indices (its `vms`) are all allocated: release one, or give the host more indices that no other host holds"
    )]
    HostFull {
        /// How many indices the host has.
        count: u32,
    },
    /// The requested index is not one of this host's (in a cluster).
    #[error(
        "VM index {index} is not one of this host's (its `vms`): in a cluster each host allocates only its own indices"
    )]
    NotThisHosts {
        /// The index asked for.
        index: u32,
    },
    /// The requested index is held by another name.
    #[error("VM index {index} is already allocated to {holder:?}")]
    IndexInUse {
        /// The index asked for.
        index: u32,
        /// Who holds it.
        holder: String,
    },
    /// The name already holds another index.
    #[error("{name:?} is already allocated index {index}, not {requested}")]
    NameTaken {
        /// The name.
        name: String,
        /// Its index.
        index: u32,
        /// The index asked for.
        requested: u32,
    },
    /// Release of a name or index nobody holds.
    #[error("nothing is allocated as {0:?}")]
    Unknown(String),
    /// The requested index is 0 or beyond `max`.
    #[error("VM index {index} is out of range: valid indices are 1..={max}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u32,
        /// The largest valid index.
        max: u32,
    },
    /// A name that is empty or has unsafe characters.
    #[error("{0:?} is not a valid VM name (use letters, digits, '_', '-' and '.')")]
    BadName(String),
    /// A stored allocation beyond the layout's pool (the pool was made
    /// smaller, or the file was edited).
    #[error(
        "{name:?} holds VM index {index}, outside this layout's 1..={max}; release it or use a larger pool"
    )]
    HeldOutOfRange {
        /// Who holds it.
        name: String,
        /// The index.
        index: u32,
        /// The layout's largest index.
        max: u32,
    },
}

impl Allocations {
    /// No allocations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allocates an index for `name` (or for `vm-<index>` when `None`):
    /// `requested` if given and free, else the lowest free index in
    /// `1..=max`. Allocating a name that already holds an index returns that
    /// index when no other index is requested (so retries are harmless).
    pub fn allocate(
        &mut self,
        name: Option<&str>,
        requested: Option<u32>,
        max: u32,
    ) -> Result<(String, VmIndex), AllocError> {
        if let Some(index) = requested
            && (index == 0 || index > max)
        {
            return Err(AllocError::IndexOutOfRange { index, max });
        }
        self.allocate_from(name, requested, 1..=max, || AllocError::PoolFull { max })
    }

    /// [`Allocations::allocate`] from `own` only (sorted): a host of a
    /// cluster hands out only its own indices (its `vms`), which no other
    /// host holds.
    pub fn allocate_own(
        &mut self,
        name: Option<&str>,
        requested: Option<u32>,
        own: &[VmIndex],
    ) -> Result<(String, VmIndex), AllocError> {
        if let Some(index) = requested
            && own.binary_search_by_key(&index, |i| i.get()).is_err()
        {
            return Err(AllocError::NotThisHosts { index });
        }
        let count = u32::try_from(own.len()).unwrap_or(u32::MAX);
        self.allocate_from(name, requested, own.iter().map(|i| i.get()), || {
            AllocError::HostFull { count }
        })
    }

    /// The allocation itself, `requested` already checked against what
    /// may be handed out, else the first free one of `candidates`.
    fn allocate_from(
        &mut self,
        name: Option<&str>,
        requested: Option<u32>,
        candidates: impl IntoIterator<Item = u32>,
        full: impl FnOnce() -> AllocError,
    ) -> Result<(String, VmIndex), AllocError> {
        if let Some(name) = name {
            if !valid_name(name) {
                return Err(AllocError::BadName(name.to_string()));
            }
            if let Some(&held) = self.by_name.get(name) {
                return match requested {
                    Some(r) if r != held.get() => Err(AllocError::NameTaken {
                        name: name.to_string(),
                        index: held.get(),
                        requested: r,
                    }),
                    _ => Ok((name.to_string(), held)),
                };
            }
        }
        let index = match requested {
            Some(r) => {
                if let Some(holder) = self.holder(r) {
                    return Err(AllocError::IndexInUse {
                        index: r,
                        holder: holder.to_string(),
                    });
                }
                r
            }
            None => self.lowest_free(candidates).ok_or_else(full)?,
        };
        let index = VmIndex::new(index).map_err(|_| AllocError::IndexOutOfRange {
            index,
            max: crate::layout::MAX_INDEX,
        })?;
        let name = match name {
            Some(n) => n.to_string(),
            None => {
                let generated = format!("vm-{index}");
                if self.by_name.contains_key(&generated) {
                    // `vm-7` names another index: never hand one name two
                    // indices.
                    return Err(AllocError::NameTaken {
                        index: self.by_name[&generated].get(),
                        name: generated,
                        requested: index.get(),
                    });
                }
                generated
            }
        };
        self.by_name.insert(name.clone(), index);
        Ok((name, index))
    }

    /// Checks that every allocation lies in `1..=max` (the layout's pool).
    pub fn check_range(&self, max: u32) -> Result<(), AllocError> {
        match self.by_name.iter().find(|(_, i)| i.get() > max) {
            Some((name, index)) => Err(AllocError::HeldOutOfRange {
                name: name.clone(),
                index: index.get(),
                max,
            }),
            None => Ok(()),
        }
    }

    /// Releases by name, or by index when `query` is a number.
    pub fn release(&mut self, query: &str) -> Result<(String, VmIndex), AllocError> {
        let name = match query.parse::<u32>() {
            Ok(index) => self.holder(index).map(str::to_string),
            Err(_) => self.by_name.contains_key(query).then(|| query.to_string()),
        }
        .ok_or_else(|| AllocError::Unknown(query.to_string()))?;
        let index = self.by_name.remove(&name).expect("found above");
        Ok((name, index))
    }

    /// Every allocation, by index.
    pub fn list(&self) -> Vec<(String, VmIndex)> {
        let mut out: Vec<_> = self.by_name.iter().map(|(n, i)| (n.clone(), *i)).collect();
        out.sort_by_key(|(_, i)| *i);
        out
    }

    /// The index of `name`, if allocated.
    pub fn index_of(&self, name: &str) -> Option<VmIndex> {
        self.by_name.get(name).copied()
    }

    /// Who holds `index`, if anyone.
    pub fn holder(&self, index: u32) -> Option<&str> {
        self.by_name
            .iter()
            .find(|(_, i)| i.get() == index)
            .map(|(n, _)| n.as_str())
    }

    fn lowest_free(&self, candidates: impl IntoIterator<Item = u32>) -> Option<u32> {
        let used: std::collections::BTreeSet<u32> =
            self.by_name.values().map(|i| i.get()).collect();
        candidates.into_iter().find(|i| !used.contains(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_then_requested_then_generated_name() {
        let mut a = Allocations::new();
        assert_eq!(a.allocate(Some("web"), None, 4).unwrap().1.get(), 1);
        assert_eq!(a.allocate(Some("db"), Some(3), 4).unwrap().1.get(), 3);
        assert_eq!(
            a.allocate(None, None, 4).unwrap(),
            ("vm-2".into(), VmIndex::new(2).unwrap())
        );
        assert_eq!(a.allocate(Some("x"), None, 4).unwrap().1.get(), 4);
        assert_eq!(
            a.allocate(Some("y"), None, 4),
            Err(AllocError::PoolFull { max: 4 })
        );
        let names: Vec<_> = a.list().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["web", "vm-2", "db", "x"]);
    }

    #[test]
    fn allocation_is_idempotent_and_conflicts_are_named() {
        let mut a = Allocations::new();
        a.allocate(Some("web"), Some(5), 64).unwrap();
        assert_eq!(a.allocate(Some("web"), None, 64).unwrap().1.get(), 5);
        assert_eq!(a.allocate(Some("web"), Some(5), 64).unwrap().1.get(), 5);
        assert_eq!(
            a.allocate(Some("web"), Some(6), 64),
            Err(AllocError::NameTaken {
                name: "web".into(),
                index: 5,
                requested: 6
            })
        );
        assert_eq!(
            a.allocate(Some("db"), Some(5), 64),
            Err(AllocError::IndexInUse {
                index: 5,
                holder: "web".into()
            })
        );
        assert_eq!(
            a.allocate(Some("db"), Some(65), 64),
            Err(AllocError::IndexOutOfRange { index: 65, max: 64 })
        );
        assert_eq!(
            a.allocate(Some("a b"), None, 64),
            Err(AllocError::BadName("a b".into()))
        );
    }

    #[test]
    fn release_by_name_or_index() {
        let mut a = Allocations::new();
        a.allocate(Some("web"), None, 8).unwrap();
        a.allocate(Some("db"), None, 8).unwrap();
        assert_eq!(a.release("2").unwrap().0, "db");
        assert_eq!(a.release("web").unwrap().1.get(), 1);
        assert_eq!(a.release("web"), Err(AllocError::Unknown("web".into())));
        assert!(a.list().is_empty());
        // A released index is reused first.
        assert_eq!(a.allocate(None, None, 8).unwrap().1.get(), 1);
    }

    #[test]
    fn a_stored_file_that_breaks_the_invariants_is_refused() {
        for (json, says) in [
            (r#"{"web": 1, "web": 2}"#, "\"web\" is listed twice"),
            (
                r#"{"web": 3, "db": 3}"#,
                "VM index 3 is allocated to both \"web\" and \"db\"",
            ),
            (r#"{"web": 0}"#, "holds VM index 0, which is out of range"),
            (r#"{"web": 4294967295}"#, "holds VM index 4294967295"),
            (r#"{"web": 65536}"#, "holds VM index 65536"),
            (r#"{"a b": 1}"#, "not a valid VM name"),
            (r#"{"web": -1}"#, "invalid value"),
            (r#"[1, 2]"#, "an object of VM names"),
        ] {
            let e = serde_json::from_str::<Allocations>(json).unwrap_err();
            assert!(e.to_string().contains(says), "{json}: {e}");
        }
        let ok: Allocations = serde_json::from_str(r#"{"web": 1, "db": 65535}"#).unwrap();
        assert_eq!(ok.index_of("db").unwrap().get(), 65535);
        assert_eq!(
            ok.check_range(255),
            Err(AllocError::HeldOutOfRange {
                name: "db".into(),
                index: 65535,
                max: 255
            })
        );
        assert_eq!(ok.check_range(65535), Ok(()));
    }

    #[test]
    fn a_cluster_host_allocates_only_its_own_indices() {
        let own: Vec<VmIndex> = [65, 66, 70].map(|i| VmIndex::new(i).unwrap()).to_vec();
        let mut a = Allocations::new();
        assert_eq!(a.allocate_own(Some("web"), None, &own).unwrap().1.get(), 65);
        assert_eq!(a.allocate_own(None, Some(70), &own).unwrap().0, "vm-70");
        assert_eq!(
            a.allocate_own(Some("db"), Some(5), &own),
            Err(AllocError::NotThisHosts { index: 5 })
        );
        assert_eq!(a.allocate_own(Some("db"), None, &own).unwrap().1.get(), 66);
        let full = a.allocate_own(Some("x"), None, &own).unwrap_err();
        assert_eq!(full, AllocError::HostFull { count: 3 });
        assert!(
            full.to_string().contains("this host's 3 VM indices"),
            "{full}"
        );
        // Retrying a held name still answers its index.
        assert_eq!(a.allocate_own(Some("web"), None, &own).unwrap().1.get(), 65);
    }

    #[test]
    fn allocations_round_trip_through_json() {
        let mut a = Allocations::new();
        a.allocate(Some("web"), Some(7), 64).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, r#"{"web":7}"#);
        assert_eq!(serde_json::from_str::<Allocations>(&json).unwrap(), a);
    }
}
