//! Per-VM counters read back from our table: one `nft -j list table`, the
//! counter of each tap's element in the four counter sets
//! ([`crate::render::counters`]).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::render::counters::{SET_DROPPED, SET_RX, SET_SPOOFED, SET_TX};
use crate::{NatError, Nft};

/// Packets and bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Packets.
    pub packets: u64,
    /// Bytes (of the IP packets, without link headers).
    pub bytes: u64,
}

/// One VM's counters, from the VM's point of view: `transmit` is what it
/// sent, `receive` what was sent to it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VmCounters {
    /// Its tap (the VM's name in the config: `vm3`).
    pub vm: String,
    /// What the VM sent: every IP packet its tap delivered to the host,
    /// dropped later or not.
    pub transmit: Count,
    /// What left the host by its tap.
    pub receive: Count,
    /// Packets it sent with a source address not its own, dropped.
    pub spoofed_drops: Count,
    /// Packets from it or to it that a firewall verdict dropped (the
    /// defaults and `drop` rules; a drop between two VMs is the sender's).
    pub firewall_drops: Count,
}

impl Nft {
    /// Every wired VM's counters, sorted by tap name; empty when our
    /// table does not exist. Counters start at zero when `apply` writes the
    /// table (a changed config, repaired drift) and when a VM is wired.
    pub fn counters(&self, table: &str) -> Result<Vec<VmCounters>, NatError> {
        Ok(self
            .list_table(table)?
            .map(|listing| counters_of(&listing))
            .unwrap_or_default())
    }
}

/// The counters in a listing of our table.
pub fn counters_of(listing: &Value) -> Vec<VmCounters> {
    let mut by_vm: BTreeMap<String, VmCounters> = BTreeMap::new();
    let sets = listing
        .get("nftables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("set"));
    for set in sets {
        let field: fn(&mut VmCounters) -> &mut Count = match set.get("name").and_then(Value::as_str)
        {
            Some(SET_TX) => |c| &mut c.transmit,
            Some(SET_RX) => |c| &mut c.receive,
            Some(SET_SPOOFED) => |c| &mut c.spoofed_drops,
            Some(SET_DROPPED) => |c| &mut c.firewall_drops,
            _ => continue,
        };
        let elems = set.get("elem").and_then(Value::as_array);
        for e in elems.into_iter().flatten() {
            let Some(e) = e.get("elem") else { continue };
            let Some(vm) = e.get("val").and_then(Value::as_str) else {
                continue;
            };
            let number = |key: &str| {
                e.get("counter")
                    .and_then(|c| c.get(key))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            let entry = by_vm.entry(vm.to_string()).or_insert_with(|| VmCounters {
                vm: vm.to_string(),
                ..VmCounters::default()
            });
            *field(entry) = Count {
                packets: number("packets"),
                bytes: number("bytes"),
            };
        }
    }
    by_vm.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_set_fills_its_field_of_its_vm() {
        let listing = serde_json::json!({"nftables": [
            {"set": {"name": "vm_tx", "elem": [
                {"elem": {"val": "vm2", "counter": {"packets": 3, "bytes": 300}}},
                {"elem": {"val": "vm1", "counter": {"packets": 1, "bytes": 84}}}]}},
            {"set": {"name": "vm_rx", "elem": [
                {"elem": {"val": "vm1", "counter": {"packets": 2, "bytes": 168}}}]}},
            {"set": {"name": "vm_dropped", "elem": [
                {"elem": {"val": "vm2", "counter": {"packets": 5, "bytes": 400}}}]}},
            {"set": {"name": "vm_ifaces", "elem": ["vm1", "vm2", "vm9"]}},
        ]});
        let c = counters_of(&listing);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].vm, "vm1");
        assert_eq!(
            c[0].transmit,
            Count {
                packets: 1,
                bytes: 84
            }
        );
        assert_eq!(
            c[0].receive,
            Count {
                packets: 2,
                bytes: 168
            }
        );
        assert_eq!(c[1].firewall_drops.packets, 5);
        assert_eq!(c[1].spoofed_drops, Count::default());
    }
}
