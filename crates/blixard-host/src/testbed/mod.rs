//! A whole routed network in throwaway namespaces: the host (the caller's
//! current namespace, which must itself be a throwaway one), an upstream
//! "internet" behind a veth, and guests behind stand-in VMMs that relay
//! frames between each VM's tap and a tap inside the guest's own namespace.
//!
//! `blixard-net demo` and the end-to-end tests are built on it. Every
//! address it uses lives inside namespaces it made. Only with the `testbed`
//! feature (it needs `blixard_netns::testing`).

mod bird;
mod cluster;
mod matrix;
mod network;
mod probe;
#[cfg(test)]
mod tests;

pub use bird::{Bird, available as bird_available};
pub use cluster::{
    FABRIC_LINK, FABRIC_SELF, FABRIC_V4, FABRIC_V6, Fabric, FabricHost, cluster_matrix,
    fabric_ipv4, fabric_ipv6,
};
pub use matrix::{Probe, connectivity_matrix};
pub use network::{Guest, Upstream};
pub use probe::{CouldNotProbe, echo_server, ping, ping_with, tcp_probe};

/// The host's side of the upstream link.
pub const UPLINK: &str = "bx-up0";
/// Upstream ("internet") addresses: documentation ranges, inside our namespaces only.
pub const UPSTREAM_V4: &str = "192.0.2.2";
/// The host's IPv4 on the upstream link.
pub const HOST_UPLINK_V4: &str = "192.0.2.1";
/// Upstream IPv6.
pub const UPSTREAM_V6: &str = "2001:db8::2";
/// The host's IPv6 on the upstream link.
pub const HOST_UPLINK_V6: &str = "2001:db8::1";
/// TCP port of the echo servers.
pub const ECHO_PORT: u16 = 7007;

/// Why the testbed could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// A setup command failed.
    #[error("testbed: `{command}` failed: {stderr}")]
    Command {
        /// The command.
        command: String,
        /// What it said.
        stderr: String,
    },
    /// Starting a process or namespace failed.
    #[error("testbed: {0}")]
    Io(#[from] std::io::Error),
    /// The stand-in VMM failed.
    #[error("testbed: stand-in VMM: {0}")]
    Tap(#[from] blixard_tap::TapError),
    /// Entering a namespace failed.
    #[error("testbed: {0}")]
    Netns(#[from] blixard_netns::NetnsError),
}
