//! The BIRD side of a cluster host (`[bgp]`): after `apply`, `wire` and
//! `unwire`, write `bgp.bird_config` and reload BIRD when it changed; for
//! `status` and `doctor`, read BIRD and the kernel into the core's
//! [`BgpReport`]. The core renders and judges; this reads and writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use blixard_addr::VmIndex;
use blixard_addr::bgp::report::{self, BgpReport, BirdAnswer, BirdFacts, ConfigFileState};
use blixard_addr::bgp::{BgpPlan, bird};
use blixard_addr::plan::HostPlan;
use blixard_bird::Birdc;
use blixard_host::{Host, Status};
use serde::Serialize;

use super::doctor::{Check, Level, check};
use super::{Failure, Loaded};
use crate::files::{self, Dir, FileError};

/// What a host change does to the VMs announced alone (outside the blocks).
#[derive(Debug, Clone, Copy)]
pub(super) enum Wiring {
    /// `apply`: every planned VM is wired.
    Apply,
    /// `wire N`.
    Wire(VmIndex),
    /// `unwire N`.
    Unwire(VmIndex),
}

/// What happened to `bgp.bird_config`.
#[derive(Debug, Clone, Serialize)]
pub struct BirdSync {
    /// The file.
    pub path: PathBuf,
    /// Whether its text changed (or, in a dry run, would).
    pub changed: bool,
    /// Whether it was written (not in a dry run, not when unchanged).
    pub written: bool,
    /// The socket of the BIRD told to reload it, when it was.
    pub reloaded: Option<PathBuf>,
}

/// Writes the BIRD configuration `plan` renders after `wiring`, and has
/// BIRD reload it, when it differs from the file; `None` without
/// `bgp.bird_config`.
pub(super) fn sync(
    host: &Host,
    loaded: &Loaded,
    plan: &HostPlan,
    wiring: Wiring,
    dry_run: bool,
) -> Result<Option<BirdSync>, Failure> {
    let Some(bgp) = &plan.bgp else {
        return Ok(None);
    };
    let Some(path) = &bgp.bird_config else {
        return Ok(None);
    };
    // After `apply` every VM is wired. Otherwise the kernel says which
    // lone VMs are, and the command's own effect is added (a dry run
    // changed nothing).
    let wired = match wiring {
        Wiring::Apply => bgp.all_lone(),
        Wiring::Wire(index) => {
            let mut wired = wired(host, loaded, plan, bgp)?;
            if bgp.lone_vms.iter().any(|v| v.index == index) {
                wired.insert(index);
            }
            wired
        }
        Wiring::Unwire(index) => {
            let mut wired = wired(host, loaded, plan, bgp)?;
            wired.remove(&index);
            wired
        }
    };
    let text = bird::render(bgp, &wired);
    let (dir, name) = parent_dir(path, !dry_run)?;
    let current = match &dir {
        Some(dir) => dir
            .read(name, files::MAX_STATE_BYTES)
            .map_err(|e| file_failure(path, e))?,
        None => None,
    };
    let changed = current.as_deref() != Some(text.as_str());
    let mut out = BirdSync {
        path: path.clone(),
        changed,
        written: false,
        reloaded: None,
    };
    if !changed || dry_run {
        return Ok(Some(out));
    }
    dir.expect("opened with create")
        .write_atomic(name, text.as_bytes())
        .map_err(|e| file_failure(path, e))?;
    out.written = true;
    if let Some(socket) = &bgp.bird_socket {
        Birdc::new(socket).configure().map_err(|e| {
            Failure::Failed(format!(
                "the host was changed and {} written, but BIRD did not load it: {e}",
                path.display()
            ))
        })?;
        out.reloaded = Some(socket.clone());
    }
    Ok(Some(out))
}

/// The BGP side of `status` and `doctor`: the file, BIRD's sessions and
/// routes against the kernel's; `None` on a single host.
pub(super) fn report(
    host: &Host,
    loaded: &Loaded,
    plan: &HostPlan,
    status: &Status,
) -> Result<Option<BgpReport>, Failure> {
    let Some(bgp) = &plan.bgp else {
        return Ok(None);
    };
    let mut facts = BirdFacts::new(wired(host, loaded, plan, bgp)?);
    if let Some(path) = &bgp.bird_config {
        facts.config_file = match parent_dir(path, false)? {
            (Some(dir), name) => dir
                .read(name, files::MAX_STATE_BYTES)
                .map_err(|e| file_failure(path, e))?,
            (None, _) => None,
        };
    }
    facts.bird = bgp.bird_socket.as_ref().map(|socket| ask(socket, bgp));
    facts.kernel_routes = status.bird_routes.clone();
    Ok(Some(report::report(bgp, &facts)))
}

