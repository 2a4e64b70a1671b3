//! Claims on stored chains: post-count snapshots recomputed by another holder of the
//! chains, sets that differ, double claims, and the largest set claim on a chain.

mod zk_common;

use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::{Follow, Payload};
use glitter_core::wire::header::PAYLOAD_LEN_MAX;
use glitter_core::zk::{ClaimSet, ClaimStatement, ZkError};
use glitter_host::claims::{self, Chains, ClaimVerifier, ClaimsError, Verdict};
use glitter_host::datadir::DataDir;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// `n` people; person `i` posts `i + 1` times and person 0 follows everyone. Returns
/// the directories (person 0's holds every chain) and the key pairs.
fn town(root: &std::path::Path, n: usize) -> (Vec<DataDir>, Vec<KeyPair>) {
    let mut t = 1_000;
    let mut tick = || {
        t += 1;
        t
    };
    let mut dirs = Vec::new();
    let mut keys = Vec::new();
    for i in 0..n {
        let d = DataDir::open(&root.join(format!("p{i}"))).unwrap();
        keys.push(d.create_identity([i as u8 + 1; 32]).unwrap());
        for j in 0..=i {
            let post = Payload::post(&format!("post {j}"), None).unwrap();
            d.append_own(&post, tick()).unwrap();
        }
        dirs.push(d);
    }
    for k in keys.iter().skip(1) {
        let follow = Payload::Follow(Follow {
            author: k.public().0,
        });
        dirs[0].append_own(&follow, tick()).unwrap();
    }
    for i in 1..n {
        let chain = dirs[i].chain(&keys[i].public()).unwrap();
        dirs[0].import(&chain).unwrap();
    }
    (dirs, keys)
}

fn publish(d: &DataDir, claim: glitter_core::zk::Claim) -> u64 {
    d.append_own(&Payload::Claim(claim), 10_000).unwrap().seq
}

#[test]
fn post_count_claims_are_recomputed_and_double_claims_found() {
    let tmp = tempfile::tempdir().unwrap();
    let (dirs, keys) = town(tmp.path(), 4);
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let alice = &keys[0];
    // Alice has 1 post: with min_posts 2 she is not in the set.
    let chains = Chains::load(&dirs[0]).unwrap();
    let refused = claims::prove_post_count(
        &chains,
        &alice.public(),
        alice,
        2,
        true,
        b"poll",
        b"",
        &mut rng,
    );
    assert!(matches!(refused, Err(ClaimsError::NotInSet { .. })));
    let (claim, snapshot) = claims::prove_post_count(
        &chains,
        &alice.public(),
        alice,
        1,
        true,
        b"poll",
        b"yes",
        &mut rng,
    )
    .unwrap();
    assert_eq!(snapshot.members.len(), 4);
    let seq = publish(&dirs[0], claim);

    // Bob holds the same chains (he imports everyone's) and recomputes the snapshot.
    let bob = &dirs[1];
    for (i, k) in keys.iter().enumerate() {
        if i != 1 {
            bob.import(&dirs[i].chain(&k.public()).unwrap()).unwrap();
        }
    }
    let chains = Chains::load(bob).unwrap();
    let mut verifier = ClaimVerifier::new();
    let verdict = claims::verify_stored(&chains, &mut verifier, &alice.public(), seq).unwrap();
    assert!(
        matches!(
            verdict,
            Verdict::Valid {
                set_size: Some(4),
                recomputed: true,
                ..
            }
        ),
        "{verdict:?}"
    );

    // Later growth does not change the snapshot: dave posts again, bob imports.
    dirs[3]
        .append_own(&Payload::post("later", None).unwrap(), 20_000)
        .unwrap();
    bob.import(&dirs[3].chain(&keys[3].public()).unwrap())
        .unwrap();
    let chains = Chains::load(bob).unwrap();
    let verdict = claims::verify_stored(&chains, &mut ClaimVerifier::new(), &alice.public(), seq);
    assert!(matches!(verdict, Ok(Verdict::Valid { .. })), "{verdict:?}");

    // A verifier missing a chain recomputes another set: set unknown, never valid.
    let partial =
        Chains::from_chains([0usize, 1, 2].map(|i| chains.get(&keys[i].public()).unwrap().clone()));
    let verdict =
        claims::verify_stored(&partial, &mut ClaimVerifier::new(), &alice.public(), seq).unwrap();
    assert!(
        matches!(verdict, Verdict::SetUnknown { here: Some(3), .. }),
        "{verdict:?}"
    );

    // Alice claims again in the same context: every second claim is a double claim;
    // in another context it is not.
    let chains0 = Chains::load(&dirs[0]).unwrap();
    let (again, _) = claims::prove_post_count(
        &chains0,
        &alice.public(),
        alice,
        1,
        true,
        b"poll",
        b"no",
        &mut rng,
    )
    .unwrap();
    let second = publish(&dirs[0], again);
    let chains0 = Chains::load(&dirs[0]).unwrap();
    let (other, _) = claims::prove_post_count(
        &chains0,
        &alice.public(),
        alice,
        1,
        true,
        b"other poll",
        b"",
        &mut rng,
    )
    .unwrap();
    let third = publish(&dirs[0], other);
    let chains0 = Chains::load(&dirs[0]).unwrap();
    let all = ClaimVerifier::new().check_all(&chains0);
    let find = |s: u64| all.iter().find(|(k, _)| k.1 == s).map(|(_, v)| v.clone());
    assert!(matches!(find(seq), Some(Verdict::Valid { .. })));
    assert!(
        matches!(find(second), Some(Verdict::DoubleClaim { first, .. }) if first == (alice.public(), seq)),
        "{:?}",
        find(second)
    );
    assert!(matches!(find(third), Some(Verdict::Valid { .. })));
}

