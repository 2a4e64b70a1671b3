//! Tests of the one-out-of-many proofs: completeness, soundness against forgeries,
//! zero knowledge (statistically), linkability and a pinned vector.

extern crate std;

use super::coeffs::{Factors, PolyFactors, ScalarFactors, Walk};
use super::test_support::{bytes, random_scalar, rng, set};
use super::*;
use crate::zk::Proof;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use rand_chacha::ChaCha20Rng;
use std::vec::Vec;

fn verify_bytes(st: &OneOfMany<'_>, proof: &[u8], b: &Binding<'_>) -> Result<(), ZkError> {
    Dalek.verify(st, &OneOfManyProof::parse(proof)?, b)
}

const CTX: &[u8] = b"glitter/test/oom";

#[test]
fn log_size_and_lengths() {
    assert_eq!(log_size(1), 1);
    assert_eq!(log_size(2), 1);
    assert_eq!(log_size(3), 2);
    assert_eq!(log_size(1024), 10);
    assert_eq!(log_size(1025), 11);
    assert_eq!(log_size(65_536), 16);
    assert_eq!(OneOfManyProof::len_for(1024, false), 864);
    assert_eq!(OneOfManyProof::len_for(1024, true), 896);
    assert_eq!(OneOfManyProof::len_for(65_536, false), 1248);
    assert_eq!(OneOfManyProof::len_for(65_536, true), 1280);
    assert!(OneOfManyProof::len_for(1024, true) <= 1024);
    assert!(OneOfManyProof::len_for(65_536, true) <= 4096);
    assert_eq!(OneOfManyProof::ENCODED_LEN_MAX, 1280);
}

/// The walk agrees with the definition `pᵢ(x) = Πⱼ fⱼ,ᵢⱼ`, padding folded in.
#[test]
fn walk_matches_the_products() {
    let mut r = rng(1);
    for n in 1..=19usize {
        let m = log_size(n);
        let x = random_scalar(&mut r);
        let f: [Scalar; OOM_LOG_MAX] = core::array::from_fn(|_| random_scalar(&mut r));
        let factors = ScalarFactors { x, f };
        let got: Vec<Scalar> = Walk::new(factors.clone(), m, n).collect();
        assert_eq!(got.len(), n);
        let direct =
            |i: usize| (0..m).fold(Scalar::ONE, |acc, j| factors.times(&acc, j, (i >> j) & 1));
        for (i, s) in got.iter().enumerate().take(n - 1) {
            assert_eq!(*s, direct(i), "n {n} i {i}");
        }
        let tail: Scalar = (n - 1..1 << m).map(direct).sum();
        assert_eq!(got[n - 1], tail);
        // Σᵢ pᵢ(x) = xᵐ over the padded set.
        let total: Scalar = got.iter().sum();
        assert_eq!(total, (0..m).fold(Scalar::ONE, |a, _| a * x));

        // The prover's polynomials evaluate to the same products at x.
        let l = n / 2;
        let poly = PolyFactors {
            bits: core::array::from_fn(|j| Scalar::from(((l >> j) & 1) as u8)),
            a: core::array::from_fn(|_| random_scalar(&mut r)),
        };
        let fs = ScalarFactors {
            x,
            f: core::array::from_fn(|j| poly.bits[j] * x + poly.a[j]),
        };
        let evals: Vec<Scalar> = Walk::new(fs, m, n).collect();
        for (i, p) in Walk::new(poly, m, n).enumerate() {
            let at_x = p.iter().rev().fold(Scalar::ZERO, |acc, c| acc * x + c);
            assert_eq!(at_x, evals[i]);
            // Degree m exactly at the prover's own position (leading coefficient 1).
            let lead = if i == l { Scalar::ONE } else { Scalar::ZERO };
            if i != n - 1 || l == n - 1 || n == 1 << m {
                assert_eq!(p[m], lead, "n {n} i {i}");
            }
        }
    }
}

