//! Reading the kernel and our nft table: for a whole plan, for one VM, or
//! just what a teardown needs. `nft` runs as a process of its own, so it
//! lists on a helper thread while the netlink dumps run on the caller's.

use blixard_addr::VmIndex;
use blixard_addr::diff;
use blixard_addr::plan::HostPlan;
use blixard_addr::state::{ObservedFirewall, ObservedHost};
use blixard_nat::Nft;
use blixard_route::{ObserveScope, Session, VmObserveScope};

use crate::{Host, HostError, joined};

impl Host {
    /// Reads everything of ours (and whatever is in its way) from the kernel.
    pub fn observe(&self, plan: &HostPlan) -> Result<ObservedHost, HostError> {
        self.run(|| observe_here(&self.nft, plan))
    }

    /// Foreign firewall state that would break VM traffic (Docker's FORWARD
    /// DROP, firewalld, iptables-legacy rules), each with its fix.
    pub fn scan(&self, plan: &HostPlan) -> Result<Vec<blixard_nat::Finding>, HostError> {
        self.run(|| Ok(self.nft.scan(&plan.firewall)?))
    }
}

/// Observes in the calling thread's namespace. `nft` runs as a process of
/// its own, so our table is listed while the netlink dumps run.
pub(crate) fn observe_here(nft: &Nft, plan: &HostPlan) -> Result<ObservedHost, HostError> {
    observe_scoped(nft, plan, ObserveScope::for_plan(plan))
}

/// One VM's objects only (see [`Session::observe_vm`] and
/// [`Nft::observe_vm`]), so wiring or unwiring a VM costs the same on a host
/// of 64 VMs or of 4096: the netlink side while `nft` checks the VM's set
/// elements.
pub(crate) fn observe_vm_here(
    nft: &Nft,
    plan: &HostPlan,
    index: VmIndex,
    scope: &VmObserveScope,
) -> Result<ObservedHost, HostError> {
    let vm = diff::firewall_vm_of(plan, index);
    std::thread::scope(|threads| {
        let firewall = threads.spawn(|| match &vm {
            Some(vm) => nft.observe_vm(&plan.firewall.table, vm),
            None => Ok(ObservedFirewall::Absent),
        });
        let kernel = Session::new()
            .map_err(HostError::from)
            .and_then(|mut s| Ok(s.observe_vm(scope, &blixard_tap::tun_info)?));
        let firewall = joined(firewall);
        let mut observed = kernel?;
        observed.firewall = firewall?;
        Ok(observed)
    })
}

/// What [`diff::teardown`] reads: links and routes with their marks, and
/// whether our table exists; no addresses, qdiscs, sysctls or tun details.
pub(crate) fn observe_for_teardown(nft: &Nft, plan: &HostPlan) -> Result<ObservedHost, HostError> {
    observe_scoped(
        nft,
        plan,
        ObserveScope {
            links_and_routes_only: true,
            ..ObserveScope::for_plan(plan)
        },
    )
}

fn observe_scoped(
    nft: &Nft,
    plan: &HostPlan,
    scope: ObserveScope,
) -> Result<ObservedHost, HostError> {
    std::thread::scope(|threads| {
        let firewall = threads.spawn(|| {
            if !scope.links_and_routes_only {
                return nft.observe(&plan.firewall);
            }
            // A teardown only asks whether the table is there: skip
            // rendering the plan's table to compare.
            Ok(if nft.table_exists(&plan.firewall.table)? {
                ObservedFirewall::Differs(vec![
                    "not compared (a teardown only needs to know it exists)".into(),
                ])
            } else {
                ObservedFirewall::Absent
            })
        });
        let kernel = observe_kernel(&scope);
        let firewall = joined(firewall);
        let mut observed = kernel?;
        observed.firewall = firewall?;
        Ok(observed)
    })
}

/// The netlink side of an observation, in the calling thread's namespace;
/// tun details only when the scope asks for more than links and routes.
pub(crate) fn observe_kernel(scope: &ObserveScope) -> Result<ObservedHost, HostError> {
    let mut session = Session::new()?;
    if scope.links_and_routes_only {
        return Ok(session.observe(scope)?);
    }
    // The tun details come out of the same link dump.
    Ok(session.observe_with(scope, &blixard_tap::tun_info)?)
}
