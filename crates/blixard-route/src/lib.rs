//! Host side of every VM link over rtnetlink: link marks (group, alias,
//! MTU), the root `noqueue` qdisc, `up`, host addresses, routes with our own
//! route protocol, and `net.*` sysctls.
//!
//! Everything goes through a synchronous [`Session`] that owns one netlink
//! socket (the workspace's shared layer, `blixard_netlink`), so callers
//! never see async code and no runtime runs. The socket belongs to the
//! network namespace of the thread that created the session: create it
//! inside [`blixard_netns::run_in`] to work on another namespace.
//!
//! This crate never creates taps and never deletes links (`blixard-tap`
//! does both); it only observes and executes, the decisions are made by
//! `blixard_addr::diff` (which foreign routes are in the way:
//! `blixard_addr::route_policy`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod apply;
mod by_index;
mod default_route;
mod error;
mod events;
mod observe;
mod observe_vm;
mod requests;
mod rows;
mod session;
mod sysctl;
mod tc;

pub use apply::ApplyReport;
pub use error::RouteError;
pub use events::{KernelEvents, KernelNotice};
pub use observe::{ObserveScope, VmObserveScope};
pub use rows::TunParser;
pub use session::Session;
pub use sysctl::{read_sysctl, sysctl_path, write_sysctl};
