//! Coexistence scan: foreign rules that would drop our VMs' traffic.
//!
//! An `accept` in our table does not override a `drop` in another table on
//! the same hook, so a foreign forward chain with policy drop (Docker sets
//! the iptables FORWARD policy to DROP, moby/moby#39439) silently breaks VM
//! routing. The ruleset is read as plain JSON: foreign tables may hold
//! expressions no Rust type knows, and the scan must never fail on them.

use std::fmt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use blixard_addr::plan::FirewallPlan;
use blixard_addr::render::shell_quote;
use serde::Serialize;
use serde_json::Value;

/// What kind of trouble a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A foreign nftables base chain on forward/input with policy drop.
    PolicyDrop,
    /// A foreign nftables rule on forward/input that drops or rejects
    /// unconditionally.
    DropRule,
    /// An iptables-legacy FORWARD/INPUT chain with policy DROP (invisible to nft).
    LegacyPolicyDrop,
    /// An unconditional iptables-legacy DROP/REJECT rule.
    LegacyDropRule,
    /// iptables-legacy exists but could not be read.
    LegacyUnreadable,
}

/// One foreign object that would drop VM traffic, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What is wrong.
    pub kind: FindingKind,
    /// nft family (`ip`, `ip6`, `inet`) or the legacy tool (`iptables-legacy`).
    pub family: String,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// Hook (`forward`, `input`).
    pub hook: String,
    /// What it does to VM traffic.
    pub problem: String,
    /// The exact command(s) that fix it.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} table {} chain {} (hook {}): {}; fix: {}",
            self.family, self.table, self.chain, self.hook, self.problem, self.fix
        )
    }
}

struct ChainInfo {
    family: String,
    table: String,
    name: String,
    hook: String,
    policy: String,
}

/// Which address families of ours a foreign family sees.
fn pools(family: &str, plan: &FirewallPlan) -> Vec<(&'static str, String)> {
    plan.pools()
        .into_iter()
        .map(|pool| {
            let fam = if pool.addr().is_ipv4() { "ip" } else { "ip6" };
            (fam, pool.trunc().to_string())
        })
        .filter(|(fam, _)| family == "inet" || family == *fam)
        .collect()
}

pub(crate) fn scan_nft(ruleset: &Value, plan: &FirewallPlan) -> Vec<Finding> {
    let objs: Vec<&Value> = ruleset
        .get("nftables")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut chains = Vec::new();
    let mut docker_user = Vec::new();
    for chain in objs.iter().filter_map(|o| o.get("chain")) {
        let info = ChainInfo {
            family: text(chain, "family"),
            table: text(chain, "table"),
            name: text(chain, "name"),
            hook: text(chain, "hook"),
            policy: text(chain, "policy"),
        };
        if info.name == "DOCKER-USER" {
            docker_user.push((info.family.clone(), info.table.clone()));
        }
        if info.family == "inet" && info.table == plan.table {
            continue;
        }
        if !matches!(info.hook.as_str(), "forward" | "input") {
            continue;
        }
        if pools(&info.family, plan).is_empty() {
            continue;
        }
        chains.push(info);
    }
    let mut out = Vec::new();
    for c in &chains {
        let docker = docker_user.contains(&(c.family.clone(), c.table.clone()));
        if c.policy == "drop" {
            out.push(Finding {
                kind: FindingKind::PolicyDrop,
                family: c.family.clone(),
                table: c.table.clone(),
                chain: c.name.clone(),
                hook: c.hook.clone(),
                problem: format!(
                    "policy drop: {} the VMs' traffic that no rule there accepts{}",
                    if c.hook == "forward" {
                        "drops forwarded"
                    } else {
                        "drops VM -> host"
                    },
                    if docker {
                        " (Docker sets this, moby/moby#39439)"
                    } else {
                        ""
                    }
                ),
                fix: fix(c, plan, docker),
            });
        }
        for rule in objs.iter().filter_map(|o| o.get("rule")) {
            if text(rule, "family") != c.family
                || text(rule, "table") != c.table
                || text(rule, "chain") != c.name
            {
                continue;
            }
            let expr = rule.get("expr").and_then(Value::as_array);
            let unconditional = expr.is_some_and(|e| {
                e.iter().all(|s| s.get("match").is_none())
                    && e.iter()
                        .any(|s| s.get("drop").is_some() || s.get("reject").is_some())
            });
            if unconditional {
                let handle = rule
                    .get("handle")
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                out.push(Finding {
                    kind: FindingKind::DropRule,
                    family: c.family.clone(),
                    table: c.table.clone(),
                    chain: c.name.clone(),
                    hook: c.hook.clone(),
                    problem: format!("rule handle {handle} drops everything that reaches it"),
                    fix: fix(c, plan, docker),
                });
            }
        }
    }
    out
}

