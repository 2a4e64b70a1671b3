//! One file per command group, as in cargo.

pub mod backup;
pub mod node;
pub mod sim;
