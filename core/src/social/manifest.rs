//! The `BackupManifest` payload: the owner-signed index of a backup.
//!
//! A manifest is the payload of a
//! [`BlockKind::BackupManifest`](crate::wire::header::BlockKind::BackupManifest) block
//! on the owner's chain, so the owner's signature covers it and its place in the chain
//! orders it: the manifest at the highest seq supersedes every earlier one.
//!
//! | field         | postcard type                  | bytes (n = 16, 8 ranges, worst case) |
//! |---------------|--------------------------------|-------------------------------------:|
//! | `version`     | varint u64                     | ≤ 10 |
//! | `threshold`   | u8                             | 1 |
//! | `salt`        | `[u8; 16]`                     | 16 |
//! | `custodians`  | `Vec<[u8; 8], 16>` key hints   | 1 + 128 |
//! | `commitments` | `Vec<[u8; 16], 16>`            | 1 + 256 |
//! | `ranges`      | `Vec<ShardRange, 8>`           | 1 + 8 × (3 × 10 + 5 + 32) |
//!
//! Worst case 950 bytes, under the 1024-byte payload bound (a test pins it).
//!
//! Only the data and its structural rules ([`BackupManifest::validate`]) are here, one
//! layer below the chain validator. What the commitments and roots commit to, and why
//! the manifest is so compact, is told with the code that makes and checks them, in
//! the backup layer.
//!
//! The manifest reveals the number of custodians, the threshold, the hints, and the
//! backed-up seq ranges and their sizes; nothing about the seed or the chain's text.

use crate::sig::PublicKey;
use heapless::Vec;
use serde::{Deserialize, Serialize};

/// The most seq ranges one manifest lists; past that, the next backup is a full one.
pub const RANGES_MAX: usize = 8;
/// Bytes of a custodian hint (a key prefix).
pub const HINT_LEN: usize = 8;
/// The most custodians one manifest lists (n ≤ 16; the backup layer's share bound is
/// the same number).
pub const CUSTODIANS_MAX: usize = 16;
/// The shortest ciphertext a range may declare: one AEAD tag (an empty export).
pub const RANGE_CIPHERTEXT_LEN_MIN: usize = 16;

/// One incremental piece of the chain backup: blocks `first_seq..=last_seq`,
/// encrypted and erasure-coded in backup `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShardRange {
    /// The first seq in the range.
    pub first_seq: u64,
    /// The last seq in the range.
    pub last_seq: u64,
    /// The backup version that encrypted and sharded this range (its key's context).
    pub version: u64,
    /// Bytes of ciphertext (export plus the 16-byte tag) that the shards encode.
    pub ciphertext_len: u32,
    /// SHA-256 over the range's shard table, which lists every shard's hash (the
    /// backup layer computes it), so this one value commits to all `n` shards.
    pub root: [u8; 32],
}

/// The manifest of one backup version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BackupManifest {
    /// The backup version: 1 for the first backup, +1 for each later one.
    pub version: u64,
    /// k: shares (and shards) needed to restore.
    pub threshold: u8,
    /// Fresh per backup; bound into every share.
    pub salt: [u8; 16],
    /// Custodian `i` (share index i + 1, shard index i): the first [`HINT_LEN`] bytes of
    /// its key.
    pub custodians: Vec<[u8; HINT_LEN], CUSTODIANS_MAX>,
    /// Commitment to share `i + 1`: a truncated hash of the share and everything it
    /// is bound to, including the custodian's full key.
    pub commitments: Vec<[u8; 16], CUSTODIANS_MAX>,
    /// The chain ranges, contiguous from seq 1.
    pub ranges: Vec<ShardRange, RANGES_MAX>,
}

/// Why a manifest is not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ManifestError {
    /// Version 0.
    VersionZero,
    /// k and n outside 2 ≤ k ≤ n ≤ 16, or hints and commitments of different lengths.
    BadThreshold {
        /// The threshold.
        k: u8,
        /// The number of custodians.
        n: usize,
    },
    /// Ranges do not start at seq 1, or leave a gap, or overlap, or run backwards.
    RangesNotContiguous {
        /// The index of the first bad range.
        range: usize,
    },
    /// A range claims a version above the manifest's.
    RangeFromFuture {
        /// The index of the bad range.
        range: usize,
    },
    /// A range's ciphertext is shorter than an AEAD tag.
    RangeTooShort {
        /// The index of the bad range.
        range: usize,
    },
    /// Two custodians share a hint (the owner must pick distinct custodians).
    DuplicateCustodian,
}

impl core::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ManifestError::VersionZero => f.write_str("backup version 0"),
            ManifestError::BadThreshold { k, n } => {
                write!(
                    f,
                    "threshold {k} of {n} custodians outside 2 <= k <= n <= 16"
                )
            }
            ManifestError::RangesNotContiguous { range } => {
                write!(f, "range #{range} does not continue the ranges before it")
            }
            ManifestError::RangeFromFuture { range } => {
                write!(f, "range #{range} claims a later backup version")
            }
            ManifestError::RangeTooShort { range } => {
                write!(f, "range #{range} is shorter than an AEAD tag")
            }
            ManifestError::DuplicateCustodian => f.write_str("two custodians with one key hint"),
        }
    }
}

