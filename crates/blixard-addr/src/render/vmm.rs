//! VMM arguments for one VM's tap: firecracker, cloud-hypervisor and qemu,
//! refused when the VMM could not open the tap as configured.

use std::fmt::Write as _;

use super::GuestNetwork;
use crate::config::QueueError;

/// A VMM argument set that cannot work with the tap as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// Firecracker opens taps single-queue: it cannot use a multi-queue tap
    /// nor more than one queue pair.
    #[error(
        "firecracker cannot use {interface}: it opens taps single-queue, but the tap has multi_queue={multi_queue} and queues={queues} (set tap.multi_queue = false and tap.queues = 1)"
    )]
    FirecrackerMultiQueue {
        /// The tap.
        interface: String,
        /// Its multi-queue flag.
        multi_queue: bool,
        /// Queue pairs asked for.
        queues: u16,
    },
    /// The VMM opens the tap multi-queue iff it uses more than one queue
    /// pair; a mismatch with the tap's flag makes its `TUNSETIFF` fail.
    #[error(
        "{vmm} would open {interface} with {queues} queue pair(s), which needs multi_queue={}, but the tap has multi_queue={multi_queue}",
        *queues > 1
    )]
    QueueMismatch {
        /// The VMM.
        vmm: &'static str,
        /// The tap.
        interface: String,
        /// Its multi-queue flag.
        multi_queue: bool,
        /// Queue pairs asked for.
        queues: u16,
    },
    /// Zero queue pairs.
    #[error("{interface}: queues must be at least 1")]
    ZeroQueues {
        /// The tap.
        interface: String,
    },
}

fn check_queues(g: &GuestNetwork, vmm: &'static str) -> Result<(), RenderError> {
    match g.tap.check_queues(g.queues) {
        Ok(()) => Ok(()),
        Err(QueueError::Zero) => Err(RenderError::ZeroQueues {
            interface: g.vm.interface.clone(),
        }),
        Err(QueueError::NeedsMultiQueue { .. } | QueueError::OnePairOnMultiQueueTap) => {
            Err(RenderError::QueueMismatch {
                vmm,
                interface: g.vm.interface.clone(),
                multi_queue: g.tap.multi_queue,
                queues: g.queues,
            })
        }
    }
}

/// Firecracker's `network-interfaces` section (JSON).
pub fn firecracker(g: &GuestNetwork) -> Result<String, RenderError> {
    if g.tap.multi_queue || g.queues != 1 {
        return Err(RenderError::FirecrackerMultiQueue {
            interface: g.vm.interface.clone(),
            multi_queue: g.tap.multi_queue,
            queues: g.queues,
        });
    }
    // Written by hand so the key order is fixed whatever serde_json
    // features the workspace turns on.
    let string = |v: &str| serde_json::to_string(v).expect("a string is JSON");
    let out = format!(
        "{{\n  \"network-interfaces\": [\n    {{\n      \"iface_id\": \"net0\",\n      \"host_dev_name\": {},\n      \"guest_mac\": {}\n    }}\n  ]\n}}\n",
        string(&g.vm.interface),
        string(&g.vm.mac.to_string())
    );
    Ok(out)
}

/// cloud-hypervisor arguments: `--net tap=vmN,mac=...[,num_queues=2N]`
/// (`num_queues` counts rx and tx queues, two per pair).
pub fn cloud_hypervisor(g: &GuestNetwork) -> Result<Vec<String>, RenderError> {
    check_queues(g, "cloud-hypervisor")?;
    let mut net = format!("tap={},mac={}", g.vm.interface, g.vm.mac);
    if g.multi_queue() {
        let _ = write!(net, ",num_queues={}", 2 * u32::from(g.queues));
    }
    Ok(vec!["--net".into(), net])
}

/// qemu arguments: a tap netdev opened by name (no helper scripts) and a
/// virtio-net device; `vnet_hdr=off` when the plan's taps have no vnet
/// header; with several queue pairs, `queues=N` and `mq=on,vectors=2N+2`
/// (one vector per queue plus config and control). `vhost=on` only when
/// `vhost` says so: QEMU aborts when it cannot open `/dev/vhost-net`.
pub fn qemu(g: &GuestNetwork, vhost: bool) -> Result<Vec<String>, RenderError> {
    check_queues(g, "qemu")?;
    let mut netdev = format!(
        "tap,id=net0,ifname={},script=no,downscript=no",
        g.vm.interface
    );
    let mut device = format!("virtio-net-pci,netdev=net0,mac={}", g.vm.mac);
    if !g.tap.vnet_hdr {
        netdev.push_str(",vnet_hdr=off");
    }
    if g.multi_queue() {
        let n = u32::from(g.queues);
        let _ = write!(netdev, ",queues={n}");
        let _ = write!(device, ",mq=on,vectors={}", 2 * n + 2);
    }
    if vhost {
        netdev.push_str(",vhost=on");
    }
    Ok(vec!["-netdev".into(), netdev, "-device".into(), device])
}
