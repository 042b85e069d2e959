//! `doctor`'s check of `[[forwards]]`: a host socket already bound to a
//! forwarded port never sees the connections the forward takes.

use blixard_addr::HostPlan;
use blixard_host::Host;

use super::doctor::{Check, Level, check};

/// One check per forward a host socket is in the way of; one PASS when
/// none is; nothing without forwards.
pub(super) fn checks(host: &Host, plan: &HostPlan) -> Vec<Check> {
    let forwards = &plan.firewall.forwards;
    if forwards.is_empty() {
        return Vec::new();
    }
    let listeners = match host.listeners() {
        Ok(l) => l,
        Err(e) => {
            return vec![check(
                Level::Warn,
                "forwards",
                format!("cannot read the host's sockets: {e}"),
                None,
            )];
        }
    };
    let mut out = Vec::new();
    for f in forwards {
        for l in listeners.iter().filter(|l| f.shadows(l.protocol, l.local)) {
            let listens = match l.protocol {
                blixard_addr::config::Protocol::Udp => "is bound to",
                _ => "already listens on",
            };
            out.push(check(
                Level::Warn,
                "forwards",
                format!("{}: host process {listens} {}", f.describe(), l.local),
                Some("the forward takes those connections first: move the host service to another port, or forward another host_port"),
            ));
        }
    }
    if out.is_empty() {
        out.push(check(
            Level::Pass,
            "forwards",
            format!(
                "{} forward(s); no host socket on their ports",
                forwards.len()
            ),
            None,
        ));
    }
    out
}
