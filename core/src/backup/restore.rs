//! Restoring: collect shares and shards, reject every bad one with its custodian
//! named, then recover the seed and the chain.
//!
//! A restoring device knows only the owner's public key and the latest manifest (a
//! signed block of the owner's chain, which peers and custodians hold). It feeds each
//! opened share to a [`ShareCollector`], which checks it against the manifest before
//! keeping it, and each shard record to [`check_shard`]. Nothing unchecked is ever
//! combined, so a bad share can only be refused, never turn into a wrong seed; and
//! the recovered seed must derive the owner's public key before it is returned.

use super::erasure::{self, ErasureError, SHARDS_MAX};
use super::manifest::{BackupManifest, ManifestError, ShardRange, hint};
use super::seal::{self, SealError, ShareBinding};
use super::shamir::{self, SHARES_MAX, Share};
use super::shard::{self, ShardRecord};
use crate::sig::{KeyPair, PublicKey};
use heapless::Vec;

pub use super::shard::table_root;

/// Why one custodian's share or shard was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RejectReason {
    /// It belongs to another owner's backup.
    WrongOwner,
    /// It is from an older (or other) backup version than the manifest.
    StaleVersion {
        /// The version it claims.
        got: u64,
        /// The manifest's version.
        expected: u64,
    },
    /// Its index is 0, which is the secret's point, never a share.
    IndexZero,
    /// Its index is above the number of custodians.
    IndexOutOfRange(u8),
    /// Another accepted share or shard already has this index.
    DuplicateIndex(u8),
    /// The manifest lists another custodian at this index.
    NotThisCustodian,
    /// Its threshold, count or salt differ from the manifest's.
    ParametersMismatch,
    /// Its value does not match the manifest's commitment (tampered or corrupted).
    CommitmentMismatch,
    /// Its shard table does not match the manifest's range root.
    TableMismatch,
    /// Its shard does not match its entry in the table.
    ShardMismatch,
    /// It is for a range the manifest does not list.
    UnknownRange,
    /// It could not be opened or parsed.
    Seal(SealError),
}

/// A refused share or shard, with the custodian it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rejected {
    /// The custodian who supplied it (as named by the transport or the binding).
    pub custodian: PublicKey,
    /// What is wrong with it.
    pub reason: RejectReason,
}

impl core::fmt::Display for Rejected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "custodian {}: ", self.custodian)?;
        match self.reason {
            RejectReason::WrongOwner => f.write_str("share belongs to another owner"),
            RejectReason::StaleVersion { got, expected } => write!(
                f,
                "share is from backup version {got}, the manifest is version {expected}; shares of different versions cannot be mixed"
            ),
            RejectReason::IndexZero => f.write_str("share index 0 is not a share"),
            RejectReason::IndexOutOfRange(i) => write!(f, "index {i} beyond the custodian list"),
            RejectReason::DuplicateIndex(i) => write!(f, "index {i} already supplied"),
            RejectReason::NotThisCustodian => {
                f.write_str("the manifest lists another custodian at this index")
            }
            RejectReason::ParametersMismatch => {
                f.write_str("threshold, count or salt differ from the manifest")
            }
            RejectReason::CommitmentMismatch => {
                f.write_str("share does not match the manifest's commitment (tampered)")
            }
            RejectReason::TableMismatch => {
                f.write_str("shard table does not match the manifest (tampered)")
            }
            RejectReason::ShardMismatch => f.write_str("shard does not match its hash (tampered)"),
            RejectReason::UnknownRange => f.write_str("shard for a range the manifest lacks"),
            RejectReason::Seal(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for Rejected {}

/// Why a restore cannot finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RestoreError {
    /// The manifest is unusable.
    Manifest(ManifestError),
    /// Fewer valid shares than the threshold.
    NotEnoughShares {
        /// Valid shares collected.
        got: usize,
        /// The threshold.
        needed: usize,
    },
    /// The recovered seed does not derive the owner's key. Unreachable with checked
    /// shares; kept as the final guard.
    WrongSeed,
    /// Shards could not be decoded.
    Erasure(ErasureError),
    /// A range did not decrypt (cannot happen with checked shards and the right seed).
    Seal(SealError),
}

impl core::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RestoreError::Manifest(e) => write!(f, "manifest: {e}"),
            RestoreError::NotEnoughShares { got, needed } => {
                write!(f, "{got} valid shares, {needed} needed")
            }
            RestoreError::WrongSeed => {
                f.write_str("recovered seed does not derive the owner's key")
            }
            RestoreError::Erasure(e) => write!(f, "shards: {e}"),
            RestoreError::Seal(e) => write!(f, "chain backup: {e}"),
        }
    }
}

