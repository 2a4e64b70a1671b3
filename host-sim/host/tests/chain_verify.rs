//! Batch and parallel chain verification (`glitter_host::verify::verify_chain`, and
//! `ChainFile::verify` that uses it) give the same result as the sequential loop of
//! `ChainState::verify_next`: the same headers, or the same first failure (index, seq,
//! `ChainError`), on a corpus of broken chains, with 1, 2 and 3 threads.

use glitter_core::chain::{ChainError, ChainState};
use glitter_core::hash::Hash;
use glitter_core::lipmaa::lipmaa;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::wire::header::{HEADER_LEN, Header};
use glitter_host::chainfile::{ChainFile, RawBlock};
use glitter_host::verify::{verify_chain, verify_chain_sequential};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

type Block = (Vec<u8>, Option<Vec<u8>>);
type Outcome = Result<Vec<Header>, (usize, Option<u64>, ChainError)>;

struct Chain {
    keys: KeyPair,
    headers: Vec<Header>,
    blocks: Vec<Block>,
}

const T0_MS: u64 = 1_767_225_600_000;

fn build(seed: u8, n: usize) -> Chain {
    let keys = KeyPair::from_seed([seed; 32]).unwrap();
    let mut state = ChainState::new(keys.public()).unwrap();
    let mut headers: Vec<Header> = Vec::with_capacity(n);
    let mut blocks = Vec::with_capacity(n);
    let mut buf = [0u8; 1024];
    for i in 0..n {
        let p = Payload::post(&format!("post {i} by {seed}"), None).unwrap();
        let bytes = p.encode(&mut buf).unwrap().to_vec();
        let t = T0_MS + 1000 * i as u64;
        let h = state
            .append(&keys, p.kind(), t, &bytes, headers.as_mut_slice())
            .unwrap();
        headers.push(h);
        blocks.push((h.to_bytes().to_vec(), Some(bytes)));
    }
    Chain {
        keys,
        headers,
        blocks,
    }
}

/// The reference: the loop `ChainFile::verify` ran before batching.
fn reference(author: PublicKey, blocks: &[Block]) -> Outcome {
    let mut state = ChainState::new(author).map_err(|e| (0, None, e))?;
    let mut headers: Vec<Header> = Vec::new();
    for (i, (h, p)) in blocks.iter().enumerate() {
        let seq = Header::decode(h).ok().map(|h| h.seq);
        let hd = state
            .verify_next(h, p.as_deref(), headers.as_mut_slice())
            .map_err(|e| (i, seq, e))?;
        headers.push(hd);
    }
    Ok(headers)
}

fn outcome(r: Result<Vec<Header>, glitter_host::chainfile::BlockFailure>) -> Outcome {
    r.map_err(|f| (f.index, f.seq, f.error))
}

/// Checks every path against the reference; returns the reference outcome.
fn check(name: &str, author: PublicKey, blocks: &[Block], rng: &mut ChaCha20Rng) -> Outcome {
    let want = reference(author, blocks);
    assert_eq!(
        outcome(verify_chain_sequential(author, blocks)),
        want,
        "{name}: sequential"
    );
    for threads in [1, 2, 3] {
        assert_eq!(
            outcome(verify_chain(author, blocks, rng, threads)),
            want,
            "{name}: {threads} threads"
        );
    }
    let raw: Option<Vec<RawBlock>> = blocks
        .iter()
        .map(|(h, p)| {
            Some(RawBlock {
                header: <[u8; HEADER_LEN]>::try_from(h.as_slice()).ok()?,
                payload: p.clone(),
            })
        })
        .collect();
    if let Some(raw) = raw {
        let file = ChainFile {
            author,
            blocks: raw,
        };
        let got = file
            .verify()
            .map(|v| v.headers)
            .map_err(|f| (f.index, f.seq, f.error));
        assert_eq!(got, want, "{name}: ChainFile::verify");
    }
    want
}

/// Kinds of damage to the block at one position.
#[derive(Clone, Copy, Debug)]
enum Damage {
    SigBitS,
    SigPlusL,
    SmallOrderR,
    NonCanonicalR,
    UnsignedEdit,
    PayloadChanged,
    Pruned,
    SeqGap,
    Prev,
    Skip,
    TimestampBack,
    WrongAuthor,
    Truncated,
    Replay,
    Fork,
    ForgedFork,
}

