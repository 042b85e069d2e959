//! Our table read without `nft` printing its elements: `nft -t` (terse)
//! lists chains, rules and sets, and the elements come over netlink, all
//! under one ruleset generation. `nft` decodes and prints every element
//! itself, which at 4096 VMs is most of a no-op apply's listing (about
//! 130 ms of `nft` against 5 ms terse); a netlink dump of the same sets
//! costs a few milliseconds. A set whose elements this reader cannot
//! decode (intervals, key types it does not know) makes it fall back to
//! the full listing, so the answer is the same either way.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use blixard_netlink::{NetlinkError, NetlinkSocket, protocols::NETLINK_NETFILTER};
use serde_json::Value;

use crate::canon::CanonTable;
use crate::nfnl::{
    IFNAMSIZ, NFPROTO_INET, NFT_MSG_GETSETELEM, NFTA_DATA_VALUE, NFTA_LIST_ELEM,
    NFTA_SET_ELEM_DATA, NFTA_SET_ELEM_FLAGS, NFTA_SET_ELEM_KEY, NFTA_SET_ELEM_KEY_END,
    NFTA_SET_ELEM_LIST_ELEMENTS, NfTablesMessage, attributes, generation, set_elements_request,
    table_exists,
};
use crate::{NatError, Nft};

/// How often a read is started over because a transaction landed between
/// its parts, before the full listing is used instead.
const ATTEMPTS: usize = 3;

impl Nft {
    /// Whether our table `inet TABLE` exists, from one netlink `GETTABLE`
    /// (what a teardown needs to know; `nft` would load every element).
    pub fn table_exists(&self, table: &str) -> Result<bool, NatError> {
        let io = |source: NetlinkError| NatError::Netlink {
            what: format!("looking for table inet {table}"),
            source: source.into(),
        };
        let mut nl = NetlinkSocket::<NfTablesMessage>::open(NETLINK_NETFILTER).map_err(io)?;
        table_exists(&mut nl, table).map_err(io)
    }

    /// The terse listing of the ruleset and our table `inet TABLE` out of
    /// it with its elements (`None` when the table does not exist), or
    /// `None` when the fast read cannot answer (a set it cannot decode, a
    /// ruleset that kept changing): the caller then lists in full. The
    /// whole ruleset, even for our table alone: `nft -t list table` still
    /// fetches every element (55 ms at 4096 VMs), `-t list ruleset` does
    /// not (7 ms).
    pub(crate) fn read(
        &self,
        table: &str,
    ) -> Result<Option<(Value, Option<CanonTable>)>, NatError> {
        let io = |source: NetlinkError| NatError::Netlink {
            what: format!("reading the set elements of table inet {table}"),
            source: source.into(),
        };
        let mut nl = NetlinkSocket::<NfTablesMessage>::open(NETLINK_NETFILTER).map_err(io)?;
        for _ in 0..ATTEMPTS {
            let Some(before) = generation(&mut nl).map_err(io)? else {
                return Ok(None);
            };
            let ruleset = self.list_ruleset(true)?;
            let ours = CanonTable::from_ruleset(&ruleset, table);
            let ours = match ours {
                None => None,
                Some(mut canon) => {
                    if !fill_elements(&mut nl, table, &mut canon).map_err(io)? {
                        return Ok(None);
                    }
                    Some(canon)
                }
            };
            if generation(&mut nl).map_err(io)? == Some(before) {
                return Ok(Some((ruleset, ours)));
            }
        }
        Ok(None)
    }
}

/// Dumps every named set of `canon` into it; `false` when one cannot be
/// decoded here.
fn fill_elements(
    nl: &mut NetlinkSocket<NfTablesMessage>,
    table: &str,
    canon: &mut CanonTable,
) -> Result<bool, NetlinkError> {
    let mut decoded = Vec::with_capacity(canon.sets.len());
    for (name, props) in &canon.sets {
        let Some(types) = ElementType::of(props) else {
            return Ok(false);
        };
        match dump_elements(nl, table, name, &types)? {
            Some(elements) => decoded.push((name.clone(), elements)),
            None => return Ok(false),
        }
    }
    for (name, elements) in decoded {
        canon.elements.insert(name, elements);
    }
    Ok(true)
}

/// One set's elements in [`CanonTable`]'s text (`vm1 . 10.0.0.1`, a map's
/// `10.0.0.9 . tcp . 8080 : 10.0.0.3`); `None`
/// when an element is not one this reader decodes.
fn dump_elements(
    nl: &mut NetlinkSocket<NfTablesMessage>,
    table: &str,
    set: &str,
    types: &ElementType,
) -> Result<Option<BTreeSet<String>>, NetlinkError> {
    Ok(dump_set(nl, table, set, |e| element_text(e, types))?
        .map(|elements| elements.into_iter().collect()))
}

/// Every element of `set` in table `inet TABLE` (one `GETSETELEM` dump),
/// each element's attributes read by `decode`; `None` when one of them
/// could not be.
pub(crate) fn dump_set<T>(
    nl: &mut NetlinkSocket<NfTablesMessage>,
    table: &str,
    set: &str,
    decode: impl Fn(&[u8]) -> Option<T>,
) -> Result<Option<Vec<T>>, NetlinkError> {
    let request = NfTablesMessage {
        kind: NFT_MSG_GETSETELEM,
        family: NFPROTO_INET,
        attributes: set_elements_request(table, set),
    };
    let messages = nl.dump(&request, &format!("elements of set {set}"), |m| {
        Some(elements_of_message(&m.attributes, &decode))
    })?;
    let mut out = Vec::new();
    for message in messages {
        let Some(elements) = message else {
            return Ok(None);
        };
        out.extend(elements);
    }
    Ok(Some(out))
}

