//! Opening our lock and state files, and the config, without being
//! tricked: a symlink planted where our file should be is never followed,
//! a directory others may write to is refused (they could replace our
//! files), and a FIFO or device never blocks a read or feeds it forever.
//!
//! Directories are opened once (`O_DIRECTORY | O_NOFOLLOW`) and every file
//! in them is reached through that fd (`openat`, `renameat`), so the
//! directory checked is the one written to.

use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use blixard_addr::config::MAX_CONFIG_BYTES;
use blixard_addr::error::ConfigErrorKind;
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{UnlinkatFlags, unlinkat};

/// The largest state file read (`allocations.json`): 65535 allocations
/// with long names fit well below it.
pub const MAX_STATE_BYTES: u64 = 16 << 20;

/// Why a file of ours could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// What is at the path is not what it must be: nothing was read or
    /// written (bad input, exit 2).
    #[error("{}: {reason}", path.display())]
    Refused {
        /// The path.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The OS refused an operation (exit 1).
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl FileError {
    /// The message without the path, for callers that name the file
    /// themselves.
    pub fn reason(&self) -> String {
        match self {
            FileError::Refused { reason, .. } => reason.clone(),
            FileError::Io { source, .. } => source.to_string(),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn errno(path: &Path) -> impl FnOnce(Errno) -> FileError + '_ {
    move |e| FileError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

fn refused(path: &Path, reason: impl Into<String>) -> FileError {
    FileError::Refused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// "a FIFO", "a directory", ... for messages.
fn kind_of(meta: &Metadata) -> &'static str {
    blixard_netns::file_kind(meta.file_type()).unwrap_or("not a regular file")
}

/// A directory of ours, held open.
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

impl Dir {
    /// Opens the directory at `path` without following a symlink there.
    /// With `create`, a missing one is made (with missing parents), mode
    /// 0755 whatever the umask, set on the fd; without, a missing one is
    /// `None`. An existing one is never changed: one that group or others
    /// may write to (or owned by another user) is refused with the fix.
    pub fn open(path: &Path, create: bool) -> Result<Option<Dir>, FileError> {
        let mut made = false;
        if create {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)
                    .map_err(io(path))?;
            }
            // mkdir never follows a symlink at its last component.
            match DirBuilder::new().mode(0o755).create(path) {
                Ok(()) => made = true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(path)(e)),
            }
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits())
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !create => return Ok(None),
            // O_NOFOLLOW with O_DIRECTORY: a symlink there gives ELOOP or
            // ENOTDIR, whatever it points at.
            Err(e)
                if matches!(
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    Errno::ELOOP | Errno::ENOTDIR
                ) =>
            {
                let what = std::fs::symlink_metadata(path)
                    .map(|m| kind_of(&m))
                    .unwrap_or("not a directory");
                return Err(refused(
                    path,
                    if what == "a symbolic link" {
                        "is a symbolic link; it is not followed (a link there could point our files anywhere): make it a real directory, or point the variable at the directory itself".to_string()
                    } else {
                        format!("is {what}, not a directory")
                    },
                ));
            }
            Err(e) => return Err(io(path)(e)),
        };
        let dir = Dir {
            fd: file.into(),
            path: path.to_path_buf(),
        };
        if made {
            fchmod(dir.fd.as_fd(), Mode::from_bits_truncate(0o755)).map_err(errno(path))?;
        } else {
            dir.check_not_writable_by_others()?;
        }
        Ok(Some(dir))
    }

    fn check_not_writable_by_others(&self) -> Result<(), FileError> {
        let meta = File::from(self.fd.try_clone().map_err(io(&self.path))?)
            .metadata()
            .map_err(io(&self.path))?;
        let mode = meta.mode() & 0o7777;
        let path = self.path.display();
        if mode & 0o022 != 0 {
            return Err(refused(
                &self.path,
                format!(
                    "is writable by group or others (mode {mode:04o}): whoever may write there can replace our files; fix: chmod go-w {path}"
                ),
            ));
        }
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != 0 && meta.uid() != me {
            return Err(refused(
                &self.path,
                format!(
                    "is owned by uid {}: its owner can replace our files; fix: chown {me} {path}",
                    meta.uid()
                ),
            ));
        }
        Ok(())
    }

    /// The directory's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn open_at(&self, name: &str, flags: OFlag, mode: u32) -> Result<File, Errno> {
        openat(
            self.fd.as_fd(),
            name,
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::from_bits_truncate(mode),
        )
        .map(File::from)
    }

    /// Opens (creating, mode 0644) the lock file `name` for reading and
    /// writing. A symlink, anything but a regular file, or a file with
    /// another hard link (it could be someone else's file) is refused.
    pub fn open_lock(&self, name: &str) -> Result<File, FileError> {
        let path = self.join(name);
        let file = self
            .open_at(name, OFlag::O_RDWR | OFlag::O_CREAT, 0o644)
            .map_err(|e| self.refused_open(&path, e))?;
        let meta = file.metadata().map_err(io(&path))?;
        if !meta.is_file() {
            return Err(refused(
                &path,
                format!("is {}, not a regular file; remove it", kind_of(&meta)),
            ));
        }
        if meta.nlink() != 1 {
            return Err(refused(
                &path,
                format!(
                    "has {} hard links: it may be another file of this host; remove it (rm {})",
                    meta.nlink(),
                    path.display()
                ),
            ));
        }
        Ok(file)
    }

    /// The text of the regular file `name`, `None` when it does not exist.
    pub fn read(&self, name: &str, limit: u64) -> Result<Option<String>, FileError> {
        let path = self.join(name);
        let file = match self.open_at(name, OFlag::O_RDONLY, 0) {
            Ok(file) => file,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(self.refused_open(&path, e)),
        };
        read_regular(file, &path, limit, &|bytes| {
            format!("it is {bytes} bytes, over the limit of {limit}")
        })
        .map(Some)
    }

    /// Replaces the file `name` with `bytes` atomically (a temporary file
    /// made with `O_EXCL`, then `renameat`, which replaces a symlink
    /// rather than following it), mode 0644 whatever the umask.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> Result<(), FileError> {
        let path = self.join(name);
        let tmp = format!(".{name}.{}", std::process::id());
        let create = || {
            self.open_at(
                &tmp,
                OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                0o644,
            )
        };
        let mut file = match create() {
            // Left by a killed run that had our pid; we hold the lock and
            // nobody else may write here, so it is ours to remove.
            Err(Errno::EEXIST) => {
                unlinkat(self.fd.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir)
                    .map_err(errno(&path))?;
                create()
            }
            other => other,
        }
        .map_err(errno(&path))?;
        let written = (|| -> Result<(), FileError> {
            fchmod(file.as_fd(), Mode::from_bits_truncate(0o644)).map_err(errno(&path))?;
            file.write_all(bytes).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
            renameat(self.fd.as_fd(), tmp.as_str(), self.fd.as_fd(), name).map_err(errno(&path))
        })();
        if written.is_err() {
            let _ = unlinkat(self.fd.as_fd(), tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        written?;
        // The rename itself survives a crash once the directory is synced.
        File::from(self.fd.try_clone().map_err(io(&path))?)
            .sync_all()
            .map_err(io(&path))
    }

    fn refused_open(&self, path: &Path, e: Errno) -> FileError {
        match e {
            Errno::ELOOP => refused(
                path,
                format!(
                    "is a symbolic link; it is not followed (it could point at any file of this host): remove it (rm {})",
                    path.display()
                ),
            ),
            e => errno(path)(e),
        }
    }
}

