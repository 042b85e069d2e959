//! The layer against the real kernel, each test in a throwaway network
//! namespace (`in_fresh_netns`; unprivileged runs skip loudly, and fail
//! under `CI`).

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;

use blixard_netlink::{ErrorKind, NetlinkSocket, Request, protocols::NETLINK_ROUTE};
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteProtocol, RouteScope};

type Rtnl = NetlinkSocket<RouteNetlinkMessage>;

fn link_by_name(name: &str) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.into()));
    RouteNetlinkMessage::GetLink(m)
}

fn name_of(m: RouteNetlinkMessage) -> Option<String> {
    let RouteNetlinkMessage::NewLink(l) = m else {
        return None;
    };
    l.attributes.into_iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n),
        _ => None,
    })
}

fn ifindex(socket: &mut Rtnl, name: &str) -> u32 {
    match socket.get(&link_by_name(name), name).unwrap() {
        Some(RouteNetlinkMessage::NewLink(l)) => l.header.index,
        other => panic!("no link {name}: {other:?}"),
    }
}

fn add_route(destination: Ipv4Addr, oif: u32) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = AddressFamily::Inet;
    m.header.destination_prefix_length = 32;
    m.header.table = 254;
    m.header.protocol = RouteProtocol::Static;
    m.header.scope = RouteScope::Link;
    m.header.kind = netlink_packet_route::route::RouteType::Unicast;
    m.attributes
        .push(RouteAttribute::Destination(destination.into()));
    m.attributes.push(RouteAttribute::Oif(oif));
    RouteNetlinkMessage::NewRoute(m)
}

#[test]
fn a_dump_of_many_links_sees_every_one_of_them() {
    in_fresh_netns("a_dump_of_many_links", || {
        const N: usize = 600;
        sh_ok(&format!(
            "for i in $(seq 0 {}); do echo \"tuntap add bxd$i mode tap\"; done | ip -batch -",
            N - 1
        ));
        let mut socket = Rtnl::open(NETLINK_ROUTE).unwrap();
        let names = socket
            .dump(
                &RouteNetlinkMessage::GetLink(LinkMessage::default()),
                "links",
                name_of,
            )
            .unwrap();
        // lo and ours, each once (many datagrams, each message mapped).
        assert_eq!(names.len(), N + 1, "{names:?}");
        for i in [0, N / 2, N - 1] {
            assert!(names.contains(&format!("bxd{i}")));
        }
        // The socket is ready for the next one.
        assert_eq!(
            socket
                .dump(
                    &RouteNetlinkMessage::GetLink(LinkMessage::default()),
                    "links",
                    name_of
                )
                .unwrap()
                .len(),
            N + 1
        );
    });
}

#[test]
fn a_route_dump_of_a_table_that_does_not_exist_is_empty() {
    in_fresh_netns("a_route_dump_of_a_missing_table", || {
        let mut socket = Rtnl::open(NETLINK_ROUTE).unwrap();
        let mut request = RouteMessage::default();
        request.header.address_family = AddressFamily::Inet;
        request.header.table = 254;
        let routes = socket
            .dump(&RouteNetlinkMessage::GetRoute(request), "routes", Some)
            .unwrap();
        assert!(routes.is_empty(), "{routes:?}");
    });
}

#[test]
fn get_of_a_missing_link_is_none_and_of_a_present_one_its_message() {
    in_fresh_netns("get_of_a_missing_link", || {
        let mut socket = Rtnl::open(NETLINK_ROUTE).unwrap();
        assert_eq!(
            socket.get(&link_by_name("nosuch0"), "nosuch0").unwrap(),
            None
        );
        let lo = socket.get(&link_by_name("lo"), "lo").unwrap();
        assert_eq!(lo.and_then(name_of).as_deref(), Some("lo"));
    });
}

