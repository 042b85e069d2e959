//! Test-only helper for blixard-tap's integration tests: a separate process
//! that can run as another uid (under `setpriv`) or be killed half-way.
//!
//! * `open NAME QUEUES [mq] [vnet]`: open the tap's queues as a VMM would;
//!   prints `ok` or `error errno=N: MESSAGE` (exit 2).
//! * `create-pause NAME`: create NAME but stop right before `TUNSETPERSIST`,
//!   print `paused`, and wait for stdin to close.
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::process::ExitCode;

use blixard_addr::plan::TapPlan;
use blixard_tap::{LinkMark, OpenOptions, TapError};

fn fail(e: TapError) -> ExitCode {
    println!("error errno={}: {e}", e.raw_os_error().unwrap_or(0));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["open", name, queues, flags @ ..] => {
            let opts = OpenOptions {
                multi_queue: flags.contains(&"mq"),
                vnet_hdr: flags.contains(&"vnet"),
                ..OpenOptions::default()
            };
            let queues = queues.parse().expect("QUEUES is a number");
            match blixard_tap::open_queues(name, queues, &opts) {
                Ok(fds) => {
                    println!("ok {}", fds.len());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        ["create-pause", name] => {
            let plan = TapPlan {
                multi_queue: false,
                vnet_hdr: false,
                owner: None,
                group: None,
                owner_required: false,
            };
            let alias = format!("blixard:{name}");
            let mark = LinkMark {
                group: 2833,
                alias: &alias,
            };
            let result =
                blixard_tap::testing::create_pausing_before_persist(name, &plan, mark, || {
                    println!("paused");
                    std::io::stdout().flush().expect("flushing stdout");
                    // Block until the test kills us (or closes stdin).
                    let mut line = String::new();
                    let _ = std::io::stdin().lock().read_line(&mut line);
                });
            match result {
                Ok(()) => {
                    println!("ok");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        _ => {
            eprintln!(
                "usage: blixard-tap-test-helper open NAME QUEUES [mq] [vnet] | create-pause NAME"
            );
            ExitCode::from(64)
        }
    }
}
