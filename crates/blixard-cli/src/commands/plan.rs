//! `plan`: the desired state, without asking the host to change anything.

use std::process::ExitCode;

use blixard_host::Host;

use super::{Failure, load_config, offline_plan};
use crate::cli::Args;
use crate::output;

pub fn run(args: &Args, host: &Host) -> Result<ExitCode, Failure> {
    let loaded = load_config(args)?;
    let plan = offline_plan(host, &loaded)?;
    output::plan(args, &plan);
    Ok(ExitCode::SUCCESS)
}
