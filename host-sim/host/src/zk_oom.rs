//! One-out-of-many membership proofs on a host: the same proofs as
//! `glitter_core::zk::oom`, with the members decoded once ([`PreparedMembers`]) and
//! the sums computed by curve25519-dalek's multiscalar multiplication (Pippenger for
//! verifying; for proving, the members folded bit by bit into `2ᵐ` points, then one
//! constant-time Straus multiscalar multiplication of that size, spread over the
//! CPU's cores).
//!
//! Core computes the coefficients ([`Verification`], [`ProverSession`]); this module
//! only evaluates the sums differently, so a proof gets the same verdict here as from
//! `Dalek.verify` in core (tested on every case of the core tests' kinds, in
//! `tests/zk_oom.rs`).
//!
//! Decoding a member costs a decompression and a torsion check (about 100 µs on the
//! build machine), far more than its share of the multiscalar multiplication, so a
//! verifier that checks many proofs against one set (a poll, a follower list)
//! prepares the set once and keeps it.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{MultiscalarMul, VartimeMultiscalarMul};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::zk::oom::{
    OneOfMany, OneOfManyProof, ProverSession, Verification, check_members, decode_member,
};
use glitter_core::zk::{Binding, ZkError};
use rand_core::CryptoRng;
use subtle::{Choice, ConditionallySelectable};

/// A member set with every key admitted and decoded (`P = 8·A`): what proving and
/// verifying need, computed once.
#[derive(Clone, Debug)]
pub struct PreparedMembers {
    keys: Vec<PublicKey>,
    points: Vec<EdwardsPoint>,
}

