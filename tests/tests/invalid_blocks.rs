//! The invalid-block corpus: generated invalid cases covering every `ChainError`
//! variant; each must be rejected with exactly the expected variant, leaving the
//! validator's state unchanged.

use glitter_core::chain::{ChainError, ChainState, NoHeaders, NonCanonical};
use glitter_core::hash::Hash;
use glitter_core::lipmaa::{SEQ_MAX, lipmaa};
use glitter_core::sig::{KeyPair, PublicKey, SigError};
use glitter_core::social::Payload;
use glitter_core::wire::WireError;
use glitter_core::wire::header::{Header, PAYLOAD_LEN_MAX};
use glitter_tests::{TestChain, resign};
use std::collections::BTreeSet;

/// One case: the candidate next block, and what must happen.
struct Case {
    name: String,
    /// How many blocks of the chain the validator holds first.
    held: usize,
    header: Vec<u8>,
    payload: Option<Vec<u8>>,
    expect: ChainError,
    /// Give the validator no earlier headers (to provoke SkipUnavailable and
    /// StoredUnavailable).
    no_source: bool,
}

fn variant(e: &ChainError) -> &'static str {
    match e {
        ChainError::Wire(_) => "Wire",
        ChainError::Oversize { .. } => "Oversize",
        ChainError::NonCanonical(_) => "NonCanonical",
        ChainError::InvalidAuthorKey(_) => "InvalidAuthorKey",
        ChainError::WrongAuthor => "WrongAuthor",
        ChainError::SeqZero => "SeqZero",
        ChainError::SeqTooLarge { .. } => "SeqTooLarge",
        ChainError::SeqGap { .. } => "SeqGap",
        ChainError::SeqReplay { .. } => "SeqReplay",
        ChainError::Forked { .. } => "Forked",
        ChainError::PrevMismatch { .. } => "PrevMismatch",
        ChainError::SkipMismatch { .. } => "SkipMismatch",
        ChainError::StoredUnavailable { .. } => "StoredUnavailable",
        ChainError::SkipUnavailable { .. } => "SkipUnavailable",
        ChainError::TimestampRegression { .. } => "TimestampRegression",
        ChainError::PayloadLengthMismatch { .. } => "PayloadLengthMismatch",
        ChainError::PayloadHashMismatch => "PayloadHashMismatch",
        ChainError::PayloadMalformed(_) => "PayloadMalformed",
        ChainError::BadSignature(_) => "BadSignature",
    }
}

const ALL_VARIANTS: [&str; 19] = [
    "Wire",
    "Oversize",
    "NonCanonical",
    "InvalidAuthorKey",
    "WrongAuthor",
    "SeqZero",
    "SeqTooLarge",
    "SeqGap",
    "SeqReplay",
    "Forked",
    "PrevMismatch",
    "SkipMismatch",
    "StoredUnavailable",
    "SkipUnavailable",
    "TimestampRegression",
    "PayloadLengthMismatch",
    "PayloadHashMismatch",
    "PayloadMalformed",
    "BadSignature",
];

