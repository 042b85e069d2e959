//! Concurrency (issue 8, part 5): `apply`, `down` and `alloc` runs started
//! together in one namespace with one lock directory serialize on the lock:
//! what each reports and what the host ends in is what some one-at-a-time
//! order of them gives; and a run that has to wait names the holder.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{FULL, Scratch, assert_host_is_full, cli, command, exits, ok, text, uplink};

/// What a finished `apply` or `down` (or its `--dry-run`) reported: how
/// many changes it made or would make (0 for "no change").
fn changes(verb: &str, out: &Output) -> usize {
    assert!(out.status.success(), "{verb} failed: {}", text(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix(verb)?;
            let rest = rest.strip_prefix(" --dry-run").unwrap_or(rest);
            let rest = rest.strip_prefix(": ")?;
            if rest.starts_with("no change") {
                return Some(0);
            }
            rest.split_once(" change(s)")?.0.parse().ok()
        })
        .unwrap_or_else(|| panic!("no result line from {verb}: {}", text(out)))
}

/// Nothing of ours is left in the calling thread's namespace.
fn assert_nothing_of_ours() {
    let state = sh_ok(
        "ip -o link show group 2833; ip route show proto 177; ip -6 route show proto 177; nft list tables",
    );
    assert!(
        !state.contains("vm") && !state.contains("blixard"),
        "leftovers: {state}"
    );
}

/// The lock file every run in `scratch` shares.
fn lock_file(scratch: &Scratch) -> String {
    scratch.0.join("host.lock").display().to_string()
}

/// Whether `order` (indices into `runs`) run one at a time from `applied`
/// gives each run the change count it reported and ends applied as `end`.
fn serial_order_explains(
    runs: &[(&str, usize)],
    order: &[usize],
    mut applied: bool,
    end: bool,
    (full_apply, full_down): (usize, usize),
) -> bool {
    for &i in order {
        let (verb, made) = runs[i];
        let expected = match (verb, applied) {
            ("apply", false) => full_apply,
            ("down", true) => full_down,
            _ => 0,
        };
        if made != expected {
            return false;
        }
        applied = verb == "apply";
    }
    applied == end
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out
}

