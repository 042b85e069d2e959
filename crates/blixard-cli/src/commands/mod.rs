//! One module per subcommand; [`run`] dispatches. What they share: the
//! config (`config`), where an error is shown (`locate`), the plans
//! (`plans`), the exit codes (`failure`), the lock and progress lines.

mod addr;
mod alloc;
mod apply;
mod bgp;
mod bird;
mod config;
mod demo;
mod demo_cluster;
mod docs;
mod doctor;
mod down;
mod failure;
mod forward_checks;
mod locate;
mod metrics;
mod plan;
mod plans;
mod stats;
mod status;
mod vm;
mod watch;
mod wire;

use std::process::ExitCode;

use blixard_host::Host;

pub use bird::BirdSync;
pub use config::{Loaded, load_config, netns};
pub use failure::Failure;
pub use plans::{host_plan, offline_plan};
use plans::{host_plan_for, render_plan, teardown_plan};

use crate::cli::{Args, BgpCommand, Command};
use crate::lock;

/// A progress line for people watching a terminal; pipes and logs stay
/// quiet so scripts see only the result.
fn progress(message: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("blixard-net: {message}…");
    }
}

/// The host lock for a command that changes the host; a dry run changes
/// nothing and takes none.
fn lock_unless_dry_run(dry_run: bool, what: &str) -> Result<Option<lock::Lock>, Failure> {
    if dry_run {
        return Ok(None);
    }
    take_lock(what).map(Some)
}

/// The host lock, held by every command that changes the host or the
/// allocations.
fn take_lock(what: &str) -> Result<lock::Lock, Failure> {
    lock::acquire(&lock::lock_dir(), "host", what).map_err(|e| {
        let message = format!("cannot take the lock: {e}");
        match e {
            // Nothing was changed: the lock comes before any change.
            crate::files::FileError::Refused { .. } => Failure::BadInput(message),
            crate::files::FileError::Io { .. } => Failure::Failed(message),
        }
    })
}

pub fn run(args: &Args) -> Result<ExitCode, Failure> {
    let ns = netns(args)?;
    let host = Host::new(ns);
    match &args.command {
        Command::Apply {
            dry_run,
            allow_recreate,
        } => apply::run(args, &host, *dry_run, *allow_recreate),
        Command::Down { dry_run } => down::run(args, &host, *dry_run),
        Command::Wire { index, dry_run } => wire::wire(args, &host, *index, *dry_run),
        Command::Unwire { index, dry_run } => wire::unwire(args, &host, *index, *dry_run),
        Command::Status => status::run(args, &host),
        Command::Stats => stats::run(args, &host),
        Command::Metrics { listen } => metrics::run(args, &host, *listen),
        Command::Watch {
            debounce_ms,
            interval,
        } => watch::run(
            args,
            &host,
            std::time::Duration::from_millis(*debounce_ms),
            std::time::Duration::from_secs(*interval),
        ),
        Command::Doctor => doctor::run(args, &host, &load_config(args)?),
        Command::Plan => plan::run(args, &host),
        Command::Addr { query } => addr::run(args, &host, query),
        Command::Bgp {
            command: BgpCommand::Config,
        } => bgp::config(args, &load_config(args)?),
        Command::Schema => docs::schema(),
        Command::Completions { shell } => docs::completions(*shell),
        Command::Guest { index, format } => vm::guest(&load_config(args)?, *index, *format),
        Command::Vmm {
            index,
            kind,
            queues,
            vhost,
        } => vm::vmm(args, &load_config(args)?, *index, *kind, *queues, *vhost),
        Command::Alloc { name, index } => {
            alloc::alloc(args, &load_config(args)?, name.as_deref(), *index)
        }
        Command::Release { what } => alloc::release(what),
        Command::List => alloc::list(args),
        Command::Demo { hosts } => demo::run(args, *hosts),
        Command::TryOpenTap { name } => doctor::try_open_tap(name),
        Command::GenerateDocs { dir } => docs::generate_docs(dir),
    }
}
