//! One function per subcommand.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use blixard_addr::config::{Config, VmSelection};
use blixard_addr::error::{ConfigError, ConfigErrorKind};
use blixard_addr::plan::HostPlan;
use blixard_addr::planner::{HostFacts, build_plan, build_vm_plan};
use blixard_addr::state::Conflict;
use blixard_host::{ApplyOptions, Host, HostError};
use blixard_netns::Netns;
use clap::CommandFactory;

use crate::cli::{Args, Command};
use crate::{demo, docs, doctor, lock, output, vm};

/// The default config file.
pub const DEFAULT_CONFIG: &str = "/etc/blixard/network.toml";

/// `apply` reconciled the host except the VMs it names as left as they are
/// (a VMM holds a tap that would need recreating, ...).
pub const EXIT_LEFT_AS_IS: u8 = 4;

/// Why a command failed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input or a foreign object in the way: nothing was changed (exit 2).
    BadInput(String),
    /// A change failed (exit 1).
    Failed(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::BadInput(_) => 2,
            Failure::Failed(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BadInput(m) | Failure::Failed(m) => f.write_str(m),
        }
    }
}

impl From<HostError> for Failure {
    fn from(e: HostError) -> Self {
        if e.changed_nothing() {
            Failure::BadInput(format!("{e}\nnothing was changed"))
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

/// The config with the command-line overrides applied, and where it came from.
pub struct Loaded {
    pub config: Config,
    pub source: String,
    /// The file's text, so that errors found after parsing (by planning or
    /// against the host) still point at the line of their key.
    text: Option<String>,
    /// Config keys a flag overrode, with that flag: an error about such a
    /// key is the flag's, not the file's.
    flags: Vec<(&'static str, &'static str)>,
}

impl Loaded {
    /// Bad input about `e.key`, located at its flag or its line in the file.
    pub fn config_error(&self, e: ConfigError) -> Failure {
        if let Some(flag) = e.key.as_deref().and_then(|k| self.flag_for(k)) {
            return Failure::BadInput(format!("{flag}: {}", e.kind));
        }
        Failure::BadInput(match &self.text {
            Some(text) => e.locate(text, &self.source).to_string(),
            None => format!("{}: {e}", self.source),
        })
    }

    /// Bad input that the host reveals about `key` (an unknown user, a
    /// missing interface, a foreign route in a pool): nothing was changed.
    fn host_error(&self, key: &str, message: String) -> Failure {
        let Failure::BadInput(located) =
            self.config_error(ConfigError::at_key(key, ConfigErrorKind::Host(message)))
        else {
            unreachable!("config_error is always bad input")
        };
        Failure::BadInput(format!("{located}\nnothing was changed"))
    }

    fn flag_for(&self, key: &str) -> Option<&'static str> {
        let top = key.split(['.', '[']).next()?;
        self.flags.iter().find(|(k, _)| *k == top).map(|(_, f)| *f)
    }

    /// Turns a host error into a failure, naming the config key or flag
    /// behind it when the error is the input's fault.
    pub fn failure(&self, e: HostError) -> Failure {
        let key = match &e {
            HostError::UnknownName { key, source, .. } if !key.starts_with('$') => {
                return self.host_error(key, source.to_string());
            }
            HostError::UnmappedId { key, .. } if !key.starts_with('$') => {
                return self.host_error(key, e.to_string());
            }
            HostError::NoDefaultRoute(_) => Some("external_interface".to_string()),
            HostError::Conflicts(c) => c.0.first().map(|c| match c {
                Conflict::ForeignRoute { pool, .. } if pool.addr().is_ipv6() => "ipv6.pool".into(),
                Conflict::ForeignRoute { .. } => "ipv4.pool".into(),
                Conflict::TapFlags { field, .. } => format!("tap.{field}"),
                Conflict::TapOwnershipHeld { .. } => "owner".into(),
                Conflict::VmNotPlanned { .. } | Conflict::TapHeldUnplanned { .. } => "vms".into(),
                _ => "interface_template".into(),
            }),
            _ => None,
        };
        match key {
            Some(key) => self.host_error(&key, e.to_string()),
            None => e.into(),
        }
    }
}

pub fn load_config(args: &Args) -> Result<Loaded, Failure> {
    let path: Option<PathBuf> = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
    };
    let (mut config, source, text) = match path {
        Some(path) => {
            let text = crate::files::read_config(&path).map_err(|e| {
                Failure::BadInput(format!(
                    "cannot read config {}: {}",
                    path.display(),
                    e.reason()
                ))
            })?;
            let source = path.display().to_string();
            let config = Config::from_toml_str(&text, &source)
                .map_err(|e| Failure::BadInput(e.to_string()))?;
            (config, source, Some(text))
        }
        None => (Config::default(), "built-in defaults".to_string(), None),
    };
    let mut flags = Vec::new();
    if let Some(n) = args.vms {
        config.vms = VmSelection::Count(n);
        flags.push(("vms", "--vms"));
    }
    if let Some(user) = &args.user {
        config.owner = Some(user.clone());
        flags.push(("owner", "--user"));
    }
    if let Some(ext) = &args.external_interface {
        config.external_interface = ext.clone();
        flags.push(("external_interface", "--external-interface"));
    }
    let loaded = Loaded {
        config,
        source,
        text,
        flags,
    };
    // The file was valid on its own; the flags may not be, alone or with it.
    if !loaded.flags.is_empty() {
        loaded
            .config
            .validate()
            .map_err(|e| loaded.config_error(e))?;
    }
    Ok(loaded)
}

/// The namespace of `--netns`, checked to be a network namespace before
/// anything else is done (a file that is not one used to fail on entering,
/// saying "needs root", and a FIFO to block forever).
pub fn netns(args: &Args) -> Result<Netns, Failure> {
    let bad = |e: blixard_netns::NetnsError| Failure::BadInput(format!("--netns: {e}"));
    match &args.netns {
        None => Ok(Netns::Current),
        Some(spec) => {
            let ns: Netns = spec.parse().map_err(bad)?;
            ns.check().map_err(bad)?;
            Ok(ns)
        }
    }
}

/// Plans against the host: owner and external interface resolved for real.
pub fn host_plan(host: &Host, loaded: &Loaded) -> Result<HostPlan, Failure> {
    host_plan_for(host, loaded, None)
}

/// [`host_plan`], narrowed to one VM when `only` names it (`wire`).
fn host_plan_for(host: &Host, loaded: &Loaded, only: Option<u32>) -> Result<HostPlan, Failure> {
    let facts = host.facts(&loaded.config).map_err(|e| loaded.failure(e))?;
    if let Some(ext) = &facts.external_interface {
        check_interface_exists(host, loaded, ext)?;
    }
    plan_with(loaded, &facts, only)
}

/// A named external interface must exist: NAT and `accept_ra` through an
/// interface the host lacks would apply cleanly and silently do nothing.
fn check_interface_exists(host: &Host, loaded: &Loaded, name: &str) -> Result<(), Failure> {
    let found = blixard_netns::run_in(host.netns(), || nix::net::if_::if_nametoindex(name))
        .map_err(|e| Failure::BadInput(format!("--netns: {e}")))?;
    match found {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::ENODEV) => Err(loaded.host_error(
            "external_interface",
            format!(
                "interface {name:?} does not exist in {}; name an existing interface, \"auto\" (the default route's) or \"none\" to disable NAT",
                host.netns()
            ),
        )),
        Err(errno) => Err(Failure::Failed(format!(
            "cannot look up interface {name:?}: {}",
            std::io::Error::from(errno)
        ))),
    }
}

