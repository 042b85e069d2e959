//! `doctor`: the seed's troubleshooting checks, and more, each PASS, WARN or
//! FAIL with the fix. Exit 0 without FAIL, 1 with.

use std::path::Path;
use std::process::ExitCode;

use blixard_addr::state::{Change, Executor};
use blixard_host::{Host, HostError};
use serde::Serialize;

use crate::cli::Args;
use crate::commands::{Failure, Loaded, offline_plan};

#[derive(Debug, Serialize, PartialEq, Eq)]
enum Level {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    level: Level,
    name: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

fn check(level: Level, name: &'static str, detail: impl Into<String>, fix: Option<&str>) -> Check {
    Check {
        level,
        name,
        detail: detail.into(),
        fix: fix.map(str::to_string),
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

pub fn run(args: &Args, host: &Host, loaded: &Loaded) -> Result<ExitCode, Failure> {
    let mut checks = Vec::new();
    checks.push(if Path::new("/dev/net/tun").exists() {
        check(Level::Pass, "tun device", "/dev/net/tun exists", None)
    } else {
        check(
            Level::Fail,
            "tun device",
            "/dev/net/tun is missing",
            Some("modprobe tun"),
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
    let plan = offline_plan(host, loaded)?;
    let pool6 = plan.layout.ipv6_pool();
    if loaded.config.ipv6.enabled
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
    for (key, what) in [
        ("net.ipv4.ip_forward", "IPv4 forwarding"),
        ("net.ipv6.conf.all.forwarding", "IPv6 forwarding"),
    ] {
        if key.contains("ipv6") && !loaded.config.ipv6.enabled {
            continue;
        }
        match host.sysctl(key)?.as_deref() {
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
    if let (true, Some(ext)) = (loaded.config.ipv6.enabled, &plan.external_interface) {
        let key = format!("net.ipv6.conf.{ext}.accept_ra");
        if host.sysctl(&key)?.as_deref() == Some("1") {
            checks.push(check(
                Level::Warn,
                "uplink router advertisements",
                format!("{key}=1: with forwarding on, {ext} stops taking router advertisements and an RA-learned default route expires"),
                Some("blixard-net apply (sets accept_ra=2)"),
            ));
        }
    }
    match host.status(&plan).map(|status| status.drift) {
        Ok(drift) if drift.is_empty() => checks.push(check(
            Level::Pass,
            "plan",
            format!(
                "{} taps with their addresses, routes and the nft table match the plan",
                plan.links.len()
            ),
            None,
        )),
        Ok(drift) => {
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
        Err(HostError::Conflicts(conflicts)) => {
            for conflict in conflicts.0 {
                checks.push(check(
                    Level::Fail,
                    "foreign objects",
                    conflict.to_string(),
                    None,
                ));
            }
        }
        Err(e) => return Err(e.into()),
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
