//! Claims on a chain: Alice publishes claims as blocks, a verifier checks them from the
//! header and payload as they travel, tampered and replayed claims fail, and the
//! on-chain size limits hold.

mod zk_common;

use glitter_core::BlockBuilder;
use glitter_core::chain::ChainState;
use glitter_core::sig::KeyPair;
use glitter_core::social::Payload;
use glitter_core::wire::header::{BlockKind, Header, PAYLOAD_LEN_MAX};
use glitter_core::zk::{
    CLAIM_POST_COUNT_MAX, CLAIM_RING_MEMBERS_MAX, Claim, ClaimBackend, ClaimBlockError,
    ClaimStatement, PostCountWitness, ZkError, verify_claim_block,
};
use zk_common::{identity, ring, rng};

const EPOCH_MS: u64 = 1_767_225_600_000;

struct Chain {
    builder: BlockBuilder,
    headers: Vec<Header>,
    payloads: Vec<Vec<u8>>,
}

impl Chain {
    fn new(keys: &KeyPair) -> Chain {
        Chain {
            builder: BlockBuilder::new(keys.clone(), ChainState::new(keys.public()).unwrap())
                .unwrap(),
            headers: Vec::new(),
            payloads: Vec::new(),
        }
    }

    fn append(&mut self, p: &Payload) -> (Header, Vec<u8>) {
        let t = EPOCH_MS + 60_000 * self.headers.len() as u64;
        let (h, bytes) = self
            .builder
            .next(p, t, self.headers.as_mut_slice())
            .unwrap();
        let bytes = bytes.to_vec();
        self.headers.push(h);
        self.payloads.push(bytes.clone());
        (h, bytes)
    }

    /// Re-validates the whole chain from its bytes, as a receiving peer does.
    fn replay(&self, author: &KeyPair) {
        let mut state = ChainState::new(author.public()).unwrap();
        let mut seen: Vec<Header> = Vec::new();
        for (h, p) in self.headers.iter().zip(&self.payloads) {
            let h = state
                .verify_next(&h.to_bytes(), Some(p), seen.as_mut_slice())
                .unwrap();
            seen.push(h);
        }
    }
}

fn encoded_len(claim: &Claim) -> usize {
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    Payload::Claim(claim.clone())
        .encode(&mut buf)
        .unwrap()
        .len()
}

#[test]
fn alice_publishes_claims_and_anyone_verifies_them() {
    let mut r = rng(40);
    let alice = identity(&mut r);
    let (ring_pairs, mut members) = ring(&mut r, CLAIM_RING_MEMBERS_MAX - 1);
    members.push(alice.public());
    let mut chain = Chain::new(&alice);
    for i in 0..5 {
        chain.append(&Payload::post(&format!("post {i}"), None).unwrap());
    }
    let witness = PostCountWitness::new(alice.clone(), &chain.headers);
    let me = alice.public();
    let claims = [
        Claim::knows_key(
            ClaimBackend::Dalek,
            &me,
            &alice,
            b"glitter/demo",
            b"hello",
            &mut r,
        )
        .unwrap(),
        Claim::knows_key(
            ClaimBackend::Placeholder,
            &me,
            &alice,
            b"glitter/demo",
            b"",
            &mut r,
        )
        .unwrap(),
        Claim::ring_member(
            ClaimBackend::Dalek,
            &me,
            &members,
            &alice,
            b"glitter/demo",
            b"one of us",
            &mut r,
        )
        .unwrap(),
        Claim::ring_member(
            ClaimBackend::Placeholder,
            &me,
            &members[..3],
            &ring_pairs[1],
            b"",
            b"",
            &mut r,
        )
        .unwrap(),
        Claim::post_count(
            &me,
            &witness,
            CLAIM_POST_COUNT_MAX as u16,
            b"glitter/demo",
            b"veteran",
            &mut r,
        )
        .unwrap(),
    ];
    for claim in &claims {
        let len = encoded_len(claim);
        assert!(len <= PAYLOAD_LEN_MAX, "{len}");
        let (h, bytes) = chain.append(&Payload::Claim(claim.clone()));
        assert_eq!(h.kind, BlockKind::Claim);
        assert_eq!(verify_claim_block(&h, &bytes).as_ref(), Ok(claim));
    }
    chain.replay(&alice);

    println!(
        "claim sizes: {:?}",
        claims.iter().map(encoded_len).collect::<Vec<_>>()
    );
}

