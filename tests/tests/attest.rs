//! Witness confirmation against an independent model, witness equivocation evidence,
//! and forged attestations.

use glitter_core::attest::{self, AttestationRecord, Status, WitnessSet};
use glitter_core::chain::{ChainError, ChainState};
use glitter_core::hash::Hash;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::{Attestation, BlockRef, Payload, Trust, TrustRole};
use glitter_core::wire::header::Header;
use glitter_tests::TestChain;
use proptest::prelude::*;

fn witness_set(ws: &[PublicKey], k: u8) -> WitnessSet {
    let mut s = WitnessSet::new();
    for w in ws {
        s.apply(&Payload::Trust(Trust {
            subject: w.0,
            role: TrustRole::Witness,
            threshold: k,
        }))
        .unwrap();
    }
    s
}

/// The model: block `seq` is confirmed iff at least k distinct designated witnesses
/// attested some (seq' ≥ seq, id) where id is the id this node holds at seq'.
fn model(
    ws: &[PublicKey],
    k: usize,
    held: &[Header],
    seq: u64,
    atts: &[(usize, u64, bool)],
) -> bool {
    if seq as usize > held.len() {
        return false;
    }
    let mut who = std::collections::BTreeSet::new();
    for &(w, s, genuine) in atts {
        if w < ws.len() && s >= seq && (s as usize) <= held.len() && genuine {
            who.insert(w);
        }
    }
    who.len() >= k
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// k = 2 of 3 designated witnesses (index 3 is not designated); attestations in a
    /// random order name real ids, wrong ids, or blocks this node does not hold.
    #[test]
    fn confirmation_matches_the_model(
        atts in prop::collection::vec((0usize..4, 1u64..14, any::<bool>()), 0..12),
        held_len in 1usize..12,
        seq in 1u64..12,
    ) {
        let c = TestChain::build(5, 14);
        let keys: Vec<PublicKey> = (0..4).map(|i| KeyPair::from_seed([60 + i; 32]).unwrap().public()).collect();
        let ws = &keys[..3];
        let set = witness_set(ws, 2);
        let held: Vec<Header> = c.headers[..held_len].to_vec();
        let mut records = Vec::new();
        let mut applied = Vec::new();
        for (n, &(w, s, genuine)) in atts.iter().enumerate() {
            let id = if genuine { c.headers[s as usize - 1].id() } else { Hash([n as u8; 32]) };
            records.push(AttestationRecord {
                witness: keys[w],
                witness_seq: n as u64 + 1,
                head: BlockRef::new(c.keys.public(), s, id),
            });
            // Genuine only counts if this node holds that block.
            applied.push((w, s, genuine && (s as usize) <= held_len));
            let st = attest::status(&set, &c.keys.public(), seq, &records, &mut held.clone()[..], None);
            let want = model(ws, 2, &held, seq, &applied);
            prop_assert_eq!(matches!(st, Status::Confirmed { .. }), want, "{:?} after {:?}", st, applied);
        }
        // A known fork at or before seq forbids confirmation whatever the witnesses say.
        let st = attest::status(&set, &c.keys.public(), seq, &records, &mut held.clone()[..], Some(seq));
        prop_assert_eq!(st, Status::Forked { at: seq });
    }
}

fn attestation_block(
    w: &KeyPair,
    state: &mut ChainState,
    prior: &mut Vec<Header>,
    heads: &[BlockRef],
) -> (Header, Vec<u8>) {
    let mut v = heapless::Vec::new();
    for h in heads {
        v.push(*h).unwrap();
    }
    let p = Payload::Attestation(Attestation { heads: v });
    let mut buf = [0u8; 1024];
    let bytes = p.encode(&mut buf).unwrap().to_vec();
    let h = state
        .append(
            w,
            p.kind(),
            1_000 + prior.len() as u64,
            &bytes,
            &mut prior[..],
        )
        .unwrap();
    prior.push(h);
    (h, bytes)
}

