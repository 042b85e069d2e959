//! Per-VM counters without per-VM rules: four sets keyed by the tap's
//! name, each element with its own counter, each looked up by one constant
//! rule at the point it counts (a lookup that finds an element bumps that
//! element's counter):
//!
//! | set | rule | counts |
//! |---|---|---|
//! | [`SET_TX`] | first rule of `prerouting` (raw) | every IP packet the VM sent, dropped or not |
//! | [`SET_RX`] | chain [`CHAIN_COUNT_RX`] (postrouting, filter) | every IP packet that left by the VM's tap |
//! | [`SET_SPOOFED`] | the anti-spoofing drop | packets with a source not the VM's |
//! | [`SET_DROPPED`] | chain [`CHAIN_FIREWALL_DROP`], where every firewall drop goes | new connections the policy or a rule dropped, from the VM or to it |
//!
//! The sets hold the same taps as [`super::SET_IFACES`], wired and unwired
//! with it.

use blixard_addr::plan::FirewallVm;
use nftables::expr::{Elem, Expression, MetaKey, NamedExpression};
use nftables::stmt::{Counter, JumpTarget, Statement};

use super::expr::{drop, m_eq, meta, s, set_ref};

/// Packets and bytes the VM sent (its transmit side).
pub const SET_TX: &str = "vm_tx";
/// Packets and bytes sent to the VM (its receive side).
pub const SET_RX: &str = "vm_rx";
/// Packets the anti-spoofing check dropped, by the tap they came in by.
pub const SET_SPOOFED: &str = "vm_spoofed";
/// Packets a firewall verdict dropped, by the VM they came from or went to.
pub const SET_DROPPED: &str = "vm_dropped";
/// Every counter set.
pub const COUNTER_SETS: [&str; 4] = [SET_TX, SET_RX, SET_SPOOFED, SET_DROPPED];
/// Chain at hook postrouting (filter): counts what leaves by a tap.
pub const CHAIN_COUNT_RX: &str = "count_rx";
/// Regular chain every firewall drop goes to: counts it for its VM, drops.
pub const CHAIN_FIREWALL_DROP: &str = "firewall_drop";

/// The element of `vm` in a counter set: its tap, with a counter.
pub(super) fn counted(vm: &FirewallVm) -> Expression<'static> {
    Expression::Named(NamedExpression::Elem(Elem {
        val: Box::new(s(&vm.interface)),
        timeout: None,
        expires: None,
        comment: None,
        counter: Some(Counter::Anonymous(None)),
    }))
}

/// `iifname @SET`: a match that only counts (no verdict).
pub(super) fn count_from(set: &str) -> Statement<'static> {
    m_eq(meta(MetaKey::Iifname), set_ref(set))
}

/// `oifname @SET`.
pub(super) fn count_to(set: &str) -> Statement<'static> {
    m_eq(meta(MetaKey::Oifname), set_ref(set))
}

/// The verdict of a firewall drop: counted in [`CHAIN_FIREWALL_DROP`].
pub(super) fn firewall_drop() -> Statement<'static> {
    Statement::Goto(JumpTarget {
        target: CHAIN_FIREWALL_DROP.into(),
    })
}

/// The rules of [`CHAIN_COUNT_RX`] and [`CHAIN_FIREWALL_DROP`]. A drop
/// between two VMs counts for the sender.
pub(super) fn rules() -> Vec<(&'static str, Vec<Statement<'static>>)> {
    vec![
        (CHAIN_COUNT_RX, vec![count_to(SET_RX)]),
        (CHAIN_FIREWALL_DROP, vec![count_from(SET_DROPPED), drop()]),
        (CHAIN_FIREWALL_DROP, vec![count_to(SET_DROPPED), drop()]),
        (CHAIN_FIREWALL_DROP, vec![drop()]),
    ]
}
