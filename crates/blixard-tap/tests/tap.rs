//! Taps against the real kernel, each test in its own throwaway namespace.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use blixard_addr::plan::TapPlan;
use blixard_addr::state::TunInfo;
use blixard_netns::testing::{in_fresh_netns, sh_ok};
use blixard_tap::sys::{IFF_MULTI_QUEUE, IFF_NO_PI, IFF_TAP, IFF_VNET_HDR, TUN_F_CSUM};
use blixard_tap::{
    LinkMark, NewTap, OpenOptions, TapError, create, create_many, delete, delete_group, list,
    open_queues, resolve_group, resolve_user,
};
use serde_json::Value;

const GROUP: u32 = 2833;
const HELPER: &str = env!("CARGO_BIN_EXE_blixard-tap-test-helper");

fn plan(multi_queue: bool, vnet_hdr: bool, owner: Option<u32>, group: Option<u32>) -> TapPlan {
    TapPlan {
        multi_queue,
        vnet_hdr,
        owner,
        group,
        owner_required: owner.is_some(),
    }
}

fn alias(name: &str) -> String {
    format!("blixard:{name}")
}

fn mark(alias: &str) -> LinkMark<'_> {
    LinkMark {
        group: GROUP,
        alias,
    }
}

fn ip_link(name: &str) -> Value {
    let out = sh_ok(&format!("ip -d -j link show {name}"));
    let v: Value = serde_json::from_str(&out).expect("ip -j prints JSON");
    v[0].clone()
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("running ip")
        .success()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::yield_now();
    }
}

/// `ip`'s view of a tun device must equal ours.
fn assert_agrees_with_ip(name: &str, info: &TunInfo) {
    let j = ip_link(name);
    assert_eq!(j["linkinfo"]["info_kind"], "tun", "{j}");
    let d = &j["linkinfo"]["info_data"];
    assert_eq!(d["type"] == "tap", info.tap, "{d}");
    assert_eq!(d["pi"], info.pi, "{d}");
    assert_eq!(d["vnet_hdr"], info.vnet_hdr, "{d}");
    assert_eq!(d["multi_queue"], info.multi_queue, "{d}");
    assert_eq!(d["persist"], info.persist, "{d}");
    let user = d["user"].as_str().map(|u| resolve_user(u).unwrap());
    let group = d["group"].as_str().map(|g| resolve_group(g).unwrap());
    assert_eq!(user, info.owner, "{d}");
    assert_eq!(group, info.group, "{d}");
    if info.multi_queue {
        assert_eq!(d["numqueues"].as_u64(), Some(u64::from(info.queues)), "{d}");
    }
}

#[test]
fn create_marks_the_tap_and_list_reads_back_what_was_asked() {
    in_fresh_netns(
        "create_marks_the_tap_and_list_reads_back_what_was_asked",
        || {
            let nobody = resolve_user("nobody").unwrap();
            let mq = plan(true, true, Some(nobody), Some(65534));
            let sq = plan(false, false, None, None);
            create("vm1", &mq, mark(&alias("vm1"))).unwrap();
            create("vm2", &sq, mark(&alias("vm2"))).unwrap();
            sh_ok("ip tuntap add tun0 mode tun && ip link add veth0 type veth peer name veth1");

            let taps = list().unwrap();
            let vm1 = TunInfo {
                tap: true,
                pi: false,
                vnet_hdr: true,
                multi_queue: true,
                persist: true,
                owner: Some(nobody),
                group: Some(65534),
                queues: 0,
            };
            let vm2 = TunInfo {
                tap: true,
                pi: false,
                vnet_hdr: false,
                multi_queue: false,
                persist: true,
                owner: None,
                group: None,
                queues: 0,
            };
            assert_eq!(taps["vm1"], vm1);
            assert_eq!(taps["vm2"], vm2);
            assert!(!taps["tun0"].tap, "an L3 tun device is listed as tun");
            assert!(
                !taps.contains_key("veth0"),
                "only tun/tap devices are listed"
            );
            for (name, info) in [("vm1", &vm1), ("vm2", &vm2), ("tun0", &taps["tun0"])] {
                assert_agrees_with_ip(name, info);
            }
            for name in ["vm1", "vm2"] {
                let j = ip_link(name);
                assert_eq!(j["group"], GROUP.to_string(), "{j}");
                assert_eq!(j["ifalias"], alias(name), "{j}");
            }

            let again = create("vm1", &sq, mark(&alias("vm1"))).unwrap_err();
            assert!(matches!(again, TapError::AlreadyExists { .. }), "{again}");
            assert!(again.to_string().contains("vm1"), "{again}");
            let veth = create("veth0", &sq, mark(&alias("veth0"))).unwrap_err();
            assert!(matches!(veth, TapError::AlreadyExists { .. }), "{veth}");
            assert_eq!(ip_link("veth0")["linkinfo"]["info_kind"], "veth");
        },
    );
}