/// `doctor`'s checks of the BGP side: the file, BIRD, each session, the
/// routes.
pub(super) fn doctor_checks(plan: &HostPlan, report: &BgpReport) -> Vec<Check> {
    let mut checks = Vec::new();
    let Some(bgp) = &plan.bgp else {
        return checks;
    };
    let start = "start BIRD with this file and socket: bird -R -c BIRD_CONFIG -s BIRD_SOCKET";
    checks.push(match (report.config_file, &bgp.bird_config) {
        (ConfigFileState::Current, Some(path)) => check(
            Level::Pass,
            "bird config",
            format!("{} is what the plan renders", path.display()),
            None,
        ),
        (ConfigFileState::Missing | ConfigFileState::Stale, Some(path)) => check(
            Level::Fail,
            "bird config",
            format!("{} is missing or not what the plan renders", path.display()),
            Some("blixard-net apply (writes it and reloads BIRD)"),
        ),
        _ => check(
            Level::Warn,
            "bird config",
            "no bgp.bird_config: nothing writes BIRD's configuration (blixard-net bgp config prints it)",
            Some("set bgp.bird_config and bgp.bird_socket"),
        ),
    });
    if bgp.bird_socket.is_none() {
        return checks;
    }
    if let Some(e) = &report.bird_error {
        checks.push(check(
            Level::Fail,
            "bird",
            format!("asking BIRD failed: {e}"),
            Some(start),
        ));
        return checks;
    }
    for s in &report.sessions {
        checks.push(if s.established {
            check(
                Level::Pass,
                "bgp session",
                format!("{} (AS {}): {}", s.peer, s.asn, s.state),
                None,
            )
        } else {
            check(
                Level::Warn,
                "bgp session",
                format!("{} (AS {}): {}", s.peer, s.asn, s.state),
                Some("check that the peer runs BIRD with blixard-net's configuration and that TCP port 179 is open between the hosts"),
            )
        });
    }
    checks.push(
        if report.missing.is_empty() && report.unexpected.is_empty() {
            check(
                Level::Pass,
                "bgp routes",
                format!(
                    "the kernel holds the {} route(s) BIRD exports to it (proto bird, metric {})",
                    report.installed.len(),
                    blixard_addr::bgp::BIRD_KERNEL_METRIC
                ),
                None,
            )
        } else {
            check(
                Level::Fail,
                "bgp routes",
                format!(
                    "missing from the kernel: {:?}; in the kernel but not BIRD's: {:?}",
                    report
                        .missing
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                    report
                        .unexpected
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                ),
                Some(
                    "birdc -s BIRD_SOCKET show protocols all blixard_kernel4 (and blixard_kernel6)",
                ),
            )
        },
    );
    checks
}

/// BIRD's protocols and its exports to our kernel protocols.
fn ask(socket: &Path, bgp: &BgpPlan) -> Result<BirdAnswer, String> {
    let birdc = Birdc::new(socket);
    let protocols = birdc
        .protocols()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|p| (p.name, p.state, p.info))
        .collect();
    let mut exported = birdc
        .exported_to(bird::KERNEL4)
        .map_err(|e| e.to_string())?;
    if bgp.ipv6_pool.is_some() {
        exported.extend(
            birdc
                .exported_to(bird::KERNEL6)
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(BirdAnswer::new(protocols, exported))
}

/// The host's VMs outside its blocks that are wired now.
fn wired(
    host: &Host,
    loaded: &Loaded,
    plan: &HostPlan,
    bgp: &BgpPlan,
) -> Result<BTreeSet<VmIndex>, Failure> {
    let lone: Vec<VmIndex> = bgp.lone_vms.iter().map(|v| v.index).collect();
    host.wired_among(plan, &lone).map_err(|e| loaded.failure(e))
}

/// The directory of `path` (made when `create`; `None` when missing) and
/// the file's name in it.
fn parent_dir(path: &Path, create: bool) -> Result<(Option<Dir>, &str), Failure> {
    let bad = || {
        Failure::BadInput(format!(
            "bgp.bird_config: {} names no file in a directory",
            path.display()
        ))
    };
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(bad)?;
    let parent = path.parent().ok_or_else(bad)?;
    let dir = Dir::open(parent, create).map_err(|e| file_failure(path, e))?;
    Ok((dir, name))
}

fn file_failure(path: &Path, e: FileError) -> Failure {
    Failure::of_file(&format!("bgp.bird_config {}", path.display()), e)
}