fn corpus(c: &TestChain) -> Vec<Case> {
    let keys = &c.keys;
    let mut cases = Vec::new();
    let mut add =
        |name: String, held: usize, h: Header, payload: Option<Vec<u8>>, expect: ChainError| {
            cases.push(Case {
                name,
                held,
                header: h.to_bytes().to_vec(),
                payload,
                expect,
                no_source: false,
            })
        };
    // Next block after holding `held`: the genuine one, to mutate.
    let next = |held: usize| (c.headers[held], c.payloads[held].clone());

    // Wrong author: blocks signed by other people, at several positions.
    for (i, seed) in [50u8, 51, 52, 53, 54].iter().enumerate() {
        let other = TestChain::build(*seed, 3);
        add(
            format!("wrong author {seed}"),
            i % 3,
            other.headers[i % 3],
            Some(other.payloads[i % 3].clone()),
            ChainError::WrongAuthor,
        );
    }
    // Seq zero, gaps, too large.
    for held in [0usize, 5, 12] {
        let (mut h, p) = next(held);
        h.seq = 0;
        add(
            format!("seq zero after {held}"),
            held,
            resign(h, keys),
            Some(p),
            ChainError::SeqZero,
        );
    }
    for (held, jump) in [
        (0usize, 1u64),
        (3, 1),
        (3, 2),
        (7, 10),
        (12, 1000),
        (12, SEQ_MAX - 20),
    ] {
        let (mut h, p) = next(held);
        h.seq += jump;
        let got = h.seq;
        add(
            format!("seq gap +{jump} after {held}"),
            held,
            resign(h, keys),
            Some(p),
            ChainError::SeqGap {
                expected: held as u64 + 1,
                got,
            },
        );
    }
    for seq in [SEQ_MAX + 1, u64::MAX] {
        let (mut h, p) = next(4);
        h.seq = seq;
        add(
            format!("seq {seq}"),
            4,
            resign(h, keys),
            Some(p),
            ChainError::SeqTooLarge { seq },
        );
    }
    // Replays of every stored block, and a fork at several seqs.
    for s in 1..=12u64 {
        let i = s as usize - 1;
        add(
            format!("replay of {s}"),
            12,
            c.headers[i],
            Some(c.payloads[i].clone()),
            ChainError::SeqReplay { seq: s },
        );
    }
    for s in [1u64, 4, 12] {
        let i = s as usize - 1;
        let mut h = c.headers[i];
        h.timestamp_ms += 1;
        add(
            format!("fork at {s}"),
            12,
            resign(h, keys),
            None,
            ChainError::Forked { seq: s },
        );
        // A different block at an existing seq that the author did NOT sign is no fork.
        let mut h = c.headers[i];
        h.timestamp_ms += 2;
        add(
            format!("forged fork at {s}"),
            12,
            h,
            None,
            ChainError::BadSignature(SigError::Mismatch),
        );
    }
    // Links.
    for held in [1usize, 2, 6, 12, 20] {
        let (mut h, p) = next(held);
        h.prev = Hash([0xab; 32]);
        add(
            format!("prev random after {held}"),
            held,
            resign(h, keys),
            Some(p.clone()),
            ChainError::PrevMismatch {
                seq: held as u64 + 1,
            },
        );
        let (mut h, _) = next(held);
        h.prev = c.headers[held - 1].prev; // points one block too far back
        add(
            format!("prev stale after {held}"),
            held,
            resign(h, keys),
            Some(p),
            ChainError::PrevMismatch {
                seq: held as u64 + 1,
            },
        );
    }
    // Skip: seqs whose lipmaa target is not seq-1, and seqs where skip == prev.
    for seq in [4u64, 8, 12, 13, 17, 26, 2, 3, 5] {
        let held = seq as usize - 1;
        let (mut h, p) = next(held);
        h.skip = if lipmaa(seq) == seq - 1 {
            Hash([0x5a; 32])
        } else {
            h.prev
        };
        add(
            format!("skip wrong at {seq}"),
            held,
            resign(h, keys),
            Some(p),
            ChainError::SkipMismatch { seq },
        );
    }
    // Timestamp regression.
    for (held, back) in [(1usize, 1u64), (5, 1000), (13, 999_999)] {
        let (mut h, p) = next(held);
        let prev_ms = c.headers[held - 1].timestamp_ms;
        h.timestamp_ms = prev_ms - back;
        add(
            format!("timestamp back {back} after {held}"),
            held,
            resign(h, keys),
            Some(p),
            ChainError::TimestampRegression {
                prev_ms,
                got_ms: prev_ms - back,
            },
        );
    }
    // Payload hash and length.
    for held in [0usize, 3, 9] {
        let (h, mut p) = next(held);
        let last = p.len() - 1;
        p[last] ^= 0x20;
        add(
            format!("payload changed at {held}"),
            held,
            h,
            Some(p),
            ChainError::PayloadHashMismatch,
        );
        let (h, mut p) = next(held);
        p.push(0);
        add(
            format!("payload longer at {held}"),
            held,
            h,
            Some(p.clone()),
            ChainError::PayloadLengthMismatch {
                declared: p.len() - 1,
                actual: p.len(),
            },
        );
        let (h, mut p) = next(held);
        p.pop();
        add(
            format!("payload shorter at {held}"),
            held,
            h,
            Some(p.clone()),
            ChainError::PayloadLengthMismatch {
                declared: p.len() + 1,
                actual: p.len(),
            },
        );
    }
    // Payload that hashes right but does not decode, or decodes non-canonically.
    for (i, bad) in [vec![0xffu8, 0xff, 0xff], vec![5, b'a'], vec![1, 0xc3, 2]]
        .into_iter()
        .enumerate()
    {
        let (mut h, _) = next(2);
        h.payload_len = bad.len() as u16;
        h.payload_hash = Hash::of(&bad);
        add(
            format!("malformed payload {i}"),
            2,
            resign(h, keys),
            Some(bad),
            ChainError::PayloadMalformed(WireError::Malformed),
        );
    }
    {
        // Post { text: "", reply_to: None } with an over-long varint length.
        let bad = vec![0x80u8, 0x00, 0x00];
        let (mut h, _) = next(2);
        h.payload_len = 3;
        h.payload_hash = Hash::of(&bad);
        add(
            "overlong varint payload".into(),
            2,
            resign(h, keys),
            Some(bad),
            ChainError::NonCanonical(NonCanonical::Payload),
        );
    }
    // Genesis links must be zero.
    for (prev, skip) in [
        ([1u8; 32], [0u8; 32]),
        ([0; 32], [1; 32]),
        ([7; 32], [7; 32]),
    ] {
        let (mut h, p) = next(0);
        h.prev = Hash(prev);
        h.skip = Hash(skip);
        add(
            "genesis with links".into(),
            0,
            resign(h, keys),
            Some(p),
            ChainError::NonCanonical(NonCanonical::GenesisLinks),
        );
    }
    // Signatures: bit flips in S (low bytes keep S < L), malleated S + L, forged R.
    for (held, bit) in [(0usize, 0usize), (4, 9), (8, 100), (15, 200), (2, 64)] {
        let (mut h, p) = next(held);
        h.signature[32 + bit / 8 % 16] ^= 1 << (bit % 8);
        add(
            format!("sig S bit {bit} at {held}"),
            held,
            h,
            Some(p),
            ChainError::BadSignature(SigError::Mismatch),
        );
    }
    for held in [0usize, 7, 11] {
        let (mut h, p) = next(held);
        add_l(&mut h.signature);
        add(
            format!("malleable S+L at {held}"),
            held,
            h,
            Some(p),
            ChainError::BadSignature(SigError::NonCanonicalS),
        );
    }
    {
        let (mut h, p) = next(3);
        h.signature[..32].copy_from_slice(&[0u8; 32]); // small-order R
        add(
            "small-order R".into(),
            3,
            h,
            Some(p),
            ChainError::BadSignature(SigError::WeakR),
        );
        let (mut h, p) = next(3);
        h.signature[..32].copy_from_slice(&[0xff; 32]); // y >= p: non-canonical R
        add(
            "non-canonical R".into(),
            3,
            h,
            Some(p),
            ChainError::BadSignature(SigError::NonCanonicalR),
        );
        // Header changed after signing: the signature no longer matches.
        let (mut h, p) = next(3);
        h.timestamp_ms += 5;
        add(
            "unsigned edit".into(),
            3,
            h,
            Some(p),
            ChainError::BadSignature(SigError::Mismatch),
        );
    }
    // Oversize: declared payload_len above the bound, and an oversize payload.
    for len in [PAYLOAD_LEN_MAX as u16 + 1, 2000, u16::MAX] {
        let (h, _) = next(1);
        let mut b = h.to_bytes();
        b[2..4].copy_from_slice(&len.to_le_bytes());
        cases.push(Case {
            name: format!("declared len {len}"),
            held: 1,
            header: b.to_vec(),
            payload: None,
            expect: ChainError::Oversize {
                len: len as usize,
                max: PAYLOAD_LEN_MAX,
            },
            no_source: false,
        });
    }
    {
        let (h, _) = next(1);
        let big = vec![0u8; PAYLOAD_LEN_MAX + 1];
        cases.push(Case {
            name: "oversize payload".into(),
            held: 1,
            header: h.to_bytes().to_vec(),
            payload: Some(big),
            expect: ChainError::Oversize {
                len: PAYLOAD_LEN_MAX + 1,
                max: PAYLOAD_LEN_MAX,
            },
            no_source: false,
        });
    }
    // Truncation at every byte offset, trailing bytes, version and kind codes.
    let (h, p) = next(6);
    let full = h.to_bytes();
    for cut in 0..full.len() {
        cases.push(Case {
            name: format!("truncated at {cut}"),
            held: 6,
            header: full[..cut].to_vec(),
            payload: Some(p.clone()),
            expect: ChainError::Wire(WireError::Truncated {
                needed: 212,
                got: cut,
            }),
            no_source: false,
        });
    }
    for extra in [1usize, 2, 64, 212] {
        let mut b = full.to_vec();
        b.extend(std::iter::repeat_n(0u8, extra));
        cases.push(Case {
            name: format!("trailing {extra}"),
            held: 6,
            header: b,
            payload: Some(p.clone()),
            expect: ChainError::Wire(WireError::TrailingBytes { extra }),
            no_source: false,
        });
    }
    for v in [0u8, 2, 255] {
        let mut b = full;
        b[0] = v;
        cases.push(Case {
            name: format!("version {v}"),
            held: 6,
            header: b.to_vec(),
            payload: Some(p.clone()),
            expect: ChainError::Wire(WireError::UnsupportedVersion(v)),
            no_source: false,
        });
    }
    for k in [0u8, 9, 200] {
        let mut b = full;
        b[1] = k;
        cases.push(Case {
            name: format!("kind {k}"),
            held: 6,
            header: b.to_vec(),
            payload: Some(p.clone()),
            expect: ChainError::Wire(WireError::UnknownKind(k)),
            no_source: false,
        });
    }
    // A block at a seq already held, when the caller cannot provide the stored block:
    // a replay and a fork look alike, and neither is claimed (found by fuzzing).
    for held in [6usize, 12] {
        let (h, p) = (c.headers[2], c.payloads[2].clone());
        let mut other = h;
        other.timestamp_ms += 1;
        for (what, h) in [("replay", h), ("other block", resign(other, keys))] {
            cases.push(Case {
                name: format!("{what} at 3 after {held}, no source"),
                held,
                header: h.to_bytes().to_vec(),
                payload: Some(p.clone()),
                expect: ChainError::StoredUnavailable { seq: 3 },
                no_source: true,
            });
        }
    }
    // The skip target is far back and the caller cannot provide it.
    for seq in [8u64, 13, 26] {
        let (h, p) = next(seq as usize - 1);
        cases.push(Case {
            name: format!("skip unavailable at {seq}"),
            held: seq as usize - 1,
            header: h.to_bytes().to_vec(),
            payload: Some(p),
            expect: ChainError::SkipUnavailable {
                seq,
                target: lipmaa(seq),
            },
            no_source: true,
        });
    }
    cases
}

