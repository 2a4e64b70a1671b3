//! The per-member coefficients `pᵢ(x) = Πⱼ fⱼ,ᵢⱼ(x)`, streamed in member order.
//!
//! A depth-first walk of the binary tree of positions: level `d` holds the product of
//! the factors of the top `d` bits of the current position. Moving from position `i`
//! to `i + 1` changes only the bits up to the highest bit of `i ⊕ (i + 1)`, so only
//! those levels are recomputed: two multiplications per member on average, and
//! `m + 1` values of memory. The padded positions `n..2ᵐ` repeat the last member, so
//! the walk folds their coefficients into the last member's.

use super::OOM_LOG_MAX;
use curve25519_dalek::scalar::Scalar;

/// What the walk multiplies: a value per tree level and the factor of each bit.
pub(super) trait Factors {
    /// A partial product.
    type Value: Copy;
    /// The empty product.
    fn one(&self) -> Self::Value;
    /// `v · f_{j, bit}`.
    fn times(&self, v: &Self::Value, j: usize, bit: usize) -> Self::Value;
    /// `a + b`.
    fn add(&self, a: &Self::Value, b: &Self::Value) -> Self::Value;
}

/// The walk over positions `0..n` of a set padded to `2ᵐ`.
#[derive(Clone)]
pub(super) struct Walk<F: Factors> {
    factors: F,
    m: usize,
    n: usize,
    /// The next position to produce.
    next: usize,
    /// `levels[d]`: the product over the top `d` bits of the last computed position.
    levels: [F::Value; OOM_LOG_MAX + 1],
}

impl<F: Factors> Walk<F> {
    /// A walk over `n` members of a set padded to `2ᵐ` (callers check
    /// `1 ≤ m ≤ OOM_LOG_MAX` and `n ≤ 2ᵐ`).
    pub(super) fn new(factors: F, m: usize, n: usize) -> Walk<F> {
        let one = factors.one();
        Walk {
            factors,
            m: m.min(OOM_LOG_MAX),
            n,
            next: 0,
            levels: [one; OOM_LOG_MAX + 1],
        }
    }

    /// The coefficient of padded position `i`; positions must be visited in order.
    fn at(&mut self, i: usize) -> F::Value {
        let m = self.m;
        // Levels above the highest changed bit are still valid.
        let from = match i.checked_sub(1) {
            None => 1,
            Some(prev) => {
                let h = (usize::BITS - 1 - (i ^ prev).leading_zeros()) as usize;
                m.saturating_sub(h).max(1)
            }
        };
        for d in from..=m {
            let j = m - d;
            let bit = (i >> j) & 1;
            let parent = self.levels.get(d - 1).copied();
            if let (Some(parent), Some(slot)) = (parent, self.levels.get_mut(d)) {
                *slot = self.factors.times(&parent, j, bit);
            }
        }
        self.levels
            .get(m)
            .copied()
            .unwrap_or_else(|| self.factors.one())
    }
}

impl<F: Factors> Iterator for Walk<F> {
    type Item = F::Value;

    fn next(&mut self) -> Option<F::Value> {
        let i = self.next;
        if i >= self.n {
            return None;
        }
        self.next += 1;
        let mut value = self.at(i);
        if i + 1 == self.n {
            // The last member stands for itself and every padded position after it.
            let end = 1usize << self.m;
            for pad in self.n..end {
                let v = self.at(pad);
                value = self.factors.add(&value, &v);
            }
        }
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.n.saturating_sub(self.next);
        (left, Some(left))
    }
}

impl<F: Factors> ExactSizeIterator for Walk<F> {}

/// The verifier's factors: `fⱼ,₁ = fⱼ`, `fⱼ,₀ = x − fⱼ`.
#[derive(Clone)]
pub(super) struct ScalarFactors {
    pub(super) x: Scalar,
    pub(super) f: [Scalar; OOM_LOG_MAX],
}

impl Factors for ScalarFactors {
    type Value = Scalar;

    fn one(&self) -> Scalar {
        Scalar::ONE
    }

    fn times(&self, v: &Scalar, j: usize, bit: usize) -> Scalar {
        let fj = self.f.get(j).copied().unwrap_or(Scalar::ZERO);
        if bit == 1 { v * fj } else { v * (self.x - fj) }
    }

    fn add(&self, a: &Scalar, b: &Scalar) -> Scalar {
        a + b
    }
}

/// The verifier's member scalars `pᵢ(x)`, in member order (the last one includes the
/// padding). Produced by [`Verification::member_scalars`](super::Verification::member_scalars).
#[derive(Clone)]
pub struct MemberScalars(pub(super) Walk<ScalarFactors>);

impl Iterator for MemberScalars {
    type Item = Scalar;

    fn next(&mut self) -> Option<Scalar> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for MemberScalars {}

/// A polynomial of degree at most [`OOM_LOG_MAX`], coefficients from `x⁰` up.
pub(super) type Poly = [Scalar; OOM_LOG_MAX + 1];

/// The prover's factors `fⱼ,ᵦ(x) = βⱼ,ᵦ·x + αⱼ,ᵦ` as polynomials in `x`:
/// `βⱼ,₁ = lⱼ`, `αⱼ,₁ = aⱼ`, `βⱼ,₀ = 1 − lⱼ`, `αⱼ,₀ = −aⱼ`. The bits `lⱼ` are secret,
/// so every product is computed in full, with no branch on them.
#[derive(Clone)]
pub(super) struct PolyFactors {
    pub(super) bits: [Scalar; OOM_LOG_MAX],
    pub(super) a: [Scalar; OOM_LOG_MAX],
}

impl Factors for PolyFactors {
    type Value = Poly;

    fn one(&self) -> Poly {
        let mut p = [Scalar::ZERO; OOM_LOG_MAX + 1];
        p[0] = Scalar::ONE;
        p
    }

    fn times(&self, v: &Poly, j: usize, bit: usize) -> Poly {
        let l = self.bits.get(j).copied().unwrap_or(Scalar::ZERO);
        let a = self.a.get(j).copied().unwrap_or(Scalar::ZERO);
        let (beta, alpha) = if bit == 1 {
            (l, a)
        } else {
            (Scalar::ONE - l, -a)
        };
        let mut out = [Scalar::ZERO; OOM_LOG_MAX + 1];
        let mut lower = Scalar::ZERO;
        for (o, c) in out.iter_mut().zip(v.iter()) {
            *o = alpha * c + beta * lower;
            lower = *c;
        }
        out
    }

    fn add(&self, a: &Poly, b: &Poly) -> Poly {
        let mut out = *a;
        for (o, c) in out.iter_mut().zip(b.iter()) {
            *o += c;
        }
        out
    }
}

/// The prover's member polynomials `pᵢ(x)` as coefficient arrays (index `k` is the
/// coefficient of `xᵏ`; only `k < m` are needed), in member order, the last one
/// including the padding. Produced by
/// [`ProverSession::member_polynomials`](super::ProverSession::member_polynomials).
#[derive(Clone)]
pub struct MemberPolynomials(pub(super) Walk<PolyFactors>);

impl Iterator for MemberPolynomials {
    type Item = [Scalar; OOM_LOG_MAX + 1];

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for MemberPolynomials {}
