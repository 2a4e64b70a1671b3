//! The prover, in two steps so that the caller chooses how to compute the `m` sums
//! `Σᵢ pᵢ,ₖ·Pᵢ`: streaming in core, one multiscalar multiplication each on a host.

use super::coeffs::{MemberPolynomials, PolyFactors, Walk};
use super::{
    OOM_LOG_MAX, OneOfMany, OneOfManyProof, check_members, generator, log_size, prefix, tag_base,
};
use crate::sig::KeyPair;
use crate::zk::group::{self, Nonces, Secret};
use crate::zk::transcript::Transcript;
use crate::zk::{Binding, ZkError};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::CryptoRng;

/// A proof in the making: the commitments to the prover's position are made, the
/// member sums are not. Get the coefficients from
/// [`member_polynomials`](ProverSession::member_polynomials), compute
/// `sums[k] = Σᵢ pᵢ[k]·Pᵢ` for `k < m` (with `Pᵢ` from
/// [`decode_member`](super::decode_member)), and [`finish`](ProverSession::finish).
///
/// Holds secrets (the witness and the nonces); they are not zeroized on drop.
pub struct ProverSession {
    m: usize,
    n: usize,
    l: usize,
    w: Scalar,
    transcript: Transcript,
    base: EdwardsPoint,
    tag: Option<EdwardsPoint>,
    bits: [Scalar; OOM_LOG_MAX],
    a: [Scalar; OOM_LOG_MAX],
    rho: [Scalar; OOM_LOG_MAX],
    /// `r_A, r_B, r_C, r_D`.
    r: [Scalar; 4],
    /// `A, B', C, D`.
    commitments: [EdwardsPoint; 4],
}

impl ProverSession {
    /// Starts a proof of `statement` by `keys` under `binding`. Checks the set's shape
    /// and that `keys` is a member; decodes only the prover's own key (the others are
    /// decoded by whoever computes the sums).
    ///
    /// # Errors
    /// The set's shape errors ([`check_members`](super::check_members)),
    /// [`ZkError::NotAMember`], a decoding error of the prover's key,
    /// [`ZkError::WitnessMismatch`].
    pub fn begin<R: CryptoRng + ?Sized>(
        statement: &OneOfMany<'_>,
        keys: &KeyPair,
        binding: &Binding<'_>,
        rng: &mut R,
    ) -> Result<ProverSession, ZkError> {
        let members = statement.members;
        check_members(members)?;
        let me = keys.public();
        // A full scan without early exit (a binary search's path would time the
        // position).
        let l = members
            .iter()
            .enumerate()
            .fold(None, |found, (i, k)| if *k == me { Some(i) } else { found })
            .ok_or(ZkError::NotAMember)?;
        let pl = group::decode_key(&me, l)?;
        let secret = Secret::from_key_pair(keys);
        if !secret.fits(&pl) {
            return Err(ZkError::WitnessMismatch);
        }
        let n = members.len();
        let m = log_size(n);
        let mut transcript = prefix(statement, binding);
        let (base, tag) = if statement.linkable {
            let u = tag_base(binding.context)?;
            let j = u * secret.w;
            transcript.append(b"tag", j.compress().as_bytes());
            let mu = transcript.clone().challenge(b"tag-batch");
            (ED25519_BASEPOINT_POINT + u * mu, Some(j))
        } else {
            (ED25519_BASEPOINT_POINT, None)
        };
        let nonces = Nonces::new(&secret, &transcript, rng);
        let r: [Scalar; 4] = core::array::from_fn(|i| nonces.scalar(i as u64));
        let a: [Scalar; OOM_LOG_MAX] = core::array::from_fn(|j| nonces.scalar(4 + j as u64));
        let rho: [Scalar; OOM_LOG_MAX] =
            core::array::from_fn(|k| nonces.scalar((4 + OOM_LOG_MAX + k) as u64));
        let bits: [Scalar; OOM_LOG_MAX] =
            core::array::from_fn(|j| Scalar::from(((l >> j) & 1) as u8));

        // A = Com(a), B' = Com(l), C = Com(a(1 − 2l)), D = Com(−a²), all constant time.
        let [ra, rb, rc, rd] = r;
        let mut commitments = [
            EdwardsPoint::mul_base(&ra),
            EdwardsPoint::mul_base(&rb),
            EdwardsPoint::mul_base(&rc),
            EdwardsPoint::mul_base(&rd),
        ];
        let two = Scalar::from(2u8);
        for (j, (aj, lj)) in a.iter().zip(bits.iter()).enumerate().take(m) {
            let h = generator(j)?;
            let values = [*aj, *lj, aj * (Scalar::ONE - two * lj), -(aj * aj)];
            for (c, v) in commitments.iter_mut().zip(values) {
                *c += h * v;
            }
        }
        Ok(ProverSession {
            m,
            n,
            l,
            w: secret.w,
            transcript,
            base,
            tag,
            bits,
            a,
            rho,
            r,
            commitments,
        })
    }

    /// `m`: how many sums [`finish`](ProverSession::finish) needs.
    pub fn log_size(&self) -> usize {
        self.m
    }

