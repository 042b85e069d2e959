//! Printing results for people (tables) and programs (`--json`).

use blixard_addr::Vm;
use blixard_addr::plan::HostPlan;
use blixard_addr::state::Change;
use blixard_host::{ApplyOutcome, Status};

use crate::cli::Args;

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("our types serialize")
    );
}

/// The change list of `apply`/`down`/`wire`/`unwire`, its warnings and the
/// VMs it left as they are.
pub fn changes(args: &Args, outcome: &ApplyOutcome, dry_run: bool, verb: &str) {
    let changes = &outcome.changes;
    if args.json {
        print_json(&serde_json::json!({
            "dry_run": dry_run,
            "changes": changes,
            "warnings": outcome.warnings,
            "left_as_is": outcome.left_as_is,
        }));
        return;
    }
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

/// `status`.
pub fn status(args: &Args, status: &Status) {
    if args.json {
        print_json(&serde_json::json!({
            "in_sync": status.in_sync(),
            "drift": status.drift,
            "firewall_differences": status.firewall_differences,
            "conflicts": status.conflicts,
        }));
        return;
    }
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
