//! What one VM's guest and VMM need: `guest` and `vmm`, rendered from the
//! plan alone.

use std::process::ExitCode;

use blixard_addr::config::QueueError;
use blixard_addr::render::{self, GuestNetwork, shell_quote};

use super::{Failure, Loaded};
use crate::cli::{Args, GuestFormat, Vhost, VmmKind};

fn guest_network(
    loaded: &Loaded,
    index: u32,
    queues: Option<u16>,
) -> Result<GuestNetwork, Failure> {
    let plan = super::render_plan(loaded, index)?;
    let vm = plan
        .layout
        .vm_at(index)
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    let mut network = GuestNetwork::new(&plan, vm);
    if let Some(q) = queues {
        match network.tap.check_queues(q) {
            Err(QueueError::Zero) => {
                return Err(Failure::BadInput("--queues must be at least 1".into()));
            }
            Err(QueueError::NeedsMultiQueue { .. }) => {
                return Err(Failure::BadInput(format!(
                    "--queues {q} needs multi-queue taps: set [tap] multi_queue = true in {} (the tap's flag must match what the VMM opens)",
                    loaded.source
                )));
            }
            // As for `tap.queues`: the taps may serve a VMM given more
            // pairs; the VMM's arguments for one pair are refused when
            // rendered.
            Err(QueueError::OnePairOnMultiQueueTap) | Ok(()) => {}
            Err(e) => return Err(Failure::BadInput(format!("--queues {q}: {e}"))),
        }
        network.queues = q;
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
