//! The real backend ([`Dalek`]): completeness with random keys for rings of 1 to 32,
//! and soundness checks: bindings, bit flips, and the obvious forgeries by a prover who
//! holds none of the ring's keys. Every case is deterministic (fixed seeds).

mod zk_common;

use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::zk::{
    Binding, Dalek, KnowsKey, Proof, Prover, RING_MEMBERS_MAX, RingMember, RingProof, SchnorrProof,
    Verifier, ZkError,
};
use rand_core::Rng;
use zk_common::{add_le, below, ell, identity, ring, rng, small_order_points};

fn emit<P: Proof>(p: &P) -> Vec<u8> {
    let mut buf = vec![0u8; P::ENCODED_LEN_MAX];
    let n = p.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn verify_ring_bytes(members: &[PublicKey], bytes: &[u8], b: &Binding<'_>) -> Result<(), ZkError> {
    let proof = RingProof::parse(bytes)?;
    Dalek.verify(&RingMember { members }, &proof, b)
}

fn verify_schnorr_bytes(key: PublicKey, bytes: &[u8], b: &Binding<'_>) -> Result<(), ZkError> {
    let proof = SchnorrProof::parse(bytes)?;
    Dalek.verify(&KnowsKey { key }, &proof, b)
}

#[test]
fn schnorr_completeness_random_keys() {
    let mut r = rng(1);
    for i in 0..64 {
        let keys = identity(&mut r);
        let mut context = vec![0u8; below(&mut r, 40)];
        let mut message = vec![0u8; below(&mut r, 200)];
        r.fill_bytes(&mut context);
        r.fill_bytes(&mut message);
        let b = Binding::new(&context, &message);
        let st = KnowsKey { key: keys.public() };
        let proof = Dalek.prove(&st, &keys, &b, &mut r).unwrap();
        let bytes = emit(&proof);
        assert_eq!(bytes.len(), SchnorrProof::LEN);
        assert_eq!(
            verify_schnorr_bytes(keys.public(), &bytes, &b),
            Ok(()),
            "key {i}"
        );
    }
}

#[test]
fn ring_completeness_n_1_to_32() {
    let mut r = rng(2);
    for n in 1..=RING_MEMBERS_MAX {
        let (pairs, members) = ring(&mut r, n);
        let b = Binding::new(b"glitter/test/ring", b"I am one of the people you follow");
        // Every position for small rings, a random one and both ends for larger ones.
        let signers: Vec<usize> = if n <= 8 {
            (0..n).collect()
        } else {
            vec![0, below(&mut r, n), n - 1]
        };
        for j in signers {
            let st = RingMember { members: &members };
            let proof = Dalek.prove(&st, &pairs[j], &b, &mut r).unwrap();
            let bytes = emit(&proof);
            assert_eq!(bytes.len(), 32 + 32 * n, "size for n = {n}");
            assert_eq!(
                verify_ring_bytes(&members, &bytes, &b),
                Ok(()),
                "n = {n}, signer {j}"
            );
        }
    }
}

#[test]
fn proofs_are_bound_to_statement_context_and_message() {
    let mut r = rng(3);
    let (pairs, members) = ring(&mut r, 6);
    let b = Binding::new(b"ab", b"c");
    let proof = emit(
        &Dalek
            .prove(&RingMember { members: &members }, &pairs[2], &b, &mut r)
            .unwrap(),
    );
    assert_eq!(verify_ring_bytes(&members, &proof, &b), Ok(()));
    let others = [
        Binding::new(b"ab", b"d"),
        Binding::new(b"ab", b""),
        Binding::new(b"ac", b"c"),
        Binding::new(b"", b"c"),
        // The same bytes split differently between context and message.
        Binding::new(b"a", b"bc"),
        Binding::new(b"abc", b""),
    ];
    for other in &others {
        assert_eq!(
            verify_ring_bytes(&members, &proof, other),
            Err(ZkError::Rejected),
            "{other:?}"
        );
    }

    let alice = &pairs[0];
    let schnorr = emit(
        &Dalek
            .prove(
                &KnowsKey {
                    key: alice.public(),
                },
                alice,
                &b,
                &mut r,
            )
            .unwrap(),
    );
    assert_eq!(verify_schnorr_bytes(alice.public(), &schnorr, &b), Ok(()));
    for other in &others {
        assert_eq!(
            verify_schnorr_bytes(alice.public(), &schnorr, other),
            Err(ZkError::Rejected)
        );
    }
    // Another statement: every other key.
    for key in &members[1..] {
        assert_eq!(
            verify_schnorr_bytes(*key, &schnorr, &b),
            Err(ZkError::Rejected)
        );
    }
}

#[test]
fn every_bit_flip_is_rejected() {
    let mut r = rng(4);
    let b = Binding::new(b"ctx", b"msg");
    let alice = identity(&mut r);
    let schnorr = emit(
        &Dalek
            .prove(
                &KnowsKey {
                    key: alice.public(),
                },
                &alice,
                &b,
                &mut r,
            )
            .unwrap(),
    );
    for bit in 0..schnorr.len() * 8 {
        let mut bad = schnorr.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let got = verify_schnorr_bytes(alice.public(), &bad, &b);
        assert!(
            matches!(got, Err(ZkError::Rejected | ZkError::NonCanonicalScalar)),
            "schnorr bit {bit}: {got:?}"
        );
    }

    let (pairs, members) = ring(&mut r, 8);
    let proof = emit(
        &Dalek
            .prove(&RingMember { members: &members }, &pairs[5], &b, &mut r)
            .unwrap(),
    );
    for bit in 0..proof.len() * 8 {
        let mut bad = proof.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let got = verify_ring_bytes(&members, &bad, &b);
        assert!(
            matches!(got, Err(ZkError::Rejected | ZkError::NonCanonicalScalar)),
            "ring bit {bit}: {got:?}"
        );
    }
    // Flipping a bit of any member's key: the statement changes, the proof fails
    // (or the key no longer decodes, or, most often, it is a point with a torsion
    // component: 7 in 8 curve points are).
    for m in 0..members.len() {
        for bit in (0..256).step_by(7) {
            let mut keys = members.clone();
            keys[m].0[bit / 8] ^= 1 << (bit % 8);
            let got = verify_ring_bytes(&keys, &proof, &b);
            assert!(
                matches!(
                    got,
                    Err(ZkError::Rejected
                        | ZkError::NonCanonicalKey { .. }
                        | ZkError::WeakKey { .. }
                        | ZkError::TorsionComponent { .. })
                ),
                "member {m} bit {bit}: {got:?}"
            );
        }
    }
}

#[test]
fn a_prover_without_a_ring_key_cannot_forge() {
    let mut r = rng(5);
    let b = Binding::new(b"ctx", b"msg");
    let (pairs, members) = ring(&mut r, 8);
    let st = RingMember { members: &members };
    let outsider = identity(&mut r);

    // The honest API refuses.
    assert_eq!(
        Dalek.prove(&st, &outsider, &b, &mut r),
        Err(ZkError::NotAMember)
    );

    // A valid proof for a different ring of the same size (the outsider's own ring).
    let (other_pairs, other_members) = ring(&mut r, 8);
    let foreign = emit(
        &Dalek
            .prove(
                &RingMember {
                    members: &other_members,
                },
                &other_pairs[3],
                &b,
                &mut r,
            )
            .unwrap(),
    );
    assert_eq!(
        verify_ring_bytes(&members, &foreign, &b),
        Err(ZkError::Rejected)
    );

    // The outsider puts their own key in place of member k, proves, and presents the
    // proof for the real ring.
    for k in [0, 4, 7] {
        let mut swapped = members.clone();
        swapped[k] = outsider.public();
        let p = emit(
            &Dalek
                .prove(&RingMember { members: &swapped }, &outsider, &b, &mut r)
                .unwrap(),
        );
        assert_eq!(verify_ring_bytes(&swapped, &p, &b), Ok(()));
        assert_eq!(verify_ring_bytes(&members, &p, &b), Err(ZkError::Rejected));
    }

    // An honest proof, presented with the members swapped or rotated.
    let honest = emit(&Dalek.prove(&st, &pairs[1], &b, &mut r).unwrap());
    for (x, y) in [(0, 1), (1, 2), (0, 7), (3, 5)] {
        let mut keys = members.clone();
        keys.swap(x, y);
        assert_eq!(
            verify_ring_bytes(&keys, &honest, &b),
            Err(ZkError::Rejected),
            "swap {x} {y}"
        );
    }
    let mut rotated = members.clone();
    rotated.rotate_left(1);
    assert_eq!(
        verify_ring_bytes(&rotated, &honest, &b),
        Err(ZkError::Rejected)
    );
    // A sub-ring or a super-ring: the size no longer matches.
    assert!(matches!(
        verify_ring_bytes(&members[..7], &honest, &b),
        Err(ZkError::ProofLength { .. })
    ));

    // Splicing two honest proofs of the same ring and binding.
    let other = emit(&Dalek.prove(&st, &pairs[6], &b, &mut r).unwrap());
    let mut spliced = honest.clone();
    spliced[..32].copy_from_slice(&other[..32]);
    assert_eq!(
        verify_ring_bytes(&members, &spliced, &b),
        Err(ZkError::Rejected)
    );
    let mut spliced = honest.clone();
    spliced[32 * 3..32 * 5].copy_from_slice(&other[32 * 3..32 * 5]);
    assert_eq!(
        verify_ring_bytes(&members, &spliced, &b),
        Err(ZkError::Rejected)
    );

    // Random proofs (canonical scalars: the top byte cleared).
    for _ in 0..256 {
        let mut bytes = vec![0u8; 32 + 32 * 8];
        r.fill_bytes(&mut bytes);
        for chunk in bytes.chunks_mut(32) {
            chunk[31] &= 0x0f;
        }
        assert_eq!(
            verify_ring_bytes(&members, &bytes, &b),
            Err(ZkError::Rejected)
        );
    }
    // All zero, and c₀ = 0 with random responses.
    assert_eq!(
        verify_ring_bytes(&members, &[0u8; 32 + 32 * 8], &b),
        Err(ZkError::Rejected)
    );
    let mut zero_c = honest.clone();
    zero_c[..32].fill(0);
    assert_eq!(
        verify_ring_bytes(&members, &zero_c, &b),
        Err(ZkError::Rejected)
    );
    // Schnorr: all zero and random.
    let alice = &pairs[0];
    assert_eq!(
        verify_schnorr_bytes(alice.public(), &[0u8; 64], &b),
        Err(ZkError::Rejected)
    );
    for _ in 0..64 {
        let mut bytes = [0u8; 64];
        r.fill_bytes(&mut bytes);
        bytes[31] &= 0x0f;
        bytes[63] &= 0x0f;
        assert_eq!(
            verify_schnorr_bytes(alice.public(), &bytes, &b),
            Err(ZkError::Rejected)
        );
    }
}

#[test]
fn small_order_and_identity_keys_are_refused() {
    let mut r = rng(6);
    let b = Binding::new(b"ctx", b"msg");
    let (pairs, members) = ring(&mut r, 4);
    let honest = emit(
        &Dalek
            .prove(&RingMember { members: &members }, &pairs[0], &b, &mut r)
            .unwrap(),
    );
    for weak in small_order_points() {
        for k in 0..4 {
            let mut keys = members.clone();
            keys[k] = PublicKey(weak);
            assert_eq!(
                verify_ring_bytes(&keys, &honest, &b),
                Err(ZkError::WeakKey { index: k })
            );
            // And the prover refuses such a ring too (signer at 0, weak key elsewhere).
            if k != 0 {
                let got = Dalek.prove(&RingMember { members: &keys }, &pairs[0], &b, &mut r);
                assert_eq!(got, Err(ZkError::WeakKey { index: k }));
            }
        }
        assert_eq!(
            verify_schnorr_bytes(PublicKey(weak), &[0u8; 64], &b),
            Err(ZkError::WeakKey { index: 0 })
        );
    }
    // A non-canonical encoding of the identity (y = p + 1).
    let mut y = [0xffu8; 32];
    y[0] = 0xee;
    y[31] = 0x7f;
    assert_eq!(
        verify_schnorr_bytes(PublicKey(y), &[0u8; 64], &b),
        Err(ZkError::NonCanonicalKey { index: 0 })
    );
}

#[test]
fn non_canonical_scalars_and_lengths_are_refused() {
    let mut r = rng(7);
    let b = Binding::new(b"ctx", b"msg");
    let (pairs, members) = ring(&mut r, 3);
    let honest = emit(
        &Dalek
            .prove(&RingMember { members: &members }, &pairs[2], &b, &mut r)
            .unwrap(),
    );
    // Adding ℓ to any scalar gives the same value mod ℓ: refused before any math.
    for pos in 0..4 {
        let mut bad = honest.clone();
        let chunk: [u8; 32] = bad[pos * 32..pos * 32 + 32].try_into().unwrap();
        bad[pos * 32..pos * 32 + 32].copy_from_slice(&add_le(&chunk, &ell()));
        assert_eq!(
            RingProof::parse(&bad),
            Err(ZkError::NonCanonicalScalar),
            "scalar {pos}"
        );
    }
    for len in [0, 31, 32, 33, 63, 65, 95, 129, 32 + 32 * 33] {
        assert!(
            matches!(
                RingProof::parse(&vec![0u8; len]),
                Err(ZkError::ProofLength { .. })
            ),
            "len {len}"
        );
        if len != 64 {
            assert!(matches!(
                SchnorrProof::parse(&vec![0u8; len]),
                Err(ZkError::ProofLength { .. })
            ));
        }
    }
    // A proof for 3 members against rings of 2 and 4.
    let (_, four) = ring(&mut r, 4);
    assert!(matches!(
        verify_ring_bytes(&four, &honest, &b),
        Err(ZkError::ProofLength { .. })
    ));
    // Ring shape: empty, too large, duplicates.
    let st = RingMember { members: &[] };
    assert!(matches!(
        Dalek.prove(&st, &pairs[0], &b, &mut r),
        Err(ZkError::RingSize { members: 0, .. })
    ));
    let (big_pairs, big) = ring(&mut r, RING_MEMBERS_MAX + 1);
    assert!(matches!(
        Dalek.prove(&RingMember { members: &big }, &big_pairs[0], &b, &mut r),
        Err(ZkError::RingSize { .. })
    ));
    let dup = [members[0], members[1], members[0]];
    assert_eq!(
        Dalek.prove(&RingMember { members: &dup }, &pairs[1], &b, &mut r),
        Err(ZkError::DuplicateMember { index: 2 })
    );
}

#[test]
fn schnorr_and_ring_proofs_are_domain_separated() {
    let mut r = rng(8);
    let b = Binding::new(b"ctx", b"msg");
    let alice: KeyPair = identity(&mut r);
    let one = [alice.public()];
    let schnorr = emit(
        &Dalek
            .prove(
                &KnowsKey {
                    key: alice.public(),
                },
                &alice,
                &b,
                &mut r,
            )
            .unwrap(),
    );
    let ring1 = emit(
        &Dalek
            .prove(&RingMember { members: &one }, &alice, &b, &mut r)
            .unwrap(),
    );
    // Same shape (c, s), different statement names in the transcript.
    assert_eq!(schnorr.len(), ring1.len());
    assert_eq!(verify_ring_bytes(&one, &ring1, &b), Ok(()));
    assert_eq!(
        verify_ring_bytes(&one, &schnorr, &b),
        Err(ZkError::Rejected)
    );
    assert_eq!(
        verify_schnorr_bytes(alice.public(), &ring1, &b),
        Err(ZkError::Rejected)
    );
}

/// Untrusted bytes enter through the parsers, `verdict` and `Claim::decode`: none of
/// them panics, whatever the input (random lengths and contents, and near-valid
/// shapes with canonical scalars).
#[test]
fn arbitrary_bytes_never_panic() {
    use glitter_core::zk::{Claim, MemberSignatureProof, PostCountProof, SignatureProof, verdict};
    let mut r = rng(9);
    let schemes = [
        "dalek/knows-key",
        "dalek/ring-member",
        "placeholder/knows-key",
        "placeholder/ring-member",
        "nonsense",
    ];
    let publisher = identity(&mut r).public();
    for i in 0..3000 {
        let len = below(&mut r, 1200);
        let mut bytes = vec![0u8; len];
        r.fill_bytes(&mut bytes);
        if i % 2 == 0 {
            // Canonical-looking scalars, so parsing gets past the first check.
            for chunk in bytes.chunks_mut(32) {
                if chunk.len() == 32 {
                    chunk[31] &= 0x0f;
                }
            }
        }
        let _ = RingProof::parse(&bytes);
        let _ = SchnorrProof::parse(&bytes);
        let _ = SignatureProof::parse(&bytes);
        let _ = MemberSignatureProof::parse(&bytes);
        let _ = PostCountProof::parse(&bytes);
        if let Ok(claim) = Claim::decode(&bytes) {
            let _ = claim.verify(&publisher);
        }
        let keys_len = 32 * below(&mut r, 4);
        let (keys, proof) = bytes.split_at(keys_len.min(len));
        let v = verdict(schemes[i % schemes.len()], keys, b"c", b"m", proof);
        assert_ne!(v, "accept", "random bytes accepted (case {i})");
    }
}
