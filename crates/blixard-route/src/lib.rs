//! blixard-route (work in progress).
#![deny(missing_docs)]
