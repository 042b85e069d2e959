//! What wakes a long-running reconcile: the kernel's rtnetlink
//! notifications and `nft monitor`'s lines, both from this host's
//! namespace, forwarded as [`HostEvent`]s by two reader threads.

use std::sync::mpsc::Sender;

use blixard_nat::NftStopper;
use blixard_route::{KernelEvents, KernelNotice};

use crate::{Host, HostError};

/// Something changed on the host, or may have without being seen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostEvent {
    /// The kernel announced these changes (links, addresses, routes, the
    /// root qdisc, proxy entries), each in a few words.
    Kernel(Vec<String>),
    /// nft announced a ruleset change (`delete table inet blixard`).
    Ruleset(String),
    /// Notifications were lost (the socket overran): read everything again.
    Lost,
    /// A source stopped (nft exited, the socket failed): from now on only
    /// a periodic check sees drift.
    Ended(String),
}

/// The subscription of [`Host::subscribe`]: dropping it stops `nft
/// monitor` (the kernel's socket closes with the process).
#[derive(Debug)]
pub struct Subscription {
    nft: NftStopper,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.nft.stop();
    }
}

impl Host {
    /// Listens to this host's changes: each kernel notification batch and
    /// each ruleset change is sent to `to` as it arrives (converted with
    /// `From<HostEvent>`, so the caller's own wake-ups, such as signals,
    /// can share the channel). Subscribe before the first full reconcile,
    /// so that nothing changed after its observation goes unseen.
    pub fn subscribe<E: From<HostEvent> + Send + 'static>(
        &self,
        to: Sender<E>,
    ) -> Result<Subscription, HostError> {
        let (mut kernel, mut nft) = self.run(|| {
            let kernel = KernelEvents::open()?;
            Ok((kernel, self.nft.monitor()?))
        })?;
        let stopper = nft.stopper();
        let sender = to.clone();
        std::thread::spawn(move || {
            loop {
                let event = match kernel.next_notice() {
                    Ok(KernelNotice::Changed(what)) if what.is_empty() => continue,
                    Ok(KernelNotice::Changed(what)) => HostEvent::Kernel(what),
                    Ok(_) => HostEvent::Lost,
                    Err(e) => {
                        let _ = sender.send(HostEvent::Ended(format!("rtnetlink: {e}")).into());
                        return;
                    }
                };
                if sender.send(event.into()).is_err() {
                    return;
                }
            }
        });
        std::thread::spawn(move || {
            while let Some(line) = nft.next_change() {
                if to.send(HostEvent::Ruleset(line).into()).is_err() {
                    return;
                }
            }
            let _ = to.send(HostEvent::Ended("nft monitor exited".into()).into());
        });
        Ok(Subscription { nft: stopper })
    }
}
