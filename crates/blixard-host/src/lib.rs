//! Host-level reconcile for blixard-net: observe the kernel, diff against a
//! [`HostPlan`], and carry the changes out through the effect crates
//! (`blixard-tap` ioctls, `blixard-route` rtnetlink, `blixard-nat` nft), all
//! inside a chosen network namespace. Synchronous; no tokio for the caller.
//!
//! ```no_run
//! use blixard_addr::{Config, planner::{build_plan, HostFacts}};
//! use blixard_host::{Host, ApplyOptions};
//! let plan = build_plan(&Config::default(), &HostFacts::default()).unwrap();
//! let host = Host::new("blixard-test".parse().unwrap());
//! let outcome = host.apply(&plan, &ApplyOptions::default()).unwrap();
//! println!("{} changes", outcome.changes.len());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(test, feature = "testbed"))]
pub mod testbed;

use blixard_addr::VmIndex;
use blixard_addr::config::Config;
use blixard_addr::diff::{self, DiffOptions};
use blixard_addr::plan::{HostPlan, Ownership};
use blixard_addr::planner::HostFacts;
use blixard_addr::state::{Change, Conflict, Conflicts, Executor, ObservedFirewall, ObservedHost};
use blixard_nat::Nft;
use blixard_netns::Netns;
use blixard_route::{ObserveScope, Session, VmObserveScope};
use serde::Serialize;

/// Up to this many VMs, [`Host::apply`] dumps the kernel's state while
/// `nft` lists the ruleset. Above it the two run one after the other: at 4096
/// VMs the parsed listing (~15 MiB of JSON values) and the dumps together
/// would push a run past 32 MiB, and the overlap saves ~15 ms of ~200.
const OVERLAP_LISTING_MAX_VMS: usize = 2048;

/// Anything that stopped an operation.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] blixard_netns::NetnsError),
    /// A tap operation failed.
    #[error(transparent)]
    Tap(#[from] blixard_tap::TapError),
    /// A netlink operation failed.
    #[error(transparent)]
    Route(#[from] blixard_route::RouteError),
    /// An nft operation failed.
    #[error(transparent)]
    Nat(#[from] blixard_nat::NatError),
    /// Foreign objects in the way: nothing was changed.
    #[error(transparent)]
    Conflicts(#[from] Conflicts),
    /// Teardown is best effort: these steps failed, the others were done.
    #[error("teardown left {} error(s): {}", .0.len(), .0.join("; "))]
    Teardown(Vec<String>),
    /// A config value names something the host does not have (an unknown
    /// user or group): nothing was changed.
    #[error("{key} = {value:?}: {source}")]
    UnknownName {
        /// The config key (`owner`, `group`).
        key: &'static str,
        /// Its value.
        value: String,
        /// Why it did not resolve (boxed: it is much larger than the
        /// other variants).
        source: Box<blixard_tap::TapError>,
    },
    /// An owner or group id that this user namespace does not map: the
    /// kernel would refuse it for a tap (nothing was changed).
    #[error(
        "{key} resolves to id {id}, which has no mapping in this user namespace ({map}); the kernel refuses it as a tap's owner or group"
    )]
    UnmappedId {
        /// The config key (`owner`, `group`, `$SUDO_USER`).
        key: &'static str,
        /// The id.
        id: u32,
        /// The id map read.
        map: &'static str,
    },
    /// The test-only fault hook ([`FAULT_AFTER_ENV`]) stopped an apply after
    /// its first `done` changes: the host holds exactly those.
    #[error(
        "stopped after {done} of {total} change(s) by {FAULT_AFTER_ENV} (test-only fault injection)"
    )]
    InjectedFault {
        /// Changes carried out before the stop.
        done: usize,
        /// Changes the apply had planned.
        total: usize,
    },
    /// The external interface could not be resolved.
    #[error(
        "external_interface = \"auto\" but there is no default route in {0}; set external_interface to an interface name, or \"none\" to disable NAT"
    )]
    NoDefaultRoute(String),
}

impl HostError {
    /// Whether the host was left unchanged because the input or the host's
    /// foreign state was wrong (exit code 2), as opposed to a failed change.
    pub fn changed_nothing(&self) -> bool {
        matches!(
            self,
            HostError::Conflicts(_)
                | HostError::NoDefaultRoute(_)
                | HostError::UnknownName { .. }
                | HostError::UnmappedId { .. }
        )
    }
}

