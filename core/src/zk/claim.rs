//! Claims on a chain: a statement, its proof, and what the proof is bound to.
//!
//! A [`Claim`] is the payload of a [`BlockKind::Claim`] block: postcard over heapless
//! types, canonical, at most [`PAYLOAD_LEN_MAX`](crate::PAYLOAD_LEN_MAX) = 1024 bytes
//! in all. That bound limits what fits on a chain:
//!
//! | statement | backend | largest on a chain |
//! |---|---|---|
//! | [`KnowsKey`] | both | always fits (165 B at most) |
//! | [`RingMember`] | [`Dalek`] | [`CLAIM_RING_MEMBERS_MAX`] = 14 members (999 B); larger rings (up to [`RING_MEMBERS_MAX`](super::RING_MEMBERS_MAX) = 32) are proven off chain |
//! | [`RingMember`] | [`Placeholder`] | 14 members (583 B) |
//! | [`PostCount`] | [`Placeholder`] | [`CLAIM_POST_COUNT_MAX`] = 4 posts (1015 B) |
//!
//! **Publisher binding.** The proof inside a claim is bound not to the claim's message
//! as such but to [`claim_message`]`(publisher, message)`, a hash that includes the
//! key of the chain that publishes it. Copying a claim block's payload onto another
//! chain therefore gives a claim that does not verify.

use super::placeholder::{MemberSignatureProof, PostCountProof, PostCountWitness, SignatureProof};
use super::{
    Binding, Dalek, KnowsKey, Placeholder, PostCount, Proof, Prover, RING_MEMBERS_MAX, RingMember,
    RingProof, SchnorrProof, Verifier, ZkError,
};
use crate::chain::{ChainError, check_payload};
use crate::hash::Hash;
use crate::sig::{KeyPair, PublicKey};
use crate::wire::header::{BlockKind, Header};
use crate::wire::payload;
use heapless::Vec;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

/// The largest ring a claim can carry (it must fit a 1 KiB payload with its proof).
pub const CLAIM_RING_MEMBERS_MAX: usize = 14;
/// The largest post count a placeholder claim can carry (212 bytes per header).
pub const CLAIM_POST_COUNT_MAX: usize = 4;
/// The longest context string in a claim, in bytes.
pub const CLAIM_CONTEXT_LEN_MAX: usize = 32;
/// The longest message in a claim, in bytes (hash longer messages first).
pub const CLAIM_MESSAGE_LEN_MAX: usize = 32;
/// The longest proof in a claim, in bytes: a four-post placeholder proof.
pub const CLAIM_PROOF_LEN_MAX: usize = PostCountProof::len_for(CLAIM_POST_COUNT_MAX);

/// Which backend made a claim's proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClaimBackend {
    /// [`Placeholder`]: sound, **not** zero-knowledge.
    Placeholder,
    /// [`Dalek`]: Schnorr and ring proofs, zero-knowledge.
    Dalek,
}

/// A claim's statement, as stored on a chain.
// No allocator, so no boxing: the ring variant is inline and bounded.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClaimStatement {
    /// See [`KnowsKey`].
    KnowsKey {
        /// The key whose secret the prover knows.
        key: [u8; 32],
    },
    /// See [`RingMember`].
    RingMember {
        /// The ring, in order.
        members: Vec<[u8; 32], CLAIM_RING_MEMBERS_MAX>,
    },
    /// See [`PostCount`].
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
    /// The proof's context (see [`Binding::context`]).
    pub context: Vec<u8, CLAIM_CONTEXT_LEN_MAX>,
    /// The claim's message; the proof binds [`claim_message`] of it.
    pub message: Vec<u8, CLAIM_MESSAGE_LEN_MAX>,
    /// The proof's canonical bytes ([`Proof::emit`]).
    pub proof: Vec<u8, CLAIM_PROOF_LEN_MAX>,
}

/// The message a claim's proof is bound to: SHA-256 over a domain tag, the
/// publishing chain's key and the claim's message (length-prefixed).
pub fn claim_message(publisher: &PublicKey, message: &[u8]) -> [u8; 32] {
    let len = u64::try_from(message.len()).unwrap_or(u64::MAX);
    Hash::of_parts(&[
        b"glitter/claim/v1",
        &publisher.0,
        &len.to_le_bytes(),
        message,
    ])
    .0
}

