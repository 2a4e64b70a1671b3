//! Helpers shared by the `zk_*` suites: seeded randomness and random identities.

#![allow(dead_code)]

use glitter_core::sig::{KeyPair, PublicKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// A deterministic CSPRNG from a small seed. Print the seed on failure to replay.
pub fn rng(seed: u64) -> ChaCha20Rng {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[8..].copy_from_slice(b"glitter/zk/tests/seed/00");
    ChaCha20Rng::from_seed(s)
}

/// A random identity.
pub fn identity(rng: &mut ChaCha20Rng) -> KeyPair {
    loop {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        if let Ok(k) = KeyPair::from_seed(seed) {
            return k;
        }
    }
}

/// `n` random identities and their public keys.
pub fn ring(rng: &mut ChaCha20Rng, n: usize) -> (Vec<KeyPair>, Vec<PublicKey>) {
    let pairs: Vec<KeyPair> = (0..n).map(|_| identity(rng)).collect();
    let keys = pairs.iter().map(KeyPair::public).collect();
    (pairs, keys)
}

/// A uniformly random index below `n`.
pub fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

/// The 8 encodings of small-order points (canonical ones), from RFC 7748 / "Taming
/// the many EdDSAs": identity, order 2, two of order 4, four of order 8.
pub fn small_order_points() -> Vec<[u8; 32]> {
    [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    ]
    .iter()
    .map(|h| hex::decode(h).unwrap().try_into().unwrap())
    .collect()
}

/// The group order ℓ, little-endian.
pub fn ell() -> [u8; 32] {
    hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
        .unwrap()
        .try_into()
        .unwrap()
}

/// `a + b` for little-endian 256-bit numbers (wrapping; callers keep it below 2^256).
pub fn add_le(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = a[i] as u16 + b[i] as u16 + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}