/// Knobs for [`Host::apply`].
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Compute and return the changes, change nothing.
    pub dry_run: bool,
    /// Recreate taps whose flags differ from the plan (disrupts a running VM).
    pub allow_recreate: bool,
}

/// What an apply did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ApplyOutcome {
    /// The changes, in the order carried out.
    pub changes: Vec<Change>,
    /// Whether they were carried out.
    pub applied: bool,
    /// VMs left as they are, each with why (a VMM holds a tap that would
    /// need recreating, ...): everything else was reconciled around them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub left_as_is: Vec<Conflict>,
    /// Foreign firewall state that will drop VM traffic even though the
    /// apply succeeded (Docker's FORWARD DROP, ...), each with its fix. Only
    /// `apply` fills it; a scan that fails is itself a warning.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// How a host differs from a plan.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The changes `apply` would make, in order (empty: in sync).
    pub drift: Vec<Change>,
    /// What differs inside our nft table, when it exists but differs (the
    /// single `ReplaceFirewall` change in `drift` does not say).
    pub firewall_differences: Vec<String>,
    /// What `apply` would leave as it is or refuse over: per-VM conflicts
    /// (a held tap) and foreign objects in the way. A report, not an error.
    pub conflicts: Vec<Conflict>,
}

impl Status {
    /// Whether the host matches the plan.
    pub fn in_sync(&self) -> bool {
        self.drift.is_empty() && self.conflicts.is_empty()
    }
}

/// A host (one network namespace) that plans are applied to.
#[derive(Debug, Clone)]
pub struct Host {
    netns: Netns,
    nft: Nft,
}

impl Host {
    /// The host behind `netns` ([`Netns::Current`] for the caller's own).
    pub fn new(netns: Netns) -> Self {
        Self {
            netns,
            nft: Nft::new(),
        }
    }

    /// The same host, driving a specific `nft` binary.
    pub fn with_nft(mut self, nft: Nft) -> Self {
        self.nft = nft;
        self
    }