const DAMAGES: [Damage; 16] = [
    Damage::SigBitS,
    Damage::SigPlusL,
    Damage::SmallOrderR,
    Damage::NonCanonicalR,
    Damage::UnsignedEdit,
    Damage::PayloadChanged,
    Damage::Pruned,
    Damage::SeqGap,
    Damage::Prev,
    Damage::Skip,
    Damage::TimestampBack,
    Damage::WrongAuthor,
    Damage::Truncated,
    Damage::Replay,
    Damage::Fork,
    Damage::ForgedFork,
];

fn add_l(sig: &mut [u8; 64]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
}

fn resign(mut h: Header, keys: &KeyPair) -> Header {
    h.signature = keys.sign(&h.signing_message());
    h
}

/// `c`'s blocks with the block at `p` damaged (the later blocks left as they were).
fn damaged(c: &Chain, other: &Chain, p: usize, d: Damage) -> Vec<Block> {
    let mut blocks = c.blocks.clone();
    let h = c.headers[p];
    let keys = &c.keys;
    let set = |blocks: &mut Vec<Block>, h: Header| blocks[p].0 = h.to_bytes().to_vec();
    match d {
        Damage::SigBitS => {
            let mut h = h;
            h.signature[32 + p % 16] ^= 1 << (p % 8);
            set(&mut blocks, h);
        }
        Damage::SigPlusL => {
            let mut h = h;
            add_l(&mut h.signature);
            set(&mut blocks, h);
        }
        Damage::SmallOrderR => {
            let mut h = h;
            h.signature[..32].copy_from_slice(&[0; 32]);
            set(&mut blocks, h);
        }
        Damage::NonCanonicalR => {
            let mut h = h;
            h.signature[..32].copy_from_slice(&[0xff; 32]);
            set(&mut blocks, h);
        }
        Damage::UnsignedEdit => {
            let mut h = h;
            h.timestamp_ms += 5;
            set(&mut blocks, h);
        }
        Damage::PayloadChanged => {
            if let Some(pl) = blocks[p].1.as_mut() {
                let last = pl.len() - 1;
                pl[last] ^= 0x20;
            }
        }
        Damage::Pruned => blocks[p].1 = None,
        Damage::SeqGap => {
            let mut h = h;
            h.seq += 1;
            set(&mut blocks, resign(h, keys));
        }
        Damage::Prev => {
            let mut h = h;
            h.prev = Hash([0xab; 32]);
            set(&mut blocks, resign(h, keys));
        }
        Damage::Skip => {
            let mut h = h;
            let seq = h.seq;
            h.skip = if lipmaa(seq) == seq - 1 || seq == 1 {
                Hash([0x5a; 32])
            } else {
                h.prev
            };
            set(&mut blocks, resign(h, keys));
        }
        Damage::TimestampBack => {
            let mut h = h;
            h.timestamp_ms = T0_MS - 1;
            set(&mut blocks, resign(h, keys));
        }
        Damage::WrongAuthor => blocks[p] = other.blocks[p].clone(),
        Damage::Truncated => blocks[p].0.truncate(100),
        Damage::Replay => {
            if p > 0 {
                blocks[p] = c.blocks[p - 1].clone();
            }
        }
        Damage::Fork | Damage::ForgedFork => {
            if p > 0 {
                let mut h = c.headers[p - 1];
                h.timestamp_ms += 1;
                if matches!(d, Damage::Fork) {
                    h = resign(h, keys);
                }
                blocks[p] = (h.to_bytes().to_vec(), None);
            }
        }
    }
    blocks
}

