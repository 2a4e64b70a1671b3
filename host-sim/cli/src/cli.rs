//! The `glitter` command line: argument definitions and command dispatch.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use glitter_host::account::{Action, author_arg};
use glitter_host::chainfile::{ChainFile, read_verified};
use glitter_host::datadir::{DataDir, ImportOutcome};
use glitter_host::{feed, os};
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
    },
    /// Print this data directory's identity.
    Whoami,
    /// Append a post to your chain.
    Post {
        /// The text (at most 512 bytes of UTF-8).
        text: String,
        /// Reply to a block, given as AUTHOR:SEQ (the block must be stored here).
        #[arg(long, value_name = "AUTHOR:SEQ")]
        reply_to: Option<String>,
    },
    /// Follow an author (appends a Follow block).
    Follow {
        /// The author's public key, 64 hex digits.
        author: String,
    },
    /// Stop following an author (appends an Unfollow block).
    Unfollow {
        /// The author's public key, 64 hex digits.
        author: String,
    },
    /// Set your profile (appends a Profile block).
    Profile {
        /// Display name (at most 64 bytes).
        #[arg(long)]
        name: String,
        /// About text (at most 256 bytes).
        #[arg(long, default_value = "")]
        about: String,
    },
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
    /// Check the data directory's flash image: records, authors, a torn tail repaired,
    /// free space.
    Fsck,
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
        command: crate::commands::backup::BackupCommand,
    },
    /// Restore an identity from k custodians into an empty data directory.
    Restore(crate::commands::backup::RestoreArgs),
    /// Run the demo story: three people, real crypto, a simulated network.
    Demo,
    /// Run a simulator scenario (deterministic; prints its seed and replay command).
    Sim {
        /// The scenario.
        #[command(subcommand)]
        scenario: crate::commands::sim::SimCommand,
    },
    /// Run a networked node on the data directory (rust-libp2p), or, with a
    /// subcommand, drive the node running there (see docs/NETWORK.md).
    Node(crate::commands::node::NodeArgs),
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
    for line in execute(&dir, cli.command)? {
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
    let mut out = Vec::new();
    match command {
        Command::Demo => return crate::demo::run(),
        Command::Backup { command } => {
            glitter_net::check_no_node(dir)?;
            return crate::commands::backup::run_backup(dir, command, os::now_ms());
        }
        Command::Restore(args) => {
            glitter_net::check_no_node(dir)?;
            return crate::commands::backup::run_restore(dir, args);
        }
        Command::Sim { scenario } => return crate::commands::sim::run(scenario),
        Command::Node(args) => {
            crate::commands::node::run(args, dir)?;
            return Ok(out);
        }
        Command::Verify { file } => {
            let chain = read_verified(&file)?;
            out.push(format!("ok: {}", file.display()));
            out.push(format!("author: {}", chain.author));
            out.push(format!("blocks: {}", chain.headers.len()));
            out.push(match chain.head() {
                Some(h) => format!("head: seq {} id {}", h.seq, h.id()),
                None => "head: (empty chain)".to_string(),
            });
            return Ok(out);
        }
        _ => {}
    }
    // A running node owns the image: offline commands would write behind its back.
    glitter_net::check_no_node(dir)?;
    let data = DataDir::open(dir)?;
    match command {
        Command::Keygen { seed } => {
            let seed: [u8; 32] = match seed {
                Some(s) => hex::decode(s.trim())
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .context("--seed must be 64 hex digits")?,
                None => os::random32()?,
            };
            let keys = data.create_identity(seed)?;
            out.push(format!("created identity {}", keys.public()));
            out.push(format!("in {}", data.root().display()));
        }
        Command::Whoami => {
            let keys = data.identity()?;
            let chain = data.chain(&keys.public())?;
            let name = feed::names(std::slice::from_ref(&chain))
                .remove(&keys.public())
                .unwrap_or_else(|| "(no profile)".into());
            out.push(format!("{} {}", keys.public(), name));
            out.push(format!("chain: {} blocks", chain.headers.len()));
            let f = feed::follows(&chain);
            out.push(format!("follows: {}", f.len()));
        }
        Command::Post { text, reply_to } => {
            out.push(account(&data, Action::Post { text, reply_to })?)
        }
        Command::Follow { author } => out.push(account(&data, Action::Follow { author })?),
        Command::Unfollow { author } => out.push(account(&data, Action::Unfollow { author })?),
        Command::Profile { name, about } => {
            out.push(account(&data, Action::Profile { name, about })?)
        }
        Command::Fsck => {
            let (m, u) = data.fsck()?;
            out.push(format!(
                "image: {}",
                data.root().join(glitter_host::datadir::IMAGE_FILE).display()
            ));
            out.push(format!(
                "records: {} blocks by {} authors, {} pages in use",
                m.records, m.authors, m.pages_in_use
            ));
            out.push(match m.torn_tail {
                Some(t) => format!(
                    "torn tail: an interrupted append at offset {} was discarded (repaired: {})",
                    t.offset, t.repaired
                ),
                None => "torn tail: none (the last session ended cleanly)".to_string(),
            });
            out.push(format!(
                "space: {} of {} bytes used, {} free; {} bytes of blocks stored",
                u.flash_bytes_used, u.flash_bytes, u.flash_bytes_free, u.stored_bytes
            ));
            out.push(format!(
                "index: {} of {} blocks, {} of {} authors ({} bytes of RAM)",
                u.blocks, u.blocks_max, u.authors, u.authors_max, u.index_bytes
            ));
            out.push("ok".into());
        }
        Command::Feed => {
            let mut chains = Vec::new();
            for a in data.authors()? {
                chains.push(data.chain(&a)?);
            }
            if chains.is_empty() {
                out.push("(no chains yet: glitter keygen, glitter post, glitter import)".into());
            }
            for (author, seq) in data.forks()? {
                out.push(format!(
                    "!! {author} FORKED at seq {seq}: blocks from there on are disputed"
                ));
            }
            out.extend(feed::render(&chains));
        }
        Command::Export { file, author } => {
            let a = match author {
                Some(a) => author_arg(&a)?,
                None => data.identity()?.public(),
            };
            let chain = data.chain(&a)?;
            if chain.headers.is_empty() {
                bail!("no chain stored for {a}");
            }
            glitter_host::datadir::write_atomic(&file, &ChainFile::from_chain(&chain).to_bytes(), false)?;
            out.push(format!(
                "exported {} blocks of {a} to {}",
                chain.headers.len(),
                file.display()
            ));
        }
        Command::Import { file } => {
            let chain = read_verified(&file)?;
            let outcome = data
                .import(&chain)
                .with_context(|| format!("{}", file.display()))?;
            out.push(match outcome {
                ImportOutcome::New { blocks } => {
                    format!("imported {blocks} blocks of {}", chain.author)
                }
                ImportOutcome::Extended { added } => {
                    format!("added {added} blocks to {}", chain.author)
                }
                ImportOutcome::UpToDate => format!("{} already up to date", chain.author),
            });
        }
        Command::Verify { .. }
        | Command::Demo
        | Command::Sim { .. }
        | Command::Node(_)
        | Command::Backup { .. }
        | Command::Restore(_) => {}
    }
    Ok(out)
}

/// Appends the block of an account action to the own chain, by the shared rules.
fn account(data: &DataDir, action: Action) -> Result<String> {
    let payload = action.payload(|author, seq| {
        let chain = data.chain(author).ok()?;
        chain.headers.get(usize::try_from(seq).ok()?.checked_sub(1)?).copied()
    })?;
    let h = data.append_own(&payload, os::now_ms())?;
    Ok(action.done(&h))
}