/// Runs the helper as `uid:gid` without supplementary groups. Some machines
/// keep /dev/net/tun at 0600, so the helper gets a private mount namespace
/// with a 0666 node, as a VMM host has; the tap's own owner/group check is
/// what the test is about. The helper inherits this thread's network namespace.
fn helper_open(uid: u32, gid: u32, name: &str) -> (bool, String) {
    let script = "mount -t tmpfs none /dev/net && mknod -m 666 /dev/net/tun c 10 200 && \
                  exec setpriv --reuid=\"$1\" --regid=\"$2\" --clear-groups \"$3\" open \"$4\" 1";
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .args([&uid.to_string(), &gid.to_string(), HELPER, name])
        .output()
        .expect("running unshare/setpriv");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn owner_and_group_grant_access_and_other_uids_get_eperm() {
    in_fresh_netns(
        "owner_and_group_grant_access_and_other_uids_get_eperm",
        || {
            let nobody = resolve_user("nobody").unwrap();
            create(
                "vm1",
                &plan(false, false, Some(nobody), None),
                mark(&alias("vm1")),
            )
            .unwrap();
            create(
                "vm2",
                &plan(false, false, None, Some(65534)),
                mark(&alias("vm2")),
            )
            .unwrap();

            let (ok, out) = helper_open(nobody, 65534, "vm1");
            assert!(
                ok && out.starts_with("ok 1"),
                "nobody could not open its tap: {out}"
            );
            let (ok, out) = helper_open(65533, 65533, "vm1");
            assert!(!ok, "uid 65533 opened nobody's tap: {out}");
            assert!(out.contains(&format!("errno={}", libc::EPERM)), "{out}");
            assert!(
                out.contains("needs CAP_NET_ADMIN") && out.contains("vm1"),
                "{out}"
            );

            let (ok, out) = helper_open(65533, 65534, "vm2");
            assert!(ok, "a member of the tap's group could not open it: {out}");
            let (ok, out) = helper_open(65533, 65533, "vm2");
            assert!(
                !ok && out.contains(&format!("errno={}", libc::EPERM)),
                "{out}"
            );
        },
    );
}

#[test]
fn multi_queue_tap_opens_four_queues_and_mismatched_opens_name_both_sides() {
    in_fresh_netns(
        "multi_queue_tap_opens_four_queues_and_mismatched_opens_name_both_sides",
        || {
            create("vm1", &plan(true, true, None, None), mark(&alias("vm1"))).unwrap();
            let opts = OpenOptions {
                vnet_hdr: true,
                multi_queue: true,
                vnet_hdr_size: Some(12),
                offloads: Some(TUN_F_CSUM),
            };
            let fds = open_queues("vm1", 4, &opts).unwrap();
            assert_eq!(fds.len(), 4);
            assert_eq!(list().unwrap()["vm1"].queues, 4);
            assert_agrees_with_ip("vm1", &list().unwrap()["vm1"]);
            for fd in &fds {
                let (name, flags) = blixard_tap::attached(fd.as_fd()).unwrap();
                assert_eq!(name, "vm1");
                let want = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
                assert_eq!(flags & want, want, "flags {flags:#x}");
                let fl = nix::fcntl::fcntl(fd, nix::fcntl::F_GETFL).unwrap();
                assert_ne!(fl & libc::O_NONBLOCK, 0, "queue fd is blocking");
                let fdfl = nix::fcntl::fcntl(fd, nix::fcntl::F_GETFD).unwrap();
                assert_ne!(fdfl & libc::FD_CLOEXEC, 0, "queue fd leaks into children");
            }
            assert_eq!(blixard_tap::vnet_hdr_size(fds[0].as_fd()).unwrap(), 12);

            let single = OpenOptions {
                multi_queue: false,
                ..opts
            };
            let err = open_queues("vm1", 1, &single).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, TapError::OpenMismatch { .. }), "{msg}");
            assert!(
                msg.contains("vm1")
                    && msg.contains("multi_queue=true")
                    && msg.contains("multi_queue=false"),
                "{msg}"
            );
            let no_vnet = OpenOptions {
                vnet_hdr: false,
                ..opts
            };
            drop(fds);
            wait_until("vm1's queues to detach", || {
                list().unwrap()["vm1"].queues == 0
            });
            // vnet_hdr is per attach: the opener's choice rewrites the tap
            // (QEMU's vnet_hdr=off), and the tap keeps it after the close.
            let fds = open_queues("vm1", 2, &no_vnet).unwrap();
            let (_, flags) = blixard_tap::attached(fds[0].as_fd()).unwrap();
            assert_eq!(flags & IFF_VNET_HDR, 0, "flags {flags:#x}");
            assert!(!list().unwrap()["vm1"].vnet_hdr);
            drop(fds);
            wait_until("vm1's queues to detach", || {
                list().unwrap()["vm1"].queues == 0
            });
            assert!(
                !list().unwrap()["vm1"].vnet_hdr,
                "the last opener's value stays"
            );

            // Single-queue: one VMM at a time.
            create("vm2", &plan(false, false, None, None), mark(&alias("vm2"))).unwrap();
            let plain = OpenOptions::default();
            let held = open_queues("vm2", 1, &plain).unwrap();
            assert_eq!(list().unwrap()["vm2"].queues, 1);
            let err = open_queues("vm2", 1, &plain).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EBUSY), "{err}");
            assert!(
                err.to_string()
                    .contains("a VMM holds single-queue tap vm2 open"),
                "{err}"
            );
            let err = open_queues("vm2", 2, &plain).unwrap_err();
            assert!(matches!(err, TapError::Queues { queues: 2, .. }), "{err}");
            drop(held);
            open_queues("vm2", 1, &plain).expect("reopening after the VMM let go");

            let err = open_queues("nope0", 1, &plain).unwrap_err();
            assert!(matches!(err, TapError::NotFound { .. }), "{err}");
        },
    );
}

