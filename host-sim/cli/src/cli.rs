//! The `glitter` command line: argument definitions and command dispatch.

use crate::commands;
use crate::commands::account::AccountCommand;
use anyhow::Result;
use clap::{Parser, Subcommand};
use glitter_host::datadir::DataDir;
use glitter_host::os;
use std::path::{Path, PathBuf};

/// glitter: a social network of personal blockchains.
///
/// Every person has an append-only chain of Ed25519-signed, hash-linked blocks.
/// These commands work on a local data directory.
#[derive(Debug, Parser)]
#[command(name = "glitter", version, about, long_about = None)]
pub struct Cli {
    /// Data directory (default: $GLITTER_DATA_DIR, else $XDG_DATA_HOME/glitter, else
    /// ~/.local/share/glitter).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Read the identity's passphrase from the first line of FILE (mode 0600) instead
    /// of the terminal (for unattended nodes and scripts; also $GLITTER_PASSPHRASE_FILE).
    /// With `keygen`, encrypts the new seed under it.
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    /// Read the identity's passphrase from the first line of file descriptor N.
    /// With `keygen`, encrypts the new seed under it.
    #[arg(
        long,
        global = true,
        value_name = "N",
        conflicts_with = "passphrase_file"
    )]
    pub passphrase_fd: Option<u32>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new identity (refuses to overwrite an existing one).
    Keygen {
        /// Derive the identity from this 64-hex-digit seed instead of a random one
        /// (for tests and demos; a seed is as secret as the key).
        #[arg(long, value_name = "HEX")]
        seed: Option<String>,
        /// Encrypt the seed at rest under a passphrase (Argon2id + XChaCha20-Poly1305),
        /// asked on the terminal unless --passphrase-file or --passphrase-fd is given.
        /// Every command that uses the identity then asks for it.
        #[arg(long)]
        passphrase: bool,
    },
    /// Print this data directory's identity.
    Whoami,
    /// Post, follow, unfollow, set the profile.
    #[command(flatten)]
    Account(AccountCommand),
    /// Prove a claim and append it to your chain (offline; see docs/ZK.md).
    Claim {
        /// What to claim.
        #[command(subcommand)]
        command: commands::claim::ClaimCommand,
    },
    /// Verify a claim block stored here: its proof, the set it names (post-count
    /// sets recomputed from the chains stored here) and double claims.
    VerifyClaim(commands::claim::VerifyClaimArgs),
    /// Show your chain and the chains you imported, oldest first.
    Feed,
    /// Write a chain to a chain file.
    Export {
        /// Output file.
        file: PathBuf,
        /// Whose chain (default: your own).
        #[arg(long, value_name = "AUTHOR")]
        author: Option<String>,
    },
    /// Check the data directory's flash image, read-only: records, authors, a torn
    /// tail, free space. A damaged image is an error (exit 1).
    Fsck(commands::chain::FsckArgs),
    /// Verify a chain file: print author, length and head id, or the failing block.
    Verify {
        /// The chain file.
        file: PathBuf,
    },
    /// Verify a chain file and store it (an invalid file changes nothing).
    Import {
        /// The chain file.
        file: PathBuf,
    },
    /// Back up your identity and chain to custodians, or show the latest backup.
    Backup {
        /// What to do.
        #[command(subcommand)]
        command: commands::backup::BackupCommand,
    },
    /// Restore an identity from k custodians into an empty data directory.
    Restore(commands::backup::RestoreArgs),
    /// Run the demo story: three people, real crypto, a simulated network.
    Demo,
    /// Run a simulator scenario (deterministic; prints its seed and replay command).
    Sim {
        /// The scenario.
        #[command(subcommand)]
        scenario: commands::sim::SimCommand,
    },
    /// Run the network lab: real nodes in network namespaces over emulated links
    /// (needs root; see docs/LAB.md).
    Lab {
        /// What to run.
        #[command(subcommand)]
        command: commands::lab::LabCommand,
    },
    /// Run a networked node on the data directory (rust-libp2p), or, with a
    /// subcommand, drive the node running there (see docs/NETWORK.md).
    Node(commands::node::NodeArgs),
}

/// The default data directory.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GLITTER_DATA_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("glitter");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/glitter")
}

/// Runs one command, printing to stdout.
///
/// # Errors
/// A one-line description naming the file and block where relevant.
pub fn run(cli: Cli) -> Result<()> {
    let dir = cli.data_dir.unwrap_or_else(default_data_dir);
    let source = commands::passphrase::Source::from_flags(cli.passphrase_file, cli.passphrase_fd);
    let command = match cli.command {
        Command::Keygen { seed, passphrase } => Command::Keygen {
            seed,
            passphrase: passphrase || source.is_explicit(),
        },
        c => c,
    };
    source.install();
    for line in execute(&dir, command)? {
        if !crate::say(&line) {
            break;
        }
    }
    Ok(())
}

/// Runs one command against the data directory at `dir`, returning the output lines.
///
/// # Errors
/// As [`run`].
pub fn execute(dir: &Path, command: Command) -> Result<Vec<String>> {
    match command {
        Command::Demo => return commands::demo::run(),
        Command::Sim { scenario } => return commands::sim::run(scenario),
        Command::Lab { command } => return commands::lab::run(command),
        Command::Verify { file } => return commands::chain::verify(&file),
        Command::Node(args) => {
            commands::node::run(args, dir)?;
            return Ok(Vec::new());
        }
        _ => {}
    }
    // A running node owns the image: offline commands would write behind its back.
    glitter_net::check_no_node(dir)?;
    match command {
        Command::Backup { command } => commands::backup::run_backup(dir, command, os::now_ms()),
        Command::Restore(args) => commands::backup::run_restore(dir, args),
        // Read commands create nothing and open the image read-only.
        Command::Whoami => commands::account::whoami(&DataDir::open_existing(dir)?),
        Command::Feed => commands::chain::feed(&DataDir::open_existing(dir)?),
        Command::VerifyClaim(args) => commands::claim::verify(&DataDir::open_existing(dir)?, args),
        Command::Export { file, author } => {
            commands::chain::export(&DataDir::open_existing(dir)?, &file, author)
        }
        Command::Fsck(args) => commands::chain::fsck(&DataDir::open_existing(dir)?, &args),
        command => {
            let data = DataDir::open(dir)?;
            match command {
                Command::Keygen { seed, passphrase } => {
                    commands::account::keygen(&data, seed, passphrase)
                }
                Command::Account(cmd) => commands::account::run(&data, cmd),
                Command::Claim { command } => commands::claim::run(&data, command),
                Command::Import { file } => commands::chain::import(&data, &file),
                Command::Whoami
                | Command::Feed
                | Command::VerifyClaim(_)
                | Command::Export { .. }
                | Command::Fsck(_)
                | Command::Verify { .. }
                | Command::Demo
                | Command::Sim { .. }
                | Command::Lab { .. }
                | Command::Node(_)
                | Command::Backup { .. }
                | Command::Restore(_) => Ok(Vec::new()),
            }
        }
    }
}