impl core::error::Error for RestoreError {}

/// Collects checked shares of one manifest until `k` are in hand.
#[derive(Clone, Debug)]
pub struct ShareCollector<'m> {
    owner: PublicKey,
    manifest: &'m BackupManifest,
    shares: Vec<Share, SHARES_MAX>,
}

impl<'m> ShareCollector<'m> {
    /// A collector for `owner`'s backup described by `manifest`.
    ///
    /// # Errors
    /// [`RestoreError::Manifest`] if the manifest is structurally invalid.
    pub fn new(owner: PublicKey, manifest: &'m BackupManifest) -> Result<Self, RestoreError> {
        manifest.validate().map_err(RestoreError::Manifest)?;
        Ok(ShareCollector {
            owner,
            manifest,
            shares: Vec::new(),
        })
    }

    /// Valid shares so far.
    pub fn len(&self) -> usize {
        self.shares.len()
    }

    /// True before the first valid share.
    pub fn is_empty(&self) -> bool {
        self.shares.is_empty()
    }

    /// True once `k` valid shares are in.
    pub fn is_complete(&self) -> bool {
        self.shares.len() >= usize::from(self.manifest.threshold)
    }

    /// Checks one opened share (its binding and value) against the manifest and keeps
    /// it if it passes. `from` is the custodian the transport says sent it; a binding
    /// naming someone else is refused.
    ///
    /// # Errors
    /// [`Rejected`], naming `from` and the first rule broken, in this order: owner,
    /// version, index 0, index range, duplicate, custodian, parameters, commitment.
    pub fn add(
        &mut self,
        from: PublicKey,
        binding: &ShareBinding,
        value: &[u8; 32],
    ) -> Result<(), Rejected> {
        let reject = |reason| Rejected {
            custodian: from,
            reason,
        };
        let m = self.manifest;
        if binding.owner != self.owner {
            return Err(reject(RejectReason::WrongOwner));
        }
        if binding.version != m.version {
            return Err(reject(RejectReason::StaleVersion {
                got: binding.version,
                expected: m.version,
            }));
        }
        if binding.index == 0 {
            return Err(reject(RejectReason::IndexZero));
        }
        if binding.index > m.count() {
            return Err(reject(RejectReason::IndexOutOfRange(binding.index)));
        }
        if self.shares.iter().any(|s| s.index == binding.index) {
            return Err(reject(RejectReason::DuplicateIndex(binding.index)));
        }
        let pos = usize::from(binding.index) - 1;
        if binding.custodian != from || m.custodians.get(pos) != Some(&hint(&from)) {
            return Err(reject(RejectReason::NotThisCustodian));
        }
        if binding.threshold != m.threshold || binding.count != m.count() || binding.salt != m.salt
        {
            return Err(reject(RejectReason::ParametersMismatch));
        }
        if m.commitments.get(pos) != Some(&seal::commit_share(binding, value)) {
            return Err(reject(RejectReason::CommitmentMismatch));
        }
        if self.is_complete() {
            // Enough already: a further valid share changes nothing.
            return Ok(());
        }
        self.shares
            .push(Share {
                index: binding.index,
                value: *value,
            })
            .map_err(|_| reject(RejectReason::IndexOutOfRange(binding.index)))
    }

