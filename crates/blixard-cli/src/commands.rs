//! One function per subcommand.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use blixard_addr::config::{Config, VmSelection};
use blixard_addr::plan::HostPlan;
use blixard_addr::planner::{HostFacts, build_plan};
use blixard_host::{ApplyOptions, Host, HostError};
use blixard_netns::Netns;
use clap::CommandFactory;

use crate::cli::{Args, Command};
use crate::{demo, doctor, lock, output, vm};

/// The default config file.
pub const DEFAULT_CONFIG: &str = "/etc/blixard/network.toml";

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
}

pub fn load_config(args: &Args) -> Result<Loaded, Failure> {
    let path: Option<PathBuf> = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
    };
    let (mut config, source) = match path {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                Failure::BadInput(format!("cannot read config {}: {e}", path.display()))
            })?;
            let source = path.display().to_string();
            let config = Config::from_toml_str(&text, &source)
                .map_err(|e| Failure::BadInput(e.to_string()))?;
            (config, source)
        }
        None => (Config::default(), "built-in defaults".to_string()),
    };
    if let Some(n) = args.vms {
        config.vms = VmSelection::Count(n);
    }
    if let Some(user) = &args.user {
        config.owner = Some(user.clone());
    }
    if let Some(ext) = &args.external_interface {
        config.external_interface = ext.clone();
    }
    Ok(Loaded { config, source })
}

pub fn netns(args: &Args) -> Result<Netns, Failure> {
    match &args.netns {
        None => Ok(Netns::Current),
        Some(spec) => spec
            .parse()
            .map_err(|e: blixard_netns::NetnsError| Failure::BadInput(format!("--netns: {e}"))),
    }
}

/// Plans against the host: owner and external interface resolved for real.
pub fn host_plan(host: &Host, loaded: &Loaded) -> Result<HostPlan, Failure> {
    let facts = host.facts(&loaded.config)?;
    plan_with(loaded, &facts)
}

/// Plans without needing the host to answer (for `plan`, `addr`, `guest`,
/// `vmm`): an unresolvable "auto" external interface is left out.
pub fn offline_plan(host: &Host, loaded: &Loaded) -> Result<HostPlan, Failure> {
    let facts = match host.facts(&loaded.config) {
        Ok(facts) => facts,
        Err(HostError::NoDefaultRoute(_)) => {
            let mut config = loaded.config.clone();
            config.external_interface = "none".into();
            host.facts(&config)?
        }
        Err(e) => return Err(e.into()),
    };
    plan_with(loaded, &facts)
}

/// The validated layout of the config (no host access needed).
pub fn layout(loaded: &Loaded) -> Result<blixard_addr::Layout, Failure> {
    Ok(plan_with(loaded, &HostFacts::default())?.layout)
}

fn plan_with(loaded: &Loaded, facts: &HostFacts) -> Result<HostPlan, Failure> {
    build_plan(&loaded.config, facts)
        .map_err(|e| Failure::BadInput(format!("{}: {e}", loaded.source)))
}

fn take_lock(what: &str) -> Result<lock::Lock, Failure> {
    lock::acquire(&lock::lock_dir(), "host", what).map_err(|e| {
        Failure::Failed(format!(
            "cannot take the lock in {}: {e}",
            lock::lock_dir().display()
        ))
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
            let outcome = host.apply(
                &plan,
                &ApplyOptions {
                    dry_run: *dry_run,
                    allow_recreate: *allow_recreate,
                },
            )?;
            output::changes(args, &outcome.changes, *dry_run, "apply");
            Ok(ExitCode::SUCCESS)
        }
        Command::Down { dry_run } => {
            let loaded = load_config(args)?;
            let plan = offline_plan(&host, &loaded)?;
            let _lock = if *dry_run {
                None
            } else {
                Some(take_lock("blixard-net down")?)
            };
            let outcome = host.down(&plan, *dry_run)?;
            output::changes(args, &outcome.changes, *dry_run, "down");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            let loaded = load_config(args)?;
            let plan = host_plan(&host, &loaded)?;
            let drift = host.status(&plan)?;
            output::status(args, &drift);
            Ok(if drift.is_empty() {
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
        } => vm::vmm(args, &load_config(args)?, *index, *kind, *queues),
        Command::Alloc { name, index } => {
            vm::alloc(args, &load_config(args)?, name.as_deref(), *index)
        }
        Command::Release { what } => vm::release(what),
        Command::List => vm::list(args),
        Command::Demo => demo::run(args),
    }
}
