//! Claims about a person that others can check: proofs behind one interface, two backends.
//!
//! A [`Statement`] is public (a key, a ring of keys, "this author made at least N
//! posts"). A [`Prover`] turns a statement, a secret witness and a [`Binding`] (a
//! context string and a message) into a [`Proof`]; a [`Verifier`] checks it. Proofs
//! are bound to their binding, so a proof made for one context or message is worth
//! nothing for any other (no replay).
//!
//! | backend | statement | proof | zero-knowledge? |
//! |---|---|---|---|
//! | [`Placeholder`] | [`KnowsKey`] | Ed25519 signature, 64 B | **no**: the signature is transferable evidence |
//! | [`Placeholder`] | [`RingMember`] | member index + signature, 65 B | **no**: it names the member |
//! | [`Placeholder`] | [`PostCount`] | the N signed headers, 212·N B | **no**: it reveals the headers |
//! | [`Dalek`] | [`KnowsKey`] | Schnorr NIZK (c, s), 64 B | yes (honest-verifier ZK, made non-interactive in the ROM) |
//! | [`Dalek`] | [`RingMember`] | AOS 1-of-n ring (c₀, s₀..sₙ₋₁), 32 + 32·n B | yes: hides which member |
//!
//! **The placeholder backend is sound but not zero-knowledge**: its proofs carry or
//! reveal the witness, and its verifier checks that witness for real. It never
//! answers "true" without checking. The real backend ([`Dalek`]) runs on
//! curve25519-dalek with no allocator and no trusted setup, and verifies on a
//! Cortex-M. `docs/ZK.md` says what each proof does and does **not** show.
//!
//! A [`Claim`] publishes a statement and its proof on a chain (block kind
//! [`BlockKind::Claim`](crate::wire::header::BlockKind::Claim)); [`verify_claim_block`]
//! checks one from the header and payload as they travel. The claim's data type is
//! the payload layer's ([`crate::social::Claim`], re-exported here): the chain
//! validator decodes claims structurally and never checks their proofs, with or
//! without this module.
//!
//! This module is the cargo feature `zk` (on by default; it pulls in
//! curve25519-dalek). A build without it still carries, stores, relays and validates
//! claim blocks exactly as a build with it; it only cannot make or check proofs.
//!
//! The caller owns randomness: provers take a [`rand_core::CryptoRng`]. Nonces are
//! *hedged* (derived from the witness, the statement and the RNG's output together),
//! so a broken RNG does not leak the secret key.
//!
//! # Example: prove, verify, tamper, publish
//!
//! ```
//! use glitter_core::sig::{KeyPair, PublicKey};
//! use glitter_core::zk::{
//!     self, Binding, Claim, ClaimBackend, Dalek, Proof, Prover, RingMember, RingProof, Verifier,
//! };
//! # use rand_core::SeedableRng;
//! # let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]); // any rand_core CryptoRng
//! let alice = KeyPair::from_seed([1; 32])?;
//! let followed: [PublicKey; 3] = [
//!     KeyPair::from_seed([2; 32])?.public(),
//!     alice.public(),
//!     KeyPair::from_seed([3; 32])?.public(),
//! ];
//!
//! // Alice proves she is one of the people Bob follows, bound to Bob's fresh challenge.
//! let ring = RingMember { members: &followed };
//! let binding = Binding::new(b"glitter/demo/v1", b"bob's challenge 42");
//! let proof = Dalek.prove(&ring, &alice, &binding, &mut rng)?;
//!
//! // Bob checks it, without learning which of the three she is.
//! assert_eq!(Dalek.verify(&ring, &proof, &binding), Ok(()));
//!
//! // A tampered proof fails, and so does the proof under another challenge.
//! let mut bytes = [0u8; RingProof::ENCODED_LEN_MAX];
//! let len = proof.emit(&mut bytes)?;
//! bytes[40] ^= 1;
//! let tampered = RingProof::parse(&bytes[..len]).and_then(|p| Dalek.verify(&ring, &p, &binding));
//! assert!(tampered.is_err());
//! let replayed = Binding::new(b"glitter/demo/v1", b"bob's challenge 43");
//! assert_eq!(Dalek.verify(&ring, &proof, &replayed), Err(zk::ZkError::Rejected));
//!
//! // On a chain: a claim is a payload (`Payload::Claim`), checked with the block's author.
//! let claim = Claim::knows_key(
//!     ClaimBackend::Dalek, &alice.public(), &alice, b"glitter/demo", b"hello", &mut rng,
//! )?;
//! assert_eq!(claim.verify(&alice.public()), Ok(()));
//! // A peer receiving the block calls `zk::verify_claim_block(&header, &payload)`.
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

