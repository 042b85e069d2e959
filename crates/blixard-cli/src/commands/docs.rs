//! The commands that document the CLI itself: `schema`, `completions
//! SHELL`, and `blixard-net __generate-docs DIR`, which writes the man pages
//! and shell completions, generated from the clap definitions, and the
//! example config, written from the defaults. `cargo xtask docs` writes them
//! to `contrib/`, where a test checks they are fresh; `cargo xtask package`
//! ships them.

use std::io;
use std::path::Path;
use std::process::ExitCode;

use blixard_addr::Config;
use clap::CommandFactory;
use clap_complete::Shell;

use super::Failure;
use crate::cli::Args;

/// `schema`: the config file's JSON schema.
pub fn schema() -> Result<ExitCode, Failure> {
    print!("{}", blixard_addr::config::json_schema_string());
    Ok(ExitCode::SUCCESS)
}

/// `completions SHELL`.
pub fn completions(shell: Shell) -> Result<ExitCode, Failure> {
    write_completions(shell, &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// `__generate-docs DIR`.
pub fn generate_docs(dir: &Path) -> Result<ExitCode, Failure> {
    generate(dir).map_err(|e| Failure::Failed(format!("{}: {e}", dir.display())))?;
    Ok(ExitCode::SUCCESS)
}

fn write_completions(shell: Shell, out: &mut dyn io::Write) {
    clap_complete::generate(shell, &mut Args::command(), "blixard-net", out);
}

/// The completion files, by shell, under the names their Debian directories
/// expect.
const COMPLETIONS: &[(Shell, &str)] = &[
    (Shell::Bash, "blixard-net"),
    (Shell::Zsh, "_blixard-net"),
    (Shell::Fish, "blixard-net.fish"),
];

/// Writes `DIR/man/*.1`, `DIR/completions/*` and `DIR/network.toml.example`.
fn generate(dir: &Path) -> io::Result<()> {
    let man = dir.join("man");
    let completions = dir.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    // One page for the command and one per visible subcommand (hidden
    // ones, like `__try-open-tap` and this one, are skipped).
    clap_mangen::generate_to(Args::command(), &man)?;
    for (shell, name) in COMPLETIONS {
        let mut out = Vec::new();
        write_completions(*shell, &mut out);
        std::fs::write(completions.join(name), out)?;
    }
    std::fs::write(dir.join("network.toml.example"), example_config())?;
    Ok(())
}

/// The example `/etc/blixard/network.toml`: every default, commented out.
fn example_config() -> String {
    let mut text = String::from(
        "# /etc/blixard/network.toml: blixard-net's config.\n\
         #\n\
         # Every line below is commented out and shows the built-in default, so\n\
         # this file as it is changes nothing. Uncomment what you want to\n\
         # change; `blixard-net plan` shows the\n\
         # result and `blixard-net schema` prints the JSON schema of every key.\n\
         # Not shown (no default): owner = \"alice\" (tap owner, user name or uid;\n\
         # default $SUDO_USER, else root), group = \"kvm\" (tap group),\n\
         # [[firewall.rules]] (from, to, action, protocol, port) and\n\
         # [limits] (unlimited by default): ingress = { rate = \"100mbit\",\n\
         # burst = \"256k\" } towards every VM, egress = { rate = \"50mbit\" }\n\
         # from every VM (egress_method = \"police\", the default, drops what\n\
         # is over the rate in our nft table; \"ifb\" queues it on an ifb per\n\
         # VM), [limits.vms.vm3] for one VM's own.\n\
         # Also not shown: [[forwards]], host ports forwarded to a VM, e.g.\n\
         #   [[forwards]]\n\
         #   host_port = 8080      # on the host\n\
         #   vm = \"vm3\"           # as rules name VMs\n\
         #   port = 80             # on the VM\n\
         #   protocol = \"tcp\"     # or \"udp\"\n\
         #   address = \"192.0.2.1\" # optional: only this host address (v4 or v6)\n\
         #\n",
    );
    for line in Config::default().to_toml_string().lines() {
        if line.is_empty() {
            text.push('\n');
        } else {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}