/// Plans without needing the host to answer (for `plan`, `addr`, `guest`,
/// `vmm`): an unresolvable "auto" external interface is left out.
pub fn offline_plan(host: &Host, loaded: &Loaded) -> Result<HostPlan, Failure> {
    let facts = match host.facts(&loaded.config) {
        Ok(facts) => facts,
        Err(HostError::NoDefaultRoute(_)) => {
            let mut config = loaded.config.clone();
            config.external_interface = "none".into();
            host.facts(&config).map_err(|e| loaded.failure(e))?
        }
        Err(e) => return Err(loaded.failure(e)),
    };
    plan_with(loaded, &facts, None)
}

/// What `down` and `unwire` need: our marks, the layout and the table's
/// name. Teardown never uses the tap owner or the uplink, so neither is
/// resolved (an owner this host cannot resolve must not keep our objects
/// in place).
fn teardown_plan(loaded: &Loaded, only: Option<u32>) -> Result<HostPlan, Failure> {
    plan_with(loaded, &HostFacts::default(), only)
}

/// The validated layout of the config (no host access needed).
pub fn layout(loaded: &Loaded) -> Result<blixard_addr::Layout, Failure> {
    Ok(plan_with(loaded, &HostFacts::default(), None)?.layout)
}

/// The plan, or with `only` the plan narrowed to that VM (per-VM commands:
/// their cost must not grow with the host).
fn plan_with(loaded: &Loaded, facts: &HostFacts, only: Option<u32>) -> Result<HostPlan, Failure> {
    match only {
        None => build_plan(&loaded.config, facts),
        Some(index) => build_vm_plan(&loaded.config, facts, index),
    }
    .map_err(|e| loaded.config_error(e))
}

