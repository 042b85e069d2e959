//! The index -> interface/IPv4/IPv6/MAC mapping and its inverse.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{DEFAULT_INTERFACE_TEMPLATE, DEFAULT_IPV4_POOL, DEFAULT_IPV6_POOL};
use crate::error::LayoutError;

mod mac;
mod validate;

pub use mac::{MacAddr, mac_for};
pub(crate) use validate::is_safe_name_char;
use validate::{check_special_pool, validate_template};

/// Longest interface name the kernel accepts (IFNAMSIZ minus the NUL).
pub const MAX_INTERFACE_NAME_LEN: usize = 15;

/// The placeholder an interface name template must contain exactly once.
pub const INDEX_PLACEHOLDER: &str = "{index}";

/// Highest index any layout can address: the MAC scheme encodes the index in
/// two bytes.
pub const MAX_INDEX: u32 = 0xffff;

/// A VM's position in the pool, `1..=layout.max_index()`. Index 0 is the
/// host gateway and never a VM.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct VmIndex(u32);

impl VmIndex {
    /// An index checked only against the absolute bounds `1..=MAX_INDEX`;
    /// [`Layout::vm`] checks it against a concrete pool.
    pub fn new(index: u32) -> Result<Self, LayoutError> {
        if index == 0 || index > MAX_INDEX {
            return Err(LayoutError::IndexOutOfRange {
                index,
                max: MAX_INDEX,
            });
        }
        Ok(Self(index))
    }

    /// The number itself.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for VmIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Everything one VM needs to know about its network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub struct Vm {
    /// The VM's index in the pool.
    pub index: VmIndex,
    /// Host-side tap device name, e.g. `vm7`.
    pub interface: String,
    /// The guest's IPv4 address (routed as a /32).
    pub ipv4: Ipv4Addr,
    /// The guest's IPv6 address (routed as a /128).
    pub ipv6: Ipv6Addr,
    /// The guest's MAC address.
    pub mac: MacAddr,
    /// The host's address (on the gateway device), the guest's IPv4 gateway.
    pub gateway_ipv4: Ipv4Addr,
    /// The host's IPv6 address (on the gateway device), the guest's IPv6 gateway.
    pub gateway_ipv6: Ipv6Addr,
}

impl Vm {
    /// The guest's IPv4 address as the /32 the host routes to it.
    pub fn ipv4_net(&self) -> Ipv4Net {
        Ipv4Net::new(self.ipv4, 32).expect("/32 is a valid prefix")
    }
    /// The guest's IPv6 address as the /128 the host routes to it.
    pub fn ipv6_net(&self) -> Ipv6Net {
        Ipv6Net::new(self.ipv6, 128).expect("/128 is a valid prefix")
    }
}

/// The address plan: pools, naming and MAC scheme. Pure data; every VM's
/// mapping is computed from it. Built only through [`Layout::new`], so every
/// value is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layout {
    ipv4_pool: Ipv4Net,
    ipv6_pool: Ipv6Net,
    interface_template: String,
}

impl Default for Layout {
    fn default() -> Self {
        Self::new(
            DEFAULT_IPV4_POOL,
            DEFAULT_IPV6_POOL,
            DEFAULT_INTERFACE_TEMPLATE,
        )
        .expect("the default layout is valid")
    }
}

impl Layout {
    /// A layout, validated: pools must be their own network address, the
    /// template must contain `{index}` once and only safe characters, and the
    /// name for the largest index must fit in 15 bytes.
    pub fn new(
        ipv4_pool: Ipv4Net,
        ipv6_pool: Ipv6Net,
        interface_template: &str,
    ) -> Result<Self, LayoutError> {
        if ipv4_pool.network() != ipv4_pool.addr() {
            return Err(LayoutError::PoolNotNetwork(ipv4_pool.to_string()));
        }
        if ipv6_pool.network() != ipv6_pool.addr() {
            return Err(LayoutError::PoolNotNetwork(ipv6_pool.to_string()));
        }
        if ipv4_pool.prefix_len() > 30 {
            return Err(LayoutError::PoolTooSmall(ipv4_pool.to_string()));
        }
        if ipv6_pool.prefix_len() > 126 {
            return Err(LayoutError::PoolTooSmall(ipv6_pool.to_string()));
        }
        check_special_pool(IpNet::V4(ipv4_pool))?;
        check_special_pool(IpNet::V6(ipv6_pool))?;
        validate_template(interface_template)?;
        let layout = Self {
            ipv4_pool,
            ipv6_pool,
            interface_template: interface_template.to_string(),
        };
        let longest = layout.interface_name(layout.max_index());
        if longest.len() > MAX_INTERFACE_NAME_LEN {
            return Err(LayoutError::NameTooLong {
                name: longest,
                max: MAX_INTERFACE_NAME_LEN,
            });
        }
        Ok(layout)
    }

