//! The slow model of the chain rules (target `chain_verify`): whether a header and an
//! optional payload are the valid next block of a chain, restated from the README's
//! block format and "Verification" rules and the header table in
//! `core/src/wire/header.rs`, on raw bytes.
//!
//! It does not call the validator, the header decoder or glitter's hash and lipmaa
//! code. It hashes with the `sha2` crate, takes skip targets from the Bamboo
//! specification's table, checks payloads with [`crate::payload_model`], and knows a
//! signature is valid only if it is the author's deterministic Ed25519 signature of the
//! signed bytes (the harness holds the author's key; nobody else can sign for it, and
//! Ed25519 signing is deterministic, so any other signature a fuzzer makes is invalid).

use glitter_core::sig::KeyPair;
use sha2::{Digest, Sha256};

/// Header length.
pub const HEADER: usize = 212;
/// The signature domain (README: "Ed25519 over `glitter/block/v1` ‖ bytes 0..148").
pub const DOMAIN: &[u8] = b"glitter/block/v1";

/// `lipmaa(n)` for n = 1..=40, as drawn in the Bamboo specification's diagram (the
/// "spine" 1, 4, 13, 40 links back to the spine node before it).
pub const LIPMAA: [u64; 40] = [
    0, 1, 2, 1, 4, 5, 6, 4, 8, 9, 10, 8, 4, 13, 14, 15, 13, 17, 18, 19, 17, 21, 22, 23, 21, 13, 26,
    27, 28, 26, 30, 31, 32, 30, 34, 35, 36, 34, 26, 13,
];

/// The longest chain the model can check (the table's end).
pub const SEQ_LIMIT: u64 = LIPMAA.len() as u64;

/// SHA-256 of `b`.
pub fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        x.copy_from_slice(s);
    }
    u64::from_le_bytes(x)
}

fn field(b: &[u8], at: usize) -> &[u8] {
    b.get(at..at + 32).unwrap_or(&[])
}

/// The author's signature of `header`'s signed bytes.
pub fn expected_signature(keys: &KeyPair, header: &[u8]) -> [u8; 64] {
    let mut msg = DOMAIN.to_vec();
    msg.extend_from_slice(header.get(..148).unwrap_or(header));
    keys.sign(&msg)
}

/// One author's chain as the model holds it: the raw headers accepted so far.
#[derive(Clone, Debug)]
pub struct ChainModel {
    keys: KeyPair,
    headers: Vec<[u8; HEADER]>,
}

impl ChainModel {
    /// An empty chain of `keys`' author.
    pub fn new(keys: KeyPair) -> ChainModel {
        ChainModel {
            keys,
            headers: Vec::new(),
        }
    }

    /// The number of blocks held (the head's seq).
    pub fn len(&self) -> u64 {
        self.headers.len() as u64
    }

    /// True before the genesis block.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The head: seq, id, timestamp.
    pub fn head(&self) -> Option<(u64, [u8; 32], u64)> {
        self.headers
            .last()
            .map(|h| (self.len(), sha256(h), le64(h, 44)))
    }

    /// Whether `header` (and `payload`, if given) is the valid next block. With
    /// `has_source` false the validator is given no earlier headers, so a skip link
    /// that points below the head cannot be checked and the block is refused.
    pub fn accepts(&self, header: &[u8], payload: Option<&[u8]>, has_source: bool) -> bool {
        if header.len() != HEADER || self.len() >= SEQ_LIMIT {
            return false;
        }
        let (version, kind) = (header[0], header[1]);
        let payload_len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        if version != 1 || !(1..=8).contains(&kind) || payload_len > 1024 {
            return false;
        }
        if field(header, 4) != self.keys.public().0 {
            return false;
        }
        let seq = le64(header, 36);
        if seq != self.len() + 1 {
            return false;
        }
        let (prev, skip) = (field(header, 52), field(header, 84));
        match self.head() {
            None => {
                if prev != [0; 32] || skip != [0; 32] {
                    return false;
                }
            }
            Some((head_seq, head_id, head_ts)) => {
                if prev != head_id || le64(header, 44) < head_ts {
                    return false;
                }
                let target = LIPMAA[(seq - 1) as usize];
                if target != head_seq && !has_source {
                    return false;
                }
                let want = self.headers[(target - 1) as usize];
                if skip != sha256(&want) {
                    return false;
                }
            }
        }
        if let Some(p) = payload
            && (p.len() != payload_len
                || field(header, 116) != sha256(p)
                || !crate::payload_model::canonical(kind, p))
        {
            return false;
        }
        header.get(148..) == Some(&expected_signature(&self.keys, header)[..])
    }

    /// Records an accepted block.
    pub fn push(&mut self, header: &[u8]) {
        let mut h = [0u8; HEADER];
        h.copy_from_slice(header);
        self.headers.push(h);
    }
}
