//! Carrying out the route executor's changes: runs of one kind pipelined on
//! the session's socket, sysctl writes in its namespace.

use std::collections::{HashMap, HashSet};
use std::mem::discriminant;

use blixard_addr::state::{Change, Executor};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::LinkAttribute;

use crate::requests::request_for;
use crate::session::link_request;
use crate::{RouteError, Session};

/// Requests in flight at once, at most (fewer when the receive buffer holds
/// fewer acks): enough to keep the kernel busy, and the acks of one window
/// fit in the socket's receive buffer.
const IN_FLIGHT: usize = 256;

/// Up to this many links, [`Session::apply`] looks each up by name rather
/// than dumping every link.
const LOOKUPS_MAX: usize = 16;

/// What [`Session::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyReport {
    /// Route-executor changes carried out (others in the list are skipped).
    pub applied: usize,
}

impl Session {
    /// Carries out the [`Executor::Route`] changes in list order (others are
    /// skipped). Runs of the same kind go out together with many requests in
    /// flight on the one socket. Every failure of a run is reported, then
    /// apply stops.
    pub fn apply(&mut self, changes: &[Change]) -> Result<ApplyReport, RouteError> {
        let ours: Vec<&Change> = changes
            .iter()
            .filter(|c| c.executor() == Executor::Route)
            .collect();
        let index = self.link_index(
            ours.iter()
                .flat_map(|c| link_of(c).into_iter().chain(redirect_target(c)))
                .collect(),
        )?;
        let mut applied = 0;
        for run in ours.chunk_by(|a, b| discriminant(*a) == discriminant(*b)) {
            let results = if matches!(run[0], Change::SetSysctl { .. }) {
                self.write_sysctls(run)?
            } else {
                self.pipeline(run, &index)?
            };
            let mut failures = Vec::new();
            for r in results {
                match r {
                    Ok(()) => applied += 1,
                    Err(e) => failures.push(e),
                }
            }
            if !failures.is_empty() {
                return Err(RouteError::Apply { applied, failures });
            }
        }
        Ok(ApplyReport { applied })
    }

    /// Brings a link up by name.
    pub fn set_up(&mut self, name: &str) -> Result<(), RouteError> {
        let change = Change::LinkUp {
            name: name.to_string(),
        };
        self.apply(std::slice::from_ref(&change))
            .map(|_| ())
            .map_err(|e| match e {
                RouteError::Apply { mut failures, .. } if failures.len() == 1 => failures.remove(0),
                e => e,
            })
    }

    /// The ifindex of each of `names` that exists. A few links (one VM
    /// wired) are looked up by name, so the cost does not grow with the
    /// host; many come from one dump.
    fn link_index(&mut self, names: HashSet<&str>) -> Result<HashMap<String, u32>, RouteError> {
        if names.len() > LOOKUPS_MAX {
            return Ok(self
                .links()?
                .into_iter()
                .map(|l| (l.name, l.index))
                .collect());
        }
        let mut index = HashMap::new();
        for name in names {
            let mut request = link_request();
            request
                .attributes
                .push(LinkAttribute::IfName(name.to_string()));
            if let Some(RouteNetlinkMessage::NewLink(l)) =
                self.get(RouteNetlinkMessage::GetLink(request), name)?
            {
                index.insert(name.to_string(), l.header.index);
            }
        }
        Ok(index)
    }

    /// One run of netlink changes, pipelined: the outcome of each.
    fn pipeline(
        &mut self,
        run: &[&Change],
        index: &HashMap<String, u32>,
    ) -> Result<Vec<Result<(), RouteError>>, RouteError> {
        let mut results = Vec::new();
        let mut requests = Vec::new();
        for c in run {
            match request_for(c, index) {
                Ok(r) => requests.push(r),
                Err(e) => results.push(Err(e)),
            }
        }
        let count = requests.len();
        let answers = self.socket.pipeline(requests, IN_FLIGHT).map_err(|e| {
            if e.is_overrun() {
                RouteError::Overrun {
                    during: format!("{count} change(s) starting with {}", run[0]),
                }
            } else {
                e.into()
            }
        })?;
        results.extend(answers.into_iter().map(|a| a.map_err(RouteError::from)));
        Ok(results)
    }

    /// One run of sysctl writes, in the session's namespace.
    fn write_sysctls(&self, run: &[&Change]) -> Result<Vec<Result<(), RouteError>>, RouteError> {
        let writes: Vec<(String, String)> = run
            .iter()
            .filter_map(|c| match c {
                Change::SetSysctl { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect();
        self.in_netns(move || {
            Ok(writes
                .iter()
                .map(|(k, v)| crate::write_sysctl(k, v))
                .collect())
        })
    }
}

/// The second link a change names: the ifb a redirect sends to.
fn redirect_target(change: &Change) -> Option<&str> {
    match change {
        Change::AddRedirect { ifb, .. } => Some(ifb),
        _ => None,
    }
}

/// The link a route-executor change acts on.
fn link_of(change: &Change) -> Option<&str> {
    match change {
        Change::SetLink { name, .. }
        | Change::AddNoqueue { name }
        | Change::SetLimit { name, .. }
        | Change::DeleteLimit { name }
        | Change::AddIngressQdisc { name }
        | Change::AddRedirect { name, .. }
        | Change::DeleteIngressQdisc { name }
        | Change::LinkUp { name } => Some(name),
        Change::AddAddress { interface, .. }
        | Change::DeleteAddress { interface, .. }
        | Change::AddRoute { interface, .. }
        | Change::DeleteRoute { interface, .. }
        | Change::AddProxyNeighbour { interface, .. }
        | Change::DeleteProxyNeighbour { interface, .. } => Some(interface),
        _ => None,
    }
}
