//! `cargo xtask package`: the Debian package, built with Debian's own
//! `dpkg-deb` from a staging tree, and `ci`'s check of it with the real tools
//! (`dpkg-deb`, `dpkg -i`/`--purge`, `man -l`, `systemd-analyze verify`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::{cargo, have, nix_is_root, root, run};

/// Every file the package ships, where Debian's policy puts it.
const FILES: &[&str] = &[
    "/usr/bin/blixard-net",
    "/lib/systemd/system/blixard-net.service",
    "/usr/share/bash-completion/completions/blixard-net",
    "/usr/share/zsh/vendor-completions/_blixard-net",
    "/usr/share/fish/vendor_completions.d/blixard-net.fish",
    "/usr/share/doc/blixard-net/copyright",
    "/etc/blixard/network.toml",
    "/lib/systemd/system/blixard-net-watch.service",
];

/// The example config is a conffile: an operator's edits survive upgrades,
/// and `dpkg --purge` removes it. Every setting in it is commented out, so
/// as shipped it means the built-in defaults.
const CONFFILE: &str = "/etc/blixard/network.toml";

const UNIT: &str = "/lib/systemd/system/blixard-net.service";
/// The units shipped, each from `contrib/systemd/` under its own name.
const UNITS: &[&str] = &[UNIT, "/lib/systemd/system/blixard-net-watch.service"];
const BIN: &str = "/usr/bin/blixard-net";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The man pages in contrib/man, as shipped: `/usr/share/man/man1/X.1.gz`.
fn man_pages() -> Result<Vec<String>> {
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(root().join("contrib/man"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".1") {
            pages.push(format!("/usr/share/man/man1/{name}.gz"));
        }
    }
    pages.sort();
    ensure!(
        pages.iter().any(|p| p.ends_with("/blixard-net.1.gz")),
        "contrib/man has no blixard-net.1: run `cargo xtask docs`"
    );
    Ok(pages)
}

fn expected_files() -> Result<Vec<String>> {
    let mut files: Vec<String> = FILES.iter().map(|f| f.to_string()).collect();
    files.extend(man_pages()?);
    files.sort();
    Ok(files)
}

