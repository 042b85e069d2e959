//! The VMM side of blixard-net, minimally: open tap `vmN`'s queues through
//! blixard-tap exactly as a VMM would, and relay frames to a tap `eth0` inside
//! a guest network namespace until Ctrl-C (or SIGTERM).
//!
//! ```text
//! cargo run --example minimal_vmm -- vm3 GUEST_NETNS [QUEUES]
//! ```
//!
//! `GUEST_NETNS` is a name in /run/netns, an absolute path such as
//! `/proc/PID/ns/net`, or `pid:PID`. The host side (tap `vm3`, its addresses
//! and routes) must already exist in the namespace this runs in, e.g. made by
//! `blixard-net apply`; a multi-queue tap can be opened with QUEUES > 1. The
//! example does not touch the host's configuration: it only opens the tap and
//! creates a throwaway `eth0` in the guest namespace, which disappears when
//! the example exits.
#![forbid(unsafe_code)]

use anyhow::{Context, bail};
use blixard_addr::layout::Layout;
use blixard_netns::Netns;
use blixard_tap::relay::Relay;
use nix::sys::signal::{SigSet, Signal};

const GUEST_IF: &str = "eth0";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (tap, guest, queues) = match args.as_slice() {
        [tap, guest] => (tap, guest, 1),
        [tap, guest, queues] => (tap, guest, queues.parse().context("QUEUES is a number")?),
        _ => bail!("usage: minimal_vmm TAP GUEST_NETNS [QUEUES]   (e.g. vm3 guest3)"),
    };
    let guest: Netns = guest.parse()?;

    // The guest's MAC and addresses follow from the tap's name in the
    // default layout, as they would for a real guest.
    let layout = Layout::default();
    let index = layout
        .index_of_interface(tap)
        .with_context(|| format!("{tap} is not a VM interface of the default layout (vm1..)"))?;
    let vm = layout.vm(index)?;

    // Block the stop signals before the relay starts its threads, so every
    // thread inherits the mask and only the sigwait below receives them.
    let mut stop = SigSet::empty();
    stop.add(Signal::SIGINT);
    stop.add(Signal::SIGTERM);
    stop.thread_block()?;

    let relay = Relay::start(tap, &guest, GUEST_IF, vm.mac, queues)
        .with_context(|| format!("relaying {tap} to {GUEST_IF} in {guest}"))?;
    println!(
        "relaying {tap} ({queues} queue(s)) <-> {GUEST_IF} (mac {}, ifindex {}) in {guest}",
        vm.mac,
        relay.guest_ifindex()
    );
    println!("configure the guest side, e.g. with nsenter/ip netns exec:");
    println!("  ip link set lo up; ip link set {GUEST_IF} up");
    println!("  ip addr add {}/32 dev {GUEST_IF}", vm.ipv4);
    println!(
        "  ip route add default via {} dev {GUEST_IF} onlink",
        vm.gateway_ipv4
    );
    println!("Ctrl-C to stop.");

    let signal = stop.wait()?;
    let stats = relay.stats();
    relay.stop();
    println!(
        "{signal}: stopped after {} frame(s) to the guest, {} to the host",
        stats.to_guest, stats.to_host
    );
    Ok(())
}
