//! `glitter keygen`, `whoami`, and the account actions `post`, `follow`, `unfollow`
//! and `profile` (the same actions `glitter node …` sends to a running node).

use anyhow::{Context, Result};
use clap::Subcommand;
use glitter_host::account::{self, Action};
use glitter_host::datadir::DataDir;
use glitter_host::{feed, os};

/// The account actions, one clap definition for the offline CLI and `glitter node`.
#[derive(Debug, Clone, Subcommand)]
pub enum AccountCommand {
    /// Append a post to your chain.
    Post {
        /// The text (at most 512 bytes of UTF-8).
        text: String,
        /// Reply to a block, given as AUTHOR:SEQ (the block must be stored here).
        #[arg(long, value_name = "AUTHOR:SEQ")]
        reply_to: Option<String>,
        /// Post even an empty (or whitespace-only) text.
        #[arg(long)]
        force: bool,
    },
    /// Follow an author (appends a Follow block; refused if already following).
    Follow {
        /// The author's public key, 64 hex digits.
        author: String,
        /// Append a Follow block even when already following.
        #[arg(long)]
        force: bool,
    },
    /// Stop following an author (appends an Unfollow block; refused if not following).
    Unfollow {
        /// The author's public key, 64 hex digits.
        author: String,
        /// Append an Unfollow block even when not following.
        #[arg(long)]
        force: bool,
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
}

impl From<AccountCommand> for Action {
    fn from(c: AccountCommand) -> Action {
        match c {
            AccountCommand::Post {
                text,
                reply_to,
                force,
            } => Action::Post {
                text,
                reply_to,
                force,
            },
            AccountCommand::Follow { author, force } => Action::Follow { author, force },
            AccountCommand::Unfollow { author, force } => Action::Unfollow { author, force },
            AccountCommand::Profile { name, about } => Action::Profile { name, about },
        }
    }
}

/// Appends the block of an account action to the own chain of `data`.
///
/// # Errors
/// Bad arguments (named), no identity, or a store error.
pub fn run(data: &DataDir, cmd: AccountCommand) -> Result<Vec<String>> {
    let action = Action::from(cmd);
    let me = data.identity()?.public();
    let follows = feed::follows(&data.chain(&me)?);
    let ctx = account::Context {
        me,
        follows: &follows,
    };
    let payload = action.payload(ctx, |author, seq| {
        let chain = data.chain(author).ok()?;
        chain
            .headers
            .get(usize::try_from(seq).ok()?.checked_sub(1)?)
            .copied()
    })?;
    let h = data.append_own(&payload, os::now_ms())?;
    Ok(vec![action.done(&h)])
}

/// `glitter keygen [--seed HEX] [--passphrase]`.
///
/// # Errors
/// A malformed seed, an identity that exists already, or no OS randomness.
pub fn keygen(data: &DataDir, seed: Option<String>, encrypt: bool) -> Result<Vec<String>> {
    let seed: [u8; 32] = match seed {
        Some(s) => hex::decode(s.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .context("--seed must be 64 hex digits")?,
        None => os::random32()?,
    };
    let seed_path = data.root().join(glitter_host::identity::SEED_FILE);
    let pass = if encrypt {
        Some(glitter_host::passphrase::ask(
            &seed_path,
            glitter_host::passphrase::Purpose::Create,
        )?)
    } else {
        None
    };
    let keys = data.create_identity_with(seed, pass.as_ref().map(|p| p.as_str()))?;
    Ok(vec![
        format!("created identity {}", keys.public()),
        format!(
            "in {}{}",
            data.root().display(),
            if encrypt {
                " (seed encrypted under a passphrase)"
            } else {
                ""
            }
        ),
    ])
}

/// `glitter whoami`.
///
/// # Errors
/// No identity, or the image cannot be read.
pub fn whoami(data: &DataDir) -> Result<Vec<String>> {
    let keys = data.identity()?;
    let chain = data.chain(&keys.public())?;
    let name = feed::names(std::slice::from_ref(&chain))
        .remove(&keys.public())
        .unwrap_or_else(|| "(no profile)".into());
    Ok(vec![
        format!("{} {}", keys.public(), name),
        format!("chain: {} blocks", chain.headers.len()),
        format!("follows: {}", feed::follows(&chain).len()),
    ])
}
