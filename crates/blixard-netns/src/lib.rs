//! Run code inside a chosen network namespace.
//!
//! Network namespaces are per thread on Linux. Every function here runs the
//! closure on a fresh, dedicated thread that enters the namespace first, so
//! the caller's thread never changes namespace and no async runtime thread is
//! ever moved. Sockets and child processes created inside the closure belong
//! to the target namespace.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where to run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Netns {
    /// The calling thread's namespace (no switch; still a dedicated thread).
    #[default]
    Current,
    /// A named namespace, `/run/netns/NAME` (as made by `ip netns add`).
    Named(String),
    /// A namespace file, e.g. `/proc/1234/ns/net` or a bind mount.
    Path(PathBuf),
    /// The namespace of a process.
    Pid(u32),
}

impl Netns {
    /// The file that names the namespace, if it is not the current one.
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Netns::Current => None,
            Netns::Named(name) => Some(PathBuf::from("/run/netns").join(name)),
            Netns::Path(p) => Some(p.clone()),
            Netns::Pid(pid) => Some(PathBuf::from(format!("/proc/{pid}/ns/net"))),
        }
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netns::Current => f.write_str("the current network namespace"),
            Netns::Named(n) => write!(f, "network namespace {n:?}"),
            Netns::Path(p) => write!(f, "network namespace {}", p.display()),
            Netns::Pid(pid) => write!(f, "network namespace of pid {pid}"),
        }
    }
}

impl FromStr for Netns {
    type Err = NetnsError;
    /// `NAME` (in `/run/netns`), an absolute `PATH`, or `pid:N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(NetnsError::BadSpec(s.into()));
        }
        if let Some(pid) = s.strip_prefix("pid:") {
            return match pid.parse() {
                Ok(0) => Err(NetnsError::NoSuchProcess { pid: 0 }),
                Ok(pid) => Ok(Netns::Pid(pid)),
                Err(_) => Err(NetnsError::BadSpec(s.into())),
            };
        }
        if s.starts_with('/') {
            return Ok(Netns::Path(s.into()));
        }
        if s.contains('/') || s == "." || s == ".." {
            return Err(NetnsError::BadSpec(s.into()));
        }
        Ok(Netns::Named(s.into()))
    }
}

/// Why a namespace could not be entered.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// The namespace spec is malformed.
    #[error(
        "{0:?} is not a network namespace: use NAME (in /run/netns), an absolute path, or pid:N"
    )]
    BadSpec(String),
    /// The namespace file could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `pid:N` names no running process.
    #[error("{}", no_process(*pid))]
    NoSuchProcess {
        /// The pid asked for.
        pid: u32,
    },
    /// `NAME` is not in `/run/netns`.
    #[error("no network namespace named {name:?} in /run/netns (`ip netns list` shows them)")]
    NoSuchName {
        /// The name asked for.
        name: String,
    },
    /// The file opens but is not a network namespace (a regular file, a
    /// device, a FIFO, another kind of namespace).
    #[error("{} is {what}, not a network namespace", path.display())]
    NotANamespace {
        /// The file.
        path: PathBuf,
        /// What it is instead ("a regular file", "a mount namespace").
        what: String,
    },
    /// `setns`/`unshare` failed.
    #[error("cannot enter {what}: {errno}{}", enter_hint(errno))]
    Enter {
        /// What was being entered.
        what: String,
        /// The errno.
        errno: std::io::Error,
    },
    /// The closure panicked.
    #[error("the code running in the namespace panicked")]
    Panicked,
    /// Not Linux.
    #[error("network namespaces are a Linux feature")]
    Unsupported,
}

fn no_process(pid: u32) -> String {
    if pid == 0 {
        "pid 0 is not a process: pid:N names a running process, whose network namespace is used"
            .into()
    } else {
        format!("no process with pid {pid} (pid:N names a running process)")
    }
}

