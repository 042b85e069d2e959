//! [`teardown`]: every object of ours removed, nothing else touched.

use std::collections::BTreeSet;

use super::is_ours;
use crate::change::Change;
use crate::plan::Ownership;
use crate::state::{ObservedFirewall, ObservedHost, ObservedLink};

/// The changes that remove everything of ours and nothing else.
///
/// Sysctls are left as they are: other services (containers, other VMs)
/// may rely on forwarding, and the per-tap ones vanish with the taps.
/// Routes of ours go with our links; only those on links that are not ours
/// (or on no link) need their own delete. Routes of ours without an
/// interface are left: we never create them, so one is not our doing.
pub fn teardown(ownership: &Ownership, observed: &ObservedHost) -> Vec<Change> {
    let mut out = Vec::new();
    let ours: Vec<&ObservedLink> = observed
        .links
        .iter()
        .filter(|l| is_ours(l, ownership))
        .collect();
    let our_names: BTreeSet<&str> = ours.iter().map(|l| l.name.as_str()).collect();
    let mut routes: Vec<_> = observed
        .routes
        .iter()
        .filter(|r| r.protocol == ownership.route_protocol)
        .filter_map(|r| {
            let dev = r.interface.as_deref()?;
            (!our_names.contains(dev)).then(|| (dev.to_string(), r.destination))
        })
        .collect();
    routes.sort();
    routes.dedup();
    for (interface, destination) in routes {
        out.push(Change::DeleteRoute {
            destination,
            interface,
            protocol: ownership.route_protocol,
        });
    }
    let whole_group_is_ours = observed
        .links
        .iter()
        .filter(|l| l.group == ownership.link_group)
        .all(|l| is_ours(l, ownership));
    if !ours.is_empty() {
        if whole_group_is_ours {
            out.push(Change::DeleteLinkGroup {
                group: ownership.link_group,
            });
        } else {
            let mut names: Vec<&str> = our_names.iter().copied().collect();
            names.sort_by_key(|n| (digits_of(n), n.to_string()));
            out.extend(
                names
                    .into_iter()
                    .map(|n| Change::DeleteLink { name: n.into() }),
            );
        }
    }
    if !matches!(observed.firewall, ObservedFirewall::Absent) {
        out.push(Change::DeleteFirewall {
            table: ownership.nft_table.clone(),
        });
    }
    out
}

/// Without a layout, the trailing number of a name sorts `vm2` before `vm10`.
fn digits_of(name: &str) -> u64 {
    let digits: String = name.chars().filter(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(u64::MAX)
}
