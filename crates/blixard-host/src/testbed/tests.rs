use std::net::IpAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};
use std::time::Duration;

use blixard_netns::Netns;
use blixard_netns::testing::{in_fresh_netns, sh_ok};

use super::probe::ping_result;
use super::*;

fn output(code: i32, stdout: &str, stderr: &str) -> Output {
    Output {
        status: ExitStatus::from_raw(code << 8),
        stdout: stdout.as_bytes().to_vec(),
        stderr: stderr.as_bytes().to_vec(),
    }
}

#[test]
fn only_a_ping_that_sent_its_request_is_answered_or_blocked() {
    let stats = |line: &str| format!("PING x\n\n--- x ping statistics ---\n{line}\n");
    let answered = stats("1 packets transmitted, 1 received, 0% packet loss, time 0ms");
    assert_eq!(ping_result(&output(0, &answered, "")), Ok(true));
    let lost = stats("1 packets transmitted, 0 received, 100% packet loss, time 0ms");
    assert_eq!(ping_result(&output(1, &lost, "")), Ok(false));
    let unreachable =
        stats("1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms");
    assert_eq!(ping_result(&output(1, &unreachable, "")), Ok(false));
    // Exit 1 without statistics: nsenter could not enter a namespace
    // that is gone, or could not find ping there.
    for (code, stderr) in [
        (
            1,
            "nsenter: cannot open /proc/99999/ns/net: No such file or directory",
        ),
        (
            127,
            "nsenter: failed to execute ping: No such file or directory",
        ),
        (2, "ping: connect: Network is unreachable"),
        (2, "ping: bind: Cannot assign requested address"),
    ] {
        let got = ping_result(&output(code, "", stderr));
        assert!(
            got.as_ref().is_err_and(|e| e.0.contains(stderr)),
            "{stderr}: {got:?}"
        );
    }
}

#[test]
fn probes_tell_answered_blocked_and_could_not_probe_apart() {
    in_fresh_netns(
        "probes_tell_answered_blocked_and_could_not_probe_apart",
        || {
            sh_ok(
                "ip link set lo up && ip addr add 192.0.2.1/24 dev lo && \
                 nft add table inet t && \
                 nft add chain inet t out '{ type filter hook output priority 0; policy accept; }' && \
                 nft add rule inet t out ip daddr 192.0.2.7 drop",
            );
            let here = Netns::Current;
            let blocked: IpAddr = "192.0.2.7".parse().unwrap();
            let open: IpAddr = "192.0.2.1".parse().unwrap();
            let nowhere: IpAddr = "198.51.100.1".parse().unwrap();
            let short = Duration::from_millis(300);
            assert_eq!(ping(None, open, short), Ok(true));
            assert_eq!(ping(None, blocked, short), Ok(false));
            // No route: nothing was sent, so nothing was blocked.
            assert!(ping(None, nowhere, short).is_err());
            assert!(ping_with(None, &["-I", "203.0.113.9"], open, short).is_err());

            echo_server(&here, ECHO_PORT).unwrap();
            assert_eq!(tcp_probe(&here, open, ECHO_PORT, short), Ok(Some(open)));
            assert_eq!(tcp_probe(&here, blocked, ECHO_PORT, short), Ok(None));
            // Refused: a closed port answers, but the connection is not made.
            assert_eq!(tcp_probe(&here, open, ECHO_PORT + 1, short), Ok(None));
            let gone = Netns::Path("/nonexistent/ns/net".into());
            assert!(tcp_probe(&gone, open, ECHO_PORT, short).is_err());
            // Something that is not our echo server answered: reached,
            // so never "blocked".
            let other = std::net::TcpListener::bind(("192.0.2.1", 7100)).unwrap();
            std::thread::spawn(move || {
                for s in other.incoming().flatten() {
                    drop(s);
                }
            });
            assert!(tcp_probe(&here, open, 7100, short).is_err());
        },
    );
}
