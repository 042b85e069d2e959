//! blixard-tap (work in progress).
#![deny(missing_docs)]
