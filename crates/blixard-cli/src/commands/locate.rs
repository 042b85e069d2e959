//! Errors moved to where the user can fix them: the flag that set a key,
//! or the key's line in the config file. A host error that is the input's
//! fault (an unknown user, a foreign route in a pool) is pinned to the
//! config key behind it.

use blixard_addr::error::{ConfigError, ConfigErrorKind};
use blixard_addr::state::Conflict;
use blixard_host::HostError;

use super::{Failure, Loaded};

impl Loaded {
    /// Bad input about `e.key`, located at its flag or its line in the file.
    pub fn config_error(&self, e: ConfigError) -> Failure {
        if let Some(flag) = e.key.as_deref().and_then(|k| self.flag_for(k)) {
            return Failure::BadInput(format!("{flag}: {}", e.kind));
        }
        Failure::BadInput(match &self.text {
            Some(text) => e.locate(text, &self.source).to_string(),
            None => format!("{}: {e}", self.source),
        })
    }

    /// Bad input that the host reveals about `key` (an unknown user, a
    /// missing interface, a foreign route in a pool): nothing was changed.
    pub(super) fn host_error(&self, key: &str, message: String) -> Failure {
        let Failure::BadInput(located) =
            self.config_error(ConfigError::at_key(key, ConfigErrorKind::Host(message)))
        else {
            unreachable!("config_error is always bad input")
        };
        Failure::BadInput(format!("{located}\nnothing was changed"))
    }

    fn flag_for(&self, key: &str) -> Option<&'static str> {
        let top = key.split(['.', '[']).next()?;
        self.flags.iter().find(|(k, _)| *k == top).map(|(_, f)| *f)
    }

    /// Turns a host error into a failure, naming the config key or flag
    /// behind it when the error is the input's fault.
    pub fn failure(&self, e: HostError) -> Failure {
        let key = match &e {
            HostError::UnknownName { key, source, .. } if !key.starts_with('$') => {
                return self.host_error(key, source.to_string());
            }
            HostError::UnmappedId { key, .. } if !key.starts_with('$') => {
                return self.host_error(key, e.to_string());
            }
            HostError::NoDefaultRoute(_) => Some("external_interface".to_string()),
            HostError::Conflicts(c) => c.0.first().map(conflict_key),
            _ => None,
        };
        match key {
            Some(key) => self.host_error(&key, e.to_string()),
            None => e.into(),
        }
    }
}

/// The config key that decides whether `conflict` arises: the one to change
/// to get out of its way.
fn conflict_key(conflict: &Conflict) -> String {
    match conflict {
        Conflict::ForeignRoute { pool, .. } if pool.addr().is_ipv6() => "ipv6.pool".into(),
        Conflict::ForeignRoute { .. } => "ipv4.pool".into(),
        Conflict::TapFlags { field, .. } => format!("tap.{field}"),
        Conflict::TapOwnershipHeld { .. } => "owner".into(),
        Conflict::VmNotPlanned { .. } | Conflict::TapHeldUnplanned { .. } => "vms".into(),
        _ => "interface_template".into(),
    }
}
