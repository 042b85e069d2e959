//! Guest and VMM configuration for one VM: the guest's own network
//! ([`networkd`], [`nixos`], [`cloud_init`], [`shell`]) and the arguments
//! that hand its tap to a VMM ([`firecracker`], [`cloud_hypervisor`],
//! [`qemu`]).

use std::net::IpAddr;

use crate::layout::Vm;
use crate::plan::{HostPlan, TapPlan};

mod guest;
mod quote;
mod vmm;

pub use guest::{GUEST_INTERFACE, cloud_init, ip_commands, networkd, nixos, shell};
pub use quote::shell_quote;
pub use vmm::{RenderError, cloud_hypervisor, firecracker, qemu};

/// What a renderer needs: the VM, and what the plan hands every guest and
/// VMM ([`crate::plan::GuestPlan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuestNetwork {
    /// The VM's mapping.
    pub vm: Vm,
    /// DNS servers for the guest (IPv6 ones only with IPv6).
    pub dns: Vec<IpAddr>,
    /// The flags the VMM opens the tap with (the planned tap's).
    pub tap: TapPlan,
    /// Queue pairs the VMM opens.
    pub queues: u16,
    /// Whether the guest gets its IPv6 address.
    pub ipv6: bool,
}

impl GuestNetwork {
    /// The guest network of `vm` (any VM of `plan.layout`, wired or not)
    /// under `plan`.
    pub fn new(plan: &HostPlan, vm: Vm) -> Self {
        Self {
            vm,
            dns: plan.guest.dns.clone(),
            tap: plan.guest.tap.clone(),
            queues: plan.guest.queues,
            ipv6: plan.ipv6_enabled(),
        }
    }

    fn multi_queue(&self) -> bool {
        self.queues > 1
    }
}

#[cfg(test)]
mod tests;
