//! Tests of the prepared-set verifier: its multiscalar multiplication against the
//! definition, and its verdicts against the streaming `Dalek.verify`, case for case.

extern crate std;

use super::msm::{ScalarDigits, WINDOWS, pippenger};
use super::test_support::{bytes, random_scalar, rng, set};
use super::*;
use crate::zk::Proof;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use std::vec::Vec;

const CTX: &[u8] = b"glitter/test/oom/prepared";

/// Verifies with the prepared set, preparing the members first.
fn fast(st: &OneOfMany<'_>, proof: &OneOfManyProof, b: &Binding<'_>) -> Result<(), ZkError> {
    let mut prepared = std::vec![PreparedMember::UNSET; st.members.len()];
    prepare_members(st.members, &mut prepared)?;
    let set = PreparedSet::new(*st, &prepared)?;
    let mut scratch = std::vec![ScalarDigits::ZERO; scratch_len(st.members.len())];
    set.verify(proof, b, &mut scratch)
}

/// Both verifiers on the same bytes; asserts they agree and returns the verdict.
fn both(st: &OneOfMany<'_>, proof: &[u8], b: &Binding<'_>) -> Result<(), ZkError> {
    let proof = OneOfManyProof::parse(proof)?;
    let streamed = Dalek.verify(st, &proof, b);
    assert_eq!(fast(st, &proof, b), streamed);
    streamed
}

#[test]
fn digits_represent_the_scalar() {
    let mut r = rng(1);
    let sixty_four = Scalar::from(64u8);
    let mut edge = std::vec![Scalar::ZERO, Scalar::ONE, -Scalar::ONE, Scalar::from(31u8)];
    edge.push(Scalar::from(32u8));
    edge.push(Scalar::from(u64::MAX));
    edge.extend((0..64).map(|_| random_scalar(&mut r)));
    for s in edge {
        let d = ScalarDigits::new(&s);
        assert!(d.digits().iter().all(|x| (-32..=31).contains(x)));
        let back = d.digits().iter().rev().fold(Scalar::ZERO, |acc, x| {
            let digit = if *x < 0 {
                -Scalar::from(x.unsigned_abs())
            } else {
                Scalar::from(x.unsigned_abs())
            };
            acc * sixty_four + digit
        });
        assert_eq!(back, s);
    }
    assert_eq!(WINDOWS, 43);
}

#[test]
fn pippenger_equals_the_sum_of_products() {
    let mut r = rng(2);
    for n in [0usize, 1, 2, 3, 17, 70] {
        let scalars: Vec<Scalar> = (0..n)
            .map(|i| match i % 5 {
                0 => Scalar::ZERO,
                1 => -Scalar::ONE,
                _ => random_scalar(&mut r),
            })
            .collect();
        let points: Vec<EdwardsPoint> = (0..n)
            .map(|_| ED25519_BASEPOINT_POINT * random_scalar(&mut r))
            .collect();
        let digits: Vec<ScalarDigits> = scalars.iter().map(ScalarDigits::new).collect();
        let expected = scalars
            .iter()
            .zip(&points)
            .fold(EdwardsPoint::identity(), |acc, (s, p)| acc + p * s);
        assert_eq!(pippenger(&digits, points.iter()), expected, "n {n}");
    }
}

#[test]
fn same_verdicts_on_valid_proofs_and_modified_statements() {
    let mut r = rng(3);
    let (pairs, keys) = set(67, 7);
    for (n, linkable) in [
        (1usize, true),
        (2, false),
        (3, true),
        (8, false),
        (33, true),
    ] {
        let st = OneOfMany {
            members: &keys[..n],
            linkable,
        };
        let b = Binding::new(CTX, b"valid");
        let proof = bytes(&Dalek.prove(&st, &pairs[n / 2], &b, &mut r).unwrap());
        assert_eq!(both(&st, &proof, &b), Ok(()), "n {n}");
        // Wrong bindings.
        for other in [
            Binding::new(CTX, b"other"),
            Binding::new(b"glitter/test/other", b"valid"),
            Binding::new(b"valid", CTX),
        ] {
            assert!(both(&st, &proof, &other).is_err());
        }
        // The other tag setting.
        let flipped = OneOfMany {
            members: &keys[..n],
            linkable: !linkable,
        };
        assert!(both(&flipped, &proof, &b).is_err());
        // A member replaced, one more, one fewer, another set of the same size.
        let mut replaced = keys[..n].to_vec();
        replaced[n / 2] = keys[66];
        replaced.sort();
        let shapes: [&[PublicKey]; 4] =
            [&replaced, &keys[..n + 1], &keys[..n - 1], &keys[n..2 * n]];
        for members in shapes.into_iter().filter(|m| !m.is_empty()) {
            let st2 = OneOfMany { members, linkable };
            assert!(both(&st2, &proof, &b).is_err());
        }
    }
}

