//! Unit tests of the mapping, its inverse and layout validation.

use ipnet::{Ipv4Net, Ipv6Net};

use super::*;
use crate::error::LayoutError;

/// The seed's table: index, interface, IPv4, IPv6.
#[test]
fn seed_table() {
    let layout = Layout::default();
    for (index, ifname, v4, v6) in [
        (1, "vm1", "10.0.0.1", "fec0::1"),
        (2, "vm2", "10.0.0.2", "fec0::2"),
        (3, "vm3", "10.0.0.3", "fec0::3"),
        (64, "vm64", "10.0.0.64", "fec0::40"),
    ] {
        let vm = layout.vm_at(index).unwrap();
        assert_eq!(vm.interface, ifname);
        assert_eq!(vm.ipv4.to_string(), v4);
        assert_eq!(vm.ipv6.to_string(), v6);
        assert_eq!(vm.gateway_ipv4.to_string(), "10.0.0.0");
        assert_eq!(vm.gateway_ipv6.to_string(), "fec0::");
    }
    assert_eq!(
        layout.vm_at(3).unwrap().mac.to_string(),
        "02:00:00:00:03:01"
    );
    assert_eq!(mac_for(0x1ff).to_string(), "02:00:00:01:ff:01");
}

#[test]
fn reverse_lookups() {
    let layout = Layout::default();
    for query in [
        "3",
        "vm3",
        "10.0.0.3",
        "fec0::3",
        "02:00:00:00:03:01",
        " vm3 ",
    ] {
        assert_eq!(layout.lookup(query).unwrap().index.get(), 3, "{query}");
    }
    assert_eq!(layout.lookup("fec0::40").unwrap().interface, "vm64");
    for miss in [
        "vm03",
        "vm0",
        "vm256",
        "10.0.0.0",
        "10.0.1.3",
        "fec0::",
        "02:00:00:00:03:02",
        "eth0",
    ] {
        assert!(
            matches!(layout.lookup(miss), Err(LayoutError::NoSuchVm(_))),
            "{miss}"
        );
    }
    assert_eq!(
        layout.lookup("0"),
        Err(LayoutError::IndexOutOfRange { index: 0, max: 255 })
    );
}

#[test]
fn layout_validation() {
    let v4: Ipv4Net = "10.0.0.0/24".parse().unwrap();
    let v6: Ipv6Net = "fec0::/64".parse().unwrap();
    assert!(matches!(
        Layout::new("10.0.0.1/24".parse().unwrap(), v6, "vm{index}"),
        Err(LayoutError::PoolNotNetwork(_))
    ));
    assert!(matches!(
        Layout::new("10.0.0.0/31".parse().unwrap(), v6, "vm{index}"),
        Err(LayoutError::PoolTooSmall(_))
    ));
    for bad in [
        "vm",
        "{index}",
        "vm{index}{index}",
        "vm {index}",
        "vm{index}0",
    ] {
        assert!(
            matches!(
                Layout::new(v4, v6, bad),
                Err(LayoutError::BadTemplate { .. })
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        Layout::new(v4, v6, "-vm{index}"),
        Err(LayoutError::BadTemplate { reason, .. }) if reason.contains("'-'")
    ));
    let v4_16 = "10.0.0.0/16".parse().unwrap();
    assert_eq!(
        Layout::new(v4_16, v6, "microvmtaps{index}"),
        Err(LayoutError::NameTooLong {
            name: "microvmtaps65535".into(),
            max: 15
        })
    );
    assert!(Layout::new(v4_16, v6, "microvmtap{index}").is_ok());
    // The smaller of the two pools bounds the index.
    let small6 = Layout::new(v4, "fd00::/120".parse().unwrap(), "vm{index}").unwrap();
    assert_eq!(small6.max_index(), 255);
    let small6 = Layout::new(v4, "fd00::/124".parse().unwrap(), "vm{index}").unwrap();
    assert_eq!(small6.max_index(), 15);
}

#[test]
fn special_purpose_pools_are_refused_with_the_range_they_hit() {
    let v4: Ipv4Net = "10.0.0.0/24".parse().unwrap();
    let v6: Ipv6Net = "fd00:b1::/64".parse().unwrap();
    let refused = |v4: Ipv4Net, v6: Ipv6Net| match Layout::new(v4, v6, "vm{index}") {
        Err(LayoutError::SpecialPool { reason, .. }) => reason,
        other => panic!("{v4} {v6}: {other:?}"),
    };
    for (pool, range) in [
        ("0.0.0.0/24", "0.0.0.0/8"),
        ("127.0.0.0/24", "127.0.0.0/8"),
        ("127.255.255.0/30", "127.0.0.0/8"),
        ("169.254.3.0/24", "169.254.0.0/16"),
        ("224.0.0.0/24", "224.0.0.0/4"),
        ("239.255.255.0/24", "224.0.0.0/4"),
        ("240.0.0.0/24", "240.0.0.0/4"),
        ("255.255.255.0/24", "255.255.255.255/32"),
        // A pool that holds a special range overlaps it too.
        ("0.0.0.0/1", "0.0.0.0/8"),
        ("128.0.0.0/1", "169.254.0.0/16"),
    ] {
        let reason = refused(pool.parse().unwrap(), v6);
        assert!(
            reason.contains(&format!("overlaps {range},")),
            "{pool}: {reason}"
        );
    }
    for (pool, range) in [
        ("::/64", "::/127"),
        ("::/120", "::/127"),
        ("::ffff:0.0.0.0/104", "::ffff:0.0.0.0/96"),
        ("fe80::/64", "fe80::/10"),
        ("febf:ffff::/64", "fe80::/10"),
        ("ff02::/64", "ff00::/8"),
        ("fff0::/64", "ff00::/8"),
    ] {
        let reason = refused(v4, pool.parse().unwrap());
        assert!(
            reason.contains(&format!("overlaps {range},")),
            "{pool}: {reason}"
        );
    }
    // Their neighbours are ordinary unicast space.
    for pool in [
        "1.0.0.0/24",
        "126.255.255.0/24",
        "128.0.0.0/24",
        "169.253.0.0/24",
        "223.255.255.0/24",
        "192.168.0.0/24",
    ] {
        assert!(
            Layout::new(pool.parse().unwrap(), v6, "vm{index}").is_ok(),
            "{pool}"
        );
    }
    for pool in [
        "0:0:0:1::/64",
        "fec0::/64",
        "fe00::/64",
        "fec0::/10",
        "2001:db8::/64",
        "fd00::/8",
    ] {
        assert!(
            Layout::new(v4, pool.parse().unwrap(), "vm{index}").is_ok(),
            "{pool}"
        );
    }
}
