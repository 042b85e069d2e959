//! What the operations take and return: their options, what they did, and
//! how a host differs from a plan. Each may grow fields (`#[non_exhaustive]`):
//! build options with `ApplyOptions::default()` and the `with_` methods.

use blixard_addr::state::{Change, Conflict, ObservedRoute};
use serde::Serialize;

/// Knobs for [`Host::apply`](crate::Host::apply) and
/// [`Host::wire_vm`](crate::Host::wire_vm).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Compute and return the changes, change nothing.
    pub dry_run: bool,
    /// Recreate taps whose flags differ from the plan (disrupts a running VM).
    pub allow_recreate: bool,
}

impl ApplyOptions {
    /// These options with [`dry_run`](Self::dry_run) set to `dry_run`.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// These options with [`allow_recreate`](Self::allow_recreate) set.
    pub fn with_allow_recreate(mut self, allow_recreate: bool) -> Self {
        self.allow_recreate = allow_recreate;
        self
    }
}

/// What an apply did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ApplyOutcome {
    /// The changes, in the order carried out.
    pub changes: Vec<Change>,
    /// Whether they were carried out.
    pub applied: bool,
    /// VMs left as they are, each with why (a VMM holds a tap that would
    /// need recreating, ...): everything else was reconciled around them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_as_is: Vec<Conflict>,
    /// Foreign firewall state that will drop VM traffic even though the
    /// apply succeeded (Docker's FORWARD DROP, ...), each with its fix. Only
    /// `apply` fills it; a scan that fails is itself a warning.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl ApplyOutcome {
    /// `changes`, carried out or not, with nothing left as it is and no
    /// warning (what every operation but a whole-host apply reports).
    pub(crate) fn just(changes: Vec<Change>, applied: bool) -> Self {
        Self {
            changes,
            applied,
            left_as_is: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// How a host differs from a plan.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Status {
    /// The changes `apply` would make, in order (empty: in sync).
    pub drift: Vec<Change>,
    /// What differs inside our nft table, when it exists but differs (the
    /// single `ReplaceFirewall` change in `drift` does not say).
    pub firewall_differences: Vec<String>,
    /// What `apply` would leave as it is or refuse over: per-VM conflicts
    /// (a held tap) and foreign objects in the way. A report, not an error.
    pub conflicts: Vec<Conflict>,
    /// With `[bgp]`, the kernel's routes of BIRD's protocol (the peers'
    /// routes and our blocks' blackholes), for the BGP report.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bird_routes: Vec<ObservedRoute>,
}

impl Status {
    /// Whether the host matches the plan.
    pub fn in_sync(&self) -> bool {
        self.drift.is_empty() && self.conflicts.is_empty()
    }
}
