use super::*;

#[test]
fn keys_decode_as_nft_prints_them_with_parts_in_whole_registers() {
    let key = KeyType::of(&serde_json::json!({"type": ["ifname", "ipv4_addr"]})).unwrap();
    let mut bytes = crate::nfnl::ifname("vm7");
    bytes.extend([10, 0, 0, 7]);
    assert_eq!(key.text(&bytes).as_deref(), Some("vm7 . 10.0.0.7"));
    assert_eq!(key.text(&bytes[..19]), None, "a short key is no element");

    let key = KeyType::of(&serde_json::json!({"type": ["inet_service", "ipv6_addr"]})).unwrap();
    let mut bytes = vec![0x1f, 0x90, 0, 0];
    bytes.extend("fec0::3".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(key.text(&bytes).as_deref(), Some("8080 . fec0::3"));
}

#[test]
fn interval_sets_and_unknown_types_are_left_to_the_full_listing() {
    let interval = serde_json::json!({"type": "ipv4_addr", "flags": ["interval"]});
    assert_eq!(KeyType::of(&interval), None);
    assert_eq!(
        KeyType::of(&serde_json::json!({"type": "ether_addr"})),
        None
    );
    assert_eq!(KeyType::of(&serde_json::json!({})), None);
}

#[test]
fn an_element_with_an_interval_flag_or_an_end_is_not_decoded() {
    let key = KeyType::of(&serde_json::json!({"type": "ipv4_addr"})).unwrap();
    let element = |flags: u32, end: bool| {
        let mut value = Vec::new();
        attr(&mut value, NFTA_DATA_VALUE, &[10, 0, 0, 1]);
        let mut element = Vec::new();
        attr(&mut element, NFTA_SET_ELEM_KEY, &value);
        if end {
            attr(&mut element, NFTA_SET_ELEM_KEY_END, &value);
        }
        attr(&mut element, NFTA_SET_ELEM_FLAGS, &flags.to_be_bytes());
        element
    };
    assert_eq!(
        element_text(&element(0, false), &key).as_deref(),
        Some("10.0.0.1")
    );
    assert_eq!(element_text(&element(1, false), &key), None);
    assert_eq!(element_text(&element(0, true), &key), None);
}

/// The fixtures of the crate's kernel tests (plans built by hand).
#[path = "../../tests/common/mod.rs"]
mod common;

mod kernel {
    use blixard_netns::testing::{in_fresh_netns, sh_ok};

    use super::common::{TABLE, plan, seed_rules};
    use super::*;
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
            nft.apply(&p).unwrap();
            assert!(nft.table_exists(TABLE).unwrap());
            assert!(!nft.table_exists("blixard2").unwrap());
            let read = fast(&nft).expect("our table");
            assert_eq!(read, full_listing(&nft));
            assert_eq!(read.elements["vm_v4"].len(), 300);
            assert!(read.elements["vm_v6"].contains("vm300 . fec0::12c"));
            assert!(read.elements["vm_ifaces"].contains("vm17"));

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
