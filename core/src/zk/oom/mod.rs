//! Log-size one-out-of-many membership proofs with optional linkable tags.
//!
//! "I know the secret key of one of these `n` public keys", in a proof of
//! `(2·m + 7)·32` bytes (plus 32 for a tag), where `m = ⌈log₂ n⌉` (at least 1): 864
//! bytes for n = 1,024 and 1,248 bytes for n = 65,536. Verification is one
//! multiscalar multiplication over the members and `2·m + 7` fixed points. The
//! members are the authors' own Ed25519 keys: no registration, no trusted setup.
//!
//! # The construction
//!
//! Groth and Kohlweiss (EUROCRYPT 2015), in the binary form of Bootle, Cerulli,
//! Chaidos, Ghadafi, Groth and Petit (ESORICS 2015), proving that one of the points
//! `Cᵢ` is a "commitment to zero" `w·Base`:
//!
//! * Members: `Pᵢ = 8·Aᵢ` for the admitted keys `Aᵢ` (see "Keys and witness" in
//!   `docs/ZK.md`), padded to `N = 2ᵐ` by repeating the last member. The prover holds `w` with
//!   `P_l = w·B` (RFC 8032's scalar times 8, as for the ring proofs).
//! * Pedersen vector commitments `Com(v₀..vₘ₋₁; r) = r·B + Σ vⱼ·Hⱼ`, with generators
//!   `Hⱼ` hashed to the curve (nobody knows their discrete logarithms).
//! * Untagged: `Cᵢ = Pᵢ` and `Base = B`. Tagged ("linkable"): the tag is
//!   `J = w·U` with `U` hashed to the curve from the binding's context, and, with
//!   `μ = H(transcript ‖ J)`, `Cᵢ = Pᵢ + μ·J` and `Base = B + μ·U`. So `C_l = w·Base`
//!   exactly when `P_l = w·B` and `J = w·U`: one proof shows membership and that the
//!   tag has the member's own secret (a random linear combination of the two
//!   relations, chosen after `J` is fixed).
//!
//! The prover commits to the bits `lⱼ` of its position and to random `aⱼ`:
//! `A = Com(a; r_A)`, `B' = Com(l; r_B)`, `C = Com(aⱼ(1 − 2lⱼ); r_C)`,
//! `D = Com(−aⱼ²; r_D)`, and for `k < m` to `Gₖ = Σᵢ pᵢ,ₖ·Cᵢ + ρₖ·Base`, where
//! `pᵢ(x) = Πⱼ fⱼ,ᵢⱼ(x) = Σₖ pᵢ,ₖ xᵏ` with `fⱼ,₁ = lⱼx + aⱼ` and `fⱼ,₀ = x − fⱼ,₁`. After
//! the challenge `x` it answers `fⱼ = lⱼx + aⱼ`, `z_A = r_B·x + r_A`,
//! `z_C = r_C·x + r_D` and `z = w·xᵐ − Σₖ ρₖxᵏ`. The verifier checks
//!
//! ```text
//! x·B' + A = Com(f; z_A)      x·C + D = Com(f ∘ (x − f); z_C)
//! Σᵢ pᵢ(x)·Pᵢ + μ·xᵐ·J − Σₖ xᵏ·Gₖ = z·Base        (pᵢ(x) = Πⱼ fⱼ,ᵢⱼ)
//! ```
//!
//! combined into one multiscalar multiplication with weights derived from the whole
//! transcript (so the prover cannot pick them). Since `Σᵢ pᵢ(x) = xᵐ` over the padded
//! set, the tag term needs no per-member work.
//!
//! # Memory
//!
//! Nothing here allocates. The per-member coefficients are produced in order by a
//! depth-first walk of the bit tree that keeps one partial product per level
//! (`O(log n)` scalars, amortised two multiplications per member). [`Dalek`]'s
//! `prove` and `verify` stream over the members with one scalar multiplication per
//! member (and `m` for the prover); a host with an allocator takes the same
//! coefficients from [`Verification`] and runs one Pippenger multiscalar
//! multiplication instead, and proves with [`ProverSession::fold_members`] (the
//! members folded bit by bit into `2ᵐ` points, each in exactly one of the `m` sums:
//! one multiscalar multiplication of size `2ᵐ` rather than `m` of size `n`). Both
//! paths compute the same equation, so they give the same verdict; the host's module
//! is `glitter_host::zk_oom`. A device without an allocator keeps its members
//! validated once ([`PreparedMember`]) and verifies with [`PreparedSet::verify`]: one
//! Pippenger multiscalar multiplication over a caller-provided buffer of
//! [`ScalarDigits`], with the same verdict again.
//!
//! # Statement rules
//!
//! Members are 1 to [`OOM_MEMBERS_MAX`] keys in strictly increasing byte order (so the
//! statement is a set, and duplicates are found in one pass without memory); every
//! key passes [`PublicKey::validate`](crate::sig::PublicKey::validate). Proof points
//! must be canonical encodings of torsion-free points that are not of small order;
//! proof scalars must be below ℓ.

