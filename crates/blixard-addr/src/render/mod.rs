//! Guest and VMM configuration for one VM: the guest's own network
//! ([`networkd`], [`nixos`], [`cloud_init`], [`shell`]) and the arguments
//! that hand its tap to a VMM ([`firecracker`], [`cloud_hypervisor`],
//! [`qemu`]).

use std::net::IpAddr;

use crate::config::{Config, TapConfig};
use crate::layout::Vm;

mod guest;
mod quote;
mod vmm;

pub use guest::{GUEST_INTERFACE, cloud_init, ip_commands, networkd, nixos, shell};
pub use quote::shell_quote;
pub use vmm::{RenderError, cloud_hypervisor, firecracker, qemu};

/// What a renderer needs: the VM, its DNS servers and the tap settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuestNetwork {
    /// The VM's mapping.
    pub vm: Vm,
    /// DNS servers for the guest.
    pub dns: Vec<IpAddr>,
    /// Tap settings (queues, multi-queue).
    pub tap: TapConfig,
    /// Whether the guest gets its IPv6 address.
    pub ipv6: bool,
}

impl GuestNetwork {
    /// The guest network of `vm` under `config`.
    pub fn from_config(vm: Vm, config: &Config) -> Self {
        Self {
            vm,
            dns: config.dns.clone(),
            tap: config.tap.clone(),
            ipv6: config.ipv6.enabled,
        }
    }

    /// IPv4 DNS servers first, then IPv6 ones (left out without IPv6).
    fn dns(&self) -> impl Iterator<Item = &IpAddr> {
        self.dns.iter().filter(|d| self.ipv6 || d.is_ipv4())
    }

    fn multi_queue(&self) -> bool {
        self.tap.queues > 1
    }
}

#[cfg(test)]
mod tests;
