//! A BIRD daemon of a test or the demo: started in the calling thread's
//! namespace (a throwaway one), with its config, control socket and pid
//! file in the caller's directory, in the foreground so the caller holds
//! it as a child; killed and reaped when dropped, whether a test passed
//! or not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::TestbedError;

/// Whether `bird` and `birdc` can be run; otherwise a test skips (a
/// failure under CI).
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
    log: PathBuf,
}

impl Bird {
    /// Starts BIRD on `config` with its socket and pid file in `dir`
    /// (`NAME.ctl`, `NAME.pid`), in the calling thread's network
    /// namespace, and waits (with a deadline) until it answers.
    pub fn start(dir: &Path, name: &str, config: &Path) -> Result<Bird, TestbedError> {
        let mut bird = Bird {
            child: None,
            socket: Self::socket_path(dir, name),
            config: config.to_path_buf(),
            pid_file: dir.join(format!("{name}.pid")),
            log: dir.join(format!("{name}.log")),
        };
        bird.run(false)?;
        Ok(bird)
    }

    /// The socket's path, for `bgp.bird_socket` before BIRD runs.
    pub fn socket_path(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.ctl"))
    }

    fn run(&mut self, recovery: bool) -> Result<(), TestbedError> {
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
            // A file, not a pipe nobody reads: a chatty BIRD must not block.
            .stderr(std::fs::File::create(&self.log)?)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.birdc(&["show", "status"]).status.success() {
            if let Some(mut child) = self.child.take_if(|c| !matches!(c.try_wait(), Ok(None))) {
                let _ = child.wait();
                return Err(TestbedError::Command {
                    command: format!("bird -c {}", self.config.display()),
                    stderr: std::fs::read_to_string(&self.log)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                });
            }
            if Instant::now() > deadline {
                return Err(TestbedError::Command {
                    command: format!("birdc -s {} show status", self.socket.display()),
                    stderr: "BIRD did not answer within 20 s".into(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
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
    /// recovery (`bird -R`), as an operator's unit should, in the calling
    /// thread's namespace.
    pub fn restart(&mut self) -> Result<(), TestbedError> {
        self.kill();
        // A killed BIRD leaves its socket file; the new one replaces it.
        self.run(true)
    }

    /// Runs `birdc -s SOCKET ARGS...` (a birdc that cannot start is a
    /// failed output).
    pub fn birdc(&self, args: &[&str]) -> Output {
        Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap_or_else(|e| Output {
                status: std::os::unix::process::ExitStatusExt::from_raw(127 << 8),
                stdout: Vec::new(),
                stderr: e.to_string().into_bytes(),
            })
    }

    /// `birdc` that must succeed: its stdout.
    pub fn birdc_ok(&self, args: &[&str]) -> Result<String, TestbedError> {
        let out = self.birdc(args);
        if !out.status.success() {
            return Err(TestbedError::Command {
                command: format!("birdc -s {} {}", self.socket.display(), args.join(" ")),
                stderr: format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.kill();
    }
}