mod coeffs;
mod msm;
mod prepared;
mod prove;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_prepared;
mod verify;

pub use coeffs::{MemberPolynomials, MemberScalars};
pub use msm::ScalarDigits;
pub use prepared::{PreparedMember, PreparedSet, prepare_members, scratch_len};
pub use prove::ProverSession;
pub use verify::{FIXED_TERMS_MAX, Verification};

use super::group::{self, Secret};
use super::transcript::Transcript;
use super::{Binding, Dalek, Proof, Prover, Statement, Verifier, ZkError, emit_with};
use crate::sig::{KeyPair, PublicKey};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use ed25519_compact::sha512::Hash as Sha512;
use rand_core::CryptoRng;

/// The largest `m = ⌈log₂ n⌉` a one-out-of-many proof may have.
pub const OOM_LOG_MAX: usize = 16;

/// The largest member set: 2¹⁶ = 65,536 keys.
pub const OOM_MEMBERS_MAX: usize = 1 << OOM_LOG_MAX;

/// How many hash attempts [`hash_to_point`] makes before giving up (each succeeds
/// with probability about ½, so failing is a 2⁻¹²⁸ event).
const HASH_TO_POINT_TRIES: u32 = 128;

/// "I know the secret key of one of `members`", optionally with a linkable tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OneOfMany<'a> {
    /// The set: 1 to [`OOM_MEMBERS_MAX`] valid keys in strictly increasing byte order.
    pub members: &'a [PublicKey],
    /// Whether the proof carries a [`LinkTag`]: deterministic per (secret key,
    /// binding context), so two proofs by one member in one context have equal tags.
    pub linkable: bool,
}

impl Statement for OneOfMany<'_> {
    const NAME: &'static str = "one-of-many";

    fn validate(&self) -> Result<(), ZkError> {
        check_members(self.members)?;
        for (index, key) in self.members.iter().enumerate() {
            group::decode_key(key, index)?;
        }
        Ok(())
    }
}

/// A linkable tag: `w·H(context)` for the prover's secret `w`. Equal tags in one
/// context mean one member proved twice; tags of one member in different contexts
/// are unlinkable (under DDH).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkTag(pub [u8; 32]);

/// The tag `keys` would carry in `context` (what a member can compute in advance to
/// know whether it already claimed there).
///
/// # Errors
/// [`ZkError::HashToPoint`] (never in practice).
pub fn link_tag(keys: &KeyPair, context: &[u8]) -> Result<LinkTag, ZkError> {
    let secret = Secret::from_key_pair(keys);
    let u = tag_base(context)?;
    Ok(LinkTag((u * secret.w).compress().0))
}

/// A one-out-of-many proof: `[J] A B' C D G₀..Gₘ₋₁ f₀..fₘ₋₁ z_A z_C z`, each 32 bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OneOfManyProof {
    m: u8,
    tag: Option<[u8; 32]>,
    /// `A, B', C, D`.
    commitments: [[u8; 32]; 4],
    g: [[u8; 32]; OOM_LOG_MAX],
    f: [[u8; 32]; OOM_LOG_MAX],
    /// `z_A, z_C, z`.
    z: [[u8; 32]; 3],
}

impl OneOfManyProof {
    /// The encoded length of a proof for `members` keys, with or without a tag.
    pub const fn len_for(members: usize, linkable: bool) -> usize {
        let m = log_size(members);
        32 * (2 * m + 7 + if linkable { 1 } else { 0 })
    }

    /// `m`: the proof is for sets of `2^(m−1) + 1` to `2^m` members (1 to 2 for m = 1).
    pub fn log_size(&self) -> usize {
        usize::from(self.m)
    }

    /// The linkable tag, if the proof carries one. It is only meaningful once the
    /// proof verifies (under a linkable statement).
    pub fn tag(&self) -> Option<LinkTag> {
        self.tag.map(LinkTag)
    }