mod claim;
mod claim_set;
mod dalek;
mod error;
mod group;
pub mod oom;
mod placeholder;
mod transcript;

pub use claim::{
    CLAIM_CONTEXT_LEN_MAX, CLAIM_MESSAGE_LEN_MAX, CLAIM_POST_COUNT_MAX, CLAIM_PROOF_LEN_MAX,
    CLAIM_RING_MEMBERS_MAX, CLAIM_SET_MEMBERS_MAX, Claim, ClaimBackend, ClaimStatement,
    claim_message, verify_claim_block,
};
pub use claim_set::{
    ClaimSet, set_hash, snapshot_hash, verify_claim_block_with, verify_claim_block_with_set,
};
pub use dalek::{Dalek, RingProof, SchnorrProof};
pub use error::{ClaimBlockError, ZkError};
pub use placeholder::{
    MemberSignatureProof, Placeholder, PostCountProof, PostCountWitness, SignatureProof,
};

use crate::sig::{KeyPair, PublicKey};
use rand_core::CryptoRng;

/// The largest ring a [`RingMember`] statement may name. Proofs and statements are
/// bounded by it, so verifying never needs more than a fixed amount of memory.
pub const RING_MEMBERS_MAX: usize = 32;

/// The largest N in a [`PostCount`] statement the placeholder backend can prove: its
/// proof carries N headers (212 bytes each).
pub const POST_COUNT_MAX: usize = 16;

/// What a proof is bound to besides its statement.
///
/// The same statement proven under another context or message gives an unrelated
/// proof, and a proof never verifies under a binding other than its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding<'a> {
    /// Who asks, and what for: an application label such as `b"glitter/login/v1"` or a
    /// verifier's name. Separates uses of the same key from one another.
    pub context: &'a [u8],
    /// What the proof vouches for: a verifier's fresh challenge (against replay), a
    /// post's id, or empty.
    pub message: &'a [u8],
}

impl<'a> Binding<'a> {
    /// A binding of `context` and `message`.
    pub fn new(context: &'a [u8], message: &'a [u8]) -> Binding<'a> {
        Binding { context, message }
    }
}

/// A public statement that a proof is about.
pub trait Statement {
    /// A short, stable, kebab-case name (`"knows-key"`, ...), bound into every
    /// transcript so that proofs of different statements can never be confused.
    const NAME: &'static str;

    /// Checks that the statement is well formed: sizes within their bounds, keys
    /// canonical and not of small order, no duplicate ring members.
    ///
    /// # Errors
    /// The first defect found, as a [`ZkError`].
    fn validate(&self) -> Result<(), ZkError>;
}

/// A proof's canonical bytes: bounded in size and strictly decoded.
pub trait Proof: Sized {
    /// The largest encoding of this proof type, in bytes.
    const ENCODED_LEN_MAX: usize;

    /// The length of this proof's encoding, in bytes.
    fn encoded_len(&self) -> usize;

    /// Writes the encoding into the front of `out` and returns its length.
    ///
    /// # Errors
    /// [`ZkError::BufferTooSmall`] if `out` is shorter than [`Proof::encoded_len`].
    fn emit(&self, out: &mut [u8]) -> Result<usize, ZkError>;