#[test]
fn every_member_claiming_twice_is_caught() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut pairs: Vec<KeyPair> = (1..=6u8)
        .map(|i| KeyPair::from_seed([i; 32]).unwrap())
        .collect();
    pairs.sort_by_key(|k| k.public());
    let members: Vec<PublicKey> = pairs.iter().map(|k| k.public()).collect();
    let set = ClaimSet::Members(&members);
    // One publisher (a pseudonym) publishes, for each member, two claims in one context.
    let d = DataDir::open(&tmp.path().join("pseudonym")).unwrap();
    let pseudonym = d.create_identity([77; 32]).unwrap().public();
    let mut firsts = Vec::new();
    for k in &pairs {
        for round in 0..2 {
            let c =
                claims::prove_set(&set, true, &pseudonym, k, b"vote", &[round], &mut rng).unwrap();
            let seq = publish(&d, c);
            if round == 0 {
                firsts.push(seq);
            }
        }
    }
    let chains = Chains::load(&d).unwrap();
    let unknown = ClaimVerifier::new().check_all(&chains);
    assert!(
        unknown
            .iter()
            .all(|(_, v)| matches!(v, Verdict::SetUnknown { here: None, .. }))
    );
    let verdicts = ClaimVerifier::with_members(members.clone()).check_all(&chains);
    let mut doubles = 0;
    for ((_, seq), v) in &verdicts {
        if firsts.contains(seq) {
            assert!(matches!(v, Verdict::Valid { .. }), "{v:?}");
        } else {
            assert!(
                matches!(v, Verdict::DoubleClaim { first, .. } if first.1 + 1 == *seq),
                "{v:?}"
            );
            doubles += 1;
        }
    }
    assert_eq!(doubles, pairs.len());
    // A verifier with another set: set unknown.
    let fewer = ClaimVerifier::with_members(members[1..].to_vec()).check_all(&chains);
    assert!(
        fewer
            .iter()
            .all(|(_, v)| matches!(v, Verdict::SetUnknown { here: Some(5), .. }))
    );
}

/// A tagged claim over 1,024 members, proven with the host's prover: an 896-byte
/// proof, and the whole payload within 1 KiB with the longest context and message.
#[test]
fn the_largest_set_claim_fits_and_verifies() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (pairs, members) = zk_common::sorted_set(1024, 3);
    let set = ClaimSet::Members(&members);
    let publisher = pairs[0].public();
    let claim = claims::prove_set(
        &set,
        true,
        &publisher,
        &pairs[700],
        &[b'c'; 32],
        &[b'm'; 32],
        &mut rng,
    )
    .unwrap();
    assert_eq!(claim.proof.len(), 896);
    assert!(matches!(
        claim.statement,
        ClaimStatement::Member {
            n: 1024,
            linkable: true,
            ..
        }
    ));
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let len = Payload::Claim(claim.clone())
        .encode(&mut buf)
        .unwrap()
        .len();
    assert_eq!(len, 1001);
    assert_eq!(
        claim.verify_with_set(&publisher, &set).map(|t| t.is_some()),
        Ok(true)
    );
    let mut more = members.clone();
    more.push(KeyPair::from_seed([4; 32]).unwrap().public());
    more.sort();
    assert!(matches!(
        claims::prove_set(
            &ClaimSet::Members(&more),
            true,
            &publisher,
            &pairs[0],
            b"",
            b"",
            &mut rng
        ),
        Err(ClaimsError::SetTooLarge { .. })
    ));
    assert_eq!(
        claim.verify_with_set(&publisher, &ClaimSet::Members(&members[1..])),
        Err(ZkError::SetMismatch)
    );
}