/// Only a missing privilege is worth a hint: as root, EINVAL or EBADF means
/// the file is not what it claims.
fn enter_hint(errno: &std::io::Error) -> &'static str {
    if errno.kind() == std::io::ErrorKind::PermissionDenied {
        " (needs root / CAP_SYS_ADMIN)"
    } else {
        ""
    }
}

impl Netns {
    /// Checks that the namespace can be named here: its file exists and is
    /// a network namespace, opened without blocking (a FIFO would block
    /// `open` forever). [`run_in`] does the same before entering; this lets
    /// a caller refuse bad input before doing anything else.
    pub fn check(&self) -> Result<(), NetnsError> {
        match self.path() {
            None => Ok(()),
            Some(path) => open_netns(self, &path).map(drop),
        }
    }
}

/// Runs `f` on a dedicated thread inside `ns`; the caller's thread is not moved.
pub fn run_in<T, F>(ns: &Netns, f: F) -> Result<T, NetnsError>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let ns = ns.clone();
    run_on_thread(
        move || match ns.path() {
            Some(path) => enter(&ns, &path),
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
    run_on_thread(unshare_net, f)
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

/// Opens a namespace file and makes sure it is a network namespace: nsfs
/// files look like empty regular files to `fstat`, so the kind comes from
/// the fd's link in /proc (`net:[4026531840]`); anything else is named by
/// its file type.
#[cfg(target_os = "linux")]
fn open_netns(ns: &Netns, path: &std::path::Path) -> Result<std::fs::File, NetnsError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| match ns {
            _ if source.kind() != std::io::ErrorKind::NotFound => NetnsError::Open {
                path: path.to_path_buf(),
                source,
            },
            Netns::Named(name) => NetnsError::NoSuchName { name: name.clone() },
            Netns::Pid(pid) => NetnsError::NoSuchProcess { pid: *pid },
            _ => NetnsError::Open {
                path: path.to_path_buf(),
                source,
            },
        })?;
    let not = |what: &str| NetnsError::NotANamespace {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    // Without /proc there is nothing to ask: setns itself decides.
    let Ok(link) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) else {
        return Ok(file);
    };
    let link = link.to_string_lossy();
    if link.starts_with("net:[") {
        return Ok(file);
    }
    if let Some((kind, rest)) = link.split_once(":[")
        && rest.ends_with(']')
    {
        let kind = match kind {
            "mnt" => "mount",
            "uts" => "UTS",
            "ipc" => "IPC",
            "pid" | "pid_for_children" => "PID",
            "time" | "time_for_children" => "time",
            other => other,
        };
        return Err(not(&format!("a {kind} namespace")));
    }
    // A bind-mounted namespace (`ip netns add`'s /run/netns/NAME) reads as
    // its mount point; its file system is nsfs. setns checks that it is a
    // network namespace.
    if nix::sys::statfs::fstatfs(&file)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
    {
        return Ok(file);
    }
    let kind = file
        .metadata()
        .map(|m| m.file_type())
        .map_err(|source| NetnsError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    Err(not(if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "not a namespace file"
    }))
}

#[cfg(target_os = "linux")]
fn enter(ns: &Netns, path: &std::path::Path) -> Result<(), NetnsError> {
    use nix::sched::{CloneFlags, setns};
    let file = open_netns(ns, path)?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
        // nsfs, but another kind of namespace (a bind-mounted one).
        nix::errno::Errno::EINVAL => NetnsError::NotANamespace {
            path: path.to_path_buf(),
            what: "a namespace, but not a network namespace".into(),
        },
        e => NetnsError::Enter {
            what: ns.to_string(),
            errno: std::io::Error::from_raw_os_error(e as i32),
        },
    })
}

#[cfg(target_os = "linux")]
fn unshare_net() -> Result<(), NetnsError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Enter {
        what: "a new network namespace".into(),
        errno: std::io::Error::from_raw_os_error(e as i32),
    })
}

#[cfg(not(target_os = "linux"))]
fn enter(_: &Netns, _: &std::path::Path) -> Result<(), NetnsError> {
    Err(NetnsError::Unsupported)
}

