//! `cargo xtask ci`'s examples step: every example of the root package run
//! to completion with quick arguments and its exit status and output
//! checked, each in a throwaway network and mount namespace of its own
//! (`unshare --net --mount`, with a tmpfs over /run for the named
//! namespaces), so no example can reach this machine's network whatever it
//! does. Debug builds: `cargo test --all-targets` has just built them.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A small host: three VMs, taps owned by root, no NAT (a fresh namespace
/// has no uplink).
const CONFIG: &str = "vms = 3\nowner = \"root\"\nexternal_interface = \"none\"\n";

/// One example run: the shell script that runs it inside the throwaway
/// namespace (`$EX` is the examples directory, `$CONFIG` a config file of
/// [`CONFIG`]) and a line its output must contain.
struct Run {
    example: &'static str,
    script: &'static str,
    says: &'static str,
}

const RUNS: &[Run] = &[
    Run {
        example: "status",
        // Nothing applied yet: all of the plan is to make.
        script: r#""$EX/status" --config "$CONFIG""#,
        says: "change(s) to make, 0 conflict(s)",
    },
    Run {
        example: "another_netns",
        // Applied in a named namespace, in sync there, absent here.
        script: r#"ip netns add bx-example
"$EX/another_netns" bx-example --config "$CONFIG"
"$EX/status" --netns bx-example --config "$CONFIG"
! ip link show vm1 2>/dev/null"#,
        says: "in sync (3 VMs)",
    },
    Run {
        example: "wire_vm",
        // One round of unwire + wire of VM 2; prints the two timings.
        script: r#""$EX/wire_vm" "$CONFIG" 2 1 | tee /run/timings
grep -Eq '^[0-9]+ [0-9]+$' /run/timings && echo timings ok"#,
        says: "timings ok",
    },
    Run {
        example: "orchestrator",
        script: r#""$EX/orchestrator" web-1"#,
        says: "wired web-1 as VM 1",
    },
    Run {
        example: "minimal_vmm",
        // Relays until SIGTERM, sent once it says it is relaying.
        script: r#"ip tuntap add vm3 mode tap
ip netns add guest3
"$EX/minimal_vmm" vm3 guest3 >/run/vmm.out 2>&1 &
pid=$!
tries=0
until grep -q 'Ctrl-C to stop' /run/vmm.out; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
        cat /run/vmm.out
        exit 1
    fi
    sleep 0.1
done
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
cat /run/vmm.out
exit "$rc""#,
        says: "SIGTERM: stopped after",
    },
];

/// Builds the examples and runs each of [`RUNS`].
pub fn run_all() -> Result<()> {
    crate::run(
        "cargo build --examples",
        crate::cargo().args(["build", "-p", "blixard-examples", "--examples"]),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| crate::root().join("target"), PathBuf::from);
    let scratch = target.join("ci-examples");
    std::fs::create_dir_all(&scratch)?;
    let config = scratch.join("network.toml");
    std::fs::write(&config, CONFIG)?;
    let examples = target.join("debug/examples");
    for run in RUNS {
        eprintln!("==> example {}", run.example);
        // /run gets a tmpfs of this mount namespace's own before anything
        // else, so `ip netns add` leaves nothing behind on this machine.
        let out = Command::new("unshare")
            .args(["--net", "--mount", "--", "sh", "-euc"])
            .arg(format!(
                "mount -t tmpfs blixard-ci /run\nip link set lo up\n{}",
                run.script
            ))
            .env("EX", &examples)
            .env("CONFIG", &config)
            .output()
            .with_context(|| format!("starting example {}", run.example))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stdout.contains(run.says) {
            bail!(
                "example {} ({}), expected {:?} in its output:\n{stdout}{}",
                run.example,
                out.status,
                run.says,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    eprintln!("==> examples: {} ran, all as expected", RUNS.len());
    Ok(())
}