fn spawn(scratch: &Scratch, config: &Path, args: &[&str]) -> Child {
    command(scratch, config, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Any "waiting for" line must name the lock file and one of `pids`
/// running `apply` or `down`.
fn assert_waits_name_a_holder(out: &Output, lock: &str, pids: &[u32]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines().filter(|l| l.contains("waiting for")) {
        let named = pids.iter().any(|pid| {
            ["blixard-net apply", "blixard-net down"]
                .iter()
                .any(|what| {
                    line == format!("blixard-net: waiting for {lock} held by pid {pid} ({what})")
                })
        });
        assert!(named, "{line:?} names none of {pids:?}");
    }
}

#[test]
fn four_runs_at_once_serialize_and_end_in_a_consistent_state() {
    in_fresh_netns("four_runs_at_once", || {
        let scratch = Scratch::new("concurrent");
        let config = scratch.config(FULL);
        uplink();
        let lock = lock_file(&scratch);
        let full_apply = changes("apply", &cli(&scratch, &config, &["apply", "--dry-run"]));

        // Four applies on an empty host: exactly one does the work.
        let children: Vec<Child> = (0..4)
            .map(|_| spawn(&scratch, &config, &["apply"]))
            .collect();
        let pids: Vec<u32> = children.iter().map(Child::id).collect();
        let outs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let mut made: Vec<usize> = outs.iter().map(|o| changes("apply", o)).collect();
        made.sort();
        assert_eq!(made, [0, 0, 0, full_apply], "four applies at once");
        for out in &outs {
            assert_waits_name_a_holder(out, &lock, &pids);
        }
        assert_host_is_full();
        exits(cli(&scratch, &config, &["status"]), 0);
        // `down` leaves sysctls as they are, so an apply after a down has
        // fewer changes than the very first: measure both one at a time.
        let full_down = changes("down", &cli(&scratch, &config, &["down"]));
        assert_nothing_of_ours();
        let full_reapply = changes("apply", &cli(&scratch, &config, &["apply", "--dry-run"]));
        ok(cli(&scratch, &config, &["apply"]));
        assert_host_is_full();

        // Two applies and two downs, started in a different order each
        // round: every report and the end state must match one serial order.
        let mut applied = true;
        for round in 0..3 {
            let verbs: Vec<&str> = match round {
                0 => vec!["down", "apply", "down", "apply"],
                1 => vec!["apply", "down", "apply", "down"],
                _ => vec!["down", "down", "apply", "apply"],
            };
            let children: Vec<Child> = verbs
                .iter()
                .map(|v| spawn(&scratch, &config, &[v]))
                .collect();
            let pids: Vec<u32> = children.iter().map(Child::id).collect();
            let outs: Vec<Output> = children
                .into_iter()
                .map(|c| c.wait_with_output().unwrap())
                .collect();
            let runs: Vec<(&str, usize)> = verbs
                .iter()
                .zip(&outs)
                .map(|(v, o)| (*v, changes(v, o)))
                .collect();
            for out in &outs {
                assert_waits_name_a_holder(out, &lock, &pids);
            }
            // The end state, read from the kernel, decides which it is.
            let end = exits_either(&scratch, &config);
            if end {
                assert_host_is_full();
            } else {
                assert_nothing_of_ours();
            }
            assert!(
                permutations(4).iter().any(|order| serial_order_explains(
                    &runs,
                    order,
                    applied,
                    end,
                    (full_reapply, full_down)
                )),
                "round {round}: no one-at-a-time order explains {runs:?} from applied={applied} to applied={end}"
            );
            applied = end;
        }

        // Whatever the rounds left, a final apply brings exactly the plan.
        ok(cli(&scratch, &config, &["apply"]));
        assert_host_is_full();
        exits(cli(&scratch, &config, &["status"]), 0);
    });
}

/// `status` after concurrent runs: 0 (applied) or 3 (torn down, so every
/// object is missing); anything else is inconsistent.
fn exits_either(scratch: &Scratch, config: &Path) -> bool {
    let status = cli(scratch, config, &["status"]);
    match status.status.code() {
        Some(0) => true,
        Some(3) => false,
        _ => panic!("status after concurrent runs: {}", text(&status)),
    }
}

/// Puts a gate in front of the real `nft`: every call made before the gate
/// opens (an apply may run more than one at once) blocks reading a line
/// from a FIFO, so a run is held inside its locked section for as long as
/// the test needs. The real binary does the work.
fn gated_nft(scratch: &Scratch) -> String {
    let real = sh_ok("command -v nft").trim().to_string();
    let dir = scratch.0.join("gate");
    std::fs::create_dir_all(&dir).unwrap();
    sh_ok(&format!("mkfifo {}/fifo", dir.display()));
    let script = format!(
        "#!/bin/sh\nif [ ! -e {d}/open ]; then touch {d}/entered; read _ < {d}/fifo; fi\nexec {real} \"$@\"\n",
        d = dir.display()
    );
    let path = dir.join("nft");
    std::fs::write(&path, script).unwrap();
    sh_ok(&format!("chmod 755 {}", path.display()));
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Opens the gate when dropped, so a failing test does not leave its runs
/// blocked in a dead namespace.
struct OpenGateOnDrop(std::path::PathBuf);

impl Drop for OpenGateOnDrop {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::write(self.0.join("open"), "");
        // Non-blocking: with no reader left there is nothing to release.
        if let Ok(mut fifo) = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
            .open(self.0.join("fifo"))
        {
            let _ = fifo.write_all("go\n".repeat(64).as_bytes());
        }
    }
}

/// The first line a child prints on stderr, within a deadline.
fn first_stderr_line(child: &mut Child) -> (String, std::thread::JoinHandle<String>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let rest = std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        tx.send(line.trim_end().to_string()).unwrap();
        let mut rest = String::new();
        while reader.read_line(&mut rest).unwrap_or(0) > 0 {}
        rest
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a waiting run printed nothing on stderr in 20 s");
    (line, rest)
}

#[test]
fn runs_waiting_for_the_lock_name_its_holder() {
    in_fresh_netns("runs_waiting_for_the_lock", || {
        let scratch = Scratch::new("lock-holder");
        let config = scratch.config(FULL);
        uplink();
        let path = gated_nft(&scratch);
        let gate = scratch.0.join("gate");
        let _unblock = OpenGateOnDrop(gate.clone());
        let lock = lock_file(&scratch);

        let holder = command(&scratch, &config, &["apply"])
            .env("PATH", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The holder is inside its locked section once it calls nft.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !gate.join("entered").exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "apply never reached nft"
            );
            std::thread::yield_now();
        }
        let holds = format!("held by pid {} (blixard-net apply)", holder.id());

        let mut waiting = Vec::new();
        for args in [&["down"][..], &["alloc", "web"][..]] {
            let mut child = command(&scratch, &config, args)
                .env("PATH", &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let (line, rest) = first_stderr_line(&mut child);
            assert_eq!(
                line,
                format!("blixard-net: waiting for {lock} {holds}"),
                "{args:?}"
            );
            waiting.push((args, child, rest));
        }
        // Both wait while the holder is held at the gate.
        for (args, child, _) in &mut waiting {
            assert!(child.try_wait().unwrap().is_none(), "{args:?} did not wait");
        }

        // A line for each gated call; the write end stays open until the
        // holder is done, so a call that opens the FIFO late still finds
        // its line.
        std::fs::write(gate.join("open"), "").unwrap();
        let mut release = std::fs::OpenOptions::new()
            .write(true)
            .open(gate.join("fifo"))
            .unwrap();
        release.write_all("go\n".repeat(64).as_bytes()).unwrap();
        let applied = holder.wait_with_output().unwrap();
        drop(release);
        assert!(changes("apply", &applied) > 0, "{}", text(&applied));
        for (args, child, rest) in waiting {
            let out = child.wait_with_output().unwrap();
            let rest = rest.join().unwrap();
            assert!(out.status.success(), "{args:?}: {rest}");
        }
        // The down ran after the apply it waited for.
        assert_nothing_of_ours();
        let list = ok(cli(&scratch, &config, &["list"]));
        assert!(list.contains("web"), "{list}");
    });
}
