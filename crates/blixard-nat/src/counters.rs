//! Per-VM counters read back from our table: the counter of each tap's
//! element in the four counter sets ([`crate::render::counters`]), dumped
//! over netlink (`GETSETELEM`, a few milliseconds); `nft -j list table`
//! when that cannot answer (an element it cannot read),
//! which at 4096 VMs takes half a second of `nft` printing every element.

use std::collections::BTreeMap;

use blixard_netlink::{NetlinkSocket, protocols::NETLINK_NETFILTER};
use serde::Serialize;
use serde_json::Value;

use crate::listing::{data_value, dump_set, ifname_text};
use crate::nfnl::{
    NFTA_COUNTER_BYTES, NFTA_COUNTER_PACKETS, NFTA_EXPR_DATA, NFTA_EXPR_NAME, NFTA_LIST_ELEM,
    NFTA_SET_ELEM_EXPR, NFTA_SET_ELEM_EXPRESSIONS, NFTA_SET_ELEM_KEY, NfTablesMessage, attributes,
    table_exists,
};
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
        if let Some(counters) = counters_over_netlink(table) {
            return Ok(counters);
        }
        Ok(self
            .list_table(table)?
            .map(|listing| counters_of(&listing))
            .unwrap_or_default())
    }
}

/// Where a counting set's counter goes in a VM's counters.
type Field = fn(&mut VmCounters) -> &mut Count;

/// The four sets, and where each one's counter goes.
const COUNTING_SETS: [(&str, Field); 4] = [
    (SET_TX, |c| &mut c.transmit),
    (SET_RX, |c| &mut c.receive),
    (SET_SPOOFED, |c| &mut c.spoofed_drops),
    (SET_DROPPED, |c| &mut c.firewall_drops),
];

fn entry<'a>(by_vm: &'a mut BTreeMap<String, VmCounters>, vm: &str) -> &'a mut VmCounters {
    by_vm.entry(vm.to_string()).or_insert_with(|| VmCounters {
        vm: vm.to_string(),
        ..VmCounters::default()
    })
}

/// [`Nft::counters`] from one element dump per set (a missing set dumps
/// empty, as the listing would show it); `None` when it cannot answer and
/// the listing must (any failure is the listing's to report).
fn counters_over_netlink(table: &str) -> Option<Vec<VmCounters>> {
    let mut nl = NetlinkSocket::<NfTablesMessage>::open(NETLINK_NETFILTER).ok()?;
    if !table_exists(&mut nl, table).ok()? {
        return Some(Vec::new());
    }
    let mut by_vm = BTreeMap::new();
    for (set, field) in COUNTING_SETS {
        for (vm, count) in dump_set(&mut nl, table, set, counted).ok()?? {
            *field(entry(&mut by_vm, &vm)) = count;
        }
    }
    Some(by_vm.into_values().collect())
}

/// One element's tap and counter.
fn counted(element: &[u8]) -> Option<(String, Count)> {
    let mut vm = None;
    let mut count = None;
    for item in attributes(element) {
        let (kind, payload) = item.ok()?;
        match kind {
            NFTA_SET_ELEM_KEY => vm = ifname_text(data_value(payload)?),
            // One expression per element comes alone, several as a list.
            NFTA_SET_ELEM_EXPR => count = count.or(counter(payload)),
            NFTA_SET_ELEM_EXPRESSIONS => {
                for item in attributes(payload) {
                    let (kind, expr) = item.ok()?;
                    if kind == NFTA_LIST_ELEM {
                        count = count.or(counter(expr));
                    }
                }
            }
            _ => {}
        }
    }
    Some((vm?, count?))
}

/// A `counter` expression's values (big-endian 64-bit); `None` for any
/// other expression.
fn counter(expr: &[u8]) -> Option<Count> {
    let mut is_counter = false;
    let mut count = Count::default();
    for item in attributes(expr) {
        let (kind, payload) = item.ok()?;
        match kind {
            NFTA_EXPR_NAME => is_counter = payload.strip_suffix(&[0]) == Some(b"counter"),
            NFTA_EXPR_DATA => {
                for item in attributes(payload) {
                    let (kind, value) = item.ok()?;
                    // Beside the values, a padding attribute aligns them.
                    let value = || value.try_into().ok().map(u64::from_be_bytes);
                    match kind {
                        NFTA_COUNTER_BYTES => count.bytes = value()?,
                        NFTA_COUNTER_PACKETS => count.packets = value()?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    is_counter.then_some(count)
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
        let name = set.get("name").and_then(Value::as_str);
        let Some((_, field)) = COUNTING_SETS.iter().find(|(set, _)| Some(*set) == name) else {
            continue;
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
            *field(entry(&mut by_vm, vm)) = Count {
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

    use blixard_netns::testing::{in_fresh_netns, sh_ok};

    /// The four sets, with counter values only nft's text syntax can set.
    fn table_with_counts(table: &str, sets: &[&str]) {
        sh_ok(&format!("nft add table inet {table}"));
        for (i, set) in sets.iter().enumerate() {
            let n = i + 1;
            sh_ok(&format!(
                "nft add set inet {table} {set} '{{ type ifname; counter; }}' && \
                 nft add element inet {table} {set} '{{ \"vm1\" counter packets {n} bytes {}, \
                 \"vm22\" counter packets 0 bytes 0 }}'",
                n * 100
            ));
        }
    }

    #[test]
    fn the_netlink_read_decodes_every_sets_counters_and_agrees_with_the_listing() {
        in_fresh_netns("counters_over_netlink", || {
            assert_eq!(counters_over_netlink("bx"), Some(Vec::new()), "no table");
            table_with_counts("bx", &[SET_TX, SET_RX, SET_SPOOFED, SET_DROPPED]);
            let fast = counters_over_netlink("bx").expect("the netlink read answers");
            let c = |packets, bytes| Count { packets, bytes };
            assert_eq!(
                fast[0],
                VmCounters {
                    vm: "vm1".into(),
                    transmit: c(1, 100),
                    receive: c(2, 200),
                    spoofed_drops: c(3, 300),
                    firewall_drops: c(4, 400),
                }
            );
            assert_eq!(fast[1].vm, "vm22");
            assert_eq!(fast[1].firewall_drops, Count::default());
            let listed = Nft::new().list_table("bx").unwrap().unwrap();
            assert_eq!(fast, counters_of(&listed));

            // A set missing (drift): zeros there, as the listing has it.
            sh_ok(&format!("nft delete set inet bx {SET_RX}"));
            let partial = counters_over_netlink("bx").expect("the netlink read answers");
            assert_eq!(partial[0].receive, Count::default());
            assert_eq!(partial[0].spoofed_drops, c(3, 300));
            let listed = Nft::new().list_table("bx").unwrap().unwrap();
            assert_eq!(partial, counters_of(&listed));
        });
    }
}
