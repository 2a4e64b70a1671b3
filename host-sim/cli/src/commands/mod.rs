//! One file per command group, as in cargo.

pub mod account;
pub mod backup;
pub mod chain;
pub mod claim;
pub mod demo;
pub mod lab;
pub mod node;
pub mod passphrase;
pub mod sim;