/// Accept rules for our pools inserted at the top of the foreign chain, in
/// the tool that owns it; for tables made by iptables-nft (upper-case chain
/// names) the iptables command, into DOCKER-USER when Docker is there.
fn fix(c: &ChainInfo, plan: &FirewallPlan, docker: bool) -> String {
    let iptables_made = c.family != "inet"
        && ["filter", "raw", "mangle", "security"].contains(&c.table.as_str())
        && c.name.chars().all(|ch| !ch.is_ascii_lowercase());
    let mut cmds = Vec::new();
    for (fam, pool) in pools(&c.family, plan) {
        if iptables_made {
            let tool = if fam == "ip" { "iptables" } else { "ip6tables" };
            let chain = if docker && c.hook == "forward" {
                "DOCKER-USER"
            } else {
                c.name.as_str()
            };
            let table = if c.table == "filter" {
                String::new()
            } else {
                format!(" -t {}", c.table)
            };
            cmds.push(format!("{tool}{table} -I {chain} -s {pool} -j ACCEPT"));
            if c.hook == "forward" {
                cmds.push(format!(
                    "{tool}{table} -I {chain} -d {pool} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
                ));
            }
        } else {
            let target = format!(
                "{} {} {}",
                c.family,
                shell_quote(&c.table),
                shell_quote(&c.name)
            );
            cmds.push(format!(
                "nft insert rule {target} {fam} saddr {pool} accept"
            ));
            if c.hook == "forward" {
                cmds.push(format!(
                    "nft insert rule {target} {fam} daddr {pool} ct state established,related accept"
                ));
            }
        }
    }
    cmds.join(" && ")
}

/// iptables-legacy rules live outside nftables; nft cannot list them.
pub(crate) fn scan_legacy(plan: &FirewallPlan) -> Vec<Finding> {
    let mut out = Vec::new();
    for (tool, fam, names) in [
        ("iptables-legacy", "ip", "ip_tables_names"),
        ("ip6tables-legacy", "ip6", "ip6_tables_names"),
    ] {
        if fam == "ip6" && plan.ipv6_pool.is_none() {
            continue;
        }
        // Listing with iptables-legacy would itself create the legacy filter
        // table (and load its modules) in this namespace: only read one that
        // already exists.
        if !legacy_filter_exists(names) {
            continue;
        }
        let Some(path) = in_path(tool) else { continue };
        let result = Command::new(&path)
            .args(["-w", "-S"])
            .stdin(Stdio::null())
            .output();
        match result {
            Ok(o) if o.status.success() => out.extend(parse_legacy(
                tool,
                fam,
                &String::from_utf8_lossy(&o.stdout),
                plan,
            )),
            Ok(o) => out.push(unreadable(tool, String::from_utf8_lossy(&o.stderr).trim())),
            Err(e) => out.push(unreadable(tool, &e.to_string())),
        }
    }
    out
}

/// Whether the legacy x_tables `filter` table exists in the calling
/// thread's network namespace (`thread-self`: `/proc/net` would show the
/// main thread's).
fn legacy_filter_exists(names_file: &str) -> bool {
    std::fs::read_to_string(format!("/proc/thread-self/net/{names_file}"))
        .is_ok_and(|names| names.lines().any(|n| n.trim() == "filter"))
}

fn unreadable(tool: &str, why: &str) -> Finding {
    Finding {
        kind: FindingKind::LegacyUnreadable,
        family: tool.into(),
        table: "filter".into(),
        chain: String::new(),
        hook: String::new(),
        problem: format!("could not read legacy rules: {why}"),
        fix: format!("run `{tool} -S` as root and check FORWARD/INPUT"),
    }
}