    /// The namespace this host is.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    fn run<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, HostError> + Send,
    ) -> Result<T, HostError> {
        blixard_netns::run_in(&self.netns, f)?
    }

    /// Resolves what planning needs from the host: tap owner and group (by
    /// name or number; owner defaults to `$SUDO_USER`, else root) and the
    /// external interface (`"auto"`: the default route's).
    pub fn facts(&self, config: &Config) -> Result<HostFacts, HostError> {
        let user = |key: &'static str, value: &str| {
            blixard_tap::resolve_user(value).map_err(|source| HostError::UnknownName {
                key,
                value: value.to_string(),
                source: Box::new(source),
            })
        };
        let (owner_key, owner) = match &config.owner {
            Some(owner) => ("owner", Some(user("owner", owner)?)),
            None => match std::env::var("SUDO_USER") {
                Ok(sudo_user) if !sudo_user.is_empty() => {
                    ("$SUDO_USER", Some(user("$SUDO_USER", &sudo_user)?))
                }
                _ => ("owner", Some(0)),
            },
        };
        let group = config
            .group
            .as_deref()
            .map(|g| {
                blixard_tap::resolve_group(g).map_err(|source| HostError::UnknownName {
                    key: "group",
                    value: g.to_string(),
                    source: Box::new(source),
                })
            })
            .transpose()?;
        // TUNSETOWNER/TUNSETGROUP refuse an id this user namespace does not
        // map, after the first taps were made. -1 is the planner's to name.
        for (key, id, map) in [
            (owner_key, owner, "/proc/self/uid_map"),
            ("group", group, "/proc/self/gid_map"),
        ] {
            if let Some(id) = id.filter(|&id| id != blixard_addr::planner::UNSET_ID)
                && let Ok(text) = std::fs::read_to_string(map)
                && !blixard_addr::planner::id_is_mapped(&text, id)
            {
                return Err(HostError::UnmappedId { key, id, map });
            }
        }
        let external_interface = match config.external_interface.as_str() {
            "none" | "" => None,
            "auto" => {
                let found = self.run(|| Ok(Session::new()?.default_route_interfaces()?))?;
                match found.into_iter().next() {
                    Some(name) => Some(name),
                    None => return Err(HostError::NoDefaultRoute(self.netns.to_string())),
                }
            }
            name => Some(name.to_string()),
        };
        Ok(HostFacts {
            owner_uid: owner,
            group_gid: group,
            external_interface,
        })
    }

    /// Reads everything of ours (and whatever is in its way) from the kernel.
    pub fn observe(&self, plan: &HostPlan) -> Result<ObservedHost, HostError> {
        self.run(|| observe_here(&self.nft, plan))
    }

    /// Foreign firewall state that would break VM traffic (Docker's FORWARD
    /// DROP, firewalld, iptables-legacy rules), each with its fix.
    pub fn scan(&self, plan: &HostPlan) -> Result<Vec<blixard_nat::Finding>, HostError> {
        self.run(|| Ok(self.nft.scan(&plan.firewall)?))
    }

    /// Reads a sysctl (dotted key) inside this host's namespace.
    pub fn sysctl(&self, key: &str) -> Result<Option<String>, HostError> {
        self.run(|| Ok(blixard_route::read_sysctl(key)?))
    }

    /// Brings the host to `plan`, changing only what differs. A conflict
    /// with a foreign object changes nothing.
    pub fn apply(&self, plan: &HostPlan, opts: &ApplyOptions) -> Result<ApplyOutcome, HostError> {
        self.run(|| {
            std::thread::scope(|threads| {
                // `nft` runs as a process of its own: a helper thread (which
                // starts in this thread's namespace) lists the ruleset once
                // while the netlink dumps run here, and from that one listing
                // compares our table and scans the foreign ones (the scan
                // skips our table, so it holds before and after the apply).
                let (listed, listing) = std::sync::mpsc::channel();
                let nft = threads.spawn(move || match self.nft.observe_and_scan(&plan.firewall) {
                    Ok((firewall, findings)) => {
                        let _ = listed.send(Ok(firewall));
                        Ok::<_, blixard_nat::NatError>(findings)
                    }
                    Err(e) => {
                        // The apply fails on this error; no findings to add.
                        let _ = listed.send(Err(e));
                        Ok(Vec::new())
                    }
                });
                let scope = ObserveScope::for_plan(plan);
                // The netlink side overlaps the listing, except on hosts so
                // large that the listing's parsed JSON and the dumps would
                // not fit the memory budget together: then the dumps wait
                // until the listing has been compared, scanned and dropped.
                let overlap = plan.links.len() <= OVERLAP_LISTING_MAX_VMS;
                let early = overlap.then(|| observe_kernel(&scope));
                let Ok(firewall) = listing.recv() else {
                    // The helper died before sending: its panic is ours.
                    std::panic::resume_unwind(nft.join().expect_err("no listing sent"))
                };
                let kernel = early.unwrap_or_else(|| observe_kernel(&scope));
                let mut observed = kernel?;
                observed.firewall = firewall?;
                let (changes, left_as_is) = diff::reconcile(
                    plan,
                    &observed,
                    &DiffOptions {
                        allow_recreate: opts.allow_recreate,
                    },
                )
                .into_changes()?;
                if !opts.dry_run {
                    let (todo, fault) = split_at_fault(&changes);
                    execute(&self.nft, &plan.ownership, todo)?;
                    if let Some(total) = fault {
                        return Err(HostError::InjectedFault {
                            done: todo.len(),
                            total,
                        });
                    }
                }
                // An accept in our table cannot override a drop elsewhere on
                // the same hook: say so now, not when the first VM is unreachable.
                let warnings = match joined(nft) {
                    Ok(findings) => findings.iter().map(ToString::to_string).collect(),
                    Err(e) => vec![format!("could not scan for foreign firewall rules: {e}")],
                };
                Ok(ApplyOutcome {
                    applied: !opts.dry_run,
                    changes,
                    left_as_is,
                    warnings,
                })
            })
        })
    }

    /// The differences between the host and the plan.
    pub fn status(&self, plan: &HostPlan) -> Result<Status, HostError> {
        self.run(|| {
            let observed = observe_here(&self.nft, plan)?;
            let found = diff::reconcile(plan, &observed, &DiffOptions::default());
            let firewall_differences = match observed.firewall {
                ObservedFirewall::Differs(what) => what,
                ObservedFirewall::Absent | ObservedFirewall::InSync => Vec::new(),
            };
            let mut conflicts = found.in_the_way;
            conflicts.extend(found.left_as_is);
            Ok(Status {
                drift: found.changes,
                firewall_differences,
                conflicts,
            })
        })
    }

    /// Removes everything of ours — taps, their addresses and routes, our nft
    /// table — and nothing else. Best effort: every step is tried, and the
    /// failures are reported together.
    pub fn down(&self, plan: &HostPlan, dry_run: bool) -> Result<ApplyOutcome, HostError> {
        self.run(|| {
            let observed = observe_for_teardown(&self.nft, plan)?;
            let changes = diff::teardown(&plan.ownership, &observed);
            if !dry_run {
                let each = |changes: &[Change]| -> Vec<String> {
                    changes
                        .iter()
                        .filter_map(|c| {
                            execute_in_order(&self.nft, &plan.ownership, std::slice::from_ref(c))
                                .err()
                        })
                        .map(|e| e.to_string())
                        .collect()
                };
                // Deleting the table does not depend on the links: let nft
                // do it while the kernel unregisters the taps.
                let (firewall, kernel): (Vec<Change>, Vec<Change>) = changes
                    .iter()
                    .cloned()
                    .partition(|c| c.executor() == Executor::Firewall);
                let errors: Vec<String> = std::thread::scope(|scope| {
                    let firewall = scope.spawn(|| each(&firewall));
                    let mut errors = each(&kernel);
                    errors.extend(joined(firewall));
                    errors
                });
                if !errors.is_empty() {
                    return Err(HostError::Teardown(errors));
                }
            }
            Ok(ApplyOutcome {
                applied: !dry_run,
                changes,
                left_as_is: Vec::new(),
                warnings: Vec::new(),
            })
        })
    }

    /// Wires one VM (its tap, addresses, routes, firewall set elements),
    /// touching no other VM.
    pub fn wire_vm(
        &self,
        plan: &HostPlan,
        index: VmIndex,
        opts: &ApplyOptions,
    ) -> Result<ApplyOutcome, HostError> {
        self.run(|| {
            let scope = match plan.link(index) {
                Some(link) => VmObserveScope::for_link(plan, link),
                // Not planned: the diff says so, nothing to look at.
                None => VmObserveScope::default(),
            };
            let observed = observe_vm_here(&self.nft, plan, index, &scope)?;
            let changes = diff::wire_vm(
                plan,
                index,
                &observed,
                &DiffOptions {
                    allow_recreate: opts.allow_recreate,
                },
            )?;
            if !opts.dry_run {
                execute(&self.nft, &plan.ownership, &changes)?;
            }
            Ok(ApplyOutcome {
                applied: !opts.dry_run,
                changes,
                left_as_is: Vec::new(),
                warnings: Vec::new(),
            })
        })
    }

    /// Removes one VM's tap and firewall set elements, touching no other VM.
    pub fn unwire_vm(
        &self,
        plan: &HostPlan,
        index: VmIndex,
        dry_run: bool,
    ) -> Result<ApplyOutcome, HostError> {
        self.run(|| {
            let Ok(vm) = plan.layout.vm(index) else {
                return Ok(ApplyOutcome {
                    applied: !dry_run,
                    changes: Vec::new(),
                    left_as_is: Vec::new(),
                    warnings: Vec::new(),
                });
            };
            let scope = VmObserveScope {
                interface: vm.interface,
                ..VmObserveScope::default()
            };
            let observed = observe_vm_here(&self.nft, plan, index, &scope)?;
            let changes = diff::unwire_vm(plan, index, &observed);
            if !dry_run {
                execute(&self.nft, &plan.ownership, &changes)?;
            }
            Ok(ApplyOutcome {
                applied: !dry_run,
                changes,
                left_as_is: Vec::new(),
                warnings: Vec::new(),
            })
        })
    }
}

