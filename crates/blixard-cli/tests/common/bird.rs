//! A BIRD daemon of a test: started in the calling thread's namespace (a
//! test's own), with its config, control socket and pid file in the test's
//! directory, in the foreground so the test holds it as a child; killed
//! and reaped when dropped, whether the test passed or not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether `bird` and `birdc` can be run; otherwise the caller skips
/// (a failure under CI).
pub fn available() -> bool {
    ["bird", "birdc"]
        .iter()
        .all(|tool| Command::new(tool).arg("--version").output().is_ok())
}

/// A running BIRD.
pub struct Bird {
    child: Option<Child>,
    /// Its control socket.
    pub socket: PathBuf,
    /// Its configuration file.
    pub config: PathBuf,
    pid_file: PathBuf,
}

impl Bird {
    /// Starts BIRD on `config` with its socket and pid file beside it
    /// (`NAME.ctl`, `NAME.pid` in `dir`), in the calling thread's network
    /// namespace, and waits (with a deadline) until it answers.
    pub fn start(dir: &Path, name: &str, config: &Path) -> Bird {
        let mut bird = Bird {
            child: None,
            socket: dir.join(format!("{name}.ctl")),
            config: config.to_path_buf(),
            pid_file: dir.join(format!("{name}.pid")),
        };
        bird.run(false);
        bird
    }

    /// The socket's path, for `bgp.bird_socket` before BIRD runs.
    pub fn socket_path(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.ctl"))
    }

    fn run(&mut self, recovery: bool) {
        let mut command = Command::new("bird");
        command.arg("-f");
        if recovery {
            // Graceful restart recovery: the kernel keeps what BIRD had
            // installed until the peers are back.
            command.arg("-R");
        }
        let child = command
            .arg("-c")
            .arg(&self.config)
            .arg("-s")
            .arg(&self.socket)
            .arg("-P")
            .arg(&self.pid_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting bird");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.birdc(&["show", "status"]).status.success() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "bird exited ({status}) on {}:\n{}",
                    self.config.display(),
                    std::fs::read_to_string(&self.config).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "bird did not answer on {}",
                self.socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills BIRD as a crash would (SIGKILL): no cleanup, no notification
    /// to its peers beyond the kernel closing its sockets.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts BIRD again after [`Bird::kill`], with graceful restart
    /// recovery (`bird -R`), as an operator's unit should.
    pub fn restart(&mut self) {
        self.kill();
        // A killed BIRD leaves its socket file; the new one replaces it.
        self.run(true);
    }

    /// Runs `birdc -s SOCKET ARGS...`.
    pub fn birdc(&self, args: &[&str]) -> Output {
        Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("running birdc")
    }

    /// `birdc` that must succeed: its stdout.
    pub fn birdc_ok(&self, args: &[&str]) -> String {
        let out = self.birdc(args);
        assert!(
            out.status.success(),
            "birdc {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.kill();
    }
}
