//! What a cluster host's BIRD configuration depends on from the kernel:
//! which of its VMs outside its blocks are wired now (those are announced
//! alone). Read per VM, so the cost follows those few VMs, not the host.

use std::collections::BTreeSet;

use blixard_addr::VmIndex;
use blixard_addr::diff;
use blixard_addr::plan::HostPlan;
use blixard_route::{Session, VmObserveScope};

use crate::{Host, HostError};

impl Host {
    /// Which of `indices` are wired here now: their tap exists and is ours.
    pub fn wired_among(
        &self,
        plan: &HostPlan,
        indices: &[VmIndex],
    ) -> Result<BTreeSet<VmIndex>, HostError> {
        self.run(|| {
            let mut session = Session::new()?;
            let mut wired = BTreeSet::new();
            for &index in indices {
                let Ok(vm) = plan.layout.vm(index) else {
                    continue;
                };
                let scope = VmObserveScope {
                    interface: vm.interface,
                    ..VmObserveScope::default()
                };
                let seen = session.observe_vm(&scope, &blixard_tap::tun_info)?;
                if seen.links.iter().any(|l| diff::is_ours(l, &plan.ownership)) {
                    wired.insert(index);
                }
            }
            Ok(wired)
        })
    }
}
