//! QEMU guests for the real-VMM tier: Debian's kernel, a busybox initramfs
//! built here at run time, the NIC arguments printed by `blixard-net vmm`
//! and the guest script printed by `blixard-net guest --format shell`.
//!
//! The kernel console (ttyS0) goes to `console.log` in the guest's
//! directory. The command channel is a virtio-serial port (a unix socket
//! QEMU listens on) served by a shell in the guest; a second UART was tried
//! first, and under TCG its input stalled after a few commands.
//! [`Guest::run`] returns the exit code and output of a command that ran,
//! and an error when the command could not be run at all (QEMU gone,
//! channel closed, deadline), so a check that something is blocked can
//! never pass because the probe itself failed.
//!
//! `BLIXARD_QEMU_ACCEL=kvm|tcg` skips the KVM probe;
//! `BLIXARD_QEMU_TRACE=1` prints every line a guest sends.

use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::cpio::Cpio;

/// What Debian's kernel needs, as modules, for a virtio-net NIC and the
/// virtio-serial command port, in load order (insmod does not resolve
/// dependencies).
const MODULES: [&str; 9] = [
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "virtio_console",
    "failover",
    "net_failover",
    "virtio_net",
];

/// TCG boots in about 3 s alone; three guests booting on two cores, next to
/// another test's probes, take several times that.
const TCG_BOOT: Duration = Duration::from_secs(60);
const KVM_BOOT: Duration = Duration::from_secs(30);
/// A nested-KVM guest on these machines hangs right after the boot loader;
/// a working one answers within a second or two.
const KVM_PROBE: Duration = Duration::from_secs(8);
/// TCG guests cost about a core each while they boot.
const MAX_BOOTING: usize = 3;

/// PID 1. The guest's network script runs unmodified; the command port
/// (a virtio-serial port: no tty, so no echo, line discipline or prompts)
/// is then served by a shell, restarted should it ever exit.
const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in /lib/modules/*.ko; do
    insmod "$m" || echo "init: insmod $m failed"
done
ip link set lo up
if [ -e /net.sh ]; then
    # virtio_net registers eth0 while it loads; allow 10 s should the PCI
    # probe be deferred.
    i=0
    while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 200 ]; do usleep 50000; i=$((i + 1)); done
    if sh /net.sh >/net.log 2>&1; then
        echo ok >/net.status
    else
        echo failed >/net.status
    fi
fi
port=
i=0
while [ -z "$port" ] && [ $i -lt 200 ]; do
    for p in /sys/class/virtio-ports/*; do
        [ "$(cat "$p/name" 2>/dev/null)" = cmd ] && [ -c "/dev/${p##*/}" ] && port=/dev/${p##*/}
    done
    [ -n "$port" ] || usleep 50000
    i=$((i + 1))
done
exec 3<>"$port"
echo "init: serving commands on $port"
echo __INIT_READY__ >&3
while :; do sh <&3 >&3 2>&3; done
"#;

/// Answers a connection (busybox `nc -e`: the socket is stdin and stdout)
/// with the peer's address, like `testbed::echo_server` on the host side,
/// so a probe can tell whether it was translated: the socket's inode names
/// its line in /proc/net/tcp{,6}, where addresses are hex words in host
/// (little-endian) byte order. IPv4-mapped peers are printed as IPv4.
const PEER: &str = r#"#!/bin/sh
s=$(readlink /proc/self/fd/0)
s=${s#socket:[}
s=${s%]}
awk -v ino="$s" '
    function byte(h) { return index("0123456789ABCDEF", substr(h, 1, 1)) * 16 + index("0123456789ABCDEF", substr(h, 2, 1)) - 17 }
    function v4(w) { return byte(substr(w, 7, 2)) "." byte(substr(w, 5, 2)) "." byte(substr(w, 3, 2)) "." byte(substr(w, 1, 2)) }
    function v6(h,  k, w, a) {
        if (substr(h, 1, 24) == "0000000000000000FFFF0000") return v4(substr(h, 25, 8))
        for (k = 0; k < 4; k++) {
            w = substr(h, 8 * k + 1, 8)
            a = a (k ? ":" : "") substr(w, 7, 2) substr(w, 5, 2) ":" substr(w, 3, 2) substr(w, 1, 2)
        }
        return a
    }
    $10 == ino { split($3, peer, ":"); printf "%s", length(peer[1]) == 8 ? v4(peer[1]) : v6(peer[1]); exit }