/// The folded sums (`fold_members`) equal the streamed ones (`member_polynomials`).
#[test]
fn folding_gives_the_same_sums() {
    let (pairs, keys) = set(21, 12);
    for n in [1usize, 2, 3, 5, 8, 13, 21] {
        let st = OneOfMany {
            members: &keys[..n],
            linkable: n % 2 == 1,
        };
        let b = Binding::new(CTX, b"fold");
        let session = ProverSession::begin(&st, &pairs[n / 2], &b, &mut rng(13)).unwrap();
        let m = session.log_size();
        let points: Vec<EdwardsPoint> = keys[..n]
            .iter()
            .enumerate()
            .map(|(i, k)| decode_member(k, i).unwrap())
            .collect();
        let mut streamed = [EdwardsPoint::identity(); OOM_LOG_MAX];
        for (p, poly) in points.iter().zip(session.member_polynomials()) {
            for k in 0..m {
                streamed[k] += p * poly[k];
            }
        }
        let mut table: Vec<EdwardsPoint> = (0..1usize << m).map(|i| points[i.min(n - 1)]).collect();
        session
            .fold_members(&mut table, |u, v, bit| if bit == 1 { *v } else { *u })
            .unwrap();
        let mut folded = [EdwardsPoint::identity(); OOM_LOG_MAX];
        for (s, t) in table.iter().enumerate() {
            let (k, c) = session.folded_coefficient(s);
            if k < m {
                folded[k] += t * c;
            }
        }
        assert_eq!(streamed[..m], folded[..m], "n {n}");
        assert_eq!(
            session.fold_members(&mut table[..1], |u, _, _| *u),
            Err(ZkError::BufferTooSmall { needed: 1 << m })
        );
    }
}

#[test]
fn complete_for_every_size_up_to_64() {
    let mut r = rng(2);
    let (pairs, keys) = set(64, 1);
    for n in 1..=64usize {
        let members = &keys[..n];
        let linkable = n % 2 == 0;
        let st = OneOfMany { members, linkable };
        let b = Binding::new(CTX, b"complete");
        // Every position for small sets; the first, middle and last otherwise.
        let positions: Vec<usize> = if n <= 8 {
            (0..n).collect()
        } else {
            std::vec![0, n / 2, n - 1]
        };
        for j in positions {
            let proof = Dalek.prove(&st, &pairs[j], &b, &mut r).unwrap();
            assert_eq!(proof.encoded_len(), OneOfManyProof::len_for(n, linkable));
            assert_eq!(Dalek.verify(&st, &proof, &b), Ok(()), "n {n} j {j}");
            let encoded = bytes(&proof);
            assert_eq!(OneOfManyProof::parse(&encoded).unwrap(), proof);
            assert_eq!(proof.tag().is_some(), linkable);
        }
    }
}

#[test]
fn complete_for_large_sets() {
    let mut r = rng(3);
    let (pairs, keys) = set(4096, 2);
    for (n, j) in [(1000usize, 999usize), (4096, 1234)] {
        let st = OneOfMany {
            members: &keys[..n],
            linkable: true,
        };
        let b = Binding::new(CTX, b"large");
        let proof = Dalek.prove(&st, &pairs[j], &b, &mut r).unwrap();
        assert_eq!(Dalek.verify(&st, &proof, &b), Ok(()));
        assert!(proof.encoded_len() <= 1024);
        assert_eq!(
            Dalek.verify(&st, &proof, &Binding::new(CTX, b"other")),
            Err(ZkError::Rejected)
        );
    }
}

#[test]
fn statement_shape() {
    let (pairs, keys) = set(4, 3);
    let b = Binding::new(CTX, b"m");
    let mut r = rng(4);
    let empty = OneOfMany {
        members: &[],
        linkable: false,
    };
    assert_eq!(
        Dalek.prove(&empty, &pairs[0], &b, &mut r),
        Err(ZkError::RingSize {
            members: 0,
            max: OOM_MEMBERS_MAX
        })
    );
    let mut swapped = keys.clone();
    swapped.swap(1, 2);
    let st = OneOfMany {
        members: &swapped,
        linkable: false,
    };
    assert_eq!(st.validate(), Err(ZkError::MemberOrder { index: 2 }));
    let dup = [keys[0], keys[1], keys[1], keys[3]];
    let st = OneOfMany {
        members: &dup,
        linkable: false,
    };
    assert_eq!(
        Dalek.prove(&st, &pairs[0], &b, &mut r),
        Err(ZkError::DuplicateMember { index: 2 })
    );
    assert_eq!(
        OneOfMany {
            members: &keys,
            linkable: false
        }
        .validate(),
        Ok(())
    );
}

