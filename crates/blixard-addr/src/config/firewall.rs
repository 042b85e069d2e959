//! The `[firewall]` section of the config and the rule endpoints it
//! resolves to.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Accept or drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it through.
    Accept,
    /// Drop it silently.
    Drop,
}

/// Transport protocol of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
}

/// `[firewall]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct FirewallConfig {
    /// Unsolicited connections from outside to a VM.
    pub inbound_default: Action,
    /// What VMs may open to the host itself beyond ICMP, `host_ports` and
    /// replies: `"accept"` lets VMs reach every host port, `"drop"` only
    /// the ports listed in `host_ports`.
    pub host_input_default: Action,
    /// Host TCP/UDP ports VMs may reach (DNS by default); a rule that says
    /// otherwise comes first.
    pub host_ports: Vec<u16>,
    /// Networks VMs may reach besides other VMs and the external interface
    /// (a LAN, a VPN, a container bridge), whatever interface routes them;
    /// routed, not masqueraded. Every other network the host is attached
    /// to is closed to VMs unless a rule names it.
    #[schemars(with = "Vec<String>")]
    pub allow_networks: Vec<IpNet>,
    /// Rules in order; first match wins; they apply to new connections.
    pub rules: Vec<RuleConfig>,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        Self {
            inbound_default: Action::Drop,
            host_input_default: Action::Accept,
            host_ports: vec![53],
            allow_networks: Vec::new(),
            rules: Vec::new(),
        }
    }
}

/// One `[[firewall.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Source: `"vmN"`, `"vmA-vmB"`, `"host"`, `"external"`, `"any"` or a CIDR.
    pub from: String,
    /// Destination, same forms as `from`.
    pub to: String,
    /// What to do with a matching new connection.
    pub action: Action,
    /// Optional protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Optional destination port (needs `protocol` tcp or udp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A parsed rule endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// Any of these VM taps.
    Vms(Vec<String>),
    /// The host itself.
    Host,
    /// Anything beyond the external interface.
    External,
    /// Anything.
    Any,
    /// An address range.
    Cidr(#[schemars(with = "String")] IpNet),
    /// VMs named in a cluster (`[bgp]`) of which some live on other hosts:
    /// the taps of those on this host, the addresses of the others.
    ClusterVms {
        /// Taps of the named VMs this host wires.
        local: Vec<String>,
        /// IPv4 addresses of the named VMs on other hosts.
        #[schemars(with = "Vec<String>")]
        remote_ipv4: Vec<Ipv4Addr>,
        /// Their IPv6 addresses, when VMs have IPv6.
        #[schemars(with = "Vec<String>")]
        remote_ipv6: Vec<Ipv6Addr>,
    },
}
