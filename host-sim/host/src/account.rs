//! Account operations: what a person does to their own chain (post, follow,
//! unfollow, set a profile), one way for the offline CLI and the running node.
//!
//! [`Action::payload`] turns an action with its user-given arguments (hex keys,
//! `AUTHOR:SEQ` replies) into the block payload, and [`Action::done`] words the
//! result; storing the block is the caller's (a data directory's
//! [`DataDir::append_own`](crate::datadir::DataDir::append_own), or the node's store).
//!
//! Blocks are permanent, so only meaningful ones are built: following yourself is
//! refused, and so (unless the action is forced) are following someone already
//! followed, unfollowing someone not followed, and an empty or whitespace-only post.
//! The caller passes what it knows of its own chain in a [`Context`].

use crate::error::AccountError;
use glitter_core::sig::PublicKey;
use glitter_core::social::{BlockRef, Follow, Payload, Unfollow};
use glitter_core::wire::header::Header;

/// One account action, with its arguments as the user gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Append a post, optionally replying to a stored block `AUTHOR:SEQ`.
    Post {
        /// The text (at most 512 bytes of UTF-8).
        text: String,
        /// The block replied to, `AUTHOR:SEQ`.
        reply_to: Option<String>,
        /// Append even an empty (or whitespace-only) post.
        force: bool,
    },
    /// Append a Follow block.
    Follow {
        /// The author's key, 64 hex digits.
        author: String,
        /// Append even when already following.
        force: bool,
    },
    /// Append an Unfollow block.
    Unfollow {
        /// The author's key, 64 hex digits.
        author: String,
        /// Append even when not following.
        force: bool,
    },
    /// Append a Profile block.
    Profile {
        /// Display name (at most 64 bytes).
        name: String,
        /// About text (at most 256 bytes).
        about: String,
    },
}

/// What an action is checked against: the own chain's author and whom it follows now.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The own chain's author.
    pub me: PublicKey,
    /// The authors the own chain follows now (Follow minus later Unfollow).
    pub follows: &'a [PublicKey],
}

impl Action {
    /// The payload to append. `header_of(author, seq)` looks up a stored block (for
    /// replies); `ctx` says whose chain it is and whom it follows.
    ///
    /// # Errors
    /// A malformed key or reply, a reply to a block not stored here, text over its
    /// bound, or a block that would mean nothing (following yourself; unless forced,
    /// a duplicate follow, an unfollow of someone not followed, an empty post); one
    /// line naming the argument or the reason.
    pub fn payload(
        &self,
        ctx: Context<'_>,
        mut header_of: impl FnMut(&PublicKey, u64) -> Option<Header>,
    ) -> Result<Payload, AccountError> {
        Ok(match self {
            Action::Post {
                text,
                reply_to,
                force,
            } => {
                if !force && text.trim().is_empty() {
                    return Err(AccountError::EmptyPost);
                }
                let reply = match reply_to {
                    None => None,
                    Some(r) => {
                        let (a, s) = r.split_once(':').ok_or(AccountError::ReplyForm)?;
                        let author = author_arg(a)?;
                        let seq: u64 = s.parse().map_err(|_| AccountError::ReplySeq)?;
                        let h = header_of(&author, seq)
                            .ok_or(AccountError::ReplyUnknown { author, seq })?;
                        Some(BlockRef::new(author, seq, h.id()))
                    }
                };
                Payload::post(text, reply).map_err(|source| AccountError::Text {
                    field: "post text",
                    source,
                })?
            }
            Action::Follow { author, force } => {
                let a = author_arg(author)?;
                if a == ctx.me {
                    return Err(AccountError::FollowSelf);
                }
                if !force && ctx.follows.contains(&a) {
                    return Err(AccountError::AlreadyFollowing(a));
                }
                Payload::Follow(Follow { author: a.0 })
            }
            Action::Unfollow { author, force } => {
                let a = author_arg(author)?;
                if !force && !ctx.follows.contains(&a) {
                    return Err(AccountError::NotFollowing(a));
                }
                Payload::Unfollow(Unfollow { author: a.0 })
            }
            Action::Profile { name, about } => {
                Payload::profile(name, about).map_err(|source| AccountError::Text {
                    field: "profile",
                    source,
                })?
            }
        })
    }

    /// The line that reports the appended block `h`.
    pub fn done(&self, h: &Header) -> String {
        match self {
            Action::Post { .. } => format!("posted block {} ({})", h.seq, h.id()),
            Action::Follow { author, .. } => {
                format!("following {} (block {})", key(author), h.seq)
            }
            Action::Unfollow { author, .. } => {
                format!("unfollowed {} (block {})", key(author), h.seq)
            }
            Action::Profile { .. } => format!("profile updated (block {})", h.seq),
        }
    }
}

fn key(s: &str) -> String {
    parse_author(s).map_or_else(|| s.to_string(), |k| k.to_string())
}

/// Parses a 64-hex-digit author key.
pub fn parse_author(s: &str) -> Option<PublicKey> {
    let v: [u8; 32] = hex::decode(s.trim()).ok()?.try_into().ok()?;
    Some(PublicKey(v))
}

/// Parses and validates a user-given author key.
///
/// # Errors
/// Not 64 hex digits, or not a usable key.
pub fn author_arg(s: &str) -> Result<PublicKey, AccountError> {
    let pk = parse_author(s).ok_or_else(|| AccountError::NotAKey(s.to_string()))?;
    pk.validate().map_err(|source| AccountError::UnusableKey {
        given: s.to_string(),
        source,
    })?;
    Ok(pk)
}