impl core::error::Error for ManifestError {}

/// The hint of a custodian key.
pub fn hint(key: &PublicKey) -> [u8; HINT_LEN] {
    let mut out = [0u8; HINT_LEN];
    for (o, b) in out.iter_mut().zip(key.0.iter()) {
        *o = *b;
    }
    out
}

impl BackupManifest {
    /// The number of custodians, n.
    pub fn count(&self) -> u8 {
        u8::try_from(self.custodians.len()).unwrap_or(u8::MAX)
    }

    /// The last seq the backup covers (0 if no range).
    pub fn last_seq(&self) -> u64 {
        self.ranges.last().map_or(0, |r| r.last_seq)
    }

    /// The position (0-based) of the custodian whose key is `key`, by hint.
    pub fn position_of(&self, key: &PublicKey) -> Option<usize> {
        let h = hint(key);
        self.custodians.iter().position(|c| *c == h)
    }

    /// Checks the structural rules (see [`ManifestError`]).
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.version == 0 {
            return Err(ManifestError::VersionZero);
        }
        let n = self.custodians.len();
        if self.threshold < 2
            || usize::from(self.threshold) > n
            || n > CUSTODIANS_MAX
            || self.commitments.len() != n
        {
            return Err(ManifestError::BadThreshold {
                k: self.threshold,
                n,
            });
        }
        for (i, c) in self.custodians.iter().enumerate() {
            if self.custodians.iter().skip(i + 1).any(|d| d == c) {
                return Err(ManifestError::DuplicateCustodian);
            }
        }
        let mut next = 1u64;
        for (i, r) in self.ranges.iter().enumerate() {
            if r.first_seq != next || r.last_seq < r.first_seq {
                return Err(ManifestError::RangesNotContiguous { range: i });
            }
            if r.version > self.version || r.version == 0 {
                return Err(ManifestError::RangeFromFuture { range: i });
            }
            if (r.ciphertext_len as usize) < RANGE_CIPHERTEXT_LEN_MIN {
                return Err(ManifestError::RangeTooShort { range: i });
            }
            next = r
                .last_seq
                .checked_add(1)
                .ok_or(ManifestError::RangesNotContiguous { range: i })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::social::Payload;
    use crate::wire::header::{BlockKind, PAYLOAD_LEN_MAX};

    fn worst() -> BackupManifest {
        let mut m = BackupManifest {
            version: u64::MAX,
            threshold: 16,
            salt: [0xff; 16],
            custodians: Vec::new(),
            commitments: Vec::new(),
            ranges: Vec::new(),
        };
        for i in 0..16u8 {
            m.custodians.push([0xff - i; HINT_LEN]).unwrap();
            m.commitments.push([0xff; 16]).unwrap();
        }
        for _ in 0..RANGES_MAX {
            m.ranges
                .push(ShardRange {
                    first_seq: u64::MAX,
                    last_seq: u64::MAX,
                    version: u64::MAX,
                    ciphertext_len: u32::MAX,
                    root: [0xff; 32],
                })
                .unwrap();
        }
        m
    }

    #[test]
    fn worst_case_fits_the_payload_bound() {
        let p = Payload::BackupManifest(worst());
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        let bytes = p.encode(&mut buf).unwrap();
        assert!(bytes.len() <= 950, "{} bytes", bytes.len());
        assert_eq!(
            Payload::decode(BlockKind::BackupManifest, bytes).unwrap(),
            p
        );
    }

    #[test]
    fn validation() {
        let mut m = worst();
        m.version = 3;
        m.ranges.clear();
        assert_eq!(m.validate(), Ok(()));
        m.ranges
            .push(ShardRange {
                first_seq: 1,
                last_seq: 10,
                version: 2,
                ciphertext_len: 100,
                root: [0; 32],
            })
            .unwrap();
        assert_eq!(m.validate(), Ok(()));
        let mut bad = m.clone();
        bad.ranges[0].first_seq = 2;
        assert_eq!(
            bad.validate(),
            Err(ManifestError::RangesNotContiguous { range: 0 })
        );
        let mut bad = m.clone();
        bad.ranges[0].version = 4;
        assert_eq!(
            bad.validate(),
            Err(ManifestError::RangeFromFuture { range: 0 })
        );
        let mut bad = m.clone();
        bad.threshold = 1;
        assert!(matches!(
            bad.validate(),
            Err(ManifestError::BadThreshold { .. })
        ));
        let mut bad = m.clone();
        bad.custodians[1] = bad.custodians[0];
        assert_eq!(bad.validate(), Err(ManifestError::DuplicateCustodian));
        let mut bad = m;
        bad.version = 0;
        assert_eq!(bad.validate(), Err(ManifestError::VersionZero));
    }
}