/// Test-only fault injection, read by [`Host::apply`]: with
/// `BLIXARD_FAULT_AFTER=k` an apply carries out the first `k` changes of its
/// list (the order `execute` runs them in, one change = one [`Change`];
/// a pipelined netlink run is cut so that only the first `k` are sent) and then fails
/// with [`HostError::InjectedFault`]. It lets the reliability tests stop an
/// apply between any two changes; nothing else should set it.
pub const FAULT_AFTER_ENV: &str = "BLIXARD_FAULT_AFTER";

/// The changes to carry out, and the planned total when the fault hook cuts
/// the list short.
fn split_at_fault(changes: &[Change]) -> (&[Change], Option<usize>) {
    match std::env::var(FAULT_AFTER_ENV)
        .ok()
        .and_then(|k| k.parse::<usize>().ok())
    {
        Some(k) if k < changes.len() => (&changes[..k], Some(changes.len())),
        _ => (changes, None),
    }
}

/// Observes in the calling thread's namespace. `nft` runs as a process of
/// its own, so our table is listed while the netlink dumps run.
fn observe_here(nft: &Nft, plan: &HostPlan) -> Result<ObservedHost, HostError> {
    observe_scoped(nft, plan, ObserveScope::for_plan(plan))
}

/// One VM's objects only (see [`Session::observe_vm`] and
/// [`Nft::observe_vm`]), so wiring or unwiring a VM costs the same on a host
/// of 64 VMs or of 4096: the netlink side while `nft` checks the VM's set
/// elements.
fn observe_vm_here(
    nft: &Nft,
    plan: &HostPlan,
    index: VmIndex,
    scope: &VmObserveScope,
) -> Result<ObservedHost, HostError> {
    let vm = diff::firewall_vm_of(plan, index);
    std::thread::scope(|threads| {
        let firewall = threads.spawn(|| match &vm {
            Some(vm) => nft.observe_vm(&plan.firewall.table, vm),
            None => Ok(ObservedFirewall::Absent),
        });
        let kernel = Session::new()
            .map_err(HostError::from)
            .and_then(|mut s| Ok(s.observe_vm(scope, &blixard_tap::tun_info)?));
        let firewall = joined(firewall);
        let mut observed = kernel?;
        observed.firewall = firewall?;
        Ok(observed)
    })
}