#[test]
fn witness_equivocation_is_always_detected() {
    let author = TestChain::build(7, 6);
    for trial in 0..200u8 {
        let w = KeyPair::from_seed([100 + (trial % 50); 32]).unwrap();
        let mut st = ChainState::new(w.public()).unwrap();
        let mut prior = Vec::new();
        let seq = 1 + (trial as u64 % 6);
        let real = BlockRef::new(
            author.keys.public(),
            seq,
            author.headers[seq as usize - 1].id(),
        );
        let fake = BlockRef::new(author.keys.public(), seq, Hash([trial; 32]));
        let (h1, p1) = attestation_block(&w, &mut st, &mut prior, &[real]);
        let (h2, p2) = attestation_block(&w, &mut st, &mut prior, &[fake]);
        let mut recs: Vec<AttestationRecord> = attest::records_of(&h1, &p1).unwrap().collect();
        recs.extend(attest::records_of(&h2, &p2).unwrap());
        let e = attest::find_equivocation(&recs).expect("equivocation found");
        assert_eq!((e.witness, e.seq), (w.public(), seq));
        let v =
            attest::verify_witness_equivocation(&h1.to_bytes(), &p1, &h2.to_bytes(), &p2).unwrap();
        assert_eq!(v.witness, w.public());
        // Two consistent attestations are not evidence.
        let (h3, p3) = attestation_block(&w, &mut st, &mut prior, &[real]);
        assert!(
            attest::verify_witness_equivocation(&h1.to_bytes(), &p1, &h3.to_bytes(), &p3).is_err()
        );
        // Tampering with the evidence is refused.
        let mut bad = p2.clone();
        bad[5] ^= 1;
        assert!(
            attest::verify_witness_equivocation(&h1.to_bytes(), &p1, &h2.to_bytes(), &bad).is_err()
        );
    }
}

#[test]
fn forged_attestations_never_count() {
    let c = TestChain::build(8, 5);
    let ws: Vec<KeyPair> = (0..3)
        .map(|i| KeyPair::from_seed([70 + i; 32]).unwrap())
        .collect();
    let set = witness_set(&ws.iter().map(|k| k.public()).collect::<Vec<_>>(), 2);
    let target = BlockRef::new(c.keys.public(), 5, c.headers[4].id());

    // 1. Wrong signer: an attestation block claiming witness 0 but signed by a stranger
    //    is refused by witness 0's chain validator, so it never yields records.
    let stranger = KeyPair::from_seed([99; 32]).unwrap();
    let mut st = ChainState::new(ws[0].public()).unwrap();
    let mut prior = Vec::new();
    let (mut h, p) = attestation_block(&ws[0], &mut st.clone(), &mut prior.clone(), &[target]);
    h.signature = stranger.sign(&h.signing_message());
    assert!(matches!(
        st.verify_next(&h.to_bytes(), Some(&p), &mut prior[..]),
        Err(ChainError::BadSignature(_))
    ));

    // 2. Signers who are not designated do not count, however many.
    let outsiders: Vec<AttestationRecord> = (0..5u8)
        .map(|i| AttestationRecord {
            witness: KeyPair::from_seed([120 + i; 32]).unwrap().public(),
            witness_seq: 1,
            head: target,
        })
        .collect();
    let mut held = c.headers.clone();
    assert_eq!(
        attest::status(&set, &c.keys.public(), 5, &outsiders, &mut held[..], None),
        Status::Pending {
            attested: 0,
            needed: 2
        }
    );

    // 3. Malformed attestation payloads yield no records.
    let (h, _) = attestation_block(
        &ws[1],
        &mut ChainState::new(ws[1].public()).unwrap(),
        &mut Vec::new(),
        &[target],
    );
    assert!(attest::records_of(&h, &[0xff, 0xff]).is_err());
    let post = c.headers[0];
    assert!(
        attest::records_of(&post, &c.payloads[0]).is_err(),
        "a post is not an attestation"
    );

    // 4. Replayed from another author: heads of a different chain never count here.
    let other = TestChain::build(9, 5);
    let replayed: Vec<AttestationRecord> = ws
        .iter()
        .map(|w| AttestationRecord {
            witness: w.public(),
            witness_seq: 1,
            head: BlockRef::new(other.keys.public(), 5, other.headers[4].id()),
        })
        .collect();
    assert_eq!(
        attest::status(&set, &c.keys.public(), 5, &replayed, &mut held[..], None),
        Status::Pending {
            attested: 0,
            needed: 2
        }
    );
    // ...and the same witnesses attesting the right chain do confirm it.
    let genuine: Vec<AttestationRecord> = ws
        .iter()
        .map(|w| AttestationRecord {
            witness: w.public(),
            witness_seq: 1,
            head: target,
        })
        .collect();
    assert_eq!(
        attest::status(&set, &c.keys.public(), 5, &genuine, &mut held[..], None),
        Status::Confirmed { level: 3 }
    );
    // A later head counts for earlier blocks only through the held chain.
    assert_eq!(
        attest::status(&set, &c.keys.public(), 2, &genuine, &mut held[..], None),
        Status::Confirmed { level: 3 }
    );
    let mut short = c.headers[..4].to_vec();
    assert_eq!(
        attest::status(&set, &c.keys.public(), 2, &genuine, &mut short[..], None),
        Status::Pending {
            attested: 0,
            needed: 2
        }
    );
}
