//! `[limits]`: bandwidth limits per VM, a default and per-VM overrides,
//! with rates and sizes written as `tc` writes them.
//!
//! ```toml
//! [limits]
//! ingress = { rate = "100mbit", burst = "256k" }   # towards the VM
//! egress = { rate = "50mbit" }                     # from the VM
//! egress_method = "police"                         # or "ifb"
//! [limits.vms.vm3]
//! ingress = { rate = "1gbit" }                     # vm3's own
//! ```

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, ConfigErrorKind};
use crate::plan::RateLimit;

/// The burst when none is given: this much traffic at the rate...
pub const DEFAULT_BURST_MS: u64 = 10;
/// ...but never less than this many bytes (a few full-size frames).
pub const MIN_DEFAULT_BURST: u32 = 16 << 10;

/// `[limits]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct LimitsConfig {
    /// Every VM's limit towards the VM (what the host sends it: shaped on
    /// the tap). Absent: unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<LimitConfig>,
    /// Every VM's limit from the VM (what it sends: policed in our nft
    /// table, or shaped on an `ifb` of ours, by `egress_method`). Absent:
    /// unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<LimitConfig>,
    /// How every limit from a VM is held, host-wide: `"police"` (the
    /// default) or `"ifb"`.
    #[serde(skip_serializing_if = "EgressMethod::is_default")]
    pub egress_method: EgressMethod,
    /// Per-VM overrides, by interface name (`[limits.vms.vm3]`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub vms: BTreeMap<String, VmLimitsConfig>,
}

/// `[limits.vms.NAME]`: one VM's own limits, replacing the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[non_exhaustive]
pub struct VmLimitsConfig {
    /// This VM's limit towards it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<LimitConfig>,
    /// This VM's limit from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<LimitConfig>,
}

/// How a limit from the VM is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EgressMethod {
    /// Policed in our nft table: the tap is an element of a set whose
    /// elements each get their own token bucket, and what is over the
    /// rate is dropped. One set element per VM, no device; nft's bucket
    /// holds one second at the rate beyond the burst.
    #[default]
    Police,
    /// Shaped: the tap's ingress redirected to an `ifb` of ours whose
    /// root is our `tbf`, which queues what is over the rate. A second
    /// device per VM.
    Ifb,
}

impl EgressMethod {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// One direction's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// A rate as `tc` writes it: `bit`, `kbit`, `mbit`, `gbit`, `tbit`
    /// (bits per second, powers of 1000) or `bps`, `kbps`, `mbps`, `gbps`
    /// (bytes per second), e.g. `"100mbit"`.
    pub rate: String,
    /// Bytes that may pass at once above the rate: a size with `b`, `k`,
    /// `m` (powers of 1024), e.g. `"256k"`. Default: 10 ms at the rate,
    /// at least 16 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<String>,
}

/// Why a limit cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    /// A rate that is not a number with a rate unit.
    #[error(
        "{0:?} is not a rate: write a number and a unit, e.g. \"100mbit\", \"1gbit\", \"50mbps\""
    )]
    BadRate(String),
    /// A size that is not a number with a size unit.
    #[error(
        "{0:?} is not a size: write a number and an optional unit, e.g. \"256k\", \"1m\", \"9000b\""
    )]
    BadSize(String),
    /// A rate of zero, or too small to shape (under 8 kbit).
    #[error("{0:?} is too small: a rate must be at least 8kbit")]
    RateTooSmall(String),
    /// A burst that does not fit the kernel's 32 bits or holds no frame.
    #[error("{0:?} is out of range: a burst must be 1600 bytes to 4 GiB")]
    BurstOutOfRange(String),
    /// An override for a VM the config does not wire.
    #[error("{0:?} is not one of the wired VMs' interfaces")]
    UnknownVm(String),
}

/// The limits, checked: each VM's by interface name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResolvedLimits {
    ingress: Option<RateLimit>,
    egress: Option<RateLimit>,
    egress_method: EgressMethod,
    /// Each override: (towards, from) the VM.
    vms: BTreeMap<String, (Option<RateLimit>, Option<RateLimit>)>,
}

impl ResolvedLimits {
    /// VM `interface`'s limit towards it.
    pub(crate) fn ingress_of(&self, interface: &str) -> Option<RateLimit> {
        self.vms.get(interface).map_or(self.ingress, |own| own.0)
    }

    /// VM `interface`'s limit from it.
    pub(crate) fn egress_of(&self, interface: &str) -> Option<RateLimit> {
        self.vms.get(interface).map_or(self.egress, |own| own.1)
    }

    /// How the limits from the VMs are held.
    pub(crate) fn egress_method(&self) -> EgressMethod {
        self.egress_method
    }