fn bounded<const N: usize>(bytes: &[u8]) -> Result<Vec<u8, N>, ZkError> {
    Vec::from_slice(bytes).map_err(|_| ZkError::ClaimFieldTooLong {
        len: bytes.len(),
        max: N,
    })
}

fn proof_bytes<P: Proof>(proof: &P) -> Result<Vec<u8, CLAIM_PROOF_LEN_MAX>, ZkError> {
    let mut out = Vec::new();
    out.resize(proof.encoded_len(), 0)
        .map_err(|_| ZkError::ClaimFieldTooLong {
            len: proof.encoded_len(),
            max: CLAIM_PROOF_LEN_MAX,
        })?;
    proof.emit(&mut out)?;
    Ok(out)
}

/// The members of a ring as keys (a copy: at most 14 × 32 bytes).
fn ring_keys(members: &[[u8; 32]]) -> Vec<PublicKey, CLAIM_RING_MEMBERS_MAX> {
    members.iter().map(|k| PublicKey(*k)).collect()
}

impl Claim {
    fn new(
        backend: ClaimBackend,
        statement: ClaimStatement,
        context: &[u8],
        message: &[u8],
    ) -> Result<Claim, ZkError> {
        Ok(Claim {
            backend,
            statement,
            context: bounded(context)?,
            message: bounded(message)?,
            proof: Vec::new(),
        })
    }

    /// A claim that `keys` knows its own secret key ("I control this identity"),
    /// made with `backend`, to be published on `publisher`'s chain.
    ///
    /// # Errors
    /// [`ZkError::ClaimFieldTooLong`] for an oversized context or message, or the
    /// prover's error.
    pub fn knows_key<R: CryptoRng + ?Sized>(
        backend: ClaimBackend,
        publisher: &PublicKey,
        keys: &KeyPair,
        context: &[u8],
        message: &[u8],
        rng: &mut R,
    ) -> Result<Claim, ZkError> {
        let mut claim = Claim::new(
            backend,
            ClaimStatement::KnowsKey {
                key: keys.public().0,
            },
            context,
            message,
        )?;
        let bound = claim_message(publisher, message);
        let binding = Binding::new(context, &bound);
        let statement = KnowsKey { key: keys.public() };
        claim.proof = match backend {
            ClaimBackend::Dalek => proof_bytes(&Dalek.prove(&statement, keys, &binding, rng)?)?,
            ClaimBackend::Placeholder => {
                proof_bytes(&Placeholder.prove(&statement, keys, &binding, rng)?)?
            }
        };
        Ok(claim)
    }

    /// A claim that `keys` is one of `members`, to be published on `publisher`'s
    /// chain. At most [`CLAIM_RING_MEMBERS_MAX`] members.
    ///
    /// # Errors
    /// [`ZkError::RingSize`] above [`CLAIM_RING_MEMBERS_MAX`],
    /// [`ZkError::ClaimFieldTooLong`], or the prover's error.
    pub fn ring_member<R: CryptoRng + ?Sized>(
        backend: ClaimBackend,
        publisher: &PublicKey,
        members: &[PublicKey],
        keys: &KeyPair,
        context: &[u8],
        message: &[u8],
        rng: &mut R,
    ) -> Result<Claim, ZkError> {
        let mut stored = Vec::new();
        for key in members {
            stored.push(key.0).map_err(|_| ZkError::RingSize {
                members: members.len(),
                max: CLAIM_RING_MEMBERS_MAX,
            })?;
        }
        let mut claim = Claim::new(
            backend,
            ClaimStatement::RingMember { members: stored },
            context,
            message,
        )?;
        let bound = claim_message(publisher, message);
        let binding = Binding::new(context, &bound);
        let statement = RingMember { members };
        claim.proof = match backend {
            ClaimBackend::Dalek => proof_bytes(&Dalek.prove(&statement, keys, &binding, rng)?)?,
            ClaimBackend::Placeholder => {
                proof_bytes(&Placeholder.prove(&statement, keys, &binding, rng)?)?
            }
        };
        Ok(claim)
    }

