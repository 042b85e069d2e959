//! Helpers for privileged tests (the `testing` feature): a fresh namespace
//! per test, a loud skip without root (a failure under `CI`), peer
//! namespaces kept alive by a child process, and shell one-liners that
//! panic with stderr.

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

/// Polls `done` every 20 ms until it holds, failing the test after 10 s:
/// what the kernel does a moment later (linkwatch, a VMM's attach) is
/// waited for, never slept for.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

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
    match crate::run_in_new(|| ()) {
        Ok(()) => true,
        Err(e) => {
            skip(
                test,
                &format!("root to create a network namespace (CAP_NET_ADMIN, CAP_SYS_ADMIN: {e})"),
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
    Some(crate::run_in_new(f).expect("entering a new network namespace"))
}
