//! The data-path bench's traffic tool (`xtask __traffic`) and its frames.

pub mod frame;
#[cfg(test)]
mod tests;
pub mod traffic;
