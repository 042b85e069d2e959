//! Wiring and unwiring one VM: observe only that VM's objects, diff, and
//! execute, touching no other VM (so the cost does not grow with the host).

use blixard_addr::VmIndex;
use blixard_addr::diff::{self, DiffOptions};
use blixard_addr::plan::HostPlan;
use blixard_route::VmObserveScope;

use crate::execute::execute;
use crate::observe::observe_vm_here;
use crate::{ApplyOptions, ApplyOutcome, Host, HostError};

impl Host {
    /// Wires one VM (its tap, addresses, routes, firewall set elements),
    /// touching no other VM.
    pub fn wire_vm(
        &self,
        plan: &HostPlan,
        index: VmIndex,
        opts: &ApplyOptions,
    ) -> Result<ApplyOutcome, HostError> {
        self.run(|| {
            let scope = match plan.link(index) {
                Some(link) => VmObserveScope::for_link(plan, link),
                // Not planned: the diff says so, nothing to look at.
                None => VmObserveScope::default(),
            };
            let observed = observe_vm_here(&self.nft, plan, index, &scope)?;
            let changes = diff::wire_vm(
                plan,
                index,
                &observed,
                &DiffOptions {
                    allow_recreate: opts.allow_recreate,
                },
            )?;
            if !opts.dry_run {
                execute(&self.nft, &changes)?;
            }
            Ok(ApplyOutcome::just(changes, !opts.dry_run))
        })
    }

    /// Removes one VM's tap and firewall set elements, touching no other VM.
    pub fn unwire_vm(
        &self,
        plan: &HostPlan,
        index: VmIndex,
        dry_run: bool,
    ) -> Result<ApplyOutcome, HostError> {
        self.run(|| {
            let Ok(vm) = plan.layout.vm(index) else {
                return Ok(ApplyOutcome::just(Vec::new(), !dry_run));
            };
            let scope = VmObserveScope {
                interface: vm.interface,
                ifb: Some(blixard_addr::plan::ifb_name(index.get())),
                ..VmObserveScope::default()
            };
            let observed = observe_vm_here(&self.nft, plan, index, &scope)?;
            let changes = diff::unwire_vm(plan, index, &observed);
            if !dry_run {
                execute(&self.nft, &changes)?;
            }
            Ok(ApplyOutcome::just(changes, !dry_run))
        })
    }
}