#[test]
fn tampered_and_replayed_claims_fail() {
    let mut r = rng(41);
    let alice = identity(&mut r);
    let mallory = identity(&mut r);
    let mut alice_chain = Chain::new(&alice);
    let claim = Claim::knows_key(
        ClaimBackend::Dalek,
        &alice.public(),
        &alice,
        b"glitter/demo",
        b"hello",
        &mut r,
    )
    .unwrap();
    let (h, bytes) = alice_chain.append(&Payload::Claim(claim.clone()));
    assert!(verify_claim_block(&h, &bytes).is_ok());

    // Bytes flipped in transit: the payload no longer matches the signed header.
    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(
        verify_claim_block(&h, &flipped),
        Err(ZkError::Block(ClaimBlockError::PayloadHashMismatch))
    );
    let mut bad_header = h;
    bad_header.signature[3] ^= 1;
    assert!(matches!(
        verify_claim_block(&bad_header, &bytes),
        Err(ZkError::Block(ClaimBlockError::BadSignature(_)))
    ));

    // Alice herself publishes a tampered proof (validly signed block): the proof fails.
    for i in [0, 17, 40, 63] {
        let mut tampered = claim.clone();
        tampered.proof[i] ^= 0x01;
        let (h, bytes) = alice_chain.append(&Payload::Claim(tampered));
        let got = verify_claim_block(&h, &bytes);
        assert!(
            matches!(got, Err(ZkError::Rejected | ZkError::NonCanonicalScalar)),
            "byte {i}: {got:?}"
        );
    }
    // ... or changes the message after proving.
    let mut other_message = claim.clone();
    other_message.message[0] ^= 1;
    let (h, bytes) = alice_chain.append(&Payload::Claim(other_message));
    assert_eq!(verify_claim_block(&h, &bytes), Err(ZkError::Rejected));

    // Mallory copies Alice's claim onto her own chain: "I know Alice's key". The
    // proof is bound to its publisher, so the copy fails.
    let mut mallory_chain = Chain::new(&mallory);
    let (h, bytes) = mallory_chain.append(&Payload::Claim(claim.clone()));
    assert_eq!(verify_claim_block(&h, &bytes), Err(ZkError::Rejected));
    assert_eq!(claim.verify(&mallory.public()), Err(ZkError::Rejected));
    assert_eq!(claim.verify(&alice.public()), Ok(()));

    // A block of another kind is not a claim.
    let (h, bytes) = alice_chain.append(&Payload::post("hi", None).unwrap());
    assert_eq!(
        verify_claim_block(&h, &bytes),
        Err(ZkError::NotAClaim(BlockKind::Post))
    );

    // The real backend has no post-count proof.
    let mut unsupported = claim.clone();
    unsupported.statement = ClaimStatement::PostCount {
        author: alice.public().0,
        posts: 1,
    };
    assert_eq!(
        unsupported.verify(&alice.public()),
        Err(ZkError::Unsupported)
    );
}

