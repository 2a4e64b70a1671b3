//! Property tests: encoding round trips, bit flips, fork proofs and certificate paths.

use glitter_core::chain::{ChainState, ForkError, ForkProof, verify_cert_path};
use glitter_core::hash::Hash;
use glitter_core::lipmaa::{CertPath, cert_path_hops, lipmaa};
use glitter_core::sig::PublicKey;
use glitter_core::social::{BlockRef, Payload};
use glitter_core::wire::header::{BlockKind, Header, VERSION};
use glitter_tests::{TestChain, resign};
use proptest::prelude::*;
use std::sync::OnceLock;

fn arb_header() -> impl Strategy<Value = Header> {
    (
        0usize..6,
        any::<[u8; 32]>(),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        0u16..=1024,
        any::<[u8; 32]>(),
        prop::collection::vec(any::<u8>(), 64),
    )
        .prop_map(|(k, a, seq, ts, prev, skip, len, ph, sig)| Header {
            version: VERSION,
            kind: BlockKind::ALL[k],
            author: PublicKey(a),
            seq,
            timestamp_ms: ts,
            prev: Hash(prev),
            skip: Hash(skip),
            payload_len: len,
            payload_hash: Hash(ph),
            signature: sig.try_into().unwrap(),
        })
}

/// A chain used by several properties (building it signs every block once).
fn chain() -> &'static TestChain {
    static C: OnceLock<TestChain> = OnceLock::new();
    C.get_or_init(|| TestChain::build(3, 64))
}

/// A 100,000-block chain for certificate paths: headers only matter here.
fn long_chain() -> &'static TestChain {
    static C: OnceLock<TestChain> = OnceLock::new();
    C.get_or_init(|| TestChain::build(4, 100_000))
}

/// Breadth-first shortest path length from n down to x over prev and skip links: the
/// oracle for [`CertPath`].
fn bfs_hops(n: u64, x: u64) -> usize {
    let span = (n - x) as usize;
    let mut dist = vec![usize::MAX; span + 1];
    dist[span] = 0; // index v - x
    for v in (x..=n).rev() {
        let d = dist[(v - x) as usize];
        if d == usize::MAX || v == x {
            continue;
        }
        for w in [v - 1, lipmaa(v)] {
            if w >= x {
                let e = &mut dist[(w - x) as usize];
                *e = (*e).min(d + 1);
            }
        }
    }
    dist[0]
}

