//! Carrying a change list out in the calling thread's namespace, each run
//! of changes to its effect crate: netlink pipelined on one socket, taps
//! created together, `nft` beside the kernel changes that need no table.

use blixard_addr::state::{Change, Executor};
use blixard_nat::Nft;
use blixard_route::Session;

use crate::{HostError, joined};

/// Carries out `changes` in order in the calling thread's namespace: each run
/// of consecutive changes for the same effect crate goes to it in one call,
/// so netlink changes are pipelined on one socket.
///
/// A diff puts our firewall before anything that lets traffic in
/// ([`Change::opens_a_path`]: `up`, addresses, routes, sysctls) and after
/// the deletions and tap creation, which need no table (our rules match
/// interface names, not indexes). So the firewall run goes to `nft` on a
/// helper thread while those earlier changes are made, and the rest waits
/// for both: when `nft` refuses the table, no tap has gone up, got an
/// address or a route, and forwarding is as it was.
pub(crate) fn execute(nft: &Nft, changes: &[Change]) -> Result<(), HostError> {
    let Some(start) = changes
        .iter()
        .position(|c| c.executor() == Executor::Firewall)
    else {
        return execute_in_order(nft, changes);
    };
    let end = changes[start..]
        .iter()
        .position(|c| c.executor() != Executor::Firewall)
        .map_or(changes.len(), |n| start + n);
    let (before, firewall, after) = (&changes[..start], &changes[start..end], &changes[end..]);
    // A list not in the diff's order (something that opens a path before
    // the firewall) keeps its own order.
    if before.is_empty() || before.iter().any(Change::opens_a_path) {
        execute_in_order(nft, &changes[..end])?;
    } else {
        std::thread::scope(|scope| {
            let firewall = scope.spawn(|| execute_in_order(nft, firewall));
            let kernel = execute_in_order(nft, before);
            let firewall = joined(firewall);
            kernel.and(firewall)
        })?;
    }
    execute(nft, after)
}

/// [`execute`] without the overlap.
pub(crate) fn execute_in_order(nft: &Nft, changes: &[Change]) -> Result<(), HostError> {
    let mut session: Option<Session> = None;
    let mut start = 0;
    while start < changes.len() {
        let executor = changes[start].executor();
        let end = changes[start..]
            .iter()
            .position(|c| c.executor() != executor)
            .map_or(changes.len(), |n| start + n);
        let run = &changes[start..end];
        match executor {
            Executor::Route => {
                let session = match &mut session {
                    Some(s) => s,
                    None => session.insert(Session::new()?),
                };
                session.apply(run)?;
            }
            Executor::Tap => execute_taps(run)?,
            Executor::Firewall => run.iter().try_for_each(|c| execute_firewall(nft, c))?,
        }
        start = end;
    }
    Ok(())
}

/// Tap changes in order; consecutive creations go to
/// [`blixard_tap::create_many`] (taps) or [`blixard_tap::create_ifbs`]
/// together (one netlink socket, batched marks).
fn execute_taps(run: &[Change]) -> Result<(), HostError> {
    for group in run.chunk_by(|a, b| {
        matches!(
            (a, b),
            (Change::CreateTap { .. }, Change::CreateTap { .. })
                | (Change::CreateIfb { .. }, Change::CreateIfb { .. })
        )
    }) {
        if let [Change::CreateIfb { .. }, ..] = group {
            let ifbs: Vec<(&str, blixard_tap::LinkMark<'_>)> = group
                .iter()
                .filter_map(|c| match c {
                    Change::CreateIfb { name, group, alias } => Some((
                        name.as_str(),
                        blixard_tap::LinkMark {
                            group: *group,
                            alias,
                        },
                    )),
                    _ => None,
                })
                .collect();
            blixard_tap::create_ifbs(&ifbs)?;
            continue;
        }
        if let [Change::CreateTap { .. }, ..] = group {
            let taps: Vec<blixard_tap::NewTap<'_>> = group
                .iter()
                .filter_map(|c| match c {
                    Change::CreateTap {
                        name,
                        tap,
                        group,
                        alias,
                        mtu,
                    } => Some(blixard_tap::NewTap {
                        name,
                        tap,
                        mark: blixard_tap::LinkMark {
                            group: *group,
                            alias,
                        },
                        mtu: Some(*mtu),
                    }),
                    _ => None,
                })
                .collect();
            blixard_tap::create_many(&taps)?;
            continue;
        }
        for change in group {
            match change {
                Change::SetTapOwnership { name, owner, group } => {
                    blixard_tap::set_ownership(name, *owner, *group)?
                }
                Change::DeleteLink { name } => blixard_tap::delete(name)?,
                Change::DeleteLinkGroup { group } => blixard_tap::delete_group(*group)?,
                other => unreachable!("not a tap change: {other:?}"),
            }
        }
    }
    Ok(())
}

fn execute_firewall(nft: &Nft, change: &Change) -> Result<(), HostError> {
    match change {
        Change::ReplaceFirewall { firewall } => nft.apply(firewall)?,
        Change::DeleteFirewall { table } => nft.delete(table)?,
        Change::AddFirewallVm { table, vm } => nft.add_vm(table, vm)?,
        Change::RemoveFirewallVm { table, vm } => nft.remove_vm(table, vm)?,
        other => unreachable!("not a firewall change: {other:?}"),
    }
    Ok(())
}
