//! Why a command failed, and so its exit code.

use std::fmt;

use blixard_host::HostError;

use crate::files::FileError;

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input or a foreign object in the way: nothing was changed (exit 2).
    BadInput(String),
    /// A change failed (exit 1).
    Failed(String),
}

impl Failure {
    /// A file of ours that could not be read or written, `what` naming it:
    /// a refused one is bad input (exit 2), nothing was read or written;
    /// the OS failing is a failure.
    pub fn of_file(what: &str, e: FileError) -> Failure {
        match e {
            FileError::Refused { .. } => Failure::BadInput(format!("{what}: {e}")),
            FileError::Io { .. } => Failure::Failed(format!("{what}: {e}")),
        }
    }

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
