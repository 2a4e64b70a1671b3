//! The placeholder backend: real acceptance and real rejections. It is sound but not
//! zero-knowledge, and these tests check both halves of that sentence.

mod zk_common;

use glitter_core::BlockBuilder;
use glitter_core::chain::ChainState;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::{Follow, Payload};
use glitter_core::wire::header::{BlockKind, Header};
use glitter_core::zk::{
    Binding, KnowsKey, MemberSignatureProof, Placeholder, PostCount, PostCountProof,
    PostCountWitness, Proof, Prover, RingMember, SignatureProof, Verifier, ZkError,
};
use rand_core::Rng;
use zk_common::{identity, ring, rng};

const EPOCH_MS: u64 = 1_767_225_600_000;

/// A chain for `keys`: a profile, then `posts` posts with a follow after every third.
fn chain(keys: &KeyPair, posts: usize) -> Vec<Header> {
    let mut b = BlockBuilder::new(keys.clone(), ChainState::new(keys.public()).unwrap()).unwrap();
    let mut headers: Vec<Header> = Vec::new();
    let mut t = EPOCH_MS;
    let mut push = |p: Payload, headers: &mut Vec<Header>| {
        t += 60_000;
        let (h, _) = b.next(&p, t, headers.as_mut_slice()).unwrap();
        headers.push(h);
    };
    push(Payload::profile("someone", "").unwrap(), &mut headers);
    for i in 0..posts {
        push(
            Payload::post(&format!("post {i}"), None).unwrap(),
            &mut headers,
        );
        if i % 3 == 2 {
            push(Payload::Follow(Follow { author: [7; 32] }), &mut headers);
        }
    }
    headers
}

/// Continues `prefix` (a valid chain of `keys`) with `posts` different posts: a fork.
fn fork(keys: &KeyPair, prefix: &[Header], posts: usize) -> Vec<Header> {
    let head = prefix.last().map(|h| glitter_core::chain::Head {
        seq: h.seq,
        id: h.id(),
        timestamp_ms: h.timestamp_ms,
    });
    let state = ChainState::resume(keys.public(), head).unwrap();
    let mut b = BlockBuilder::new(keys.clone(), state).unwrap();
    let mut headers = prefix.to_vec();
    for i in 0..posts {
        let p = Payload::post(&format!("forked post {i}"), None).unwrap();
        let (h, _) = b
            .next(&p, EPOCH_MS + 10_000_000 + i as u64, headers.as_mut_slice())
            .unwrap();
        headers.push(h);
    }
    headers
}

fn roundtrip<P: Proof + PartialEq + std::fmt::Debug>(p: &P) -> P {
    let mut buf = vec![0u8; P::ENCODED_LEN_MAX];
    let n = p.emit(&mut buf).unwrap();
    assert_eq!(n, p.encoded_len());
    let back = P::parse(&buf[..n]).unwrap();
    assert_eq!(&back, p);
    back
}

#[test]
fn post_count_accepts_real_posts() {
    let mut r = rng(20);
    let alice = identity(&mut r);
    let headers = chain(&alice, 10);
    let witness = PostCountWitness::new(alice.clone(), &headers);
    assert_eq!(witness.posts(), 10);
    let b = Binding::new(b"glitter/test", b"challenge 1");
    for posts in 1..=10u16 {
        let st = PostCount {
            author: alice.public(),
            posts,
        };
        let proof = Placeholder.prove(&st, &witness, &b, &mut r).unwrap();
        assert_eq!(proof.headers.len(), usize::from(posts));
        // Not zero-knowledge: the proof *is* the witness, header for header.
        for h in &proof.headers {
            assert!(headers.contains(h));
        }
        let proof = roundtrip(&proof);
        assert_eq!(Placeholder.verify(&st, &proof, &b), Ok(()));
        // "At least": a proof of 7 posts also shows 5.
        if posts > 1 {
            let fewer = PostCount {
                author: alice.public(),
                posts: posts - 1,
            };
            // ... but only under the statement it was signed for.
            assert_eq!(
                Placeholder.verify(&fewer, &proof, &b),
                Err(ZkError::Rejected)
            );
        }
    }
}

