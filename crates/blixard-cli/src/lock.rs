//! The lock that serializes `apply`, `down` and `alloc` runs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use crate::files::{Dir, FileError};

/// Where the lock lives: `$BLIXARD_LOCK_DIR` or `/run/blixard-net`.
pub fn lock_dir() -> PathBuf {
    std::env::var_os("BLIXARD_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/blixard-net"))
}

/// An exclusive lock held until dropped; its file names the holder.
pub struct Lock {
    _file: Flock<File>,
}

/// How long a waiting run gives a new holder to write its name before it
/// names the holder by pid alone.
const NAME_PATIENCE: Duration = Duration::from_secs(2);

/// Takes the lock named `name`, telling the user who holds it while waiting.
/// A lock directory others may write to, or anything but a regular file of
/// its own at the lock's path (a symlink planted there would make us
/// truncate its target), is refused.
pub fn acquire(dir: &Path, name: &str, what: &str) -> Result<Lock, FileError> {
    // Whoever may write in the directory may replace the lock file and so
    // break the exclusion: a new one is made 0755 whatever the umask, an
    // existing one writable by others is refused.
    let dir = Dir::open(dir, true)?.expect("created when missing");
    let file_name = format!("{name}.lock");
    let mut file = dir.open_lock(&file_name)?;
    let path = dir.path().join(&file_name);
    let io = |source: std::io::Error| FileError::Io {
        path: path.clone(),
        source,
    };
    let since = Instant::now();
    let mut file = loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => break locked,
            Err((mut unlocked, _)) => {
                match describe_holder(&mut unlocked, since.elapsed() <= NAME_PATIENCE) {
                    Some(holder) => {
                        eprintln!(
                            "blixard-net: waiting for {} held by {holder}",
                            path.display()
                        );
                        break Flock::lock(unlocked, FlockArg::LockExclusive)
                            .map_err(|(_, errno)| io(errno.into()))?;
                    }
                    None => {
                        file = unlocked;
                        std::thread::yield_now();
                    }
                }
            }
        }
    };
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    // One write, so a waiter never reads half a line.
    file.write_all(format!("pid {} ({what})\n", std::process::id()).as_bytes())
        .map_err(io)?;
    Ok(Lock { _file: file })
}

/// Who holds the lock: its own line once that is complete and names the
/// pid the kernel says holds it (the file may still hold a finished
/// holder's line, or be empty or half written by a new holder); when
/// `patient` is over, the pid alone, or "another run". `None`: look again (the lock was released
/// meanwhile, or the holder has not written its line yet).
fn describe_holder(file: &mut File, patient: bool) -> Option<String> {
    let text = holder_text(file);
    match kernel_holder(file) {
        Some(pid) if text.starts_with(&format!("pid {pid} ")) && text.ends_with('\n') => {
            Some(text.trim_end().to_string())
        }
        _ if patient => None,
        Some(pid) => Some(format!("pid {pid}")),
        None => Some("another run".into()),
    }
}

fn holder_text(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut text));
    text
}

/// The pid holding a `flock` on `file`, from the kernel's table
/// (`/proc/locks`: `1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF`;
/// waiters' lines have `->` before `FLOCK`).
fn kernel_holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    let id = format!(
        "{:02x}:{:02x}:{}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev),
        meta.ino()
    );
    std::fs::read_to_string("/proc/locks")
        .ok()?
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&"FLOCK") && fields.get(5) == Some(&id.as_str()))
                .then(|| fields.get(4)?.parse().ok())
                .flatten()
        })
}