/// Every single-bit flip of a proof: both verifiers give the same error.
#[test]
fn same_verdicts_on_every_bit_flip() {
    let mut r = rng(4);
    let (pairs, keys) = set(5, 8);
    let b = Binding::new(CTX, b"flip");
    for linkable in [false, true] {
        let st = OneOfMany {
            members: &keys,
            linkable,
        };
        let good = bytes(&Dalek.prove(&st, &pairs[1], &b, &mut r).unwrap());
        let mut rejected = 0;
        for i in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let verdict = both(&st, &bad, &b);
            assert!(verdict.is_err(), "bit {i} accepted");
            rejected += usize::from(verdict == Err(ZkError::Rejected));
        }
        // Flips of the scalars' low bits reach the equation itself.
        assert!(rejected > 0);
    }
}

#[test]
fn preparation_and_buffers() {
    let (pairs, keys) = set(4, 9);
    let st = OneOfMany {
        members: &keys,
        linkable: false,
    };
    let b = Binding::new(CTX, b"buffers");
    let proof = Dalek.prove(&st, &pairs[0], &b, &mut rng(5)).unwrap();
    let mut prepared = [PreparedMember::UNSET; 5];
    assert!(!prepared[0].is_set());
    assert_eq!(
        prepare_members(&keys, &mut prepared[..3]),
        Err(ZkError::BufferTooSmall { needed: 4 })
    );
    prepare_members(&keys, &mut prepared).unwrap();
    assert!(prepared[3].is_set() && !prepared[4].is_set());
    assert_eq!(prepared[2].key(), &keys[2]);
    // Longer buffers are fine; shorter ones, unset or foreign slots are refused.
    let set_ok = PreparedSet::new(st, &prepared).unwrap();
    assert_eq!(set_ok.statement(), &st);
    assert_eq!(
        PreparedSet::new(st, &prepared[..3]).err(),
        Some(ZkError::BufferTooSmall { needed: 4 })
    );
    let mut foreign = prepared;
    foreign[1] = PreparedMember::UNSET;
    assert_eq!(
        PreparedSet::new(st, &foreign).err(),
        Some(ZkError::NotAMember)
    );
    foreign[1] = prepared[2];
    assert_eq!(
        PreparedSet::new(st, &foreign).err(),
        Some(ZkError::NotAMember)
    );
    let mut swapped = keys.clone();
    swapped.swap(0, 1);
    let bad_shape = OneOfMany {
        members: &swapped,
        linkable: false,
    };
    assert_eq!(
        PreparedSet::new(bad_shape, &prepared).err(),
        Some(ZkError::MemberOrder { index: 1 })
    );
    // Scratch: exactly scratch_len entries, whatever they hold.
    let mut scratch = std::vec![ScalarDigits::new(&Scalar::from(9u8)); scratch_len(4)];
    assert_eq!(set_ok.verify(&proof, &b, &mut scratch), Ok(()));
    assert_eq!(
        set_ok.verify(&proof, &b, &mut scratch[..scratch_len(4) - 1]),
        Err(ZkError::BufferTooSmall {
            needed: scratch_len(4)
        })
    );
    // A key that does not validate cannot be prepared: the same error as streaming.
    let weak = PublicKey([0; 32]);
    assert_eq!(
        PreparedMember::new(&weak, 7).err(),
        decode_member(&weak, 7).err()
    );
}
