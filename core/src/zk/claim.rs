//! Claims on a chain: making and verifying the proof inside a [`Claim`].
//!
//! A [`Claim`] is the payload of a [`BlockKind::Claim`] block: postcard over heapless
//! types, canonical, at most [`PAYLOAD_LEN_MAX`] = 1024 bytes in all. The data type
//! and its bounds live in the payload layer ([`crate::social::claim`]) so that the
//! chain validator decodes claims whether or not this module is built; this module
//! adds the provers ([`Claim::knows_key`], [`Claim::ring_member`],
//! [`Claim::post_count`]) and the checks ([`Claim::verify`], [`verify_claim_block`]).
//!
//! The 1 KiB payload bound limits what fits on a chain:
//!
//! | statement | backend | largest on a chain |
//! |---|---|---|
//! | [`KnowsKey`] | both | always fits (165 B at most) |
//! | [`RingMember`] | [`Dalek`] | [`CLAIM_RING_MEMBERS_MAX`] = 14 members (999 B); larger rings (up to [`RING_MEMBERS_MAX`] = 32) are proven off chain |
//! | [`RingMember`] | [`Placeholder`] | 14 members (583 B) |
//! | [`PostCount`] | [`Placeholder`] | [`CLAIM_POST_COUNT_MAX`] = 4 posts (1015 B) |
//! | [`ClaimStatement::Member`], [`ClaimStatement::PostCountMember`] | [`Dalek`] | [`CLAIM_SET_MEMBERS_MAX`] = 1,024 members, tagged (at most 1,004 B with a 32-byte context and message) |
//!
//! Set claims ([`ClaimStatement::Member`], [`ClaimStatement::PostCountMember`]) name their set by a hash and are
//! verified with it: see [`ClaimSet`](super::ClaimSet).
//!
//! **Publisher binding.** The proof inside a claim is bound not to the claim's message
//! as such but to [`claim_message`]`(publisher, message)`, a hash that includes the
//! key of the chain that publishes it. Copying a claim block's payload onto another
//! chain therefore gives a claim that does not verify.

use super::placeholder::{PostCountProof, PostCountWitness};
use super::{
    Binding, ClaimBlockError, Dalek, KnowsKey, Placeholder, PostCount, Proof, Prover,
    RING_MEMBERS_MAX, RingMember, Statement, Verifier, ZkError, verify_bytes,
};
use crate::hash::Hash;
use crate::sig::{KeyPair, PublicKey};
use crate::wire::WireError;
use crate::wire::header::{BlockKind, Header, PAYLOAD_LEN_MAX};
use crate::wire::payload;
use heapless::Vec;
use rand_core::CryptoRng;

pub use crate::social::claim::{
    CLAIM_CONTEXT_LEN_MAX, CLAIM_MESSAGE_LEN_MAX, CLAIM_POST_COUNT_MAX, CLAIM_PROOF_LEN_MAX,
    CLAIM_RING_MEMBERS_MAX, CLAIM_SET_MEMBERS_MAX, Claim, ClaimBackend, ClaimStatement,
};

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