#[test]
fn delete_group_removes_ours_and_leaves_foreign_links() {
    in_fresh_netns("delete_group_removes_ours_and_leaves_foreign_links", || {
        let p = plan(false, false, None, None);
        create("vm1", &p, mark(&alias("vm1"))).unwrap();
        create("vm2", &plan(true, false, None, None), mark(&alias("vm2"))).unwrap();
        sh_ok(
            "ip tuntap add vm9 mode tap && ip link set vm9 group 7 && \
             ip link add veth0 type veth peer name veth1",
        );

        delete_group(GROUP).unwrap();
        let left: Vec<String> = list().unwrap().into_keys().collect();
        assert_eq!(left, ["vm9"]);
        assert!(link_exists("veth0") && link_exists("lo"));

        delete_group(GROUP).expect("an empty group is not an error");
        assert!(matches!(delete_group(0), Err(TapError::DefaultGroup)));
        assert!(link_exists("veth0") && link_exists("lo"));

        delete("vm9").unwrap();
        assert!(!link_exists("vm9"));
        assert!(matches!(delete("vm9"), Err(TapError::NotFound { .. })));
    });
}

#[test]
fn a_creator_killed_before_persist_leaves_no_tap() {
    in_fresh_netns("a_creator_killed_before_persist_leaves_no_tap", || {
        let spawn = |name: &str| {
            let mut child = Command::new(HELPER)
                .args(["create-pause", name])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawning the helper");
            let mut out = BufReader::new(child.stdout.take().unwrap());
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "paused");
            (child, out)
        };

        let (mut child, _out) = spawn("vm4");
        let info = list().unwrap()["vm4"].clone();
        assert!(!info.persist, "persistent before the last step");
        let j = ip_link("vm4");
        assert_eq!(
            (j["group"].as_str(), j["ifalias"].as_str()),
            (Some("2833"), Some("blixard:vm4"))
        );
        child.kill().unwrap();
        child.wait().unwrap();
        wait_until("vm4 to vanish with its creator", || {
            !list().unwrap().contains_key("vm4")
        });
        assert!(!link_exists("vm4"));

        // Let the same step run to the end: the tap stays, persistent.
        let (mut child, mut out) = spawn("vm5");
        drop(child.stdin.take());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ok");
        assert!(child.wait().unwrap().success());
        assert!(list().unwrap()["vm5"].persist);
    });
}

