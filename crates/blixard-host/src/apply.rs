//! Whole-host reconcile: `apply` (observe, diff, execute) and `status`
//! (observe, diff, report).

use blixard_addr::bgp::RTPROT_BIRD;
use blixard_addr::diff::{self, DiffOptions};
use blixard_addr::plan::HostPlan;
use blixard_addr::state::ObservedFirewall;
use blixard_route::ObserveScope;

use crate::execute::execute;
use crate::observe::{observe_here, observe_kernel};
use crate::{ApplyOptions, ApplyOutcome, Host, HostError, Status, fault, joined};

impl Host {
    /// Brings the host to `plan`, changing only what differs. A conflict
    /// with a foreign object changes nothing.
    pub fn apply(&self, plan: &HostPlan, opts: &ApplyOptions) -> Result<ApplyOutcome, HostError> {
        self.run(|| {
            std::thread::scope(|threads| {
                // `nft` runs as a process of its own: a helper thread (which
                // starts in this thread's namespace) lists the ruleset once
                // while the netlink dumps run here, and from that one listing
                // compares our table and scans the foreign ones (the scan
                // skips our table, so it holds before and after the apply).
                let (listed, listing) = std::sync::mpsc::channel();
                let nft = threads.spawn(move || match self.nft.observe_and_scan(&plan.firewall) {
                    Ok((firewall, findings)) => {
                        let _ = listed.send(Ok(firewall));
                        Ok::<_, blixard_nat::NatError>(findings)
                    }
                    Err(e) => {
                        // The apply fails on this error; no findings to add.
                        let _ = listed.send(Err(e));
                        Ok(Vec::new())
                    }
                });
                let kernel = observe_kernel(&ObserveScope::for_plan(plan));
                let Ok(firewall) = listing.recv() else {
                    // The helper died before sending: its panic is ours.
                    std::panic::resume_unwind(nft.join().expect_err("no listing sent"))
                };
                let mut observed = kernel?;
                observed.firewall = firewall?;
                let (changes, left_as_is) = diff::reconcile(
                    plan,
                    &observed,
                    &DiffOptions {
                        allow_recreate: opts.allow_recreate,
                    },
                )
                .into_changes()?;
                if !opts.dry_run {
                    let (todo, stop) = fault::cut(&changes);
                    execute(&self.nft, todo)?;
                    if let Some(stop) = stop {
                        return Err(stop);
                    }
                }
                // An accept in our table cannot override a drop elsewhere on
                // the same hook: say so now, not when the first VM is unreachable.
                let warnings = match joined(nft) {
                    Ok(findings) => findings.iter().map(ToString::to_string).collect(),
                    Err(e) => vec![format!("could not scan for foreign firewall rules: {e}")],
                };
                Ok(ApplyOutcome {
                    applied: !opts.dry_run,
                    changes,
                    left_as_is,
                    warnings,
                })
            })
        })
    }

    /// The differences between the host and the plan.
    pub fn status(&self, plan: &HostPlan) -> Result<Status, HostError> {
        self.run(|| {
            let observed = observe_here(&self.nft, plan)?;
            let found = diff::reconcile(plan, &observed, &DiffOptions::default());
            let firewall_differences = match observed.firewall {
                ObservedFirewall::Differs(what) => what,
                ObservedFirewall::Absent | ObservedFirewall::InSync => Vec::new(),
            };
            let mut conflicts = found.in_the_way;
            conflicts.extend(found.left_as_is);
            let bird_routes = match plan.bgp {
                Some(_) => observed
                    .routes
                    .iter()
                    .filter(|r| r.protocol == RTPROT_BIRD)
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            Ok(Status {
                drift: found.changes,
                firewall_differences,
                conflicts,
                bird_routes,
            })
        })
    }
}