pub(super) fn proof_bytes<P: Proof>(proof: &P) -> Result<Vec<u8, CLAIM_PROOF_LEN_MAX>, ZkError> {
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

/// `backend`'s proof of `statement` by `keys`, as a claim's proof bytes.
fn prove_with<S: Statement + ?Sized, R: CryptoRng + ?Sized>(
    backend: ClaimBackend,
    statement: &S,
    keys: &KeyPair,
    binding: &Binding<'_>,
    rng: &mut R,
) -> Result<Vec<u8, CLAIM_PROOF_LEN_MAX>, ZkError>
where
    Dalek: Prover<S, Witness = KeyPair>,
    Placeholder: Prover<S, Witness = KeyPair>,
{
    match backend {
        ClaimBackend::Dalek => proof_bytes(&Dalek.prove(statement, keys, binding, rng)?),
        ClaimBackend::Placeholder => {
            proof_bytes(&Placeholder.prove(statement, keys, binding, rng)?)
        }
    }
}

/// Decodes `proof` as `backend`'s proof of `statement` and verifies it.
fn verify_with<S: Statement + ?Sized>(
    backend: ClaimBackend,
    statement: &S,
    proof: &[u8],
    binding: &Binding<'_>,
) -> Result<(), ZkError>
where
    Dalek: Verifier<S>,
    Placeholder: Verifier<S>,
{
    match backend {
        ClaimBackend::Dalek => verify_bytes(&Dalek, statement, proof, binding),
        ClaimBackend::Placeholder => verify_bytes(&Placeholder, statement, proof, binding),
    }
}

impl Claim {
    /// A claim of `statement` whose proof `prove` makes under the binding of
    /// `context` and [`claim_message`]`(publisher, message)`. The context and the
    /// message are bounded first, so an oversized one fails before any proving.
    pub(super) fn proven(
        backend: ClaimBackend,
        statement: ClaimStatement,
        publisher: &PublicKey,
        context: &[u8],
        message: &[u8],
        prove: impl FnOnce(&Binding<'_>) -> Result<Vec<u8, CLAIM_PROOF_LEN_MAX>, ZkError>,
    ) -> Result<Claim, ZkError> {
        let mut claim = Claim {
            backend,
            statement,
            context: bounded(context)?,
            message: bounded(message)?,
            proof: Vec::new(),
        };
        let bound = claim_message(publisher, message);
        claim.proof = prove(&Binding::new(context, &bound))?;
        Ok(claim)
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
        let statement = KnowsKey { key: keys.public() };
        Claim::proven(
            backend,
            ClaimStatement::KnowsKey {
                key: statement.key.0,
            },
            publisher,
            context,
            message,
            |binding| prove_with(backend, &statement, keys, binding, rng),
        )
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
        Claim::proven(
            backend,
            ClaimStatement::RingMember { members: stored },
            publisher,
            context,
            message,
            |binding| prove_with(backend, &RingMember { members }, keys, binding, rng),
        )
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
        let statement = PostCount {
            author: witness.author(),
            posts,
        };
        Claim::proven(
            ClaimBackend::Placeholder,
            ClaimStatement::PostCount {
                author: statement.author.0,
                posts,
            },
            publisher,
            context,
            message,
            |binding| proof_bytes(&Placeholder.prove(&statement, witness, binding, rng)?),
        )
    }

    /// Verifies the claim as published on `publisher`'s chain.
    ///
    /// # Errors
    /// [`ZkError::Unsupported`] for a post count claimed with the real backend,
    /// [`ZkError::SetUnknown`] for a set claim (verify it with its set:
    /// [`Claim::verify_with_set`]), the proof's decoding error, or the verifier's
    /// error ([`ZkError::Rejected`], ...).
    pub fn verify(&self, publisher: &PublicKey) -> Result<(), ZkError> {
        let bound = claim_message(publisher, &self.message);
        let binding = Binding::new(&self.context, &bound);
        let proof = self.proof.as_slice();
        match (&self.statement, self.backend) {
            (ClaimStatement::KnowsKey { key }, backend) => {
                let statement = KnowsKey {
                    key: PublicKey(*key),
                };
                verify_with(backend, &statement, proof, &binding)
            }
            (ClaimStatement::RingMember { members }, backend) => {
                let keys = ring_keys(members);
                verify_with(backend, &RingMember { members: &keys }, proof, &binding)
            }
            (ClaimStatement::PostCount { author, posts }, ClaimBackend::Placeholder) => {
                let statement = PostCount {
                    author: PublicKey(*author),
                    posts: *posts,
                };
                verify_bytes(&Placeholder, &statement, proof, &binding)
            }
            (ClaimStatement::PostCount { .. }, ClaimBackend::Dalek) => Err(ZkError::Unsupported),
            (ClaimStatement::Member { .. } | ClaimStatement::PostCountMember { .. }, _) => {
                Err(ZkError::SetUnknown)
            }
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
/// The payload checks are the chain validator's
/// ([`check_payload`](crate::chain::check_payload)) for a claim block, reported as a
/// [`ClaimBlockError`]. Whether the block belongs to the chain you know (its seq and
/// links) is the chain validator's business ([`crate::ChainState::verify_next`]); this
/// checks the claim.
///
/// # Errors
/// [`ZkError::NotAClaim`] for another kind of block, [`ZkError::Block`] for a bad
/// signature or a payload that does not match the header or does not decode, else
/// [`Claim::verify`]'s error.
pub fn verify_claim_block(header: &Header, payload: &[u8]) -> Result<Claim, ZkError> {
    let claim = signed_claim(header, payload)?;
    claim.verify(&header.author)?;
    Ok(claim)
}

/// The claim a block carries, once its kind, signature and payload check out (its
/// proof not yet verified).
///
/// # Errors
/// As [`verify_claim_block`], before the proof.
pub(super) fn signed_claim(header: &Header, payload: &[u8]) -> Result<Claim, ZkError> {
    if header.kind != BlockKind::Claim {
        return Err(ZkError::NotAClaim(header.kind));
    }
    header
        .verify_signature()
        .map_err(ClaimBlockError::BadSignature)?;
    Ok(claim_payload(header, payload)?)
}

/// The payload of a claim block, checked against its header and decoded: the chain
/// validator's payload rules, in the same order.
pub(super) fn claim_payload(header: &Header, payload: &[u8]) -> Result<Claim, ClaimBlockError> {
    if payload.len() > PAYLOAD_LEN_MAX {
        return Err(ClaimBlockError::Oversize {
            len: payload.len(),
            max: PAYLOAD_LEN_MAX,
        });
    }
    let declared = usize::from(header.payload_len);
    if payload.len() != declared {
        return Err(ClaimBlockError::PayloadLengthMismatch {
            declared,
            actual: payload.len(),
        });
    }
    if Hash::of(payload) != header.payload_hash {
        return Err(ClaimBlockError::PayloadHashMismatch);
    }
    payload::decode_canonical(payload).map_err(|e| match e {
        WireError::NonCanonical => ClaimBlockError::NonCanonicalPayload,
        other => ClaimBlockError::PayloadMalformed(other),
    })
}

// A ring claim can never exceed the verifier's own bound.
const _: () = assert!(CLAIM_RING_MEMBERS_MAX <= RING_MEMBERS_MAX);
// The payload layer sizes a claim's proof field as a signature and four headers: the
// placeholder's post-count proof of CLAIM_POST_COUNT_MAX posts.
const _: () = assert!(CLAIM_PROOF_LEN_MAX == PostCountProof::len_for(CLAIM_POST_COUNT_MAX));
// A tagged one-out-of-many proof over the largest claim set fits the proof field.
const _: () = assert!(
    super::oom::OneOfManyProof::len_for(CLAIM_SET_MEMBERS_MAX as usize, true)
        <= CLAIM_PROOF_LEN_MAX
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ChainError, ChainState, NoHeaders, NonCanonical, check_payload};
    use crate::social::Payload;

    /// The chain validator's verdict on a claim payload, in zk's terms.
    fn as_claim_block_error(e: ChainError) -> ClaimBlockError {
        match e {
            ChainError::Oversize { len, max } => ClaimBlockError::Oversize { len, max },
            ChainError::PayloadLengthMismatch { declared, actual } => {
                ClaimBlockError::PayloadLengthMismatch { declared, actual }
            }
            ChainError::PayloadHashMismatch => ClaimBlockError::PayloadHashMismatch,
            ChainError::NonCanonical(NonCanonical::Payload) => ClaimBlockError::NonCanonicalPayload,
            ChainError::PayloadMalformed(e) => ClaimBlockError::PayloadMalformed(e),
            other => panic!("check_payload returned {other:?}"),
        }
    }

    /// `claim_payload` is `check_payload` for claim blocks: same verdict, same order.
    #[test]
    fn payload_rules_are_the_chain_validators() {
        let keys = KeyPair::from_seed([5; 32]).unwrap();
        let claim = Claim {
            backend: ClaimBackend::Placeholder,
            statement: ClaimStatement::KnowsKey {
                key: keys.public().0,
            },
            context: Vec::from_slice(b"ctx").unwrap(),
            message: Vec::from_slice(b"msg").unwrap(),
            proof: Vec::from_slice(&[9; 64]).unwrap(),
        };
        let mut buf = [0u8; PAYLOAD_LEN_MAX + 1];
        let good_len = Payload::Claim(claim.clone())
            .encode(&mut buf)
            .unwrap()
            .len();
        let append = |payload: &[u8]| {
            ChainState::new(keys.public())
                .unwrap()
                .append(&keys, BlockKind::Claim, 0, payload, &mut NoHeaders)
                .unwrap()
        };
        let good = buf;
        let mut cases: Vec<(Header, [u8; PAYLOAD_LEN_MAX + 1], usize), 8> = Vec::new();
        let h = append(&good[..good_len]);
        cases.push((h, good, good_len)).unwrap();
        // Length mismatch, hash mismatch, oversize.
        cases.push((h, good, good_len - 1)).unwrap();
        let mut flipped = good;
        flipped[1] ^= 1;
        cases.push((h, flipped, good_len)).unwrap();
        cases.push((h, good, PAYLOAD_LEN_MAX + 1)).unwrap();
        // Signed as they are, so only the encoding is wrong: malformed, trailing,
        // non-canonical (an over-long varint for the context length).
        let mut unknown = good;
        unknown[0] = 7;
        cases
            .push((append(&unknown[..good_len]), unknown, good_len))
            .unwrap();
        cases
            .push((append(&good[..=good_len]), good, good_len + 1))
            .unwrap();
        let mut long = [0u8; PAYLOAD_LEN_MAX + 1];
        // Backend, statement tag and key (34 bytes) as encoded; then 0x83 0x00 for the
        // context length 3.
        assert_eq!(good[34], 3);
        long[..34].copy_from_slice(&good[..34]);
        long[34..36].copy_from_slice(&[0x83, 0x00]);
        long[36..=good_len].copy_from_slice(&good[35..good_len]);
        cases
            .push((append(&long[..=good_len]), long, good_len + 1))
            .unwrap();
        let mut verdicts = [0usize; 6];
        for (h, bytes, len) in &cases {
            let p = &bytes[..*len];
            let chain = check_payload(h, p).map_err(as_claim_block_error);
            let zk = claim_payload(h, p);
            assert_eq!(chain, zk.as_ref().map(|_| ()).map_err(|e| *e));
            let i = match zk {
                Ok(c) => {
                    assert_eq!(c, claim);
                    0
                }
                Err(ClaimBlockError::PayloadLengthMismatch { .. }) => 1,
                Err(ClaimBlockError::PayloadHashMismatch) => 2,
                Err(ClaimBlockError::Oversize { .. }) => 3,
                Err(ClaimBlockError::PayloadMalformed(_)) => 4,
                Err(ClaimBlockError::NonCanonicalPayload) => 5,
                Err(ClaimBlockError::BadSignature(_)) => unreachable!(),
            };
            verdicts[i] += 1;
        }
        // Every verdict was reached (two malformed cases: unknown tag, trailing byte).
        assert_eq!(verdicts, [1, 1, 1, 1, 2, 1]);
    }
}
