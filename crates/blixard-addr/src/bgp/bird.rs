//! The BIRD 2 configuration of a [`BgpPlan`]: pure text, written by the
//! CLI to `bgp.bird_config` and printed by `blixard-net bgp config`.
//!
//! Per family (IPv6 only when VMs have it):
//! * `blixard_blocks4`: a static blackhole per block, exported to the
//!   kernel and to the peers;
//! * `blixard_vms4`: a static route per wired VM outside the blocks,
//!   exported to the peers only. Static rather than the kernel protocol
//!   learning our own routes: the file then says every prefix the host
//!   announces (`bgp config` shows it, a test reads it), `birdc configure`
//!   withdraws an unwired VM at once instead of at the next kernel scan,
//!   and a route that merely carries our protocol (drift, a hand-made one)
//!   is never announced;
//! * `blixard_pool4`: the whole pool unreachable, exported to the kernel
//!   only: an address no host announces is refused here rather than sent
//!   along the default route (the firewall forwards pool addresses off our
//!   taps unmasqueraded, as other hosts' VMs);
//! * `blixard_kernel4`: installs the peers' routes, our blackholes and the
//!   pool's unreachable route with
//!   BIRD's protocol and [`BIRD_KERNEL_METRIC`]; it learns nothing from the
//!   kernel, keeps its routes when BIRD stops (`persist`) and, started with
//!   `bird -R`, until the peers are back (`graceful restart`);
//! * `blixard_import4` and `blixard_export4`: what the sessions accept
//!   (prefixes inside the pool, never the pool's gateway nor a default
//!   route, never one of this host's blocks) and send (only ours).
//!
//! Every session is `direct` (the peer is on a link of this host, so next
//! hops need no recursive lookup), uses graceful restart, and announces
//! this host as the next hop of what it sends.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{BIRD_KERNEL_METRIC, BgpPlan};
use crate::layout::VmIndex;

/// Seconds a restarted BIRD (`-R`) waits for its peers before it syncs
/// the kernel anyway.
pub const GR_WAIT: u32 = 30;

/// BIRD's name of the kernel protocol of IPv4 (its exports are what the
/// kernel should hold).
pub const KERNEL4: &str = "blixard_kernel4";
/// BIRD's name of the kernel protocol of IPv6.
pub const KERNEL6: &str = "blixard_kernel6";

/// The configuration announcing `plan`'s blocks and those of its VMs
/// outside them that are in `wired` (see [`BgpPlan::all_lone`]).
pub fn render(plan: &BgpPlan, wired: &BTreeSet<VmIndex>) -> String {
    let mut out = String::new();
    let families = Families::of(plan, wired);
    header(&mut out, plan);
    for family in &families.list {
        family.statics(&mut out);
    }
    for family in &families.list {
        family.kernel(&mut out);
    }
    for family in &families.list {
        family.filters(&mut out);
    }
    sessions(&mut out, plan, &families.list);
    out
}

fn header(out: &mut String, plan: &BgpPlan) {
    let w = |out: &mut String, s: &str| out.push_str(s);
    w(
        out,
        "# BIRD 2 configuration of blixard-net, written by `blixard-net apply`,\n\
         # `wire` and `unwire` (and shown by `blixard-net bgp config`): edits are\n\
         # overwritten. Start BIRD with -R so that a restart keeps the routes\n\
         # it installed until its peers are back (graceful restart).\n",
    );
    let _ = writeln!(
        out,
        "# AS {}, {} peer(s), {} block(s), {} VM(s) outside the blocks.\n",
        plan.asn,
        plan.peers.len(),
        plan.blocks.len(),
        plan.lone_vms.len()
    );
    let _ = writeln!(out, "router id {};\n", plan.router_id);
    // Started with -R, BIRD keeps the kernel as it was until its peers are
    // back; a peer that stays down must not hold back the others' routes
    // for BIRD's default of 240 s (the peers keep ours for 120 s).
    out.push_str(&format!(
        "# Graceful restart recovery ends after {GR_WAIT} s even if a peer stays down.\n\
         graceful restart wait {GR_WAIT};\n\n"
    ));
    w(
        out,
        "# The interfaces, for the sessions' directly connected next hops.\n\
         protocol device blixard_device {\n}\n\n",
    );
}

/// What one address family renders: its pool, gateway, blocks and
/// announced VMs, as BIRD prefixes.
struct Family {
    /// `4` or `6`, the suffix of every name.
    v: char,
    channel: &'static str,
    pool: String,
    gateway: String,
    blocks: Vec<String>,
    vms: Vec<String>,
    next_hop_address: Option<String>,
}

struct Families {
    list: Vec<Family>,
}