#[test]
fn on_chain_limits() {
    let mut r = rng(42);
    let alice = identity(&mut r);
    let me = alice.public();
    let (_, mut members) = ring(&mut r, CLAIM_RING_MEMBERS_MAX);
    members[0] = me;
    // Longest context and message with the largest ring: fits.
    let ctx = [b'c'; 32];
    let msg = [b'm'; 32];
    let claim = Claim::ring_member(
        ClaimBackend::Dalek,
        &me,
        &members,
        &alice,
        &ctx,
        &msg,
        &mut r,
    )
    .unwrap();
    assert_eq!(encoded_len(&claim), 999, "docs/ZK.md quotes this size");
    let placeholder_ring = Claim::ring_member(
        ClaimBackend::Placeholder,
        &me,
        &members,
        &alice,
        &ctx,
        &msg,
        &mut r,
    )
    .unwrap();
    assert_eq!(encoded_len(&placeholder_ring), 583, "docs/ZK.md");
    for backend in [ClaimBackend::Dalek, ClaimBackend::Placeholder] {
        let k = Claim::knows_key(backend, &me, &alice, &ctx, &msg, &mut r).unwrap();
        assert_eq!(encoded_len(&k), 165, "docs/ZK.md");
    }
    // One member more does not.
    let (_, more) = ring(&mut r, 1);
    members.push(more[0]);
    assert!(matches!(
        Claim::ring_member(
            ClaimBackend::Dalek,
            &me,
            &members,
            &alice,
            &ctx,
            &msg,
            &mut r
        ),
        Err(ZkError::RingSize {
            members: 15,
            max: 14
        })
    ));
    // Context and message bounds.
    assert!(matches!(
        Claim::knows_key(ClaimBackend::Dalek, &me, &alice, &[0; 33], b"", &mut r),
        Err(ZkError::ClaimFieldTooLong { len: 33, max: 32 })
    ));
    assert!(matches!(
        Claim::knows_key(ClaimBackend::Dalek, &me, &alice, b"", &[0; 33], &mut r),
        Err(ZkError::ClaimFieldTooLong { len: 33, max: 32 })
    ));
    // Post counts: 4 fit with the longest fields, 5 do not.
    let mut chain = Chain::new(&alice);
    for i in 0..6 {
        chain.append(&Payload::post(&format!("{i}"), None).unwrap());
    }
    let witness = PostCountWitness::new(alice.clone(), &chain.headers);
    let four = Claim::post_count(&me, &witness, 4, &ctx, &msg, &mut r).unwrap();
    assert_eq!(encoded_len(&four), 1015, "docs/ZK.md quotes this size");
    assert!(matches!(
        Claim::post_count(&me, &witness, 5, &ctx, &msg, &mut r),
        Err(ZkError::ClaimFieldTooLong { .. })
    ));
    // Decoding is canonical: an over-long varint for the context length is refused.
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let small = Claim::knows_key(ClaimBackend::Dalek, &me, &alice, b"", b"", &mut r).unwrap();
    let bytes = Payload::Claim(small.clone())
        .encode(&mut buf)
        .unwrap()
        .to_vec();
    assert_eq!(Claim::decode(&bytes), Ok(small));
    let mut extra = bytes.clone();
    extra.push(0);
    assert!(Claim::decode(&extra).is_err());
}

/// Every byte of a claim is bound: any single-byte change to an encoded claim either
/// fails to decode or gives a claim that does not verify.
#[test]
fn every_claim_byte_is_bound() {
    let mut r = rng(43);
    let alice = identity(&mut r);
    let me = alice.public();
    let (_, mut members) = ring(&mut r, 5);
    members[2] = me;
    let mut chain = Chain::new(&alice);
    for i in 0..3 {
        chain.append(&Payload::post(&format!("{i}"), None).unwrap());
    }
    let witness = PostCountWitness::new(alice.clone(), &chain.headers);
    let claims = [
        Claim::knows_key(ClaimBackend::Dalek, &me, &alice, b"ctx", b"msg", &mut r).unwrap(),
        Claim::knows_key(
            ClaimBackend::Placeholder,
            &me,
            &alice,
            b"ctx",
            b"msg",
            &mut r,
        )
        .unwrap(),
        Claim::ring_member(
            ClaimBackend::Dalek,
            &me,
            &members,
            &alice,
            b"ctx",
            b"msg",
            &mut r,
        )
        .unwrap(),
        Claim::ring_member(
            ClaimBackend::Placeholder,
            &me,
            &members,
            &alice,
            b"ctx",
            b"msg",
            &mut r,
        )
        .unwrap(),
        Claim::post_count(&me, &witness, 2, b"ctx", b"msg", &mut r).unwrap(),
    ];
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    for claim in &claims {
        let bytes = Payload::Claim(claim.clone())
            .encode(&mut buf)
            .unwrap()
            .to_vec();
        assert_eq!(Claim::decode(&bytes).unwrap().verify(&me), Ok(()));
        for pos in 0..bytes.len() {
            for delta in [1u8, 0x80] {
                let mut bad = bytes.clone();
                bad[pos] ^= delta;
                if let Ok(decoded) = Claim::decode(&bad) {
                    assert_ne!(&decoded, claim);
                    assert!(
                        decoded.verify(&me).is_err(),
                        "byte {pos} ^ {delta:#x} of a {:?} claim still verifies",
                        claim.backend
                    );
                }
            }
        }
    }
}