#[test]
fn post_count_rejections() {
    let mut r = rng(21);
    let alice = identity(&mut r);
    let bob = identity(&mut r);
    let headers = chain(&alice, 6);
    let bob_headers = chain(&bob, 6);
    let witness = PostCountWitness::new(alice.clone(), &headers);
    let b = Binding::new(b"glitter/test", b"challenge");
    let st = |posts| PostCount {
        author: alice.public(),
        posts,
    };

    // Too few: the prover cannot, and a short proof does not verify for more.
    assert_eq!(
        Placeholder.prove(&st(7), &witness, &b, &mut r),
        Err(ZkError::TooFewHeaders { needed: 7, got: 6 })
    );
    let three = Placeholder.prove(&st(3), &witness, &b, &mut r).unwrap();
    assert_eq!(
        Placeholder.verify(&st(4), &three, &b),
        Err(ZkError::TooFewHeaders { needed: 4, got: 3 })
    );
    // Out of range statements.
    assert!(matches!(
        Placeholder.verify(&st(0), &three, &b),
        Err(ZkError::PostCountRange { .. })
    ));
    assert!(matches!(
        Placeholder.verify(&st(17), &three, &b),
        Err(ZkError::PostCountRange { .. })
    ));

    // Another binding or another signer.
    assert_eq!(
        Placeholder.verify(&st(3), &three, &Binding::new(b"glitter/test", b"other")),
        Err(ZkError::Rejected)
    );
    let bob_witness = PostCountWitness::new(bob.clone(), &headers);
    assert_eq!(
        bob_witness.posts(),
        0,
        "alice's headers are not bob's posts"
    );
    assert_eq!(
        Placeholder.prove(&st(1), &bob_witness, &b, &mut r),
        Err(ZkError::WitnessMismatch)
    );

    // A foreign author's headers.
    let mut foreign = three.clone();
    foreign.headers[1] = *bob_headers
        .iter()
        .find(|h| h.kind == BlockKind::Post)
        .unwrap();
    let got = Placeholder.verify(&st(3), &foreign, &b);
    assert_eq!(got, Err(ZkError::ForeignAuthor { index: 1 }));

    // A tampered header: the author's signature no longer matches.
    let mut tampered = three.clone();
    tampered.headers[2].payload_hash.0[0] ^= 1;
    assert!(matches!(
        Placeholder.verify(&st(3), &tampered, &b),
        Err(ZkError::BadHeaderSignature { index: 2, .. })
    ));
    let mut tampered = three.clone();
    tampered.headers[0].timestamp_ms += 1;
    assert!(matches!(
        Placeholder.verify(&st(3), &tampered, &b),
        Err(ZkError::BadHeaderSignature { index: 0, .. })
    ));

    // The same post twice, or out of order.
    let mut twice = three.clone();
    twice.headers[2] = twice.headers[1];
    assert_eq!(
        Placeholder.verify(&st(3), &twice, &b),
        Err(ZkError::SeqOrder { index: 2 })
    );
    let mut reordered = three.clone();
    reordered.headers.swap(0, 1);
    assert_eq!(
        Placeholder.verify(&st(3), &reordered, &b),
        Err(ZkError::SeqOrder { index: 1 })
    );

    // Not a post: the follow block after the third post.
    let follow = *headers
        .iter()
        .find(|h| h.kind == BlockKind::Follow)
        .unwrap();
    let mut not_post = three.clone();
    not_post.headers[2] = follow;
    assert_eq!(
        Placeholder.verify(&st(3), &not_post, &b),
        Err(ZkError::NotAPost { index: 2 })
    );

    // A fork: two validly signed branches after seq 2. Mixing them breaks a link.
    let forked = fork(&alice, &headers[..2], 3);
    let original_3 = headers[2];
    let forked_4 = forked[3];
    assert_eq!(original_3.seq, 3);
    assert_eq!(forked_4.seq, 4);
    let mut mixed = three.clone();
    mixed.headers.clear();
    mixed.headers.push(headers[1]).unwrap();
    mixed.headers.push(original_3).unwrap();
    mixed.headers.push(forked_4).unwrap();
    assert_eq!(
        Placeholder.verify(&st(3), &mixed, &b),
        Err(ZkError::BrokenLink { index: 2 })
    );

    // A random signature is never "true".
    for _ in 0..32 {
        let mut bad = three.clone();
        r.fill_bytes(&mut bad.signature);
        assert_eq!(Placeholder.verify(&st(3), &bad, &b), Err(ZkError::Rejected));
    }

    // Encoding errors.
    assert!(matches!(
        PostCountProof::parse(&[0u8; 64 + 211]),
        Err(ZkError::ProofLength { .. })
    ));
    assert!(matches!(
        PostCountProof::parse(&[0u8; 64 + 212]),
        Err(ZkError::Wire(_))
    ));
}

