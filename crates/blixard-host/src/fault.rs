//! Test-only fault injection, behind the `fault-injection` feature. Without
//! it the environment is never read and every change is carried out.

use blixard_addr::state::Change;

use crate::HostError;

/// Test-only fault injection, read by [`Host::apply`](crate::Host::apply)
/// when the `fault-injection` feature is on: with `BLIXARD_FAULT_AFTER=k` an
/// apply carries out the first `k` changes of its list (the order `execute`
/// runs them in, one change = one [`Change`]; a pipelined netlink run is cut
/// so that only the first `k` are sent) and then fails with
/// [`HostError::InjectedFault`]. It lets the reliability tests stop an apply
/// between any two changes; nothing else should set it.
#[cfg(feature = "fault-injection")]
pub const FAULT_AFTER_ENV: &str = "BLIXARD_FAULT_AFTER";

/// The changes to carry out, and the error to stop with once they are, when
/// the fault hook cuts the list short.
#[cfg(feature = "fault-injection")]
pub(crate) fn cut(changes: &[Change]) -> (&[Change], Option<HostError>) {
    match std::env::var(FAULT_AFTER_ENV)
        .ok()
        .and_then(|k| k.parse::<usize>().ok())
    {
        Some(k) if k < changes.len() => (
            &changes[..k],
            Some(HostError::InjectedFault {
                done: k,
                total: changes.len(),
            }),
        ),
        _ => (changes, None),
    }
}

/// Every change, no stop: a build without the feature has no hook.
#[cfg(not(feature = "fault-injection"))]
pub(crate) fn cut(changes: &[Change]) -> (&[Change], Option<HostError>) {
    (changes, None)
}
