//! The index -> interface/IPv4/IPv6/MAC mapping and its inverse.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::LayoutError;

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

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = LayoutError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || LayoutError::BadMac(s.to_string());
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for MacAddr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MacAddr".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"
        })
    }
}

/// Everything one VM needs to know about its network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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
    /// The host's address on every tap, the guest's IPv4 gateway.
    pub gateway_ipv4: Ipv4Addr,
    /// The host's IPv6 address on every tap, the guest's IPv6 gateway.
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
            "10.0.0.0/24".parse().expect("valid"),
            "fec0::/64".parse().expect("valid"),
            "vm{index}",
        )
        .expect("the default layout is valid")
    }
}

/// Characters allowed in interface names: safe in an interface name, an nft
/// string, a shell word and a file name.
pub fn is_safe_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
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
    /// The host's IPv4 address on every tap.
    pub fn gateway_ipv4(&self) -> Ipv4Addr {
        self.ipv4_pool.network()
    }
    /// The host's IPv6 address on every tap.
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

/// The guest MAC for an index: `02:00:00:{hi}:{lo}:01`, equal to the blixard
/// guest template `02:00:00:00:{N:02x}:01` for N <= 255 and still unique
/// beyond it.
pub fn mac_for(index: u32) -> MacAddr {
    MacAddr([0x02, 0, 0, (index >> 8) as u8, index as u8, 0x01])
}

/// Address ranges the kernel treats specially, so a pool there fails in
/// the kernel half-way through an apply (multicast, `::`) or is silently
/// something else (loopback, link-local, broadcast). Checked in order, so
/// the most specific reason comes first.
const SPECIAL_RANGES: &[(&str, &str)] = &[
    (
        "0.0.0.0/8",
        "the \"this network\" range (RFC 791), never a host's address",
    ),
    (
        "127.0.0.0/8",
        "the loopback range (RFC 1122), never routed to a device",
    ),
    (
        "169.254.0.0/16",
        "the IPv4 link-local range (RFC 3927), never forwarded",
    ),
    ("224.0.0.0/4", "the IPv4 multicast range (RFC 5771)"),
    ("255.255.255.255/32", "the limited broadcast address"),
    (
        "240.0.0.0/4",
        "the reserved range 240.0.0.0/4 (RFC 1112), which the kernel does not route",
    ),
    (
        "::/127",
        "the unspecified address :: and the loopback ::1 (RFC 4291)",
    ),
    (
        "::ffff:0:0/96",
        "the IPv4-mapped range (RFC 4291), which the kernel reads as IPv4",
    ),
    (
        "fe80::/10",
        "the IPv6 link-local range (RFC 4291), never forwarded",
    ),
    ("ff00::/8", "the IPv6 multicast range (RFC 4291)"),
];

fn check_special_pool(pool: IpNet) -> Result<(), LayoutError> {
    for (range, what) in SPECIAL_RANGES {
        let range: IpNet = range.parse().expect("a valid range");
        // Two prefixes overlap exactly when one contains the other.
        if range.contains(&pool) || pool.contains(&range) {
            let example = match pool {
                IpNet::V4(_) => "a private range such as 10.0.0.0/24",
                IpNet::V6(_) => "a ULA such as fd00:b1::/64",
            };
            return Err(LayoutError::SpecialPool {
                pool: pool.to_string(),
                reason: format!("it overlaps {range}, {what}; use {example}"),
            });
        }
    }
    Ok(())
}

