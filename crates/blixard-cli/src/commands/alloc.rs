//! Index allocation kept in a state file: `alloc`, `release`, `list`.

use std::path::PathBuf;
use std::process::ExitCode;

use blixard_addr::alloc::Allocations;

use super::{Failure, Loaded};
use crate::cli::Args;
use crate::files::{self, Dir, FileError};

/// `$BLIXARD_STATE_DIR` or `/var/lib/blixard-net`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("BLIXARD_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/blixard-net"))
}

const STATE_FILE: &str = "allocations.json";

fn state_file() -> PathBuf {
    state_dir().join(STATE_FILE)
}

fn file_failure(what: &str, e: FileError) -> Failure {
    Failure::of_file(what, e)
}

/// The state directory, made if `create`; `None` when it does not exist.
fn open_state_dir(create: bool) -> Result<Option<Dir>, Failure> {
    Dir::open(&state_dir(), create).map_err(|e| file_failure("state directory", e))
}

/// The stored allocations, checked as they are parsed (duplicate names,
/// one index twice, indices out of range): a bad file is refused and left
/// as it is.
fn load_allocations(dir: Option<&Dir>) -> Result<Allocations, Failure> {
    let Some(dir) = dir else {
        return Ok(Allocations::new());
    };
    let path = state_file();
    match dir
        .read(STATE_FILE, files::MAX_STATE_BYTES)
        .map_err(|e| file_failure("cannot read the allocations", e))?
    {
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            // serde_json ends its own message with the place; say it first.
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(m, _)| m);
            Failure::BadInput(format!(
                "{}: line {}, column {}: {message}; the file was left as it is",
                path.display(),
                e.line(),
                e.column()
            ))
        }),
        None => Ok(Allocations::new()),
    }
}

/// Writes the state atomically (temp file + rename), readable by all and
/// writable by the owner only.
fn save_allocations(dir: &Dir, allocations: &Allocations) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(allocations).expect("allocations serialize");
    text.push('\n');
    dir.write_atomic(STATE_FILE, text.as_bytes())
        .map_err(|e| file_failure("cannot write the allocations", e))
}

/// `alloc [NAME] [--index N]`.
pub fn alloc(
    args: &Args,
    loaded: &Loaded,
    name: Option<&str>,
    index: Option<u32>,
) -> Result<ExitCode, Failure> {
    let valid = loaded.validated()?;
    let layout = valid.layout().clone();
    let _lock = super::take_lock("blixard-net alloc")?;
    let dir = open_state_dir(true)?.expect("created when missing");
    let mut allocations = load_allocations(Some(&dir))?;
    allocations
        .check_range(layout.max_index())
        .map_err(|e| Failure::BadInput(format!("{}: {e}", state_file().display())))?;
    // In a cluster the indices are the address space of every host: a host
    // hands out only its own.
    let allocated = match valid.bgp() {
        Some(_) => allocations.allocate_own(name, index, valid.indices()),
        None => allocations.allocate(name, index, layout.max_index()),
    };
    let (name, vm_index) = allocated.map_err(|e| Failure::BadInput(e.to_string()))?;
    save_allocations(&dir, &allocations)?;
    let vm = layout
        .vm(vm_index)
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    if args.json {
        println!("{}", serde_json::json!({ "name": name, "vm": vm }));
    } else {
        println!(
            "{name}: index {} ({}, {}, {})",
            vm.index, vm.interface, vm.ipv4, vm.ipv6
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `release NAME|N`.
pub fn release(what: &str) -> Result<ExitCode, Failure> {
    let _lock = super::take_lock("blixard-net alloc")?;
    let dir = open_state_dir(false)?;
    let mut allocations = load_allocations(dir.as_ref())?;
    let (name, index) = allocations
        .release(what)
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    let dir = dir.expect("something was released, so the file exists");
    save_allocations(&dir, &allocations)?;
    println!("released {name} (index {index})");
    Ok(ExitCode::SUCCESS)
}

/// `list`.
pub fn list(args: &Args) -> Result<ExitCode, Failure> {
    let allocations = load_allocations(open_state_dir(false)?.as_ref())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&allocations).expect("serializes")
        );
    } else if allocations.list().is_empty() {
        println!("no indices allocated ({})", state_file().display());
    } else {
        for (name, index) in allocations.list() {
            println!("{index:>6}  {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
