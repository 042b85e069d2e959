//! Host side of every VM link over rtnetlink: link marks (group, alias,
//! MTU), the root `noqueue` qdisc, `up`, host addresses, routes with our own
//! route protocol, and `net.*` sysctls.
//!
//! Everything goes through a synchronous [`Session`] that owns a private
//! current-thread tokio runtime and one netlink socket, so callers never see
//! async code. The socket belongs to the network namespace of the thread
//! that created the session: create it inside [`blixard_netns::run_in`] to
//! work on another namespace.
//!
//! This crate never creates taps and never deletes links (`blixard-tap`
//! does both); it only observes and executes, the decisions are made by
//! `blixard_addr::diff`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod nl;
mod session;
mod sysctl;

pub use error::RouteError;
pub use session::{ApplyReport, ObserveScope, Session, TunParser, VmObserveScope};
pub use sysctl::{read_sysctl, sysctl_path, write_sysctl};
