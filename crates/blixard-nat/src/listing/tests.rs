use super::*;
use crate::nfnl::attr;

fn types(props: Value) -> ElementType {
    ElementType::of(&props).expect("decodable")
}

fn element(key: &[u8], data: Option<&[u8]>, flags: u32, end: bool) -> Vec<u8> {
    let value = |bytes: &[u8]| {
        let mut value = Vec::new();
        attr(&mut value, NFTA_DATA_VALUE, bytes);
        value
    };
    let mut element = Vec::new();
    attr(&mut element, NFTA_SET_ELEM_KEY, &value(key));
    if end {
        attr(&mut element, NFTA_SET_ELEM_KEY_END, &value(key));
    }
    if let Some(data) = data {
        attr(&mut element, NFTA_SET_ELEM_DATA, &value(data));
    }
    attr(&mut element, NFTA_SET_ELEM_FLAGS, &flags.to_be_bytes());
    element
}

#[test]
fn keys_decode_as_nft_prints_them_with_parts_in_whole_registers() {
    let key = KeyType::of(&serde_json::json!(["ifname", "ipv4_addr"])).unwrap();
    let mut bytes = crate::nfnl::ifname("vm7");
    bytes.extend([10, 0, 0, 7]);
    assert_eq!(key.text(&bytes).as_deref(), Some("vm7 . 10.0.0.7"));
    assert_eq!(key.text(&bytes[..19]), None, "a short key is no element");

    let key = KeyType::of(&serde_json::json!(["inet_service", "ipv6_addr"])).unwrap();
    let mut bytes = vec![0x1f, 0x90, 0, 0];
    bytes.extend("fec0::3".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(key.text(&bytes).as_deref(), Some("8080 . fec0::3"));

    let port = KeyType::of(&serde_json::json!("inet_service")).unwrap();
    assert_eq!(
        port.text(&[0, 80]).as_deref(),
        Some("80"),
        "a lone value is unpadded"
    );
    assert_eq!(port.text(&[0, 80, 0, 0]), None);
}

#[test]
fn a_maps_element_is_key_then_data_as_the_canonical_form_writes_it() {
    let map = types(serde_json::json!({
        "type": ["ipv4_addr", "inet_proto", "inet_service"],
        "map": "ipv4_addr",
    }));
    let key = [192, 0, 2, 1, 6, 0, 0, 0, 0x1f, 0x90, 0, 0];
    assert_eq!(
        element_text(&element(&key, Some(&[10, 0, 0, 3]), 0, false), &map).as_deref(),
        Some("192.0.2.1 . tcp . 8080 : 10.0.0.3")
    );
    assert_eq!(
        element_text(&element(&key, None, 0, false), &map),
        None,
        "a map element without data"
    );
    let to_port = types(serde_json::json!({
        "type": ["inet_proto", "inet_service"],
        "map": "inet_service",
    }));
    assert_eq!(
        element_text(
            &element(&[17, 0, 0, 0, 0, 53, 0, 0], Some(&[0, 22]), 0, false),
            &to_port
        )
        .as_deref(),
        Some("udp . 53 : 22")
    );
    let unknown_protocol = [192, 0, 2, 1, 132, 0, 0, 0, 0x1f, 0x90, 0, 0];
    assert_eq!(
        element_text(
            &element(&unknown_protocol, Some(&[10, 0, 0, 3]), 0, false),
            &map
        ),
        None
    );
}

#[test]
fn interval_sets_and_unknown_types_are_left_to_the_full_listing() {
    let interval = serde_json::json!({"type": "ipv4_addr", "flags": ["interval"]});
    assert_eq!(ElementType::of(&interval), None);
    assert_eq!(
        ElementType::of(&serde_json::json!({"type": "ether_addr"})),
        None
    );
    assert_eq!(
        ElementType::of(&serde_json::json!({"type": "ipv4_addr", "map": "verdict"})),
        None
    );
    assert_eq!(ElementType::of(&serde_json::json!({})), None);
}

#[test]
fn an_element_with_an_interval_flag_or_an_end_is_not_decoded() {
    let set = types(serde_json::json!({"type": "ipv4_addr"}));
    let key = [10, 0, 0, 1];
    assert_eq!(
        element_text(&element(&key, None, 0, false), &set).as_deref(),
        Some("10.0.0.1")
    );
    assert_eq!(element_text(&element(&key, None, 1, false), &set), None);
    assert_eq!(element_text(&element(&key, None, 0, true), &set), None);
}

/// The fixtures of the crate's kernel tests (plans built by hand).
#[path = "../../tests/common/mod.rs"]
mod common;

mod kernel {
    use blixard_netns::testing::{in_fresh_netns, sh_ok};

    use super::common::{HOST_EXT_V4, TABLE, plan, planned, seed_rules};
    use super::*;
    use blixard_addr::config::{ForwardConfig, Protocol};
    use blixard_addr::state::ObservedFirewall;

    fn full_listing(nft: &Nft) -> CanonTable {
        CanonTable::from_listing(&nft.list_table(TABLE).unwrap().expect("our table"))
    }

    fn fast(nft: &Nft) -> Option<CanonTable> {
        nft.read(TABLE)
            .unwrap()
            .expect("the fast read answers for the table we render")
            .1
    }

    #[test]
    fn the_fast_read_sees_what_nfts_full_listing_shows() {
        in_fresh_netns("the_fast_read_sees_what_nfts_full_listing_shows", || {
            let nft = Nft::new();
            assert_eq!(fast(&nft), None, "no table yet");
            assert!(!nft.table_exists(TABLE).unwrap());
            let mut p = plan(300, Some("lo"));
            p.rules = seed_rules();
            // A police set: its declaration and each element carry a limit.
            let limit = blixard_addr::plan::RateLimit::new(2_500_000, 25_000);
            p.police = vec![limit];
            for vm in p.vms.iter_mut().step_by(2) {
                vm.police = Some(limit);
            }
            nft.apply(&p).unwrap();
            assert!(nft.table_exists(TABLE).unwrap());
            assert!(!nft.table_exists("blixard2").unwrap());
            let read = fast(&nft).expect("our table");
            assert_eq!(read, full_listing(&nft));
            assert_eq!(read.elements["vm_v4"].len(), 300);
            assert!(read.elements["vm_v6"].contains("vm300 . fec0::12c"));
            assert!(read.elements["vm_ifaces"].contains("vm17"));
            assert_eq!(read.elements[&limit.police_set()].len(), 150);
            assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);

            sh_ok(r#"nft delete element inet blixard vm_v6 '{ "vm7" . fec0::7 }'"#);
            let read = fast(&nft).expect("our table");
            assert_eq!(read, full_listing(&nft));
            assert!(!read.elements["vm_v6"].contains("vm7 . fec0::7"));
            assert_eq!(read.elements["vm_v6"].len(), 299);

            nft.delete(TABLE).unwrap();
            assert_eq!(fast(&nft), None);
            assert!(!nft.table_exists(TABLE).unwrap());
        });
    }

    #[test]
    fn the_fast_read_sees_forwards_maps_and_counter_sets_as_the_full_listing_does() {
        in_fresh_netns(
            "the_fast_read_sees_forwards_maps_and_counter_sets_as_the_full_listing_does",
            || {
                let nft = Nft::new();
                let p = planned(5, Vec::new(), |c| {
                    c.forwards = vec![
                        ForwardConfig::new(8080, "vm3", 80, Protocol::Tcp),
                        ForwardConfig::new(5353, "vm2", 53, Protocol::Udp)
                            .at(HOST_EXT_V4.parse().unwrap()),
                    ];
                });
                nft.apply(&p).unwrap();
                let read = fast(&nft).expect("our table");
                assert_eq!(read, full_listing(&nft));
                let maps: Vec<_> = read
                    .sets
                    .iter()
                    .filter(|(_, props)| props.get("map").is_some())
                    .map(|(name, _)| name)
                    .collect();
                assert!(!maps.is_empty(), "forwards render maps");
                let map_elements: usize = maps.iter().map(|m| read.elements[*m].len()).sum();
                assert!(map_elements >= 4, "{:?}", read.elements);
                assert!(
                    read.elements.values().flatten().any(|e| e.contains(" : ")),
                    "{:?}",
                    read.elements
                );
                assert_eq!(nft.observe(&p).unwrap(), ObservedFirewall::InSync);
            },
        );
    }

    #[test]
    fn a_set_the_fast_read_cannot_decode_leaves_the_answer_to_the_full_listing() {
        in_fresh_netns(
            "a_set_the_fast_read_cannot_decode_leaves_the_answer_to_the_full_listing",
            || {
                let nft = Nft::new();
                let p = plan(3, Some("lo"));
                nft.apply(&p).unwrap();
                sh_ok(
                    "nft add set inet blixard extra '{ type ipv4_addr; flags interval; }' && \
                     nft add element inet blixard extra '{ 192.0.2.0/24 }'",
                );
                assert_eq!(nft.read(TABLE).unwrap(), None);
                match nft.observe(&p).unwrap() {
                    ObservedFirewall::Differs(d) => assert!(
                        d.iter().any(|d| d == "set extra is not in the plan"),
                        "{d:?}"
                    ),
                    other => panic!("expected the extra set as drift, got {other:?}"),
                }
            },
        );
    }
}