    /// Decodes a proof. Strict: exact length, canonical scalars, no trailing bytes.
    /// Decoding checks the encoding only; [`Verifier::verify`] checks the proof.
    ///
    /// # Errors
    /// [`ZkError::ProofLength`], [`ZkError::NonCanonicalScalar`] or another
    /// encoding error of the proof type.
    fn parse(bytes: &[u8]) -> Result<Self, ZkError>;
}

/// Makes proofs of statement `S`.
pub trait Prover<S: Statement + ?Sized> {
    /// The secret that makes the statement true (for example a [`crate::KeyPair`]).
    type Witness: ?Sized;
    /// The proof this prover makes.
    type Proof: Proof;

    /// Proves `statement` with `witness`, bound to `binding`. Randomness comes from
    /// `rng`, which the caller owns.
    ///
    /// # Errors
    /// [`ZkError::WitnessMismatch`] or [`ZkError::NotAMember`] if the witness does not
    /// make the statement true, or the statement's own [`Statement::validate`] error.
    fn prove<R: CryptoRng + ?Sized>(
        &self,
        statement: &S,
        witness: &Self::Witness,
        binding: &Binding<'_>,
        rng: &mut R,
    ) -> Result<Self::Proof, ZkError>;
}

/// Checks proofs of statement `S`.
pub trait Verifier<S: Statement + ?Sized> {
    /// The proof this verifier checks.
    type Proof: Proof;

    /// Accepts `proof` iff it proves `statement` under `binding`.
    ///
    /// # Errors
    /// [`ZkError::Rejected`] if the proof does not verify, or a more precise error
    /// (malformed statement, wrong ring size, bad header, ...).
    fn verify(
        &self,
        statement: &S,
        proof: &Self::Proof,
        binding: &Binding<'_>,
    ) -> Result<(), ZkError>;
}

/// "I know the secret key behind `key`": proof of identity control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KnowsKey {
    /// The Ed25519 public key (an author).
    pub key: PublicKey,
}

impl Statement for KnowsKey {
    const NAME: &'static str = "knows-key";

    fn validate(&self) -> Result<(), ZkError> {
        group::decode_key(&self.key, 0).map(|_| ())
    }
}

/// "I know the secret key of one of these `members`", for example "I am one of the
/// people you follow". The order of the members is part of the statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RingMember<'a> {
    /// The ring: 1 to [`RING_MEMBERS_MAX`] distinct, valid keys.
    pub members: &'a [PublicKey],
}

impl Statement for RingMember<'_> {
    const NAME: &'static str = "ring-member";

    fn validate(&self) -> Result<(), ZkError> {
        check_ring_shape(self.members)?;
        for (index, key) in self.members.iter().enumerate() {
            group::decode_key(key, index)?;
        }
        Ok(())
    }
}

/// The verdict of a proof on raw bytes, as a short stable name: `"accept"`, a
/// [`ZkError::name`], `"bad-length"` when `keys` is not a whole number of 32-byte
/// keys (at most [`RING_MEMBERS_MAX`], exactly one for `knows-key`), or
/// `"unknown-scheme"`.
///
/// `scheme` is one of `"dalek/knows-key"` (exactly one key), `"dalek/ring-member"`,
/// `"placeholder/knows-key"` and `"placeholder/ring-member"`. Pinned test vectors
/// record these verdicts, so the host and the firmware compare through this one
/// function.
pub fn verdict(
    scheme: &str,
    keys: &[u8],
    context: &[u8],
    message: &[u8],
    proof: &[u8],
) -> &'static str {
    if !keys.len().is_multiple_of(32) || keys.len() > 32 * RING_MEMBERS_MAX {
        return "bad-length";
    }
    let members: heapless::Vec<PublicKey, RING_MEMBERS_MAX> = keys
        .chunks_exact(32)
        .map(|k| {
            let mut key = [0u8; 32];
            key.copy_from_slice(k);
            PublicKey(key)
        })
        .collect();
    let binding = Binding::new(context, message);
    let single = members.first().filter(|_| members.len() == 1).copied();
    let ring = RingMember { members: &members };
    let result = match scheme {
        "dalek/knows-key" => {
            let Some(key) = single else {
                return "bad-length";
            };
            verify_bytes(&Dalek, &KnowsKey { key }, proof, &binding)
        }
        "dalek/ring-member" => verify_bytes(&Dalek, &ring, proof, &binding),
        "placeholder/knows-key" => {
            let Some(key) = single else {
                return "bad-length";
            };
            verify_bytes(&Placeholder, &KnowsKey { key }, proof, &binding)
        }
        "placeholder/ring-member" => verify_bytes(&Placeholder, &ring, proof, &binding),
        _ => return "unknown-scheme",
    };
    match result {
        Ok(()) => "accept",
        Err(e) => e.name(),
    }
}

