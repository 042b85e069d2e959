//! The lock that serializes `apply`, `down` and `alloc` runs.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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

/// Takes the lock named `name`, telling the user who holds it while waiting.
pub fn acquire(dir: &Path, name: &str, what: &str) -> std::io::Result<Lock> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.lock"));
    let open = || {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
    };
    let mut file = match Flock::lock(open()?, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((mut file, _)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            eprintln!(
                "blixard-net: waiting for {} held by {}",
                path.display(),
                if holder.trim().is_empty() {
                    "another run"
                } else {
                    holder.trim()
                }
            );
            Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, errno)| std::io::Error::from_raw_os_error(errno as i32))?
        }
    };
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    writeln!(file, "pid {} ({what})", std::process::id())?;
    Ok(Lock { _file: file })
}