    /// The coefficients `pᵢ,ₖ` of every member in order (`n` items; the last one
    /// includes the padding). `O(log² n)` memory, amortised `O(log n)` scalar
    /// multiplications per member. They depend on the secret position: keep them
    /// secret too.
    pub fn member_polynomials(&self) -> MemberPolynomials {
        let factors = PolyFactors {
            bits: self.bits,
            a: self.a,
        };
        MemberPolynomials(Walk::new(factors, self.m, self.n))
    }

    /// The `m` sums in `O(n log n)` point additions instead of `m·n` scalar
    /// multiplications, for callers with room for `2ᵐ` points: fill `table` with the
    /// padded members (`table[i] = Pᵢ` for `i < n`, `P_{n−1}` after), and this folds it
    /// in place, bit by bit, into `2ᵐ` points `Tₛ`. Then
    /// `sums[k] = Σ cₛ·Tₛ` over the `s` with `(k, cₛ) = folded_coefficient(s)`,
    /// `k < m`: each folded point belongs to exactly one sum, so the `m` sums together
    /// are one multiscalar multiplication of size `2ᵐ`.
    ///
    /// Per bit `j`, each pair `(u, v)` (bit `j` clear, set) becomes
    /// `(select(u, v, lⱼ), v − u)`: `select` must return `v` when its last argument is 1
    /// and `u` when it is 0, **in constant time** (core has no `subtle`; pass
    /// `EdwardsPoint::conditional_select`), since `lⱼ` is a bit of the secret position.
    ///
    /// # Errors
    /// [`ZkError::BufferTooSmall`] if `table` is shorter than `2ᵐ`.
    pub fn fold_members(
        &self,
        table: &mut [EdwardsPoint],
        select: impl Fn(&EdwardsPoint, &EdwardsPoint, u8) -> EdwardsPoint,
    ) -> Result<(), ZkError> {
        let size = 1usize << self.m;
        let table = table
            .get_mut(..size)
            .ok_or(ZkError::BufferTooSmall { needed: size })?;
        for j in 0..self.m {
            let bit = ((self.l >> j) & 1) as u8;
            let half = 1usize << j;
            for pair in table.chunks_exact_mut(2 * half) {
                let (lo, hi) = pair.split_at_mut(half);
                for (u, v) in lo.iter_mut().zip(hi.iter_mut()) {
                    let restricted = select(u, v, bit);
                    *v -= *u;
                    *u = restricted;
                }
            }
        }
        Ok(())
    }

    /// For a folded point `Tₛ` ([`fold_members`](ProverSession::fold_members)): the sum
    /// `k = m − popcount(s)` it belongs to (`k = m` means none) and its scalar
    /// `cₛ = Π aⱼ` over the set bits `j` of `s`. Secret.
    pub fn folded_coefficient(&self, s: usize) -> (usize, Scalar) {
        let mut c = Scalar::ONE;
        let mut ones = 0;
        for (j, aj) in self.a.iter().enumerate().take(self.m) {
            if (s >> j) & 1 == 1 {
                c *= aj;
                ones += 1;
            }
        }
        (self.m - ones, c)
    }

    /// Completes the proof from `sums[k] = Σᵢ pᵢ[k]·Pᵢ` for `k < m`.
    ///
    /// # Errors
    /// [`ZkError::BufferTooSmall`] if `sums` has fewer than `m` points (`needed` is
    /// `m`).
    pub fn finish(self, sums: &[EdwardsPoint]) -> Result<OneOfManyProof, ZkError> {
        let m = self.m;
        let sums = sums.get(..m).ok_or(ZkError::BufferTooSmall { needed: m })?;
        let mut t = self.transcript;
        for c in &self.commitments {
            t.append(b"commitment", c.compress().as_bytes());
        }
        let mut g = [[0u8; 32]; OOM_LOG_MAX];
        for ((slot, sum), rho) in g.iter_mut().zip(sums).zip(self.rho.iter()) {
            *slot = (sum + self.base * rho).compress().0;
            t.append(b"g", slot);
        }
        let x = t.challenge(b"x");

        let mut f = [[0u8; 32]; OOM_LOG_MAX];
        for ((slot, lj), aj) in f
            .iter_mut()
            .zip(self.bits.iter())
            .zip(self.a.iter())
            .take(m)
        {
            *slot = (lj * x + aj).to_bytes();
        }
        let [ra, rb, rc, rd] = self.r;
        // z = w·xᵐ − Σₖ ρₖ·xᵏ
        let mut z = Scalar::ZERO;
        let mut xk = Scalar::ONE;
        for rho in self.rho.iter().take(m) {
            z -= rho * xk;
            xk *= x;
        }
        z += self.w * xk;
        Ok(OneOfManyProof {
            m: u8::try_from(m).unwrap_or(0),
            tag: self.tag.map(|j| j.compress().0),
            commitments: self.commitments.map(|c| c.compress().0),
            g,
            f,
            z: [
                (rb * x + ra).to_bytes(),
                (rc * x + rd).to_bytes(),
                z.to_bytes(),
            ],
        })
    }
}