fn ceil_log2(n: u64) -> usize {
    64 - (n - 1).leading_zeros() as usize
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn header_roundtrip(h in arb_header()) {
        let b = h.to_bytes();
        prop_assert_eq!(Header::decode(&b), Ok(h));
        prop_assert_eq!(Header::decode(&b).unwrap().to_bytes(), b);
    }

    #[test]
    fn post_roundtrip(text in "\\PC{0,120}", reply in proptest::option::of((any::<[u8;32]>(), any::<u64>(), any::<[u8;32]>()))) {
        prop_assume!(text.len() <= 512);
        let reply_to = reply.map(|(a, s, i)| BlockRef { author: a, seq: s, id: i });
        let p = Payload::post(&text, reply_to).unwrap();
        let mut buf = [0u8; 1024];
        let bytes = p.encode(&mut buf).unwrap().to_vec();
        prop_assert_eq!(Payload::decode(BlockKind::Post, &bytes), Ok(p));
    }

    #[test]
    fn any_bit_flip_in_header_or_payload_is_rejected(pos in 1usize..40, bit in 0usize..((212 + 16) * 8)) {
        let c = chain();
        let held = pos - 1;
        let mut state = c.state_after(held);
        let mut h = c.headers[held].to_bytes().to_vec();
        let mut p = c.payloads[held].clone();
        let byte = bit / 8;
        if byte < 212 {
            h[byte] ^= 1 << (bit % 8);
        } else {
            let i = (byte - 212) % p.len();
            p[i] ^= 1 << (bit % 8);
        }
        let mut src = c.headers[..held].to_vec();
        prop_assert!(state.verify_next(&h, Some(&p), &mut src[..]).is_err());
    }

    #[test]
    fn fork_proof_verifies_iff_real_fork(
        seq_a in 1usize..20, same_seq in any::<bool>(), same_author in any::<bool>(),
        same_block in any::<bool>(), sign_b in any::<bool>(), swap in any::<bool>(),
    ) {
        let c = chain();
        let other = TestChain::build(9, 20);
        let a = c.headers[seq_a - 1];
        let mut b = if same_author { c.headers[seq_a - 1] } else { other.headers[seq_a - 1] };
        if !same_seq {
            b = if same_author { c.headers[seq_a % 20] } else { other.headers[seq_a % 20] };
        }
        if !same_block {
            b.timestamp_ms += 7;
            if sign_b {
                b = resign(b, if same_author { &c.keys } else { &other.keys });
            }
        }
        let real = same_author && same_seq && !same_block && sign_b;
        let (x, y) = if swap { (b, a) } else { (a, b) };
        let r = ForkProof::new(x, y);
        prop_assert_eq!(r.is_ok(), real, "{:?}", r);
        if let Ok(p) = r {
            let bytes = p.to_bytes();
            prop_assert_eq!(ForkProof::decode(&bytes), Ok(p));
            // The swapped (non-canonical) encoding is refused.
            let mut sw = bytes;
            sw.rotate_left(212);
            prop_assert_eq!(ForkProof::decode(&sw), Err(ForkError::NonCanonical));
        }
    }

    #[test]
    fn cert_paths_are_shortest_and_bounded(n in 2u64..=100_000, frac in 0.0f64..1.0) {
        let x = 1 + ((n - 1) as f64 * frac) as u64;
        let hops = cert_path_hops(n, x);
        prop_assert!(hops <= 3 * ceil_log2(n), "n={} x={} hops={}", n, x, hops);
        if n - x <= 20_000 {
            prop_assert_eq!(hops, bfs_hops(n, x), "n={} x={}", n, x);
        }
    }

    #[test]
    fn cert_paths_verify_on_a_real_chain(n in 2u64..=100_000, frac in 0.0f64..1.0, tamper in any::<bool>()) {
        let c = long_chain();
        let x = 1 + ((n - 1) as f64 * frac) as u64;
        let mut path: Vec<Header> = CertPath::new(n, x).map(|s| c.headers[s as usize - 1]).collect();
        let head = c.headers[n as usize - 1].id();
        if tamper && path.len() > 1 {
            let i = path.len() / 2;
            path[i].timestamp_ms ^= 1;
            prop_assert!(verify_cert_path(&head, x, path).is_err());
        } else {
            let got = verify_cert_path(&head, x, path).unwrap();
            prop_assert_eq!(got, c.headers[x as usize - 1]);
        }
    }
}

#[test]
fn cert_path_bound_holds_exhaustively_up_to_2000() {
    // Every (n, x) pair with n ≤ 2,000: greedy equals BFS on a sample, bound always.
    for n in 2u64..=2000 {
        for x in 1..=n {
            assert!(cert_path_hops(n, x) <= 3 * ceil_log2(n), "n={n} x={x}");
        }
        let x = 1 + n / 3;
        assert_eq!(cert_path_hops(n, x), bfs_hops(n, x));
    }
}

#[test]
fn cert_path_rejects_wrong_head_and_order() {
    let c = chain();
    let path: Vec<Header> = CertPath::new(40, 5)
        .map(|s| c.headers[s as usize - 1])
        .collect();
    assert!(verify_cert_path(&c.headers[38].id(), 5, path.clone()).is_err());
    let mut rev = path.clone();
    rev.reverse();
    assert!(verify_cert_path(&c.headers[39].id(), 5, rev).is_err());
    let mut short = path.clone();
    short.pop();
    assert!(verify_cert_path(&c.headers[39].id(), 5, short).is_err());
    assert!(verify_cert_path(&c.headers[39].id(), 5, path).is_ok());
    let _ = ChainState::new(c.keys.public());
}
