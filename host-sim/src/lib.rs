//! glitter on a host: the local data directory, chain files, the `glitter` CLI's
//! commands, and (later) the deterministic network simulator.

pub mod backup_cli;
pub mod chainfile;
pub mod cli;
pub mod datadir;
pub mod demo;
pub mod feed;
pub mod flash_file;
pub mod node;
pub mod sim;
pub mod simcli;