impl PreparedMembers {
    /// Checks the set (1 to `OOM_MEMBERS_MAX` keys in strictly increasing byte order,
    /// each passing `PublicKey::validate`) and decodes every key.
    ///
    /// # Errors
    /// The first defect, as core reports it: `RingSize`, `DuplicateMember`,
    /// `MemberOrder`, then key errors in member order.
    pub fn new(keys: &[PublicKey]) -> Result<PreparedMembers, ZkError> {
        check_members(keys)?;
        let points = keys
            .iter()
            .enumerate()
            .map(|(i, k)| decode_member(k, i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PreparedMembers {
            keys: keys.to_vec(),
            points,
        })
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The statement about this set.
    pub fn statement(&self, linkable: bool) -> OneOfMany<'_> {
        OneOfMany {
            members: &self.keys,
            linkable,
        }
    }
}

/// Verifies `proof` against a prepared set: one variable-time multiscalar
/// multiplication over the members and the proof's points.
///
/// # Errors
/// As core's verifier: a shape or proof-point error, or `ZkError::Rejected`.
pub fn verify(
    members: &PreparedMembers,
    linkable: bool,
    proof: &OneOfManyProof,
    binding: &Binding<'_>,
) -> Result<(), ZkError> {
    let v = Verification::begin(&members.statement(linkable), proof, binding)?;
    check(&v, &members.points)
}

/// Verifies `proof` against raw keys, checking in core's order (the set's shape, the
/// proof, then the keys), so that every input gets core's verdict.
///
/// # Errors
/// As core's verifier.
pub fn verify_keys(
    keys: &[PublicKey],
    linkable: bool,
    proof: &OneOfManyProof,
    binding: &Binding<'_>,
) -> Result<(), ZkError> {
    let statement = OneOfMany {
        members: keys,
        linkable,
    };
    let v = Verification::begin(&statement, proof, binding)?;
    let members = PreparedMembers::new(keys)?;
    check(&v, &members.points)
}

fn check(v: &Verification, points: &[EdwardsPoint]) -> Result<(), ZkError> {
    let fixed = v.fixed_terms();
    let scalars = v
        .member_scalars()
        .chain(fixed.iter().map(|(t, _)| *t))
        .chain([v.basepoint_scalar()]);
    let bases = points
        .iter()
        .chain(fixed.iter().map(|(_, q)| q))
        .chain([&curve25519_dalek::constants::ED25519_BASEPOINT_POINT]);
    let total = EdwardsPoint::vartime_multiscalar_mul(scalars, bases);
    v.check(&total)
}

/// Proves that `keys` is one of `members`, with a tag if `linkable`. The members are
/// folded (`ProverSession::fold_members`, `m·2ᵐ⁻¹` point additions with
/// constant-time selects), then the `m` sums are constant-time multiscalar
/// multiplications over `2ᵐ` points in all (the coefficients depend on the prover's
/// secret position), run on up to `available_parallelism` threads.
///
/// # Errors
/// As core's prover: `NotAMember`, `WitnessMismatch`, ...
pub fn prove<R: CryptoRng + ?Sized>(
    members: &PreparedMembers,
    linkable: bool,
    keys: &KeyPair,
    binding: &Binding<'_>,
    rng: &mut R,
) -> Result<OneOfManyProof, ZkError> {
    prove_with(members, linkable, keys, binding, rng, |column, points| {
        EdwardsPoint::multiscalar_mul(column, points)
    })
}

/// [`prove`] with variable-time (Pippenger) multiscalar multiplications: several
/// times faster for large sets, but its running time and memory access pattern
/// depend on the secret coefficients, so someone who can time or watch the cache
/// of the proving machine may learn the prover's position. The proof bytes are the
/// same as [`prove`]'s.
///
/// # Errors
/// As [`prove`].
pub fn prove_vartime<R: CryptoRng + ?Sized>(
    members: &PreparedMembers,
    linkable: bool,
    keys: &KeyPair,
    binding: &Binding<'_>,
    rng: &mut R,
) -> Result<OneOfManyProof, ZkError> {
    prove_with(members, linkable, keys, binding, rng, |column, points| {
        EdwardsPoint::vartime_multiscalar_mul(column, points)
    })
}

fn prove_with<R: CryptoRng + ?Sized>(
    members: &PreparedMembers,
    linkable: bool,
    keys: &KeyPair,
    binding: &Binding<'_>,
    rng: &mut R,
    msm: impl Fn(&[Scalar], &[EdwardsPoint]) -> EdwardsPoint + Sync,
) -> Result<OneOfManyProof, ZkError> {
    let session = ProverSession::begin(&members.statement(linkable), keys, binding, rng)?;
    let m = session.log_size();
    let points = &members.points;
    let last = points.last().copied().unwrap_or_default();
    // The padded set, folded: 2ᵐ points, each in exactly one of the m sums.
    let mut table: Vec<EdwardsPoint> = (0..1usize << m)
        .map(|i| points.get(i).copied().unwrap_or(last))
        .collect();
    session.fold_members(&mut table, |u, v, bit| {
        EdwardsPoint::conditional_select(u, v, Choice::from(bit))
    })?;
    let mut groups: Vec<(Vec<Scalar>, Vec<EdwardsPoint>)> = vec![(Vec::new(), Vec::new()); m];
    for (s, t) in table.into_iter().enumerate() {
        let (k, c) = session.folded_coefficient(s);
        if let Some((scalars, bases)) = groups.get_mut(k) {
            scalars.push(c);
            bases.push(t);
        }
    }
    // Largest groups first, shared out over the threads by size.
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, m);
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(groups[k].0.len()));
    let mut shares: Vec<(usize, Vec<usize>)> = vec![(0, Vec::new()); threads];
    for k in order {
        if let Some(lightest) = shares.iter_mut().min_by_key(|(load, _)| *load) {
            lightest.0 += groups[k].0.len();
            lightest.1.push(k);
        }
    }
    let msm = &msm;
    let groups = &groups;
    let results: Vec<Vec<(usize, EdwardsPoint)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|(_, ks)| {
                scope.spawn(move || {
                    ks.iter()
                        .map(|&k| (k, msm(&groups[k].0, &groups[k].1)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut sums = vec![EdwardsPoint::default(); m];
    let mut done = 0;
    for (k, sum) in results.into_iter().flatten() {
        if let Some(slot) = sums.get_mut(k) {
            *slot = sum;
            done += 1;
        }
    }
    if done != m {
        // A worker panicked: never finish a proof from a partial sum.
        return Err(ZkError::Rejected);
    }
    session.finish(&sums)
}