#[test]
fn forgeries_fail() {
    let mut r = rng(5);
    let (pairs, keys) = set(9, 4);
    let (outsiders, _) = set(2, 5);
    let b = Binding::new(CTX, b"message");
    for linkable in [false, true] {
        let st = OneOfMany {
            members: &keys[..8],
            linkable,
        };
        // A key that is not in the set cannot prove.
        assert_eq!(
            Dalek.prove(&st, &outsiders[0], &b, &mut r),
            Err(ZkError::NotAMember)
        );
        assert_eq!(
            Dalek.prove(&st, &pairs[8], &b, &mut r),
            Err(ZkError::NotAMember)
        );
        let proof = Dalek.prove(&st, &pairs[3], &b, &mut r).unwrap();
        assert_eq!(Dalek.verify(&st, &proof, &b), Ok(()));
        // Swapped context or message, or the two swapped with each other.
        for other in [
            Binding::new(b"glitter/test/oom2", b"message"),
            Binding::new(CTX, b"message2"),
            Binding::new(b"message", CTX),
            Binding::new(b"glitter/test/oommessage", b""),
        ] {
            assert!(Dalek.verify(&st, &proof, &other).is_err());
        }
        // The other tag setting.
        let flipped = OneOfMany {
            members: &keys[..8],
            linkable: !linkable,
        };
        assert!(matches!(
            Dalek.verify(&flipped, &proof, &b),
            Err(ZkError::ProofLength { .. })
        ));
        // A modified set: one member replaced (the prover's or another), one more
        // member, one fewer (same m for 7 and 8 members).
        for replaced in [3usize, 5] {
            let mut modified = keys[..8].to_vec();
            modified[replaced] = keys[8];
            modified.sort();
            let st2 = OneOfMany {
                members: &modified,
                linkable,
            };
            assert_eq!(Dalek.verify(&st2, &proof, &b), Err(ZkError::Rejected));
        }
        let fewer = OneOfMany {
            members: &keys[..7],
            linkable,
        };
        assert_eq!(Dalek.verify(&fewer, &proof, &b), Err(ZkError::Rejected));
        let more = OneOfMany {
            members: &keys[..9],
            linkable,
        };
        assert!(matches!(
            Dalek.verify(&more, &proof, &b),
            Err(ZkError::ProofLength { .. })
        ));
    }
}

/// Every single-bit flip of a proof (both tag settings) is rejected.
#[test]
fn every_bit_flip_is_rejected() {
    let mut r = rng(6);
    let (pairs, keys) = set(5, 6);
    let b = Binding::new(CTX, b"flip");
    for linkable in [false, true] {
        let st = OneOfMany {
            members: &keys,
            linkable,
        };
        let good = bytes(&Dalek.prove(&st, &pairs[2], &b, &mut r).unwrap());
        assert_eq!(verify_bytes(&st, &good, &b), Ok(()));
        let mut flips = 0;
        for i in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(verify_bytes(&st, &bad, &b).is_err(), "bit {i} accepted");
            flips += 1;
        }
        assert_eq!(flips, OneOfManyProof::len_for(5, linkable) * 8);
        // Truncated, extended.
        assert!(verify_bytes(&st, &good[..good.len() - 32], &b).is_err());
        let mut longer = good.clone();
        longer.extend_from_slice(&[0; 32]);
        assert!(verify_bytes(&st, &longer, &b).is_err());
        assert!(matches!(
            OneOfManyProof::parse(&good[..good.len() - 1]),
            Err(ZkError::ProofLength { .. })
        ));
    }
}

