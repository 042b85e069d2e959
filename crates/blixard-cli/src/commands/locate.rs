//! Errors moved to where the user can fix them: the flag that set a key,
//! or the key's line in the config file. A host error that is the input's
//! fault (an unknown user, a foreign route in a pool) is pinned to the
//! config key it names.

use blixard_addr::error::{ConfigError, ConfigErrorKind};
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
    /// behind it when the error is the input's fault
    /// ([`HostError::config_key`]).
    pub fn failure(&self, e: HostError) -> Failure {
        match e.config_key() {
            Some(key) => self.host_error(key, e.reason()),
            None => e.into(),
        }
    }
}
