//! The operator features on every VM (issue 15): a port forward per VM, a
//! bandwidth limit each way on every tap (shaped towards the VM, policed
//! from it: the defaults), and the per-VM counters every table has. The
//! bench applies such a host beside the plain one, so that what the
//! features cost a full apply is a ratio from the same run; once, the same
//! with the limits from the VMs on ifbs (`egress_method = "ifb"`).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::Env;

/// The host size where the ifb method is also measured (once is enough to
/// show what a device per VM costs).
pub(crate) const IFB_AT: u32 = 1024;

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
    /// each way on every VM; the limit from the VM policed in our table
    /// (the default: a set element per VM, no device) or, with `ifb`, on
    /// an ifb per VM.
    pub(crate) fn config_with_features(&self, count: u32, ifb: bool) -> Result<PathBuf> {
        let plain = self.config(count, false)?;
        let mut toml = std::fs::read_to_string(&plain)
            .with_context(|| format!("reading {}", plain.display()))?;
        toml.push_str(&format!(
            "\n[limits]\ningress = {{ rate = \"{RATE}\" }}\negress = {{ rate = \"{RATE}\" }}\n"
        ));
        if ifb {
            toml.push_str("egress_method = \"ifb\"\n");
        }
        for vm in 1..=count {
            write!(
                toml,
                "\n[[forwards]]\nhost_port = {}\nvm = \"vm{vm}\"\nport = 22\nprotocol = \"tcp\"\n",
                BASE_PORT + vm
            )?;
        }
        let path = self
            .scratch
            .join(format!("bench-{count}-features-{}.toml", u8::from(ifb)));
        std::fs::write(&path, toml).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}
