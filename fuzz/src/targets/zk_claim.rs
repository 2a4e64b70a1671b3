//! Target 11, `zk_claim`: zero-knowledge proof and claim decoding and verification.
//!
//! Mode 0 decodes the input as a claim and verifies it for a publisher; mode 1 edits a
//! genuine claim (proof bytes, context, message, statement, backend, publisher) first;
//! mode 2 wraps a claim in a block and checks it with `verify_claim_block`; mode 3 runs
//! the raw verdict of a proof (`zk::verdict`) from the pinned vectors on.
//!
//! The model: nobody but the fixture's key holders can make a proof, and each proof
//! is bound to everything it states, so a claim (or raw proof) verifies only if it is,
//! byte for byte, one the fixture made (or a pinned accepted vector), for the
//! publisher it was made for. Invariants: nothing panics; verification never accepts
//! what the model rejects, and accepts every genuine claim; what decodes re-encodes to
//! the very bytes; the verdict of a pinned vector is the pinned one.

use crate::bytes::{Cursor, Writer};
use crate::chain_model::{expected_signature, sha256};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::wire::header::Header;
use glitter_core::zk::{self, Claim, ClaimBackend, ClaimStatement, PostCountWitness};
use rand_core::SeedableRng;
use std::sync::OnceLock;

include!("../../../tests/vectors/zk/pinned.rs");

/// The scheme names `zk::verdict` knows.
const SCHEMES: [&str; 4] = [
    "dalek/knows-key",
    "dalek/ring-member",
    "placeholder/knows-key",
    "placeholder/ring-member",
];

/// The fixture's claims: (encoded claim, publisher).
struct Fixture {
    keys: Vec<KeyPair>,
    claims: Vec<(Vec<u8>, PublicKey)>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let keys: Vec<KeyPair> = [111u8, 112, 113, 114]
            .iter()
            .map(|s| crate::fixtures::keys(*s))
            .collect();
        let ring: Vec<PublicKey> = keys[..3].iter().map(KeyPair::public).collect();
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([0x5e; 32]);
        let (ctx, msg) = (&b"glitter/fuzz"[..], &b"challenge 7"[..]);
        let a = keys[0].public();
        let posts = crate::fixtures::posts(114, 4);
        let witness = PostCountWitness::new(posts.keys.clone(), &posts.headers);
        let mut claims = Vec::new();
        for backend in [ClaimBackend::Placeholder, ClaimBackend::Dalek] {
            let k = Claim::knows_key(backend, &a, &keys[0], ctx, msg, &mut rng).expect("prove");
            let r = Claim::ring_member(backend, &a, &ring, &keys[1], ctx, b"", &mut rng)
                .expect("prove");
            claims.push((k, a));
            claims.push((r, a));
        }
        let p = keys[3].public();
        let pc = Claim::post_count(&p, &witness, 3, ctx, msg, &mut rng).expect("prove");
        claims.push((pc, p));
        let claims = claims
            .into_iter()
            .map(|(c, p)| (encode(&c).expect("a claim fits a payload"), p))
            .collect();
        Fixture { keys, claims }
    })
}

fn encode(c: &Claim) -> Option<Vec<u8>> {
    let mut buf = [0u8; 1024];
    Payload::Claim(c.clone())
        .encode(&mut buf)
        .ok()
        .map(<[u8]>::to_vec)
}

fn genuine(bytes: &[u8], publisher: &PublicKey) -> bool {
    fixture()
        .claims
        .iter()
        .any(|(b, p)| b == bytes && p == publisher)
}

fn check(bytes: &[u8], publisher: &PublicKey) {
    let Ok(claim) = Claim::decode(bytes) else {
        return;
    };
    assert_eq!(
        encode(&claim).as_deref(),
        Some(bytes),
        "a decoded claim re-encodes differently"
    );
    let got = claim.verify(publisher);
    assert_eq!(got.is_ok(), genuine(bytes, publisher), "verify {got:?}");
}

fn publisher(c: &mut Cursor<'_>) -> PublicKey {
    let f = fixture();
    f.keys[c.below(f.keys.len())].public()
}

