//! The lock that serializes `apply`, `down` and `alloc` runs.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

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
pub fn acquire(dir: &Path, name: &str, what: &str) -> std::io::Result<Lock> {
    // Whoever may write in the directory may replace the lock file and so
    // break the exclusion: never leave it writable by others, whatever the
    // umask.
    DirBuilder::new().recursive(true).mode(0o755).create(dir)?;
    let path = dir.join(format!("{name}.lock"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(&path)?;
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
                        break Flock::lock(unlocked, FlockArg::LockExclusive).map_err(
                            |(_, errno)| std::io::Error::from_raw_os_error(errno as i32),
                        )?;
                    }
                    None => {
                        file = unlocked;
                        std::thread::yield_now();
                    }
                }
            }
        }
    };
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    // One write, so a waiter never reads half a line.
    file.write_all(format!("pid {} ({what})\n", std::process::id()).as_bytes())?;
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