/// `s + ℓ` for every scalar of a proof: refused as non-canonical.
#[test]
fn non_canonical_scalars_are_refused() {
    // ℓ, little-endian.
    let l: [u8; 32] =
        hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
            .unwrap()
            .try_into()
            .unwrap();
    let mut r = rng(7);
    let (pairs, keys) = set(4, 7);
    let b = Binding::new(CTX, b"s+l");
    let st = OneOfMany {
        members: &keys,
        linkable: true,
    };
    let good = bytes(&Dalek.prove(&st, &pairs[1], &b, &mut r).unwrap());
    let m = log_size(4);
    // Scalar fields: after J, A, B', C, D and m points.
    let first_scalar = 5 + m;
    let words = good.len() / 32;
    for field in first_scalar..words {
        let mut bad = good.clone();
        let chunk = &mut bad[32 * field..32 * field + 32];
        let mut carry = 0u16;
        for (byte, add) in chunk.iter_mut().zip(l) {
            let sum = u16::from(*byte) + u16::from(add) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(
            OneOfManyProof::parse(&bad),
            Err(ZkError::NonCanonicalScalar),
            "field {field}"
        );
    }
}

/// The point of order 8 with y = 0x05fc…e826, and of order 2, `(0, −1)`.
fn torsion_points() -> [EdwardsPoint; 2] {
    let order_8: [u8; 32] =
        hex::decode("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
            .unwrap()
            .try_into()
            .unwrap();
    let mut order_2 = [0xffu8; 32];
    order_2[0] = 0xec;
    order_2[31] = 0x7f;
    [
        CompressedEdwardsY(order_8).decompress().unwrap(),
        CompressedEdwardsY(order_2).decompress().unwrap(),
    ]
}

#[test]
fn small_order_and_torsioned_points_are_refused() {
    let mut r = rng(8);
    let (pairs, keys) = set(6, 8);
    let b = Binding::new(CTX, b"torsion");
    let [t8, t2] = torsion_points();
    let mut identity = [0u8; 32];
    identity[0] = 1;

    // In the set: the identity, a small-order point, a torsioned key.
    let a = CompressedEdwardsY(keys[4].0).decompress().unwrap();
    for (bad, expect) in [
        (identity, "weak-key"),
        (t8.compress().0, "weak-key"),
        ((a + t8).compress().0, "torsion-component"),
        ((a + t2).compress().0, "torsion-component"),
    ] {
        let mut members = keys.clone();
        members[4] = PublicKey(bad);
        members.sort();
        let st = OneOfMany {
            members: &members,
            linkable: false,
        };
        let signer = pairs.iter().find(|p| p.public() == keys[0]).unwrap();
        let got = Dalek.prove(&st, signer, &b, &mut r).unwrap_err();
        assert_eq!(got.name(), expect);
        assert_eq!(st.validate().unwrap_err().name(), expect);
    }

    // In the proof: every point field replaced by the identity, a small-order point,
    // the point plus torsion, or a non-canonical encoding.
    for linkable in [false, true] {
        let st = OneOfMany {
            members: &keys,
            linkable,
        };
        let good = bytes(&Dalek.prove(&st, &pairs[1], &b, &mut r).unwrap());
        let points = usize::from(linkable) + 4 + log_size(keys.len());
        for field in 0..points {
            let original =
                CompressedEdwardsY(good[32 * field..32 * field + 32].try_into().unwrap())
                    .decompress()
                    .unwrap();
            // y = p + 1: a non-canonical encoding of the identity's y.
            let mut non_canonical = [0xffu8; 32];
            non_canonical[0] = 0xee;
            non_canonical[31] = 0x7f;
            for replacement in [
                identity,
                t8.compress().0,
                t2.compress().0,
                (original + t8).compress().0,
                (original + t2).compress().0,
                non_canonical,
            ] {
                let mut bad = good.clone();
                bad[32 * field..32 * field + 32].copy_from_slice(&replacement);
                assert_eq!(
                    verify_bytes(&st, &bad, &b),
                    Err(ZkError::ProofPoint { index: field }),
                    "field {field}"
                );
            }
        }
    }
}

#[test]
fn tags_link_within_a_context_only() {
    let mut r = rng(9);
    let (pairs, keys) = set(16, 9);
    let tag = |st: &OneOfMany<'_>, who: usize, ctx: &[u8], msg: &[u8], r: &mut ChaCha20Rng| {
        let b = Binding::new(ctx, msg);
        let proof = Dalek.prove(st, &pairs[who], &b, r).unwrap();
        assert_eq!(Dalek.verify(st, &proof, &b), Ok(()));
        proof.tag().unwrap()
    };
    let all = OneOfMany {
        members: &keys,
        linkable: true,
    };
    let half = OneOfMany {
        members: &keys[..8],
        linkable: true,
    };
    // Same member, same context: the same tag, whatever the set or message.
    let t1 = tag(&all, 3, b"poll/1", b"yes", &mut r);
    let t2 = tag(&all, 3, b"poll/1", b"no", &mut r);
    let t3 = tag(&half, 3, b"poll/1", b"yes", &mut r);
    assert_eq!(t1, t2);
    assert_eq!(t1, t3);
    assert_eq!(t1, link_tag(&pairs[3], b"poll/1").unwrap());
    // Different members in one context: different tags (all 16 distinct).
    let mut tags: Vec<LinkTag> = (0..16)
        .map(|i| tag(&all, i, b"poll/1", b"yes", &mut r))
        .collect();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 16);
    // One member in different contexts: different tags, and none equals the key or
    // another context's tag of anyone.
    let mut across: Vec<LinkTag> = (0..16)
        .flat_map(|i| {
            [b"poll/1".as_slice(), b"poll/2", b"poll/3"].map(|c| link_tag(&pairs[i], c).unwrap())
        })
        .collect();
    across.sort();
    across.dedup();
    assert_eq!(across.len(), 48);
    assert!(keys.iter().all(|k| across.iter().all(|t| t.0 != k.0)));
}