    /// The IPv4 pool; its first address is the host gateway.
    pub fn ipv4_pool(&self) -> Ipv4Net {
        self.ipv4_pool
    }
    /// The IPv6 pool; its prefix address is the host gateway.
    pub fn ipv6_pool(&self) -> Ipv6Net {
        self.ipv6_pool
    }
    /// The interface name template, e.g. `vm{index}`.
    pub fn interface_template(&self) -> &str {
        &self.interface_template
    }
    /// The host's IPv4 address for every VM (the guests' gateway).
    pub fn gateway_ipv4(&self) -> Ipv4Addr {
        self.ipv4_pool.network()
    }
    /// The host's IPv6 address for every VM (the guests' gateway).
    pub fn gateway_ipv6(&self) -> Ipv6Addr {
        self.ipv6_pool.network()
    }

    /// The largest index both pools and the MAC scheme can hold.
    pub fn max_index(&self) -> u32 {
        let v4_bits = 32 - u32::from(self.ipv4_pool.prefix_len());
        let v6_bits = 128 - u32::from(self.ipv6_pool.prefix_len());
        let cap = |bits: u32| -> u32 {
            if bits >= 32 {
                u32::MAX
            } else {
                (1u32 << bits) - 1
            }
        };
        cap(v4_bits).min(cap(v6_bits)).min(MAX_INDEX)
    }

    /// Checks `index` against this layout.
    pub fn index(&self, index: u32) -> Result<VmIndex, LayoutError> {
        if index == 0 || index > self.max_index() {
            return Err(LayoutError::IndexOutOfRange {
                index,
                max: self.max_index(),
            });
        }
        Ok(VmIndex(index))
    }

    /// The interface name for an index (unchecked against the pool).
    pub fn interface_name(&self, index: u32) -> String {
        self.interface_template
            .replace(INDEX_PLACEHOLDER, &index.to_string())
    }

    /// The full mapping for one VM.
    pub fn vm(&self, index: VmIndex) -> Result<Vm, LayoutError> {
        let index = self.index(index.get())?;
        let n = index.get();
        Ok(Vm {
            index,
            interface: self.interface_name(n),
            ipv4: Ipv4Addr::from(u32::from(self.ipv4_pool.network()) + n),
            ipv6: Ipv6Addr::from(u128::from(self.ipv6_pool.network()) + u128::from(n)),
            mac: mac_for(n),
            gateway_ipv4: self.gateway_ipv4(),
            gateway_ipv6: self.gateway_ipv6(),
        })
    }

    /// The VM with this index number.
    pub fn vm_at(&self, index: u32) -> Result<Vm, LayoutError> {
        self.vm(self.index(index)?)
    }

    /// The index whose tap is called `name`, if any.
    pub fn index_of_interface(&self, name: &str) -> Option<VmIndex> {
        let (prefix, suffix) = self
            .interface_template
            .split_once(INDEX_PLACEHOLDER)
            .expect("validated template");
        let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return None;
        }
        self.index(digits.parse().ok()?).ok()
    }

    /// The index that owns this guest IPv4 address, if any.
    pub fn index_of_ipv4(&self, ip: Ipv4Addr) -> Option<VmIndex> {
        if !self.ipv4_pool.contains(&ip) {
            return None;
        }
        self.index(u32::from(ip) - u32::from(self.ipv4_pool.network()))
            .ok()
    }

    /// The index that owns this guest IPv6 address, if any.
    pub fn index_of_ipv6(&self, ip: Ipv6Addr) -> Option<VmIndex> {
        if !self.ipv6_pool.contains(&ip) {
            return None;
        }
        let offset = u128::from(ip) - u128::from(self.ipv6_pool.network());
        self.index(u32::try_from(offset).ok()?).ok()
    }

    /// The index whose guest has this MAC, if any.
    pub fn index_of_mac(&self, mac: MacAddr) -> Option<VmIndex> {
        let b = mac.0;
        if b[0] != 0x02 || b[1] != 0 || b[2] != 0 || b[5] != 0x01 {
            return None;
        }
        self.index(u32::from(b[3]) << 8 | u32::from(b[4])).ok()
    }

    /// Resolves any of: an index (`7`), an interface (`vm7`), an IPv4 or IPv6
    /// address, or a MAC.
    pub fn lookup(&self, query: &str) -> Result<Vm, LayoutError> {
        let query = query.trim();
        let found = if let Ok(n) = query.parse::<u32>() {
            return self.vm_at(n);
        } else if let Ok(ip) = query.parse::<IpAddr>() {
            match ip {
                IpAddr::V4(v4) => self.index_of_ipv4(v4),
                IpAddr::V6(v6) => self.index_of_ipv6(v6),
            }
        } else if let Ok(mac) = query.parse::<MacAddr>() {
            self.index_of_mac(mac)
        } else {
            self.index_of_interface(query)
        };
        match found {
            Some(index) => self.vm(index),
            None => Err(LayoutError::NoSuchVm(query.to_string())),
        }
    }
}

#[cfg(test)]
mod tests;
