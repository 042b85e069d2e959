//! One VM's part of our table, read over nf_tables netlink without listing
//! anything: `nft` loads its whole cache (every set element) for a `list`
//! or `get`, which costs 60-90 ms at 4096 VMs, while a netlink `GETTABLE`
//! and one `GETSETELEM` per set cost the same on any host.

use blixard_addr::plan::{FirewallVm, POLICE_SET_PREFIX};
use blixard_addr::state::ObservedFirewall;
use blixard_netlink::{NetlinkSocket, protocols::NETLINK_NETFILTER};

use crate::nfnl::{
    NFPROTO_INET, NFT_MSG_GETSETELEM, NFTA_DATA_VALUE, NFTA_LIST_ELEM, NFTA_SET_ELEM_KEY,
    NFTA_SET_ELEM_LIST_ELEMENTS, NLA_F_NESTED, NfTablesMessage, attr, ifname, octets,
    set_elements_request, set_names, table_exists,
};
use crate::render::counters::COUNTER_SETS;
use crate::render::{SET_IFACES, SET_V4, SET_V6};
use crate::{NatError, Nft};

impl Nft {
    /// Whether our table exists and holds `vm`'s set elements:
    /// [`ObservedFirewall::InSync`] when every element is there (what
    /// `wire_vm` needs to know; the rest of the table is not compared),
    /// `Differs` when one is missing, `Absent` without the table. Runs in
    /// the calling thread's network namespace.
    pub fn observe_vm(&self, table: &str, vm: &FirewallVm) -> Result<ObservedFirewall, NatError> {
        let io = |source: blixard_netlink::NetlinkError| NatError::Netlink {
            what: format!(
                "reading {}'s set elements in table inet {table}",
                vm.interface
            ),
            source: source.into(),
        };
        let mut nl = NetlinkSocket::<NfTablesMessage>::open(NETLINK_NETFILTER).map_err(io)?;
        if !table_exists(&mut nl, table).map_err(io)? {
            return Ok(ObservedFirewall::Absent);
        }
        // A VM whose limit changed is in its new set only: one left in the
        // set of another limit would be policed twice.
        let others = police_sets_besides(&mut nl, table, vm).map_err(io)?;
        let mut exists = |kind: u16, attributes: Vec<u8>, object: &str| {
            let request = NfTablesMessage {
                kind,
                family: NFPROTO_INET,
                attributes,
            };
            nl.get(&request, object).map(|answer| answer.is_some())
        };
        let mut keys = vec![
            (SET_IFACES.to_string(), ifname(&vm.interface)),
            (
                SET_V4.to_string(),
                [ifname(&vm.interface), octets(vm.ipv4.into())].concat(),
            ),
        ];
        if let Some(v6) = vm.ipv6 {
            keys.push((
                SET_V6.to_string(),
                [ifname(&vm.interface), octets(v6.into())].concat(),
            ));
        }
        keys.extend(COUNTER_SETS.map(|set| (set.to_string(), ifname(&vm.interface))));
        if let Some(limit) = &vm.police {
            keys.push((limit.police_set(), ifname(&vm.interface)));
        }
        let own = keys.len();
        keys.extend(
            others
                .iter()
                .map(|set| (set.clone(), ifname(&vm.interface))),
        );
        for (i, (set, key)) in keys.into_iter().enumerate() {
            let mut value = Vec::new();
            attr(&mut value, NFTA_DATA_VALUE, &key);
            let mut elem_key = Vec::new();
            attr(&mut elem_key, NFTA_SET_ELEM_KEY | NLA_F_NESTED, &value);
            let mut elem = Vec::new();
            attr(&mut elem, NFTA_LIST_ELEM | NLA_F_NESTED, &elem_key);
            let mut request = set_elements_request(table, &set);
            attr(
                &mut request,
                NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED,
                &elem,
            );
            let object = format!("{}'s element of set {set}", vm.interface);
            let present = exists(NFT_MSG_GETSETELEM, request, &object).map_err(io)?;
            if i < own && !present {
                return Ok(ObservedFirewall::Differs(vec![format!(
                    "{}'s element is missing from set {set}",
                    vm.interface
                )]));
            }
            if i >= own && present {
                return Ok(ObservedFirewall::Differs(vec![format!(
                    "{} is in set {set}, another limit's",
                    vm.interface
                )]));
            }
        }
        Ok(ObservedFirewall::InSync)
    }

    /// The police sets of table `inet TABLE` that are not `vm`'s own:
    /// those its element must be taken out of (empty without the table).
    pub(crate) fn police_sets_besides(
        &self,
        table: &str,
        vm: &FirewallVm,
    ) -> Result<Vec<String>, NatError> {
        let io = |source: blixard_netlink::NetlinkError| NatError::Netlink {
            what: format!("listing the police sets of table inet {table}"),
            source: source.into(),
        };
        let mut nl = NetlinkSocket::<NfTablesMessage>::open(NETLINK_NETFILTER).map_err(io)?;
        if !table_exists(&mut nl, table).map_err(io)? {
            return Ok(Vec::new());
        }
        police_sets_besides(&mut nl, table, vm).map_err(io)
    }
}

fn police_sets_besides(
    nl: &mut NetlinkSocket<NfTablesMessage>,
    table: &str,
    vm: &FirewallVm,
) -> Result<Vec<String>, blixard_netlink::NetlinkError> {
    let own = vm.police.as_ref().map(|limit| limit.police_set());
    Ok(set_names(nl, table)?
        .into_iter()
        .filter(|set| set.starts_with(POLICE_SET_PREFIX) && Some(set) != own.as_ref())
        .collect())
}
