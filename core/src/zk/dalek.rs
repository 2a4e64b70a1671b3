//! The real backend: Schnorr and 1-of-n ring proofs of knowledge on Edwards25519
//! (curve25519-dalek, no allocator).
//!
//! Both proofs are one construction. For a ring of keys `P₀..Pₙ₋₁` (each `Pᵢ = 8·Aᵢ`,
//! see [`group`](super::group)) and a transcript prefix `T` that binds the statement
//! name, every key in order, the context and the message, define the step challenge
//!
//! ```text
//! H(i, R) = SHA-512(T ‖ "index" i ‖ "commitment" R) mod ℓ
//! ```
//!
//! A proof is `(c₀, s₀, .., sₙ₋₁)`. The verifier walks the ring once:
//!
//! ```text
//! c ← c₀
//! for i in 0..n:  Rᵢ ← sᵢ·B − c·Pᵢ;  c ← H(i, Rᵢ)
//! accept iff c = c₀
//! ```
//!
//! The prover, who knows `w` with `Pⱼ = w·B`, starts the walk at its own position with
//! a fresh commitment `Rⱼ = r·B`, simulates every other member with a random response
//! `sᵢ` (so `Rᵢ = sᵢ·B − cᵢ·Pᵢ` is just computed), and closes the ring with
//! `sⱼ = r + cⱼ·w`. This is the ring of Abe, Ohkubo and Suzuki (2002): the OR-composition
//! of Schnorr proofs of Cramer, Damgård and Schoenmakers (1994) in its compact form,
//! where the challenges are chained through the hash instead of summed, so the proof
//! needs one challenge rather than n. With n = 1 it is exactly a Schnorr proof in
//! (challenge, response) form, which is what [`KnowsKey`] uses (under its own
//! statement name, so a Schnorr proof is never a ring proof of one member).
//!
//! Sizes: Schnorr 64 bytes; ring 32 + 32·n bytes (n ≤ [`RING_MEMBERS_MAX`]).
//!
//! **Side channels.** Scalar arithmetic and `r·B` are constant time. The ring prover
//! walks the members in an order that starts at its own position, and handles its own
//! member differently; its running time can therefore reveal *which* member proved to
//! someone who can time the prover's device. The proof bytes do not (see the
//! zero-knowledge test). Verification is variable time over public data only.

use super::group::{self, Nonces, Secret};
use super::transcript::Transcript;
use super::{
    Binding, KnowsKey, Proof, Prover, RING_MEMBERS_MAX, RingMember, Statement, Verifier, ZkError,
    check_ring_shape, check_witness, emit_with, fixed_len,
};
use crate::sig::{KeyPair, PublicKey};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use heapless::Vec;
use rand_core::CryptoRng;

/// The real, zero-knowledge backend: [`SchnorrProof`]s for [`KnowsKey`] and
/// [`RingProof`]s for [`RingMember`]. Witnesses are glitter [`KeyPair`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dalek;

/// A Schnorr proof of knowledge of the secret key behind one public key:
/// `(c, s)`, 64 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SchnorrProof {
    c: [u8; 32],
    s: [u8; 32],
}

impl SchnorrProof {
    /// The encoded length: always 64 bytes.
    pub const LEN: usize = 64;

    /// The canonical 64 bytes `c ‖ s`.
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        let (c, s) = out.split_at_mut(32);
        c.copy_from_slice(&self.c);
        s.copy_from_slice(&self.s);
        out
    }
}

impl Proof for SchnorrProof {
    const ENCODED_LEN_MAX: usize = SchnorrProof::LEN;

    fn encoded_len(&self) -> usize {
        SchnorrProof::LEN
    }

    fn emit(&self, out: &mut [u8]) -> Result<usize, ZkError> {
        emit_with(out, SchnorrProof::LEN, |dst| {
            dst.copy_from_slice(&self.to_bytes());
        })
    }

    fn parse(bytes: &[u8]) -> Result<SchnorrProof, ZkError> {
        let bytes: [u8; SchnorrProof::LEN] = fixed_len(bytes)?;
        let (c, s) = split32(&bytes);
        group::decode_scalar(c)?;
        group::decode_scalar(s)?;
        Ok(SchnorrProof { c, s })
    }
}

/// A 1-of-n ring proof: `(c₀, s₀, .., sₙ₋₁)`, 32 + 32·n bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RingProof {
    c0: [u8; 32],
    responses: Vec<[u8; 32], RING_MEMBERS_MAX>,
}

impl RingProof {
    /// The encoded length of a proof for a ring of `members`.
    pub const fn len_for(members: usize) -> usize {
        32 + 32 * members
    }

    /// The number of ring members this proof is for.
    pub fn members(&self) -> usize {
        self.responses.len()
    }
}

impl Proof for RingProof {
    const ENCODED_LEN_MAX: usize = RingProof::len_for(RING_MEMBERS_MAX);

    fn encoded_len(&self) -> usize {
        RingProof::len_for(self.responses.len())
    }

