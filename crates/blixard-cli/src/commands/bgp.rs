//! `bgp config`: this host's BIRD 2 configuration, from `[bgp]`.

use std::process::ExitCode;

use blixard_addr::bgp::{BgpPlan, bird};

use super::{Failure, Loaded};
use crate::cli::Args;

/// The BGP plan of the config, or bad input naming the missing section.
pub(super) fn bgp_plan(loaded: &Loaded) -> Result<BgpPlan, Failure> {
    loaded.validated()?.bgp().cloned().ok_or_else(|| {
        Failure::BadInput(format!(
            "{}: no [bgp] section: a BIRD configuration needs this host's asn, router_id and peers",
            loaded.source
        ))
    })
}

/// `bgp config`: what `apply` writes, every VM of the host wired.
pub fn config(args: &Args, loaded: &Loaded) -> Result<ExitCode, Failure> {
    let plan = bgp_plan(loaded)?;
    let text = bird::render(&plan, &plan.all_lone());
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "plan": plan, "bird_config": text })
        );
    } else {
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
