//! How a cluster host's BGP side compares with its plan, for `status` and
//! `doctor`: the written BIRD configuration, each session's state, and the
//! routes BIRD should have put in the kernel against those it did. The
//! effect side reads the facts ([`BirdFacts`]); this judges them.

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::Serialize;

use super::{BgpPlan, bird};
use crate::layout::VmIndex;
use crate::state::ObservedRoute;

/// What the effect side read about BIRD and the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BirdFacts {
    /// The host's VMs outside its blocks that are wired now.
    pub wired: BTreeSet<VmIndex>,
    /// The text of `bgp.bird_config` (`None`: no such file).
    pub config_file: Option<String>,
    /// What BIRD answered on `bgp.bird_socket`, when one is configured:
    /// its protocols and the prefixes it exports to its kernel protocols,
    /// or why it did not answer.
    pub bird: Option<Result<BirdAnswer, String>>,
    /// The kernel's routes with BIRD's protocol.
    pub kernel_routes: Vec<ObservedRoute>,
}

/// What a running BIRD reported.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BirdAnswer {
    /// `(protocol name, BIRD's state, its info column)`, e.g.
    /// `("blixard_peer_198_51_100_1", "up", "Established")`.
    pub protocols: Vec<(String, String, String)>,
    /// The prefixes BIRD exports to `blixard_kernel4` and `blixard_kernel6`.
    pub exported: Vec<IpNet>,
}

impl BirdFacts {
    /// The facts of a host with `wired` lone VMs and nothing else read.
    pub fn new(wired: BTreeSet<VmIndex>) -> Self {
        Self {
            wired,
            ..Self::default()
        }
    }
}

impl BirdAnswer {
    /// BIRD's protocols and what it exports to the kernel.
    pub fn new(protocols: Vec<(String, String, String)>, exported: Vec<IpNet>) -> Self {
        Self {
            protocols,
            exported,
        }
    }
}

/// The state of the written configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConfigFileState {
    /// No `bgp.bird_config`: nothing is written.
    NotConfigured,
    /// The file does not exist.
    Missing,
    /// The file differs from what the plan renders.
    Stale,
    /// The file is what the plan renders.
    Current,
}

/// One BGP session as BIRD reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SessionReport {
    /// The peer.
    pub peer: std::net::Ipv4Addr,
    /// Its AS.
    pub asn: u32,
    /// BIRD's protocol name for it.
    pub protocol: String,
    /// BIRD's account (`Established`, `Active Socket: Connection refused`),
    /// or `not in BIRD's configuration`.
    pub state: String,
    /// Whether routes flow.
    pub established: bool,
}

/// The BGP side of `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BgpReport {
    /// `bgp.bird_config` against the plan.
    pub config_file: ConfigFileState,
    /// Why BIRD could not be asked, when a socket is configured and it did
    /// not answer.
    pub bird_error: Option<String>,
    /// Each configured session (empty when BIRD was not asked).
    pub sessions: Vec<SessionReport>,
    /// What BIRD should have in the kernel (its exports to the kernel
    /// protocols), when BIRD was asked.
    pub expected: Option<Vec<IpNet>>,
    /// The kernel's routes of BIRD's protocol.
    pub installed: Vec<IpNet>,
    /// Expected, not installed.
    pub missing: Vec<IpNet>,
    /// Installed, not expected (BIRD was asked).
    pub unexpected: Vec<IpNet>,
}

impl BgpReport {
    /// Whether what this host controls matches: the file is current (or
    /// none is written), BIRD answered (when asked) and the kernel holds
    /// exactly what BIRD exports to it. A session that is not established
    /// is the peer's side as much as ours: reported, not drift.
    pub fn in_sync(&self) -> bool {
        matches!(
            self.config_file,
            ConfigFileState::NotConfigured | ConfigFileState::Current
        ) && self.bird_error.is_none()
            && self.missing.is_empty()
            && self.unexpected.is_empty()
    }
}

/// Judges `facts` against `plan`.
pub fn report(plan: &BgpPlan, facts: &BirdFacts) -> BgpReport {
    let config_file = match (&plan.bird_config, &facts.config_file) {
        (None, _) => ConfigFileState::NotConfigured,
        (Some(_), None) => ConfigFileState::Missing,
        (Some(_), Some(text)) if *text == bird::render(plan, &facts.wired) => {
            ConfigFileState::Current
        }
        (Some(_), Some(_)) => ConfigFileState::Stale,
    };
    let mut installed: Vec<IpNet> = facts
        .kernel_routes
        .iter()
        .filter(|r| r.protocol == super::RTPROT_BIRD)
        .map(|r| r.destination)
        .collect();
    installed.sort();
    installed.dedup();
    let mut out = BgpReport {
        config_file,
        bird_error: None,
        sessions: Vec::new(),
        expected: None,
        missing: Vec::new(),
        unexpected: Vec::new(),
        installed,
    };
    match &facts.bird {
        None => {}
        Some(Err(e)) => out.bird_error = Some(e.clone()),
        Some(Ok(answer)) => {
            out.sessions = plan
                .peers
                .iter()
                .map(|peer| {
                    let protocol = peer.protocol_name();
                    let found = answer.protocols.iter().find(|(name, ..)| *name == protocol);
                    let (state, established) = match found {
                        Some((_, state, info)) => {
                            let shown = if info.is_empty() { state } else { info };
                            (shown.clone(), info.starts_with("Established"))
                        }
                        None => ("not in BIRD's configuration".to_string(), false),
                    };
                    SessionReport {
                        peer: peer.address,
                        asn: peer.asn,
                        protocol,
                        state,
                        established,
                    }
                })
                .collect();
            let mut expected = answer.exported.clone();
            expected.sort();
            expected.dedup();
            out.missing = expected
                .iter()
                .filter(|p| out.installed.binary_search(p).is_err())
                .copied()
                .collect();
            out.unexpected = out
                .installed
                .iter()
                .filter(|p| expected.binary_search(p).is_err())
                .copied()
                .collect();
            out.expected = Some(expected);
        }
    }
    out
}
