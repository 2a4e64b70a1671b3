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
/// and [`CLAIM_POST_COUNT_MAX`] headers), 912 bytes. A tagged one-out-of-many proof
/// over [`CLAIM_SET_MEMBERS_MAX`] members (896 bytes) fits too.
pub const CLAIM_PROOF_LEN_MAX: usize = SIGNATURE_LEN + HEADER_LEN * CLAIM_POST_COUNT_MAX;
/// The largest member set a set claim ([`ClaimStatement::Member`],
/// [`ClaimStatement::PostCountMember`]) can name: its tagged proof is 896 bytes, so
/// the whole payload stays within 1 KiB with the longest context and message.
pub const CLAIM_SET_MEMBERS_MAX: u32 = 1024;

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
    /// "`author` has signed at least `posts` post headers" (the placeholder backend:
    /// reveals the headers; kept so that existing claims decode).
    PostCount {
        /// The author.
        author: [u8; 32],
        /// The least number of posts.
        posts: u16,
    },
    /// "I know the secret key of one of this set": a one-out-of-many proof over a
    /// set of `n` keys the verifier supplies, named by its hash.
    Member {
        /// The set's name: `zk::set_hash` over its sorted keys.
        set_hash: [u8; 32],
        /// The number of members.
        n: u32,
        /// Whether the proof carries a linkable tag (one claim per member and context).
        linkable: bool,
    },
    /// "I am one of the authors whose chain has at least `min_posts` posts", among the
    /// authors the publisher follows (and the publisher) just before the claim block:
    /// a one-out-of-many proof over the snapshot of that set.
    PostCountMember {
        /// The least number of posts.
        min_posts: u16,
        /// The snapshot's name: `zk::snapshot_hash` over the sorted (author, id of the
        /// author's `min_posts`-th post) pairs.
        snapshot: [u8; 32],
        /// The number of members.
        n: u32,
        /// Whether the proof carries a linkable tag (one claim per member and context).
        linkable: bool,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::payload;

    /// Claims written before the set statements existed decode exactly as before:
    /// the new variants come after the old ones, so the old discriminants stand.
    /// The bytes are postcard by hand: backend, statement tag, fields, then the
    /// length-prefixed context, message and proof.
    #[test]
    fn old_claims_decode_identically() {
        let mut knows = [0u8; 34 + 8];
        knows[0] = 1; // Dalek
        knows[1] = 0; // KnowsKey
        knows[2..34].copy_from_slice(&[1; 32]);
        knows[34..].copy_from_slice(&[1, b'c', 1, b'm', 3, 2, 2, 2]);
        let claim: Claim = payload::decode_canonical(&knows).unwrap();
        assert_eq!(claim.backend, ClaimBackend::Dalek);
        assert_eq!(claim.statement, ClaimStatement::KnowsKey { key: [1; 32] });
        assert_eq!(claim.context.as_slice(), b"c");
        assert_eq!(claim.message.as_slice(), b"m");
        assert_eq!(claim.proof.as_slice(), &[2, 2, 2]);

        let mut post_count = [0u8; 35 + 4];
        post_count[0] = 0; // Placeholder
        post_count[1] = 2; // PostCount
        post_count[2..34].copy_from_slice(&[10; 32]);
        post_count[34] = 2; // posts
        post_count[35..].copy_from_slice(&[0, 0, 1, 7]);
        let claim: Claim = payload::decode_canonical(&post_count).unwrap();
        assert_eq!(
            claim.statement,
            ClaimStatement::PostCount {
                author: [10; 32],
                posts: 2
            }
        );
        assert_eq!(claim.proof.as_slice(), &[7]);

        // A ring of one member: backend, tag 1, one key, empty context, message, proof.
        let mut ring = [0u8; 3 + 32 + 3];
        ring[..3].copy_from_slice(&[0, 1, 1]);
        ring[3..35].copy_from_slice(&[3; 32]);
        let claim: Claim = payload::decode_canonical(&ring).unwrap();
        assert_eq!(
            claim.statement,
            ClaimStatement::RingMember {
                members: Vec::from_slice(&[[3; 32]]).unwrap()
            }
        );
    }
}