#[test]
fn knows_key_signature_is_checked_for_real() {
    let mut r = rng(22);
    let alice = identity(&mut r);
    let bob = identity(&mut r);
    let st = KnowsKey {
        key: alice.public(),
    };
    let b = Binding::new(b"glitter/login/v1", b"nonce 42");
    let proof = Placeholder.prove(&st, &alice, &b, &mut r).unwrap();
    let proof = roundtrip(&proof);
    assert_eq!(Placeholder.verify(&st, &proof, &b), Ok(()));
    assert_eq!(
        Placeholder.verify(&st, &proof, &Binding::new(b"glitter/login/v1", b"nonce 43")),
        Err(ZkError::Rejected)
    );
    assert_eq!(
        Placeholder.verify(&KnowsKey { key: bob.public() }, &proof, &b),
        Err(ZkError::Rejected)
    );
    assert_eq!(
        Placeholder.prove(&st, &bob, &b, &mut r),
        Err(ZkError::WitnessMismatch)
    );
    for bit in (0..512).step_by(3) {
        let mut bad = proof;
        bad.signature[bit / 8] ^= 1 << (bit % 8);
        assert!(Placeholder.verify(&st, &bad, &b).is_err(), "bit {bit}");
    }
    assert!(
        Placeholder
            .verify(&st, &SignatureProof { signature: [0; 64] }, &b)
            .is_err()
    );
    // It is an ordinary signature: not a block signature, though.
    assert!(
        alice
            .public()
            .verify(b"nonce 42", &proof.signature)
            .is_err()
    );
}

#[test]
fn placeholder_ring_names_the_member() {
    let mut r = rng(23);
    let (pairs, members) = ring(&mut r, 5);
    let st = RingMember { members: &members };
    let b = Binding::new(b"ctx", b"msg");
    for (j, keys) in pairs.iter().enumerate() {
        let proof = Placeholder.prove(&st, keys, &b, &mut r).unwrap();
        // Not zero-knowledge: the proof says who proved.
        assert_eq!(usize::from(proof.index), j);
        let proof = roundtrip(&proof);
        assert_eq!(Placeholder.verify(&st, &proof, &b), Ok(()));
        let mut lie = proof;
        lie.index = ((j + 1) % 5) as u8;
        assert_eq!(Placeholder.verify(&st, &lie, &b), Err(ZkError::Rejected));
        lie.index = 9;
        assert_eq!(Placeholder.verify(&st, &lie, &b), Err(ZkError::Rejected));
    }
    let outsider = identity(&mut r);
    assert_eq!(
        Placeholder.prove(&st, &outsider, &b, &mut r),
        Err(ZkError::NotAMember)
    );
    assert!(matches!(
        MemberSignatureProof::parse(&[40u8; 65]),
        Err(ZkError::RingSize { .. })
    ));
    let _: PublicKey = members[0];
}