/// A tag belongs to the prover: a proof whose tag is replaced by another member's
/// tag, or by the prover's tag in another context, does not verify.
#[test]
fn tags_cannot_be_swapped() {
    let mut r = rng(10);
    let (pairs, keys) = set(8, 10);
    let st = OneOfMany {
        members: &keys,
        linkable: true,
    };
    let b = Binding::new(b"poll/1", b"yes");
    let good = bytes(&Dalek.prove(&st, &pairs[2], &b, &mut r).unwrap());
    for other in [
        link_tag(&pairs[5], b"poll/1").unwrap(),
        link_tag(&pairs[2], b"poll/2").unwrap(),
    ] {
        let mut bad = good.clone();
        bad[..32].copy_from_slice(&other.0);
        assert_eq!(verify_bytes(&st, &bad, &b), Err(ZkError::Rejected));
    }
    // A well-formed random tag fails too.
    let mut bad = good.clone();
    bad[..32].copy_from_slice(&(ED25519_BASEPOINT_POINT * Scalar::from(77u8)).compress().0);
    assert_eq!(verify_bytes(&st, &bad, &b), Err(ZkError::Rejected));
}

/// χ²(15) at p = 0.001.
const CRITICAL_15_DOF: f64 = 37.697;

/// The worst two-sample χ² over every 32-byte field of the proofs and two 4-bit
/// features (low nibble of byte 0, high nibble of byte 16), as in
/// `tests/tests/zk_distribution.rs`; `skip` leading fields are left out.
fn worst_chi(a: &[Vec<u8>], b: &[Vec<u8>], skip: usize) -> (f64, usize) {
    let fields = a[0].len() / 32;
    let hist = |proofs: &[Vec<u8>], field: usize, feature: usize| {
        let mut h = [0u32; 16];
        for p in proofs {
            let c = &p[32 * field..32 * field + 32];
            let v = if feature == 0 {
                c[0] & 0x0f
            } else {
                c[16] >> 4
            };
            h[v as usize] += 1;
        }
        h
    };
    let mut worst = (0.0, 0);
    for field in skip..fields {
        for feature in 0..2 {
            let (ha, hb) = (hist(a, field, feature), hist(b, field, feature));
            let chi: f64 = ha
                .iter()
                .zip(&hb)
                .filter(|(x, y)| **x + **y > 0)
                .map(|(&x, &y)| {
                    let d = f64::from(x) - f64::from(y);
                    d * d / f64::from(x + y)
                })
                .sum();
            if chi > worst.0 {
                worst = (chi, field);
            }
        }
    }
    worst
}

