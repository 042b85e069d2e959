//! A running BIRD 2, driven through its control socket with `birdc`:
//! reload its configuration, read its protocols and the routes it exports
//! to a protocol. No decision is made here; `blixard_addr::bgp` makes them.
//!
//! ```no_run
//! let bird = blixard_bird::Birdc::new("/run/bird/bird.ctl");
//! bird.configure()?;
//! for p in bird.protocols()? {
//!     println!("{} {}", p.name, p.info);
//! }
//! # Ok::<(), blixard_bird::BirdError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipnet::IpNet;

mod parse;

pub use parse::Protocol;

/// How long one `birdc` call may take: a reconfiguration of a few hundred
/// prefixes takes milliseconds, so this only bounds a BIRD that hangs.
pub const BIRDC_TIMEOUT: Duration = Duration::from_secs(30);

/// What went wrong talking to BIRD; every variant names the socket.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BirdError {
    /// `birdc` could not be started.
    #[error(
        "cannot run birdc for {socket}: {source} (birdc comes with BIRD 2: apt-get install bird2)"
    )]
    Spawn {
        /// The control socket.
        socket: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `birdc` or BIRD refused the command: BIRD's own words.
    #[error("birdc -s {socket} {command}: {text}")]
    Refused {
        /// The control socket.
        socket: PathBuf,
        /// The command, e.g. `configure`.
        command: String,
        /// What birdc printed (BIRD's reply, or why it could not connect).
        text: String,
    },
    /// `birdc` did not finish within [`BIRDC_TIMEOUT`]; it was killed.
    #[error("birdc -s {socket} {command}: no answer within {} s", BIRDC_TIMEOUT.as_secs())]
    Timeout {
        /// The control socket.
        socket: PathBuf,
        /// The command.
        command: String,
    },
}

/// A BIRD reached through the control socket `socket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Birdc {
    socket: PathBuf,
}

impl Birdc {
    /// The BIRD listening on `socket` (BIRD's `-s`).
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    /// The control socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Reloads the configuration file BIRD was started with
    /// (`birdc configure`); a file BIRD refuses leaves it running on the old
    /// one, and is an error with BIRD's message.
    pub fn configure(&self) -> Result<(), BirdError> {
        self.run("configure").map(|_| ())
    }

    /// Every protocol BIRD runs (`show protocols`).
    pub fn protocols(&self) -> Result<Vec<Protocol>, BirdError> {
        Ok(parse::protocols(&self.run("show protocols")?))
    }

    /// The prefixes BIRD exports to `protocol` (`show route export
    /// PROTOCOL`): for a kernel protocol, the routes the kernel should hold.
    pub fn exported_to(&self, protocol: &str) -> Result<Vec<IpNet>, BirdError> {
        Ok(parse::route_prefixes(
            &self.run(&format!("show route export {protocol}"))?,
        ))
    }

    /// Runs one birdc command; its reply without birdc's greeting, or an
    /// error with what it printed.
    fn run(&self, command: &str) -> Result<String, BirdError> {
        let mut child = Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(command.split(' '))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| BirdError::Spawn {
                socket: self.socket.clone(),
                source,
            })?;
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        // Drained on threads so that a long reply cannot fill a pipe and
        // stall birdc while we wait for it to exit.
        let out = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let deadline = Instant::now() + BIRDC_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let reply = parse::reply(&out.join().unwrap_or_default());
        let complaint = err.join().unwrap_or_default();
        match status {
            None => Err(BirdError::Timeout {
                socket: self.socket.clone(),
                command: command.into(),
            }),
            Some(status) if status.success() => Ok(reply),
            Some(_) => Err(BirdError::Refused {
                socket: self.socket.clone(),
                command: command.into(),
                text: [reply.trim(), complaint.trim()]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
        }
    }
}