fn validate_template(template: &str) -> Result<(), LayoutError> {
    if template.matches(INDEX_PLACEHOLDER).count() != 1 {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: "must contain {index} exactly once".into(),
        });
    }
    let rest = template.replace(INDEX_PLACEHOLDER, "");
    if let Some(c) = rest.chars().find(|c| !is_safe_name_char(*c)) {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: format!("character {c:?} is not allowed (use letters, digits, '_' and '-')"),
        });
    }
    let (prefix, suffix) = template.split_once(INDEX_PLACEHOLDER).expect("checked");
    if prefix.is_empty() {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: "must start with a letter prefix such as \"vm\"".into(),
        });
    }
    if prefix.starts_with('-') {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: "must not start with '-': `ip`, `tc` and other tools would read the names as options".into(),
        });
    }
    if suffix.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(LayoutError::BadTemplate {
            template: template.to_string(),
            reason: "a digit right after {index} makes names ambiguous".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's table: index, interface, IPv4, IPv6.
    #[test]
    fn seed_table() {
        let layout = Layout::default();
        for (index, ifname, v4, v6) in [
            (1, "vm1", "10.0.0.1", "fec0::1"),
            (2, "vm2", "10.0.0.2", "fec0::2"),
            (3, "vm3", "10.0.0.3", "fec0::3"),
            (64, "vm64", "10.0.0.64", "fec0::40"),
        ] {
            let vm = layout.vm_at(index).unwrap();
            assert_eq!(vm.interface, ifname);
            assert_eq!(vm.ipv4.to_string(), v4);
            assert_eq!(vm.ipv6.to_string(), v6);
            assert_eq!(vm.gateway_ipv4.to_string(), "10.0.0.0");
            assert_eq!(vm.gateway_ipv6.to_string(), "fec0::");
        }
        assert_eq!(
            layout.vm_at(3).unwrap().mac.to_string(),
            "02:00:00:00:03:01"
        );
        assert_eq!(mac_for(0x1ff).to_string(), "02:00:00:01:ff:01");
    }

    #[test]
    fn reverse_lookups() {
        let layout = Layout::default();
        for query in [
            "3",
            "vm3",
            "10.0.0.3",
            "fec0::3",
            "02:00:00:00:03:01",
            " vm3 ",
        ] {
            assert_eq!(layout.lookup(query).unwrap().index.get(), 3, "{query}");
        }
        assert_eq!(layout.lookup("fec0::40").unwrap().interface, "vm64");
        for miss in [
            "vm03",
            "vm0",
            "vm256",
            "10.0.0.0",
            "10.0.1.3",
            "fec0::",
            "02:00:00:00:03:02",
            "eth0",
        ] {
            assert!(
                matches!(layout.lookup(miss), Err(LayoutError::NoSuchVm(_))),
                "{miss}"
            );
        }
        assert_eq!(
            layout.lookup("0"),
            Err(LayoutError::IndexOutOfRange { index: 0, max: 255 })
        );
    }

    #[test]
    fn layout_validation() {
        let v4: Ipv4Net = "10.0.0.0/24".parse().unwrap();
        let v6: Ipv6Net = "fec0::/64".parse().unwrap();
        assert!(matches!(
            Layout::new("10.0.0.1/24".parse().unwrap(), v6, "vm{index}"),
            Err(LayoutError::PoolNotNetwork(_))
        ));
        assert!(matches!(
            Layout::new("10.0.0.0/31".parse().unwrap(), v6, "vm{index}"),
            Err(LayoutError::PoolTooSmall(_))
        ));
        for bad in [
            "vm",
            "{index}",
            "vm{index}{index}",
            "vm {index}",
            "vm{index}0",
        ] {
            assert!(
                matches!(
                    Layout::new(v4, v6, bad),
                    Err(LayoutError::BadTemplate { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Layout::new(v4, v6, "-vm{index}"),
            Err(LayoutError::BadTemplate { reason, .. }) if reason.contains("'-'")
        ));
        let v4_16 = "10.0.0.0/16".parse().unwrap();
        assert_eq!(
            Layout::new(v4_16, v6, "microvmtaps{index}"),
            Err(LayoutError::NameTooLong {
                name: "microvmtaps65535".into(),
                max: 15
            })
        );
        assert!(Layout::new(v4_16, v6, "microvmtap{index}").is_ok());
        // The smaller of the two pools bounds the index.
        let small6 = Layout::new(v4, "fd00::/120".parse().unwrap(), "vm{index}").unwrap();
        assert_eq!(small6.max_index(), 255);
        let small6 = Layout::new(v4, "fd00::/124".parse().unwrap(), "vm{index}").unwrap();
        assert_eq!(small6.max_index(), 15);
    }

    #[test]
    fn special_purpose_pools_are_refused_with_the_range_they_hit() {
        let v4: Ipv4Net = "10.0.0.0/24".parse().unwrap();
        let v6: Ipv6Net = "fd00:b1::/64".parse().unwrap();
        let refused = |v4: Ipv4Net, v6: Ipv6Net| match Layout::new(v4, v6, "vm{index}") {
            Err(LayoutError::SpecialPool { reason, .. }) => reason,
            other => panic!("{v4} {v6}: {other:?}"),
        };
        for (pool, range) in [
            ("0.0.0.0/24", "0.0.0.0/8"),
            ("127.0.0.0/24", "127.0.0.0/8"),
            ("127.255.255.0/30", "127.0.0.0/8"),
            ("169.254.3.0/24", "169.254.0.0/16"),
            ("224.0.0.0/24", "224.0.0.0/4"),
            ("239.255.255.0/24", "224.0.0.0/4"),
            ("240.0.0.0/24", "240.0.0.0/4"),
            ("255.255.255.0/24", "255.255.255.255/32"),
            // A pool that holds a special range overlaps it too.
            ("0.0.0.0/1", "0.0.0.0/8"),
            ("128.0.0.0/1", "169.254.0.0/16"),
        ] {
            let reason = refused(pool.parse().unwrap(), v6);
            assert!(
                reason.contains(&format!("overlaps {range},")),
                "{pool}: {reason}"
            );
        }
        for (pool, range) in [
            ("::/64", "::/127"),
            ("::/120", "::/127"),
            ("::ffff:0.0.0.0/104", "::ffff:0.0.0.0/96"),
            ("fe80::/64", "fe80::/10"),
            ("febf:ffff::/64", "fe80::/10"),
            ("ff02::/64", "ff00::/8"),
            ("fff0::/64", "ff00::/8"),
        ] {
            let reason = refused(v4, pool.parse().unwrap());
            assert!(
                reason.contains(&format!("overlaps {range},")),
                "{pool}: {reason}"
            );
        }
        // Their neighbours are ordinary unicast space.
        for pool in [
            "1.0.0.0/24",
            "126.255.255.0/24",
            "128.0.0.0/24",
            "169.253.0.0/24",
            "223.255.255.0/24",
            "192.168.0.0/24",
        ] {
            assert!(
                Layout::new(pool.parse().unwrap(), v6, "vm{index}").is_ok(),
                "{pool}"
            );
        }
        for pool in [
            "0:0:0:1::/64",
            "fec0::/64",
            "fe00::/64",
            "fec0::/10",
            "2001:db8::/64",
            "fd00::/8",
        ] {
            assert!(
                Layout::new(v4, pool.parse().unwrap(), "vm{index}").is_ok(),
                "{pool}"
            );
        }
    }
}