    /// A placeholder claim that the witness's author made at least `posts` posts
    /// (at most [`CLAIM_POST_COUNT_MAX`] on a chain). Reveals the headers.
    ///
    /// # Errors
    /// [`ZkError::ClaimFieldTooLong`] above [`CLAIM_POST_COUNT_MAX`] posts or for an
    /// oversized context or message, or the prover's error.
    pub fn post_count<R: CryptoRng + ?Sized>(
        publisher: &PublicKey,
        witness: &PostCountWitness,
        posts: u16,
        context: &[u8],
        message: &[u8],
        rng: &mut R,
    ) -> Result<Claim, ZkError> {
        let author = witness.author();
        let mut claim = Claim::new(
            ClaimBackend::Placeholder,
            ClaimStatement::PostCount {
                author: author.0,
                posts,
            },
            context,
            message,
        )?;
        let bound = claim_message(publisher, message);
        let binding = Binding::new(context, &bound);
        let statement = PostCount { author, posts };
        claim.proof = proof_bytes(&Placeholder.prove(&statement, witness, &binding, rng)?)?;
        Ok(claim)
    }

    /// Verifies the claim as published on `publisher`'s chain.
    ///
    /// # Errors
    /// [`ZkError::Unsupported`] for a post count claimed with the real backend, the
    /// proof's decoding error, or the verifier's error ([`ZkError::Rejected`], ...).
    pub fn verify(&self, publisher: &PublicKey) -> Result<(), ZkError> {
        let bound = claim_message(publisher, &self.message);
        let binding = Binding::new(&self.context, &bound);
        let proof = self.proof.as_slice();
        match (&self.statement, self.backend) {
            (ClaimStatement::KnowsKey { key }, backend) => {
                let statement = KnowsKey {
                    key: PublicKey(*key),
                };
                match backend {
                    ClaimBackend::Dalek => {
                        Dalek.verify(&statement, &SchnorrProof::parse(proof)?, &binding)
                    }
                    ClaimBackend::Placeholder => {
                        Placeholder.verify(&statement, &SignatureProof::parse(proof)?, &binding)
                    }
                }
            }
            (ClaimStatement::RingMember { members }, backend) => {
                let keys = ring_keys(members);
                let statement = RingMember { members: &keys };
                match backend {
                    ClaimBackend::Dalek => {
                        Dalek.verify(&statement, &RingProof::parse(proof)?, &binding)
                    }
                    ClaimBackend::Placeholder => Placeholder.verify(
                        &statement,
                        &MemberSignatureProof::parse(proof)?,
                        &binding,
                    ),
                }
            }
            (ClaimStatement::PostCount { author, posts }, ClaimBackend::Placeholder) => {
                let statement = PostCount {
                    author: PublicKey(*author),
                    posts: *posts,
                };
                Placeholder.verify(&statement, &PostCountProof::parse(proof)?, &binding)
            }
            (ClaimStatement::PostCount { .. }, ClaimBackend::Dalek) => Err(ZkError::Unsupported),
        }
    }

    /// Decodes a claim payload (canonical postcard only).
    ///
    /// # Errors
    /// [`ZkError::Wire`] with the decoding error.
    pub fn decode(bytes: &[u8]) -> Result<Claim, ZkError> {
        Ok(payload::decode_canonical(bytes)?)
    }
}

/// Verifies a claim block as it travels: the header's signature, the payload against
/// the header (length, hash, canonical encoding), then the claim itself against the
/// block's author as publisher. Returns the claim.
///
/// Whether the block belongs to the chain you know (its seq and links) is the chain
/// validator's business ([`crate::ChainState::verify_next`]); this checks the claim.
///
/// # Errors
/// [`ZkError::NotAClaim`] for another kind of block, [`ZkError::Block`] for a bad
/// signature or a payload that does not match the header, else [`Claim::decode`]'s or [`Claim::verify`]'s error.
pub fn verify_claim_block(header: &Header, payload: &[u8]) -> Result<Claim, ZkError> {
    if header.kind != BlockKind::Claim {
        return Err(ZkError::NotAClaim(header.kind));
    }
    header
        .verify_signature()
        .map_err(|e| ZkError::Block(ChainError::BadSignature(e)))?;
    check_payload(header, payload)?;
    let claim = Claim::decode(payload)?;
    claim.verify(&header.author)?;
    Ok(claim)
}

// A ring claim can never exceed the verifier's own bound.
const _: () = assert!(CLAIM_RING_MEMBERS_MAX <= RING_MEMBERS_MAX);
