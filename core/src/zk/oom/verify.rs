//! The verifier, as one equation `Σ sᵢ·Pᵢ + Σ tₖ·Qₖ + b·B = 0` that the caller
//! evaluates: streaming in core, one Pippenger multiscalar multiplication on a host.

use super::coeffs::{MemberScalars, ScalarFactors, Walk};
use super::{
    OOM_LOG_MAX, OneOfMany, OneOfManyProof, check_members, decode_point, generator, log_size,
    prefix, tag_base,
};
use crate::zk::group;
use crate::zk::{Binding, Proof, ZkError};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use heapless::Vec;

/// The most fixed (non-member) points in the equation: `J, U, A, B', C, D`, `m`
/// generators and `m` commitments `Gₖ`.
pub const FIXED_TERMS_MAX: usize = 6 + 2 * OOM_LOG_MAX;

/// A proof's verification equation, before the members are read:
///
/// ```text
/// Σᵢ sᵢ·Pᵢ + Σ (t, Q) in fixed_terms: t·Q + basepoint_scalar·B  =  identity
/// ```
///
/// with `sᵢ` from [`member_scalars`](Verification::member_scalars) and `Pᵢ` the
/// members decoded by [`decode_member`](super::decode_member). The proof is valid iff
/// the sum is the identity ([`check`](Verification::check)).
pub struct Verification {
    m: usize,
    n: usize,
    x: Scalar,
    f: [Scalar; OOM_LOG_MAX],
    fixed: Vec<(Scalar, EdwardsPoint), FIXED_TERMS_MAX>,
    basepoint_scalar: Scalar,
}

impl Verification {
    /// Checks the statement's shape (not its keys), the proof's shape against it, and
    /// decodes the proof's points; derives the challenges and the equation.
    ///
    /// # Errors
    /// The set's shape errors, [`ZkError::ProofLength`] if the proof is for another
    /// set size or tag setting, [`ZkError::ProofPoint`], [`ZkError::HashToPoint`].
    pub fn begin(
        statement: &OneOfMany<'_>,
        proof: &OneOfManyProof,
        binding: &Binding<'_>,
    ) -> Result<Verification, ZkError> {
        check_members(statement.members)?;
        let n = statement.members.len();
        let m = log_size(n);
        if proof.log_size() != m || proof.tag.is_some() != statement.linkable {
            return Err(ZkError::ProofLength {
                len: proof.encoded_len(),
                expected: OneOfManyProof::len_for(n, statement.linkable),
            });
        }
        let mut index = 0;
        let mut point = |bytes: &[u8; 32]| {
            let p = decode_point(bytes, index);
            index += 1;
            p
        };
        let tag = match &proof.tag {
            Some(bytes) => Some(point(bytes)?),
            None => None,
        };
        let mut commitments = [EdwardsPoint::identity(); 4];
        for (slot, bytes) in commitments.iter_mut().zip(&proof.commitments) {
            *slot = point(bytes)?;
        }
        let mut g = [EdwardsPoint::identity(); OOM_LOG_MAX];
        for (slot, bytes) in g.iter_mut().zip(&proof.g).take(m) {
            *slot = point(bytes)?;
        }
        let mut f = [Scalar::ZERO; OOM_LOG_MAX];
        for (slot, bytes) in f.iter_mut().zip(&proof.f).take(m) {
            *slot = group::decode_scalar(*bytes)?;
        }
        let [za, zc, z] = proof.z.map(group::decode_scalar);
        let (za, zc, z) = (za?, zc?, z?);

        // The prover's transcript, replayed.
        let mut t = prefix(statement, binding);
        let mut tag_terms = None;
        if let (Some(j), Some(bytes)) = (tag, &proof.tag) {
            t.append(b"tag", bytes);
            let mu = t.clone().challenge(b"tag-batch");
            tag_terms = Some((j, tag_base(binding.context)?, mu));
        }
        for bytes in &proof.commitments {
            t.append(b"commitment", bytes);
        }
        for bytes in proof.g.iter().take(m) {
            t.append(b"g", bytes);
        }
        let x = t.clone().challenge(b"x");
        // Weights for combining the three equations: from everything the prover sent.
        for bytes in proof.f.iter().take(m) {
            t.append(b"f", bytes);
        }
        for bytes in &proof.z {
            t.append(b"z", bytes);
        }
        let w1 = t.clone().challenge(b"weight-1");
        let w2 = t.challenge(b"weight-2");

        let full = || ZkError::BufferTooSmall {
            needed: FIXED_TERMS_MAX,
        };
        let mut fixed = Vec::new();
        let [a, b, c, d] = commitments;
        for term in [(w1, a), (w1 * x, b), (w2 * x, c), (w2, d)] {
            fixed.push(term).map_err(|_| full())?;
        }
        for (j, fj) in f.iter().enumerate().take(m) {
            let h = generator(j)?;
            let s = -(w1 * fj + w2 * fj * (x - fj));
            fixed.push((s, h)).map_err(|_| full())?;
        }
        let mut xk = Scalar::ONE;
        for gk in g.iter().take(m) {
            fixed.push((-xk, *gk)).map_err(|_| full())?;
            xk *= x;
        }
        // xk = xᵐ now. Σᵢ pᵢ(x)·μJ = xᵐ·μJ, and z·Base = z·B + z·μ·U.
        if let Some((j, u, mu)) = tag_terms {
            fixed.push((mu * xk, j)).map_err(|_| full())?;
            fixed.push((-(z * mu), u)).map_err(|_| full())?;
        }
        Ok(Verification {
            m,
            n,
            x,
            f,
            fixed,
            basepoint_scalar: -(w1 * za + w2 * zc + z),
        })
    }

    /// The scalars `sᵢ` of the members, in member order (`n` items).
    pub fn member_scalars(&self) -> MemberScalars {
        let factors = ScalarFactors {
            x: self.x,
            f: self.f,
        };
        MemberScalars(Walk::new(factors, self.m, self.n))
    }

    /// The fixed terms `(t, Q)` of the equation (at most [`FIXED_TERMS_MAX`]).
    pub fn fixed_terms(&self) -> &[(Scalar, EdwardsPoint)] {
        &self.fixed
    }

    /// The scalar `b` of the base point `B`.
    pub fn basepoint_scalar(&self) -> Scalar {
        self.basepoint_scalar
    }

    /// `Σ t·Q + b·B` over the fixed terms, variable time (all inputs are public).
    pub fn fixed_sum(&self) -> EdwardsPoint {
        let mut acc = EdwardsPoint::identity();
        let mut b = self.basepoint_scalar;
        for (t, q) in &self.fixed {
            acc += EdwardsPoint::vartime_double_scalar_mul_basepoint(t, q, &b);
            b = Scalar::ZERO;
        }
        acc
    }

    /// Accepts iff `total`, the whole sum, is the identity.
    ///
    /// # Errors
    /// [`ZkError::Rejected`].
    pub fn check(&self, total: &EdwardsPoint) -> Result<(), ZkError> {
        if total.is_identity() {
            Ok(())
        } else {
            Err(ZkError::Rejected)
        }
    }
}
