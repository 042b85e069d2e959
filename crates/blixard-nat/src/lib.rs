//! blixard-nat: one nftables table of ours (`inet blixard` by default) for
//! NAT, forwarding policy, anti-spoofing and user firewall rules.
//!
//! The table is rendered purely from a [`FirewallPlan`] ([`Nft::render`]),
//! compared with what the kernel holds ([`Nft::observe`]) and replaced in one
//! atomic `nft -j -f -` transaction ([`Nft::apply`], which always writes:
//! the diff in blixard-addr decides whether it is needed). Per-VM data lives in
//! named sets, so wiring one VM ([`Nft::add_vm`]) adds set elements and
//! never touches rules. [`Nft::scan`] looks for foreign chains that would
//! drop VM traffic regardless of what our table accepts.
//!
//! Everything is synchronous and runs `nft` as a child process, which
//! inherits the calling thread's network namespace; pick another one with
//! `blixard_netns::run_in`.
//!
//! ```
//! use blixard_nat::Nft;
//! # let plan = blixard_addr::plan::FirewallPlan {
//! #     table: "blixard".into(), external_interface: Some("eth0".into()),
//! #     ipv4_pool: "10.0.0.0/24".parse().unwrap(), ipv6_pool: Some("fec0::/64".parse().unwrap()),
//! #     masquerade_ipv4: true, masquerade_ipv6: true, anti_spoofing: true,
//! #     inbound_default: blixard_addr::config::Action::Drop,
//! #     host_input_default: blixard_addr::config::Action::Accept,
//! #     host_ports: vec![53], allow_networks: vec![], vms: vec![], rules: vec![],
//! #     cluster: false, forwards: vec![], police: vec![] };
//! let batch = Nft::render(&plan);
//! let json = serde_json::to_string(&batch).unwrap();
//! assert!(json.contains("masquerade"));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod canon;
mod counters;
mod error;
mod listing;
mod monitor;
mod nfnl;
mod per_vm;
pub mod render;
mod scan;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use blixard_addr::plan::{FirewallPlan, FirewallVm};
use blixard_addr::state::ObservedFirewall;
use nftables::batch::Batch;
use nftables::schema::{NfListObject, Nftables};
use serde_json::Value;

pub use counters::{Count, VmCounters, counters_of};
pub use error::NatError;
use error::errno_from_text;
pub use monitor::{NftMonitor, NftStopper};
pub use scan::{Finding, FindingKind};

/// Drives the `nft` binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nft {
    binary: PathBuf,
}

impl Default for Nft {
    fn default() -> Self {
        Self::new()
    }
}

impl Nft {
    /// `nft` from `PATH`.
    pub fn new() -> Nft {
        Nft {
            binary: PathBuf::from("nft"),
        }
    }

    /// A specific `nft` binary.
    pub fn with_binary(path: impl Into<PathBuf>) -> Nft {
        Nft {
            binary: path.into(),
        }
    }

    /// Pure: the desired table as one nftables JSON batch (add table, delete
    /// table, add table, chains, sets, elements, rules).
    pub fn render(plan: &FirewallPlan) -> Value {
        render::render(plan)
    }

    /// Pure: the canonical form of the desired table, as [`Nft::observe`]
    /// compares it.
    pub fn desired(plan: &FirewallPlan) -> canon::CanonTable {
        render::canonical(plan)
    }

    /// Reads back only our table and compares it with the desired one.
    pub fn observe(&self, plan: &FirewallPlan) -> Result<ObservedFirewall, NatError> {
        let have = match self.read(&plan.table)? {
            Some((_, ours)) => ours,
            None => self
                .list_table(&plan.table)?
                .map(|listing| canon::CanonTable::from_listing(&listing)),
        };
        Ok(match have {
            None => ObservedFirewall::Absent,
            Some(have) => Self::compare(plan, &have),
        })
    }