/// Decodes `proof` as `backend`'s proof of `statement` (strictly, [`Proof::parse`])
/// and verifies it.
fn verify_bytes<S: Statement + ?Sized, B: Verifier<S>>(
    backend: &B,
    statement: &S,
    proof: &[u8],
    binding: &Binding<'_>,
) -> Result<(), ZkError> {
    backend.verify(statement, &B::Proof::parse(proof)?, binding)
}

/// The frame of every [`Proof::emit`]: `write` fills the first `needed` bytes of
/// `out`, and the length written is returned.
///
/// # Errors
/// [`ZkError::BufferTooSmall`] if `out` is shorter than `needed`; nothing is written.
fn emit_with(
    out: &mut [u8],
    needed: usize,
    write: impl FnOnce(&mut [u8]),
) -> Result<usize, ZkError> {
    let dst = out
        .get_mut(..needed)
        .ok_or(ZkError::BufferTooSmall { needed })?;
    write(dst);
    Ok(needed)
}

/// `bytes` as a fixed-length proof of `N` bytes.
///
/// # Errors
/// [`ZkError::ProofLength`] if `bytes` is not `N` long.
fn fixed_len<const N: usize>(bytes: &[u8]) -> Result<[u8; N], ZkError> {
    bytes.try_into().map_err(|_| ZkError::ProofLength {
        len: bytes.len(),
        expected: N,
    })
}

/// Validates `statement` and checks that `witness` is the key pair of `key`, the one
/// key the statement is about: the first step of every prover of such a statement.
fn check_witness<S: Statement + ?Sized>(
    statement: &S,
    key: &PublicKey,
    witness: &KeyPair,
) -> Result<(), ZkError> {
    statement.validate()?;
    if witness.public() != *key {
        return Err(ZkError::WitnessMismatch);
    }
    Ok(())
}

/// Size and uniqueness of a ring, without decoding the keys.
fn check_ring_shape(members: &[PublicKey]) -> Result<(), ZkError> {
    let n = members.len();
    if n == 0 || n > RING_MEMBERS_MAX {
        return Err(ZkError::RingSize {
            members: n,
            max: RING_MEMBERS_MAX,
        });
    }
    // At most 32·31/2 = 496 comparisons of 32 bytes.
    for (index, key) in members.iter().enumerate() {
        if members.iter().take(index).any(|earlier| earlier == key) {
            return Err(ZkError::DuplicateMember { index });
        }
    }
    Ok(())
}

/// "`author` has signed at least `posts` post headers at distinct seqs."
///
/// Proven by the [`Placeholder`] backend only, which shows the headers. It does
/// **not** show that those headers are part of the chain a verifier knows; see
/// `docs/ZK.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PostCount {
    /// The author whose posts are counted.
    pub author: PublicKey,
    /// The least number of posts claimed: 1 to [`POST_COUNT_MAX`].
    pub posts: u16,
}

impl Statement for PostCount {
    const NAME: &'static str = "post-count";

    fn validate(&self) -> Result<(), ZkError> {
        if self.posts == 0 || usize::from(self.posts) > POST_COUNT_MAX {
            return Err(ZkError::PostCountRange {
                posts: self.posts,
                max: POST_COUNT_MAX,
            });
        }
        group::decode_key(&self.author, 0).map(|_| ())
    }
}
