//! A host in a cluster routed by BGP: which prefixes it announces (its
//! blocks, and its VMs outside them), which it accepts, and the BIRD 2
//! configuration that does it ([`bird`]).
//!
//! Each host owns a share of the cluster's pools (its `vms`, unique across
//! the cluster). The largest aligned runs of at least two of its indices
//! are its blocks: each is announced as one prefix per family and
//! blackholed locally (a VM's own /32 and /128 routes are more specific),
//! so an address of the block that no VM holds is dropped here rather than
//! sent back out. An index in no block (a range's odd end, or a VM moved
//! here from another host's block) is announced as its /32 and /128 only
//! while it is wired here. Index 0, the gateway address every host holds,
//! is in no block and never announced.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

use crate::config::{BgpConfig, Config};
use crate::error::{BgpRole, ConfigError, ConfigErrorKind};
use crate::layout::{Layout, VmIndex};

pub mod bird;
mod blocks;
pub mod report;

/// Linux's route protocol number of BIRD (`RTPROT_BIRD`): every route BIRD
/// installs carries it (`ip route` shows `proto bird`).
pub const RTPROT_BIRD: u8 = 12;

/// The kernel metric of the routes BIRD installs: above the kernel's
/// default IPv6 metric (1024) and IPv4's (0), so that a VM wired here keeps
/// its own route over a peer's stale announcement of it while it moves,
/// and recognisable beside other routes of BIRD's protocol.
pub const BIRD_KERNEL_METRIC: u32 = 2048;

/// What a host announces and accepts over BGP, and where its BIRD is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BgpPlan {
    /// This host's AS.
    pub asn: u32,
    /// Router id, the sessions' source address and the IPv4 next hop.
    pub router_id: Ipv4Addr,
    /// The IPv6 next hop, when the config names one.
    pub ipv6_next_hop: Option<Ipv6Addr>,
    /// One session each, in the config's order.
    pub peers: Vec<BgpPeer>,
    /// The cluster's IPv4 pool: only prefixes inside it are accepted.
    pub ipv4_pool: Ipv4Net,
    /// The cluster's IPv6 pool, when VMs have IPv6.
    pub ipv6_pool: Option<Ipv6Net>,
    /// This host's blocks, by first index.
    pub blocks: Vec<Block>,
    /// This host's VMs in no block, by index: each announced alone while
    /// it is wired here.
    pub lone_vms: Vec<LoneVm>,
    /// Where the BIRD configuration is written, if anywhere.
    pub bird_config: Option<PathBuf>,
    /// The running BIRD's control socket, if it is to be reloaded.
    pub bird_socket: Option<PathBuf>,
}

/// One BGP session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BgpPeer {
    /// The peer's address.
    pub address: Ipv4Addr,
    /// The peer's AS.
    pub asn: u32,
}

impl BgpPeer {
    /// The name of its session in BIRD (`birdc show protocols`), e.g.
    /// `blixard_peer_198_51_100_1`.
    pub fn protocol_name(&self) -> String {
        let [a, b, c, d] = self.address.octets();
        format!("blixard_peer_{a}_{b}_{c}_{d}")
    }
}

/// An aligned run of a host's indices, announced as one prefix per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Block {
    /// Its first index (a multiple of its size).
    pub first: VmIndex,
    /// How many indices it holds (a power of two, at least 2).
    pub size: u32,
    /// Its IPv4 prefix.
    pub ipv4: Ipv4Net,
    /// Its IPv6 prefix, when VMs have IPv6.
    pub ipv6: Option<Ipv6Net>,
}

impl Block {
    /// Whether the block holds `index`.
    pub fn contains(&self, index: VmIndex) -> bool {
        (self.first.get()..self.first.get() + self.size).contains(&index.get())
    }
}

/// A VM of the host in none of its blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LoneVm {
    /// Its index.
    pub index: VmIndex,
    /// Its /32.
    pub ipv4: Ipv4Net,
    /// Its /128, when VMs have IPv6.
    pub ipv6: Option<Ipv6Net>,
}

impl BgpPlan {
    /// Every VM outside the blocks: what is announced when all of the
    /// host's VMs are wired (after `apply`).
    pub fn all_lone(&self) -> BTreeSet<VmIndex> {
        self.lone_vms.iter().map(|v| v.index).collect()
    }

    /// The gateway addresses (index 0), which are never announced nor
    /// accepted: every host holds them.
    pub fn gateways(&self) -> (Ipv4Addr, Option<Ipv6Addr>) {
        (
            self.ipv4_pool.network(),
            self.ipv6_pool.map(|p| p.network()),
        )
    }
}