/// A progress line for people watching a terminal; pipes and logs stay
/// quiet so scripts see only the result.
fn progress(message: &str) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprintln!("blixard-net: {message}…");
    }
}

fn take_lock(what: &str) -> Result<lock::Lock, Failure> {
    lock::acquire(&lock::lock_dir(), "host", what).map_err(|e| {
        let message = format!("cannot take the lock: {e}");
        match e {
            // Nothing was changed: the lock comes before any change.
            crate::files::FileError::Refused { .. } => Failure::BadInput(message),
            crate::files::FileError::Io { .. } => Failure::Failed(message),
        }
    })
}

pub fn run(args: &Args) -> Result<ExitCode, Failure> {
    let ns = netns(args)?;
    let host = Host::new(ns);
    match &args.command {
        Command::Apply {
            dry_run,
            allow_recreate,
        } => {
            let loaded = load_config(args)?;
            let plan = host_plan(&host, &loaded)?;
            let _lock = if *dry_run {
                None
            } else {
                Some(take_lock("blixard-net apply")?)
            };
            progress(&format!(
                "reconciling {} VMs in {}",
                plan.links.len(),
                host.netns()
            ));
            let outcome = host
                .apply(
                    &plan,
                    &ApplyOptions::default()
                        .with_dry_run(*dry_run)
                        .with_allow_recreate(*allow_recreate),
                )
                .map_err(|e| loaded.failure(e))?;
            output::changes(args, &outcome, *dry_run, "apply");
            Ok(if outcome.left_as_is.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_LEFT_AS_IS)
            })
        }
        Command::Down { dry_run } => {
            let loaded = load_config(args)?;
            let plan = teardown_plan(&loaded, None)?;
            let _lock = if *dry_run {
                None
            } else {
                Some(take_lock("blixard-net down")?)
            };
            progress(&format!(
                "removing everything of ours from {}",
                host.netns()
            ));
            let outcome = host.down(&plan, *dry_run).map_err(|e| loaded.failure(e))?;
            output::changes(args, &outcome, *dry_run, "down");
            Ok(ExitCode::SUCCESS)
        }
        Command::Wire { index, dry_run } | Command::Unwire { index, dry_run } => {
            let wire = matches!(args.command, Command::Wire { .. });
            let verb = if wire { "wire" } else { "unwire" };
            let loaded = load_config(args)?;
            let plan = if wire {
                host_plan_for(&host, &loaded, Some(*index))?
            } else {
                teardown_plan(&loaded, Some(*index))?
            };
            let index = plan
                .layout
                .index(*index)
                .map_err(|e| Failure::BadInput(format!("{verb} {index}: {e}")))?;
            let _lock = if *dry_run {
                None
            } else {
                Some(take_lock(&format!("blixard-net {verb}"))?)
            };
            let outcome = if wire {
                let opts = ApplyOptions::default().with_dry_run(*dry_run);
                host.wire_vm(&plan, index, &opts)
            } else {
                host.unwire_vm(&plan, index, *dry_run)
            }
            .map_err(|e| loaded.failure(e))?;
            output::changes(args, &outcome, *dry_run, verb);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            let loaded = load_config(args)?;
            let plan = host_plan(&host, &loaded)?;
            let status = host.status(&plan).map_err(|e| loaded.failure(e))?;
            output::status(args, &status);
            Ok(if status.in_sync() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        Command::Doctor => {
            let loaded = load_config(args)?;
            doctor::run(args, &host, &loaded)
        }
        Command::Plan => {
            let loaded = load_config(args)?;
            let plan = offline_plan(&host, &loaded)?;
            output::plan(args, &plan);
            Ok(ExitCode::SUCCESS)
        }
        Command::Addr { query } => {
            let loaded = load_config(args)?;
            let plan = offline_plan(&host, &loaded)?;
            let vm = plan
                .layout
                .lookup(query)
                .map_err(|e| Failure::BadInput(e.to_string()))?;
            output::vm(args, &vm);
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            print!("{}", blixard_addr::config::json_schema_string());
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Args::command(),
                "blixard-net",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Guest { index, format } => vm::guest(&load_config(args)?, *index, *format),
        Command::Vmm {
            index,
            kind,
            queues,
            vhost,
        } => vm::vmm(args, &load_config(args)?, *index, *kind, *queues, *vhost),
        Command::Alloc { name, index } => {
            vm::alloc(args, &load_config(args)?, name.as_deref(), *index)
        }
        Command::Release { what } => vm::release(what),
        Command::List => vm::list(args),
        Command::Demo => demo::run(args),
        Command::TryOpenTap { name } => doctor::try_open_tap(name),
        Command::GenerateDocs { dir } => {
            docs::generate(dir).map_err(|e| Failure::Failed(format!("{}: {e}", dir.display())))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
