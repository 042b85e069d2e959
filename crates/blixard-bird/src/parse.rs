//! birdc's replies as values: the protocol table and route listings.

use ipnet::IpNet;
use serde::Serialize;

/// One line of `show protocols`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Protocol {
    /// Its name, e.g. `blixard_peer_198_51_100_1`.
    pub name: String,
    /// Its kind: `BGP`, `Kernel`, `Static`, `Device`, ...
    pub kind: String,
    /// BIRD's state: `up`, `start`, `stop`, `down`, ...
    pub state: String,
    /// The info column: a BGP session's state (`Established`, `Active`,
    /// `Connect`, ...) and its last error (`Socket: Connection refused`).
    pub info: String,
}

/// birdc's output without its greeting (`BIRD 2.0.12 ready.`) and the
/// `Access restricted` notice of a restricted socket.
pub(crate) fn reply(output: &str) -> String {
    output
        .lines()
        .filter(|l| {
            !(l.starts_with("BIRD ") && l.ends_with(" ready.")) && *l != "Access restricted"
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The rows of `show protocols`: `Name Proto Table State Since Info...`,
/// split on whitespace (names are wider than BIRD's columns). The `Since`
/// column is one word in BIRD's default time format, which our
/// configuration keeps.
pub(crate) fn protocols(reply: &str) -> Vec<Protocol> {
    reply
        .lines()
        .filter(|l| !l.starts_with("Name ") && !l.trim().is_empty())
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_string();
            let kind = words.next()?.to_string();
            let _table = words.next()?;
            let state = words.next()?.to_string();
            let _since = words.next();
            let info = words.collect::<Vec<_>>().join(" ");
            Some(Protocol {
                name,
                kind,
                state,
                info,
            })
        })
        .collect()
}

/// The prefixes of a route listing (`show route ...`): each route's first
/// line starts with its prefix; lines below it (next hops, attributes,
/// further routes of the same prefix) are indented.
pub(crate) fn route_prefixes(reply: &str) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = reply
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_table_as_rows() {
        let text = reply(
            "BIRD 2.0.12 ready.\n\
             Name       Proto      Table      State  Since         Info\n\
             blixard_device Device     ---        up     15:21:33.240  \n\
             blixard_kernel4 Kernel     master4    up     15:21:33.240  \n\
             blixard_peer_198_51_100_1 BGP        ---        up     15:23:01.340  Established   \n\
             blixard_peer_198_51_100_3 BGP        ---        start  2025-11-30    Active        Socket: Connection refused\n",
        );
        let rows = protocols(&text);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].kind, "Device");
        assert_eq!(rows[0].info, "");
        assert_eq!(
            rows[2],
            Protocol {
                name: "blixard_peer_198_51_100_1".into(),
                kind: "BGP".into(),
                state: "up".into(),
                info: "Established".into(),
            }
        );
        assert_eq!(rows[3].state, "start");
        assert_eq!(rows[3].info, "Active Socket: Connection refused");
    }

    #[test]
    fn a_route_listing_as_its_prefixes() {
        let text = reply(
            "BIRD 2.0.12 ready.\n\
             Table master4:\n\
             10.0.0.128/26        unicast [p2 15:23:01.416] * (100) [i]\n\
             \tvia 198.51.100.2 on bxa\n\
             10.0.0.64/26         blackhole [s4 15:21:33.240] * (200)\n\
             \n\
             Table master6:\n\
             fd00:b1::80/122      unicast [p2 15:23:01.460 from 198.51.100.2] * (100) [i]\n\
             \tvia fd51::2 on bxa\n\
             \x20                    unicast [p3 15:23:01.460 from 198.51.100.3] (100) [i]\n",
        );
        let prefixes: Vec<String> = route_prefixes(&text)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            prefixes,
            ["10.0.0.64/26", "10.0.0.128/26", "fd00:b1::80/122"]
        );
        assert!(route_prefixes(&reply("BIRD 2.0.12 ready.\n")).is_empty());
    }
}
