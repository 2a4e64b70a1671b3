//! The data of the view requests (`timeline`, `show_post`, `account`, `author`,
//! `claims`): what a running node answers in [`Response::data`](crate::Response), as
//! typed structures a client (the web app) reads back with `serde_json`.
//!
//! Every string that comes from a chain (a text, a name, a claim's context) is as the
//! author wrote it, **not** escaped: whoever renders it must (the web app escapes HTML
//! and shows control and bidi characters as visible escapes).

use serde::{Deserialize, Serialize};

/// One post with its replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostData {
    /// The author's key (hex).
    pub author: String,
    /// The author's display name, if their chain has a profile.
    pub name: Option<String>,
    /// The post's seq.
    pub seq: u64,
    /// The author's timestamp (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// The text.
    pub text: String,
    /// The block it replies to: author (hex) and seq.
    pub reply_to: Option<(String, u64)>,
    /// Replies, oldest first (empty for `show_post`).
    pub replies: Vec<PostData>,
}

/// A page of the timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineData {
    /// Top-level posts, newest first.
    pub posts: Vec<PostData>,
    /// The cursor of the next (older) page.
    pub next: Option<String>,
    /// Posts of the timeline's authors in the store.
    pub total_posts: usize,
}

/// An author one follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowData {
    /// The key (hex).
    pub author: String,
    /// The display name, if known.
    pub name: Option<String>,
    /// Blocks of theirs this node holds.
    pub blocks: u64,
}

/// The node's own account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountData {
    /// Own key (hex).
    pub author: String,
    /// Own display name (empty without a profile).
    pub name: String,
    /// Own about text.
    pub about: String,
    /// Own chain length.
    pub blocks: u64,
    /// Whom the node follows.
    pub follows: Vec<FollowData>,
}

/// A fork: two blocks the author signed at one seq.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkData {
    /// The seq with two blocks.
    pub seq: u64,
    /// The two block ids (hex), smaller first.
    pub ids: [String; 2],
    /// The whole proof: both signed headers (hex), which anyone can check.
    pub proof_hex: String,
}

/// One author as this node sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorData {
    /// The key (hex).
    pub author: String,
    /// The display name, if any.
    pub name: Option<String>,
    /// The about text, if any.
    pub about: Option<String>,
    /// Whether the node follows them (or it is the node's own key).
    pub following: bool,
    /// Blocks held (the head's seq).
    pub chain_length: u64,
    /// The head block's id (hex).
    pub head_id: Option<String>,
    /// The head block's timestamp.
    pub head_timestamp_ms: Option<u64>,
    /// The result of verifying the stored chain again now: `Ok(line)` or the first
    /// failing block.
    pub verification: Result<String, String>,
    /// Fork proofs the node holds against this author.
    pub forks: Vec<ForkData>,
    /// The witnesses the author designated (hex).
    pub witnesses: Vec<String>,
    /// How many of them must confirm.
    pub witness_threshold: u8,
    /// The witness confirmation of the head, in words.
    pub head_confirmation: String,
}

/// A claim published on a stored chain, with its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimData {
    /// The publishing author (hex).
    pub author: String,
    /// Their display name, if any.
    pub name: Option<String>,
    /// The claim block's seq.
    pub seq: u64,
    /// The statement in words.
    pub statement: String,
    /// The context (lossy UTF-8).
    pub context: String,
    /// The message (lossy UTF-8).
    pub message: String,
    /// `Ok(())` if the claim verifies (a set claim against the set recomputed from the
    /// chains this node holds), else the verdict in words: `invalid (…)`, `set
    /// unknown: …` or `double claim: …`.
    pub verdict: Result<(), String>,
}

/// A block the node stored: the live-update event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBlock {
    /// The author (hex).
    pub author: String,
    /// The seq.
    pub seq: u64,
    /// The block kind, as the wire names it (`post`, `follow`, …).
    pub kind: String,
    /// When it was durably stored (ms since the Unix epoch, the node's clock).
    pub stored_ms: u64,
}
