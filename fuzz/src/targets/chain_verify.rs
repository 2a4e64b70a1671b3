//! Target 3, `chain_verify`: `ChainState::verify_next` over arbitrary sequences of
//! headers and payloads against a valid chain prefix.
//!
//! Invariants: it never panics; it accepts a block exactly when the independent model
//! ([`crate::chain_model`]) does (so it never accepts an invalid block, and never
//! refuses a valid one); a refused block leaves the state unchanged; an accepted one
//! moves the head to it; `SeqReplay` is reported only for the very block stored, and
//! `Forked` only for a different block the author really signed.

use crate::bytes::{Cursor, Writer};
use crate::chain_model::{self, ChainModel, LIPMAA, sha256};
use crate::fixtures;
use glitter_core::chain::{ChainError, ChainState, Head, NoHeaders};
use glitter_core::wire::header::Header;
use glitter_tests::TestChain;
use std::sync::OnceLock;

/// The blocks the fuzzer starts from.
struct Fixture {
    /// The chain: every payload kind, 12 blocks.
    chain: TestChain,
    /// A fork of it after block 5.
    fork: TestChain,
    /// Another author's chain.
    other: TestChain,
    /// The sample payloads, encoded.
    samples: Vec<(u8, Vec<u8>)>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let chain = fixtures::mixed_chain(61, 12);
        let samples = fixtures::sample_payloads(&chain.keys.public());
        let fork = fixtures::extend_chain(&chain, 5, &samples[6..10], glitter_tests::T0_MS + 7);
        let samples = samples
            .iter()
            .map(|p| {
                let mut buf = [0u8; 1024];
                let bytes = p.encode(&mut buf).map(<[u8]>::to_vec).unwrap_or_default();
                (p.kind() as u8, bytes)
            })
            .collect();
        Fixture {
            chain,
            fork,
            other: fixtures::mixed_chain(62, 6),
            samples,
        }
    })
}

/// Longest prefix of the fixture chain a run starts from.
pub const PREFIX_MAX: usize = 12;

fn put(h: &mut [u8], at: usize, v: &[u8]) {
    if let Some(d) = h.get_mut(at..at + v.len()) {
        d.copy_from_slice(v);
    }
}

/// A block the fuzzer crafted field by field from the model's view of the chain.
fn crafted(c: &mut Cursor<'_>, model: &ChainModel, held: &[Header]) -> (Vec<u8>, Option<Vec<u8>>) {
    let f = fixture();
    let keys = &f.chain.keys;
    let (next, head_id, head_ts) = match model.head() {
        Some((s, id, ts)) => (s + 1, id, ts),
        None => (1, [0; 32], glitter_tests::T0_MS),
    };
    let pick = c.below(f.samples.len() + 2);
    let (kind, mut payload) = match f.samples.get(pick) {
        Some(s) => s.clone(),
        None => (1 + c.below(8) as u8, c.string(64).to_vec()),
    };
    if c.below(4) == 0 && !payload.is_empty() {
        let i = c.below(payload.len());
        payload[i] ^= c.u8() | 1;
    }
    let mut h = vec![0u8; chain_model::HEADER];
    h[0] = 1;
    h[1] = kind;
    put(&mut h, 2, &(payload.len() as u16).to_le_bytes());
    put(&mut h, 4, &keys.public().0);
    let seq = (next + c.below(5) as u64).saturating_sub(2);
    put(&mut h, 36, &seq.to_le_bytes());
    let ts = head_ts.wrapping_add(u64::from(c.u16())).wrapping_sub(8);
    put(&mut h, 44, &ts.to_le_bytes());
    let skip_ok = match seq.checked_sub(1).and_then(|i| LIPMAA.get(i as usize)) {
        Some(0) | None => [0; 32],
        Some(t) => held
            .get(*t as usize - 1)
            .or_else(|| f.chain.headers.get(*t as usize - 1))
            .map(|h| h.id().0)
            .unwrap_or_default(),
    };
    let random = |c: &mut Cursor<'_>| {
        let mut x = [0u8; 32];
        x.copy_from_slice(&[c.bytes(32), &[0; 32]].concat()[..32]);
        x
    };
    let prev = match c.below(4) {
        0 => [0; 32],
        1 => random(c),
        2 => skip_ok,
        _ => head_id,
    };
    put(&mut h, 52, &prev);
    let skip = match c.below(4) {
        0 => [0; 32],
        1 => random(c),
        2 => head_id,
        _ => skip_ok,
    };
    put(&mut h, 84, &skip);
    put(&mut h, 116, &sha256(&payload));
    match c.below(8) {
        0 => put(&mut h, 2, &c.u16().to_le_bytes()),
        1 => put(&mut h, 116, &random(c)),
        2 => put(&mut h, 4, &f.other.keys.public().0),
        3 => h[0] = c.u8(),
        4 => h[1] = c.u8(),
        _ => {}
    }
    let sig = match c.below(6) {
        0 => chain_model::expected_signature(&f.other.keys, &h),
        1 => {
            let mut s = [0u8; 64];
            s.copy_from_slice(&[c.bytes(64), &[0; 64]].concat()[..64]);
            s
        }
        _ => chain_model::expected_signature(keys, &h),
    };
    put(&mut h, 148, &sig);
    if c.below(8) == 0 {
        let i = c.below(chain_model::HEADER);
        h[i] ^= c.u8() | 1;
    }
    let payload = (c.below(5) != 0).then_some(payload);
    (h, payload)
}