    /// Every distinct limit from a VM the config can give (the default
    /// and each override), sorted: with policing, one set each, whether or
    /// not a VM with it is wired.
    pub(crate) fn egress_limits(&self) -> Vec<RateLimit> {
        let mut all: Vec<RateLimit> = self
            .egress
            .into_iter()
            .chain(self.vms.values().filter_map(|own| own.1))
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

impl LimitsConfig {
    /// Whether the section says nothing: no limit, the default method.
    pub fn is_empty(&self) -> bool {
        self.ingress.is_none()
            && self.egress.is_none()
            && self.vms.is_empty()
            && self.egress_method.is_default()
    }

    /// Checks every rate and size, and that each override names an
    /// interface `wired` says is a wired VM's.
    pub(crate) fn resolve(
        &self,
        wired: impl Fn(&str) -> bool,
    ) -> Result<ResolvedLimits, ConfigError> {
        let ingress = self
            .ingress
            .as_ref()
            .map(|l| l.resolve("limits.ingress"))
            .transpose()?;
        let egress = self
            .egress
            .as_ref()
            .map(|l| l.resolve("limits.egress"))
            .transpose()?;
        let mut vms = BTreeMap::new();
        for (name, own) in &self.vms {
            let key = format!("limits.vms.{name}");
            if !wired(name) {
                return Err(limit_error(&key, LimitError::UnknownVm(name.clone())));
            }
            let towards = match &own.ingress {
                Some(l) => Some(l.resolve(&format!("{key}.ingress"))?),
                None => ingress,
            };
            let from = match &own.egress {
                Some(l) => Some(l.resolve(&format!("{key}.egress"))?),
                None => egress,
            };
            vms.insert(name.clone(), (towards, from));
        }
        Ok(ResolvedLimits {
            ingress,
            egress,
            egress_method: self.egress_method,
            vms,
        })
    }
}

impl LimitConfig {
    fn resolve(&self, key: &str) -> Result<RateLimit, ConfigError> {
        let rate = parse_rate(&self.rate).map_err(|e| limit_error(&format!("{key}.rate"), e))?;
        let burst = match &self.burst {
            Some(burst) => {
                parse_size(burst).map_err(|e| limit_error(&format!("{key}.burst"), e))?
            }
            None => default_burst(rate),
        };
        Ok(RateLimit::new(rate, burst))
    }
}

fn limit_error(key: &str, e: LimitError) -> ConfigError {
    ConfigError::at_key(key, ConfigErrorKind::Limit(e))
}

/// [`DEFAULT_BURST_MS`] at `rate` bytes per second, at least
/// [`MIN_DEFAULT_BURST`].
pub fn default_burst(rate: u64) -> u32 {
    let burst = rate.saturating_mul(DEFAULT_BURST_MS) / 1000;
    burst.clamp(u64::from(MIN_DEFAULT_BURST), u64::from(u32::MAX)) as u32
}

/// A number (decimals allowed) and its unit, split.
fn split_unit(text: &str) -> Option<(f64, String)> {
    let text = text.trim();
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(at);
    let number: f64 = number.parse().ok()?;
    number
        .is_finite()
        .then(|| (number, unit.trim().to_ascii_lowercase()))
}

/// A `tc` rate, in bytes per second.
pub fn parse_rate(text: &str) -> Result<u64, LimitError> {
    let bad = || LimitError::BadRate(text.to_string());
    let (number, unit) = split_unit(text).ok_or_else(bad)?;
    let bits_per_unit: f64 = match unit.as_str() {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => return Err(bad()),
    };
    let bytes = (number * bits_per_unit / 8.0).round();
    if bytes < 1000.0 {
        return Err(LimitError::RateTooSmall(text.to_string()));
    }
    if bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// A `tc` size, in bytes.
pub fn parse_size(text: &str) -> Result<u32, LimitError> {
    let (number, unit) = split_unit(text).ok_or_else(|| LimitError::BadSize(text.to_string()))?;
    let scale: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1024.0,
        "m" | "mb" => 1024.0 * 1024.0,
        "g" | "gb" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(LimitError::BadSize(text.to_string())),
    };
    let bytes = (number * scale).round();
    if !(1600.0..=f64::from(u32::MAX)).contains(&bytes) {
        return Err(LimitError::BurstOutOfRange(text.to_string()));
    }
    Ok(bytes as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_sizes_read_as_tc_writes_them() {
        assert_eq!(parse_rate("100mbit"), Ok(12_500_000));
        assert_eq!(parse_rate("1gbit"), Ok(125_000_000));
        assert_eq!(parse_rate("1.5Mbit"), Ok(187_500));
        assert_eq!(parse_rate("50mbps"), Ok(50_000_000));
        assert_eq!(parse_rate("8kbit"), Ok(1000));
        assert!(matches!(
            parse_rate("7kbit"),
            Err(LimitError::RateTooSmall(_))
        ));
        assert!(matches!(parse_rate("100"), Err(LimitError::BadRate(_))));
        assert!(matches!(parse_rate("fast"), Err(LimitError::BadRate(_))));
        assert_eq!(parse_size("256k"), Ok(262_144));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("9000"), Ok(9000));
        assert_eq!(parse_size("9000b"), Ok(9000));
        assert!(matches!(
            parse_size("1k"),
            Err(LimitError::BurstOutOfRange(_))
        ));
        assert!(matches!(
            parse_size("5g"),
            Err(LimitError::BurstOutOfRange(_))
        ));
        assert!(matches!(parse_size("lots"), Err(LimitError::BadSize(_))));
    }

    #[test]
    fn the_default_burst_is_10_ms_at_the_rate_and_at_least_16_kib() {
        assert_eq!(default_burst(125_000_000), 1_250_000);
        assert_eq!(default_burst(12_500), MIN_DEFAULT_BURST);
    }

    #[test]
    fn an_override_replaces_the_default_and_must_name_a_wired_vm() {
        let config: LimitsConfig = toml::from_str(
            r#"
            ingress = { rate = "100mbit", burst = "256k" }
            [vms.vm3]
            ingress = { rate = "1gbit" }
            "#,
        )
        .unwrap();
        let resolved = config.resolve(|n| ["vm1", "vm3"].contains(&n)).unwrap();
        assert_eq!(
            resolved.ingress_of("vm1"),
            Some(RateLimit::new(12_500_000, 262_144))
        );
        assert_eq!(
            resolved.ingress_of("vm3"),
            Some(RateLimit::new(125_000_000, 1_250_000))
        );
        let e = config.resolve(|n| n == "vm1").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("limits.vms.vm3"));
        assert!(matches!(
            e.kind,
            ConfigErrorKind::Limit(LimitError::UnknownVm(_))
        ));
    }
}
