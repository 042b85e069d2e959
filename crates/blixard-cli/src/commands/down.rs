//! `down [--dry-run]`: remove everything of ours and nothing else.

use std::process::ExitCode;

use blixard_host::Host;

use super::{Failure, load_config, lock_unless_dry_run, progress, teardown_plan};
use crate::cli::Args;
use crate::output;

pub fn run(args: &Args, host: &Host, dry_run: bool) -> Result<ExitCode, Failure> {
    let loaded = load_config(args)?;
    let plan = teardown_plan(&loaded, None)?;
    let _lock = lock_unless_dry_run(dry_run, "blixard-net down")?;
    progress(&format!(
        "removing everything of ours from {}",
        host.netns()
    ));
    let outcome = host.down(&plan, dry_run).map_err(|e| loaded.failure(e))?;
    output::changes(args, &outcome, dry_run, "down");
    Ok(ExitCode::SUCCESS)
}
