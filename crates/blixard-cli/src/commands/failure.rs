//! Why a command failed, and so its exit code.

use std::fmt;

use blixard_host::HostError;

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input or a foreign object in the way: nothing was changed (exit 2).
    BadInput(String),
    /// A change failed (exit 1).
    Failed(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::BadInput(_) => 2,
            Failure::Failed(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BadInput(m) | Failure::Failed(m) => f.write_str(m),
        }
    }
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        if e.changed_nothing() {
            Failure::BadInput(format!("{e}\nnothing was changed"))
        } else {
            Failure::Failed(e.to_string())
        }
    }
}
