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
//!
//! The public API is [`Host`] and what its methods take and return
//! ([`ApplyOptions`], [`ApplyOutcome`], [`Status`], [`HostError`]). Cargo
//! features add test scaffolding: `testbed` (a whole routed network in
//! throwaway namespaces, `blixard_host::testbed`) and `fault-injection` (an apply that
//! stops after its first k changes, `FAULT_AFTER_ENV`).
//!
//! [`HostPlan`]: blixard_addr::plan::HostPlan
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod apply;
mod cluster;
mod error;
mod events;
mod execute;
mod facts;
mod fault;
mod inspect;
mod observe;
mod outcome;
mod per_vm;
mod teardown;
#[cfg(any(test, feature = "testbed"))]
pub mod testbed;

use blixard_nat::Nft;
use blixard_netns::Netns;

pub use error::HostError;
pub use events::{HostEvent, Subscription};
#[cfg(feature = "fault-injection")]
pub use fault::FAULT_AFTER_ENV;
pub use inspect::Listener;
pub use outcome::{ApplyOptions, ApplyOutcome, Status};

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

    /// Runs `f` on a thread inside this host's namespace.
    fn run<T: Send>(
        &self,
        f: impl FnOnce() -> Result<T, HostError> + Send,
    ) -> Result<T, HostError> {
        blixard_netns::run_in(&self.netns, f)?
    }
}

/// The result of a scoped helper thread; its panic is this thread's.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
