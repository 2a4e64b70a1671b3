//! Valid objects the targets start from, built once through the crates' public APIs:
//! keys, sample payloads of every kind, and chains (with [`BlockBuilder`], the one
//! append path). Chains are [`glitter_tests::TestChain`]s, the shape the cross-crate
//! tests use.

use glitter_core::BlockBuilder;
use glitter_core::chain::ChainState;
use glitter_core::hash::Hash;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::manifest::ShardRange;
use glitter_core::social::{
    Attestation, BackupManifest, BlockRef, Claim, ClaimBackend, ClaimStatement, Follow, Payload,
    Trust, TrustRole, Unfollow,
};
use glitter_core::wire::header::Header;
use glitter_tests::{T0_MS, TestChain};

/// The key pair from the seed `[seed; 32]` (the keys `TestChain::build` uses).
pub fn keys(seed: u8) -> KeyPair {
    // A non-zero seed is always a key pair.
    KeyPair::from_seed([seed.max(1); 32]).unwrap_or_else(|_| unreachable!("non-zero seed"))
}

/// One payload of every kind, and a few more, for `author`'s chain: each is valid and
/// canonical (the chain validator accepts every one of them).
pub fn sample_payloads(author: &PublicKey) -> Vec<Payload> {
    let other = keys(200).public();
    let r = BlockRef::new(other, 3, Hash([7; 32]));
    let mut heads = heapless::Vec::new();
    let _ = heads.push(r);
    let _ = heads.push(BlockRef::new(*author, 1, Hash([8; 32])));
    let manifest = BackupManifest {
        version: 2,
        threshold: 2,
        salt: [5; 16],
        custodians: heapless::Vec::from_slice(&[[1; 8], [2; 8], [3; 8]]).unwrap_or_default(),
        commitments: heapless::Vec::from_slice(&[[4; 16], [5; 16], [6; 16]]).unwrap_or_default(),
        ranges: heapless::Vec::from_slice(&[ShardRange {
            first_seq: 1,
            last_seq: 300,
            version: 1,
            ciphertext_len: 70_000,
            root: [9; 32],
        }])
        .unwrap_or_default(),
    };
    let claim = Claim {
        backend: ClaimBackend::Dalek,
        statement: ClaimStatement::RingMember {
            members: heapless::Vec::from_slice(&[author.0, other.0]).unwrap_or_default(),
        },
        context: heapless::Vec::from_slice(b"glitter/fuzz").unwrap_or_default(),
        message: heapless::Vec::from_slice(&[0xAB; 32]).unwrap_or_default(),
        proof: heapless::Vec::from_slice(&[0x11; 96]).unwrap_or_default(),
    };
    let text = |s: &str| Payload::post(s, None).unwrap_or_else(|_| unreachable!("short text"));
    vec![
        Payload::profile("Ada", "héllo, wörld ✓").unwrap_or_else(|_| unreachable!("short")),
        text("first post"),
        Payload::post("a reply", Some(r)).unwrap_or_else(|_| unreachable!("short")),
        Payload::Follow(Follow { author: other.0 }),
        Payload::Trust(Trust {
            subject: other.0,
            role: TrustRole::Witness,
            threshold: 2,
        }),
        Payload::Attestation(Attestation { heads }),
        Payload::Unfollow(Unfollow { author: other.0 }),
        Payload::BackupManifest(manifest),
        Payload::Claim(claim),
        text(""),
        Payload::Trust(Trust {
            subject: other.0,
            role: TrustRole::Revoke,
            threshold: 0,
        }),
        text(&"x".repeat(512)),
    ]
}

/// `keys`' chain with `payloads` in order, one second apart from `t0_ms`.
pub fn build_chain(keys: KeyPair, payloads: &[Payload], t0_ms: u64) -> TestChain {
    extend_chain(
        &TestChain {
            keys,
            headers: Vec::new(),
            payloads: Vec::new(),
        },
        0,
        payloads,
        t0_ms,
    )
}

/// The first `keep` blocks of `base`, then `payloads` (a fork of `base` when they
/// differ from its blocks after `keep`), one second apart from `t0_ms`.
pub fn extend_chain(base: &TestChain, keep: usize, payloads: &[Payload], t0_ms: u64) -> TestChain {
    let keys = base.keys.clone();
    let mut headers: Vec<Header> = base.headers.iter().take(keep).copied().collect();
    let mut bytes: Vec<Vec<u8>> = base.payloads.iter().take(keep).cloned().collect();
    let head = headers.last().map(|h| glitter_core::chain::Head {
        seq: h.seq,
        id: h.id(),
        timestamp_ms: h.timestamp_ms,
    });
    let state = ChainState::resume(keys.public(), head)
        .unwrap_or_else(|e| unreachable!("fixture keys are valid: {e}"));
    let mut b = BlockBuilder::new(keys.clone(), state)
        .unwrap_or_else(|e| unreachable!("the state is the keys' own: {e}"));
    for (i, p) in payloads.iter().enumerate() {
        let at = t0_ms + 1000 * i as u64;
        let (h, p) = b
            .next(p, at, headers.as_mut_slice())
            .unwrap_or_else(|e| unreachable!("a sample payload builds: {e}"));
        bytes.push(p.to_vec());
        headers.push(h);
    }
    TestChain {
        keys,
        headers,
        payloads: bytes,
    }
}

/// A chain of `n` blocks by `[seed; 32]` cycling through [`sample_payloads`].
pub fn mixed_chain(seed: u8, n: usize) -> TestChain {
    let k = keys(seed);
    let samples = sample_payloads(&k.public());
    let payloads: Vec<Payload> = (0..n)
        .map(|i| {
            samples
                .get(i % samples.len())
                .cloned()
                .unwrap_or_else(|| unreachable!())
        })
        .collect();
    build_chain(k, &payloads, T0_MS)
}

/// `n` posts by `[seed; 32]` ("post i"), as [`TestChain::build`] makes them.
pub fn posts(seed: u8, n: usize) -> TestChain {
    TestChain::build(seed, n)
}

/// The first `n` blocks of `chain` as a new `TestChain`.
pub fn prefix(chain: &TestChain, n: usize) -> TestChain {
    TestChain {
        keys: chain.keys.clone(),
        headers: chain.headers.iter().take(n).copied().collect(),
        payloads: chain.payloads.iter().take(n).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glitter_core::social::Payload;

    #[test]
    fn every_kind_is_sampled_and_chains_verify() {
        let c = mixed_chain(9, 14);
        let kinds: std::collections::BTreeSet<_> = c.headers.iter().map(|h| h.kind).collect();
        assert_eq!(kinds.len(), glitter_core::BlockKind::ALL.len());
        assert_eq!(c.state_after(14).head().map(|h| h.seq), Some(14));
        for (h, p) in c.headers.iter().zip(&c.payloads) {
            assert!(Payload::decode(h.kind, p).is_ok());
        }
        let fork = extend_chain(&c, 5, &[Payload::post("other", None).unwrap()], T0_MS + 1);
        assert_eq!(fork.headers.len(), 6);
        assert_eq!(fork.headers[4], c.headers[4]);
        assert_ne!(fork.headers[5].id(), c.headers[5].id());
        assert_eq!(fork.state_after(6).head().map(|h| h.seq), Some(6));
    }
}
