use super::*;

#[test]
fn parses_specs() {
    assert_eq!("blx".parse::<Netns>().unwrap(), Netns::Named("blx".into()));
    assert_eq!(
        "/proc/1/ns/net".parse::<Netns>().unwrap(),
        Netns::Path("/proc/1/ns/net".into())
    );
    assert_eq!("pid:42".parse::<Netns>().unwrap(), Netns::Pid(42));
    assert!("a/b".parse::<Netns>().is_err());
    assert!("pid:x".parse::<Netns>().is_err());
    assert!(matches!(
        "pid:0".parse::<Netns>(),
        Err(NetnsError::NoSuchProcess { pid: 0 })
    ));
    assert!("".parse::<Netns>().is_err());
}

#[test]
fn files_that_are_not_network_namespaces_are_named_for_what_they_are() {
    let dir = std::env::temp_dir().join(format!("blixard-netns-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let path = |p: &str| Netns::Path(p.into());
    for (ns, says) in [
        (
            path("/etc/passwd"),
            "/etc/passwd is a regular file, not a network namespace",
        ),
        (
            path("/dev/null"),
            "/dev/null is a character device, not a network namespace",
        ),
        (path("/"), "/ is a directory, not a network namespace"),
        (
            path("/proc/self/ns/mnt"),
            "is a mount namespace, not a network namespace",
        ),
        (path("/proc/self/ns/uts"), "is a UTS namespace"),
        (
            Netns::Path(fifo.clone()),
            "is a FIFO, not a network namespace",
        ),
        (Netns::Pid(999_999_999), "no process with pid 999999999"),
        (
            Netns::Named("blixard-no-such-ns".into()),
            "no network namespace named \"blixard-no-such-ns\"",
        ),
    ] {
        let e = ns.check().unwrap_err().to_string();
        assert!(e.contains(says), "{ns:?}: {e}");
        // Entering says the same, and never blocks on the FIFO.
        let e = run_in(&ns, || ()).unwrap_err().to_string();
        assert!(e.contains(says), "{ns:?}: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(Netns::Current.check().is_ok());
    assert!(path("/proc/self/ns/net").check().is_ok());
}

fn own_netns_inode() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
}

#[test]
fn new_namespace_differs_and_caller_stays() {
    let Some(inner) =
        testing::in_fresh_netns("new_namespace_differs_and_caller_stays", own_netns_inode)
    else {
        return;
    };
    let before = own_netns_inode();
    assert_ne!(inner, before, "closure ran in the caller's namespace");
    assert_eq!(own_netns_inode(), before, "caller's thread moved");
}

#[test]
fn holder_namespace_is_separate_and_reachable_by_veth() {
    testing::in_fresh_netns("holder_namespace_is_separate_and_reachable_by_veth", || {
        let peer = testing::NetnsHolder::spawn().unwrap();
        testing::sh_ok(&format!(
            "ip link add bxa type veth peer name bxb && ip link set bxb netns {} && \
             ip addr add 192.0.2.1/24 dev bxa && ip link set bxa up",
            peer.pid()
        ));
        peer.sh_ok("ip addr add 192.0.2.2/24 dev bxb && ip link set bxb up && ip link set lo up");
        assert!(!testing::sh_ok("ip -o link").contains("bxb"));
        testing::sh_ok("ping -c1 -W5 192.0.2.2");
    });
}

#[test]
fn enters_a_namespace_by_pid() {
    let Some((path_ino, holder)) = testing::in_fresh_netns("enters_a_namespace_by_pid", || {
        // Keep the namespace alive through a child process living in it.
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        (own_netns_inode(), child)
    }) else {
        return;
    };
    let mut holder = holder;
    let ns = Netns::Pid(holder.id());
    let seen = run_in(&ns, own_netns_inode).unwrap();
    holder.kill().ok();
    holder.wait().ok();
    assert_eq!(seen, path_ino);
    assert_ne!(seen, own_netns_inode());
}

fn inode_of(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

/// Runs `f` with this thread in a mount namespace of its own, made
/// private before anything is mounted (so no mount propagates out),
/// with a tmpfs over `/run` holding an empty `/run/netns`: bind mounts
/// made there by `f` (and the threads and processes it starts) vanish
/// with it and never reach this machine's `/run/netns`.
fn with_private_run<T>(f: impl FnOnce() -> T) -> T {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
    testing::sh_ok(
        "mount --make-rprivate / && mount -t tmpfs blixard-test /run && mkdir /run/netns",
    );
    f()
}

#[test]
fn enters_a_namespace_by_name() {
    let name = format!("blixard-test-{}", std::process::id());
    let Some((seen, target, caller)) =
        testing::in_fresh_netns("enters_a_namespace_by_name", || {
            with_private_run(|| {
                // What `ip netns add` makes: a bind mount of a namespace
                // file at /run/netns/NAME.
                let holder = testing::NetnsHolder::spawn().unwrap();
                let proc = format!("/proc/{}/ns/net", holder.pid());
                testing::sh_ok(&format!(
                    "touch /run/netns/{name} && mount --bind {proc} /run/netns/{name}"
                ));
                let seen = run_in(&Netns::Named(name.clone()), own_netns_inode).unwrap();
                (seen, inode_of(&proc), own_netns_inode())
            })
        })
    else {
        return;
    };
    assert_eq!(seen, target, "ran somewhere else than the named namespace");
    assert_ne!(seen, caller);
    // The name lived in the test thread's own mount namespace only.
    assert!(!std::path::Path::new("/run/netns").join(&name).exists());
}

#[test]
fn enters_a_namespace_by_path() {
    let Some(results) = testing::in_fresh_netns("enters_a_namespace_by_path", || {
        with_private_run(|| {
            let holder = testing::NetnsHolder::spawn().unwrap();
            let proc = format!("/proc/{}/ns/net", holder.pid());
            // A bind mount somewhere else than /run/netns, and the
            // holder's own /proc file.
            testing::sh_ok(&format!(
                "touch /run/blixard-test-ns && mount --bind {proc} /run/blixard-test-ns"
            ));
            let target = inode_of(&proc);
            ["/run/blixard-test-ns", proc.as_str()].map(|path| {
                let seen = run_in(&Netns::Path(path.into()), own_netns_inode).unwrap();
                (path.to_string(), seen, target, own_netns_inode())
            })
        })
    }) else {
        return;
    };
    for (path, seen, target, caller) in results {
        assert_eq!(seen, target, "{path}: ran somewhere else");
        assert_ne!(seen, caller, "{path}: ran in the caller's namespace");
    }
    assert!(!std::path::Path::new("/run/blixard-test-ns").exists());
}
