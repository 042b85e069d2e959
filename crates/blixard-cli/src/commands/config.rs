//! The config every command starts from (the file, or the built-in
//! defaults, with the command-line overrides applied) and the `--netns`
//! namespace.

use std::path::PathBuf;

use blixard_addr::config::{Config, VmSelection};
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
            let config = Config::from_toml_str(&text, &source)
                .map_err(|e| Failure::BadInput(e.to_string()))?;
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
    let loaded = Loaded {
        config,
        source,
        text,
        flags,
    };
    // The file was valid on its own; the flags may not be, alone or with it.
    if !loaded.flags.is_empty() {
        loaded
            .config
            .validate()
            .map_err(|e| loaded.config_error(e))?;
    }
    Ok(loaded)
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
