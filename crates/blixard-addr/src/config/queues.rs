//! The one queue check: how many queue pairs a VMM may open on our taps.
//! The planner (for `tap.queues`) and the CLI's `--queues` ask
//! [`TapConfig::check_queues`], the VMM renderers [`TapPlan::check_queues`]:
//! both are [`check`].

use super::TapConfig;
use crate::plan::TapPlan;

/// Why a VMM cannot open a number of queue pairs on taps made with a
/// [`TapConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// No queue pair at all.
    #[error("queues must be at least 1")]
    Zero,
    /// Several queue pairs need `IFF_MULTI_QUEUE` taps.
    #[error("{queues} queues need multi-queue taps: set tap.multi_queue = true")]
    NeedsMultiQueue {
        /// The queue pairs asked for.
        queues: u16,
    },
    /// One queue pair on a multi-queue tap: the VMM opens the tap
    /// single-queue, and `TUNSETIFF` refuses that flag mismatch. The
    /// config allows it (the taps may serve a VMM given more pairs later);
    /// VMM arguments for one pair are refused.
    #[error("one queue pair on a multi-queue tap: the VMM would open it single-queue")]
    OnePairOnMultiQueueTap,
}

impl TapConfig {
    /// Whether a VMM can open `queues` queue pairs on these taps. The
    /// config itself only needs the first two rules ([`QueueError::Zero`],
    /// [`QueueError::NeedsMultiQueue`]); a VMM's arguments need all three.
    ///
    /// ```
    /// use blixard_addr::config::{QueueError, TapConfig};
    /// let single = TapConfig::default();
    /// assert_eq!(single.check_queues(1), Ok(()));
    /// assert_eq!(single.check_queues(4), Err(QueueError::NeedsMultiQueue { queues: 4 }));
    /// assert_eq!(single.check_queues(0), Err(QueueError::Zero));
    /// ```
    pub fn check_queues(&self, queues: u16) -> Result<(), QueueError> {
        check(self.multi_queue, queues)
    }
}

impl TapPlan {
    /// [`TapConfig::check_queues`] for the planned taps: whether a VMM can
    /// open `queues` queue pairs on them.
    pub fn check_queues(&self, queues: u16) -> Result<(), QueueError> {
        check(self.multi_queue, queues)
    }
}

fn check(multi_queue: bool, queues: u16) -> Result<(), QueueError> {
    match queues {
        0 => Err(QueueError::Zero),
        1 if multi_queue => Err(QueueError::OnePairOnMultiQueueTap),
        1 => Ok(()),
        _ if !multi_queue => Err(QueueError::NeedsMultiQueue { queues }),
        _ => Ok(()),
    }
}
