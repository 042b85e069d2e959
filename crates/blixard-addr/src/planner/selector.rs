//! What the config selects, parsed: the `vms` list and the endpoints of
//! firewall rules.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::{Selector, VmSelection, VmSpec};
use crate::error::{ConfigError, ConfigErrorKind, LayoutError};
use crate::layout::{Layout, VmIndex};

pub(super) fn resolve_vms(
    selection: &VmSelection,
    layout: &Layout,
) -> Result<Vec<VmIndex>, ConfigError> {
    let max = layout.max_index();
    match selection {
        VmSelection::Count(0) => Err(ConfigError::at_key("vms", ConfigErrorKind::NoVms)),
        VmSelection::Count(n) if *n > max => Err(ConfigError::at_key(
            "vms",
            LayoutError::TooManyVms { count: *n, max },
        )),
        VmSelection::Count(n) => (1..=*n)
            .map(|i| layout.index(i).map_err(|e| ConfigError::at_key("vms", e)))
            .collect(),
        VmSelection::List(specs) if specs.is_empty() => {
            Err(ConfigError::at_key("vms", ConfigErrorKind::NoVms))
        }
        VmSelection::List(specs) => {
            let mut seen = BTreeSet::new();
            for (i, spec) in specs.iter().enumerate() {
                let key = || format!("vms[{i}]");
                let (lo, hi) = match spec {
                    VmSpec::Index(n) => (*n, *n),
                    VmSpec::Range(r) => parse_range(r).ok_or_else(|| {
                        ConfigError::at_key(key(), ConfigErrorKind::BadRange { range: r.clone() })
                    })?,
                };
                for bound in [lo, hi] {
                    layout
                        .index(bound)
                        .map_err(|e| ConfigError::at_key(key(), e))?;
                }
                for n in lo..=hi {
                    if !seen.insert(n) {
                        return Err(ConfigError::at_key(
                            key(),
                            ConfigErrorKind::DuplicateVm { index: n },
                        ));
                    }
                }
            }
            Ok(seen
                .into_iter()
                .map(|n| layout.index(n).expect("checked"))
                .collect())
        }
    }
}

fn parse_range(range: &str) -> Option<(u32, u32)> {
    let (a, b) = range.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(a.trim()) || !digits(b.trim()) {
        return None;
    }
    let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (a <= b).then_some((a, b))
}

/// How a rule reads a VM that `vms` does not wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unplanned {
    /// On a single host: a mistake, refused.
    Refused,
    /// In a cluster (`[bgp]`): another host's VM, matched by its
    /// addresses (IPv6 too when VMs have it).
    OtherHost {
        /// Whether VMs have IPv6.
        ipv6: bool,
    },
}

/// Parses a rule endpoint: `vmN` (an interface name of the layout),
/// `vmA-vmB`, `host`, `external`, `any`, a CIDR or a bare address.
pub(crate) fn parse_selector(
    text: &str,
    layout: &Layout,
    planned: &[VmIndex],
    unplanned: Unplanned,
) -> Result<Selector, ConfigErrorKind> {
    let bad = |reason: &str| ConfigErrorKind::BadSelector {
        selector: text.to_string(),
        reason: reason.to_string(),
    };
    let is_planned = |i: VmIndex| planned.binary_search(&i).is_ok();
    match text {
        "host" => return Ok(Selector::Host),
        "external" => return Ok(Selector::External),
        "any" => return Ok(Selector::Any),
        _ => {}
    }
    if let Ok(net) = text.parse::<IpNet>() {
        if net.network() != net.addr() {
            return Err(bad("the address has host bits set beyond its prefix"));
        }
        return Ok(Selector::Cidr(net));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Selector::Cidr(IpNet::from(ip)));
    }
    if let Some(index) = layout.index_of_interface(text) {
        if !is_planned(index) {
            if let Unplanned::OtherHost { ipv6 } = unplanned {
                return Ok(other_hosts(layout, Vec::new(), &[index], ipv6));
            }
            return Err(ConfigErrorKind::VmNotPlanned {
                selector: text.to_string(),
                index: index.get(),
            });
        }
        return Ok(Selector::Vms(vec![text.to_string()]));
    }
    // A template may itself contain '-', so try every split point.
    for (pos, _) in text.match_indices('-') {
        let (a, b) = (&text[..pos], &text[pos + 1..]);
        let (Some(lo), Some(hi)) = (layout.index_of_interface(a), layout.index_of_interface(b))
        else {
            continue;
        };
        if lo > hi {
            return Err(bad("the first VM of a range must not be after the last"));
        }
        let names = planned
            .iter()
            .filter(|i| (lo..=hi).contains(i))
            .map(|i| layout.interface_name(i.get()))
            .collect();
        if let Unplanned::OtherHost { ipv6 } = unplanned {
            let remote: Vec<VmIndex> = (lo.get()..=hi.get())
                .filter_map(|n| layout.index(n).ok())
                .filter(|i| !is_planned(*i))
                .collect();
            if !remote.is_empty() {
                return Ok(other_hosts(layout, names, &remote, ipv6));
            }
        }
        for end in [lo, hi] {
            if !is_planned(end) {
                return Err(ConfigErrorKind::VmNotPlanned {
                    selector: text.to_string(),
                    index: end.get(),
                });
            }
        }
        return Ok(Selector::Vms(names));
    }
    Err(bad(&format!(
        "use {}, {}-{}, host, external, any or a CIDR such as 192.0.2.0/24",
        layout.interface_name(1),
        layout.interface_name(1),
        layout.interface_name(2)
    )))
}

/// VMs of which some (`remote`) are other hosts' in a cluster: those by
/// their addresses, the rest (`local`) by their taps.
fn other_hosts(layout: &Layout, local: Vec<String>, remote: &[VmIndex], ipv6: bool) -> Selector {
    let vms: Vec<_> = remote
        .iter()
        .map(|i| layout.vm(*i).expect("an index of the layout"))
        .collect();
    Selector::ClusterVms {
        local,
        remote_ipv4: vms.iter().map(|vm| vm.ipv4).collect(),
        remote_ipv6: if ipv6 {
            vms.iter().map(|vm| vm.ipv6).collect()
        } else {
            Vec::new()
        },
    }
}