/// A genuine claim with the fuzzer's edits.
fn edited(c: &mut Cursor<'_>) -> (Vec<u8>, PublicKey) {
    let f = fixture();
    let (bytes, mut publ) = f.claims[c.below(f.claims.len())].clone();
    let mut claim = Claim::decode(&bytes).expect("a genuine claim decodes");
    for _ in 0..1 + c.below(3) {
        match c.below(9) {
            0 if !claim.proof.is_empty() => {
                let i = c.below(claim.proof.len().min(256)) * claim.proof.len()
                    / claim.proof.len().min(256);
                if let Some(x) = claim.proof.get_mut(i) {
                    *x ^= c.u8() | 1;
                }
            }
            1 => claim.context = heapless::Vec::from_slice(c.string(32)).unwrap_or_default(),
            2 => claim.message = heapless::Vec::from_slice(c.string(32)).unwrap_or_default(),
            3 => publ = publisher(c),
            4 => {
                claim.backend = match claim.backend {
                    ClaimBackend::Dalek => ClaimBackend::Placeholder,
                    ClaimBackend::Placeholder => ClaimBackend::Dalek,
                }
            }
            5 => match &mut claim.statement {
                ClaimStatement::KnowsKey { key } => *key = publisher(c).0,
                ClaimStatement::RingMember { members } => {
                    let n = members.len();
                    match c.below(3) {
                        0 => members.swap(c.below(n), c.below(n)),
                        1 => {
                            let _ = members.pop();
                        }
                        _ => {
                            let k = members[c.below(n)];
                            let _ = members.push(k);
                        }
                    }
                }
                ClaimStatement::PostCount { posts, .. } => *posts = u16::from(c.u8() % 6),
                ClaimStatement::Member { n, linkable, .. }
                | ClaimStatement::PostCountMember { n, linkable, .. } => match c.below(2) {
                    0 => *n ^= 1,
                    _ => *linkable = !*linkable,
                },
            },
            6 => {
                let cut = c.below(claim.proof.len() + 1);
                claim.proof.truncate(cut);
            }
            7 => {
                let other = &f.claims[c.below(f.claims.len())].0;
                claim.proof = Claim::decode(other).expect("decodes").proof;
            }
            _ => {}
        }
    }
    (encode(&claim).unwrap_or_default(), publ)
}

/// A claim block: header signed by the publisher (or not), payload the claim.
fn block(c: &mut Cursor<'_>) {
    let f = fixture();
    let (payload, publ) = if c.u8() & 1 == 0 {
        let (b, p) = &f.claims[c.below(f.claims.len())];
        (b.clone(), *p)
    } else {
        edited(c)
    };
    let signer = &f.keys[c.below(f.keys.len())];
    let h = Header {
        version: 1,
        kind: glitter_core::BlockKind::Claim,
        author: publ,
        seq: 5,
        timestamp_ms: glitter_tests::T0_MS,
        prev: glitter_core::Hash([1; 32]),
        skip: glitter_core::Hash([2; 32]),
        payload_len: payload.len() as u16,
        payload_hash: glitter_core::Hash(sha256(&payload)),
        signature: [0; 64],
    };
    let mut bytes = h.to_bytes();
    let sig = expected_signature(signer, &bytes);
    bytes[148..].copy_from_slice(&sig);
    if c.below(8) == 0 {
        bytes[1] = 2; // a post, not a claim
    }
    let Ok(header) = Header::decode(&bytes) else {
        return;
    };
    let got = zk::verify_claim_block(&header, &payload);
    let want = signer.public() == publ
        && header.kind == glitter_core::BlockKind::Claim
        && genuine(&payload, &publ);
    assert_eq!(got.is_ok(), want, "verify_claim_block {got:?}");
}

/// `zk::verdict` on raw parts; a pinned vector keeps its pinned verdict.
fn verdict(c: &mut Cursor<'_>) {
    let scheme = SCHEMES[c.below(SCHEMES.len())];
    let (keys, ctx, msg) = (c.string(1100), c.string(40), c.string(40));
    let proof = c.rest();
    let got = zk::verdict(scheme, keys, ctx, msg, proof);
    let pinned = ZK_PINNED
        .iter()
        .find(|v| v.1 == scheme && v.2 == keys && v.3 == ctx && v.4 == msg && v.5 == proof)
        .map(|v| v.6);
    if let Some(p) = pinned {
        assert_eq!(got, p, "a pinned vector's verdict changed");
    }
    if got == "accept" {
        assert_eq!(pinned, Some("accept"), "a proof nobody made was accepted");
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    match c.below(4) {
        0 => {
            let p = publisher(&mut c);
            check(c.rest(), &p);
        }
        1 => {
            let (b, p) = edited(&mut c);
            check(&b, &p);
        }
        2 => block(&mut c),
        _ => verdict(&mut c),
    }
}

/// Seeds: every fixture claim raw, edited and in a block; every pinned vector.
pub fn seeds() -> Vec<Vec<u8>> {
    let f = fixture();
    let mut out = Vec::new();
    for (i, (bytes, publ)) in f.claims.iter().enumerate() {
        let pk = f.keys.iter().position(|k| k.public() == *publ).unwrap_or(0) as u8;
        out.push(Writer::new().u8(0).u8(pk).bytes(bytes).finish());
        out.push(Writer::new().u8(1).u8(i as u8).u8(0).u8(0).u8(9).finish());
        out.push(Writer::new().u8(2).u8(0).u8(i as u8).u8(pk).u8(1).finish());
    }
    for v in ZK_PINNED {
        let s = SCHEMES.iter().position(|x| *x == v.1).unwrap_or(0) as u8;
        let mut w = Writer::new();
        w.u8(3).u8(s);
        w.string(v.2).string(v.3).string(v.4).bytes(v.5);
        out.push(w.finish());
    }
    out
}