' /proc/net/tcp /proc/net/tcp6
"#;

/// The kernel, modules, busybox and QEMU of this machine.
pub struct Kit {
    qemu: PathBuf,
    kernel: PathBuf,
    busybox: Vec<u8>,
    /// (name, contents), in [`MODULES`] order; built-in ones left out.
    modules: Vec<(String, Vec<u8>)>,
}

/// The kit, or `None` after a loud notice when something is missing (a
/// panic under `CI`: a skip in CI is a failure).
pub fn kit(test: &str) -> Option<&'static Kit> {
    static KIT: OnceLock<Result<Kit, String>> = OnceLock::new();
    match KIT.get_or_init(find_kit) {
        Ok(kit) => Some(kit),
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("{test}: {why}, and CI is set (a skip in CI is a failure)");
            }
            eprintln!("\n*** SKIPPED {test}: {why} ***\n");
            None
        }
    }
}

fn find_kit() -> Result<Kit, String> {
    let qemu = which("qemu-system-x86_64")
        .ok_or("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)")?;
    let busybox_path =
        which("busybox").ok_or("busybox is not installed (apt-get install busybox-static)")?;
    let busybox = std::fs::read(&busybox_path)
        .map_err(|e| format!("cannot read {}: {e}", busybox_path.display()))?;
    if has_interpreter(&busybox) {
        return Err(format!(
            "{} is dynamically linked; the initramfs has no libc (apt-get install busybox-static)",
            busybox_path.display()
        ));
    }
    let (kernel, version) = newest_kernel().ok_or(
        "no /boot/vmlinuz-* with a matching /lib/modules dir (apt-get install linux-image-amd64)",
    )?;
    let tree = Path::new("/lib/modules").join(&version);
    let builtin = std::fs::read_to_string(tree.join("modules.builtin")).unwrap_or_default();
    let mut modules = Vec::new();
    for name in MODULES {
        if builtin.lines().any(|l| l.ends_with(&format!("/{name}.ko"))) {
            continue;
        }
        let path = find_module(&tree.join("kernel"), name)
            .ok_or_else(|| format!("module {name} not found under {}", tree.display()))?;
        modules.push((name.to_string(), read_module(&path)?));
    }
    Ok(Kit {
        qemu,
        kernel,
        busybox,
        modules,
    })
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Whether an ELF file names a program interpreter (is dynamically linked).
fn has_interpreter(elf: &[u8]) -> bool {
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    // 64-bit little-endian only, which is what x86_64 Debian ships.
    let (Some(phoff), Some(size), Some(count)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return true;
    };
    const PT_INTERP: u32 = 3;
    (0..usize::from(count))
        .any(|i| u32_at(phoff as usize + i * usize::from(size)) == Some(PT_INTERP))
}

/// The newest `/boot/vmlinuz-V` that has `/lib/modules/V`.
fn newest_kernel() -> Option<(PathBuf, String)> {
    let key = |v: &str| -> Vec<u64> {
        v.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    std::fs::read_dir("/boot")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix("vmlinuz-")?.to_string();
            Path::new("/lib/modules")
                .join(&version)
                .join("kernel")
                .is_dir()
                .then(|| (e.path(), version))
        })
        .max_by(|a, b| key(&a.1).cmp(&key(&b.1)).then(a.1.cmp(&b.1)))
}

fn find_module(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if entry
                .file_name()
                .to_str()
                .and_then(|f| f.strip_prefix(name))
                .is_some_and(|rest| rest == ".ko" || rest.starts_with(".ko."))
            {
                return Some(path);
            }
        }
    }
    None
}

