//! `status`: compare the host with the plan; exit 3 on drift.

use std::process::ExitCode;

use blixard_host::Host;

use super::{Failure, bird, host_plan, load_config};
use crate::cli::Args;
use crate::output;

/// The host differs from the plan.
pub const EXIT_DRIFT: u8 = 3;

pub fn run(args: &Args, host: &Host) -> Result<ExitCode, Failure> {
    let loaded = load_config(args)?;
    let plan = host_plan(host, &loaded)?;
    let status = host.status(&plan).map_err(|e| loaded.failure(e))?;
    let bgp = bird::report(host, &loaded, &plan, &status)?;
    let bgp = plan.bgp.as_ref().zip(bgp.as_ref());
    output::status(args, &status, bgp);
    Ok(
        if status.in_sync() && bgp.is_none_or(|(_, report)| report.in_sync()) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(EXIT_DRIFT)
        },
    )
}
