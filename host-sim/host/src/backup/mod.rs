//! Backup and restore on a host, over core's [`glitter_core::backup`] pieces:
//!
//! - [`engine`]: the pure in-memory engine (prepare a backup, a custodian's checks,
//!   the restoring device's recovery), shared by the CLI, the node and the simulator;
//! - [`files`]: what a custodian keeps on disk, crash-safe, and how many bytes;
//! - [`consent`]: whom a custodian holds backups for (the owners its operator
//!   accepted, kept in the data directory) and its custody quotas;
//! - [`owner`]: the one owner-backup flow (trust the custodians, prepare, append the
//!   manifest) over any [`owner::OwnChain`], and what an own chain says about its
//!   backups;
//! - [`catch_up`]: after a restore, the one rule for learning the real head from
//!   peers' head reports before anything is appended.

pub mod catch_up;
pub mod consent;
pub mod engine;
pub mod files;
pub mod mem_chain;
pub mod own_dir;
pub mod owner;

pub use consent::{Accepted, CustodyPolicy, CustodyQuota};
pub use engine::{
    Block, Custody, Prepared, Response, RestoreFailure, Restored, check_manifest_block,
    prepare_backup, restore,
};
pub use files::{
    CustodyUsage, block_bytes, custody_usage, delete_custody, holds_custody, parse_block,
    read_custody, stored_bytes, write_custody,
};
pub use mem_chain::MemChain;
pub use own_dir::OwnDir;
pub use owner::{
    OwnChain, custodian_trust, latest_manifest, start_backup, status_lines, untrusted_custodians,
};