/// Findings from `iptables-legacy -S` output (filter table).
pub(crate) fn parse_legacy(tool: &str, fam: &str, text: &str, plan: &FirewallPlan) -> Vec<Finding> {
    let pool = match fam {
        "ip" => plan.ipv4_pool.trunc().to_string(),
        _ => match plan.ipv6_pool {
            Some(p) => p.trunc().to_string(),
            None => return Vec::new(),
        },
    };
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (kind, chain) = match words.as_slice() {
            ["-P", chain @ ("FORWARD" | "INPUT"), "DROP"] => {
                (FindingKind::LegacyPolicyDrop, *chain)
            }
            [
                "-A",
                chain @ ("FORWARD" | "INPUT"),
                "-j",
                "DROP" | "REJECT",
                ..,
            ] => (FindingKind::LegacyDropRule, *chain),
            _ => continue,
        };
        let mut fix = format!("{tool} -I {chain} -s {pool} -j ACCEPT");
        if chain == "FORWARD" {
            fix.push_str(&format!(
                " && {tool} -I FORWARD -d {pool} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            ));
        }
        out.push(Finding {
            kind,
            family: tool.into(),
            table: "filter".into(),
            chain: chain.into(),
            hook: chain.to_ascii_lowercase(),
            problem: format!("`{line}` drops VM traffic, and nft cannot see it"),
            fix,
        });
    }
    out
}

fn in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use blixard_addr::config::Action;

    fn plan() -> FirewallPlan {
        FirewallPlan {
            table: "blixard".into(),
            external_interface: Some("eth0".into()),
            ipv4_pool: "10.0.0.0/24".parse().unwrap(),
            ipv6_pool: Some("fec0::/64".parse().unwrap()),
            masquerade_ipv4: true,
            masquerade_ipv6: true,
            anti_spoofing: true,
            inbound_default: Action::Drop,
            host_input_default: Action::Accept,
            host_ports: vec![],
            allow_networks: vec![],
            vms: vec![],
            rules: vec![],
            cluster: false,
            forwards: Vec::new(),
            police: Vec::new(),
        }
    }

    #[test]
    fn legacy_drop_policy_and_unconditional_drops_are_found() {
        let text = "-P INPUT ACCEPT\n-P FORWARD DROP\n-P OUTPUT ACCEPT\n\
                    -A FORWARD -j DOCKER-USER\n-A FORWARD -s 1.2.3.4/32 -j DROP\n\
                    -A INPUT -j REJECT --reject-with icmp-host-prohibited\n";
        let f = parse_legacy("iptables-legacy", "ip", text, &plan());
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!(
            (f[0].kind, f[0].chain.as_str()),
            (FindingKind::LegacyPolicyDrop, "FORWARD")
        );
        assert_eq!(
            f[0].fix,
            "iptables-legacy -I FORWARD -s 10.0.0.0/24 -j ACCEPT && iptables-legacy -I FORWARD \
             -d 10.0.0.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        );
        assert_eq!(
            (f[1].kind, f[1].chain.as_str()),
            (FindingKind::LegacyDropRule, "INPUT")
        );
        assert_eq!(
            f[1].fix,
            "iptables-legacy -I INPUT -s 10.0.0.0/24 -j ACCEPT"
        );
        let f6 = parse_legacy("ip6tables-legacy", "ip6", "-P FORWARD DROP\n", &plan());
        assert!(f6[0].fix.contains("-s fec0::/64"));
        assert!(parse_legacy("iptables-legacy", "ip", "-P FORWARD ACCEPT\n", &plan()).is_empty());
    }

    #[test]
    fn unparseable_foreign_expressions_do_not_break_the_scan() {
        let ruleset = serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"chain": {"family": "ip6", "table": "weird", "name": "F", "hook": "forward", "policy": "drop"}},
            {"rule": {"family": "ip6", "table": "weird", "chain": "F",
                      "expr": [{"some-future-expr": {"x": [1, {"y": null}]}}, {"reject": null}]}},
            {"chain": {"family": "netdev", "table": "n", "name": "i", "hook": "ingress", "policy": "drop"}},
            {"chain": {"family": "inet", "table": "blixard", "name": "forward", "hook": "forward", "policy": "drop"}}
        ]});
        let f = scan_nft(&ruleset, &plan());
        let kinds: Vec<_> = f.iter().map(|x| x.kind).collect();
        assert_eq!(kinds, [FindingKind::PolicyDrop, FindingKind::DropRule]);
        assert_eq!(
            f[0].fix,
            "nft insert rule ip6 weird F ip6 saddr fec0::/64 accept && nft insert rule ip6 weird F \
             ip6 daddr fec0::/64 ct state established,related accept"
        );
    }
}
