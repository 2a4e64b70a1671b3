//! Web-of-trust backup: the identity seed split k-of-n among custodians, and the
//! chain encrypted and erasure-coded among them, so that any k restore the person
//! and fewer learn nothing.
//!
//! Layers (each uses only those above it):
//!
//! 1. [`gf256`]: the field, exhaustively tested.
//! 2. [`shamir`]: k-of-n sharing of the 32-byte seed.
//! 3. [`erasure`]: systematic Cauchy Reed–Solomon over the same field.
//! 4. [`seal`]: KDF, X25519 from Ed25519 keys, ChaCha20-Poly1305; share bindings,
//!    sealed shares, releases to a restoring device.
//! 5. [`manifest`]: the owner-signed [`BackupManifest`] payload.
//! 6. [`shard`]: chain export, range encryption, shard records and tables.
//! 7. [`restore`]: checked collection of shares and shards, recovery.
//!
//! The owner's side is [`share_seed`] (shares, commitments, sealed shares) plus
//! [`shard::seal_range`] and [`shard::shard_table`] per range. Nothing allocates: the
//! caller lends the buffers, and randomness arrives as bytes the caller drew.
//!
//! See `docs/BACKUP.md` for the threat model and the formats in one place.

pub mod erasure;
pub mod gf256;
pub mod manifest;
pub mod restore;
pub mod seal;
pub mod shamir;
pub mod shard;

pub use manifest::{BackupManifest, ShardRange};
pub use restore::{RejectReason, Rejected, RestoreError, ShareCollector};

use crate::sig::{PublicKey, SigError};
use heapless::Vec;
use seal::{SALT_LEN, SealError, SealedShare, ShareBinding};
use shamir::{SECRET_LEN, SHARES_MAX, ShamirError, Share};

/// Why a backup could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BackupError {
    /// Bad threshold or share count.
    Shamir(ShamirError),
    /// A key could not be used (a custodian key with no X25519 form, a zero seed).
    Seal(SealError),
    /// Two custodians are the same key (or share a hint), or one is the owner.
    DuplicateCustodian,
    /// A custodian key is not an admissible identity ([`PublicKey::validate`]): not a
    /// canonical point, of small order, or with a torsion component (one secret would
    /// then stand behind several "distinct" custodians).
    CustodianKey {
        /// Its position in the custodian list.
        index: usize,
        /// Why it was refused.
        reason: SigError,
    },
}

impl core::fmt::Display for BackupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BackupError::Shamir(e) => write!(f, "{e}"),
            BackupError::Seal(e) => write!(f, "{e}"),
            BackupError::DuplicateCustodian => {
                f.write_str("custodians must be distinct and not the owner")
            }
            BackupError::CustodianKey { index, reason } => {
                write!(f, "custodian {index}: {reason}")
            }
        }
    }
}

impl core::error::Error for BackupError {}

/// The key half of one backup: what goes into the manifest and what each custodian
/// receives.
#[derive(Clone, Debug)]
pub struct SeedShares {
    /// The backup's salt (manifest field).
    pub salt: [u8; SALT_LEN],
    /// Commitments, in custodian order (manifest field).
    pub commitments: Vec<[u8; 16], SHARES_MAX>,
    /// Custodian hints, in custodian order (manifest field).
    pub hints: Vec<[u8; manifest::HINT_LEN], SHARES_MAX>,
    /// The sealed share for each custodian, in custodian order.
    pub sealed: Vec<SealedShare, SHARES_MAX>,
}