/// The BGP plan of `config` (`None` without `[bgp]`), from its layout and
/// its VM indices, validated: every error names its `bgp.` key.
pub(crate) fn resolve(
    config: &Config,
    layout: &Layout,
    indices: &[VmIndex],
) -> Result<Option<BgpPlan>, ConfigError> {
    let Some(bgp) = &config.bgp else {
        return Ok(None);
    };
    let ipv6_pool = config.ipv6.enabled.then(|| layout.ipv6_pool());
    validate(bgp, layout.ipv4_pool(), ipv6_pool)?;
    let v4_net = |first: u32, bits: u8| {
        Ipv4Net::new(
            Ipv4Addr::from(u32::from(layout.ipv4_pool().network()) + first),
            32 - bits,
        )
        .expect("an aligned prefix inside the pool")
    };
    let v6_net = |first: u32, bits: u8| {
        ipv6_pool.map(|pool| {
            Ipv6Net::new(
                Ipv6Addr::from(u128::from(pool.network()) + u128::from(first)),
                128 - bits,
            )
            .expect("an aligned prefix inside the pool")
        })
    };
    let (runs, alone) = blocks::aligned_runs(indices);
    let blocks = runs
        .iter()
        .map(|run| Block {
            first: VmIndex::new(run.first).expect("a run starts at a VM's index"),
            size: 1 << run.bits,
            ipv4: v4_net(run.first, run.bits),
            ipv6: v6_net(run.first, run.bits),
        })
        .collect();
    let lone_vms = alone
        .into_iter()
        .map(|index| LoneVm {
            index,
            ipv4: v4_net(index.get(), 0),
            ipv6: v6_net(index.get(), 0),
        })
        .collect();
    Ok(Some(BgpPlan {
        asn: bgp.asn,
        router_id: bgp.router_id,
        ipv6_next_hop: bgp.ipv6_next_hop,
        peers: bgp
            .peers
            .iter()
            .map(|p| BgpPeer {
                address: p.address,
                asn: p.asn,
            })
            .collect(),
        ipv4_pool: layout.ipv4_pool(),
        ipv6_pool,
        blocks,
        lone_vms,
        bird_config: bgp.bird_config.clone(),
        bird_socket: bgp.bird_socket.clone(),
    }))
}

fn validate(
    bgp: &BgpConfig,
    ipv4_pool: Ipv4Net,
    ipv6_pool: Option<Ipv6Net>,
) -> Result<(), ConfigError> {
    check_asn(bgp.asn).map_err(|k| ConfigError::at_key("bgp.asn", k))?;
    check_ipv4(bgp.router_id, BgpRole::RouterId, ipv4_pool)
        .map_err(|k| ConfigError::at_key("bgp.router_id", k))?;
    if let Some(hop) = bgp.ipv6_next_hop {
        check_ipv6_next_hop(hop, ipv6_pool)
            .map_err(|k| ConfigError::at_key("bgp.ipv6_next_hop", k))?;
    }
    for (i, peer) in bgp.peers.iter().enumerate() {
        let key = |field: &str| format!("bgp.peers[{i}].{field}");
        check_asn(peer.asn).map_err(|k| ConfigError::at_key(key("asn"), k))?;
        if peer.address == bgp.router_id {
            return Err(ConfigError::at_key(
                key("address"),
                ConfigErrorKind::BadBgpAddress {
                    address: IpAddr::V4(peer.address),
                    role: BgpRole::Peer,
                    reason: "it is this host's router id (bgp.router_id)".into(),
                },
            ));
        }
        check_ipv4(peer.address, BgpRole::Peer, ipv4_pool)
            .map_err(|k| ConfigError::at_key(key("address"), k))?;
        if let Some(earlier) = bgp.peers[..i]
            .iter()
            .position(|p| p.address == peer.address)
        {
            return Err(ConfigError::at_key(
                key("address"),
                ConfigErrorKind::DuplicatePeer {
                    address: peer.address,
                    earlier,
                },
            ));
        }
    }
    for (key, path) in [
        ("bgp.bird_config", &bgp.bird_config),
        ("bgp.bird_socket", &bgp.bird_socket),
    ] {
        if let Some(path) = path {
            check_absolute(path).map_err(|k| ConfigError::at_key(key, k))?;
        }
    }
    if bgp.bird_socket.is_some() && bgp.bird_config.is_none() {
        return Err(ConfigError::at_key(
            "bgp.bird_socket",
            ConfigErrorKind::SocketWithoutConfig,
        ));
    }
    Ok(())
}

fn check_asn(asn: u32) -> Result<(), ConfigErrorKind> {
    let reason = match asn {
        0 => "AS 0 is never a session's (RFC 7607)",
        23456 => "AS_TRANS stands in for 4-byte AS numbers (RFC 6793)",
        65535 | u32::MAX => "the last AS of each range is reserved (RFC 7300)",
        _ => return Ok(()),
    };
    Err(ConfigErrorKind::ReservedAsn {
        asn,
        reason: reason.into(),
    })
}

fn check_ipv4(address: Ipv4Addr, role: BgpRole, pool: Ipv4Net) -> Result<(), ConfigErrorKind> {
    let reason = if address.octets()[0] == 0 {
        "it is in 0.0.0.0/8, never a host's address".to_string()
    } else if address.is_loopback() {
        "it is a loopback address, which no other host reaches".into()
    } else if address.is_multicast() || address.is_broadcast() {
        "it is a multicast or broadcast address".into()
    } else if pool.contains(&address) {
        format!(
            "it is inside the VM pool {pool} (ipv4.pool): a host's own address must be outside it"
        )
    } else {
        return Ok(());
    };
    Err(ConfigErrorKind::BadBgpAddress {
        address: IpAddr::V4(address),
        role,
        reason,
    })
}

fn check_ipv6_next_hop(address: Ipv6Addr, pool: Option<Ipv6Net>) -> Result<(), ConfigErrorKind> {
    let reason = if address.is_unspecified() || address.is_loopback() {
        "it is :: or ::1, never another host's next hop".to_string()
    } else if address.is_multicast() {
        "it is a multicast address".into()
    } else if address.is_unicast_link_local() {
        "it is link-local: name this host's global address on the link to its peers".into()
    } else if let Some(pool) = pool.filter(|p| p.contains(&address)) {
        format!(
            "it is inside the VM pool {pool} (ipv6.pool): a host's own address must be outside it"
        )
    } else {
        return Ok(());
    };
    Err(ConfigErrorKind::BadBgpAddress {
        address: IpAddr::V6(address),
        role: BgpRole::Ipv6NextHop,
        reason,
    })
}

fn check_absolute(path: &Path) -> Result<(), ConfigErrorKind> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(ConfigErrorKind::RelativePath {
            path: path.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests;
