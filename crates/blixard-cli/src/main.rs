//! `blixard-net`: routed networking for microVM hosts.
//!
//! Thin over the libraries: parse arguments, load the config, call
//! `blixard-host`, print. Exit codes: 0 ok, 1 a change failed, 2 bad input
//! (nothing changed), 3 drift (`status`).
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod files;
mod lock;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match commands::run(&args) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("blixard-net: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
