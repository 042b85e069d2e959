//! `doctor`: the seed's troubleshooting checks, and more.

use std::process::ExitCode;

use crate::cli::Args;
use crate::commands::{Failure, Loaded};
use blixard_host::Host;

pub fn run(_args: &Args, _host: &Host, _loaded: &Loaded) -> Result<ExitCode, Failure> {
    Err(Failure::Failed("doctor: not implemented yet".into()))
}