#[cfg(not(target_os = "linux"))]
fn open_netns(_: &Netns, _: &std::path::Path) -> Result<std::fs::File, NetnsError> {
    Err(NetnsError::Unsupported)
}

#[cfg(not(target_os = "linux"))]
fn unshare_net() -> Result<(), NetnsError> {
    Err(NetnsError::Unsupported)
}

/// Helpers for privileged tests.
pub mod testing {
    use std::process::{Child, Command, Output, Stdio};
    use std::time::{Duration, Instant};

    /// A throwaway network namespace kept alive by a child process
    /// (`unshare --net sleep`), standing in for a guest, a peer host or an
    /// upstream network. Killed, with its namespace, on drop.
    pub struct NetnsHolder {
        child: Child,
    }

    impl NetnsHolder {
        /// Starts the holder and waits (with a deadline) until it is inside
        /// its new namespace.
        pub fn spawn() -> std::io::Result<Self> {
            let child = Command::new("unshare")
                .args(["--net", "--", "sleep", "86400"])
                .stdin(Stdio::null())
                .spawn()?;
            let holder = Self { child };
            let mine = ns_inode("/proc/thread-self/ns/net")?;
            let theirs = format!("/proc/{}/ns/net", holder.pid());
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if ns_inode(&theirs).is_ok_and(|ino| ino != mine) {
                    return Ok(holder);
                }
                if Instant::now() > deadline {
                    return Err(std::io::Error::other(
                        "unshare --net did not enter a new namespace in 10 s",
                    ));
                }
                std::thread::yield_now();
            }
        }

        /// The holder's pid (for `ip link set X netns PID`).
        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// The namespace, for [`crate::run_in`].
        pub fn netns(&self) -> crate::Netns {
            crate::Netns::Pid(self.pid())
        }

        /// A command that runs `program` inside the namespace.
        pub fn command(&self, program: &str) -> Command {
            let mut cmd = Command::new("nsenter");
            cmd.arg(format!("--net=/proc/{}/ns/net", self.pid()))
                .arg("--")
                .arg(program);
            cmd
        }

        /// Runs a shell snippet inside the namespace and returns its output.
        pub fn sh(&self, script: &str) -> Output {
            self.command("sh")
                .args(["-c", script])
                .output()
                .expect("running sh via nsenter")
        }

