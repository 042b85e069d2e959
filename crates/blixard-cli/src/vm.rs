//! Per-VM commands: `guest`, `vmm`, and index allocation (`alloc`,
//! `release`, `list`) kept in a state file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::ExitCode;

use blixard_addr::alloc::Allocations;
use blixard_addr::render::{self, GuestNetwork};

use crate::cli::{Args, GuestFormat, Vhost, VmmKind};
use crate::commands::{Failure, Loaded};

fn guest_network(
    loaded: &Loaded,
    index: u32,
    queues: Option<u16>,
) -> Result<GuestNetwork, Failure> {
    let layout = crate::commands::layout(loaded)?;
    let vm = layout
        .vm_at(index)
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    let mut network = GuestNetwork::from_config(vm, &loaded.config);
    if let Some(q) = queues {
        if q == 0 {
            return Err(Failure::BadInput("--queues must be at least 1".into()));
        }
        if q > 1 && !loaded.config.tap.multi_queue {
            return Err(Failure::BadInput(format!(
                "--queues {q} needs multi-queue taps: set [tap] multi_queue = true in {} (the tap's flag must match what the VMM opens)",
                loaded.source
            )));
        }
        network.tap.queues = q;
    }
    Ok(network)
}

/// `guest INDEX --format F`.
pub fn guest(loaded: &Loaded, index: u32, format: GuestFormat) -> Result<ExitCode, Failure> {
    let network = guest_network(loaded, index, None)?;
    let text = match format {
        GuestFormat::Networkd => render::networkd(&network),
        GuestFormat::Nixos => render::nixos(&network),
        GuestFormat::CloudInit => render::cloud_init(&network),
        GuestFormat::Shell => render::shell(&network),
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Where qemu opens vhost-net: without it, `vhost=on` aborts qemu.
pub const VHOST_NET: &str = "/dev/vhost-net";

/// `vmm INDEX --kind K [--queues N] [--vhost auto|on|off]`.
pub fn vmm(
    args: &Args,
    loaded: &Loaded,
    index: u32,
    kind: VmmKind,
    queues: Option<u16>,
    vhost: Vhost,
) -> Result<ExitCode, Failure> {
    let network = guest_network(loaded, index, queues)?;
    let bad = |e: render::RenderError| Failure::BadInput(e.to_string());
    match kind {
        VmmKind::Firecracker => println!("{}", render::firecracker(&network).map_err(bad)?),
        VmmKind::CloudHypervisor | VmmKind::Qemu => {
            let argv = match kind {
                VmmKind::Qemu => render::qemu(
                    &network,
                    match vhost {
                        Vhost::Auto => std::path::Path::new(VHOST_NET).exists(),
                        Vhost::On => true,
                        Vhost::Off => false,
                    },
                ),
                _ => render::cloud_hypervisor(&network),
            }
            .map_err(bad)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&argv).expect("strings serialize")
                );
            } else {
                println!(
                    "{}",
                    argv.iter()
                        .map(|a| shell_quote(a))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn shell_quote(arg: &str) -> String {
    if arg
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_=,.:/".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// `$BLIXARD_STATE_DIR` or `/var/lib/blixard-net`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("BLIXARD_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/blixard-net"))
}

fn state_file() -> PathBuf {
    state_dir().join("allocations.json")
}

fn load_allocations() -> Result<Allocations, Failure> {
    let path = state_file();
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            Failure::BadInput(format!(
                "{}: line {}, column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Allocations::new()),
        Err(e) => Err(Failure::Failed(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the state atomically (temp file + rename), readable by all and
/// writable by the owner only.
fn save_allocations(allocations: &Allocations) -> Result<(), Failure> {
    let dir = state_dir();
    let fail = |e: std::io::Error| {
        Failure::Failed(format!("cannot write {}: {e}", state_file().display()))
    };
    fs::create_dir_all(&dir).map_err(fail)?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).map_err(fail)?;
    let tmp = dir.join(format!(".allocations.json.{}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(fail)?;
    let text = serde_json::to_string_pretty(allocations).expect("allocations serialize");
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.write_all(b"\n").map_err(fail)?;
    file.sync_all().map_err(fail)?;
    fs::rename(&tmp, state_file()).map_err(fail)
}

fn alloc_lock() -> Result<crate::lock::Lock, Failure> {
    crate::lock::acquire(&crate::lock::lock_dir(), "host", "blixard-net alloc")
        .map_err(|e| Failure::Failed(format!("cannot take the lock: {e}")))
}

/// `alloc [NAME] [--index N]`.
pub fn alloc(
    args: &Args,
    loaded: &Loaded,
    name: Option<&str>,
    index: Option<u32>,
) -> Result<ExitCode, Failure> {
    let layout = crate::commands::layout(loaded)?;
    let _lock = alloc_lock()?;
    let mut allocations = load_allocations()?;
    let (name, vm_index) = allocations
        .allocate(name, index, layout.max_index())
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    save_allocations(&allocations)?;
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
    let _lock = alloc_lock()?;
    let mut allocations = load_allocations()?;
    let (name, index) = allocations
        .release(what)
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    save_allocations(&allocations)?;
    println!("released {name} (index {index})");
    Ok(ExitCode::SUCCESS)
}

/// `list`.
pub fn list(args: &Args) -> Result<ExitCode, Failure> {
    let allocations = load_allocations()?;
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