/// A module's contents; compressed ones are unpacked, since busybox insmod
/// hands the kernel the bytes as they are.
fn read_module(path: &Path) -> Result<Vec<u8>, String> {
    let tool = match path.extension().and_then(|e| e.to_str()) {
        Some("ko") => {
            return std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
        }
        Some("xz") => "xz",
        Some("zst") => "zstd",
        Some("gz") => "gzip",
        _ => return Err(format!("{}: unknown module compression", path.display())),
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .map_err(|e| format!("{tool} -dc {}: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!("{tool} -dc {} failed", path.display()));
    }
    Ok(out.stdout)
}

/// How QEMU runs the guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    fn boot_deadline(self) -> Duration {
        match self {
            Accel::Kvm => KVM_BOOT,
            Accel::Tcg => TCG_BOOT,
        }
    }
}

/// KVM if a guest boots with it within [`KVM_PROBE`], else TCG; decided
/// once per test process. Call it from inside a test's namespace.
pub fn accel(kit: &Kit) -> Accel {
    static ACCEL: OnceLock<Accel> = OnceLock::new();
    *ACCEL.get_or_init(|| {
        let forced = std::env::var("BLIXARD_QEMU_ACCEL").ok();
        let accel = match forced.as_deref() {
            Some("kvm") => Accel::Kvm,
            Some("tcg") => Accel::Tcg,
            Some(other) => panic!("BLIXARD_QEMU_ACCEL={other}: expected kvm or tcg"),
            None if !Path::new("/dev/kvm").exists() => Accel::Tcg,
            None => probe_kvm(kit),
        };
        eprintln!(
            "qemu tier: accel {} ({})",
            accel.name(),
            forced.map_or("probed".into(), |f| format!("BLIXARD_QEMU_ACCEL={f}"))
        );
        accel
    })
}

