//! The operator features on every VM (issue 15): a port forward per VM, a
//! bandwidth limit on every tap, and the per-VM counters every table has.
//! The bench applies such a host beside the plain one, so that what the
//! features cost a full apply is a ratio from the same run.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Env;

/// The host size where limits from every VM are also measured (once is
/// enough to show what they cost).
pub(crate) const BOTH_WAYS_AT: u32 = 1024;

/// Every limit's rate, each way.
const RATE: &str = "100mbit";

/// The police set every VM's limit from it puts its tap in.
pub(crate) fn police_set_of_every_vm() -> Result<String> {
    let rate = blixard_addr::config::parse_rate(RATE)?;
    let burst = blixard_addr::config::default_burst(rate);
    Ok(blixard_addr::plan::RateLimit::new(rate, burst).police_set())
}

/// The first forwarded host port: VM N's SSH is forwarded from `BASE + N`.
const BASE_PORT: u32 = 10_000;

impl Env {
    /// [`Env::config`] with a forward to every VM's port 22 and a limit
    /// towards every VM; with `both_ways`, a limit from every VM too,
    /// held by the default method (policed in our table: a set element per
    /// VM, no device).
    pub(crate) fn config_with_features(&self, count: u32, both_ways: bool) -> Result<PathBuf> {
        let plain = self.config(count, false)?;
        let mut toml = std::fs::read_to_string(&plain)
            .with_context(|| format!("reading {}", plain.display()))?;
        toml.push_str(&format!("\n[limits]\ningress = {{ rate = \"{RATE}\" }}\n"));
        if both_ways {
            toml.push_str(&format!("egress = {{ rate = \"{RATE}\" }}\n"));
        }
        for vm in 1..=count {
            write!(
                toml,
                "\n[[forwards]]\nhost_port = {}\nvm = \"vm{vm}\"\nport = 22\nprotocol = \"tcp\"\n",
                BASE_PORT + vm
            )?;
        }
        let path = self.scratch.join(format!(
            "bench-{count}-features-{}.toml",
            u8::from(both_ways)
        ));
        std::fs::write(&path, toml).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}
