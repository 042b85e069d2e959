//! `nft monitor` as a child process: each ruleset change the kernel
//! announces (a table, chain, set, rule or element added or deleted),
//! one line each, for a long-running reconcile to wake up on.

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::{NatError, Nft};

/// A running `nft monitor`; dropping it stops the child.
#[derive(Debug)]
pub struct NftMonitor {
    child: NftStopper,
    lines: Lines<BufReader<ChildStdout>>,
}

/// Stops an [`NftMonitor`]'s child from another thread than the one
/// blocked reading it (the reader then sees the end of its output).
#[derive(Debug, Clone)]
pub struct NftStopper(Arc<Mutex<Child>>);

impl NftStopper {
    /// Kills and reaps the child; a child already gone is left alone (the
    /// reaped pid is never signalled, so no other process can be hit).
    pub fn stop(&self) {
        let mut child = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Nft {
    /// Starts `nft monitor` in the calling thread's network namespace (a
    /// child starts in the namespace of the thread that forks it).
    pub fn monitor(&self) -> Result<NftMonitor, NatError> {
        let what = "monitor the ruleset";
        let mut child = Command::new(&self.binary)
            .arg("monitor")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| self.spawn_error(what, source))?;
        let stdout = child.stdout.take().expect("stdout was piped");
        Ok(NftMonitor {
            child: NftStopper(Arc::new(Mutex::new(child))),
            lines: BufReader::new(stdout).lines(),
        })
    }
}

impl NftMonitor {
    /// Blocks until the next ruleset change and returns nft's line for it
    /// (`delete table inet blixard`); nft's own comments (`# new generation
    /// 7 by process ...`) are skipped. `None`: nft stopped (it exited, or
    /// its output could not be read), so changes may go unnoticed.
    pub fn next_change(&mut self) -> Option<String> {
        loop {
            let line = self.lines.next()?.ok()?;
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                return Some(line.to_string());
            }
        }
    }

    /// A handle that stops the child from elsewhere.
    pub fn stopper(&self) -> NftStopper {
        self.child.clone()
    }
}

impl Drop for NftMonitor {
    fn drop(&mut self) {
        self.child.stop();
    }
}