fn probe_kvm(kit: &Kit) -> Accel {
    let dir = std::env::temp_dir().join(format!("blixard-qemu-probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("probe dir");
    let spec = Spec {
        name: "kvm-probe".into(),
        net_args: Vec::new(),
        net_script: None,
        smp: 1,
    };
    let start = Instant::now();
    let outcome = Guest::start(kit, &dir, &spec, Accel::Kvm, KVM_PROBE);
    let accel = match outcome {
        Ok(guest) => {
            eprintln!("qemu tier: KVM guest answered in {:?}", start.elapsed());
            drop(guest);
            Accel::Kvm
        }
        Err(e) => {
            eprintln!("qemu tier: KVM unusable, falling back to TCG: {e}");
            Accel::Tcg
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    accel
}

/// Could not probe: the guest is gone, its channel closed, or it did not
/// answer in time. Distinct from a command that ran and failed.
pub struct ProbeError(String);

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One guest to boot.
pub struct Spec {
    /// For messages and the guest's directory (`vm1`).
    pub name: String,
    /// The NIC arguments (`-netdev ... -device ...`), empty for none.
    pub net_args: Vec<String>,
    /// Run by /init as `sh /net.sh`.
    pub net_script: Option<String>,
    /// vCPUs: virtio-net uses min(queue pairs, CPUs) queue pairs.
    pub smp: u32,
}

/// At most [`MAX_BOOTING`] guests booting at once in this process.
struct BootSlot;

static BOOTING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

impl BootSlot {
    fn take() -> Self {
        let (count, freed) = &BOOTING;
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_BOOTING {
            n = freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        BootSlot
    }
}

impl Drop for BootSlot {
    fn drop(&mut self) {
        let (count, freed) = &BOOTING;
        *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        freed.notify_one();
    }
}

struct Channel {
    stream: UnixStream,
    pending: Vec<u8>,
}

/// A running QEMU guest, killed (and reaped) on drop.
pub struct Guest {
    pub name: String,
    dir: PathBuf,
    child: Mutex<Child>,
    channel: Mutex<Channel>,
    seq: AtomicU64,
    /// From QEMU's start to the first answer on the command channel.
    pub boot_time: Duration,
    /// `/net.status` after boot: "ok" when the rendered script ran as it
    /// is, "failed" when it did not ("none" without a script).
    pub net_status: String,
    /// What the script printed.
    pub net_log: String,
}

impl Guest {
    /// Boots `spec` with the process's accelerator, its files in
    /// `dir/<name>`; returns once the guest answers on its channel.
    pub fn boot(kit: &Kit, dir: &Path, spec: &Spec) -> Result<Guest, ProbeError> {
        let accel = accel(kit);
        let _slot = BootSlot::take();
        let dir = dir.join(&spec.name);
        std::fs::create_dir_all(&dir).map_err(|e| ProbeError(format!("{}: {e}", dir.display())))?;
        let guest = Guest::start(kit, &dir, spec, accel, accel.boot_deadline())?;
        eprintln!(
            "qemu tier: {} booted in {:.1?} ({})",
            guest.name,
            guest.boot_time,
            accel.name()
        );
        Ok(guest)
    }

    fn start(
        kit: &Kit,
        dir: &Path,
        spec: &Spec,
        accel: Accel,
        deadline: Duration,
    ) -> Result<Guest, ProbeError> {
        let fail =
            |what: &str, e: std::io::Error| ProbeError(format!("{}: {what}: {e}", spec.name));
        let initrd = dir.join("initramfs.cpio");
        std::fs::write(&initrd, initramfs(kit, spec)).map_err(|e| fail("initramfs", e))?;
        let socket = dir.join("cmd.sock");
        let _ = std::fs::remove_file(&socket);
        let log = std::fs::File::create(dir.join("qemu.log")).map_err(|e| fail("qemu.log", e))?;
        let start = Instant::now();
        let child = Command::new(&kit.qemu)
            .args([
                "-accel",
                accel.name(),
                "-nodefaults",
                "-no-reboot",
                "-display",
                "none",
            ])
            .args(["-m", "256", "-smp", &spec.smp.to_string()])
            .arg("-kernel")
            .arg(&kit.kernel)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", "console=ttyS0 panic=-1 quiet"])
            .arg("-serial")
            .arg(format!("file:{}", dir.join("console.log").display()))
            .args(["-device", "virtio-serial-pci,id=ser0", "-chardev"])
            .arg(format!(
                "socket,id=cmd,path={},server=on,wait=off",
                socket.display()
            ))
            .args(["-device", "virtserialport,bus=ser0.0,chardev=cmd,name=cmd"])
            .args(&spec.net_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| fail("qemu.log", e))?)
            .stderr(log)
            .spawn()
            .map_err(|e| fail("starting qemu", e))?;
        let mut child = Some(child);
        let connect_until = start + deadline;
        // QEMU listens before the guest runs; poll for the socket.
        let stream = loop {
            match UnixStream::connect(&socket) {
                Ok(s) => break s,
                Err(e) => {
                    let exited = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                    if exited.is_some() || Instant::now() > connect_until {
                        let mut c = child.take().expect("child");
                        let _ = c.kill();
                        let _ = c.wait();
                        return Err(ProbeError(format!(
                            "{}: no command channel ({e}); qemu {}\n{}",
                            spec.name,
                            exited.map_or("still running".into(), |s| s.to_string()),
                            logs(dir)
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| fail("socket", e))?;
        let mut guest = Guest {
            name: spec.name.clone(),
            dir: dir.to_path_buf(),
            child: Mutex::new(child.take().expect("child")),
            channel: Mutex::new(Channel {
                stream,
                pending: Vec::new(),
            }),
            seq: AtomicU64::new(0),
            boot_time: Duration::ZERO,
            net_status: String::new(),
            net_log: String::new(),
        };
        guest.wait_ready(start + deadline)?;
        guest.boot_time = start.elapsed();
        let (_, status) = guest.run("cat /net.status 2>/dev/null || echo none", deadline)?;
        guest.net_status = status.trim().to_string();
        guest.net_log = guest
            .run("cat /net.log 2>/dev/null", deadline)?
            .1
            .trim()
            .to_string();
        Ok(guest)
    }

    /// Waits for /init's word that the shell serves the port; nothing is
    /// sent before, so nothing can be half-read by an earlier opener.
    fn wait_ready(&self, deadline: Instant) -> Result<(), ProbeError> {
        let mut channel = self.channel.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(line) = self.next_line(&mut channel, deadline)? {
            if line == "__INIT_READY__" {
                return Ok(());
            }
        }
        Err(ProbeError(format!(
            "{}: no answer on the command channel in time\n{}",
            self.name,
            logs(&self.dir)
        )))
    }

    /// Runs `command` with `sh -c` in the guest (stdin /dev/null, stderr
    /// into the output); `Ok((exit code, output))` when it ran.
    pub fn run(&self, command: &str, timeout: Duration) -> Result<(i32, String), ProbeError> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let (begin, end) = (format!("__BEGIN_{n}__"), format!("__END_{n}__ "));
        let mut channel = self.channel.lock().unwrap_or_else(|e| e.into_inner());
        // A fresh `sh -c`, so a syntax error cannot end the serving shell,
        // and markers that a stale answer to an earlier, timed-out command
        // cannot match.
        self.send(
            &mut channel,
            &format!(
                "echo {begin}; sh -c {} </dev/null 2>&1; echo {end}$?\n",
                sh_quote(command)
            ),
        )?;
        let deadline = Instant::now() + timeout;
        let mut output: Option<String> = None;
        while let Some(line) = self.next_line(&mut channel, deadline)? {
            if line == begin {
                output = Some(String::new());
            } else if let (Some(at), Some(out)) = (line.find(&end), output.as_mut()) {
                // Output without a final newline shares the marker's line.
                out.push_str(&line[..at]);
                let code = line[at + end.len()..]
                    .trim()
                    .parse()
                    .map_err(|_| ProbeError(format!("{}: bad end marker {line:?}", self.name)))?;
                return Ok((code, std::mem::take(out)));
            } else if let Some(out) = output.as_mut() {
                out.push_str(&line);
                out.push('\n');
            }
        }
        Err(ProbeError(format!(
            "{}: `{command}` did not finish within {timeout:?}; output so far: {:?}\n{}",
            self.name,
            output.unwrap_or_default(),
            logs(&self.dir)
        )))
    }

    /// Like [`Self::run`], but a command that fails is an error too.
    pub fn run_ok(&self, command: &str) -> Result<String, ProbeError> {
        match self.run(command, Duration::from_secs(20))? {
            (0, out) => Ok(out),
            (code, out) => Err(ProbeError(format!(
                "{}: `{command}` exited {code}: {out}",
                self.name
            ))),
        }
    }

    /// Pings `address` from the guest until it answers: `Ok(false)` when
    /// ping ran, sent its requests and none was answered within `patience`;
    /// an error, as with `testbed::ping`, when it never sent one (no route,
    /// say) by then.
    pub fn ping(&self, address: IpAddr, patience: Duration) -> Result<bool, ProbeError> {
        let start = Instant::now();
        loop {
            let (code, out) = self.run(
                &format!("ping -c 1 -W 1 {address}"),
                Duration::from_secs(10),
            )?;
            if code == 0 {
                return Ok(true);
            }
            // busybox: "1 packets transmitted, 0 packets received, ...".
            let sent = out
                .lines()
                .find_map(|l| l.split_once(" packets transmitted"))
                .and_then(|(n, _)| n.trim().parse::<u32>().ok())
                .is_some_and(|n| n > 0);
            if start.elapsed() >= patience {
                return if sent {
                    Ok(false)
                } else {
                    Err(ProbeError(format!(
                        "{}: ping {address} sent nothing: {}",
                        self.name,
                        out.trim()
                    )))
                };
            }
            if !sent {
                // Failed at once: do not spin on it.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Connects from the guest to a server that answers with the peer's
    /// address; the address it saw, `Ok(None)` when no connection was made
    /// within `patience`.
    pub fn tcp(
        &self,
        address: IpAddr,
        port: u16,
        patience: Duration,
    ) -> Result<Option<IpAddr>, ProbeError> {
        let start = Instant::now();
        loop {
            let (code, out) = self.run(
                &format!("timeout 5 nc -w 2 {address} {port}"),
                Duration::from_secs(10),
            )?;
            if code == 126 || code == 127 {
                return Err(ProbeError(format!("{}: nc did not run: {out}", self.name)));
            }
            if code == 0
                && let Ok(seen) = out.trim().parse::<IpAddr>()
            {
                return Ok(Some(match seen {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(seen, IpAddr::V4),
                    v4 => v4,
                }));
            }
            if start.elapsed() >= patience {
                return Ok(None);
            }
        }
    }

    /// Serves [`PEER`] on `port` in the background, for the rest of the
    /// guest's life.
    pub fn serve_peer(&self, port: u16) -> Result<(), ProbeError> {
        self.run_ok(&format!("nc -ll -p {port} -e /bin/peer >/dev/null 2>&1 &"))
            .map(drop)
    }

    /// QEMU's pid.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|e| e.into_inner()).id()
    }

    /// Whether QEMU is still running.
    pub fn alive(&self) -> bool {
        matches!(
            self.child
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .try_wait(),
            Ok(None)
        )
    }

    /// The console and QEMU's own output, for failure messages.
    pub fn logs(&self) -> String {
        logs(&self.dir)
    }

    fn send(&self, channel: &mut Channel, text: &str) -> Result<(), ProbeError> {
        channel
            .stream
            .write_all(text.as_bytes())
            .map_err(|e| self.gone(&format!("writing to the command channel: {e}")))
    }

    /// The next line from the guest, `None` at `deadline`.
    fn next_line(
        &self,
        channel: &mut Channel,
        deadline: Instant,
    ) -> Result<Option<String>, ProbeError> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(pos) = channel.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = channel.pending.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']).to_string();
                if std::env::var_os("BLIXARD_QEMU_TRACE").is_some() {
                    eprintln!("{} <- {line:?}", self.name);
                }
                return Ok(Some(line));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            match channel.stream.read(&mut buf) {
                Ok(0) => return Err(self.gone("the command channel closed")),
                Ok(n) => channel.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if !self.alive() {
                        return Err(self.gone("qemu exited"));
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.gone(&format!("reading the command channel: {e}"))),
            }
        }
    }

    fn gone(&self, what: &str) -> ProbeError {
        let status = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_wait()
            .ok()
            .flatten()
            .map_or("running".into(), |s| s.to_string());
        ProbeError(format!(
            "{}: {what} (qemu: {status})\n{}",
            self.name,
            logs(&self.dir)
        ))
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn logs(dir: &Path) -> String {
    let tail = |file: &str| {
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    format!(
        "--- console.log (tail) ---\n{}\n--- qemu.log ---\n{}",
        tail("console.log"),
        tail("qemu.log")
    )
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn initramfs(kit: &Kit, spec: &Spec) -> Vec<u8> {
    let mut c = Cpio::default();
    for d in [
        "/bin",
        "/dev",
        "/proc",
        "/sys",
        "/etc",
        "/tmp",
        "/lib",
        "/lib/modules",
    ] {
        c.dir(d);
    }
    // The kernel opens it for init's stdio before anything is mounted.
    c.char_device("/dev/console", 0o600, 5, 1);
    c.file("/bin/busybox", 0o755, &kit.busybox);
    c.file("/bin/peer", 0o755, PEER.as_bytes());
    for (i, (name, data)) in kit.modules.iter().enumerate() {
        // The prefix keeps /init's glob in load order.
        c.file(&format!("/lib/modules/{i}-{name}.ko"), 0o644, data);
    }
    if let Some(script) = &spec.net_script {
        c.file("/net.sh", 0o755, script.as_bytes());
    }
    c.file("/init", 0o755, INIT.as_bytes());
    c.finish()
}