    /// Every 32-byte field in encoding order.
    fn fields(&self) -> impl Iterator<Item = &[u8; 32]> {
        let m = self.log_size();
        self.tag
            .iter()
            .chain(self.commitments.iter())
            .chain(self.g.iter().take(m))
            .chain(self.f.iter().take(m))
            .chain(self.z.iter())
    }
}

impl Proof for OneOfManyProof {
    const ENCODED_LEN_MAX: usize = 32 * (2 * OOM_LOG_MAX + 8);

    fn encoded_len(&self) -> usize {
        32 * (2 * self.log_size() + 7 + usize::from(self.tag.is_some()))
    }

    fn emit(&self, out: &mut [u8]) -> Result<usize, ZkError> {
        emit_with(out, self.encoded_len(), |dst| {
            for (chunk, value) in dst.chunks_exact_mut(32).zip(self.fields()) {
                chunk.copy_from_slice(value);
            }
        })
    }

    fn parse(bytes: &[u8]) -> Result<OneOfManyProof, ZkError> {
        let len = bytes.len();
        let words = len / 32;
        let linkable = words.is_multiple_of(2);
        let fixed = if linkable { 8 } else { 7 };
        let m = words.saturating_sub(fixed) / 2;
        if !len.is_multiple_of(32) || words < fixed + 2 || m > OOM_LOG_MAX {
            let m = m.clamp(1, OOM_LOG_MAX);
            return Err(ZkError::ProofLength {
                len,
                expected: 32 * (2 * m + fixed),
            });
        }
        let mut chunks = bytes.chunks_exact(32).map(to32);
        let mut next = || chunks.next().unwrap_or([0; 32]);
        let tag = linkable.then(&mut next);
        let commitments = core::array::from_fn(|_| next());
        let mut g = [[0u8; 32]; OOM_LOG_MAX];
        for slot in g.iter_mut().take(m) {
            *slot = next();
        }
        let mut f = [[0u8; 32]; OOM_LOG_MAX];
        for slot in f.iter_mut().take(m) {
            *slot = group::decode_scalar(next())?.to_bytes();
        }
        let mut z = [[0u8; 32]; 3];
        for slot in z.iter_mut() {
            *slot = group::decode_scalar(next())?.to_bytes();
        }
        Ok(OneOfManyProof {
            m: u8::try_from(m).unwrap_or(0),
            tag,
            commitments,
            g,
            f,
            z,
        })
    }
}

impl Prover<OneOfMany<'_>> for Dalek {
    type Witness = KeyPair;
    type Proof = OneOfManyProof;

    /// Streams over the members: one strict key decoding and `m` constant-time scalar
    /// multiplications per member, `O(log n)` memory.
    fn prove<R: CryptoRng + ?Sized>(
        &self,
        statement: &OneOfMany<'_>,
        witness: &KeyPair,
        binding: &Binding<'_>,
        rng: &mut R,
    ) -> Result<OneOfManyProof, ZkError> {
        let session = ProverSession::begin(statement, witness, binding, rng)?;
        let m = session.log_size();
        let mut sums = [EdwardsPoint::identity(); OOM_LOG_MAX];
        for (index, (key, poly)) in statement
            .members
            .iter()
            .zip(session.member_polynomials())
            .enumerate()
        {
            let p = group::decode_key(key, index)?;
            for (sum, coefficient) in sums.iter_mut().zip(poly.iter()).take(m) {
                *sum += p * coefficient;
            }
        }
        session.finish(sums.get(..m).unwrap_or(&[]))
    }
}

impl Verifier<OneOfMany<'_>> for Dalek {
    type Proof = OneOfManyProof;

    /// Streams over the members: one strict key decoding and one variable-time scalar
    /// multiplication per member, `O(log n)` memory.
    fn verify(
        &self,
        statement: &OneOfMany<'_>,
        proof: &OneOfManyProof,
        binding: &Binding<'_>,
    ) -> Result<(), ZkError> {
        let v = Verification::begin(statement, proof, binding)?;
        let mut acc = v.fixed_sum();
        for (index, (key, s)) in statement.members.iter().zip(v.member_scalars()).enumerate() {
            let p = group::decode_key(key, index)?;
            acc += EdwardsPoint::vartime_double_scalar_mul_basepoint(&s, &p, &Scalar::ZERO);
        }
        v.check(&acc)
    }
}

