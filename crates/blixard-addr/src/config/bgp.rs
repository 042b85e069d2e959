//! The `[bgp]` section: this host in a cluster of hosts that route their
//! VMs to each other through BGP (a BIRD 2 daemon on each host).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `[bgp]`: present, it makes `vms` this host's share of the cluster's
/// pools (unique across the cluster) and `blixard-net bgp config` a BIRD 2
/// configuration announcing them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BgpConfig {
    /// This host's AS number (the same on every host for an iBGP mesh).
    pub asn: u32,
    /// This host's BGP router id, also the address its sessions come from
    /// and the IPv4 next hop its peers route its VMs through.
    #[schemars(with = "String")]
    pub router_id: Ipv4Addr,
    /// The IPv6 next hop peers route this host's VMs through; default: the
    /// host's global IPv6 address on the link to each peer (that link then
    /// needs one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub ipv6_next_hop: Option<Ipv6Addr>,
    /// The BGP sessions, one per peer: the other hosts of an iBGP mesh, or
    /// top-of-rack routers (eBGP).
    #[serde(default)]
    pub peers: Vec<BgpPeerConfig>,
    /// Where `apply`, `wire` and `unwire` write the BIRD configuration
    /// (absolute); unset, they write none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub bird_config: Option<PathBuf>,
    /// The running BIRD's control socket (absolute): when the written
    /// configuration changed, `birdc -s SOCKET configure` reloads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub bird_socket: Option<PathBuf>,
}

impl BgpConfig {
    /// AS `asn`, router id `router_id`, no peers and no files: for configs
    /// built in code.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        Self {
            asn,
            router_id,
            ipv6_next_hop: None,
            peers: Vec::new(),
            bird_config: None,
            bird_socket: None,
        }
    }
}

/// `[[bgp.peers]]`: one BGP session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BgpPeerConfig {
    /// The peer's address, on a link this host is attached to.
    #[schemars(with = "String")]
    pub address: Ipv4Addr,
    /// The peer's AS: this host's for iBGP, another for eBGP.
    pub asn: u32,
}

impl BgpPeerConfig {
    /// A session with `address` in AS `asn`.
    pub fn new(address: Ipv4Addr, asn: u32) -> Self {
        Self { address, asn }
    }
}