#[test]
fn names_resolve_and_features_are_reported() {
    assert_eq!(resolve_user("nobody").unwrap(), 65534);
    assert_eq!(resolve_user("root").unwrap(), 0);
    assert_eq!(resolve_user("1234").unwrap(), 1234);
    assert_eq!(resolve_group("root").unwrap(), 0);
    assert_eq!(resolve_group("4321").unwrap(), 4321);
    let err = resolve_user("no-such-user-blx").unwrap_err();
    assert!(
        matches!(err, TapError::UnknownUser { .. }) && err.to_string().contains("no-such-user-blx")
    );
    let err = resolve_group("no-such-group-blx").unwrap_err();
    assert!(matches!(err, TapError::UnknownGroup { .. }), "{err}");

    // Opening /dev/net/tun changes nothing; it needs no namespace.
    let feats = blixard_tap::features().unwrap();
    assert!(feats.supports(IFF_TAP | IFF_NO_PI), "{feats:?}");
    assert!(feats.vnet_hdr() && feats.multi_queue(), "{feats:?}");
}

/// The taps of ours `ip` shows: name -> (alias, persistent).
fn ours_by_ip() -> std::collections::BTreeMap<String, (String, bool)> {
    let v: Value =
        serde_json::from_str(&sh_ok(&format!("ip -d -j link show group {GROUP}"))).unwrap();
    // `ip` prints `{}` for each link the group filter leaves out.
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|l| Some((l, l["ifname"].as_str()?)))
        .map(|(l, name)| {
            (
                name.to_string(),
                (
                    l["ifalias"].as_str().unwrap_or_default().to_string(),
                    l["linkinfo"]["info_data"]["persist"] == true,
                ),
            )
        })
        .collect()
}

#[test]
fn create_many_marks_every_tap_and_stops_cleanly_at_a_failure() {
    in_fresh_netns("create_many_marks_every_tap", || {
        // More than one window (128), so the batching boundaries are crossed.
        let names: Vec<String> = (1..=300).map(|i| format!("vm{i}")).collect();
        let aliases: Vec<String> = names.iter().map(|n| alias(n)).collect();
        let p = plan(false, true, Some(0), None);
        fn taps<'a>(names: &'a [String], aliases: &'a [String], p: &'a TapPlan) -> Vec<NewTap<'a>> {
            names
                .iter()
                .zip(aliases)
                .map(|(name, a)| NewTap {
                    name,
                    tap: p,
                    mark: mark(a),
                    mtu: Some(9000),
                })
                .collect()
        }
        create_many(&taps(&names, &aliases, &p)).unwrap();
        let ours = ours_by_ip();
        assert_eq!(ours.len(), 300);
        for (name, a) in names.iter().zip(&aliases) {
            assert_eq!(ours[name], (a.clone(), true), "{name}");
        }
        assert!(list().unwrap()["vm300"].vnet_hdr);
        // The MTU goes with the mark, before the tap is persistent.
        assert_eq!(ip_link("vm300")["mtu"], 9000);
        assert_eq!(ip_link("vm1")["mtu"], 9000);
        delete_group(GROUP).unwrap();

        // A foreign vm200 in the way: vm1..vm199 made, nothing from vm200 on.
        sh_ok("ip tuntap add vm200 mode tap");
        let e = create_many(&taps(&names, &aliases, &p)).unwrap_err();
        assert!(
            matches!(&e, TapError::AlreadyExists { name, .. } if name == "vm200"),
            "{e}"
        );
        // The taps after the failure were marked in the same batch; they go
        // when their fds close, which the kernel may finish a moment later.
        wait_until("vm201..vm300 to lose their marks with their fds", || {
            ours_by_ip().len() == 199
        });
        let ours = ours_by_ip();
        assert!(ours.values().all(|(_, persist)| *persist));
        assert!(ours.contains_key("vm199") && !ours.contains_key("vm201"));
        wait_until("vm201..vm300 to vanish with their fds", || {
            list().unwrap().len() == 200
        });
        delete_group(GROUP).unwrap();

        // A mark the kernel refuses (alias over 255 bytes) on vm150: the
        // taps before it persist, it and those after it vanish unmarked.
        let mut bad = aliases.clone();
        bad[149] = "x".repeat(300);
        let e = create_many(&taps(&names, &bad, &p)).unwrap_err();
        assert!(e.to_string().contains("vm150"), "{e}");
        // ERANGE or EINVAL, depending on the kernel's attribute policy.
        assert!(e.raw_os_error().is_some(), "{e}");
        wait_until("vm150..vm300 to lose their marks with their fds", || {
            ours_by_ip().len() == 149
        });
        let ours = ours_by_ip();
        assert!(ours.values().all(|(_, persist)| *persist));
        wait_until("the unmarked taps to vanish", || {
            list().unwrap().len() == 150
        });
    });
}
