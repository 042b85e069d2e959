//! `diff` and `teardown`.

use crate::plan::{HostPlan, Ownership};
use crate::state::{Change, Conflicts, ObservedHost};

/// The ordered changes that bring `observed` to `plan`.
pub fn diff(_plan: &HostPlan, _observed: &ObservedHost) -> Result<Vec<Change>, Conflicts> {
    todo!("blixard-addr: diff")
}

/// The changes that remove everything of ours and nothing else.
pub fn teardown(_ownership: &Ownership, _observed: &ObservedHost) -> Vec<Change> {
    todo!("blixard-addr: teardown")
}