fn put(staging: &Path, dest: &str, contents: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = staging.join(dest.trim_start_matches('/'));
    let parent = path.parent().expect("a file in a directory");
    std::fs::create_dir_all(parent)?;
    std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

const COPYRIGHT: &str = "\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: blixard-net
Source: https://github.com/blixard/blixard-net

Files: *
Copyright: the blixard-net contributors
License: MIT or Apache-2.0

License: Apache-2.0
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in /usr/share/common-licenses/Apache-2.0.

License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the \"Software\"),
 to deal in the Software without restriction, including without limitation
 the rights to use, copy, modify, merge, publish, distribute, sublicense,
 and/or sell copies of the Software, and to permit persons to whom the
 Software is furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
 DEALINGS IN THE SOFTWARE.
";

/// Builds `target/debian/blixard-net_<version>_<arch>.deb` and returns its path.
pub fn package() -> Result<PathBuf> {
    run(
        "cargo build --profile dist -p blixard-cli",
        cargo().args(["build", "--profile", "dist", "-p", "blixard-cli"]),
    )?;
    let binary = target_dir().join("dist/blixard-net");
    let version = env!("CARGO_PKG_VERSION");
    let arch = output(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_string();
    let out_dir = target_dir().join("debian");
    let staging = out_dir.join(format!("blixard-net_{version}_{arch}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let contrib = root().join("contrib");

    put(&staging, BIN, &std::fs::read(&binary)?, 0o755)?;
    // The units as written for a hand install run /usr/local/bin; the
    // package's binary is in /usr/bin.
    for dest in UNITS {
        let name = Path::new(dest).file_name().expect("a unit file");
        let unit = std::fs::read_to_string(contrib.join("systemd").join(name))?;
        let unit: String = unit
            .lines()
            .map(|l| {
                if l.starts_with("Exec") {
                    l.replace("/usr/local/bin/blixard-net", BIN)
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect();
        ensure!(
            !unit
                .lines()
                .any(|l| l.starts_with("Exec") && l.contains("/usr/local")),
            "{dest} still runs /usr/local"
        );
        put(&staging, dest, unit.as_bytes(), 0o644)?;
    }
    for page in man_pages()? {
        let name = Path::new(&page).file_stem().expect("X.1.gz");
        let source = contrib.join("man").join(name);
        let out = Command::new("gzip").arg("-9nc").arg(&source).output()?;
        ensure!(
            out.status.success(),
            "gzip {}: {}",
            source.display(),
            out.status
        );
        let gz = out.stdout;
        put(&staging, &page, &gz, 0o644)?;
    }
    for (from, to) in [
        ("completions/blixard-net", FILES[2]),
        ("completions/_blixard-net", FILES[3]),
        ("completions/blixard-net.fish", FILES[4]),
        ("network.toml.example", FILES[6]),
    ] {
        put(&staging, to, &std::fs::read(contrib.join(from))?, 0o644)?;
    }
    put(&staging, FILES[5], COPYRIGHT.as_bytes(), 0o644)?;

    let installed_kib = output(
        Command::new("du")
            .args(["-sk", "--exclude=DEBIAN"])
            .arg(&staging),
    )?
    .split_whitespace()
    .next()
    .unwrap_or("0")
    .to_string();
    let control = format!(
        "Package: blixard-net
Version: {version}
Architecture: {arch}
Maintainer: blixard-net maintainers <maintainers@users.noreply.r-seed-0c3a1381.example>
Installed-Size: {installed_kib}
Depends: nftables, iproute2
Suggests: bird2
Section: net
Priority: optional
Homepage: https://github.com/blixard/blixard-net
Description: routed networking for microVM hosts
 One tap per VM, a /32 and /128 route per VM, forwarding between VMs, NAT
 to the internet, anti-spoofing and firewall rules in one nftables table of
 its own. Ships the blixard-net command, its systemd units (enable them with
 `systemctl enable --now blixard-net.service`, and for self-repair
 `blixard-net-watch.service`), man pages and bash, zsh and fish
 completions.
"
    );
    put(&staging, "/DEBIAN/control", control.as_bytes(), 0o644)?;
    put(
        &staging,
        "/DEBIAN/conffiles",
        format!("{CONFFILE}\n").as_bytes(),
        0o644,
    )?;
    // Directories as dpkg expects them (0755), whatever the umask.
    output(
        Command::new("find")
            .arg(&staging)
            .args(["-type", "d", "-exec", "chmod", "0755", "{}", "+"]),
    )?;
    let deb = out_dir.join(format!("blixard-net_{version}_{arch}.deb"));
    run(
        "dpkg-deb --build",
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&staging)
            .arg(&deb),
    )?;
    let size = std::fs::metadata(&binary)?.len();
    eprintln!(
        "==> {} ({} KiB; the binary is {:.1} MB)",
        deb.display(),
        std::fs::metadata(&deb)?.len() / 1024,
        size as f64 / 1e6
    );
    Ok(deb)
}

/// `ci`'s package step: builds the package, then checks it with the real
/// tools. Installs it with `dpkg -i` (and purges it again) only as root with
/// `CI` set or `BLIXARD_PACKAGE_INSTALL=1`; otherwise checks an extracted copy.
pub fn check() -> Result<()> {
    let started = Instant::now();
    let result = check_inner();
    eprintln!(
        "==> package step took {:.1}s",
        started.elapsed().as_secs_f64()
    );
    result
}

fn check_inner() -> Result<()> {
    let deb = package()?;
    let expected = expected_files()?;

    let info = output(Command::new("dpkg-deb").arg("--info").arg(&deb))?;
    for field in [
        "Package: blixard-net",
        &format!("Version: {}", env!("CARGO_PKG_VERSION")),
        "Depends: nftables, iproute2",
        // Clusters (`[bgp]`) run BIRD 2; a single host needs none.
        "Suggests: bird2",
    ] {
        ensure!(
            info.contains(field),
            "dpkg-deb --info lacks {field:?}:\n{info}"
        );
    }
    ensure!(
        info.contains("conffiles"),
        "{CONFFILE} must be a conffile:\n{info}"
    );
    let contents = output(Command::new("dpkg-deb").arg("--contents").arg(&deb))?;
    let mut listed: Vec<String> = contents
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_string())
        .collect();
    listed.sort();
    ensure!(
        listed == expected,
        "the package holds {listed:#?}, expected {expected:#?}"
    );
    ensure!(
        contents
            .lines()
            .all(|l| l.split_whitespace().nth(1) == Some("root/root")),
        "every file must be root's:\n{contents}"
    );

    let install = nix_is_root()
        && (std::env::var_os("CI").is_some_and(|v| !v.is_empty())
            || std::env::var_os("BLIXARD_PACKAGE_INSTALL").is_some_and(|v| v == "1"));
    if install {
        if Command::new("dpkg")
            .args(["-s", "blixard-net"])
            .output()?
            .status
            .success()
            || Path::new(BIN).exists()
            || Path::new(CONFFILE).exists()
        {
            bail!("blixard-net (or {CONFFILE}) is already on this machine: not touching it");
        }
        run("dpkg -i", Command::new("dpkg").arg("-i").arg(&deb))?;
        let checked = check_installed(Path::new("/"), &expected);
        let purged = run(
            "dpkg --purge",
            Command::new("dpkg").args(["--purge", "blixard-net"]),
        );
        checked?;
        purged?;
        let left: Vec<&String> = expected.iter().filter(|f| Path::new(f).exists()).collect();
        ensure!(left.is_empty(), "dpkg --purge left {left:?}");
        ensure!(
            !Path::new("/usr/share/doc/blixard-net").exists(),
            "dpkg --purge left /usr/share/doc/blixard-net"
        );
        eprintln!("==> package: installed, checked and purged cleanly");
    } else {
        let dir = target_dir().join("debian/extracted");
        let _ = std::fs::remove_dir_all(&dir);
        run(
            "dpkg-deb -x",
            Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir),
        )?;
        check_installed(&dir, &expected)?;
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!("==> package: extracted and checked (not installed: root and CI=1 do that)");
    }
    Ok(())
}

/// Checks the package's files under `prefix` (`/` once installed).
fn check_installed(prefix: &Path, expected: &[String]) -> Result<()> {
    let at = |f: &str| prefix.join(f.trim_start_matches('/'));
    for file in expected {
        ensure!(at(file).is_file(), "{} is missing", at(file).display());
    }
    // Each man page renders, without a warning.
    ensure!(have("man"), "man is missing (apt-get install man-db)");
    for page in expected.iter().filter(|f| f.ends_with(".1.gz")) {
        let out = Command::new("man")
            .arg("-l")
            .arg(at(page))
            .env("MANWIDTH", "80")
            .output()
            .context("man -l")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        ensure!(
            out.status.success() && stderr.trim().is_empty() && !out.stdout.is_empty(),
            "man -l {page}: {} {stderr}",
            out.status
        );
    }
    // The binary runs (--version only: nothing here touches the network).
    let version = output(Command::new(at(BIN)).arg("--version"))?;
    ensure!(
        version.trim() == format!("blixard-net {}", env!("CARGO_PKG_VERSION")),
        "{BIN} --version said {version:?}"
    );
    // The bash completion is valid bash.
    output(Command::new("bash").arg("-n").arg(at(FILES[2])))?;
    // The units verify, together (the watch requires the apply unit); their
    // ExecStart binary must exist, so extracted units are pointed at the
    // extracted binary.
    let units: Vec<PathBuf> = if prefix == Path::new("/") {
        UNITS.iter().map(PathBuf::from).collect()
    } else {
        let dir = prefix.join("verify");
        std::fs::create_dir_all(&dir)?;
        let mut copies = Vec::new();
        for unit in UNITS {
            let text = std::fs::read_to_string(at(unit))?;
            let copy = dir.join(Path::new(unit).file_name().expect("a unit file"));
            std::fs::write(&copy, text.replace(BIN, &at(BIN).to_string_lossy()))?;
            copies.push(copy);
        }
        copies
    };
    if have("systemd-analyze") {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .args(&units)
            .output()?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.success() && said.trim().is_empty(),
            "systemd-analyze verify {units:?}: {said}"
        );
    } else {
        bail!("systemd-analyze is missing (apt-get install systemd)");
    }
    Ok(())
}
