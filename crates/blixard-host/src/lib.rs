//! blixard-host (work in progress).
#![deny(missing_docs)]
