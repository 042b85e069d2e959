//! Config -> `HostPlan`.

use crate::config::Config;
use crate::plan::HostPlan;

/// Facts about the host that only the effect side can learn (user names,
/// the default route), resolved before planning so planning stays pure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostFacts {
    /// Tap owner uid (resolved from `owner`).
    pub owner_uid: Option<u32>,
    /// Tap group gid (resolved from `group`).
    pub group_gid: Option<u32>,
    /// External interface (resolved from `external_interface`, `"auto"`).
    pub external_interface: Option<String>,
}

/// Builds the plan. TODO(addr helper): validation with typed errors.
pub fn build_plan(_config: &Config, _facts: &HostFacts) -> HostPlan {
    todo!("blixard-addr: build_plan")
}
