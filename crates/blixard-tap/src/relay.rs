//! A stand-in VMM: opens a host tap's queues the way a VMM does and copies
//! frames between them and a tap inside a guest network namespace, so tests
//! and demos get a "guest" without a hypervisor.

use std::fs::File;
use std::io::{ErrorKind, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use blixard_addr::layout::MacAddr;
use blixard_netns::Netns;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::{OpenOptions, TapError, create_transient, list, open_queues, set_mac, vnet_hdr_size};

/// Largest frame a tap hands out (64 KiB GSO frame plus a vnet header).
const FRAME_BUF: usize = 65536 + 64;
/// Frames moved per direction before polling again, so one busy direction
/// cannot starve the other or the stop signal.
const BATCH: usize = 64;

/// Frames copied so far (by the whole relay, or by one queue pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStats {
    /// Host tap -> guest tap.
    pub to_guest: u64,
    /// Guest tap -> host tap.
    pub to_host: u64,
}

#[derive(Default)]
struct Counters {
    to_guest: AtomicU64,
    to_host: AtomicU64,
}

/// A running relay. Dropping it (or [`Relay::stop`]) ends the copy threads
/// promptly and closes the guest tap, which then disappears.
pub struct Relay {
    stop: Option<PipeWriter>,
    threads: Vec<JoinHandle<()>>,
    guest_ifindex: u32,
    /// One per queue pair.
    counters: Arc<Vec<Counters>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("queues", &self.threads.len())
            .field("guest_ifindex", &self.guest_ifindex)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Relay {
    /// Opens `queues` queues of `host_tap` (in the calling thread's namespace)
    /// with the tap's own flags, creates the non-persistent tap `guest_if` in
    /// `guest` with the same flags and vnet header size (so frames copy byte
    /// for byte), gives it `guest_mac`, and starts one copy thread per queue
    /// pair. Bringing `guest_if` up and addressing it is the caller's job.
    pub fn start(
        host_tap: &str,
        guest: &Netns,
        guest_if: &str,
        guest_mac: MacAddr,
        queues: usize,
    ) -> Result<Relay, TapError> {
        Self::start_as(host_tap, guest, guest_if, guest_mac, queues, None)
    }

    /// [`Relay::start`] opening the tap with `vnet_hdr` as a VMM asks for it
    /// (`Some(false)`: QEMU's `vnet_hdr=off`; `Some(true)`: firecracker and
    /// cloud-hypervisor), which the kernel writes into the tap; `None` keeps
    /// the tap's current value.
    pub fn start_as(
        host_tap: &str,
        guest: &Netns,
        guest_if: &str,
        guest_mac: MacAddr,
        queues: usize,
        vnet_hdr: Option<bool>,
    ) -> Result<Relay, TapError> {
        let mut info = list()?.remove(host_tap).ok_or_else(|| TapError::NotFound {
            name: host_tap.to_string(),
        })?;
        info.vnet_hdr = vnet_hdr.unwrap_or(info.vnet_hdr);
        let opts = OpenOptions {
            vnet_hdr: info.vnet_hdr,
            multi_queue: info.multi_queue,
            vnet_hdr_size: None,
            offloads: None,
        };
        let host_fds = open_queues(host_tap, queues, &opts)?;
        let hdr_size = if info.vnet_hdr {
            Some(vnet_hdr_size(host_fds[0].as_fd())?)
        } else {
            None
        };
        let (guest_fds, guest_ifindex) = blixard_netns::run_in(guest, || {
            let fds =
                create_transient(guest_if, queues, info.vnet_hdr, info.multi_queue, hdr_size)?;
            let index = set_mac(guest_if, guest_mac.0)?;
            Ok::<_, TapError>((fds, index))
        })
        .map_err(|source| TapError::Netns {
            what: format!("creating guest tap {guest_if}"),
            source,
        })??;

        let (stop_rx, stop_tx) = std::io::pipe().map_err(|source| TapError::Io {
            what: "creating the relay's stop pipe".into(),
            source,
        })?;
        let stop_rx = Arc::new(stop_rx);
        let counters: Arc<Vec<Counters>> =
            Arc::new((0..queues).map(|_| Counters::default()).collect());
        let mut threads = Vec::with_capacity(queues);
        for (i, (host, guest)) in host_fds.into_iter().zip(guest_fds).enumerate() {
            let stop = Arc::clone(&stop_rx);
            let counters = Arc::clone(&counters);
            let thread = std::thread::Builder::new()
                .name(format!("relay-{host_tap}-q{i}"))
                .spawn(move || pump(host, guest, &stop, &counters[i]))
                .map_err(|source| TapError::Io {
                    what: format!("spawning the relay thread for {host_tap} queue {i}"),
                    source,
                })?;
            threads.push(thread);
        }
        Ok(Relay {
            stop: Some(stop_tx),
            threads,
            guest_ifindex,
            counters,
        })
    }

    /// The guest tap's ifindex inside the guest namespace.
    pub fn guest_ifindex(&self) -> u32 {
        self.guest_ifindex
    }

    /// Frames copied so far, over all queues.
    pub fn stats(&self) -> RelayStats {
        self.queue_stats()
            .into_iter()
            .fold(RelayStats::default(), |sum, q| RelayStats {
                to_guest: sum.to_guest + q.to_guest,
                to_host: sum.to_host + q.to_host,
            })
    }

    /// Frames copied so far by each queue pair (host queue `i` <-> guest
    /// queue `i`), in queue order.
    pub fn queue_stats(&self) -> Vec<RelayStats> {
        self.counters
            .iter()
            .map(|c| RelayStats {
                to_guest: c.to_guest.load(Ordering::Relaxed),
                to_host: c.to_host.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Whether every copy thread is still running (a thread ends when its tap
    /// is deleted under it).
    pub fn is_running(&self) -> bool {
        self.threads.iter().all(|t| !t.is_finished())
    }

    /// Stops the copy threads and waits for them; the guest tap goes away.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Closing the write end makes the read end readable (EOF) in every
        // thread's poll set.
        self.stop.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Copies frames both ways until the stop pipe closes or a tap goes away.
fn pump(host: OwnedFd, guest: OwnedFd, stop: &PipeReader, counters: &Counters) {
    let mut host = File::from(host);
    let mut guest = File::from(guest);
    let mut buf = vec![0u8; FRAME_BUF];
    let ready = PollFlags::POLLIN;
    let gone = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
    loop {
        let (h, g, s) = {
            let mut fds = [
                PollFd::new(host.as_fd(), ready),
                PollFd::new(guest.as_fd(), ready),
                PollFd::new(stop.as_fd(), ready),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(_) => return,
            }
            let r = |i: usize| fds[i].revents().unwrap_or(PollFlags::empty());
            (r(0), r(1), r(2))
        };
        if !s.is_empty() || h.intersects(gone) || g.intersects(gone) {
            return;
        }
        if h.contains(ready) && !copy_batch(&mut host, &mut guest, &mut buf, &counters.to_guest) {
            return;
        }
        if g.contains(ready) && !copy_batch(&mut guest, &mut host, &mut buf, &counters.to_host) {
            return;
        }
    }
}

/// Moves up to [`BATCH`] frames from `src` to `dst`; `false` when `src` failed
/// for good. A frame `dst` refuses is dropped, as a NIC would.
fn copy_batch(src: &mut File, dst: &mut File, buf: &mut [u8], counter: &AtomicU64) -> bool {
    for _ in 0..BATCH {
        match src.read(buf) {
            Ok(0) => return true,
            Ok(n) => {
                if dst.write(&buf[..n]).is_ok() {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}
