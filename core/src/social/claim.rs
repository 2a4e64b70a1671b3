//! The `Claim` payload: a statement, its proof, and what the proof is bound to.
//!
//! A [`Claim`] is the payload of a
//! [`BlockKind::Claim`](crate::wire::header::BlockKind::Claim) block: postcard over
//! heapless types, canonical, at most
//! [`PAYLOAD_LEN_MAX`](crate::wire::header::PAYLOAD_LEN_MAX) = 1024 bytes in all.
//!
//! Only the data is here, one layer below the chain validator, so that a chain can
//! carry claims whether or not this build can check them. Making and verifying the
//! proof inside a claim is the zk layer's business (cargo feature `zk`, on by
//! default); decoding a claim here checks its structure and canonical encoding only.
//! The zk layer also says which statements fit a chain and how a claim's proof is
//! bound to the chain that publishes it.

use crate::sig::SIGNATURE_LEN;
use crate::wire::header::HEADER_LEN;
use heapless::Vec;
use serde::{Deserialize, Serialize};

/// The largest ring a claim can carry (it must fit a 1 KiB payload with its proof).
pub const CLAIM_RING_MEMBERS_MAX: usize = 14;
/// The largest post count a placeholder claim can carry (212 bytes per header).
pub const CLAIM_POST_COUNT_MAX: usize = 4;
/// The longest context string in a claim, in bytes.
pub const CLAIM_CONTEXT_LEN_MAX: usize = 32;
/// The longest message in a claim, in bytes (hash longer messages first).
pub const CLAIM_MESSAGE_LEN_MAX: usize = 32;
/// The longest proof in a claim, in bytes: a four-post placeholder proof (a signature
/// and [`CLAIM_POST_COUNT_MAX`] headers).
pub const CLAIM_PROOF_LEN_MAX: usize = SIGNATURE_LEN + HEADER_LEN * CLAIM_POST_COUNT_MAX;

/// Which backend made a claim's proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClaimBackend {
    /// The placeholder backend: sound, **not** zero-knowledge.
    Placeholder,
    /// The curve25519-dalek backend: Schnorr and ring proofs, zero-knowledge.
    Dalek,
}

/// A claim's statement, as stored on a chain.
// No allocator, so no boxing: the ring variant is inline and bounded.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClaimStatement {
    /// "I know the secret key behind `key`".
    KnowsKey {
        /// The key whose secret the prover knows.
        key: [u8; 32],
    },
    /// "I know the secret key of one of these `members`".
    RingMember {
        /// The ring, in order.
        members: Vec<[u8; 32], CLAIM_RING_MEMBERS_MAX>,
    },
    /// "`author` has signed at least `posts` post headers".
    PostCount {
        /// The author.
        author: [u8; 32],
        /// The least number of posts.
        posts: u16,
    },
}

/// A statement and its proof, published on a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Claim {
    /// Which backend made the proof.
    pub backend: ClaimBackend,
    /// What is claimed.
    pub statement: ClaimStatement,
    /// The proof's context: who asks, and what for.
    pub context: Vec<u8, CLAIM_CONTEXT_LEN_MAX>,
    /// The claim's message; the proof binds it together with the publishing chain's
    /// key, so a claim copied onto another chain does not verify.
    pub message: Vec<u8, CLAIM_MESSAGE_LEN_MAX>,
    /// The proof's canonical bytes.
    pub proof: Vec<u8, CLAIM_PROOF_LEN_MAX>,
}
