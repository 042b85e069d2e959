//! `wire INDEX` and `unwire INDEX`: one VM on or off the host, touching no
//! other VM. Both plan for that VM only, so their cost does not grow with
//! the host.

use std::process::ExitCode;

use blixard_host::{ApplyOptions, Host};

use super::{Failure, bird, host_plan_for, load_config, lock_unless_dry_run, teardown_plan};
use crate::cli::Args;
use crate::output;

/// `wire INDEX [--dry-run]`.
pub fn wire(args: &Args, host: &Host, index: u32, dry_run: bool) -> Result<ExitCode, Failure> {
    one_vm(args, host, index, dry_run, Verb::Wire)
}

/// `unwire INDEX [--dry-run]`.
pub fn unwire(args: &Args, host: &Host, index: u32, dry_run: bool) -> Result<ExitCode, Failure> {
    one_vm(args, host, index, dry_run, Verb::Unwire)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verb {
    Wire,
    Unwire,
}

fn one_vm(
    args: &Args,
    host: &Host,
    index: u32,
    dry_run: bool,
    verb: Verb,
) -> Result<ExitCode, Failure> {
    let name = match verb {
        Verb::Wire => "wire",
        Verb::Unwire => "unwire",
    };
    let loaded = load_config(args)?;
    // Unwiring needs no owner or uplink (a teardown), wiring resolves both.
    let plan = match verb {
        Verb::Wire => host_plan_for(host, &loaded, Some(index))?,
        Verb::Unwire => teardown_plan(&loaded, Some(index))?,
    };
    let index = plan
        .layout
        .index(index)
        .map_err(|e| Failure::BadInput(format!("{name} {index}: {e}")))?;
    let _lock = lock_unless_dry_run(dry_run, &format!("blixard-net {name}"))?;
    let outcome = match verb {
        Verb::Wire => host.wire_vm(&plan, index, &ApplyOptions::default().with_dry_run(dry_run)),
        Verb::Unwire => host.unwire_vm(&plan, index, dry_run),
    }
    .map_err(|e| loaded.failure(e))?;
    let wiring = match verb {
        Verb::Wire => bird::Wiring::Wire(index),
        Verb::Unwire => bird::Wiring::Unwire(index),
    };
    // The changes are shown even when BIRD then refuses its file: they
    // were made.
    let bird = bird::sync(host, &loaded, &plan, wiring, dry_run);
    let synced = bird.as_ref().ok().and_then(Option::as_ref);
    output::changes_and_bird(args, &outcome, dry_run, name, synced);
    bird?;
    Ok(ExitCode::SUCCESS)
}
