//! A whole chain at once: the link pass in order, the signatures in batches.

use super::batch::{SigItem, Weight, check_chunk, draw_weights};
use super::{parallel, plan};
use crate::error::BlockFailure;
use glitter_core::chain::{ChainError, ChainState, SignatureCheck};
use glitter_core::sig::{PublicKey, SigError};
use glitter_core::wire::header::{Header, SIGN_DOMAIN, SIGNED_LEN};
use rand_core::CryptoRng;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One block of a chain as carried in a file or a message: the encoded header and the
/// payload, if it was kept.
pub trait ChainBlock {
    /// The encoded header bytes (a valid one is
    /// [`HEADER_LEN`](glitter_core::wire::header::HEADER_LEN) long).
    fn header(&self) -> &[u8];
    /// The payload, or `None` if it was pruned.
    fn payload(&self) -> Option<&[u8]>;
}

impl<H: AsRef<[u8]>, P: AsRef<[u8]>> ChainBlock for (H, Option<P>) {
    fn header(&self) -> &[u8] {
        self.0.as_ref()
    }
    fn payload(&self) -> Option<&[u8]> {
        self.1.as_ref().map(AsRef::as_ref)
    }
}

/// The signature check of the link pass: accepts, because the signatures are checked
/// apart, in batches. Nothing else in `verify_next_with` depends on its verdict.
struct Deferred;

impl SignatureCheck for Deferred {
    fn check(&mut self, _: &Header) -> Result<(), SigError> {
        Ok(())
    }
}

fn failure<B: ChainBlock>(blocks: &[B], index: usize, error: ChainError) -> BlockFailure {
    let seq = blocks
        .get(index)
        .and_then(|b| Header::decode(b.header()).ok())
        .map(|h| h.seq);
    BlockFailure { index, seq, error }
}

/// Verifies `blocks` as `author`'s chain from seq 1, in order, exactly as a loop of
/// [`ChainState::verify_next`] does: the reference that [`verify_chain`] must agree
/// with, and its fallback.
///
/// # Errors
/// The first failing block (index in `blocks`, its seq if the header decodes, the
/// [`ChainError`]), or an invalid author key as index 0 without a seq.
pub fn verify_chain_sequential<B: ChainBlock>(
    author: PublicKey,
    blocks: &[B],
) -> Result<Vec<Header>, BlockFailure> {
    let mut state = ChainState::new(author).map_err(|error| BlockFailure {
        index: 0,
        seq: None,
        error,
    })?;
    let mut headers: Vec<Header> = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        let h = state
            .verify_next(b.header(), b.payload(), headers.as_mut_slice())
            .map_err(|e| failure(blocks, i, e))?;
        headers.push(h);
    }
    Ok(headers)
}

/// The link pass: every check of `verify_next` but the signature, in order.
fn link_pass<B: ChainBlock>(
    mut state: ChainState,
    blocks: &[B],
) -> Result<Vec<Header>, BlockFailure> {
    let mut headers: Vec<Header> = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        let h = state
            .verify_next_with(
                b.header(),
                b.payload(),
                headers.as_mut_slice(),
                &mut Deferred,
            )
            .map_err(|e| failure(blocks, i, e))?;
        headers.push(h);
    }
    Ok(headers)
}

/// The first bad signature among `blocks[range]` (a global index and the single
/// path's error). Blocks whose header does not decode are skipped: the link pass fails
/// at or before them.
fn first_bad_signature<B: ChainBlock>(
    blocks: &[B],
    weights: &[Weight],
    range: Range<usize>,
) -> Option<(usize, SigError)> {
    let mut at = Vec::with_capacity(range.len());
    let mut headers = Vec::with_capacity(at.capacity());
    let mut msgs: Vec<[u8; SIGN_DOMAIN.len() + SIGNED_LEN]> = Vec::with_capacity(at.capacity());
    let mut ws = Vec::with_capacity(at.capacity());
    for i in range {
        let (Some(b), Some(w)) = (blocks.get(i), weights.get(i)) else {
            break;
        };
        if let Ok(h) = Header::decode(b.header()) {
            // The message `Header::verify_signature` signs, from the parsed header.
            msgs.push(h.signing_message());
            headers.push(h);
            ws.push(*w);
            at.push(i);
        }
    }
    let items: Vec<SigItem<'_>> = headers
        .iter()
        .zip(&msgs)
        .map(|(h, m)| SigItem {
            key: &h.author,
            msg: m,
            sig: &h.signature,
        })
        .collect();
    let (i, e) = check_chunk(&items, &ws, true).into_iter().next()?;
    Some((*at.get(i)?, e))
}

/// Verifies `blocks` as `author`'s chain from seq 1 with the same result as
/// [`verify_chain_sequential`] (the `verify_next` loop): the same headers, or the same
/// first failure (index, seq and [`ChainError`]).
///
/// The link pass (encoding, author, seq, links, timestamps, payloads) runs in order on
/// the calling thread; the signatures are checked in batches on up to `threads`
/// threads (the caller's included; 0 counts as 1), the batch weights drawn from `rng`.
/// A sequential loop stops at the first failing block whatever the rule, so the answer
/// is the earlier of the link pass's first failure and the first bad signature before
/// it, the latter with the single path's [`SigError`].
///
/// # Errors
/// As [`verify_chain_sequential`].
pub fn verify_chain<B: ChainBlock + Sync, R: CryptoRng + ?Sized>(
    author: PublicKey,
    blocks: &[B],
    rng: &mut R,
    threads: usize,
) -> Result<Vec<Header>, BlockFailure> {
    let state = ChainState::new(author).map_err(|error| BlockFailure {
        index: 0,
        seq: None,
        error,
    })?;
    let weights = draw_weights(rng, blocks.len());
    let chunks = plan(blocks.len(), threads);
    // Chunks from the link pass's first failure on are not needed.
    let limit = AtomicUsize::new(usize::MAX);
    let (links, bad) = parallel::run(
        threads,
        chunks.len(),
        || {
            let r = link_pass(state, blocks);
            let stop = r.as_ref().map_or_else(|f| f.index, |_| blocks.len());
            limit.store(stop, Ordering::Relaxed);
            r
        },
        |c| {
            let range = chunks.get(c)?.clone();
            if range.start >= limit.load(Ordering::Relaxed) {
                return None;
            }
            first_bad_signature(blocks, &weights, range)
        },
    );
    let stop = links.as_ref().map_or_else(|f| f.index, |_| blocks.len());
    match bad.into_iter().flatten().find(|(i, _)| *i < stop) {
        Some((i, e)) => Err(failure(blocks, i, ChainError::BadSignature(e))),
        None => links,
    }
}