/// What [`diff::teardown`] reads: links and routes with their marks, and
/// whether our table exists; no addresses, qdiscs, sysctls or tun details.
fn observe_for_teardown(nft: &Nft, plan: &HostPlan) -> Result<ObservedHost, HostError> {
    observe_scoped(
        nft,
        plan,
        ObserveScope {
            links_and_routes_only: true,
            ..ObserveScope::for_plan(plan)
        },
    )
}

fn observe_scoped(
    nft: &Nft,
    plan: &HostPlan,
    scope: ObserveScope,
) -> Result<ObservedHost, HostError> {
    std::thread::scope(|threads| {
        let firewall = threads.spawn(|| {
            if !scope.links_and_routes_only {
                return nft.observe(&plan.firewall);
            }
            // A teardown only asks whether the table is there: skip
            // rendering the plan's table to compare.
            Ok(match nft.list_table(&plan.firewall.table)? {
                None => ObservedFirewall::Absent,
                Some(_) => ObservedFirewall::Differs(vec![
                    "not compared (a teardown only needs to know it exists)".into(),
                ]),
            })
        });
        let kernel = observe_kernel(&scope);
        let firewall = joined(firewall);
        let mut observed = kernel?;
        observed.firewall = firewall?;
        Ok(observed)
    })
}

/// The netlink side of an observation, in the calling thread's namespace;
/// tun details only when the scope asks for more than links and routes.
fn observe_kernel(scope: &ObserveScope) -> Result<ObservedHost, HostError> {
    let mut session = Session::new()?;
    if scope.links_and_routes_only {
        return Ok(session.observe(scope)?);
    }
    // The tun details come out of the same link dump.
    Ok(session.observe_with(scope, &blixard_tap::tun_info)?)
}