    fn emit(&self, out: &mut [u8]) -> Result<usize, ZkError> {
        emit_with(out, self.encoded_len(), |dst| {
            let values = core::iter::once(&self.c0).chain(self.responses.iter());
            for (chunk, value) in dst.chunks_exact_mut(32).zip(values) {
                chunk.copy_from_slice(value);
            }
        })
    }

    fn parse(bytes: &[u8]) -> Result<RingProof, ZkError> {
        let len = bytes.len();
        let valid = len >= RingProof::len_for(1)
            && len <= RingProof::ENCODED_LEN_MAX
            && len.is_multiple_of(32);
        if !valid {
            let expected = (len / 32 * 32).clamp(RingProof::len_for(1), RingProof::ENCODED_LEN_MAX);
            return Err(ZkError::ProofLength { len, expected });
        }
        let mut chunks = bytes.chunks_exact(32).map(to32);
        let c0 = chunks.next().ok_or(ZkError::ProofLength {
            len,
            expected: RingProof::len_for(1),
        })?;
        group::decode_scalar(c0)?;
        let mut responses = Vec::new();
        for s in chunks {
            group::decode_scalar(s)?;
            responses.push(s).map_err(|_| ZkError::ProofLength {
                len,
                expected: RingProof::ENCODED_LEN_MAX,
            })?;
        }
        Ok(RingProof { c0, responses })
    }
}

fn split32(bytes: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let (a, b) = bytes.split_at(32);
    (to32(a), to32(b))
}

/// Copies a 32-byte chunk (callers pass exact chunks; a short one is zero-padded).
fn to32(chunk: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(chunk) {
        *o = *b;
    }
    out
}

/// The transcript prefix shared by every step: statement name, keys in order, binding.
fn prefix(name: &str, members: &[PublicKey], binding: &Binding<'_>) -> Transcript {
    let mut t = Transcript::new(name);
    t.append_u64(b"members", members.len() as u64);
    for key in members {
        t.append(b"key", &key.0);
    }
    t.append(b"context", binding.context);
    t.append(b"message", binding.message);
    t
}

/// The step challenge `H(i, R)`.
fn step(prefix: &Transcript, index: usize, commitment: &EdwardsPoint) -> Scalar {
    let mut t = prefix.clone();
    t.append_u64(b"index", index as u64);
    t.append(b"commitment", commitment.compress().as_bytes());
    t.challenge(b"ring-step")
}

/// `s·B − c·P`, variable time (all inputs are public).
fn simulate(s: &Scalar, c: &Scalar, p: &EdwardsPoint) -> EdwardsPoint {
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&-c, p, s)
}

/// Proves membership of `keys` in the ring `members` (checked for shape already).
/// Returns `c₀` and writes the responses.
fn prove_ring<R: CryptoRng + ?Sized>(
    name: &str,
    members: &[PublicKey],
    keys: &KeyPair,
    binding: &Binding<'_>,
    rng: &mut R,
    responses: &mut [[u8; 32]],
) -> Result<Scalar, ZkError> {
    let n = members.len();
    let me = keys.public();
    let j = members
        .iter()
        .position(|k| *k == me)
        .ok_or(ZkError::NotAMember)?;
    let pj = group::decode_key(&me, j)?;
    let secret = Secret::from_key_pair(keys);
    if !secret.fits(&pj) {
        return Err(ZkError::WitnessMismatch);
    }
    let t = prefix(name, members, binding);
    let nonces = Nonces::new(&secret, &t, rng);

    let r = nonces.scalar(0);
    let mut c = step(&t, j, &EdwardsPoint::mul_base(&r));
    let mut c0 = (j + 1 == n).then_some(c);
    // Every other member, in ring order after j: simulate its transcript.
    for i in (j + 1..n).chain(0..j) {
        let key = members.get(i).ok_or(ZkError::NotAMember)?;
        let p = group::decode_key(key, i)?;
        let s = nonces.scalar(1 + i as u64);
        let commitment = simulate(&s, &c, &p);
        if let Some(slot) = responses.get_mut(i) {
            *slot = s.to_bytes();
        }
        c = step(&t, i, &commitment);
        if i + 1 == n {
            c0 = Some(c);
        }
    }
    // c is now c_j: close the ring.
    let sj = r + c * secret.w;
    if let Some(slot) = responses.get_mut(j) {
        *slot = sj.to_bytes();
    }
    c0.ok_or(ZkError::NotAMember)
}

/// Verifies a ring walk; `responses.len()` equals `members.len()` (checked by callers).
fn verify_ring(
    name: &str,
    members: &[PublicKey],
    c0: &[u8; 32],
    responses: &[[u8; 32]],
    binding: &Binding<'_>,
) -> Result<(), ZkError> {
    let t = prefix(name, members, binding);
    let c0 = group::decode_scalar(*c0)?;
    let mut c = c0;
    for (i, (key, s)) in members.iter().zip(responses).enumerate() {
        let p = group::decode_key(key, i)?;
        let s = group::decode_scalar(*s)?;
        c = step(&t, i, &simulate(&s, &c, &p));
    }
    if c == c0 {
        Ok(())
    } else {
        Err(ZkError::Rejected)
    }
}

