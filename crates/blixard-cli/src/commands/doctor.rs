//! `doctor`: the seed's troubleshooting checks, and more, each PASS, WARN or
//! FAIL with the fix. Exit 0 without FAIL, 1 with.

use std::path::Path;
use std::process::ExitCode;

use blixard_addr::state::{Change, Executor};
use blixard_addr::sysctl::{Family, SysctlKey};
use blixard_host::Host;
use serde::Serialize;

use super::{Failure, Loaded, offline_plan};
use crate::cli::Args;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub(super) enum Level {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
pub(super) struct Check {
    level: Level,
    name: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

pub(super) fn check(
    level: Level,
    name: &'static str,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        level,
        name,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

const TUN: &str = "/dev/net/tun";

/// Whether a process running as `uid` (primary group `gid`) may open a
/// device node with this mode and owner: root always may.
fn tun_mode_allows(mode: u32, file_uid: u32, file_gid: u32, uid: u32, gid: Option<u32>) -> bool {
    let allows = |shift: u32| mode >> shift & 0o6 == 0o6;
    uid == 0 || allows(0) || (file_uid == uid && allows(6)) || (gid == Some(file_gid) && allows(3))
}

/// Tries to open the first idle planned tap as its owner would, in a child
/// process with that uid (and the tap's group), as a VMM started by that
/// user does. `None` when the owner is root or no idle tap exists.
fn owner_can_open(host: &Host, plan: &blixard_addr::HostPlan) -> Option<Check> {
    use std::os::unix::process::CommandExt;
    let link = plan.links.first()?;
    let uid = link.tap.owner.filter(|&u| u != 0)?;
    let exe = std::env::current_exe().ok()?;
    let tried = blixard_netns::run_in(host.netns(), || {
        let taps = blixard_tap::list().ok()?;
        let (name, _) = taps.iter().find(|(name, info)| {
            plan.links.iter().any(|l| &l.vm.interface == *name) && info.queues == 0
        })?;
        let mut child = std::process::Command::new(&exe);
        child.args(["__try-open-tap", name]).uid(uid);
        if let Some(gid) = link.tap.group {
            child.gid(gid);
        }
        Some((name.clone(), child.output()))
    })
    .ok()??;
    let (name, output) = tried;
    Some(match output {
        Ok(out) if out.status.success() => check(
            Level::Pass,
            "tap owner access",
            format!("uid {uid} can open {name} as a VMM does"),
            None,
        ),
        Ok(out) => check(
            Level::Fail,
            "tap owner access",
            format!(
                "uid {uid} cannot open {name}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Some("set `owner` (and `group`) to the user the VMM runs as, then blixard-net apply"),
        ),
        Err(e) => check(
            Level::Warn,
            "tap owner access",
            format!("could not start a child as uid {uid} to try: {e}"),
            None,
        ),
    })
}

/// `__try-open-tap NAME`: opens one queue with the tap's own flags (so the
/// per-attach `vnet_hdr` is left as it was) and closes it.
pub fn try_open_tap(name: &str) -> Result<ExitCode, Failure> {
    let info = blixard_tap::list()
        .map_err(|e| Failure::Failed(e.to_string()))?
        .remove(name)
        .ok_or_else(|| Failure::BadInput(format!("no tap {name}")))?;
    let opts = blixard_tap::OpenOptions {
        vnet_hdr: info.vnet_hdr,
        multi_queue: info.multi_queue,
        ..blixard_tap::OpenOptions::default()
    };
    blixard_tap::open_queues(name, 1, &opts).map_err(|e| Failure::Failed(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

pub fn run(args: &Args, host: &Host, loaded: &Loaded) -> Result<ExitCode, Failure> {
    let mut checks = Vec::new();
    checks.push(if Path::new(TUN).exists() {
        check(Level::Pass, "tun device", "/dev/net/tun exists", None)
    } else {
        check(
            Level::Fail,
            "tun device",
            "/dev/net/tun is missing",
            Some("modprobe tun"),
        )
    });
    let plan = offline_plan(host, loaded)?;
    let owner = plan.links.first().map(|l| (l.tap.owner, l.tap.group));
    if let (Ok(meta), Some((Some(uid), gid))) = (std::fs::metadata(TUN), owner) {
        use std::os::unix::fs::MetadataExt;
        checks.push(if tun_mode_allows(meta.mode(), meta.uid(), meta.gid(), uid, gid) {
            check(
                Level::Pass,
                "tun device access",
                format!("{TUN} (mode {:o}) can be opened by the tap owner {uid}", meta.mode() & 0o777),
                None,
            )
        } else {
            check(
                Level::Fail,
                "tun device access",
                format!(
                    "{TUN} has mode {:o}: a VMM running as the tap owner {uid} cannot open it",
                    meta.mode() & 0o777
                ),
                Some("chmod 0666 /dev/net/tun (the kernel still checks the tap's owner), or run the VMM as root"),
            )
        });
    }
    checks.push(if Path::new(super::vm::VHOST_NET).exists() {
        check(Level::Pass, "vhost-net", "/dev/vhost-net exists: `vmm --kind qemu` renders vhost=on", None)
    } else {
        check(
            Level::Warn,
            "vhost-net",
            "/dev/vhost-net is missing: qemu runs virtio-net in userspace (slower); `vmm --kind qemu` leaves vhost=on out",
            Some("modprobe vhost_net"),
        )
    });
    checks.push(if on_path("nft") {
        check(Level::Pass, "nft", "the nft binary is installed", None)
    } else {
        check(
            Level::Fail,
            "nft",
            "the nft binary is not on PATH",
            Some("apt-get install nftables"),
        )
    });
    let pool6 = plan.layout.ipv6_pool();
    if plan.ipv6_enabled()
        && "fec0::/10"
            .parse::<ipnet::Ipv6Net>()
            .is_ok_and(|n| n.contains(&pool6))
    {
        checks.push(check(
            Level::Warn,
            "ipv6 pool",
            format!("{pool6} is deprecated site-local space (RFC 3879)"),
            Some("use a ULA prefix such as [ipv6] pool = \"fd00:b1::/64\" (guests must be reconfigured)"),
        ));
    }
    match &plan.external_interface {
        Some(ext) => checks.push(check(
            Level::Pass,
            "external interface",
            format!("NAT leaves by {ext}"),
            None,
        )),
        None => checks.push(check(
            Level::Warn,
            "external interface",
            "no default route and no external_interface: VMs get no internet access",
            Some("set external_interface in the config or --external-interface IF"),
        )),
    }
    checks.extend(super::forward_checks::checks(host, &plan));
    for (key, what, wanted) in [
        (SysctlKey::ipv4_forwarding(), "IPv4 forwarding", true),
        (
            SysctlKey::ipv6_forwarding(),
            "IPv6 forwarding",
            plan.ipv6_enabled(),
        ),
    ] {
        if !wanted {
            continue;
        }
        match host.sysctl(&key)?.as_deref() {
            Some("1") => checks.push(check(
                Level::Pass,
                "forwarding",
                format!("{what} is on ({key}=1)"),
                None,
            )),
            other => checks.push(check(
                Level::Fail,
                "forwarding",
                format!("{what} is off ({key}={})", other.unwrap_or("?")),
                Some("blixard-net apply"),
            )),
        }
    }
    if let (true, Some(ext)) = (plan.ipv6_enabled(), &plan.external_interface) {
        let key = SysctlKey::conf(Family::Ipv6, ext, "accept_ra")
            .map_err(|e| Failure::BadInput(format!("external_interface: {e}")))?;
        if host.sysctl(&key)?.as_deref() == Some("1") {
            checks.push(check(
                Level::Warn,
                "uplink router advertisements",
                format!("{key}=1: with forwarding on, {ext} stops taking router advertisements and an RA-learned default route expires"),
                Some("blixard-net apply (sets accept_ra=2)"),
            ));
        }
    }
    let status = host.status(&plan)?;
    for conflict in &status.conflicts {
        // A held tap waits for its VMM to stop; a foreign object needs
        // the operator.
        let (level, name) = if conflict.is_per_vm() {
            (Level::Warn, "left as is")
        } else {
            (Level::Fail, "foreign objects")
        };
        checks.push(check(level, name, conflict.to_string(), None));
    }
    if let Some(report) = super::bird::report(host, loaded, &plan, &status)? {
        checks.extend(super::bird::doctor_checks(&plan, &report));
    }
    if let Some(check) = owner_can_open(host, &plan) {
        checks.push(check);
    }
    match status.drift {
        drift if drift.is_empty() => checks.push(check(
            Level::Pass,
            "plan",
            format!(
                "{} taps with their addresses, routes and the nft table match the plan",
                plan.links.len()
            ),
            None,
        )),
        drift => {
            let count = |e: Executor| drift.iter().filter(|c| c.executor() == e).count();
            let missing_taps = drift
                .iter()
                .filter(|c| matches!(c, Change::CreateTap { .. }))
                .count();
            checks.push(check(
                Level::Fail,
                "plan",
                format!(
                    "{} difference(s): {missing_taps} missing taps, {} link/address/route/sysctl changes, {} firewall changes (blixard-net status lists them)",
                    drift.len(),
                    count(Executor::Route),
                    count(Executor::Firewall)
                ),
                Some("blixard-net apply"),
            ));
        }
    }
    match host.scan(&plan) {
        Ok(findings) if findings.is_empty() => checks.push(check(
            Level::Pass,
            "foreign firewall",
            "no foreign forward/input chain drops VM traffic",
            None,
        )),
        Ok(findings) => {
            for f in findings {
                checks.push(Check {
                    level: Level::Warn,
                    name: "foreign firewall",
                    detail: format!(
                        "{} table {} chain {}: {}",
                        f.family, f.table, f.chain, f.problem
                    ),
                    fix: Some(f.fix),
                });
            }
        }
        Err(e) => checks.push(check(
            Level::Warn,
            "foreign firewall",
            format!("scan failed: {e}"),
            None,
        )),
    }
    let failed = checks.iter().any(|c| c.level == Level::Fail);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&checks).expect("checks serialize")
        );
    } else {
        for c in &checks {
            let level = match c.level {
                Level::Pass => "PASS",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
            };
            println!("{level} {}: {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("     fix: {fix}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::tun_mode_allows;

    #[test]
    fn tun_mode_is_read_for_the_tap_owner() {
        assert!(tun_mode_allows(0o20666, 0, 0, 1000, None), "Debian's 0666");
        assert!(
            !tun_mode_allows(0o20600, 0, 0, 1000, None),
            "0600: root only"
        );
        assert!(tun_mode_allows(0o20600, 0, 0, 0, None));
        assert!(
            tun_mode_allows(0o20660, 0, 108, 1000, Some(108)),
            "the kvm group"
        );
        assert!(!tun_mode_allows(0o20660, 0, 108, 1000, Some(5)));
        assert!(
            !tun_mode_allows(0o20640, 0, 108, 1000, Some(108)),
            "read only"
        );
    }
}
