//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Routed networking for microVM hosts: one tap per VM, a /32 and /128 route
/// per VM, forwarding, NAT and firewall rules in one nftables table.
#[derive(Debug, Parser)]
#[command(name = "blixard-net", version, propagate_version = true)]
pub struct Args {
    /// Config file [default: /etc/blixard/network.toml when present, else the
    /// built-in defaults: the seed's 64-VM layout].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Number of VMs (1..=N), overriding `vms` in the config.
    #[arg(long, global = true, value_name = "N")]
    pub vms: Option<u32>,
    /// Tap owner (user name or uid), overriding `owner`.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Interface towards the internet ("auto", "none" or a name), overriding
    /// `external_interface`.
    #[arg(long, global = true, value_name = "IF")]
    pub external_interface: Option<String>,
    /// Network namespace to act in: NAME (/run/netns/NAME), an absolute path,
    /// or pid:N. Default: the current one.
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub netns: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reconcile the host to the plan (create what is missing, fix drift).
    Apply {
        /// Print the change list and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Recreate idle taps whose type or multi_queue differ from the
        /// plan (never one a running VMM holds: that VM is left as it is).
        #[arg(long)]
        allow_recreate: bool,
    },
    /// Remove everything blixard-net owns (taps, addresses, routes, our nft
    /// table) and nothing else.
    Down {
        /// Print the change list and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Opens tap NAME as a VMM would and closes it (doctor runs it as the
    /// tap owner, to learn whether that user can).
    #[command(hide = true, name = "__try-open-tap")]
    TryOpenTap {
        /// The tap.
        name: String,
    },
    /// Wire one VM (its tap, addresses, routes, firewall set elements),
    /// touching no other VM: for orchestrators starting a VM.
    Wire {
        /// VM index (must be among the config's `vms`).
        index: u32,
        /// Print the change list and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove one VM's tap and firewall set elements, touching no other VM.
    Unwire {
        /// VM index.
        index: u32,
        /// Print the change list and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Compare the host with the plan; exit 3 and name each drift.
    Status,
    /// Per-VM counters: bytes and packets each way, spoofed and firewall
    /// drops (or --json).
    Stats,
    /// Serve the per-VM counters at GET /metrics in Prometheus' text format.
    Metrics {
        /// Address and port to listen on (loopback by default).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9433")]
        listen: std::net::SocketAddr,
    },
    /// Keep the host reconciled: repair drift of ours (a flushed ruleset,
    /// a deleted route, a downed tap) as the kernel and nft announce it,
    /// with `apply`'s reconcile under the lock, logging each repair on
    /// stderr; until SIGTERM or SIGINT (exit 0).
    Watch {
        /// Quiet time after the last change before repairing.
        #[arg(long, default_value_t = 150, value_name = "MS")]
        debounce_ms: u64,
        /// A full check this often even without changes (0: never).
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        interval: u64,
    },
    /// Troubleshooting checks, each PASS/WARN/FAIL with the fix.
    Doctor,
    /// The desired state as a table (or --json).
    Plan,
    /// One VM's mapping, by index, interface, IPv4, IPv6 or MAC.
    Addr {
        /// `7`, `vm7`, `10.0.0.7`, `fec0::7` or `02:00:00:00:07:01`.
        query: String,
    },
    /// The guest's network configuration.
    Guest {
        /// VM index.
        index: u32,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GuestFormat::Networkd)]
        format: GuestFormat,
    },
    /// The VMM's network arguments, consistent with the tap flags.
    Vmm {
        /// VM index.
        index: u32,
        /// Which VMM.
        #[arg(long, value_enum)]
        kind: VmmKind,
        /// Queue pairs (more than one needs `tap.multi_queue`).
        #[arg(long)]
        queues: Option<u16>,
        /// qemu's `vhost=on`: `auto` renders it only where `/dev/vhost-net`
        /// exists (qemu aborts without it).
        #[arg(long, value_enum, default_value_t = Vhost::Auto)]
        vhost: Vhost,
    },
    /// Allocate a VM index (lowest free, or --index), recorded in the state file.
    Alloc {
        /// A name for the VM (default `vm-<index>`).
        name: Option<String>,
        /// A specific index.
        #[arg(long)]
        index: Option<u32>,
    },
    /// Release an allocated index by name or number.
    Release {
        /// Name or index.
        what: String,
    },
    /// List allocated indices.
    List,
    /// Clusters routed by BGP (the `[bgp]` section).
    Bgp {
        /// What to do.
        #[command(subcommand)]
        command: BgpCommand,
    },
    /// The config file's JSON schema.
    Schema,
    /// Shell completions.
    Completions {
        /// Shell.
        shell: clap_complete::Shell,
    },
    /// Build throwaway namespaces (host, guests behind stand-in VMMs, an
    /// upstream), apply, print a connectivity matrix, tear down. Never
    /// touches this machine's own network. `--vms N` sets the guest count
    /// (default 3; with --hosts, per host, default 2).
    Demo {
        /// Build a cluster of N hosts (2..=8) on a fabric, each with its
        /// own BIRD, and probe every VM to every VM on the other hosts.
        #[arg(long, value_name = "N")]
        hosts: Option<u8>,
    },
    /// Writes the man pages, shell completions and example config into DIR
    /// (`cargo xtask docs` regenerates `contrib/` with it).
    #[command(hide = true, name = "__generate-docs")]
    GenerateDocs {
        /// Output directory.
        dir: PathBuf,
    },
}

/// `bgp` subcommands.
#[derive(Debug, Subcommand)]
pub enum BgpCommand {
    /// Print this host's BIRD 2 configuration: what `apply` writes to
    /// `bgp.bird_config` (its blocks, its VMs outside them, the sessions
    /// and their filters).
    Config,
}

/// Guest configuration formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GuestFormat {
    /// systemd-networkd `.network` file.
    Networkd,
    /// NixOS / microvm.nix snippet.
    Nixos,
    /// cloud-init network-config v2.
    CloudInit,
    /// Shell script of `ip` commands.
    Shell,
}

/// Whether qemu's tap netdev uses vhost-net.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Vhost {
    /// On where `/dev/vhost-net` exists.
    Auto,
    /// Always (the host will have `/dev/vhost-net` when the VM starts).
    On,
    /// Never.
    Off,
}

/// VMMs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VmmKind {
    /// Firecracker `network-interfaces` JSON.
    Firecracker,
    /// cloud-hypervisor `--net`.
    CloudHypervisor,
    /// qemu `-netdev`/`-device`.
    Qemu,
}