#[test]
fn every_damage_at_every_position_of_a_short_chain() {
    let start = std::time::Instant::now();
    let c = build(1, 40);
    let other = build(2, 40);
    let author = c.keys.public();
    let mut rng = ChaCha20Rng::seed_from_u64(18);
    let mut cases = 0;
    let mut failing = std::collections::BTreeSet::new();
    // The genuine chain, every prefix of it, and no blocks at all.
    for n in [0usize, 1, 2, 5, 40] {
        let ok = check(&format!("prefix {n}"), author, &c.blocks[..n], &mut rng);
        assert_eq!(ok.map(|h| h.len()), Ok(n));
        cases += 1;
    }
    for d in DAMAGES {
        for p in 0..c.blocks.len() {
            let blocks = damaged(&c, &other, p, d);
            let got = check(&format!("{d:?} at {p}"), author, &blocks, &mut rng);
            if let Err((i, _, e)) = got {
                // Damage that leaves block p valid (an earlier timestamp at genesis)
                // still changes its id: block p + 1 then fails.
                assert!(i == p || i == p + 1, "{d:?} at {p}: {i} {e:?}");
                failing.insert(
                    format!("{e:?}")
                        .split(['(', ' '])
                        .next()
                        .unwrap_or("")
                        .to_string(),
                );
            }
            cases += 1;
        }
    }
    // An author that is no identity.
    let got = check("weak author", PublicKey([0; 32]), &c.blocks, &mut rng);
    assert!(matches!(
        got,
        Err((0, None, ChainError::InvalidAuthorKey(_)))
    ));
    eprintln!(
        "{cases} chains, failures seen: {failing:?}, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    for v in [
        "BadSignature",
        "PayloadHashMismatch",
        "SeqGap",
        "PrevMismatch",
        "SkipMismatch",
        "TimestampRegression",
        "WrongAuthor",
        "Wire",
        "SeqReplay",
        "Forked",
    ] {
        assert!(failing.contains(v), "no case failed with {v}: {failing:?}");
    }
}

/// A bad signature and a link error in one chain: whichever comes first in the chain
/// is the error, as in the sequential loop; on a chain long enough for several
/// signature batches on 2 and 3 threads (0..128, 128..256, 256..300), at and around
/// the batch boundaries.
#[test]
fn the_first_failure_wins_across_batches() {
    let c = build(3, 300);
    let other = build(4, 300);
    let author = c.keys.public();
    let mut rng = ChaCha20Rng::seed_from_u64(19);
    let positions = [
        0usize, 1, 63, 64, 65, 74, 75, 76, 127, 128, 150, 191, 192, 255, 256, 299,
    ];
    for &p in &positions {
        for d in [
            Damage::SigBitS,
            Damage::SmallOrderR,
            Damage::Prev,
            Damage::PayloadChanged,
        ] {
            let got = check(
                &format!("{d:?} at {p}"),
                author,
                &damaged(&c, &other, p, d),
                &mut rng,
            );
            assert_eq!(got.err().map(|e| e.0), Some(p), "{d:?} at {p}");
        }
    }
    // Two faults: a bad signature and a link error, in both orders, and two bad
    // signatures, at positions in the same and in different batches.
    for (i, j) in [
        (0usize, 1usize),
        (3, 200),
        (63, 64),
        (70, 71),
        (100, 299),
        (5, 6),
    ] {
        for (first, second) in [
            (Damage::SigBitS, Damage::Prev),
            (Damage::Prev, Damage::SigBitS),
            (Damage::SigBitS, Damage::NonCanonicalR),
            (Damage::TimestampBack, Damage::SigPlusL),
            (Damage::UnsignedEdit, Damage::Truncated),
        ] {
            let mut blocks = damaged(&c, &other, i, first);
            blocks[j] = damaged(&c, &other, j, second)[j].clone();
            let name = format!("{first:?} at {i}, {second:?} at {j}");
            let got = check(&name, author, &blocks, &mut rng);
            // An earlier timestamp is no fault at genesis: its successor fails instead.
            let want = if i == 0 && matches!(first, Damage::TimestampBack) {
                1
            } else {
                i
            };
            assert_eq!(got.err().map(|e| e.0), Some(want), "{name}");
        }
    }
    // The genuine long chain, and with every payload pruned.
    assert!(check("genuine 300", author, &c.blocks, &mut rng).is_ok());
    let pruned: Vec<Block> = c.blocks.iter().map(|(h, _)| (h.clone(), None)).collect();
    assert!(check("pruned 300", author, &pruned, &mut rng).is_ok());
}
