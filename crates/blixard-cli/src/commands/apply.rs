//! `apply [--dry-run] [--allow-recreate]`: reconcile the host to the plan.

use std::process::ExitCode;

use blixard_host::{ApplyOptions, ApplyOutcome, Host};

use super::{
    BirdSync, Failure, Loaded, bird, host_plan, load_config, lock_unless_dry_run, progress,
};
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
    let options = ApplyOptions::default()
        .with_dry_run(dry_run)
        .with_allow_recreate(allow_recreate);
    let (outcome, bird) = reconcile(host, &loaded, &options, "blixard-net apply")?;
    // The changes are shown even when BIRD then refuses its file: they
    // were made.
    let synced = bird.as_ref().ok().and_then(Option::as_ref);
    output::changes_and_bird(args, &outcome, dry_run, "apply", synced);
    bird?;
    Ok(if outcome.left_as_is.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_LEFT_AS_IS)
    })
}

/// One reconcile as `apply` makes it (`watch` makes each repair with it):
/// plan against the host, take the lock as `holder` (unless a dry run),
/// apply, and sync BIRD's file. BIRD's result comes apart, so that the
/// host's changes are shown even when BIRD refuses its file.
pub(super) fn reconcile(
    host: &Host,
    loaded: &Loaded,
    options: &ApplyOptions,
    holder: &str,
) -> Result<(ApplyOutcome, Result<Option<BirdSync>, Failure>), Failure> {
    let plan = host_plan(host, loaded)?;
    let _lock = lock_unless_dry_run(options.dry_run, holder)?;
    progress(&format!(
        "reconciling {} VMs in {}",
        plan.links.len(),
        host.netns()
    ));
    let outcome = host.apply(&plan, options).map_err(|e| loaded.failure(e))?;
    let bird = bird::sync(host, loaded, &plan, bird::Wiring::Apply, options.dry_run);
    Ok((outcome, bird))
}
