//! Run code inside a chosen network namespace.
//!
//! Network namespaces are per thread on Linux. Every function here runs the
//! closure on a fresh, dedicated thread that enters the namespace first, so
//! the caller's thread never changes namespace and no async runtime thread is
//! ever moved. Sockets and child processes created inside the closure belong
//! to the target namespace.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod netns;
mod sys;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use error::NetnsError;

/// What kind of file `file_type` is, for error messages ("a FIFO", "a
/// directory"); `None` for a kind without a name here. Shared by the
/// namespace checks here and the CLI's checks on its own files.
pub fn file_kind(file_type: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = file_type;
    Some(if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        return None;
    })
}
pub use netns::Netns;

/// Runs `f` on a dedicated thread inside `ns`; the caller's thread is not moved.
pub fn run_in<T, F>(ns: &Netns, f: F) -> Result<T, NetnsError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let ns = ns.clone();
    run_on_thread(
        move || match ns.path() {
            Some(path) => sys::enter(&ns, &path),
            None => Ok(()),
        },
        f,
    )
}

/// Runs `f` on a dedicated thread inside a brand-new, empty network namespace
/// that disappears when `f` returns (unless something inside keeps it alive).
/// This is how tests, benches and the demo stay off the machine's own network.
pub fn run_in_new<T, F>(f: F) -> Result<T, NetnsError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    run_on_thread(sys::unshare_net, f)
}

fn run_on_thread<T, F, P>(prepare: P, f: F) -> Result<T, NetnsError>
where
    F: FnOnce() -> T + Send,
    T: Send,
    P: FnOnce() -> Result<(), NetnsError> + Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                prepare()?;
                Ok(f())
            })
            .join()
            .map_err(|_| NetnsError::Panicked)?
    })
}
