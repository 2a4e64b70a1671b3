//! Step 7: Bob's chain arrives over the air. Alice's device rejects tampered and
//! reordered copies with typed errors, then verifies the genuine chain and stores it
//! in her log beside her own.

use core::fmt::Write as _;

use glitter_core::chain::{ChainError, ChainState};
use glitter_core::social::Payload;
use glitter_core::store::BlockLog;
use glitter_core::wire::header::{HEADER_LEN, Header};
use glitter_core::{BlockBuilder, KeyPair};
use heapless::{String, Vec};

use super::{BOB_BLOCKS, BOB_SEED, Buffers, Checks, EPOCH_MS, Log, WireBlock};
use crate::meter::Meter;
use crate::outln;

/// Step 7: Bob's chain arrives; Alice's device verifies it and stores it in her log
/// beside her own chain, and rejects tampered or out-of-order copies with typed errors.
#[inline(never)]
pub(super) fn receive(
    meter: &Meter,
    buffers: &mut Buffers,
    log: &mut Log<'_>,
    checks: &mut Checks,
) {
    outln!("== receive");
    let Ok(bob) = KeyPair::from_seed(BOB_SEED) else {
        checks.check(false, format_args!("bob's key pair derives from his seed"));
        return;
    };
    outln!("  bob is {:?} (second fixed seed)", bob.public());
    if !send_bob_chain(&bob, buffers) {
        checks.check(false, format_args!("bob builds {BOB_BLOCKS} blocks"));
        return;
    }

    // Tampered and reordered copies first, against a fresh validator each.
    let tampered = [
        ("payload byte flipped in block 3", 2, Tamper::Payload),
        ("signature byte flipped in block 3", 2, Tamper::Signature),
        ("block 3 delivered before block 2", 2, Tamper::SkipAhead),
    ];
    for (what, index, tamper) in tampered {
        let result = replay_with(&bob, buffers, index, tamper);
        let expected = match tamper {
            Tamper::Payload => matches!(result, Err(ChainError::PayloadHashMismatch)),
            Tamper::Signature => matches!(result, Err(ChainError::BadSignature(_))),
            Tamper::SkipAhead => matches!(result, Err(ChainError::SeqGap { .. })),
        };
        match result {
            Err(e) => checks.check(expected, format_args!("{what}: rejected, {e:?}")),
            Ok(()) => checks.check(false, format_args!("{what}: accepted")),
        }
    }

    // The genuine chain, in order: each block is verified (skip-link targets read from
    // the log), then stored in Alice's log.
    let author = bob.public();
    let Ok(mut state) = log.chain_state(author) else {
        checks.check(false, format_args!("a validator for bob's chain starts"));
        return;
    };
    let mut accepted = 0usize;
    for block in &buffers.inbox {
        let (result, _) = meter.measure(|| {
            state.verify_next(&block.header, Some(&block.payload), &mut log.source(author))
        });
        let stored = match result {
            Ok(header) => log.append(&header, &block.payload),
            Err(e) => {
                outln!("  block {}: {:?}", accepted + 1, e);
                break;
            }
        };
        if let Err(e) = stored {
            outln!("  block {}: {:?}", accepted + 1, e);
            break;
        }
        accepted += 1;
    }
    checks.check(
        accepted == BOB_BLOCKS && log.head(&author).map(|h| h.seq) == Some(BOB_BLOCKS as u64),
        format_args!("bob's {accepted} blocks received, verified and stored in the log"),
    );
    let usage = log.usage();
    checks.check(
        usage.authors == 2,
        format_args!(
            "one log, {} authors: {} blocks, {} of {} flash bytes used",
            usage.authors, usage.blocks, usage.flash_bytes_used, usage.flash_bytes
        ),
    );
}

/// How [`replay_with`] damages the delivery.
#[derive(Clone, Copy)]
enum Tamper {
    /// Flip a payload byte of the block at the index.
    Payload,
    /// Flip a signature byte of the block at the index.
    Signature,
    /// Skip the block before the index.
    SkipAhead,
}

/// Delivers Bob's blocks up to and including `index` to a fresh validator, damaged as
/// `tamper` says; returns the first error.
#[inline(never)]
fn replay_with(
    bob: &KeyPair,
    buffers: &mut Buffers,
    index: usize,
    tamper: Tamper,
) -> Result<(), ChainError> {
    let mut state = ChainState::new(bob.public())?;
    buffers.verified.clear();
    for (i, block) in buffers.inbox.iter().enumerate().take(index + 1) {
        let mut header = block.header;
        let mut payload = block.payload.clone();
        if i == index {
            match tamper {
                Tamper::Payload => {
                    if let Some(b) = payload.last_mut() {
                        *b ^= 0x01;
                    }
                }
                Tamper::Signature => header[HEADER_LEN - 1] ^= 0x01,
                Tamper::SkipAhead => {}
            }
        } else if i + 1 == index && matches!(tamper, Tamper::SkipAhead) {
            continue;
        }
        let headers: &mut [Header] = &mut buffers.verified;
        let h = state.verify_next(&header, Some(&payload), headers)?;
        let _ = buffers.verified.push(h);
    }
    Ok(())
}

/// Bob writes a profile and posts; they land in Alice's inbox as bytes.
#[inline(never)]
fn send_bob_chain(bob: &KeyPair, buffers: &mut Buffers) -> bool {
    buffers.inbox.clear();
    buffers.verified.clear();
    let Ok(state) = ChainState::new(bob.public()) else {
        return false;
    };
    let Ok(mut builder) = BlockBuilder::new(bob.clone(), state) else {
        return false;
    };
    for n in 0..BOB_BLOCKS {
        let mut text: String<64> = String::new();
        let _ = write!(text, "bob's post {n}");
        let payload = if n == 0 {
            Payload::profile("bob", "a second author")
        } else {
            Payload::post(&text, None)
        };
        let Ok(payload) = payload else {
            return false;
        };
        let ts = EPOCH_MS + 30_000 + (n as u64) * 60_000;
        let headers: &mut [Header] = &mut buffers.verified;
        let Ok((header, bytes)) = builder.next(&payload, ts, headers) else {
            return false;
        };
        let Ok(bytes) = Vec::from_slice(bytes) else {
            return false;
        };
        let sent = buffers.inbox.push(WireBlock {
            header: header.to_bytes(),
            payload: bytes,
        });
        if sent.is_err() || buffers.verified.push(header).is_err() {
            return false;
        }
    }
    true
}
