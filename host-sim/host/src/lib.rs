//! glitter on a host, below the network and the command line: the data directory
//! and its flash image file, chain files, the backup engine, account operations,
//! rendering for people, and [`os`], the one reader of the clock and OS randomness.
//!
//! No clap, libp2p or tokio here: the simulator (`glitter-sim`), the node
//! (`glitter-net`) and the CLI (`glitter`) all build on this crate. See
//! `docs/ARCHITECTURE.md`.

pub mod account;
pub mod backup;
pub mod chainfile;
pub mod claims;
pub mod datadir;
pub mod error;
pub mod feed;
pub mod flash_file;
pub mod flash_journal;
pub mod fsutil;
pub mod identity;
pub mod image_state;
pub mod os;
pub mod outbox;
pub mod passphrase;
pub mod salvage;
pub mod timeline;
pub mod verify;
pub mod zk_oom;

/// Where library code sends lines meant for a person (progress, prompts, events).
/// Libraries never print: the binary passes a sink that writes to stdout, a test one
/// that collects.
pub trait Sink: Send {
    /// Shows one line.
    fn line(&mut self, line: &str);
}

impl<F: FnMut(&str) + Send> Sink for F {
    fn line(&mut self, line: &str) {
        self(line);
    }
}
