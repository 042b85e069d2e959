//! `stats`: every wired VM's counters from our table, as a table or JSON.
//!
//! Receive and transmit are the VM's: `rx` is what was sent to it (left
//! the host by its tap), `tx` what it sent (arrived by its tap). The JSON
//! schema is stable: `{"table": NAME, "vms": [{"vm", "receive",
//! "transmit", "spoofed_drops", "firewall_drops"}]}`, each counter
//! `{"packets", "bytes"}`, VMs sorted by name.

use std::process::ExitCode;

use blixard_host::Host;
use blixard_nat::VmCounters;
use serde::Serialize;

use super::{Failure, load_config};
use crate::cli::Args;

/// `stats --json`.
#[derive(Serialize)]
struct Stats<'a> {
    table: &'a str,
    vms: &'a [VmCounters],
}

/// The config's table and what it counts now: the one read `stats` and
/// `metrics` share.
pub(super) fn read(args: &Args, host: &Host) -> Result<(String, Vec<VmCounters>), Failure> {
    let loaded = load_config(args)?;
    loaded.validated()?;
    let table = loaded.config.ownership.nft_table.clone();
    let counters = host.counters(&table).map_err(|e| loaded.failure(e))?;
    Ok((table, counters))
}

pub fn run(args: &Args, host: &Host) -> Result<ExitCode, Failure> {
    let (table, vms) = read(args, host)?;
    if args.json {
        let stats = Stats {
            table: &table,
            vms: &vms,
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&stats).expect("counters serialize")
        );
    } else {
        print!("{}", text(&table, &vms));
    }
    Ok(ExitCode::SUCCESS)
}

fn text(table: &str, vms: &[VmCounters]) -> String {
    if vms.is_empty() {
        return format!("no VM counters: table inet {table} is absent or wires no VM\n");
    }
    let header = [
        "VM",
        "RX_BYTES",
        "RX_PACKETS",
        "TX_BYTES",
        "TX_PACKETS",
        "SPOOFED_DROPS",
        "FIREWALL_DROPS",
    ];
    let mut rows = vec![header.map(str::to_string).to_vec()];
    for c in vms {
        rows.push(vec![
            c.vm.clone(),
            c.receive.bytes.to_string(),
            c.receive.packets.to_string(),
            c.transmit.bytes.to_string(),
            c.transmit.packets.to_string(),
            c.spoofed_drops.packets.to_string(),
            c.firewall_drops.packets.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i == 0 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_vm_under_aligned_headers() {
        let mut a = VmCounters::default();
        a.vm = "vm1".into();
        a.receive.bytes = 1280;
        a.transmit.packets = 10;
        let t = text("blixard", &[a]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("VM   RX_BYTES"), "{t}");
        assert!(lines[1].starts_with("vm1      1280"), "{t}");
        assert!(text("blixard", &[]).contains("absent"));
    }
}
