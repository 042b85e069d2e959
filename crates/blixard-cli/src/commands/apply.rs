//! `apply [--dry-run] [--allow-recreate]`: reconcile the host to the plan.

use std::process::ExitCode;

use blixard_host::{ApplyOptions, Host};

use super::{Failure, bird, host_plan, load_config, lock_unless_dry_run, progress};
use crate::cli::Args;
use crate::output;

/// `apply` reconciled the host except the VMs it names as left as they are
/// (a VMM holds a tap that would need recreating, ...).
pub const EXIT_LEFT_AS_IS: u8 = 4;

pub fn run(
    args: &Args,
    host: &Host,
    dry_run: bool,
    allow_recreate: bool,
) -> Result<ExitCode, Failure> {
    let loaded = load_config(args)?;
    let plan = host_plan(host, &loaded)?;
    let _lock = lock_unless_dry_run(dry_run, "blixard-net apply")?;
    progress(&format!(
        "reconciling {} VMs in {}",
        plan.links.len(),
        host.netns()
    ));
    let options = ApplyOptions::default()
        .with_dry_run(dry_run)
        .with_allow_recreate(allow_recreate);
    let outcome = host.apply(&plan, &options).map_err(|e| loaded.failure(e))?;
    // The changes are shown even when BIRD then refuses its file: they
    // were made.
    let bird = bird::sync(host, &loaded, &plan, bird::Wiring::Apply, dry_run);
    let synced = bird.as_ref().ok().and_then(Option::as_ref);
    output::changes_and_bird(args, &outcome, dry_run, "apply", synced);
    bird?;
    Ok(if outcome.left_as_is.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_LEFT_AS_IS)
    })
}
