//! Printing results for people (tables) and programs (`--json`).

use blixard_addr::Vm;
use blixard_addr::bgp::BgpPlan;
use blixard_addr::bgp::report::{BgpReport, ConfigFileState};
use blixard_addr::plan::HostPlan;
use blixard_addr::state::Change;
use blixard_host::{ApplyOutcome, Status};

use crate::cli::Args;
use crate::commands::BirdSync;

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("our types serialize")
    );
}

/// The change list of `apply`/`down`/`wire`/`unwire`, its warnings and the
/// VMs it left as they are.
pub fn changes(args: &Args, outcome: &ApplyOutcome, dry_run: bool, verb: &str) {
    changes_and_bird(args, outcome, dry_run, verb, None);
}

/// [`changes`], and what became of the BIRD configuration (`[bgp]`).
pub fn changes_and_bird(
    args: &Args,
    outcome: &ApplyOutcome,
    dry_run: bool,
    verb: &str,
    bird: Option<&BirdSync>,
) {
    let changes = &outcome.changes;
    if args.json {
        let mut json = serde_json::json!({
            "dry_run": dry_run,
            "changes": changes,
            "warnings": outcome.warnings,
            "left_as_is": outcome.left_as_is,
        });
        if let Some(bird) = bird {
            json["bird"] = serde_json::json!(bird);
        }
        print_json(&json);
        return;
    }
    print_changes(args, outcome, dry_run, verb);
    if let Some(bird) = bird {
        let path = bird.path.display();
        match (&bird.reloaded, bird.written, bird.changed) {
            (Some(socket), ..) => println!(
                "bird: wrote {path} and reloaded BIRD (birdc -s {} configure)",
                socket.display()
            ),
            (None, true, _) => {
                println!("bird: wrote {path} (no bgp.bird_socket: BIRD not reloaded)")
            }
            (None, false, true) => println!("bird: {path} would change"),
            (None, false, false) => println!("bird: {path} unchanged"),
        }
    }
}

fn print_changes(args: &Args, outcome: &ApplyOutcome, dry_run: bool, verb: &str) {
    let changes = &outcome.changes;
    // Foreign state that will break VM traffic despite a successful apply
    // (Docker's FORWARD DROP, firewalld): on stderr so scripts still see it.
    for warning in &outcome.warnings {
        eprintln!("blixard-net: warning: {warning}");
    }
    for conflict in &outcome.left_as_is {
        println!("  left as is: {conflict}");
    }
    if changes.is_empty() {
        println!("{verb}: no change: the host already matches");
        return;
    }
    let shown = if args.verbose > 0 || changes.len() <= 40 {
        changes.len()
    } else {
        20
    };
    for change in &changes[..shown] {
        println!("  {change}");
    }
    if shown < changes.len() {
        println!("  ... and {} more (-v shows all)", changes.len() - shown);
    }
    if dry_run {
        println!(
            "{verb} --dry-run: {} change(s) would be made; nothing was changed",
            changes.len()
        );
    } else {
        println!("{verb}: {} change(s) made", changes.len());
    }
}

/// `status`, with the BGP side of a cluster host.
pub fn status(args: &Args, status: &Status, bgp: Option<(&BgpPlan, &BgpReport)>) {
    if args.json {
        let mut json = serde_json::json!({
            "in_sync": status.in_sync() && bgp.is_none_or(|(_, r)| r.in_sync()),
            "drift": status.drift,
            "firewall_differences": status.firewall_differences,
            "conflicts": status.conflicts,
        });
        if let Some((_, report)) = bgp {
            json["bgp"] = serde_json::json!(report);
        }
        print_json(&json);
        return;
    }
    host_status(status);
    if let Some((plan, report)) = bgp {
        bgp_status(plan, report);
    }
}

fn host_status(status: &Status) {
    if status.in_sync() {
        println!("in sync: the host matches the plan");
        return;
    }
    for conflict in &status.conflicts {
        println!("conflict: {conflict}");
    }
    if status.drift.is_empty() {
        return;
    }
    println!(
        "drift: {} difference(s) from the plan; `blixard-net apply` repairs them:",
        status.drift.len()
    );
    for change in &status.drift {
        println!("  {change}");
        if matches!(change, Change::ReplaceFirewall { .. }) {
            for what in &status.firewall_differences {
                println!("    differs: {what}");
            }
        }
    }
}

fn bgp_status(plan: &BgpPlan, report: &BgpReport) {
    let verdict = if report.in_sync() { "in sync" } else { "drift" };
    println!(
        "bgp: {verdict}: AS {}, router id {}, {} block(s), {} peer(s)",
        plan.asn,
        plan.router_id,
        plan.blocks.len(),
        plan.peers.len()
    );
    if let Some(path) = &plan.bird_config {
        let state = match report.config_file {
            ConfigFileState::Current => "current",
            ConfigFileState::Missing => "missing (blixard-net apply writes it)",
            ConfigFileState::Stale => "stale (blixard-net apply rewrites it)",
            _ => "not written",
        };
        println!("  bird config {}: {state}", path.display());
    }
    if let Some(e) = &report.bird_error {
        println!("  bird: {e}");
        if e.contains("No valid tables") {
            // What BIRD says of a kernel protocol not exporting yet.
            println!(
                "  (a BIRD started with -R syncs the kernel once its peers are back, or after {} s)",
                blixard_addr::bgp::bird::GR_WAIT
            );
        }
    }
    for s in &report.sessions {
        println!("  session {} (AS {}): {}", s.peer, s.asn, s.state);
    }
    let installed = report.installed.len();
    match &report.expected {
        Some(expected) => println!(
            "  routes: {} expected from BIRD, {installed} installed (proto bird)",
            expected.len()
        ),
        None if plan.bird_socket.is_none() => println!(
            "  routes: {installed} installed (proto bird); set bgp.bird_socket to compare with BIRD's"
        ),
        None => println!("  routes: {installed} installed (proto bird)"),
    }
    for p in &report.missing {
        println!("  missing: {p} (BIRD exports it, the kernel lacks it)");
    }
    for p in &report.unexpected {
        println!("  unexpected: {p} (proto bird in the kernel, not exported by BIRD)");
    }
}

/// `plan`.
pub fn plan(args: &Args, plan: &HostPlan) {
    if args.json {
        print_json(plan);
    } else {
        print!("{}", plan.to_table());
    }
}

/// `addr`.
pub fn vm(args: &Args, vm: &Vm) {
    if args.json {
        print_json(vm);
    } else {
        println!("index        {}", vm.index);
        println!("interface    {}", vm.interface);
        println!("ipv4         {}/32", vm.ipv4);
        println!("ipv6         {}/128", vm.ipv6);
        println!("mac          {}", vm.mac);
        println!("gateway_ipv4 {}", vm.gateway_ipv4);
        println!("gateway_ipv6 {}", vm.gateway_ipv6);
    }
}