/// The elements one `NEWSETELEM` message carries; `None` when one is not
/// decodable.
fn elements_of_message<T>(message: &[u8], decode: impl Fn(&[u8]) -> Option<T>) -> Option<Vec<T>> {
    let mut out = Vec::new();
    for item in attributes(message) {
        let (kind, list) = item.ok()?;
        if kind != NFTA_SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for item in attributes(list) {
            let (kind, element) = item.ok()?;
            if kind != NFTA_LIST_ELEM {
                continue;
            }
            out.push(decode(element)?);
        }
    }
    Some(out)
}

fn element_text(element: &[u8], types: &ElementType) -> Option<String> {
    let mut key = None;
    let mut data = None;
    for item in attributes(element) {
        let (kind, payload) = item.ok()?;
        match kind {
            NFTA_SET_ELEM_KEY => key = Some(data_value(payload)?),
            NFTA_SET_ELEM_DATA => data = Some(data_value(payload)?),
            // An interval's end or range: printed by nft as a range, not
            // decoded here.
            NFTA_SET_ELEM_KEY_END => return None,
            NFTA_SET_ELEM_FLAGS if payload != [0, 0, 0, 0] => return None,
            // Counters, timeouts: not part of a set's membership, as in
            // the canonical form.
            _ => {}
        }
    }
    let key = types.key.text(key?)?;
    match (&types.data, data) {
        (None, None) => Some(key),
        // A map's element, as the canonical form writes it.
        (Some(data_type), Some(data)) => Some(format!("{key} : {}", data_type.text(data)?)),
        _ => None,
    }
}

/// The `NFTA_DATA_VALUE` bytes inside a key or data attribute (a verdict
/// has none).
pub(crate) fn data_value(nested: &[u8]) -> Option<&[u8]> {
    attributes(nested)
        .filter_map(Result::ok)
        .find(|(k, _)| *k == NFTA_DATA_VALUE)
        .map(|(_, v)| v)
}

/// An `ifname` key as nft prints it: the name before its zero padding.
pub(crate) fn ifname_text(bytes: &[u8]) -> Option<String> {
    Part::Ifname.text(bytes)
}

/// A set's key type and, for a map, its data type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ElementType {
    key: KeyType,
    data: Option<KeyType>,
}

impl ElementType {
    /// From a set's or map's canonical `{type, map, flags}`; `None` for an
    /// interval set or a type not decoded here.
    fn of(props: &Value) -> Option<ElementType> {
        let interval = props
            .get("flags")
            .and_then(Value::as_array)
            .is_some_and(|f| f.iter().any(|f| f == "interval"));
        if interval {
            return None;
        }
        let data = match props.get("map") {
            None => None,
            Some(data) => Some(KeyType::of(data)?),
        };
        Some(ElementType {
            key: KeyType::of(props.get("type")?)?,
            data,
        })
    }
}

/// A key (or map data) type, as far as this reader decodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyType(Vec<Part>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Ifname,
    Ipv4,
    Ipv6,
    Port,
    Protocol,
}

impl KeyType {
    /// From a type as nft's JSON names it: one name, or a concatenation.
    fn of(ty: &Value) -> Option<KeyType> {
        let parts = match ty {
            Value::String(one) => vec![Part::of(one)?],
            Value::Array(many) => many
                .iter()
                .map(|t| t.as_str().and_then(Part::of))
                .collect::<Option<_>>()?,
            _ => return None,
        };
        Some(KeyType(parts))
    }

    /// A key's bytes as nft prints the element, concatenations joined by
    /// ` . `: each part of a concatenation takes a whole number of 32-bit
    /// registers, a lone value only its own size (an `inet_service` key is
    /// 2 bytes).
    fn text(&self, bytes: &[u8]) -> Option<String> {
        if let [part] = self.0[..] {
            return (bytes.len() == part.len()).then(|| part.text(bytes))?;
        }
        let mut rest = bytes;
        let mut parts = Vec::with_capacity(self.0.len());
        for part in &self.0 {
            let len = part.len();
            parts.push(part.text(rest.get(..len)?)?);
            rest = rest.get(len.div_ceil(4) * 4..)?;
        }
        rest.is_empty().then(|| parts.join(" . "))
    }
}

impl Part {
    fn of(name: &str) -> Option<Part> {
        Some(match name {
            "ifname" => Part::Ifname,
            "ipv4_addr" => Part::Ipv4,
            "ipv6_addr" => Part::Ipv6,
            "inet_service" => Part::Port,
            "inet_proto" => Part::Protocol,
            _ => return None,
        })
    }

    fn len(self) -> usize {
        match self {
            Part::Ifname => IFNAMSIZ,
            Part::Ipv4 => 4,
            Part::Ipv6 => 16,
            Part::Port => 2,
            Part::Protocol => 1,
        }
    }

    fn text(self, bytes: &[u8]) -> Option<String> {
        Some(match self {
            Part::Ifname => {
                let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
                String::from_utf8(bytes[..end].to_vec()).ok()?
            }
            Part::Ipv4 => Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string(),
            Part::Ipv6 => Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string(),
            Part::Port => u16::from_be_bytes(<[u8; 2]>::try_from(bytes).ok()?).to_string(),
            // nft prints the names /etc/protocols gives; only the two a
            // forward names are decoded here.
            Part::Protocol => match bytes {
                [6] => "tcp".into(),
                [17] => "udp".into(),
                _ => return None,
            },
        })
    }
}

#[cfg(test)]
mod tests;
