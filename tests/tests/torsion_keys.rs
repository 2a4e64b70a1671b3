//! Issue 15, item 11: "one secret, eight identities".
//!
//! For an honest key `A = x·B` and each of the eight small-order points `T`, the key
//! `A + T` is canonical and not itself of small order, and the secret `x` signs for it
//! under the cofactored equation. Only `T = 0` may be admitted as an identity: at
//! genesis, in a ring, as a witness or as a backup custodian.

mod zk_common;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use ed25519_compact as ed;
use glitter_core::attest::WitnessSet;
use glitter_core::backup::{BackupError, seal, share_seed};
use glitter_core::chain::{ChainError, ChainState};
use glitter_core::sig::{self, KeyPair, PublicKey, SigError};
use glitter_core::social::{Payload, Trust, TrustRole};
use glitter_core::zk::{RingMember, Statement, ZkError};

/// The eight points of order dividing 8 (the identity first), from the encodings
/// `zk_common` holds with their source ("Taming the many EdDSAs", RFC 7748 §6).
fn small_order() -> Vec<EdwardsPoint> {
    zk_common::small_order_points()
        .into_iter()
        .map(|bytes| {
            let p = CompressedEdwardsY(bytes).decompress().unwrap();
            assert!(p.is_small_order(), "{}", hex::encode(bytes));
            p
        })
        .collect()
}

/// `A + T` for every small-order `T`, in the order of [`small_order`].
fn variants(keys: &KeyPair) -> Vec<PublicKey> {
    let a = CompressedEdwardsY(keys.public().0).decompress().unwrap();
    small_order()
        .into_iter()
        .map(|t| PublicKey((a + t).compress().0))
        .collect()
}

/// Signs `msg` with `keys`' secret while claiming the public key `claimed`:
/// `k = H(R ‖ claimed ‖ M)`, `S = r + k·x`.
fn sign_as(keys: &KeyPair, claimed: &PublicKey, msg: &[u8]) -> sig::Signature {
    let mut sk = [0u8; 64];
    sk[..32].copy_from_slice(&keys.seed());
    sk[32..].copy_from_slice(&claimed.0);
    *ed::SecretKey::new(sk).sign(msg, None)
}

#[test]
fn one_secret_eight_keys_one_identity() {
    for seed in 1..=8u8 {
        let keys = KeyPair::from_seed([seed; 32]).unwrap();
        let vs = variants(&keys);
        assert_eq!(vs[0], keys.public());
        let mut admitted = 0;
        for (i, v) in vs.iter().enumerate() {
            // What made this an attack: all eight pass the old key check (canonical,
            // not small order, as ed25519-compact's `validate` also says) and the
            // secret signs for each under the cofactored equation.
            assert_eq!(ed::PublicKey::new(v.0).validate(), Ok(()), "T{i}");
            let s = sign_as(&keys, v, b"genesis");
            assert_eq!(v.verify(b"genesis", &s), Ok(()), "T{i}");
            // Now only the torsion-free one is an identity.
            match ChainState::new(*v) {
                Ok(_) => {
                    assert_eq!(i, 0, "seed {seed}: torsioned variant T{i} admitted");
                    admitted += 1;
                }
                Err(e) => assert_eq!(
                    e,
                    ChainError::InvalidAuthorKey(SigError::TorsionComponent),
                    "T{i}"
                ),
            }
            assert_eq!(
                sig::key_verdict(&v.0),
                if i == 0 {
                    "accept"
                } else {
                    "torsion-component"
                }
            );
        }
        assert_eq!(admitted, 1, "seed {seed}: 1 of 8 variants is an identity");
        // Resuming without a head is a genesis too.
        assert_eq!(
            ChainState::resume(vs[5], None).map(|_| ()),
            Err(ChainError::InvalidAuthorKey(SigError::TorsionComponent))
        );
    }
}

#[test]
fn a_torsioned_key_cannot_join_a_ring() {
    let keys: Vec<KeyPair> = (1..=4u8)
        .map(|s| KeyPair::from_seed([s; 32]).unwrap())
        .collect();
    let honest: Vec<PublicKey> = keys.iter().map(KeyPair::public).collect();
    assert_eq!(RingMember { members: &honest }.validate(), Ok(()));
    // Alice plus her own torsioned twins: "four distinct members", one person.
    let twins = variants(&keys[0]);
    let ring = [twins[0], twins[1], twins[4], twins[7]];
    assert_eq!(
        RingMember { members: &ring }.validate(),
        Err(ZkError::TorsionComponent { index: 1 })
    );
    for (i, t) in twins.iter().enumerate().skip(1) {
        let mut members = honest.clone();
        members[2] = *t;
        assert_eq!(
            RingMember { members: &members }.validate(),
            Err(ZkError::TorsionComponent { index: 2 }),
            "T{i}"
        );
    }
}

#[test]
fn a_torsioned_key_cannot_be_designated_witness() {
    let alice = KeyPair::from_seed([11; 32]).unwrap();
    let mut set = WitnessSet::new();
    let designate = |set: &mut WitnessSet, who: &PublicKey| {
        set.apply(&Payload::Trust(Trust {
            subject: who.0,
            role: TrustRole::Witness,
            threshold: 2,
        }))
    };
    let twins = variants(&alice);
    assert_eq!(designate(&mut set, &twins[0]), Ok(()));
    for (i, t) in twins.iter().enumerate().skip(1) {
        assert_eq!(
            designate(&mut set, t),
            Err(SigError::TorsionComponent),
            "T{i}"
        );
    }
    assert_eq!(set.witnesses(), &[twins[0]]);
    assert_eq!(set.threshold(), 2);
    assert!(!set.contains(&twins[3]));
}

#[test]
fn a_torsioned_key_cannot_be_a_custodian() {
    let owner = [21u8; 32];
    let bob = KeyPair::from_seed([22; 32]).unwrap();
    let carol = KeyPair::from_seed([23; 32]).unwrap();
    let twins = variants(&bob);
    let entropy = [5u8; 32];
    // Honest custodians work.
    assert!(share_seed(&owner, 1, 2, &[bob.public(), carol.public()], &entropy).is_ok());
    for (i, t) in twins.iter().enumerate().skip(1) {
        // Bob twice, once in disguise: refused before anything is sealed.
        let custodians = [bob.public(), *t, carol.public()];
        assert_eq!(
            share_seed(&owner, 1, 2, &custodians, &entropy).map(|_| ()),
            Err(BackupError::CustodianKey {
                index: 1,
                reason: SigError::TorsionComponent
            }),
            "T{i}"
        );
        // And no share can be sealed to such a key.
        assert_eq!(
            seal::x25519_public(t).map(|_| ()),
            Err(seal::SealError::BadPublicKey)
        );
    }
}
