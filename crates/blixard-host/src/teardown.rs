//! `down`: remove everything of ours, best effort, and nothing else.

use blixard_addr::diff;
use blixard_addr::plan::HostPlan;
use blixard_addr::state::{Change, Executor};

use crate::execute::execute_in_order;
use crate::observe::observe_for_teardown;
use crate::{ApplyOutcome, Host, HostError, joined};

impl Host {
    /// Removes everything of ours — taps, their addresses and routes, our nft
    /// table — and nothing else. Best effort: every step is tried, and the
    /// failures are reported together.
    pub fn down(&self, plan: &HostPlan, dry_run: bool) -> Result<ApplyOutcome, HostError> {
        self.run(|| {
            let observed = observe_for_teardown(&self.nft, plan)?;
            let changes = diff::teardown(&plan.ownership, &observed);
            if !dry_run {
                let each = |changes: &[Change]| -> Vec<String> {
                    changes
                        .iter()
                        .filter_map(|c| execute_in_order(&self.nft, std::slice::from_ref(c)).err())
                        .map(|e| e.to_string())
                        .collect()
                };
                // Deleting the table does not depend on the links: let nft
                // do it while the kernel unregisters the taps.
                let (firewall, kernel): (Vec<Change>, Vec<Change>) = changes
                    .iter()
                    .cloned()
                    .partition(|c| c.executor() == Executor::Firewall);
                let errors: Vec<String> = std::thread::scope(|scope| {
                    let firewall = scope.spawn(|| each(&firewall));
                    let mut errors = each(&kernel);
                    errors.extend(joined(firewall));
                    errors
                });
                if !errors.is_empty() {
                    return Err(HostError::Teardown(errors));
                }
            }
            Ok(ApplyOutcome::just(changes, !dry_run))
        })
    }
}
