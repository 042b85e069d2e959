//! Pure core of blixard-net: the VM index <-> interface/IPv4/IPv6/MAC mapping,
//! the config model, the desired host plan, observed state and the diff
//! between them. No I/O, no unsafe, builds on any OS. The README maps the
//! modules and the public API.
//!
//! ```
//! use blixard_addr::Layout;
//! let layout = Layout::default();
//! let vm = layout.vm_at(3).unwrap();
//! assert_eq!((vm.interface.as_str(), vm.ipv4.to_string(), vm.ipv6.to_string()),
//!            ("vm3", "10.0.0.3".to_string(), "fec0::3".to_string()));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod alloc;
pub mod bgp;
pub mod change;
pub mod config;
pub mod conflict;
mod describe;
pub mod diff;
pub mod error;
pub mod layout;
// The test oracle: a pure kernel model the property tests apply diffs to.
// Public because the integration tests (separate crates) use it, and
// blixard-route reads `model::MAIN_TABLE` (so a `testing` feature would
// break a production build); hidden because it is no embedder's API.
#[doc(hidden)]
pub mod model;
pub mod plan;
pub mod planner;
pub mod render;
pub mod route_policy;
pub mod state;
pub mod sysctl;

pub use change::{Change, Executor};
pub use config::Config;
pub use conflict::{Conflict, Conflicts};
pub use diff::DiffOptions;
pub use error::{ConfigError, ConfigErrorKind, LayoutError};
pub use layout::{Layout, MacAddr, Vm, VmIndex};
pub use plan::HostPlan;
pub use planner::{HostFacts, build_plan};
pub use state::ObservedHost;

// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
