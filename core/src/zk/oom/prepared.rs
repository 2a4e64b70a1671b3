//! Verification for small devices: member keys validated once, then one multiscalar
//! multiplication per proof over caller-owned memory.
//!
//! [`Dalek`](crate::zk::Dalek)'s streaming `verify` re-validates every member key on
//! every proof (a torsion check, the cost of an X25519 scalar multiplication) and
//! multiplies each member by its scalar separately. A device keeps the members
//! prepared instead: [`PreparedMember::new`] runs the same validation once, when the
//! device stores the author (the chain validator already runs the same torsion check
//! on the author's key when it accepts the genesis block), and
//! [`PreparedSet::verify`] evaluates the verification equation with one Pippenger
//! multiscalar multiplication ([`msm`](super::msm)) over the prepared points, the
//! proof's points and the base point.
//!
//! Both compute the same group element, so for every statement whose keys can be
//! prepared the verdict (`Ok` or the error) is exactly the streaming verifier's.

use super::msm::{ScalarDigits, pippenger};
use super::{FIXED_TERMS_MAX, OneOfMany, OneOfManyProof, Verification, check_members};
use crate::sig::PublicKey;
use crate::zk::{Binding, ZkError, group};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;

/// A member key, validated ([`PublicKey::validate`](crate::sig::PublicKey::validate)'s
/// rules) and decoded to its point `P = 8·A`, or [`UNSET`](PreparedMember::UNSET).
/// 196 bytes on 32-bit targets (Cortex-M).
#[derive(Clone, Copy, Debug)]
pub struct PreparedMember {
    key: PublicKey,
    point: Option<EdwardsPoint>,
}

impl PreparedMember {
    /// A slot holding no member, for initialising buffers (including `static`s): a set
    /// containing it is refused.
    pub const UNSET: PreparedMember = PreparedMember {
        key: PublicKey([0; 32]),
        point: None,
    };

    /// Validates `key` and decodes it: the cost of one torsion check, paid once per
    /// key rather than once per proof. `index` only labels the errors.
    ///
    /// # Errors
    /// [`ZkError::NonCanonicalKey`], [`ZkError::WeakKey`] or
    /// [`ZkError::TorsionComponent`], naming `index`.
    pub fn new(key: &PublicKey, index: usize) -> Result<PreparedMember, ZkError> {
        Ok(PreparedMember {
            key: *key,
            point: Some(group::decode_key(key, index)?),
        })
    }

    /// The member's key ([`PublicKey([0; 32])`](PublicKey) for
    /// [`UNSET`](PreparedMember::UNSET)).
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Whether the slot holds a validated member.
    pub fn is_set(&self) -> bool {
        self.point.is_some()
    }
}

/// Prepares every key of `members` into `out[..members.len()]`, in order.
///
/// # Errors
/// [`ZkError::BufferTooSmall`] (`needed` is `members.len()`) if `out` is shorter, or
/// the first key's decoding error ([`PreparedMember::new`]).
pub fn prepare_members(members: &[PublicKey], out: &mut [PreparedMember]) -> Result<(), ZkError> {
    let out = out
        .get_mut(..members.len())
        .ok_or(ZkError::BufferTooSmall {
            needed: members.len(),
        })?;
    for (index, (slot, key)) in out.iter_mut().zip(members).enumerate() {
        *slot = PreparedMember::new(key, index)?;
    }
    Ok(())
}

/// How many [`ScalarDigits`] [`PreparedSet::verify`] needs for a set of `members`:
/// one per member, per fixed point of the equation and for the base point.
pub const fn scratch_len(members: usize) -> usize {
    members + FIXED_TERMS_MAX + 1
}

/// A [`OneOfMany`] statement with its members prepared: what
/// [`verify`](PreparedSet::verify) needs besides the proof and a scratch buffer.
#[derive(Clone, Copy, Debug)]
pub struct PreparedSet<'a> {
    statement: OneOfMany<'a>,
    prepared: &'a [PreparedMember],
}

impl<'a> PreparedSet<'a> {
    /// Pairs `statement` with `prepared`, which must hold, in order, every member of
    /// the statement prepared (and may be longer). Checks the set's shape and that the
    /// prepared keys are the statement's: `n` comparisons of 32 bytes, no curve
    /// arithmetic.
    ///
    /// # Errors
    /// The set's shape errors ([`check_members`]); [`ZkError::BufferTooSmall`]
    /// (`needed` is `n`) if `prepared` is shorter than the set; [`ZkError::NotAMember`]
    /// if a slot is [`UNSET`](PreparedMember::UNSET) or holds another key than the
    /// statement's member at its position.
    pub fn new(
        statement: OneOfMany<'a>,
        prepared: &'a [PreparedMember],
    ) -> Result<PreparedSet<'a>, ZkError> {
        check_members(statement.members)?;
        let n = statement.members.len();
        let prepared = prepared
            .get(..n)
            .ok_or(ZkError::BufferTooSmall { needed: n })?;
        let matches = prepared
            .iter()
            .zip(statement.members)
            .all(|(p, key)| p.is_set() && p.key == *key);
        if !matches {
            return Err(ZkError::NotAMember);
        }
        Ok(PreparedSet {
            statement,
            prepared,
        })
    }

    /// The statement.
    pub fn statement(&self) -> &OneOfMany<'a> {
        &self.statement
    }

    /// Verifies `proof` under `binding` with one multiscalar multiplication, the
    /// signed digits of its scalars in `scratch` (at least
    /// [`scratch_len`]`(n)` entries; their contents on entry do not matter). Returns
    /// exactly what the streaming `Dalek.verify` returns for the same statement.
    ///
    /// # Errors
    /// What [`Verification::begin`] returns; [`ZkError::BufferTooSmall`] (`needed` in
    /// entries) if `scratch` is too short; [`ZkError::Rejected`] if the equation does
    /// not close.
    pub fn verify(
        &self,
        proof: &OneOfManyProof,
        binding: &Binding<'_>,
        scratch: &mut [ScalarDigits],
    ) -> Result<(), ZkError> {
        let v = Verification::begin(&self.statement, proof, binding)?;
        let n = self.prepared.len();
        let fixed = v.fixed_terms();
        let terms = n + fixed.len() + 1;
        let needed = scratch_len(n);
        let digits = scratch
            .get_mut(..needed)
            .and_then(|d| d.get_mut(..terms))
            .ok_or(ZkError::BufferTooSmall { needed })?;
        let scalars = v
            .member_scalars()
            .chain(fixed.iter().map(|(t, _)| *t))
            .chain(core::iter::once(v.basepoint_scalar()));
        for (slot, s) in digits.iter_mut().zip(scalars) {
            *slot = ScalarDigits::new(&s);
        }
        let points = self
            .prepared
            .iter()
            .filter_map(|p| p.point.as_ref())
            .chain(fixed.iter().map(|(_, q)| q))
            .chain(core::iter::once(&ED25519_BASEPOINT_POINT));
        v.check(&pippenger(digits, points))
    }
}