    /// Our table as nft prints it (`None` when it does not exist).
    pub fn list_table(&self, table: &str) -> Result<Option<Value>, NatError> {
        let what = format!("list table inet {table}");
        // The JSON form of `list table`: on the command line nft's text
        // parser would take a table named like a keyword (`delete`,
        // `counter`) as that keyword, and no quoting gets it through.
        let request = serde_json::json!({
            "nftables": [{ "list": { "table": { "family": "inet", "name": table } } }]
        })
        .to_string();
        let out = self.run(&["-j", "-f", "-"], Some(&request), &what);
        match out {
            Ok(stdout) => serde_json::from_str(&stdout)
                .map(Some)
                .map_err(|source| NatError::Parse { what, source }),
            Err(NatError::Nft { stderr, .. }) if errno_from_text(&stderr) == Some(2) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces our table atomically in one nft transaction. It always
    /// writes: whether the table needs it is the diff's decision, from
    /// [`Nft::observe`].
    pub fn apply(&self, plan: &FirewallPlan) -> Result<(), NatError> {
        let json = render::render_text(plan);
        let what = format!("replace table inet {}", plan.table);
        self.run(&["-j", "-f", "-"], Some(&json), &what).map(|_| ())
    }

    /// Deletes our table, in one transaction that first adds it, so that an
    /// absent table is not an error and nothing needs listing first. Nothing
    /// else in the ruleset is touched.
    pub fn delete(&self, table: &str) -> Result<(), NatError> {
        let mut batch = Batch::new();
        batch.add(render::table(table));
        batch.delete(render::table(table));
        self.run_batch(&batch.to_nftables(), &format!("delete table inet {table}"))
    }

    /// Wires one VM: adds its interface and addresses to our sets. Idempotent;
    /// no rule changes.
    pub fn add_vm(&self, table: &str, vm: &FirewallVm) -> Result<(), NatError> {
        let what = format!("add {}'s set elements to table inet {table}", vm.interface);
        let mut batch = Batch::new();
        for e in render::vm_elements(table, vm) {
            batch.add(NfListObject::Element(e));
        }
        self.leave_other_police_sets(&mut batch, table, vm)?;
        let Err(e) = self.run_batch(&batch.to_nftables(), &what) else {
            return Ok(());
        };
        let Some(listing) = self.list_table(table)? else {
            return Err(NatError::NoTable {
                table: table.into(),
                what: format!("adding {}", vm.interface),
            });
        };
        let sets = canon::CanonTable::from_listing(&listing).sets;
        match vm.police.map(|limit| limit.police_set()) {
            Some(set) if !sets.contains_key(&set) => Err(NatError::NoPoliceSet {
                table: table.into(),
                set,
                vm: vm.interface.clone(),
            }),
            _ => Err(e),
        }
    }

    /// Takes `vm` out of the police sets of other limits in the same
    /// transaction (a limit changed since it was wired), each element
    /// added first so that its delete cannot fail where it is not.
    fn leave_other_police_sets(
        &self,
        batch: &mut Batch<'static>,
        table: &str,
        vm: &FirewallVm,
    ) -> Result<(), NatError> {
        let stale = render::police_elements(table, vm, &self.police_sets_besides(table, vm)?);
        for e in stale.clone() {
            batch.add(NfListObject::Element(e));
        }
        for e in stale {
            batch.delete(NfListObject::Element(e));
        }
        Ok(())
    }

    /// Unwires one VM: removes its set elements. Idempotent: absent elements
    /// or an absent table are not an error.
    pub fn remove_vm(&self, table: &str, vm: &FirewallVm) -> Result<(), NatError> {
        let what = format!(
            "remove {}'s set elements from table inet {table}",
            vm.interface
        );
        let mut batch = Batch::new();
        // `add` first, in the same transaction, so the `delete` cannot fail
        // on an element that is already gone (nft 1.0.6 has no `destroy`).
        for e in render::vm_elements(table, vm) {
            batch.add(NfListObject::Element(e));
        }
        for e in render::vm_elements(table, vm) {
            batch.delete(NfListObject::Element(e));
        }
        self.leave_other_police_sets(&mut batch, table, vm)?;
        match self.run_batch(&batch.to_nftables(), &what) {
            Err(_) if self.list_table(table)?.is_none() => Ok(()),
            other => other,
        }
    }

    /// [`Nft::observe`] and [`Nft::scan`] from one `nft -j list ruleset`:
    /// one process instead of two, which is most of a no-op apply's cost.
    pub fn observe_and_scan(
        &self,
        plan: &FirewallPlan,
    ) -> Result<(ObservedFirewall, Vec<Finding>), NatError> {
        let (ruleset, ours) = match self.read(&plan.table)? {
            Some(read) => read,
            None => {
                let ruleset = self.list_ruleset(false)?;
                let ours = canon::CanonTable::from_ruleset(&ruleset, &plan.table);
                (ruleset, ours)
            }
        };
        let observed = match ours {
            None => ObservedFirewall::Absent,
            Some(have) => Self::compare(plan, &have),
        };
        let mut findings = scan::scan_nft(&ruleset, plan);
        drop(ruleset);
        findings.extend(scan::scan_legacy(plan));
        Ok((observed, findings))
    }

    /// The whole ruleset; `terse` leaves the sets' elements out.
    pub(crate) fn list_ruleset(&self, terse: bool) -> Result<Value, NatError> {
        let args: &[&str] = if terse {
            &["-j", "-t", "list", "ruleset"]
        } else {
            &["-j", "list", "ruleset"]
        };
        let text = self.run(args, None, "list ruleset")?;
        serde_json::from_str(&text).map_err(|source| NatError::Parse {
            what: "list ruleset".into(),
            source,
        })
    }

    fn compare(plan: &FirewallPlan, have: &canon::CanonTable) -> ObservedFirewall {
        let diffs = Self::desired(plan).differences(have);
        if diffs.is_empty() {
            ObservedFirewall::InSync
        } else {
            ObservedFirewall::Differs(diffs)
        }
    }

    /// Coexistence scan: foreign base chains on the forward/input hooks whose
    /// policy or rules would drop VM traffic (Docker's FORWARD policy DROP,
    /// moby/moby#39439; firewalld), and iptables-legacy rules nft cannot see.
    /// Each finding names the table/chain and the exact fix command.
    pub fn scan(&self, plan: &FirewallPlan) -> Result<Vec<Finding>, NatError> {
        // The scan reads chains and rules, never elements.
        let ruleset = self.list_ruleset(true)?;
        let mut findings = scan::scan_nft(&ruleset, plan);
        findings.extend(scan::scan_legacy(plan));
        Ok(findings)
    }

    /// Sends one JSON batch to `nft -j -f -` (one transaction).
    pub fn run_batch(&self, batch: &Nftables<'_>, what: &str) -> Result<(), NatError> {
        let json = serde_json::to_string(batch).expect("nftables JSON serializes");
        self.run(&["-j", "-f", "-"], Some(&json), what).map(|_| ())
    }

    /// Why `nft` could not be started for `what`: not installed, or the OS said no.
    fn spawn_error(&self, what: &str, source: std::io::Error) -> NatError {
        if source.kind() == std::io::ErrorKind::NotFound {
            NatError::NotInstalled {
                binary: self.binary.clone(),
            }
        } else {
            NatError::Spawn {
                binary: self.binary.clone(),
                what: what.into(),
                source,
            }
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>, what: &str) -> Result<String, NatError> {
        let spawn_err = |source| self.spawn_error(what, source);
        let mut child = Command::new(&self.binary)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        // Feed stdin from another thread: if nft stops reading early (a
        // parse error), its stderr is what matters, not our EPIPE.
        let pipe = child.stdin.take();
        let out = std::thread::scope(|scope| {
            let writer = scope.spawn(move || match (pipe, stdin) {
                (Some(mut pipe), Some(input)) => pipe.write_all(input.as_bytes()),
                _ => Ok(()),
            });
            let out = child.wait_with_output();
            (out, writer.join().unwrap_or(Ok(())))
        });
        let (out, written) = out;
        let out = out.map_err(|source| NatError::Spawn {
            binary: self.binary.clone(),
            what: what.into(),
            source,
        })?;
        if out.status.success() {
            written.map_err(|source| NatError::Spawn {
                binary: self.binary.clone(),
                what: what.into(),
                source,
            })?;
        }
        if !out.status.success() {
            return Err(NatError::Nft {
                what: what.into(),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