/// Adds the group order L to the S half of a signature (little-endian).
fn add_l(sig: &mut [u8; 64]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = sig[32 + i] as u16 + L[i] as u16 + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
}

#[test]
fn every_invalid_case_gets_exactly_its_error() {
    let c = TestChain::build(1, 30);
    let cases = corpus(&c);
    assert!(cases.len() >= 100, "corpus has only {} cases", cases.len());
    let mut covered = BTreeSet::new();
    for case in &cases {
        let mut state = c.state_after(case.held);
        let before = state;
        let mut src = c.headers[..case.held].to_vec();
        let got = if case.no_source {
            state.verify_next(&case.header, case.payload.as_deref(), &mut NoHeaders)
        } else {
            state.verify_next(&case.header, case.payload.as_deref(), &mut src[..])
        };
        assert_eq!(got, Err(case.expect), "case {:?}", case.name);
        assert_eq!(
            state, before,
            "state changed by rejected case {:?}",
            case.name
        );
        covered.insert(variant(&case.expect));
    }
    // Genesis key checks: small-order, identity and all-zero keys.
    let mut weak = vec![[0u8; 32]];
    let mut id = [0u8; 32];
    id[0] = 1;
    weak.push(id);
    weak.push(
        hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
            .unwrap()
            .try_into()
            .unwrap(),
    );
    for k in weak {
        assert_eq!(
            ChainState::new(PublicKey(k)),
            Err(ChainError::InvalidAuthorKey(SigError::WeakKey))
        );
    }
    covered.insert("InvalidAuthorKey");
    for v in ALL_VARIANTS {
        assert!(covered.contains(v), "no case for {v}");
    }
    eprintln!("{} invalid cases, {} variants", cases.len(), covered.len());
}

#[test]
fn the_genuine_chain_verifies() {
    let c = TestChain::build(1, 30);
    let s = c.state_after(30);
    assert_eq!(s.head().unwrap().id, c.headers[29].id());
    // Pruned payloads: headers alone still verify.
    let mut s2 = ChainState::new(c.keys.public()).unwrap();
    for i in 0..30 {
        s2.verify_next(
            &c.headers[i].to_bytes(),
            None,
            &mut c.headers[..i].to_vec()[..],
        )
        .unwrap();
    }
    assert_eq!(s, s2);
    assert!(KeyPair::from_seed([0; 32]).is_err());
    let _ = Payload::post("x", None);
}