impl Prover<KnowsKey> for Dalek {
    type Witness = KeyPair;
    type Proof = SchnorrProof;

    fn prove<R: CryptoRng + ?Sized>(
        &self,
        statement: &KnowsKey,
        witness: &KeyPair,
        binding: &Binding<'_>,
        rng: &mut R,
    ) -> Result<SchnorrProof, ZkError> {
        check_witness(statement, &statement.key, witness)?;
        let members = [statement.key];
        let mut responses = [[0u8; 32]; 1];
        let c = prove_ring(
            KnowsKey::NAME,
            &members,
            witness,
            binding,
            rng,
            &mut responses,
        )?;
        let [s] = responses;
        Ok(SchnorrProof { c: c.to_bytes(), s })
    }
}

impl Verifier<KnowsKey> for Dalek {
    type Proof = SchnorrProof;

    fn verify(
        &self,
        statement: &KnowsKey,
        proof: &SchnorrProof,
        binding: &Binding<'_>,
    ) -> Result<(), ZkError> {
        verify_ring(
            KnowsKey::NAME,
            &[statement.key],
            &proof.c,
            &[proof.s],
            binding,
        )
    }
}

impl Prover<RingMember<'_>> for Dalek {
    type Witness = KeyPair;
    type Proof = RingProof;

    fn prove<R: CryptoRng + ?Sized>(
        &self,
        statement: &RingMember<'_>,
        witness: &KeyPair,
        binding: &Binding<'_>,
        rng: &mut R,
    ) -> Result<RingProof, ZkError> {
        // Shape first (size, duplicates); each key is decoded strictly as the walk
        // reaches it, so a bad key fails the proof with its index.
        check_ring_shape(statement.members)?;
        let mut responses = Vec::new();
        for _ in statement.members {
            responses.push([0u8; 32]).map_err(|_| ZkError::RingSize {
                members: statement.members.len(),
                max: RING_MEMBERS_MAX,
            })?;
        }
        let c0 = prove_ring(
            RingMember::NAME,
            statement.members,
            witness,
            binding,
            rng,
            &mut responses,
        )?;
        Ok(RingProof {
            c0: c0.to_bytes(),
            responses,
        })
    }
}

impl Verifier<RingMember<'_>> for Dalek {
    type Proof = RingProof;

    fn verify(
        &self,
        statement: &RingMember<'_>,
        proof: &RingProof,
        binding: &Binding<'_>,
    ) -> Result<(), ZkError> {
        check_ring_shape(statement.members)?;
        let n = statement.members.len();
        if proof.members() != n {
            return Err(ZkError::ProofLength {
                len: proof.encoded_len(),
                expected: RingProof::len_for(n),
            });
        }
        verify_ring(
            RingMember::NAME,
            statement.members,
            &proof.c0,
            &proof.responses,
            binding,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn keys(n: u8) -> KeyPair {
        KeyPair::from_seed([n; 32]).unwrap()
    }

    #[test]
    fn schnorr_roundtrip_and_binding() {
        let mut rng = ChaCha20Rng::from_seed([7; 32]);
        let alice = keys(1);
        let st = KnowsKey {
            key: alice.public(),
        };
        let b = Binding::new(b"ctx", b"msg");
        let proof = Dalek.prove(&st, &alice, &b, &mut rng).unwrap();
        assert_eq!(Dalek.verify(&st, &proof, &b), Ok(()));
        let again = SchnorrProof::parse(&proof.to_bytes()).unwrap();
        assert_eq!(again, proof);
        assert_eq!(
            Dalek.verify(&st, &proof, &Binding::new(b"ctx", b"msh")),
            Err(ZkError::Rejected)
        );
        assert_eq!(
            Dalek.verify(&st, &proof, &Binding::new(b"ctx2", b"msg")),
            Err(ZkError::Rejected)
        );
        let bob = keys(2);
        assert_eq!(
            Dalek.prove(&st, &bob, &b, &mut rng),
            Err(ZkError::WitnessMismatch)
        );
    }

    #[test]
    fn ring_every_position() {
        let mut rng = ChaCha20Rng::from_seed([8; 32]);
        let pairs: [KeyPair; 5] = core::array::from_fn(|i| keys(i as u8 + 1));
        let members: [PublicKey; 5] = core::array::from_fn(|i| pairs[i].public());
        let st = RingMember { members: &members };
        let b = Binding::new(b"ctx", b"msg");
        for signer in &pairs {
            let proof = Dalek.prove(&st, signer, &b, &mut rng).unwrap();
            assert_eq!(proof.encoded_len(), 32 + 32 * 5);
            assert_eq!(Dalek.verify(&st, &proof, &b), Ok(()));
            let mut buf = [0u8; RingProof::ENCODED_LEN_MAX];
            let len = proof.emit(&mut buf).unwrap();
            assert_eq!(RingProof::parse(&buf[..len]).unwrap(), proof);
        }
        assert_eq!(
            Dalek.prove(&st, &keys(9), &b, &mut rng),
            Err(ZkError::NotAMember)
        );
    }
}