/// Proofs by member 0 and by member 5 of a set of 8 are indistinguishable field by
/// field (points and scalars, the tag left out), with a control that a planted
/// one-bit leak is caught.
#[test]
fn proofs_do_not_depend_on_the_prover() {
    const N: usize = 600;
    let mut r = rng(11);
    let (pairs, keys) = set(8, 11);
    for linkable in [false, true] {
        let st = OneOfMany {
            members: &keys,
            linkable,
        };
        let b = Binding::new(CTX, b"same message every time");
        let by = |j: usize, r: &mut ChaCha20Rng| -> Vec<Vec<u8>> {
            (0..N)
                .map(|_| bytes(&Dalek.prove(&st, &pairs[j], &b, r).unwrap()))
                .collect()
        };
        let (a, bb) = (by(0, &mut r), by(5, &mut r));
        let skip = usize::from(linkable);
        let (chi, field) = worst_chi(&a, &bb, skip);
        assert!(
            chi < CRITICAL_15_DOF,
            "linkable {linkable}: χ² = {chi:.2} at field {field}"
        );
        // No nonce reuse: no field repeats across the 2N proofs (tags aside).
        let mut fields: Vec<&[u8]> = a
            .iter()
            .chain(&bb)
            .flat_map(|p| p.chunks(32).skip(skip))
            .collect();
        let total = fields.len();
        fields.sort();
        fields.dedup();
        assert_eq!(fields.len(), total);
        // Control: member 5's f₀ forced even is caught at that field.
        let f0 = skip + 4 + log_size(8);
        let leaky: Vec<Vec<u8>> = bb
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p[32 * f0] &= 0xfe;
                p
            })
            .collect();
        let (chi, field) = worst_chi(&a, &leaky, skip);
        assert!(chi > CRITICAL_15_DOF * 5.0, "control not detected: {chi}");
        assert_eq!(field, f0);
    }
}

/// The pinned proof: 5 members from seeds `[0x71; 32]` with the index in the first 8
/// bytes, member 3 proves with `ChaCha20Rng::seed_from_u64(0x5eed)`, linkable, context
/// `glitter/zk/oom/pinned`, message `pinned vector 1`. The firmware verifies the same
/// bytes; a change to the format, the transcript or the prover changes them.
pub(super) const PINNED_PROOF: &str = concat!(
    "deb4efd81c6caafd4c97f9eabb3baee5960868d744650aaa1a13f627c91b9a84",
    "460d3311c5730e63c50e5707bdef56b4a4d94ca9d576267464bb5465b4403d64",
    "33b9649bbe64f594e5f9a86e0baaa57fd66872296f853473ad8a2cf3307c6b1c",
    "1d64b2c0132f00b0e38a9e2df934b58660388d63fb06b33905113a5a0374c2d5",
    "321864e607ddd6a4a844f0c6b19bffbee9cc47e46c6099c8d50b40bf1242ecfc",
    "03d7c1f2e481bf8a75279bd9b57fa950dbb75bd886a5e7c3a51f134595d7b49c",
    "724e25bf3e502dd75c62cb9b0583abedd13b7201d73298756d8bb40773a10ebe",
    "f34b9554035e12aee9096bcefafbf66428d96e9699d391d6b6900617e5fb30c1",
    "68eb5f5f153135bcf41116b5405266c3947f191841cf2418bac18a9b27048601",
    "c7ecca6c05ebe3cba8e73f70a78dbf7823caaf0a5594a60f3f52030c03905005",
    "b80eae0d8a49e8fb1a7335746d9cafd6e8a516da5a8fd25c3f2c3a6ad0239208",
    "1747cf92322ce76f8fa2840e0745aebe169dd3cfbb81091f46c871237ac78805",
    "54c63256f57b07be7fe30698a8efa61ed78da8c93806cf939c45d29e539f6702",
    "762993391a6c20aacd40a3aa7a2ab737e6df28be5a0e85661d41f71482982100",
);

#[test]
fn pinned_vector() {
    let (pairs, keys) = set(5, 0x71);
    let st = OneOfMany {
        members: &keys,
        linkable: true,
    };
    let b = Binding::new(b"glitter/zk/oom/pinned", b"pinned vector 1");
    let proof = Dalek.prove(&st, &pairs[3], &b, &mut rng(0x5eed)).unwrap();
    let encoded = hex::encode(bytes(&proof));
    std::println!("pinned: {encoded}");
    assert_eq!(encoded, PINNED_PROOF);
    let decoded = OneOfManyProof::parse(&hex::decode(PINNED_PROOF).unwrap()).unwrap();
    assert_eq!(Dalek.verify(&st, &decoded, &b), Ok(()));
    assert_eq!(
        decoded.tag().unwrap(),
        link_tag(&pairs[3], b"glitter/zk/oom/pinned").unwrap()
    );
}
