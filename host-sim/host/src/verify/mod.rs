//! Batch and parallel signature verification on the host, with exactly the verdicts of
//! glitter's single path ([`glitter_core::sig::verify`]).
//!
//! # The batch equation
//!
//! glitter's rule (see [`glitter_core::sig`]) accepts `(R, S)` by `A` over `M` iff
//! `S < L`, `A` and `R` are canonical encodings of points not of small order, and
//! `[8](S·B − k·A − R) = 0` with `k = SHA-512(R ‖ A ‖ M) mod L`. ed25519-compact's
//! `verify`, which the single path calls for the equation, is cofactored: it computes
//! `P = S·B − k·A` and accepts iff `P − R` has small order (`4·(P − R)` has `x = 0`,
//! that is `8·(P − R) = 0`).
//!
//! A batch of `n` signatures draws 128-bit weights `z_i` from the caller's CSPRNG and
//! checks, with one variable-time multiscalar multiplication (Straus, or Pippenger for
//! large batches, on curve25519-dalek's SIMD backend):
//!
//! ```text
//! [8]( Σ z_i R_i + Σ_A (Σ_{i: A_i = A} z_i k_i) A − (Σ z_i S_i) B ) = 0
//! ```
//!
//! The `A` terms are grouped by distinct key, so a chain (one author) adds one point to
//! the `n` points `R_i` and the base point.
//!
//! # Why the verdicts are the single path's
//!
//! * **Accepting.** An item enters the equation only if it passes a conservative
//!   filter: `S < L` ([`glitter_core::sig::scalar_is_canonical`]); `R` and `A` decode,
//!   re-encode to the very same bytes (so the encoding is canonical), and are not of
//!   small order. Let `E_i = S_i·B − k_i·A_i − R_i`. The single path accepts item `i`
//!   iff `8·E_i = 0`. Every `8·E_i` lies in the prime-order subgroup, so if all are
//!   zero the batch holds, and if some `8·E_j ≠ 0` the batch holds for at most one
//!   value of `z_j` mod `L` given the others: probability at most 2^-127 (the weights
//!   are odd 128-bit numbers). Because both sides use the cofactored equation, a
//!   torsion component in `R` or `A` changes nothing: where `8·E_i = 0` with torsion,
//!   the single path accepts too, and nothing needs routing.
//! * **Rejecting.** An item the filter refuses, and every item of a batch whose
//!   equation fails, gets its verdict from [`glitter_core::sig::verify`] itself, so the
//!   error names the same rule ([`SigError`] variant).
//!
//! The filter is not a second copy of the rule: it only decides which path an item
//! takes, and it never lets through an item that one of rules 1–3 rejects (a unit test
//! checks its point part against ed25519-compact's own key check). It is needed: a
//! small-order `R = T` with `S = k·a`, or a small-order key with `S = r`, passes the
//! equation, and only rule 3 rejects it.
//!
//! # A whole chain
//!
//! [`verify_chain`] runs every check of `ChainState::verify_next_with` but the
//! signature in order (the link pass), while the signatures are checked in batches.
//! Nothing in that pass depends on a signature's verdict (the head advances by the
//! header bytes alone), so up to the first block `j` it rejects, it sees exactly what
//! the sequential loop sees. The loop stops at the first block that fails any check, so
//! the answer is the first bad signature before `j`, with the single path's error, or
//! else the link pass's own result.
//!
//! # Randomness and threads
//!
//! The caller owns both: the weights come from the `rng` argument (a CSPRNG the caller
//! seeded, for example from [`crate::os::random32`]), and `threads` says how many
//! threads may work, the caller's included (`std::thread::available_parallelism`; 1
//! means the calling thread alone). Work is split into chunks of consecutive items
//! that threads take in order; each chunk is one batch equation: 2,048 items on one
//! thread, and on more a shrinking share of what remains (128 to 2,048), so that the
//! threads finish together.

mod batch;
mod chain;
mod parallel;

pub use batch::SigItem;
pub use chain::{ChainBlock, verify_chain, verify_chain_sequential};

use batch::{check_chunk, draw_weights};
use glitter_core::sig::SigError;
use rand_core::CryptoRng;

/// The smallest chunk (one batch equation), unless fewer items remain.
const CHUNK_MIN: usize = 128;
/// The largest chunk: Pippenger gains little beyond it.
const CHUNK_MAX: usize = 2048;

