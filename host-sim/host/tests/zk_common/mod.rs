//! Set-up shared by the host's one-out-of-many tests and bench: key sets in the order
//! a set statement needs (strictly increasing public keys).

#![allow(dead_code)]

use glitter_core::sig::{KeyPair, PublicKey};

/// `n` key pairs (seed: `salt` bytes with the index + 1 in the first eight), sorted
/// by public key, and their public keys in that order.
pub fn sorted_set(n: usize, salt: u8) -> (Vec<KeyPair>, Vec<PublicKey>) {
    let mut pairs: Vec<KeyPair> = (0..n)
        .map(|i| {
            let mut seed = [salt; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            KeyPair::from_seed(seed).expect("a seed makes a key pair")
        })
        .collect();
    pairs.sort_by_key(|k| k.public());
    let keys = pairs.iter().map(|k| k.public()).collect();
    (pairs, keys)
}
