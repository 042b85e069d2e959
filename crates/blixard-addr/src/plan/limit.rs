//! A VM's bandwidth limit as the host holds it: a token bucket (`tbf`) as
//! the root qdisc of its tap, which shapes what the host sends towards the
//! VM. Our qdisc carries our handle, [`LIMIT_QDISC_MAJOR`], so that it is
//! told apart from anyone else's. What the VM sends is policed in our nft
//! table ([`RateLimit::police_set`]) or shaped on an `ifb` ([`EgressPlan`]).

use schemars::JsonSchema;
use serde::Serialize;

/// The major number of our root qdisc's handle (`b1a:` in `tc`'s
/// notation): a root qdisc with another non-zero handle is someone else's.
pub const LIMIT_QDISC_MAJOR: u16 = 0x0b1a;

/// The `ifb` of ours that shapes what VM `index` sends: the tap's ingress
/// is redirected to it, and our `tbf` is its root qdisc. One name per VM
/// index, at most 15 bytes (`bxifb` and ten digits).
pub fn ifb_name(index: u32) -> String {
    format!("bxifb{index}")
}

/// How every police set's name starts ([`RateLimit::police_set`]).
pub const POLICE_SET_PREFIX: &str = "police_";

/// A limit from the VM: the `ifb` it is shaped on, and the limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, JsonSchema)]
pub struct EgressPlan {
    /// The ifb ([`ifb_name`]), marked as ours like the taps.
    pub ifb: String,
    /// Its alias mark.
    pub alias: String,
    /// The limit.
    pub limit: RateLimit,
}

/// How long a full queue may hold packets at the rate: the queue is the
/// burst plus this much traffic (what `tc ... tbf latency 50ms` sets).
pub const LIMIT_QUEUE_MS: u64 = 50;

/// A shaped direction: the rate, the burst the bucket holds, and the
/// queue in front of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
pub struct RateLimit {
    /// Bytes per second.
    pub rate: u64,
    /// Bytes the bucket holds: what may pass at once above the rate.
    pub burst: u32,
    /// Bytes queued before the qdisc drops (the burst and
    /// [`LIMIT_QUEUE_MS`] at the rate).
    pub queue: u32,
}

impl RateLimit {
    /// The limit of `rate` bytes per second with a bucket of `burst` bytes.
    pub fn new(rate: u64, burst: u32) -> Self {
        let queued = rate.saturating_mul(LIMIT_QUEUE_MS) / 1000;
        let queue = u64::from(burst)
            .saturating_add(queued)
            .min(u64::from(u32::MAX)) as u32;
        Self { rate, burst, queue }
    }

    /// Whether an observed bucket is this one: the kernel keeps the burst
    /// as a time at the rate, so it reads back rounded (by a few bytes).
    pub fn matches(&self, observed: &RateLimit) -> bool {
        let slack = (u64::from(self.burst) / 100).max(64);
        self.rate == observed.rate
            && self.queue == observed.queue
            && u64::from(self.burst).abs_diff(u64::from(observed.burst)) <= slack
    }
}

impl RateLimit {
    /// The nft set of ours whose taps are policed at this limit, named by
    /// the limit alone so that wiring a VM needs nothing but its own
    /// limit: `police_<rate>_<burst>`, rate in bytes per second, burst in
    /// bytes (at most 38 bytes, well within nft's set names).
    pub fn police_set(&self) -> String {
        format!("{POLICE_SET_PREFIX}{}_{}", self.rate, self.burst)
    }

    /// The rate as `tc` writes it, in the largest unit that keeps it whole
    /// (`100mbit`).
    pub fn rate_text(&self) -> String {
        let bits = self.rate.saturating_mul(8);
        let (value, unit) = [
            (1_000_000_000, "gbit"),
            (1_000_000, "mbit"),
            (1_000, "kbit"),
        ]
        .into_iter()
        .find(|(scale, _)| bits >= *scale && bits.is_multiple_of(*scale))
        .map_or((bits, "bit"), |(scale, unit)| (bits / scale, unit));
        format!("{value}{unit}")
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rate {} burst {}b", self.rate_text(), self.burst)
    }
}