/// One candidate block, chosen by the fuzzer.
fn candidate(
    c: &mut Cursor<'_>,
    model: &ChainModel,
    held: &[Header],
) -> (Vec<u8>, Option<Vec<u8>>) {
    let f = fixture();
    let next = model.len() as usize;
    let from = |t: &TestChain, i: usize| {
        t.headers
            .get(i)
            .map(|h| (h.to_bytes().to_vec(), t.payloads.get(i).cloned()))
    };
    let picked = match c.below(5) {
        0 => from(&f.chain, next),
        1 => from(&f.fork, c.below(f.fork.headers.len())),
        2 => from(&f.other, c.below(f.other.headers.len())),
        3 => Some((c.string(260).to_vec(), Some(c.string(1100).to_vec()))),
        _ => None,
    };
    match picked {
        Some((mut h, mut p)) => {
            match c.below(6) {
                0 if !h.is_empty() => {
                    let i = c.below(h.len());
                    h[i] ^= c.u8() | 1;
                }
                1 => p = None,
                2 => {
                    if let Some(p) = p.as_mut().filter(|p| !p.is_empty()) {
                        let i = c.below(p.len());
                        p[i] ^= c.u8() | 1;
                    }
                }
                _ => {}
            }
            (h, p)
        }
        None => crafted(c, model, held),
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let f = fixture();
    let mut c = Cursor::new(data);
    let k = c.below(PREFIX_MAX + 1);
    let resume = c.u8() & 1 == 1;
    let author = f.chain.keys.public();
    let mut model = ChainModel::new(f.chain.keys.clone());
    let mut headers: Vec<Header> = f.chain.headers[..k].to_vec();
    for h in &headers {
        model.push(&h.to_bytes());
    }
    let mut state = if resume {
        let head = headers.last().map(|h| Head {
            seq: h.seq,
            id: h.id(),
            timestamp_ms: h.timestamp_ms,
        });
        ChainState::resume(author, head).expect("a valid author resumes")
    } else {
        f.chain.state_after(k)
    };
    for _ in 0..64 {
        if c.is_empty() {
            break;
        }
        let (header, payload) = candidate(&mut c, &model, &headers);
        // The header source: the chain held (usually), none, or another author's
        // headers (the validator must not take them for this chain's).
        let source = c.u8() % 4;
        let has_source = source >= 2;
        let before = state.head();
        let got = match source {
            0 => state.verify_next(&header, payload.as_deref(), &mut NoHeaders),
            1 => {
                let mut wrong = f.other.headers.clone();
                state.verify_next(&header, payload.as_deref(), wrong.as_mut_slice())
            }
            _ => state.verify_next(&header, payload.as_deref(), headers.as_mut_slice()),
        };
        let want = model.accepts(&header, payload.as_deref(), has_source);
        assert_eq!(
            got.is_ok(),
            want,
            "validator {got:?}, model {want}: header {} payload {:?}",
            hex(&header),
            payload.as_deref().map(hex)
        );
        match got {
            Ok(h) => {
                assert_eq!(Header::decode(&header), Ok(h));
                model.push(&header);
                headers.push(h);
                let (seq, id, ts) = model.head().expect("a block was pushed");
                assert_eq!(
                    state.head(),
                    Some(Head {
                        seq,
                        id: glitter_core::Hash(id),
                        timestamp_ms: ts
                    })
                );
            }
            Err(e) => {
                assert_eq!(
                    state.head(),
                    before,
                    "a refused block moved the head: {e:?}"
                );
                check_error(&e, &header, &headers, f);
            }
        }
    }
}

/// `SeqReplay` and `Forked` say something about the block: check it.
fn check_error(e: &ChainError, header: &[u8], held: &[Header], f: &Fixture) {
    let stored = |seq: u64| {
        held.get((seq as usize).wrapping_sub(1))
            .map(|h| h.to_bytes().to_vec())
    };
    match e {
        ChainError::SeqReplay { seq } => {
            assert_eq!(
                stored(*seq).as_deref(),
                Some(header),
                "replay of another block"
            );
        }
        ChainError::Forked { seq } => {
            assert!(
                stored(*seq).is_some_and(|s| s != header),
                "fork without a block"
            );
            assert_eq!(
                header.get(148..),
                Some(&chain_model::expected_signature(&f.chain.keys, header)[..]),
                "a fork the author did not sign"
            );
        }
        _ => {}
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Seeds: every prefix length followed by the genuine next blocks, forks, replays and
/// crafted blocks.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in [0u8, 1, 4, 5, 12] {
        for resume in [0u8, 1] {
            let mut w = Writer::new();
            w.u8(k).u8(resume);
            // Three genuine next blocks with the source (3: the chain held), then a fork
            // block, another author's block, raw bytes and a crafted block.
            for _ in 0..3 {
                w.u8(0).u8(5).u8(3);
            }
            w.u8(1).u8(5).u8(5).u8(3);
            w.u8(2).u8(1).u8(5).u8(3);
            w.u8(3).u16(3).bytes(&[1, 2, 3]).u16(0).u8(5).u8(3);
            w.u8(4)
                .u8(1)
                .u8(3)
                .u8(2)
                .u16(1000)
                .u8(3)
                .u8(3)
                .u8(7)
                .u8(2)
                .u8(7)
                .u8(1)
                .u8(3);
            // A replay of block 1 without a source, and with another author's.
            w.u8(1).u8(0).u8(5).u8(0);
            w.u8(1).u8(0).u8(5).u8(1);
            out.push(w.finish());
        }
    }
    out
}