/// Admits one member key for a one-out-of-many statement and returns `P = 8·A`:
/// what the host's accelerated paths decode once per set.
///
/// # Errors
/// [`ZkError::NonCanonicalKey`], [`ZkError::WeakKey`] or
/// [`ZkError::TorsionComponent`], naming `index`.
pub fn decode_member(key: &PublicKey, index: usize) -> Result<EdwardsPoint, ZkError> {
    group::decode_key(key, index)
}

/// Checks the shape of a member set: 1 to [`OOM_MEMBERS_MAX`] keys in strictly
/// increasing byte order. Keys are not decoded.
///
/// # Errors
/// [`ZkError::RingSize`], [`ZkError::DuplicateMember`] or [`ZkError::MemberOrder`].
pub fn check_members(members: &[PublicKey]) -> Result<(), ZkError> {
    let n = members.len();
    if n == 0 || n > OOM_MEMBERS_MAX {
        return Err(ZkError::RingSize {
            members: n,
            max: OOM_MEMBERS_MAX,
        });
    }
    for (offset, pair) in members.windows(2).enumerate() {
        if let [a, b] = pair {
            match a.0.cmp(&b.0) {
                core::cmp::Ordering::Less => {}
                core::cmp::Ordering::Equal => {
                    return Err(ZkError::DuplicateMember { index: offset + 1 });
                }
                core::cmp::Ordering::Greater => {
                    return Err(ZkError::MemberOrder { index: offset + 1 });
                }
            }
        }
    }
    Ok(())
}

/// `m = max(1, ⌈log₂ n⌉)`: sets are padded to `2ᵐ` members (at least two, so that
/// a set of one still hides the witness in the response `z`).
pub const fn log_size(n: usize) -> usize {
    let mut m = 1;
    while m < usize::BITS as usize - 1 && (1usize << m) < n {
        m += 1;
    }
    m
}

/// The transcript prefix: statement name, tag flag, every member in order, binding.
fn prefix(statement: &OneOfMany<'_>, binding: &Binding<'_>) -> Transcript {
    let mut t = Transcript::new(OneOfMany::NAME);
    t.append_u64(b"linkable", u64::from(statement.linkable));
    t.append_u64(b"members", statement.members.len() as u64);
    for key in statement.members {
        t.append(b"key", &key.0);
    }
    t.append(b"context", binding.context);
    t.append(b"message", binding.message);
    t
}

/// A point of the prime-order subgroup from `data`, with no known discrete logarithm
/// to any other: try-and-increment over SHA-512 (`domain ‖ data ‖ counter`, framed),
/// decompress, multiply by the cofactor, refuse the identity. Variable time; only
/// public data are hashed.
///
/// # Errors
/// [`ZkError::HashToPoint`] after 128 failures.
pub fn hash_to_point(domain: &[u8], data: &[u8]) -> Result<EdwardsPoint, ZkError> {
    for counter in 0..HASH_TO_POINT_TRIES {
        let mut h = Sha512::new();
        h.update(b"glitter/zk/v1/hash-to-point");
        h.update((domain.len() as u64).to_le_bytes());
        h.update(domain);
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
        h.update(counter.to_le_bytes());
        let digest = h.finalize();
        let candidate = CompressedEdwardsY(to32(&digest));
        if let Some(point) = candidate.decompress() {
            let cleared = point.mul_by_cofactor();
            if !cleared.is_identity() {
                return Ok(cleared);
            }
        }
    }
    Err(ZkError::HashToPoint)
}

/// The Pedersen generator `Hⱼ`.
fn generator(j: usize) -> Result<EdwardsPoint, ZkError> {
    hash_to_point(b"one-of-many/generator", &(j as u64).to_le_bytes())
}

/// The tag base `U = H(context)`.
fn tag_base(context: &[u8]) -> Result<EdwardsPoint, ZkError> {
    hash_to_point(b"one-of-many/tag", context)
}

/// Decodes a proof point strictly: a canonical encoding of a torsion-free point that
/// is not of small order. `index` is its 32-byte position in the proof.
///
/// # Errors
/// [`ZkError::ProofPoint`].
fn decode_point(bytes: &[u8; 32], index: usize) -> Result<EdwardsPoint, ZkError> {
    let point = CompressedEdwardsY(*bytes)
        .decompress()
        .filter(|p| p.compress().0 == *bytes)
        .filter(|p| !p.is_small_order() && p.is_torsion_free());
    point.ok_or(ZkError::ProofPoint { index })
}

/// Copies a 32-byte chunk (shorter input is zero-padded).
fn to32(chunk: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(chunk) {
        *o = *b;
    }
    out
}
