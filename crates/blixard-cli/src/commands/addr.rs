//! `addr QUERY`: one VM's mapping, by index, interface, IPv4, IPv6 or MAC.

use std::process::ExitCode;

use blixard_host::Host;

use super::{Failure, load_config, offline_plan};
use crate::cli::Args;
use crate::output;

pub fn run(args: &Args, host: &Host, query: &str) -> Result<ExitCode, Failure> {
    let loaded = load_config(args)?;
    let plan = offline_plan(host, &loaded)?;
    let vm = plan
        .layout
        .lookup(query)
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    output::vm(args, &vm);
    Ok(ExitCode::SUCCESS)
}
