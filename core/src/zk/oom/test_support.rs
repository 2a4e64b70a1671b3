//! Set-up shared by the one-out-of-many tests: seeded randomness and sorted key sets.

extern crate std;

use super::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::vec::Vec;

/// A deterministic generator for one test.
pub(super) fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A uniformly random scalar.
pub(super) fn random_scalar(r: &mut ChaCha20Rng) -> Scalar {
    let mut wide = [0u8; 64];
    rand_core::Rng::fill_bytes(r, &mut wide);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// `n` key pairs (seeds from `salt` and the index), sorted by public key.
pub(super) fn set(n: usize, salt: u8) -> (Vec<KeyPair>, Vec<PublicKey>) {
    let mut pairs: Vec<KeyPair> = (0..n)
        .map(|i| {
            let mut seed = [salt; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            KeyPair::from_seed(seed).unwrap()
        })
        .collect();
    pairs.sort_by_key(|k| k.public());
    let keys = pairs.iter().map(|k| k.public()).collect();
    (pairs, keys)
}

/// A proof's wire bytes.
pub(super) fn bytes(p: &OneOfManyProof) -> Vec<u8> {
    let mut buf = [0u8; OneOfManyProof::ENCODED_LEN_MAX];
    let len = p.emit(&mut buf).unwrap();
    buf[..len].to_vec()
}