        /// Like [`Self::sh`] but panics, showing stderr, when it fails.
        pub fn sh_ok(&self, script: &str) -> String {
            let out = self.sh(script);
            assert!(
                out.status.success(),
                "in netns of pid {}: `{script}` failed: {}",
                self.pid(),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    }

    impl Drop for NetnsHolder {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn ns_inode(path: &str) -> std::io::Result<u64> {
        use std::os::unix::fs::MetadataExt;
        Ok(std::fs::metadata(path)?.ino())
    }

    /// Runs a shell snippet in the calling thread's namespace (inside a test's
    /// fresh namespace) and panics, showing stderr, when it fails.
    pub fn sh_ok(script: &str) -> String {
        let out = Command::new("sh")
            .args(["-c", script])
            .output()
            .expect("running sh");
        assert!(
            out.status.success(),
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Where [`skip`] records each skipped test, one line each, when set:
    /// `cargo xtask ci` counts them at the end (the harness hides a passing
    /// test's stderr, so a notice alone would go unseen).
    pub const SKIP_LOG_ENV: &str = "BLIXARD_SKIP_LOG";

    /// Skips `test` because `needs` is missing: under `CI` this panics (a
    /// skip in CI is a failure); elsewhere it prints a loud notice and
    /// appends a line to [`SKIP_LOG_ENV`]'s file. The caller then returns.
    pub fn skip(test: &str, needs: &str) {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: needs {needs}, and CI is set: a skip in CI is a failure");
        }
        eprintln!("\n*** SKIPPED {test}: needs {needs} ***\n");
        if let Some(log) = std::env::var_os(SKIP_LOG_ENV) {
            use std::io::Write;
            let line = format!("{test}: needs {needs}\n");
            // One write per line (O_APPEND): test threads and processes
            // may skip at once.
            let _ = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .and_then(|mut f| f.write_all(line.as_bytes()));
        }
    }

    /// Whether this process may create network namespaces; when it may not,
    /// [`skip`]s `test` and returns `false` so the test can return.
    pub fn privileged(test: &str) -> bool {
        match super::run_in_new(|| ()) {
            Ok(()) => true,
            Err(e) => {
                skip(
                    test,
                    &format!(
                        "root to create a network namespace (CAP_NET_ADMIN, CAP_SYS_ADMIN: {e})"
                    ),
                );
                false
            }
        }
    }

    /// Runs `f` in a fresh namespace, returning `None` (after a loud notice)
    /// when the process lacks the privilege and `CI` is unset.
    pub fn in_fresh_netns<T: Send>(test: &str, f: impl FnOnce() -> T + Send) -> Option<T> {
        if !privileged(test) {
            return None;
        }
        Some(super::run_in_new(f).expect("entering a new network namespace"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!("blx".parse::<Netns>().unwrap(), Netns::Named("blx".into()));
        assert_eq!(
            "/proc/1/ns/net".parse::<Netns>().unwrap(),
            Netns::Path("/proc/1/ns/net".into())
        );
        assert_eq!("pid:42".parse::<Netns>().unwrap(), Netns::Pid(42));
        assert!("a/b".parse::<Netns>().is_err());
        assert!("pid:x".parse::<Netns>().is_err());
        assert!(matches!(
            "pid:0".parse::<Netns>(),
            Err(NetnsError::NoSuchProcess { pid: 0 })
        ));
        assert!("".parse::<Netns>().is_err());
    }

    #[test]
    fn files_that_are_not_network_namespaces_are_named_for_what_they_are() {
        let dir = std::env::temp_dir().join(format!("blixard-netns-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let path = |p: &str| Netns::Path(p.into());
        for (ns, says) in [
            (
                path("/etc/passwd"),
                "/etc/passwd is a regular file, not a network namespace",
            ),
            (
                path("/dev/null"),
                "/dev/null is a character device, not a network namespace",
            ),
            (path("/"), "/ is a directory, not a network namespace"),
            (
                path("/proc/self/ns/mnt"),
                "is a mount namespace, not a network namespace",
            ),
            (path("/proc/self/ns/uts"), "is a UTS namespace"),
            (
                Netns::Path(fifo.clone()),
                "is a FIFO, not a network namespace",
            ),
            (Netns::Pid(999_999_999), "no process with pid 999999999"),
            (
                Netns::Named("blixard-no-such-ns".into()),
                "no network namespace named \"blixard-no-such-ns\"",
            ),
        ] {
            let e = ns.check().unwrap_err().to_string();
            assert!(e.contains(says), "{ns:?}: {e}");
            // Entering says the same, and never blocks on the FIFO.
            let e = run_in(&ns, || ()).unwrap_err().to_string();
            assert!(e.contains(says), "{ns:?}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Netns::Current.check().is_ok());
        assert!(path("/proc/self/ns/net").check().is_ok());
    }

    fn own_netns_inode() -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
    }

    #[test]
    fn new_namespace_differs_and_caller_stays() {
        let Some(inner) =
            testing::in_fresh_netns("new_namespace_differs_and_caller_stays", own_netns_inode)
        else {
            return;
        };
        let before = own_netns_inode();
        assert_ne!(inner, before, "closure ran in the caller's namespace");
        assert_eq!(own_netns_inode(), before, "caller's thread moved");
    }

    #[test]
    fn holder_namespace_is_separate_and_reachable_by_veth() {
        testing::in_fresh_netns("holder_namespace_is_separate_and_reachable_by_veth", || {
            let peer = testing::NetnsHolder::spawn().unwrap();
            testing::sh_ok(&format!(
                "ip link add bxa type veth peer name bxb && ip link set bxb netns {} && \
                 ip addr add 192.0.2.1/24 dev bxa && ip link set bxa up",
                peer.pid()
            ));
            peer.sh_ok(
                "ip addr add 192.0.2.2/24 dev bxb && ip link set bxb up && ip link set lo up",
            );
            assert!(!testing::sh_ok("ip -o link").contains("bxb"));
            testing::sh_ok("ping -c1 -W5 192.0.2.2");
        });
    }

    #[test]
    fn enters_a_namespace_by_pid() {
        let Some((path_ino, holder)) = testing::in_fresh_netns("enters_a_namespace_by_pid", || {
            // Keep the namespace alive through a child process living in it.
            let child = std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            (own_netns_inode(), child)
        }) else {
            return;
        };
        let mut holder = holder;
        let ns = Netns::Pid(holder.id());
        let seen = run_in(&ns, own_netns_inode).unwrap();
        holder.kill().ok();
        holder.wait().ok();
        assert_eq!(seen, path_ino);
        assert_ne!(seen, own_netns_inode());
    }

    fn inode_of(path: &str) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).unwrap().ino()
    }

    /// Runs `f` with this thread in a mount namespace of its own, made
    /// private before anything is mounted (so no mount propagates out),
    /// with a tmpfs over `/run` holding an empty `/run/netns`: bind mounts
    /// made there by `f` (and the threads and processes it starts) vanish
    /// with it and never reach this machine's `/run/netns`.
    fn with_private_run<T>(f: impl FnOnce() -> T) -> T {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
        testing::sh_ok(
            "mount --make-rprivate / && mount -t tmpfs blixard-test /run && mkdir /run/netns",
        );
        f()
    }

    #[test]
    fn enters_a_namespace_by_name() {
        let name = format!("blixard-test-{}", std::process::id());
        let Some((seen, target, caller)) =
            testing::in_fresh_netns("enters_a_namespace_by_name", || {
                with_private_run(|| {
                    // What `ip netns add` makes: a bind mount of a namespace
                    // file at /run/netns/NAME.
                    let holder = testing::NetnsHolder::spawn().unwrap();
                    let proc = format!("/proc/{}/ns/net", holder.pid());
                    testing::sh_ok(&format!(
                        "touch /run/netns/{name} && mount --bind {proc} /run/netns/{name}"
                    ));
                    let seen = run_in(&Netns::Named(name.clone()), own_netns_inode).unwrap();
                    (seen, inode_of(&proc), own_netns_inode())
                })
            })
        else {
            return;
        };
        assert_eq!(seen, target, "ran somewhere else than the named namespace");
        assert_ne!(seen, caller);
        // The name lived in the test thread's own mount namespace only.
        assert!(!std::path::Path::new("/run/netns").join(&name).exists());
    }

    #[test]
    fn enters_a_namespace_by_path() {
        let Some(results) = testing::in_fresh_netns("enters_a_namespace_by_path", || {
            with_private_run(|| {
                let holder = testing::NetnsHolder::spawn().unwrap();
                let proc = format!("/proc/{}/ns/net", holder.pid());
                // A bind mount somewhere else than /run/netns, and the
                // holder's own /proc file.
                testing::sh_ok(&format!(
                    "touch /run/blixard-test-ns && mount --bind {proc} /run/blixard-test-ns"
                ));
                let target = inode_of(&proc);
                ["/run/blixard-test-ns", proc.as_str()].map(|path| {
                    let seen = run_in(&Netns::Path(path.into()), own_netns_inode).unwrap();
                    (path.to_string(), seen, target, own_netns_inode())
                })
            })
        }) else {
            return;
        };
        for (path, seen, target, caller) in results {
            assert_eq!(seen, target, "{path}: ran somewhere else");
            assert_ne!(seen, caller, "{path}: ran in the caller's namespace");
        }
        assert!(!std::path::Path::new("/run/blixard-test-ns").exists());
    }
}
