//! `watch` (issue 15, part 4): the real binary runs as a child in a fresh
//! namespace while a guest behind the stand-in VMM holds a TCP connection
//! to the host. A flushed ruleset, a deleted route of that VM and its tap
//! set down are each repaired within a second, and the connection still
//! carries data; SIGTERM ends it with exit 0; a repair waits for a run
//! that holds the lock.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use blixard_addr::Config;
use blixard_addr::planner::{HostFacts, build_plan};
use blixard_addr::render::{self, GuestNetwork};
use blixard_host::testbed::Guest;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use common::{Scratch, cli, command, exits};

const CONFIG: &str = r#"
vms = 2
owner = "root"
external_interface = "none"
"#;

/// What the issue asks of a repair.
const REPAIR_DEADLINE: Duration = Duration::from_secs(1);
/// Generous: the binary starts, reconciles the empty host, or stops.
const PATIENCE: Duration = Duration::from_secs(20);
const PORT: u16 = 7070;

/// `watch` running as a child, its stderr lines arriving on a channel.
struct Watch {
    child: Child,
    lines: Receiver<String>,
    /// Everything read so far, for failure messages.
    seen: Vec<String>,
}

impl Watch {
    fn start(scratch: &Scratch, config: &std::path::Path) -> Watch {
        let mut child = command(scratch, config, &["watch", "--debounce-ms", "100"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        let mut watch = Watch {
            child,
            lines,
            seen: Vec::new(),
        };
        watch.expect_line("blixard-net watch: watching ", PATIENCE);
        watch
    }

    /// Waits for a stderr line starting with `prefix`; returns it.
    fn expect_line(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line {prefix:?} from watch within {within:?}; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends SIGTERM and waits for the exit, with a deadline.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "watch did not exit within 5 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Watch {
    /// Every line it printed (after it exited: the rest of its stderr).
    fn all_lines(&mut self) -> Vec<String> {
        self.seen.extend(self.lines.iter());
        self.seen.clone()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the kernel shows a tampering repaired.
type Repaired = fn() -> bool;

/// Polls the kernel until `repaired` holds; returns how long it took,
/// failing past [`REPAIR_DEADLINE`].
fn repaired_within(what: &str, repaired: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !repaired() {
        assert!(
            start.elapsed() < REPAIR_DEADLINE,
            "{what}: not repaired within {REPAIR_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

fn vm1_route_present() -> bool {
    sh_ok("ip route show 10.0.0.1/32 proto 177").contains("dev vm1")
}

fn vm1_up() -> bool {
    sh_ok("ip -o link show vm1").contains(",UP")
}

fn our_table_present() -> bool {
    sh_ok("nft list tables").contains("table inet blixard")
}

/// Guest vm1 behind the stand-in VMM, wired as `render` says.
fn start_guest() -> Guest {
    let config = Config::from_toml_str(CONFIG, "test").unwrap();
    let plan = build_plan(&config, &HostFacts::default()).unwrap();
    let link = &plan.links[0];
    let network = GuestNetwork::new(&plan, link.vm.clone());
    Guest::start(&link.vm, 1, &render::ip_commands(&network).join(" && ")).unwrap()
}

/// A TCP connection from the guest to the host's gateway address, and the
/// host's end of it.
fn connect(guest: &Guest) -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind(("10.0.0.0", PORT)).unwrap();
    let from_guest = blixard_netns::run_in(&guest.ns.netns(), || {
        TcpStream::connect_timeout(&"10.0.0.0:7070".parse().unwrap(), PATIENCE)
    })
    .unwrap()
    .unwrap();
    let (at_host, _) = listener.accept().unwrap();
    for stream in [&from_guest, &at_host] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }
    (from_guest, at_host)
}

/// Data both ways on the connection (TCP retransmits what a repair's
/// moment without a route lost).
fn carries_data(guest_end: &mut TcpStream, host_end: &mut TcpStream, round: u8) {
    let mut byte = [0u8; 1];
    guest_end.write_all(&[round]).unwrap();
    host_end.read_exact(&mut byte).unwrap();
    assert_eq!(byte[0], round, "guest -> host");
    host_end.write_all(&[round ^ 0xff]).unwrap();
    guest_end.read_exact(&mut byte).unwrap();
    assert_eq!(byte[0], round ^ 0xff, "host -> guest");
}

#[test]
fn watch_repairs_a_flush_a_deleted_route_and_a_downed_tap_while_tcp_stays_up() {
    in_fresh_netns("watch_repairs", || {
        let scratch = Scratch::new("watch-repairs");
        let config = scratch.config(CONFIG);
        sh_ok("ip link set lo up");
        let mut watch = Watch::start(&scratch, &config);
        exits(cli(&scratch, &config, &["status"]), 0);
        let guest = start_guest();
        let (mut guest_end, mut host_end) = connect(&guest);
        carries_data(&mut guest_end, &mut host_end, 0);

        let cases: [(&str, &str, Repaired); 3] = [
            ("nft flush ruleset", "nft flush ruleset", our_table_present),
            (
                "ip route del of vm1's route",
                "ip route del 10.0.0.1/32",
                vm1_route_present,
            ),
            ("ip link set vm1 down", "ip link set vm1 down", || {
                vm1_up() && vm1_route_present()
            }),
        ];
        for (round, (what, tamper, repaired)) in cases.into_iter().enumerate() {
            sh_ok(tamper);
            let took = repaired_within(what, repaired);
            eprintln!("{what}: repaired in {took:?}");
            watch.expect_line("blixard-net watch: drift after ", PATIENCE);
            exits(cli(&scratch, &config, &["status"]), 0);
            carries_data(&mut guest_end, &mut host_end, round as u8 + 1);
        }

        let status = watch.terminate();
        assert_eq!(status.code(), Some(0), "watch after SIGTERM: {status}");
        // One repair per tampering: the repairs' own notifications bring
        // a check each that finds nothing to do, never another repair.
        let lines = watch.all_lines();
        let repairs = lines
            .iter()
            .filter(|l| l.starts_with("blixard-net watch: drift after "))
            .count();
        assert_eq!(repairs, 3, "{}", lines.join("\n"));
        eprintln!("{}", lines.join("\n"));
    });
}

#[test]
fn watch_waits_for_a_run_holding_the_lock_and_stops_on_sigterm() {
    in_fresh_netns("watch_waits_for_the_lock", || {
        let scratch = Scratch::new("watch-lock");
        let config = scratch.config(CONFIG);
        sh_ok("ip link set lo up");
        let mut watch = Watch::start(&scratch, &config);
        let lock = scratch.0.join("host.lock");
        // Another run holds the lock (as `apply` does while it changes
        // the host), its line written as a run writes it.
        let mut holder = std::process::Command::new("flock")
            .arg(&lock)
            .args(["-c", "echo held; read _"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut held = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut held)
            .unwrap();
        assert_eq!(held, "held\n");
        std::fs::write(
            &lock,
            format!("pid {} (a test holding the lock)\n", holder.id()),
        )
        .unwrap();

        sh_ok("ip route del 10.0.0.1/32");
        let waiting = watch.expect_line("blixard-net: waiting for ", PATIENCE);
        assert!(
            waiting.ends_with(&format!(
                "held by pid {} (a test holding the lock)",
                holder.id()
            )),
            "{waiting}"
        );
        assert!(
            !vm1_route_present(),
            "watch repaired while the lock was held"
        );

        holder.stdin.take().unwrap().write_all(b"\n").unwrap();
        assert!(holder.wait().unwrap().success());
        watch.expect_line("blixard-net watch: drift after ", PATIENCE);
        assert!(vm1_route_present());
        exits(cli(&scratch, &config, &["status"]), 0);

        let start = Instant::now();
        let status = watch.terminate();
        assert_eq!(status.code(), Some(0), "watch after SIGTERM: {status}");
        eprintln!("watch exited {:?} after SIGTERM", start.elapsed());
        // It released the lock: a run takes it at once.
        exits(cli(&scratch, &config, &["apply"]), 0);
    });
}
