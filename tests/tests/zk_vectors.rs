//! Pinned zero-knowledge proof vectors: proofs made from a fixed seed, with glitter's
//! verdict on each, in `tests/vectors/zk/pinned.rs`. The QEMU firmware `include!`s the
//! same file and checks every verdict through the same `zk::verdict`, so the host and a
//! Cortex-M agree case for case.
//!
//! Regenerate on purpose (after a deliberate change to a proof format or the prover):
//! `GLITTER_REGEN_VECTORS=1 cargo test -p glitter-tests --test zk_vectors`.

mod zk_common;

use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::zk::{Binding, Dalek, KnowsKey, Placeholder, Proof, Prover, RingMember, verdict};
use std::fmt::Write as _;
use zk_common::{add_le, ell, rng, small_order_points};

include!("../vectors/zk/pinned.rs");

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/zk/pinned.rs");

struct Case {
    name: String,
    scheme: &'static str,
    keys: Vec<u8>,
    context: Vec<u8>,
    message: Vec<u8>,
    proof: Vec<u8>,
    /// What the case is meant to show; the generator checks the verdict equals it.
    intended: &'static str,
}

fn emit<P: Proof>(p: &P) -> Vec<u8> {
    let mut buf = vec![0u8; P::ENCODED_LEN_MAX];
    let n = p.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn flat(keys: &[PublicKey]) -> Vec<u8> {
    keys.iter().flat_map(|k| k.0).collect()
}

/// Fixed identities: seed `i` is 32 bytes of a label and the index.
fn identities(n: usize) -> Vec<KeyPair> {
    (0..n)
        .map(|i| {
            let mut seed = *b"glitter/zk/vectors/identity/0000";
            seed[28..].copy_from_slice(&(i as u32).to_be_bytes());
            KeyPair::from_seed(seed).unwrap()
        })
        .collect()
}

fn generate() -> Vec<Case> {
    let mut r = rng(0x5eed);
    let ids = identities(33);
    let keys: Vec<PublicKey> = ids.iter().map(KeyPair::public).collect();
    let mut cases = Vec::new();
    let mut case = |name: &str,
                    scheme: &'static str,
                    k: &[PublicKey],
                    context: &[u8],
                    message: &[u8],
                    proof: Vec<u8>,
                    intended: &'static str| {
        cases.push(Case {
            name: name.to_string(),
            scheme,
            keys: flat(k),
            context: context.to_vec(),
            message: message.to_vec(),
            proof,
            intended,
        });
    };

    // --- Schnorr ------------------------------------------------------------------
    let alice = &ids[0];
    let one = [alice.public()];
    let st = KnowsKey {
        key: alice.public(),
    };
    let s_empty = emit(
        &Dalek
            .prove(&st, alice, &Binding::new(b"", b""), &mut r)
            .unwrap(),
    );
    let (ctx, msg) = (b"glitter/vectors", b"hello, microcontroller");
    let s_demo = emit(
        &Dalek
            .prove(&st, alice, &Binding::new(ctx, msg), &mut r)
            .unwrap(),
    );
    const S: &str = "dalek/knows-key";
    case(
        "schnorr/valid/empty-binding",
        S,
        &one,
        b"",
        b"",
        s_empty.clone(),
        "accept",
    );
    case("schnorr/valid", S, &one, ctx, msg, s_demo.clone(), "accept");
    case(
        "schnorr/other-message",
        S,
        &one,
        ctx,
        b"hello, microcontrollee",
        s_demo.clone(),
        "rejected",
    );
    case(
        "schnorr/other-context",
        S,
        &one,
        b"glitter/vectorz",
        msg,
        s_demo.clone(),
        "rejected",
    );
    case(
        "schnorr/other-key",
        S,
        &keys[1..2],
        ctx,
        msg,
        s_demo.clone(),
        "rejected",
    );
    let mut flipped = s_demo.clone();
    flipped[5] ^= 0x10;
    case("schnorr/flipped-c", S, &one, ctx, msg, flipped, "rejected");
    let mut flipped = s_demo.clone();
    flipped[40] ^= 0x01;
    case("schnorr/flipped-s", S, &one, ctx, msg, flipped, "rejected");
    let mut s_plus_l = s_demo.clone();
    let s: [u8; 32] = s_plus_l[32..].try_into().unwrap();
    s_plus_l[32..].copy_from_slice(&add_le(&s, &ell()));
    case(
        "schnorr/s-plus-order",
        S,
        &one,
        ctx,
        msg,
        s_plus_l,
        "non-canonical-scalar",
    );
    case(
        "schnorr/all-zero",
        S,
        &one,
        ctx,
        msg,
        vec![0; 64],
        "rejected",
    );
    case(
        "schnorr/short",
        S,
        &one,
        ctx,
        msg,
        s_demo[..63].to_vec(),
        "proof-length",
    );
    let identity = PublicKey(small_order_points()[0]);
    case(
        "schnorr/identity-key",
        S,
        &[identity],
        ctx,
        msg,
        vec![0; 64],
        "weak-key",
    );
    let mut y = [0xffu8; 32];
    y[0] = 0xee;
    y[31] = 0x7f;
    case(
        "schnorr/non-canonical-key",
        S,
        &[PublicKey(y)],
        ctx,
        msg,
        s_demo.clone(),
        "non-canonical-key",
    );
    case(
        "schnorr/two-keys",
        S,
        &keys[..2],
        ctx,
        msg,
        s_demo.clone(),
        "bad-length",
    );
    case(
        "schnorr/as-ring-of-one",
        "dalek/ring-member",
        &one,
        ctx,
        msg,
        s_demo.clone(),
        "rejected",
    );

    // --- rings ---------------------------------------------------------------------
    const R: &str = "dalek/ring-member";
    let (ctx, msg) = (
        b"glitter/vectors/ring",
        b"I am one of the people you follow",
    );
    let mut ring8 = Vec::new();
    for (n, signer) in [(1, 0), (2, 1), (3, 1), (8, 5), (14, 13), (32, 31)] {
        let members = &keys[..n];
        let p = emit(
            &Dalek
                .prove(
                    &RingMember { members },
                    &ids[signer],
                    &Binding::new(ctx, msg),
                    &mut r,
                )
                .unwrap(),
        );
        case(
            &format!("ring-{n}/valid"),
            R,
            members,
            ctx,
            msg,
            p.clone(),
            "accept",
        );
        if n == 8 {
            ring8 = p;
        }
    }
    let members8 = &keys[..8];
    case(
        "ring-8/other-message",
        R,
        members8,
        ctx,
        b"I am one of the people you follow!",
        ring8.clone(),
        "rejected",
    );
    let mut swapped = members8.to_vec();
    swapped.swap(2, 6);
    case(
        "ring-8/members-swapped",
        R,
        &swapped,
        ctx,
        msg,
        ring8.clone(),
        "rejected",
    );
    let mut replaced = members8.to_vec();
    replaced[5] = keys[20];
    case(
        "ring-8/signer-replaced",
        R,
        &replaced,
        ctx,
        msg,
        ring8.clone(),
        "rejected",
    );
    let mut flipped = ring8.clone();
    flipped[32 * 4 + 9] ^= 0x04;
    case(
        "ring-8/flipped-s3",
        R,
        members8,
        ctx,
        msg,
        flipped,
        "rejected",
    );
    let mut flipped = ring8.clone();
    flipped[0] ^= 0x80;
    case(
        "ring-8/flipped-c0",
        R,
        members8,
        ctx,
        msg,
        flipped,
        "rejected",
    );
    case(
        "ring-8/all-zero",
        R,
        members8,
        ctx,
        msg,
        vec![0; 32 * 9],
        "rejected",
    );
    let mut weak = members8.to_vec();
    weak[2] = identity;
    case(
        "ring-8/identity-member",
        R,
        &weak,
        ctx,
        msg,
        ring8.clone(),
        "weak-key",
    );
    let mut order8 = members8.to_vec();
    order8[7] = PublicKey(small_order_points()[4]);
    case(
        "ring-8/order-8-member",
        R,
        &order8,
        ctx,
        msg,
        ring8.clone(),
        "weak-key",
    );
    let mut dup = members8.to_vec();
    dup[7] = dup[0];
    case(
        "ring-8/duplicate-member",
        R,
        &dup,
        ctx,
        msg,
        ring8.clone(),
        "duplicate-member",
    );
    case(
        "ring-8/proof-for-7",
        R,
        &keys[..7],
        ctx,
        msg,
        ring8.clone(),
        "proof-length",
    );
    case(
        "ring-33/too-large",
        R,
        &keys[..33],
        ctx,
        msg,
        vec![0; 32 * 34],
        "bad-length",
    );
    case("ring-0/empty", R, &[], ctx, msg, vec![0; 64], "ring-size");

    // --- placeholder (not zero-knowledge; for completeness of the table) -------------
    let (ctx, msg) = (b"glitter/vectors/placeholder", b"challenge 7");
    let p = emit(
        &Placeholder
            .prove(&st, alice, &Binding::new(ctx, msg), &mut r)
            .unwrap(),
    );
    const PK: &str = "placeholder/knows-key";
    case(
        "placeholder/knows-key/valid",
        PK,
        &one,
        ctx,
        msg,
        p.clone(),
        "accept",
    );
    case(
        "placeholder/knows-key/other-message",
        PK,
        &one,
        ctx,
        b"challenge 8",
        p,
        "rejected",
    );
    let members = &keys[..4];
    let p = emit(
        &Placeholder
            .prove(
                &RingMember { members },
                &ids[3],
                &Binding::new(ctx, msg),
                &mut r,
            )
            .unwrap(),
    );
    const PR: &str = "placeholder/ring-member";
    case(
        "placeholder/ring-4/valid",
        PR,
        members,
        ctx,
        msg,
        p.clone(),
        "accept",
    );
    let mut lie = p.clone();
    lie[0] = 1;
    case(
        "placeholder/ring-4/other-index",
        PR,
        members,
        ctx,
        msg,
        lie,
        "rejected",
    );
    cases
}

