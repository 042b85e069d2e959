//! Sysctl keys: today's strings exactly, read back into their parts, and
//! nothing that could leave `/proc/sys/net`.

use std::path::PathBuf;

use super::*;

#[test]
fn keys_print_as_the_dotted_strings_and_parse_back() {
    let rp = SysctlKey::conf(Family::Ipv4, "vm3", "rp_filter").unwrap();
    let ra = SysctlKey::conf(Family::Ipv6, "eth0", "accept_ra").unwrap();
    for (key, text) in [
        (&rp, "net.ipv4.conf.vm3.rp_filter"),
        (&ra, "net.ipv6.conf.eth0.accept_ra"),
        (&SysctlKey::ipv4_forwarding(), IPV4_FORWARDING),
        (&SysctlKey::ipv6_forwarding(), IPV6_FORWARDING),
    ] {
        assert_eq!(key.to_string(), text);
        assert_eq!(text.parse::<SysctlKey>().as_ref(), Ok(key), "{text}");
    }
    for text in [
        "net.core.somaxconn",
        "net.ipv4.neigh.vm3.proxy_delay",
        "net.ipv4.conf.vm3",
    ] {
        assert_eq!(text.parse::<SysctlKey>().unwrap().to_string(), text);
    }
}

#[test]
fn only_a_real_links_key_is_per_link() {
    let key = |s: &str| s.parse::<SysctlKey>().unwrap();
    assert_eq!(
        key("net.ipv4.conf.vm3.rp_filter").per_link(),
        Some((Family::Ipv4, "vm3", "rp_filter"))
    );
    assert_eq!(
        key("net.ipv6.conf.vm-7_b.accept_ra").per_link(),
        Some((Family::Ipv6, "vm-7_b", "accept_ra"))
    );
    for host_wide in [
        IPV4_FORWARDING,
        IPV6_FORWARDING,
        "net.ipv4.conf.default.rp_filter",
        "net.core.somaxconn",
        "net.ipv4.neigh.vm3.proxy_delay",
    ] {
        assert_eq!(key(host_wide).per_link(), None, "{host_wide}");
    }
}

#[test]
fn keys_map_under_proc_sys_net_and_cannot_escape() {
    assert_eq!(
        SysctlKey::conf(Family::Ipv4, "vm7", "rp_filter")
            .unwrap()
            .proc_path(),
        PathBuf::from("/proc/sys/net/ipv4/conf/vm7/rp_filter")
    );
    assert_eq!(
        SysctlKey::ipv4_forwarding().proc_path(),
        PathBuf::from("/proc/sys/net/ipv4/ip_forward")
    );
    for (bad, reason) in [
        ("kernel.hostname", "only net.* keys are handled here"),
        ("", "only net.* keys are handled here"),
        ("net", "names no setting"),
        ("net.", "empty component (\"..\" or a trailing dot)"),
        ("net..ipv4", "empty component (\"..\" or a trailing dot)"),
        ("net.ipv4/../../kernel", "'/' is not allowed (use dots)"),
        (
            "net.ipv4.conf.a b.x",
            "components may only hold letters, digits, '_' and '-'",
        ),
        (
            "net.ipv4.ip_forward.",
            "empty component (\"..\" or a trailing dot)",
        ),
    ] {
        assert_eq!(
            bad.parse::<SysctlKey>(),
            Err(SysctlKeyError {
                key: bad.into(),
                reason
            }),
            "{bad}"
        );
    }
    for (interface, setting) in [("a.b", "x"), ("..", "x"), ("vm1", "../x"), ("", "x")] {
        let e = SysctlKey::conf(Family::Ipv4, interface, setting).unwrap_err();
        assert!(e.key.starts_with("net.ipv4.conf."), "{e}");
    }
}

#[test]
fn a_neighbour_parameter_belongs_to_its_link_but_is_no_device_setting() {
    let delay = SysctlKey::neigh(Family::Ipv6, "vm3", "proxy_delay").unwrap();
    assert_eq!(delay.to_string(), "net.ipv6.neigh.vm3.proxy_delay");
    assert_eq!("net.ipv6.neigh.vm3.proxy_delay".parse(), Ok(delay.clone()));
    assert_eq!(delay.link(), Some("vm3"));
    // The link dump's device settings are IPv4 `conf` only: a neighbour
    // parameter must never be looked up there.
    assert_eq!(delay.per_link(), None);
    assert_eq!(
        delay.per_link_neighbour(),
        Some((Family::Ipv6, "vm3", "proxy_delay"))
    );
    assert_eq!(
        "net.ipv6.conf.vm3.proxy_ndp"
            .parse::<SysctlKey>()
            .unwrap()
            .per_link_neighbour(),
        None
    );
    let key = |s: &str| s.parse::<SysctlKey>().unwrap();
    assert_eq!(key("net.ipv4.conf.vm3.rp_filter").link(), Some("vm3"));
    for host_wide in [
        "net.ipv6.neigh.default.proxy_delay",
        "net.ipv6.conf.all.proxy_ndp",
        IPV4_FORWARDING,
    ] {
        assert_eq!(key(host_wide).link(), None, "{host_wide}");
    }
    assert!(SysctlKey::neigh(Family::Ipv6, "vm/3", "proxy_delay").is_err());
}