    /// Recovers the owner's key pair from `k` valid shares.
    ///
    /// # Errors
    /// [`RestoreError::NotEnoughShares`], or [`RestoreError::WrongSeed`] if the seed
    /// does not derive the owner's key.
    pub fn recover(&self) -> Result<KeyPair, RestoreError> {
        let k = usize::from(self.manifest.threshold);
        let shares = self.shares.get(..k).ok_or(RestoreError::NotEnoughShares {
            got: self.shares.len(),
            needed: k,
        })?;
        let seed = shamir::combine(shares).map_err(|_| RestoreError::NotEnoughShares {
            got: self.shares.len(),
            needed: k,
        })?;
        let keys = KeyPair::from_seed(seed).map_err(|_| RestoreError::WrongSeed)?;
        if keys.public() != self.owner {
            return Err(RestoreError::WrongSeed);
        }
        Ok(keys)
    }
}

/// Checks one shard record from `from` against the manifest: the range it belongs to,
/// its owner, its custodian, its table and its shard. Returns the range's position.
///
/// # Errors
/// [`Rejected`] naming `from`.
pub fn check_shard(
    owner: &PublicKey,
    manifest: &BackupManifest,
    from: PublicKey,
    record: &ShardRecord<'_>,
) -> Result<usize, Rejected> {
    let reject = |reason| Rejected {
        custodian: from,
        reason,
    };
    let h = &record.header;
    if h.owner != *owner {
        return Err(reject(RejectReason::WrongOwner));
    }
    let Some(pos) = manifest
        .ranges
        .iter()
        .position(|r| r.first_seq == h.first_seq && r.last_seq == h.last_seq)
    else {
        return Err(reject(RejectReason::UnknownRange));
    };
    let range = manifest
        .ranges
        .get(pos)
        .ok_or(reject(RejectReason::UnknownRange))?;
    if h.version != range.version {
        return Err(reject(RejectReason::StaleVersion {
            got: h.version,
            expected: range.version,
        }));
    }
    if h.custodian != from || manifest.custodians.get(usize::from(h.index)) != Some(&hint(&from)) {
        return Err(reject(RejectReason::NotThisCustodian));
    }
    if h.threshold != manifest.threshold
        || h.count != manifest.count()
        || h.ciphertext_len != range.ciphertext_len
    {
        return Err(reject(RejectReason::ParametersMismatch));
    }
    if shard::table_root(record.table) != range.root {
        return Err(reject(RejectReason::TableMismatch));
    }
    let leaf = shard::shard_leaf(
        owner,
        h.version,
        h.first_seq,
        h.last_seq,
        h.index,
        record.shard,
    );
    if record.leaf(h.index) != Some(&leaf[..]) {
        return Err(reject(RejectReason::ShardMismatch));
    }
    Ok(pos)
}

/// Decodes and decrypts one range from checked shards `(index, shard)` into `out`
/// (at least `range.ciphertext_len` bytes); returns the export's length, at the start
/// of `out`.
///
/// # Errors
/// [`RestoreError::Erasure`] (too few or inconsistent shards) or
/// [`RestoreError::Seal`] (the wrong seed, or shards not checked first).
pub fn decode_range(
    seed: &[u8; 32],
    owner: &PublicKey,
    manifest: &BackupManifest,
    range: &ShardRange,
    shards: &[(u8, &[u8])],
    out: &mut [u8],
) -> Result<usize, RestoreError> {
    let len = range.ciphertext_len as usize;
    if shards.len() > SHARDS_MAX {
        return Err(RestoreError::Erasure(ErasureError::BadThreshold {
            k: manifest.threshold,
            n: manifest.count(),
        }));
    }
    erasure::decode(shards, manifest.threshold, manifest.count(), len, out)
        .map_err(RestoreError::Erasure)?;
    let buf = out
        .get_mut(..len)
        .ok_or(RestoreError::Erasure(ErasureError::OutputTooSmall {
            needed: len,
        }))?;
    shard::open_range(seed, owner, range, buf).map_err(RestoreError::Seal)
}