#[test]
fn a_pipeline_reports_the_one_failure_in_the_middle_and_carries_out_the_rest() {
    in_fresh_netns("a_pipeline_with_one_failure", || {
        const N: u32 = 700;
        sh_ok("ip tuntap add bxd0 mode tap && ip link set bxd0 up");
        let mut socket = Rtnl::open(NETLINK_ROUTE).unwrap();
        let oif = ifindex(&mut socket, "bxd0");
        let bad = N / 2;
        let requests: Vec<Request<RouteNetlinkMessage>> = (0..N)
            .map(|i| {
                let dst = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + i);
                let mut message = add_route(dst, oif);
                if i == bad {
                    // A gateway the link cannot reach.
                    let RouteNetlinkMessage::NewRoute(r) = &mut message else {
                        unreachable!()
                    };
                    r.header.scope = RouteScope::Universe;
                    r.attributes
                        .push(RouteAttribute::Gateway(Ipv4Addr::new(1, 2, 3, 4).into()));
                }
                Request::new(message, "add route", format!("{dst}/32"))
                    .flags(NLM_F_CREATE | NLM_F_EXCL)
            })
            .collect();
        // A window far smaller than the run: acks are read as they come.
        let answers = socket.pipeline(requests, 64).unwrap();
        assert_eq!(answers.len(), N as usize);
        for (i, a) in answers.iter().enumerate() {
            if i as u32 == bad {
                let e = a.as_ref().unwrap_err();
                assert_eq!(
                    e.errno(),
                    Some(nix::errno::Errno::ENETUNREACH as i32),
                    "{e}"
                );
                assert_eq!(e.op, "add route");
                assert_eq!(e.object, "10.1.1.94/32");
                assert_eq!(e.ext_ack(), Some("Nexthop has invalid gateway"), "{e}");
                assert!(
                    e.to_string().contains("(Nexthop has invalid gateway)"),
                    "{e}"
                );
            } else {
                assert!(a.is_ok(), "#{i}: {a:?}");
            }
        }
        let routes = sh_ok("ip -4 route show proto static | wc -l");
        assert_eq!(routes.trim(), (N - 1).to_string());

        // Again: every add now exists (EEXIST under NLM_F_EXCL), and
        // "already done" errnos count as success per request.
        let again: Vec<_> = (0..3u32)
            .map(|i| {
                let dst = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + i);
                let r = Request::new(add_route(dst, oif), "add route", dst.to_string())
                    .flags(NLM_F_CREATE | NLM_F_EXCL);
                if i == 1 {
                    r.already_done(&[nix::errno::Errno::EEXIST as i32])
                } else {
                    r
                }
            })
            .collect();
        let answers = socket.pipeline(again, 256).unwrap();
        assert_eq!(
            answers
                .iter()
                .map(|a| a.as_ref().err().and_then(|e| e.errno()))
                .collect::<Vec<_>>(),
            vec![Some(17), None, Some(17)]
        );
        // One request alone.
        let one = socket
            .request(Request::new(
                add_route(Ipv4Addr::new(10, 2, 0, 1), 9999),
                "add route",
                "x",
            ))
            .unwrap_err();
        assert!(matches!(one.kind, ErrorKind::Kernel { .. }), "{one}");
    });
}

#[test]
fn a_socket_stays_in_its_namespace_when_used_from_elsewhere() {
    let Some((home, seen, listed)) = in_fresh_netns("a_socket_stays_in_its_namespace", || {
        sh_ok("ip tuntap add bxhome mode tap");
        let ino = |p: &str| std::fs::metadata(p).unwrap().ino();
        let home = ino("/proc/thread-self/ns/net");
        let mut socket = Rtnl::open(NETLINK_ROUTE).unwrap();
        // Used from a thread in another (new) namespace.
        blixard_netns::run_in_new(move || {
            let seen = socket.in_netns(|| ino("/proc/thread-self/ns/net")).unwrap();
            let listed = socket
                .dump(
                    &RouteNetlinkMessage::GetLink(LinkMessage::default()),
                    "links",
                    name_of,
                )
                .unwrap();
            (home, seen, listed)
        })
        .unwrap()
    }) else {
        return;
    };
    assert_eq!(seen, home);
    assert!(listed.contains(&"bxhome".to_string()), "{listed:?}");
}
