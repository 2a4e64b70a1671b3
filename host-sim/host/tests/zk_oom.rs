//! The host's accelerated one-out-of-many paths against core's streaming ones: the
//! same proofs verify, the same forgeries fail with the same error, and proofs made
//! here verify in core.

mod zk_common;

use glitter_core::sig::PublicKey;
use glitter_core::zk::oom::{OneOfMany, OneOfManyProof, link_tag};
use glitter_core::zk::{Binding, Dalek, Proof, Prover, Verifier, ZkError};
use glitter_host::zk_oom::{PreparedMembers, prove, prove_vartime, verify, verify_keys};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use zk_common::sorted_set as set;

fn encode(p: &OneOfManyProof) -> Vec<u8> {
    let mut buf = vec![0u8; OneOfManyProof::ENCODED_LEN_MAX];
    let len = p.emit(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// Core's verdict and the host's on raw bytes; asserts they agree and returns it.
fn verdicts(keys: &[PublicKey], linkable: bool, proof: &[u8], b: &Binding<'_>) -> &'static str {
    let st = OneOfMany {
        members: keys,
        linkable,
    };
    let core = OneOfManyProof::parse(proof).and_then(|p| Dalek.verify(&st, &p, b));
    let host = OneOfManyProof::parse(proof).and_then(|p| verify_keys(keys, linkable, &p, b));
    assert_eq!(core, host, "core and host disagree");
    match core {
        Ok(()) => "accept",
        Err(e) => e.name(),
    }
}

#[test]
fn host_and_core_agree_on_valid_proofs() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (pairs, keys) = set(40, 1);
    for n in [1usize, 2, 3, 7, 8, 9, 17, 33, 40] {
        for linkable in [false, true] {
            let members = PreparedMembers::new(&keys[..n]).unwrap();
            let b = Binding::new(b"ctx", b"msg");
            let j = n / 3;
            // Made by the host, checked by both; made by core, checked by both.
            let host_proof = prove(&members, linkable, &pairs[j], &b, &mut rng).unwrap();
            let st = members.statement(linkable);
            let core_proof = Dalek.prove(&st, &pairs[j], &b, &mut rng).unwrap();
            for p in [&host_proof, &core_proof] {
                assert_eq!(verdicts(&keys[..n], linkable, &encode(p), &b), "accept");
                assert_eq!(verify(&members, linkable, p, &b), Ok(()));
                if linkable {
                    assert_eq!(p.tag(), Some(link_tag(&pairs[j], b"ctx").unwrap()));
                }
            }
        }
    }
}

#[test]
fn same_rng_same_bytes_on_host_and_core() {
    let (pairs, keys) = set(13, 2);
    let members = PreparedMembers::new(&keys).unwrap();
    let b = Binding::new(b"ctx", b"deterministic");
    for linkable in [false, true] {
        let host = prove(
            &members,
            linkable,
            &pairs[4],
            &b,
            &mut ChaCha20Rng::seed_from_u64(9),
        );
        let core = Dalek.prove(
            &members.statement(linkable),
            &pairs[4],
            &b,
            &mut ChaCha20Rng::seed_from_u64(9),
        );
        let vartime = prove_vartime(
            &members,
            linkable,
            &pairs[4],
            &b,
            &mut ChaCha20Rng::seed_from_u64(9),
        );
        let host = host.unwrap();
        assert_eq!(host, core.unwrap());
        assert_eq!(host, vartime.unwrap());
    }
}

#[test]
fn host_and_core_agree_on_forgeries() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (pairs, keys) = set(6, 3);
    let b = Binding::new(b"ctx", b"msg");
    for linkable in [false, true] {
        let members = PreparedMembers::new(&keys[..5]).unwrap();
        let good = encode(&prove(&members, linkable, &pairs[2], &b, &mut rng).unwrap());
        assert_eq!(verdicts(&keys[..5], linkable, &good, &b), "accept");
        // Every bit flip.
        let mut names = std::collections::BTreeMap::new();
        for i in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            let v = verdicts(&keys[..5], linkable, &bad, &b);
            assert_ne!(v, "accept", "bit {i}");
            *names.entry(v).or_insert(0) += 1;
        }
        println!("linkable {linkable}: bit flips {names:?}");
        // Another binding, another set, the other tag setting.
        assert_eq!(
            verdicts(&keys[..5], linkable, &good, &Binding::new(b"ctx", b"msh")),
            "rejected"
        );
        assert_eq!(
            verdicts(&keys[..5], linkable, &good, &Binding::new(b"cty", b"msg")),
            "rejected"
        );
        let mut modified = keys[..5].to_vec();
        modified[4] = keys[5];
        modified.sort();
        assert_eq!(verdicts(&modified, linkable, &good, &b), "rejected");
        assert_eq!(verdicts(&keys[..5], !linkable, &good, &b), "proof-length");
        assert_eq!(verdicts(&keys[..6], linkable, &good, &b), "rejected");
        assert_eq!(verdicts(&keys[..4], linkable, &good, &b), "proof-length");
        // Bad sets: unsorted, duplicate, a weak key, with a bad proof as well (the
        // set's shape is checked first, then the proof, then the keys).
        let mut unsorted = keys[..5].to_vec();
        unsorted.swap(0, 1);
        assert_eq!(verdicts(&unsorted, linkable, &good, &b), "member-order");
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut weak = keys[..5].to_vec();
        weak[0] = PublicKey(identity);
        weak.sort();
        assert_eq!(verdicts(&weak, linkable, &good, &b), "weak-key");
        let mut both = good.clone();
        both[0] ^= 1;
        let v = verdicts(&weak, linkable, &both, &b);
        assert!(v == "proof-point" || v == "weak-key", "{v}");
    }
    // A non-member cannot prove on the host either.
    let members = PreparedMembers::new(&keys[..5]).unwrap();
    let outsider = pairs
        .iter()
        .find(|p| !keys[..5].contains(&p.public()))
        .unwrap();
    assert_eq!(
        prove(&members, true, outsider, &b, &mut rng),
        Err(ZkError::NotAMember)
    );
}

#[test]
fn large_set_agrees() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (pairs, keys) = set(4096, 4);
    let members = PreparedMembers::new(&keys).unwrap();
    let b = Binding::new(b"poll/4096", b"yes");
    let proof = prove(&members, true, &pairs[4000], &b, &mut rng).unwrap();
    assert!(proof.encoded_len() <= 1024);
    assert_eq!(verify(&members, true, &proof, &b), Ok(()));
    assert_eq!(Dalek.verify(&members.statement(true), &proof, &b), Ok(()));
    let other = Binding::new(b"poll/4096", b"no");
    assert_eq!(
        verify(&members, true, &proof, &other),
        Err(ZkError::Rejected)
    );
    assert_eq!(
        Dalek.verify(&members.statement(true), &proof, &other),
        Err(ZkError::Rejected)
    );
}

/// n = 65,536 end to end (about a minute in a debug build: run with `--ignored`).
#[test]
#[ignore = "slow in debug builds; the bench measures it"]
fn the_largest_set() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (pairs, keys) = set(65_536, 5);
    let members = PreparedMembers::new(&keys).unwrap();
    let b = Binding::new(b"poll/65536", b"yes");
    let proof = prove(&members, true, &pairs[65_535], &b, &mut rng).unwrap();
    assert_eq!(proof.encoded_len(), 1280);
    assert_eq!(verify(&members, true, &proof, &b), Ok(()));
}
