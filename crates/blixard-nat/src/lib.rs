//! blixard-nat (work in progress).
#![deny(missing_docs)]