/// Reads a regular file already open, up to `limit` bytes; `too_big` says
/// what is wrong with a larger one.
fn read_regular(
    file: File,
    path: &Path,
    limit: u64,
    too_big: &dyn Fn(u64) -> String,
) -> Result<String, FileError> {
    let meta = file.metadata().map_err(io(path))?;
    if !meta.is_file() {
        return Err(refused(
            path,
            format!("it is {}, not a regular file", kind_of(&meta)),
        ));
    }
    let too_big = |bytes: u64| refused(path, too_big(bytes));
    if meta.len() > limit {
        return Err(too_big(meta.len()));
    }
    let mut text = String::new();
    // The file may grow after the fstat: never read more than the limit.
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(io(path))?;
    if text.len() as u64 > limit {
        return Err(too_big(text.len() as u64));
    }
    Ok(text)
}

/// The text of a config file: a regular file (a symlink to one is fine:
/// the config is the operator's, not a file we write) of at most
/// [`MAX_CONFIG_BYTES`]. Opened without blocking, so a FIFO or device is
/// refused instead of read; `/dev/null` (`--config /dev/null`: "no file,
/// the defaults") reads as empty.
pub fn read_config(path: &Path) -> Result<String, FileError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
        .open(path)
        .map_err(io(path))?;
    let meta = file.metadata().map_err(io(path))?;
    let null = nix::sys::stat::makedev(1, 3);
    if meta.file_type().is_char_device() && meta.rdev() == null {
        return Ok(String::new());
    }
    read_regular(file, path, MAX_CONFIG_BYTES, &|bytes| {
        ConfigErrorKind::TooBig { bytes }.to_string()
    })
}
