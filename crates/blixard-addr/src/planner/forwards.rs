//! `[[forwards]]` checked and resolved: each names a planned VM of the
//! layout, TCP or UDP, real ports, an address of a family the VMs have,
//! and no two share a host address, port and protocol.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::config::{Config, Protocol};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::layout::{Layout, VmIndex};
use crate::plan::{FirewallVm, ForwardPlan};

pub(super) fn resolve_forwards(
    config: &Config,
    layout: &Layout,
    planned: &[VmIndex],
) -> Result<Vec<ForwardPlan>, ConfigError> {
    let ipv6 = config.ipv6.enabled;
    let mut seen: HashMap<(Option<IpAddr>, u16, Protocol), usize> = HashMap::new();
    let mut out = Vec::with_capacity(config.forwards.len());
    for (i, f) in config.forwards.iter().enumerate() {
        let key = |field: &str| format!("forwards[{i}].{field}");
        let bad = |field: &str, reason: String| {
            ConfigError::at_key(key(field), ConfigErrorKind::BadForward { reason })
        };
        for (field, port) in [("host_port", f.host_port), ("port", f.port)] {
            if port == 0 {
                return Err(ConfigError::at_key(key(field), ConfigErrorKind::PortZero));
            }
        }
        if f.protocol == Protocol::Icmp {
            return Err(bad(
                "protocol",
                "ICMP has no ports; forward \"tcp\" or \"udp\"".into(),
            ));
        }
        let Some(index) = layout.index_of_interface(&f.vm) else {
            return Err(bad(
                "vm",
                format!(
                    "{:?} is no VM of the layout: name one as rules do, {} to {}",
                    f.vm,
                    layout.interface_name(1),
                    layout.interface_name(layout.max_index())
                ),
            ));
        };
        if planned.binary_search(&index).is_err() {
            return Err(ConfigError::at_key(
                key("vm"),
                ConfigErrorKind::VmNotPlanned {
                    selector: f.vm.clone(),
                    index: index.get(),
                },
            ));
        }
        if let Some(address) = f.address {
            if address.is_ipv6() && !ipv6 {
                return Err(bad(
                    "address",
                    format!("{address} is IPv6 and VMs have no IPv6 (ipv6.enabled = false)"),
                ));
            }
            if address.is_unspecified() || address.is_multicast() || address.is_loopback() {
                return Err(bad(
                    "address",
                    format!(
                        "{address} is no address a connection is made to; leave `address` out to forward every address of the host"
                    ),
                ));
            }
        }
        if let Some(&earlier) = seen.get(&(f.address, f.host_port, f.protocol)) {
            return Err(ConfigError::at_key(
                format!("forwards[{i}]"),
                ConfigErrorKind::DuplicateForward { earlier },
            ));
        }
        seen.insert((f.address, f.host_port, f.protocol), i);
        let vm = layout
            .vm(index)
            .map_err(|e| ConfigError::at_key(key("vm"), e))?;
        out.push(ForwardPlan::new(
            f.protocol,
            f.address,
            f.host_port,
            FirewallVm::new(&vm, ipv6),
            f.port,
        ));
    }
    Ok(out)
}
