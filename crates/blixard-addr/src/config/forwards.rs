//! `[[forwards]]`: ports of the host forwarded to a VM (DNAT), from the
//! external interface, from the host itself and from other VMs (hairpin).

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Protocol;

/// One `[[forwards]]` entry: connections to `address:host_port` (every
/// address of the host without `address`) are sent to `vm`'s `port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ForwardConfig {
    /// The port on the host.
    pub host_port: u16,
    /// The VM, named as rules name it (`"vm3"`).
    pub vm: String,
    /// The VM's port.
    pub port: u16,
    /// `"tcp"` or `"udp"`.
    pub protocol: Protocol,
    /// Only connections to this host address (IPv4 or IPv6); without it,
    /// every address of the host, both families when VMs have IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub address: Option<IpAddr>,
}

impl ForwardConfig {
    /// `host_port` of every host address to `vm`'s `port`.
    pub fn new(host_port: u16, vm: impl Into<String>, port: u16, protocol: Protocol) -> Self {
        Self {
            host_port,
            vm: vm.into(),
            port,
            protocol,
            address: None,
        }
    }

    /// The same forward, only for connections to `address`.
    pub fn at(mut self, address: IpAddr) -> Self {
        self.address = Some(address);
        self
    }
}
