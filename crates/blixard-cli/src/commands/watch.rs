//! `watch`: keep the host reconciled. It listens to the kernel's rtnetlink
//! notifications and `nft monitor`, waits for a burst of changes to settle
//! (`--debounce-ms`), and repairs with the very reconcile `apply` makes,
//! under the lock, so it never fights another run. A full check runs every
//! `--interval` seconds anyway, and at once when notifications were lost.
//! SIGTERM or SIGINT ends it with exit 0.

use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use blixard_host::{ApplyOptions, Host, HostEvent};
use nix::sys::signal::{SigSet, Signal};

use super::{Failure, Loaded, apply, load_config};
use crate::cli::Args;

/// What the lock file says of a repair's holder.
const HOLDER: &str = "blixard-net watch";
/// How many triggering events a repair's log line names.
const NAMED: usize = 4;
/// The longest a burst of events may put a repair off (a host that never
/// settles is still repaired).
const MAX_SETTLE: Duration = Duration::from_secs(2);
/// The longest pause between repairs while something keeps undoing them.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What wakes the loop.
enum Wake {
    Host(HostEvent),
    Signal(Signal),
}

impl From<HostEvent> for Wake {
    fn from(event: HostEvent) -> Self {
        Wake::Host(event)
    }
}

pub fn run(
    args: &Args,
    host: &Host,
    debounce: Duration,
    interval: Duration,
) -> Result<ExitCode, Failure> {
    match watch(args, host, debounce, interval) {
        Ok(()) | Err(Stop::Signal) => Ok(ExitCode::SUCCESS),
        Err(Stop::Failed(failure)) => Err(failure),
    }
}

fn watch(args: &Args, host: &Host, debounce: Duration, interval: Duration) -> Result<(), Stop> {
    let loaded = load_config(args)?;
    loaded.validated()?;
    // Blocked before any thread starts, so that every thread inherits the
    // mask and only the waiting thread below ever takes these signals.
    let signals = stop_signals();
    signals
        .thread_block()
        .map_err(|e| Failure::Failed(format!("cannot block SIGTERM and SIGINT: {e}")))?;
    let (wake, wakes) = mpsc::channel::<Wake>();
    let on_signal = wake.clone();
    std::thread::spawn(move || {
        while let Ok(signal) = signals.wait() {
            if on_signal.send(Wake::Signal(signal)).is_err() {
                return;
            }
        }
    });
    // Subscribed before the first reconcile observes, so that nothing
    // changed after that observation goes unseen.
    let _subscription = host.subscribe(wake).map_err(|e| loaded.failure(e))?;
    let mut watcher = Watcher {
        host,
        loaded: &loaded,
        verbose: args.verbose > 0,
        streak: 0,
    };
    // What is queued right after a repair that changed something is
    // mostly its own notifications: named apart, and checked once more
    // (a foreign change may hide among them).
    let mut echoes = Vec::new();
    if watcher.repair("at start") {
        drain(&wakes, &mut echoes)?;
    }
    log(&format!(
        "watching {} (debounce {} ms, full check every {})",
        host.netns(),
        debounce.as_millis(),
        if interval.is_zero() {
            "never".to_string()
        } else {
            format!("{} s", interval.as_secs())
        }
    ));
    let mut next_check = deadline_after(interval);
    loop {
        let mut reasons = Vec::new();
        if echoes.is_empty() {
            let first = match next_check {
                Some(at) => {
                    match wakes.recv_timeout(at.saturating_duration_since(Instant::now())) {
                        Ok(wake) => wake,
                        Err(RecvTimeoutError::Timeout) => {
                            if watcher.repair("at the periodic check") {
                                drain(&wakes, &mut echoes)?;
                            }
                            next_check = deadline_after(interval);
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return Ok(()),
                    }
                }
                None => match wakes.recv() {
                    Ok(wake) => wake,
                    Err(_) => return Ok(()),
                },
            };
            take(first, &mut reasons)?;
        }
        // Let the burst settle: one repair for an `nft flush ruleset` or a
        // tap's deletion, however many notifications they make.
        let settle = settle_time(debounce, watcher.streak);
        let started = Instant::now();
        loop {
            let left = MAX_SETTLE.max(settle).saturating_sub(started.elapsed());
            match wakes.recv_timeout(settle.min(left)) {
                Ok(wake) => take(wake, &mut reasons)?,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            if left.is_zero() {
                break;
            }
        }
        let when = match (reasons.is_empty(), echoes.len()) {
            (true, n) => format!("after {n} notification(s) of the last repair"),
            (false, 0) => format!("after {}", named(&reasons)),
            (false, n) => format!("after {} (and {n} of the last repair)", named(&reasons)),
        };
        echoes.clear();
        if watcher.repair(&when) {
            drain(&wakes, &mut echoes)?;
        }
        next_check = deadline_after(interval);
    }
}

/// Why the watch ends: a stop signal (exit 0), or a failure.
enum Stop {
    Signal,
    Failed(Failure),
}

impl From<Failure> for Stop {
    fn from(failure: Failure) -> Self {
        Stop::Failed(failure)
    }
}

/// Moves what is queued now into `into`.
fn drain(wakes: &Receiver<Wake>, into: &mut Vec<String>) -> Result<(), Stop> {
    while let Ok(wake) = wakes.try_recv() {
        take(wake, into)?;
    }
    Ok(())
}

/// Adds what `wake` says changed to `reasons`; [`Stop`] when the watch
/// must end (a stop signal; a source gone fails, so that a service manager
/// restarts it with both sources).
fn take(wake: Wake, reasons: &mut Vec<String>) -> Result<(), Stop> {
    match wake {
        Wake::Signal(signal) => {
            log(&format!("{signal}: stopping"));
            return Err(Stop::Signal);
        }
        Wake::Host(HostEvent::Kernel(what)) => reasons.extend(what),
        Wake::Host(HostEvent::Ruleset(line)) => reasons.push(format!("nft: {line}")),
        Wake::Host(HostEvent::Lost) => reasons.push("notifications lost (full check)".into()),
        Wake::Host(HostEvent::Ended(why)) => {
            return Err(
                Failure::Failed(format!("watch: {why}; changes can no longer be seen")).into(),
            );
        }
        Wake::Host(other) => reasons.push(format!("{other:?}")),
    }
    Ok(())
}

struct Watcher<'a> {
    host: &'a Host,
    loaded: &'a Loaded,
    verbose: bool,
    /// Repairs in a row that changed something: a repair's own
    /// notifications bring one more reconcile, which finds nothing to do
    /// and ends the streak; a streak that goes on means something keeps
    /// undoing our repairs, and the pauses between them grow.
    streak: u32,
}

impl Watcher<'_> {
    /// Reconciles as `apply` does and logs what drifted and what changed;
    /// whether it changed anything.
    fn repair(&mut self, when: &str) -> bool {
        let options = ApplyOptions::default();
        let (outcome, bird) = match apply::reconcile(self.host, self.loaded, &options, HOLDER) {
            Ok(done) => done,
            Err(failure) => {
                log(&format!("repair {when} failed: {failure}"));
                return false;
            }
        };
        for conflict in &outcome.left_as_is {
            log(&format!("left as is: {conflict}"));
        }
        if let Err(failure) = &bird {
            log(&format!("bird: {failure}"));
        }
        if outcome.changes.is_empty() {
            self.streak = 0;
            if self.verbose {
                log(&format!("checked {when}: in sync"));
            }
            return false;
        }
        self.streak += 1;
        log(&format!(
            "drift {when}: repaired with {} change(s):",
            outcome.changes.len()
        ));
        for change in &outcome.changes {
            eprintln!("  {change}");
        }
        true
    }
}

