//! [`HostPlan::to_table`]: the plan as an operator reads it.

use std::fmt::Write as _;

use super::{HostPlan, SysctlCondition};

impl HostPlan {
    /// A readable table: one row per VM (index, interface, IPv4, IPv6, MAC,
    /// tap flags and owner), then sysctls and the NAT/firewall summary.
    pub fn to_table(&self) -> String {
        let opt = |v: Option<u32>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        let mut rows = vec![[
            "INDEX".to_string(),
            "INTERFACE".into(),
            "IPV4".into(),
            "IPV6".into(),
            "MAC".into(),
            "TAP".into(),
            "OWNER:GROUP".into(),
        ]];
        let policed: std::collections::BTreeMap<_, _> = self
            .firewall
            .vms
            .iter()
            .filter_map(|v| Some((v.index, v.police?)))
            .collect();
        for l in &self.links {
            let mut flags = Vec::new();
            if l.tap.multi_queue {
                flags.push("multi_queue");
            }
            if l.tap.vnet_hdr {
                flags.push("vnet_hdr");
            }
            if l.noqueue {
                flags.push("noqueue");
            }
            // The rates only: the bursts are in `plan --json`.
            let limits: Vec<String> = [
                l.ingress_limit
                    .map(|i| format!("ingress={}", i.rate_text())),
                l.egress
                    .as_ref()
                    .map(|e| e.limit)
                    .or_else(|| policed.get(&l.vm.index).copied())
                    .map(|limit| format!("egress={}", limit.rate_text())),
            ]
            .into_iter()
            .flatten()
            .collect();
            flags.extend(limits.iter().map(String::as_str));
            let ipv6 = if self.ipv6_enabled() {
                l.vm.ipv6.to_string()
            } else {
                "-".into()
            };
            rows.push([
                l.vm.index.to_string(),
                l.vm.interface.clone(),
                l.vm.ipv4.to_string(),
                ipv6,
                l.vm.mac.to_string(),
                format!("mtu={} {}", l.mtu, flags.join(","))
                    .trim_end()
                    .to_string(),
                format!("{}:{}", opt(l.tap.owner), opt(l.tap.group)),
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        let addresses: Vec<String> = self
            .gateway
            .addresses
            .iter()
            .map(|a| a.addr().to_string())
            .collect();
        let _ = writeln!(
            out,
            "\ngateway: {} on {}{}; links in group {}, routes with proto {}",
            addresses.join(" / "),
            self.gateway.name,
            if self.ipv6_enabled() {
                ", every tap answers neighbour solicitations for the IPv6 one"
            } else {
                ""
            },
            self.ownership.link_group,
            self.ownership.route_protocol
        );
        out.push_str("\nsysctls:\n");
        for s in &self.sysctls {
            let when = match &s.when {
                SysctlCondition::Always => String::new(),
                SysctlCondition::IfCurrently(v) => format!(" (only if currently {v})"),
            };
            let _ = writeln!(out, "  {} = {}{when}", s.key, s.value);
        }
        let per_link: usize = self.links.iter().map(|l| l.sysctls.len()).sum();
        if per_link > 0 {
            let each: Vec<String> = self.links[0]
                .sysctls
                .iter()
                .map(|s| {
                    format!(
                        "{} = {}",
                        s.key.rsplit('.').next().unwrap_or(&s.key),
                        s.value
                    )
                })
                .collect();
            let _ = writeln!(out, "  + {per_link} per-tap ({})", each.join(", "));
        }
        let fw = &self.firewall;
        let _ = writeln!(out, "\nfirewall: table inet {}", fw.table);
        let nat = match &fw.external_interface {
            None => "none (no external interface)".to_string(),
            Some(ext) => {
                let mut fams = Vec::new();
                if fw.masquerade_ipv4 {
                    fams.push("ipv4");
                }
                if fw.masquerade_ipv6 {
                    fams.push("ipv6");
                }
                if fams.is_empty() {
                    format!("off (external interface {ext})")
                } else {
                    format!("masquerade {} out of {ext}", fams.join("+"))
                }
            }
        };
        let _ = writeln!(out, "  nat: {nat}");
        let _ = writeln!(
            out,
            "  anti-spoofing: {}",
            if fw.anti_spoofing { "on" } else { "off" }
        );
        let _ = writeln!(out, "  inbound default: {:?}", fw.inbound_default);
        let _ = writeln!(
            out,
            "  VM -> host default: {:?}; ports always open: {:?}",
            fw.host_input_default, fw.host_ports
        );
        if !fw.allow_networks.is_empty() {
            let nets: Vec<_> = fw.allow_networks.iter().map(ToString::to_string).collect();
            let _ = writeln!(out, "  VMs may also reach: {}", nets.join(", "));
        }
        for f in &fw.forwards {
            let _ = writeln!(out, "  {}", f.describe());
        }
        if !fw.police.is_empty() {
            let sets: Vec<String> = fw
                .police
                .iter()
                .map(|l| format!("{} ({l})", l.police_set()))
                .collect();
            let _ = writeln!(out, "  limits from VMs policed by set: {}", sets.join(", "));
        }
        let _ = writeln!(out, "  rules: {}", fw.rules.len());
        for (i, r) in fw.rules.iter().enumerate() {
            let proto = r.protocol.map(|p| format!(" {p:?}")).unwrap_or_default();
            let port = r.port.map(|p| format!(" port {p}")).unwrap_or_default();
            let chains: Vec<_> = r.chains.iter().map(|c| format!("{c:?}")).collect();
            let _ = writeln!(
                out,
                "    [{i}] {:?} -> {:?}{proto}{port}: {:?} (in {})",
                r.from,
                r.to,
                r.action,
                chains.join(", ")
            );
        }
        out
    }
}
