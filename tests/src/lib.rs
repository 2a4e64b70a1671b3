//! Shared helpers for glitter's cross-crate tests: building valid chains, and crafting
//! arbitrary (re-signed) headers for invalid-block corpora.

use glitter_core::chain::ChainState;
use glitter_core::sig::KeyPair;
use glitter_core::social::Payload;
use glitter_core::wire::header::Header;

/// A chain built by its author: keys, headers (seq order) and payloads.
#[derive(Clone, Debug)]
pub struct TestChain {
    /// The author's keys.
    pub keys: KeyPair,
    /// Headers, seq 1 first.
    pub headers: Vec<Header>,
    /// Encoded payloads, parallel to `headers`.
    pub payloads: Vec<Vec<u8>>,
}

/// Milliseconds at which test chains start: 2026-01-01T00:00:00Z.
pub const T0_MS: u64 = 1_767_225_600_000;

impl TestChain {
    /// Builds a chain of `n` posts by the key from `seed`, one second apart.
    pub fn build(seed: u8, n: usize) -> TestChain {
        let keys = KeyPair::from_seed([seed; 32]).unwrap();
        let mut state = ChainState::new(keys.public()).unwrap();
        let mut headers = Vec::with_capacity(n);
        let mut payloads = Vec::with_capacity(n);
        let mut buf = [0u8; 1024];
        for i in 0..n {
            let p = Payload::post(&format!("post {i} by {seed}"), None).unwrap();
            let bytes = p.encode(&mut buf).unwrap().to_vec();
            let h = state
                .append(
                    &keys,
                    p.kind(),
                    T0_MS + 1000 * i as u64,
                    &bytes,
                    headers.as_mut_slice(),
                )
                .unwrap();
            headers.push(h);
            payloads.push(bytes);
        }
        TestChain {
            keys,
            headers,
            payloads,
        }
    }

    /// A fresh validator holding the first `k` blocks (verified through `verify_next`).
    pub fn state_after(&self, k: usize) -> ChainState {
        let mut s = ChainState::new(self.keys.public()).unwrap();
        for i in 0..k {
            s.verify_next(
                &self.headers[i].to_bytes(),
                Some(&self.payloads[i]),
                &mut self.headers[..i].to_vec()[..],
            )
            .unwrap();
        }
        s
    }
}

/// Re-signs `h` with `keys` (after the caller changed fields).
pub fn resign(mut h: Header, keys: &KeyPair) -> Header {
    h.signature = keys.sign(&h.signing_message());
    h
}
