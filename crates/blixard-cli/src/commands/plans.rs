//! The plans the commands work from: against the host (`apply`, `status`,
//! `wire`), offline (`plan`, `addr`, `doctor`), for rendering (`guest`,
//! `vmm`) or for a teardown (`down`, `unwire`), whole or narrowed to one VM.

use blixard_addr::plan::HostPlan;
use blixard_addr::planner::{HostFacts, ValidConfig};
use blixard_host::{Host, HostError};

use super::{Failure, Loaded};

/// Plans against the host: owner and external interface resolved for real.
pub fn host_plan(host: &Host, loaded: &Loaded) -> Result<HostPlan, Failure> {
    host_plan_for(host, loaded, None)
}

/// [`host_plan`], narrowed to one VM when `only` names it (`wire`).
pub(super) fn host_plan_for(
    host: &Host,
    loaded: &Loaded,
    only: Option<u32>,
) -> Result<HostPlan, Failure> {
    let valid = loaded.validated()?;
    let facts = host.facts(&loaded.config).map_err(|e| loaded.failure(e))?;
    if let Some(ext) = &facts.external_interface {
        check_interface_exists(host, loaded, ext)?;
    }
    plan_with(loaded, valid, &facts, only)
}

/// A named external interface must exist: NAT and `accept_ra` through an
/// interface the host lacks would apply cleanly and silently do nothing.
fn check_interface_exists(host: &Host, loaded: &Loaded, name: &str) -> Result<(), Failure> {
    let found = blixard_netns::run_in(host.netns(), || nix::net::if_::if_nametoindex(name))
        .map_err(|e| Failure::BadInput(format!("--netns: {e}")))?;
    match found {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::ENODEV) => Err(loaded.host_error(
            "external_interface",
            format!(
                "interface {name:?} does not exist in {}; name an existing interface, \"auto\" (the default route's) or \"none\" to disable NAT",
                host.netns()
            ),
        )),
        Err(errno) => Err(Failure::Failed(format!(
            "cannot look up interface {name:?}: {}",
            std::io::Error::from(errno)
        ))),
    }
}

/// Plans without needing the host to answer (for `plan`, `addr`,
/// `doctor`): an unresolvable "auto" external interface is left out.
pub fn offline_plan(host: &Host, loaded: &Loaded) -> Result<HostPlan, Failure> {
    let valid = loaded.validated()?;
    let facts = match host.facts(&loaded.config) {
        Ok(facts) => facts,
        Err(HostError::NoDefaultRoute(_)) => {
            let mut config = loaded.config.clone();
            config.external_interface = "none".into();
            host.facts(&config).map_err(|e| loaded.failure(e))?
        }
        Err(e) => return Err(loaded.failure(e)),
    };
    plan_with(loaded, valid, &facts, None)
}

/// What `down` and `unwire` need: our marks, the layout and the table's
/// name. Teardown never uses the tap owner or the uplink, so neither is
/// resolved (an owner this host cannot resolve must not keep our objects
/// in place).
pub(super) fn teardown_plan(loaded: &Loaded, only: Option<u32>) -> Result<HostPlan, Failure> {
    plan_with(loaded, loaded.validated()?, &HostFacts::default(), only)
}

/// What `guest` and `vmm` render from: VM `index`'s plan, without asking
/// the host (the tap owner and the uplink reach no guest or VMM).
pub(super) fn render_plan(loaded: &Loaded, index: u32) -> Result<HostPlan, Failure> {
    plan_with(
        loaded,
        loaded.validated()?,
        &HostFacts::default(),
        Some(index),
    )
}

/// The plan of the validated config, or with `only` the plan narrowed to
/// that VM (per-VM commands: their cost must not grow with the host).
fn plan_with(
    loaded: &Loaded,
    valid: ValidConfig<'_>,
    facts: &HostFacts,
    only: Option<u32>,
) -> Result<HostPlan, Failure> {
    match only {
        None => valid.plan(facts),
        Some(index) => valid.plan_vm(facts, index),
    }
    .map_err(|e| loaded.config_error(e))
}