impl Families {
    fn of(plan: &BgpPlan, wired: &BTreeSet<VmIndex>) -> Self {
        let announced = plan.lone_vms.iter().filter(|v| wired.contains(&v.index));
        let mut list = vec![Family {
            v: '4',
            channel: "ipv4",
            pool: plan.ipv4_pool.to_string(),
            gateway: plan.ipv4_pool.network().to_string(),
            blocks: plan.blocks.iter().map(|b| b.ipv4.to_string()).collect(),
            vms: announced.clone().map(|v| v.ipv4.to_string()).collect(),
            next_hop_address: None,
        }];
        if let Some(pool) = plan.ipv6_pool {
            list.push(Family {
                v: '6',
                channel: "ipv6",
                pool: pool.to_string(),
                gateway: pool.network().to_string(),
                blocks: plan
                    .blocks
                    .iter()
                    .filter_map(|b| b.ipv6)
                    .map(|n| n.to_string())
                    .collect(),
                vms: announced
                    .filter_map(|v| v.ipv6)
                    .map(|n| n.to_string())
                    .collect(),
                next_hop_address: plan.ipv6_next_hop.map(|a| a.to_string()),
            });
        }
        Self { list }
    }
}

impl Family {
    fn statics(&self, out: &mut String) {
        let first = self.v == '4';
        let blocks = "# This host's blocks: blackholed here (a VM's own route is more\n\
                      # specific) and announced.\n";
        let vms = "# This host's VMs outside its blocks, wired here: announced only (the\n\
                   # kernel routes each to its tap already).\n";
        for (comment, name, routes) in [(blocks, "blocks", &self.blocks), (vms, "vms", &self.vms)] {
            if first {
                out.push_str(comment);
            }
            let _ = writeln!(
                out,
                "protocol static blixard_{name}{} {{\n    {};",
                self.v, self.channel
            );
            for route in routes {
                let _ = writeln!(out, "    route {route} blackhole;");
            }
            out.push_str("}\n\n");
        }
        if first {
            out.push_str(
                "# The rest of the pool: no host announces it, so it is refused here\n\
                 # (kernel only; the most specific route wins).\n",
            );
        }
        let _ = writeln!(
            out,
            "protocol static blixard_pool{} {{\n    {};\n    route {} unreachable;\n}}\n",
            self.v, self.channel, self.pool
        );
    }

    fn kernel(&self, out: &mut String) {
        let v = self.v;
        if v == '4' {
            let _ = writeln!(
                out,
                "# Into the kernel: the peers' routes, our blackholes and the pool's\n\
                 # unreachable route, with BIRD's protocol and metric {BIRD_KERNEL_METRIC}\n\
                 # (a VM wired here keeps its own route).",
            );
        }
        let _ = write!(
            out,
            "protocol kernel {kernel} {{\n\
             \x20   {channel} {{\n\
             \x20       import none;\n\
             \x20       export filter {{\n\
             \x20           if proto = \"blixard_blocks{v}\" || proto = \"blixard_pool{v}\" then accept;\n\
             \x20           if source = RTS_BGP then accept;\n\
             \x20           reject;\n\
             \x20       }};\n\
             \x20   }};\n\
             \x20   metric {BIRD_KERNEL_METRIC};\n\
             \x20   persist;\n\
             \x20   graceful restart on;\n\
             }}\n\n",
            kernel = if v == '4' { KERNEL4 } else { KERNEL6 },
            channel = self.channel,
        );
    }

    fn filters(&self, out: &mut String) {
        let v = self.v;
        if v == '4' {
            out.push_str(
                "# What the peers may send: inside the pool, never the gateway address\n\
                 # every host holds, never a default route, never one of our blocks.\n",
            );
        }
        let _ = writeln!(out, "filter blixard_import{v} {{");
        out.push_str("    if net.len = 0 then reject;\n");
        let _ = writeln!(out, "    if net !~ [ {}+ ] then reject;", self.pool);
        let _ = writeln!(out, "    if net.ip = {} then reject;", self.gateway);
        if !self.blocks.is_empty() {
            let _ = writeln!(
                out,
                "    if net ~ [ {} ] then reject;",
                self.blocks.join(", ")
            );
        }
        out.push_str("    accept;\n}\n\n");
        let _ = write!(
            out,
            "filter blixard_export{v} {{\n\
             \x20   if proto = \"blixard_blocks{v}\" || proto = \"blixard_vms{v}\" then accept;\n\
             \x20   reject;\n\
             }}\n\n"
        );
    }
}

fn sessions(out: &mut String, plan: &BgpPlan, families: &[Family]) {
    out.push_str(
        "# One session per peer: direct, graceful restart, this host the next hop\n\
         # of what it announces.\n",
    );
    let _ = writeln!(out, "template bgp blixard_peer {{");
    let _ = writeln!(out, "    local {} as {};", plan.router_id, plan.asn);
    out.push_str("    direct;\n    graceful restart on;\n");
    for family in families {
        let v = family.v;
        let _ = write!(
            out,
            "    {} {{\n\
             \x20       import filter blixard_import{v};\n\
             \x20       export filter blixard_export{v};\n\
             \x20       next hop self;\n",
            family.channel
        );
        if let Some(address) = &family.next_hop_address {
            let _ = writeln!(out, "        next hop address {address};");
        }
        out.push_str("    };\n");
    }
    out.push_str("}\n");
    for peer in &plan.peers {
        let _ = write!(
            out,
            "\nprotocol bgp {} from blixard_peer {{\n    neighbor {} as {};\n}}\n",
            peer.protocol_name(),
            peer.address,
            peer.asn
        );
    }
}