fn render(cases: &[Case]) -> String {
    let mut s = String::from(
        "// GENERATED by tests/tests/zk_vectors.rs from a fixed seed. Do not edit.\n\
         // Regenerate on purpose: GLITTER_REGEN_VECTORS=1 cargo test -p glitter-tests --test zk_vectors\n\
         /// (case name, scheme, member keys (32 bytes each), context, message, proof, glitter's verdict).\n\
         #[allow(dead_code, clippy::type_complexity)]\n\
         pub const ZK_PINNED: &[(&str, &str, &[u8], &[u8], &[u8], &[u8], &str)] = &[\n",
    );
    for c in cases {
        writeln!(
            s,
            "    (\"{}\", \"{}\", &{:?}, &{:?}, &{:?}, &{:?}, \"{}\"),",
            c.name,
            c.scheme,
            c.keys,
            c.context,
            c.message,
            c.proof,
            verdict(c.scheme, &c.keys, &c.context, &c.message, &c.proof)
        )
        .unwrap();
    }
    s.push_str("];\n");
    s
}

#[test]
fn pinned_vectors_match_the_generator_and_the_verifier() {
    let cases = generate();
    for c in &cases {
        assert_eq!(
            verdict(c.scheme, &c.keys, &c.context, &c.message, &c.proof),
            c.intended,
            "case {} does not show what it is meant to",
            c.name
        );
    }
    if std::env::var_os("GLITTER_REGEN_VECTORS").is_some() {
        std::fs::write(FILE, render(&cases)).unwrap();
    }
    assert_eq!(
        ZK_PINNED.len(),
        cases.len(),
        "pinned.rs is stale: regenerate it (see the module docs)"
    );
    for (c, p) in cases.iter().zip(ZK_PINNED) {
        assert_eq!(c.name, p.0);
        assert_eq!(
            (
                c.scheme,
                &c.keys[..],
                &c.context[..],
                &c.message[..],
                &c.proof[..]
            ),
            (p.1, p.2, p.3, p.4, p.5),
            "{}: the prover's output changed; regenerate on purpose if that was meant",
            c.name
        );
    }
}

/// The verdicts in the file hold, independently of the generator.
#[test]
fn pinned_verdicts_hold() {
    assert!(ZK_PINNED.len() >= 30);
    for (name, scheme, keys, ctx, msg, proof, pinned) in ZK_PINNED {
        assert_eq!(
            verdict(scheme, keys, ctx, msg, proof),
            *pinned,
            "verdict of {name} changed"
        );
    }
    let accepted = ZK_PINNED.iter().filter(|c| c.6 == "accept").count();
    assert_eq!(accepted, 10);
}
