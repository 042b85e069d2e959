//! The defaults that more than one place starts from: the seed's layout
//! (the config's pools and template, and [`Layout::default`]) and the marks
//! of our objects. Every other default is written once, in its section's
//! `Default`.
//!
//! [`Layout::default`]: crate::layout::Layout

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

/// Default IPv4 pool, `10.0.0.0/24`: VM N is `10.0.0.N`.
pub const DEFAULT_IPV4_POOL: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(10, 0, 0, 0), 24);
/// Default IPv6 pool, `fec0::/64`: VM N is `fec0::N` (N in hex).
pub const DEFAULT_IPV6_POOL: Ipv6Net =
    Ipv6Net::new_assert(Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 64);
/// Default tap name template: VM N's tap is `vmN`.
pub const DEFAULT_INTERFACE_TEMPLATE: &str = "vm{index}";
/// Default name of the device of ours holding the gateway addresses.
pub const DEFAULT_GATEWAY_INTERFACE: &str = "vmgw";
/// Default VM count: VMs 1..=64.
pub const DEFAULT_VMS: u32 = 64;
/// Default interface group of our taps.
pub const DEFAULT_LINK_GROUP: u32 = 0xb11;
/// Default route protocol of our routes.
pub const DEFAULT_ROUTE_PROTOCOL: u8 = 0xb1;
/// Default name of our nftables table (family `inet`).
pub const DEFAULT_NFT_TABLE: &str = "blixard";
