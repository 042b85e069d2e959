//! The operator features on every VM (issue 15): a port forward per VM, a
//! bandwidth limit on every tap, and the per-VM counters every table has.
//! The bench applies such a host beside the plain one, so that what the
//! features cost a full apply is a ratio from the same run.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Env;

/// The host size where limits from every VM are also measured (the ifbs
/// take as long as the taps: once is enough to show it).
pub(crate) const BOTH_WAYS_AT: u32 = 1024;

/// The first forwarded host port: VM N's SSH is forwarded from `BASE + N`.
const BASE_PORT: u32 = 10_000;

impl Env {
    /// [`Env::config`] with a forward to every VM's port 22 and a limit
    /// towards every VM; with `both_ways`, a limit from every VM too (an
    /// ifb per VM: a second device each).
    pub(crate) fn config_with_features(&self, count: u32, both_ways: bool) -> Result<PathBuf> {
        let plain = self.config(count, false)?;
        let mut toml = std::fs::read_to_string(&plain)
            .with_context(|| format!("reading {}", plain.display()))?;
        toml.push_str("\n[limits]\ningress = { rate = \"100mbit\" }\n");
        if both_ways {
            toml.push_str("egress = { rate = \"100mbit\" }\n");
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
