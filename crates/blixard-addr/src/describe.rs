//! One-line, operator-readable descriptions of changes (`apply` output,
//! `status` drift), phrased like the `ip`/`nft` command that would do it.

use std::fmt;

use crate::change::Change;

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = |o: &Option<u32>| o.map_or("-".to_string(), |v| v.to_string());
        match self {
            Change::DeleteLink { name } => write!(f, "delete link {name}"),
            Change::DeleteLinkGroup { group } => write!(f, "delete links in group {group}"),
            Change::DeleteRoute {
                destination,
                interface,
                protocol,
            } => write!(
                f,
                "delete route {destination} dev {interface} proto {protocol}"
            ),
            Change::DeleteAddress { interface, address } => {
                write!(f, "delete address {address} dev {interface}")
            }
            Change::CreateTap {
                name,
                tap,
                group,
                alias,
                mtu,
            } => write!(
                f,
                "create tap {name} (owner {}, group {}{}{}) group {group} alias {alias} mtu {mtu}",
                owner(&tap.owner),
                owner(&tap.group),
                if tap.multi_queue { ", multi_queue" } else { "" },
                if tap.vnet_hdr { ", vnet_hdr" } else { "" },
            ),
            Change::SetTapOwnership {
                name,
                owner: o,
                group,
            } => write!(
                f,
                "set tap {name} owner {} group {}",
                owner(o),
                owner(group)
            ),
            Change::SetLink {
                name,
                group,
                alias,
                mtu,
            } => write!(f, "set link {name} group {group} alias {alias} mtu {mtu}"),
            Change::AddNoqueue { name } => write!(f, "add root qdisc noqueue dev {name}"),
            Change::SetLimit { name, limit } => {
                write!(f, "set limit on {name}: root qdisc tbf {limit}")
            }
            Change::DeleteLimit { name } => write!(f, "delete limit on {name}"),
            Change::CreateIfb { name, group, alias } => {
                write!(f, "create ifb {name} group {group} alias {alias}")
            }
            Change::AddIngressQdisc { name } => write!(f, "add ingress qdisc dev {name}"),
            Change::AddRedirect { name, ifb } => {
                write!(
                    f,
                    "redirect what {name}'s VM sends to {ifb} (u32 match-all, mirred)"
                )
            }
            Change::DeleteIngressQdisc { name } => {
                write!(f, "delete ingress qdisc dev {name} (and its redirect)")
            }
            Change::LinkUp { name } => write!(f, "set link {name} up"),
            Change::AddAddress { interface, address } => {
                write!(f, "add address {address} dev {interface}")
            }
            Change::AddRoute {
                destination,
                interface,
                protocol,
            } => write!(
                f,
                "add route {destination} dev {interface} proto {protocol}"
            ),
            Change::AddProxyNeighbour {
                interface,
                address,
                protocol,
            } => write!(
                f,
                "add neigh proxy {address} dev {interface} proto {protocol}"
            ),
            Change::DeleteProxyNeighbour { interface, address } => {
                write!(f, "delete neigh proxy {address} dev {interface}")
            }
            Change::SetSysctl { key, value } => write!(f, "sysctl {key}={value}"),
            Change::ReplaceFirewall { firewall } => write!(
                f,
                "replace nft table inet {} ({} VMs, {} rules)",
                firewall.table,
                firewall.vms.len(),
                firewall.rules.len()
            ),
            Change::DeleteFirewall { table } => write!(f, "delete nft table inet {table}"),
            Change::AddFirewallVm { table, vm } => {
                write!(f, "add {} to nft table inet {table}", vm.interface)
            }
            Change::RemoveFirewallVm { table, vm } => {
                write!(f, "remove {} from nft table inet {table}", vm.interface)
            }
        }
    }
}
