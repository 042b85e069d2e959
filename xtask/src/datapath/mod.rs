//! The data-path bench's traffic tool (`xtask __traffic`) and its frames.

pub mod frame;
mod spec;
#[cfg(test)]
mod tests;
pub mod traffic;