/// The result of a scoped helper thread; its panic is this thread's.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Carries out `changes` in order in the calling thread's namespace: each run
/// of consecutive changes for the same effect crate goes to it in one call,
/// so netlink changes are pipelined on one socket.
///
/// A diff puts our firewall before anything that lets traffic in
/// ([`Change::opens_a_path`]: `up`, addresses, routes, sysctls) and after
/// the deletions and tap creation, which need no table (our rules match
/// interface names, not indexes). So the firewall run goes to `nft` on a
/// helper thread while those earlier changes are made, and the rest waits
/// for both: when `nft` refuses the table, no tap has gone up, got an
/// address or a route, and forwarding is as it was.
fn execute(nft: &Nft, ownership: &Ownership, changes: &[Change]) -> Result<(), HostError> {
    let Some(start) = changes
        .iter()
        .position(|c| c.executor() == Executor::Firewall)
    else {
        return execute_in_order(nft, ownership, changes);
    };
    let end = changes[start..]
        .iter()
        .position(|c| c.executor() != Executor::Firewall)
        .map_or(changes.len(), |n| start + n);
    let (before, firewall, after) = (&changes[..start], &changes[start..end], &changes[end..]);
    // A list not in the diff's order (something that opens a path before
    // the firewall) keeps its own order.
    if before.is_empty() || before.iter().any(Change::opens_a_path) {
        execute_in_order(nft, ownership, &changes[..end])?;
    } else {
        std::thread::scope(|scope| {
            let firewall = scope.spawn(|| execute_in_order(nft, ownership, firewall));
            let kernel = execute_in_order(nft, ownership, before);
            let firewall = joined(firewall);
            kernel.and(firewall)
        })?;
    }
    execute(nft, ownership, after)
}

/// [`execute`] without the overlap.
fn execute_in_order(nft: &Nft, ownership: &Ownership, changes: &[Change]) -> Result<(), HostError> {
    let mut session: Option<Session> = None;
    let mut start = 0;
    while start < changes.len() {
        let executor = changes[start].executor();
        let end = changes[start..]
            .iter()
            .position(|c| c.executor() != executor)
            .map_or(changes.len(), |n| start + n);
        let run = &changes[start..end];
        match executor {
            Executor::Route => {
                let session = match &mut session {
                    Some(s) => s,
                    None => session.insert(Session::new()?),
                };
                session.apply(run)?;
            }
            Executor::Tap => execute_taps(ownership, run)?,
            Executor::Firewall => run.iter().try_for_each(|c| execute_firewall(nft, c))?,
        }
        start = end;
    }
    Ok(())
}

/// Tap changes in order; consecutive creations go to
/// [`blixard_tap::create_many`] together (one netlink socket, batched marks).
fn execute_taps(ownership: &Ownership, run: &[Change]) -> Result<(), HostError> {
    for group in run.chunk_by(|a, b| {
        matches!(a, Change::CreateTap { .. }) && matches!(b, Change::CreateTap { .. })
    }) {
        if let [Change::CreateTap { .. }, ..] = group {
            let aliases: Vec<String> = group
                .iter()
                .filter_map(|c| match c {
                    Change::CreateTap { name, .. } => Some(ownership.alias_for(name)),
                    _ => None,
                })
                .collect();
            let taps: Vec<blixard_tap::NewTap<'_>> = group
                .iter()
                .zip(&aliases)
                .filter_map(|(c, alias)| match c {
                    Change::CreateTap { name, tap } => Some(blixard_tap::NewTap {
                        name,
                        tap,
                        mark: blixard_tap::LinkMark {
                            group: ownership.link_group,
                            alias,
                        },
                    }),
                    _ => None,
                })
                .collect();
            blixard_tap::create_many(&taps)?;
            continue;
        }
        for change in group {
            match change {
                Change::SetTapOwnership { name, owner, group } => {
                    blixard_tap::set_ownership(name, *owner, *group)?
                }
                Change::DeleteLink { name } => blixard_tap::delete(name)?,
                Change::DeleteLinkGroup { group } => blixard_tap::delete_group(*group)?,
                other => unreachable!("not a tap change: {other:?}"),
            }
        }
    }
    Ok(())
}

fn execute_firewall(nft: &Nft, change: &Change) -> Result<(), HostError> {
    match change {
        // The diff asks for this only when observe found the table out of
        // sync, so `Nft::apply`'s own listing would repeat that work.
        Change::ReplaceFirewall { firewall } => nft.run_batch(
            &Nft::render(firewall),
            &format!("replace table inet {}", firewall.table),
        )?,
        Change::DeleteFirewall { table } => {
            nft.delete(table)?;
        }
        Change::AddFirewallVm { table, vm } => nft.add_vm(table, vm)?,
        Change::RemoveFirewallVm { table, vm } => nft.remove_vm(table, vm)?,
        other => unreachable!("not a firewall change: {other:?}"),
    }
    Ok(())
}