/// How long to let events settle before the next repair, after `streak`
/// repairs in a row that changed something: the debounce, doubled from the
/// second on, up to [`MAX_BACKOFF`].
fn settle_time(debounce: Duration, streak: u32) -> Duration {
    let doubled = streak.saturating_sub(1).min(16);
    debounce
        .saturating_mul(1 << doubled)
        .min(MAX_BACKOFF.max(debounce))
}

/// The first few distinct reasons, and how many more: a flushed ruleset
/// is one `nft: delete rule inet blixard forward` line per rule, told
/// apart only by their handles, so those are counted, not listed.
fn named(reasons: &[String]) -> String {
    let mut distinct: Vec<(&str, usize)> = Vec::new();
    for reason in reasons {
        let reason = reason
            .rsplit_once(" handle ")
            .filter(|(_, n)| n.chars().all(|c| c.is_ascii_digit()))
            .map_or(reason.as_str(), |(what, _)| what);
        match distinct.iter_mut().find(|(seen, _)| *seen == reason) {
            Some((_, count)) => *count += 1,
            None => distinct.push((reason, 1)),
        }
    }
    let shown: Vec<String> = distinct
        .iter()
        .take(NAMED)
        .map(|(what, count)| match count {
            1 => what.to_string(),
            n => format!("{what} (x{n})"),
        })
        .collect();
    let mut text = shown.join(", ");
    let rest: usize = distinct.iter().skip(NAMED).map(|(_, n)| n).sum();
    if rest > 0 {
        text.push_str(&format!(" and {rest} more"));
    }
    text
}

fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set
}

fn deadline_after(interval: Duration) -> Option<Instant> {
    (!interval.is_zero()).then(|| Instant::now() + interval)
}

fn log(message: &str) {
    eprintln!("blixard-net watch: {message}");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{named, settle_time};

    #[test]
    fn the_pause_grows_only_while_repairs_keep_changing_something() {
        let debounce = Duration::from_millis(150);
        let pauses: Vec<u128> = [0, 1, 2, 3, 4, 20]
            .map(|streak| settle_time(debounce, streak).as_millis())
            .into();
        assert_eq!(pauses, [150, 150, 300, 600, 1200, 30_000]);
    }

    #[test]
    fn reasons_are_named_once_each_with_rules_counted_apart_from_their_handles() {
        let mut reasons: Vec<String> = (9..13)
            .map(|h| format!("nft: delete rule inet blixard forward handle {h}"))
            .collect();
        reasons.push("nft: delete table inet blixard".into());
        reasons.push("route 10.0.0.2/32 dev vm2 deleted".into());
        assert_eq!(
            named(&reasons),
            "nft: delete rule inet blixard forward (x4), nft: delete table inet blixard, \
             route 10.0.0.2/32 dev vm2 deleted"
        );
        let many: Vec<String> = (1..=6).map(|i| format!("link vm{i} down")).collect();
        assert_eq!(
            named(&many),
            "link vm1 down, link vm2 down, link vm3 down, link vm4 down and 2 more"
        );
    }
}