/// Splits `0..n` into chunks, one batch equation each, taken in order by `threads`
/// threads. On one thread, chunks of [`CHUNK_MAX`]; on more, guided: each chunk is a
/// `1/(2·threads)` share of what remains (within the bounds), so the chunks shrink
/// towards the end and the threads finish together.
pub(crate) fn plan(n: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    let threads = threads.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let rest = n - start;
        let len = if threads == 1 {
            CHUNK_MAX
        } else {
            (rest / (2 * threads)).clamp(CHUNK_MIN, CHUNK_MAX)
        };
        let end = start + len.min(rest);
        out.push(start..end);
        start = end;
    }
    out
}

/// A signature that fails: its index among the items and the single path's error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemFailure {
    /// Position in the items, from 0.
    pub index: usize,
    /// The rule that fails, as [`glitter_core::sig::verify`] names it.
    pub error: SigError,
}

impl std::fmt::Display for ItemFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "signature #{}: {}", self.index, self.error)
    }
}

impl std::error::Error for ItemFailure {}

/// The verdict of [`glitter_core::sig::verify`] on every item, computed in batches on
/// up to `threads` threads with weights from `rng` (see the module docs).
pub fn verify_each<R: CryptoRng + ?Sized>(
    items: &[SigItem<'_>],
    rng: &mut R,
    threads: usize,
) -> Vec<Result<(), SigError>> {
    let mut out = vec![Ok(()); items.len()];
    for f in failures(items, rng, threads, false) {
        if let Some(slot) = out.get_mut(f.index) {
            *slot = Err(f.error);
        }
    }
    out
}

/// Whether every item verifies under glitter's rule; if not, the first one that fails
/// (lowest index), with the single path's error.
///
/// # Errors
/// The first failing item.
pub fn verify_all<R: CryptoRng + ?Sized>(
    items: &[SigItem<'_>],
    rng: &mut R,
    threads: usize,
) -> Result<(), ItemFailure> {
    match failures(items, rng, threads, true).into_iter().next() {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn failures<R: CryptoRng + ?Sized>(
    items: &[SigItem<'_>],
    rng: &mut R,
    threads: usize,
    first_only: bool,
) -> Vec<ItemFailure> {
    let weights = draw_weights(rng, items.len());
    let chunks = plan(items.len(), threads);
    let ((), found) = parallel::run(
        threads,
        chunks.len(),
        || (),
        |c| {
            let range = chunks.get(c)?.clone();
            let start = range.start;
            let (its, ws) = (items.get(range.clone())?, weights.get(range)?);
            let fs: Vec<ItemFailure> = check_chunk(its, ws, first_only)
                .into_iter()
                .map(|(i, error)| ItemFailure {
                    index: start + i,
                    error,
                })
                .collect();
            Some(fs)
        },
    );
    let mut all = found.into_iter().flatten().flatten();
    if first_only {
        all.next().into_iter().collect()
    } else {
        all.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_covers_every_item_once_in_bounded_chunks() {
        for threads in [0usize, 1, 2, 3, 8] {
            for n in [0usize, 1, 127, 128, 129, 300, 2048, 2049, 10_000, 65_536] {
                let p = plan(n, threads);
                let mut next = 0;
                for (i, r) in p.iter().enumerate() {
                    assert_eq!(r.start, next, "{n} on {threads}");
                    assert!(!r.is_empty() && r.len() <= CHUNK_MAX);
                    let last = i + 1 == p.len();
                    assert!(last || r.len() >= CHUNK_MIN, "{n} on {threads}: {r:?}");
                    next = r.end;
                }
                assert_eq!(next, n);
            }
        }
        // Guided on two threads: the chunks shrink towards the end.
        let p = plan(10_000, 2);
        assert!(
            p.first().unwrap().len() > 4 * p.last().unwrap().len(),
            "{p:?}"
        );
    }

    #[test]
    fn every_chunk_runs_once_on_any_number_of_threads() {
        for threads in [0usize, 1, 2, 5] {
            for chunks in [0usize, 1, 3, 40] {
                let (led, out) = parallel::run(threads, chunks, || 7, |c| Some(c * 2));
                assert_eq!(led, 7);
                let want: Vec<Option<usize>> = (0..chunks).map(|c| Some(c * 2)).collect();
                assert_eq!(out, want);
                let (_, skipped) = parallel::run(threads, chunks, || (), |_| None::<()>);
                assert!(skipped.iter().all(Option::is_none));
            }
        }
    }
}