/// Splits `seed` k-of-n among `custodians` (n = their number) for backup `version`.
///
/// `entropy` is 32 fresh random bytes from the caller. The polynomial coefficients and
/// the salt are derived from (seed, owner, version, entropy) with the KDF, so every
/// output of one backup is a function of those inputs: a retry with the same entropy
/// reproduces the same sealed bytes, and fresh entropy gives a fresh salt and hence
/// fresh AEAD keys. No AEAD key ever seals two different plaintexts.
///
/// # Errors
/// [`BackupError::Shamir`] for a bad threshold, [`BackupError::CustodianKey`] for a
/// custodian that is no admissible identity, [`BackupError::DuplicateCustodian`], or
/// [`BackupError::Seal`] for an unusable key.
pub fn share_seed(
    seed: &[u8; SECRET_LEN],
    version: u64,
    threshold: u8,
    custodians: &[PublicKey],
    entropy: &[u8; 32],
) -> Result<SeedShares, BackupError> {
    let owner = crate::sig::KeyPair::from_seed(*seed)
        .map_err(|_| BackupError::Seal(SealError::ZeroSeed))?
        .public();
    let n = u8::try_from(custodians.len()).map_err(|_| {
        BackupError::Shamir(ShamirError::BadThreshold {
            k: threshold,
            n: 255,
        })
    })?;
    shamir::check_threshold(threshold, n).map_err(BackupError::Shamir)?;
    for (index, c) in custodians.iter().enumerate() {
        c.validate()
            .map_err(|reason| BackupError::CustodianKey { index, reason })?;
    }
    for (i, c) in custodians.iter().enumerate() {
        if *c == owner
            || custodians
                .iter()
                .skip(i + 1)
                .any(|d| manifest::hint(d) == manifest::hint(c))
        {
            return Err(BackupError::DuplicateCustodian);
        }
    }
    let context = |label: &[u8], j: u8| {
        seal::kdf(
            label,
            seed,
            &[&owner.0, &version.to_le_bytes(), entropy, &[j]],
        )
    };
    let mut coefficients = [[0u8; SECRET_LEN]; SHARES_MAX];
    for (j, row) in (0u8..).zip(coefficients.iter_mut()) {
        *row = context(b"glitter/backup/v1/coefficient", j);
    }
    let salt_full = context(b"glitter/backup/v1/salt", 0);
    let mut salt = [0u8; SALT_LEN];
    for (s, b) in salt.iter_mut().zip(salt_full.iter()) {
        *s = *b;
    }
    let mut shares = [Share {
        index: 0,
        value: [0; SECRET_LEN],
    }; SHARES_MAX];
    shamir::split(seed, threshold, n, &coefficients, &mut shares).map_err(BackupError::Shamir)?;
    let mut out = SeedShares {
        salt,
        commitments: Vec::new(),
        hints: Vec::new(),
        sealed: Vec::new(),
    };
    for (share, custodian) in shares.iter().zip(custodians) {
        let binding = ShareBinding {
            owner,
            custodian: *custodian,
            version,
            index: share.index,
            threshold,
            count: n,
            salt,
        };
        let sealed = seal::seal_share(seed, &binding, &share.value).map_err(BackupError::Seal)?;
        // Capacity is SHARES_MAX and n ≤ SHARES_MAX was checked above.
        let _ = out
            .commitments
            .push(seal::commit_share(&binding, &share.value));
        let _ = out.hints.push(manifest::hint(custodian));
        let _ = out.sealed.push(sealed);
    }
    Ok(out)
}

/// What a custodian checks when it receives its sealed share: it opens, it is bound
/// to this custodian and the manifest's backup, and it matches the manifest's
/// commitment. Returns the share value.
///
/// # Errors
/// [`Rejected`] naming the owner's share as bad (the custodian should refuse it and
/// tell the owner).
pub fn verify_received(
    custodian_seed: &[u8; 32],
    manifest: &BackupManifest,
    sealed: &SealedShare,
) -> Result<[u8; 32], Rejected> {
    let me = crate::sig::KeyPair::from_seed(*custodian_seed)
        .map(|k| k.public())
        .map_err(|_| Rejected {
            custodian: sealed.binding.custodian,
            reason: RejectReason::Seal(SealError::ZeroSeed),
        })?;
    let reject = |reason| Rejected {
        custodian: me,
        reason,
    };
    let value =
        seal::open_share(custodian_seed, sealed).map_err(|e| reject(RejectReason::Seal(e)))?;
    let mut c = ShareCollector::new(sealed.binding.owner, manifest)
        .map_err(|_| reject(RejectReason::ParametersMismatch))?;
    c.add(me, &sealed.binding, &value)?;
    Ok(value)
}
