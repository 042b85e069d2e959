//! The config every command starts from (the file, or the built-in
//! defaults, with the command-line overrides applied), parsed here and
//! validated once by [`Loaded::validated`], and the `--netns` namespace.

use std::path::PathBuf;

use blixard_addr::config::{Config, VmSelection};
use blixard_addr::planner::ValidConfig;
use blixard_netns::Netns;

use super::Failure;
use crate::cli::Args;

/// The default config file.
pub const DEFAULT_CONFIG: &str = "/etc/blixard/network.toml";

/// The config with the command-line overrides applied, and where it came from.
pub struct Loaded {
    pub config: Config,
    pub source: String,
    /// The file's text, so that errors found after parsing (by planning or
    /// against the host) still point at the line of their key.
    pub(super) text: Option<String>,
    /// Config keys a flag overrode, with that flag: an error about such a
    /// key is the flag's, not the file's.
    pub(super) flags: Vec<(&'static str, &'static str)>,
}

pub fn load_config(args: &Args) -> Result<Loaded, Failure> {
    let path: Option<PathBuf> = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
    };
    let (mut config, source, text) = match path {
        Some(path) => {
            let text = crate::files::read_config(&path).map_err(|e| {
                Failure::BadInput(format!(
                    "cannot read config {}: {}",
                    path.display(),
                    e.reason()
                ))
            })?;
            let source = path.display().to_string();
            // Validated once, with the flags applied, by `Loaded::validated`.
            let config =
                Config::parse_toml(&text, &source).map_err(|e| Failure::BadInput(e.to_string()))?;
            (config, source, Some(text))
        }
        None => (Config::default(), "built-in defaults".to_string(), None),
    };
    let mut flags = Vec::new();
    if let Some(n) = args.vms {
        config.vms = VmSelection::Count(n);
        flags.push(("vms", "--vms"));
    }
    if let Some(user) = &args.user {
        config.owner = Some(user.clone());
        flags.push(("owner", "--user"));
    }
    if let Some(ext) = &args.external_interface {
        config.external_interface = ext.clone();
        flags.push(("external_interface", "--external-interface"));
    }
    Ok(Loaded {
        config,
        source,
        text,
        flags,
    })
}

impl Loaded {
    /// The config (the file with the flags applied) validated: every
    /// command asks this once, before it resolves anything on the host,
    /// and plans from it without validating again.
    pub fn validated(&self) -> Result<ValidConfig<'_>, Failure> {
        self.config.validated().map_err(|e| self.config_error(e))
    }
}

/// The namespace of `--netns`, checked to be a network namespace before
/// anything else is done (a file that is not one used to fail on entering,
/// saying "needs root", and a FIFO to block forever).
pub fn netns(args: &Args) -> Result<Netns, Failure> {
    let bad = |e: blixard_netns::NetnsError| Failure::BadInput(format!("--netns: {e}"));
    match &args.netns {
        None => Ok(Netns::Current),
        Some(spec) => {
            let ns: Netns = spec.parse().map_err(bad)?;
            ns.check().map_err(bad)?;
            Ok(ns)
        }
    }
}
