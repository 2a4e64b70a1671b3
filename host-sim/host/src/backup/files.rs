//! A custodian's files: what it holds for each owner, inside its own data directory.
//!
//! ```text
//! custody/<owner>/manifest.block               header (212 bytes) ‖ payload of the manifest
//! custody/<owner>/share-v<version>.bin         the sealed share (140 bytes)
//! custody/<owner>/range-<a>-<b>-v<ver>.shard   one shard record per range (<ver>: the range's version)
//! ```
//!
//! Every file is written to a temporary name, synced and renamed. A new version's
//! share and shards get new names, and `manifest.block` is replaced last: it is the
//! commit point, so a custodian that crashes part-way still holds the previous version
//! whole. Files the manifest no longer names are removed afterwards. The first layout
//! (`share.bin`, `range-<a>-<b>.shard`, without versions) is still read.

use super::engine::{Block, Custody, check_manifest_block};
use crate::chainfile::{FILE_LEN_MAX, read_regular};
use crate::datadir::write_atomic;
use crate::error::BackupError;
use crate::error::ChainFileError;
use glitter_core::backup::ShardRange;
use glitter_core::backup::seal::SealedShare;
use glitter_core::sig::PublicKey;
use glitter_core::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use std::path::{Path, PathBuf};

fn custody_dir(custodian_root: &Path, owner: &PublicKey) -> PathBuf {
    custodian_root.join("custody").join(owner.to_string())
}

/// A block as bytes: header (212) ‖ payload.
pub fn block_bytes(b: &Block) -> Vec<u8> {
    let mut v = b.0.to_bytes().to_vec();
    v.extend_from_slice(&b.1);
    v
}

/// Parses [`block_bytes`] output (the header is decoded, not verified).
///
/// # Errors
/// If the bytes are shorter than a header or the header is malformed.
pub fn parse_block(bytes: &[u8]) -> Result<Block, glitter_core::wire::WireError> {
    let (h, p) =
        bytes
            .split_at_checked(HEADER_LEN)
            .ok_or(glitter_core::wire::WireError::Truncated {
                needed: HEADER_LEN,
                got: bytes.len(),
            })?;
    let h = Header::decode(h)?;
    Ok((h, p.to_vec()))
}

/// Whether a custodian directory holds something for `owner` (its manifest file
/// exists): one `stat`, without reading or checking anything.
pub fn holds_custody(custodian_root: &Path, owner: &PublicKey) -> bool {
    custody_dir(custodian_root, owner)
        .join("manifest.block")
        .is_file()
}

/// Reads what a custodian directory holds for `owner`, if anything.
///
/// # Errors
/// If files exist but are malformed.
pub fn read_custody(
    custodian_root: &Path,
    owner: &PublicKey,
) -> Result<Option<Custody>, BackupError> {
    let dir = custody_dir(custodian_root, owner);
    let mpath = dir.join("manifest.block");
    if !mpath.exists() {
        return Ok(None);
    }
    let file_err = |what, source: Option<crate::error::BoxError>| BackupError::File {
        path: mpath.clone(),
        what,
        source,
    };
    let bytes = read_regular(&mpath, (HEADER_LEN + PAYLOAD_LEN_MAX) as u64)
        .map_err(|e| file_err("cannot read", Some(Box::new(e))))?;
    let manifest_block =
        parse_block(&bytes).map_err(|e| file_err("not a block", Some(Box::new(e))))?;
    let manifest = check_manifest_block(owner, &manifest_block)
        .map_err(|e| file_err("not a valid manifest", Some(Box::new(e))))?;
    // The versioned name, else the first layout's.
    // Each file is read with a bound: no custody file is larger than a chain file.
    let read_either = |new: String, old: String, max: u64| -> Result<Vec<u8>, BackupError> {
        let p = dir.join(&new);
        let fail = |what, e: ChainFileError| BackupError::File {
            path: p.clone(),
            what,
            source: Some(Box::new(e)),
        };
        match read_regular(&p, max) {
            Ok(b) => Ok(b),
            Err(ChainFileError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                read_regular(&dir.join(&old), max).map_err(|e| fail("missing", e))
            }
            Err(e) => Err(fail("cannot read", e)),
        }
    };
    let share_bytes = read_either(
        share_file(manifest.version),
        "share.bin".into(),
        SealedShare::LEN as u64,
    )?;
    let share = SealedShare::parse(&share_bytes).map_err(|e| BackupError::File {
        path: dir.join(share_file(manifest.version)),
        what: "not a sealed share",
        source: Some(Box::new(e)),
    })?;
    let mut records = Vec::new();
    for r in &manifest.ranges {
        records.push(read_either(
            range_file(r),
            format!("range-{}-{}.shard", r.first_seq, r.last_seq),
            FILE_LEN_MAX,
        )?);
    }
    Ok(Some(Custody {
        owner: *owner,
        manifest_block,
        manifest,
        share,
        records,
    }))
}

fn share_file(version: u64) -> String {
    format!("share-v{version}.bin")
}

fn range_file(r: &ShardRange) -> String {
    format!("range-{}-{}-v{}.shard", r.first_seq, r.last_seq, r.version)
}

/// Writes what a custodian holds for an owner into its data directory (layout in the
/// module docs): shard records and the share under versioned names, then the manifest
/// last, so a crash part-way leaves the previous version readable.
///
/// # Errors
/// On I/O errors.
pub fn write_custody(custodian_root: &Path, c: &Custody) -> Result<(), BackupError> {
    let dir = custody_dir(custodian_root, &c.owner);
    let io = |what, e: Box<dyn std::error::Error + Send + Sync>| BackupError::File {
        path: dir.clone(),
        what,
        source: Some(e),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io("cannot create", Box::new(e)))?;
    let mut keep = vec!["manifest.block".to_string(), share_file(c.manifest.version)];
    for (r, rec) in c.manifest.ranges.iter().zip(&c.records) {
        let name = range_file(r);
        write_atomic(&dir.join(&name), rec, false).map_err(|e| io("cannot write", Box::new(e)))?;
        keep.push(name);
    }
    write_atomic(
        &dir.join(share_file(c.manifest.version)),
        &c.share.to_bytes(),
        true,
    )
    .map_err(|e| io("cannot write", Box::new(e)))?;
    // The commit point: until this rename, the previous manifest and its files rule.
    write_atomic(
        &dir.join("manifest.block"),
        &block_bytes(&c.manifest_block),
        false,
    )
    .map_err(|e| io("cannot write", Box::new(e)))?;
    // Drop what the manifest no longer names (older shares, dropped ranges, the
    // first layout's files).
    for e in std::fs::read_dir(&dir).map_err(|e| io("cannot list", Box::new(e)))? {
        let name = e
            .map_err(|e| io("cannot list", Box::new(e)))?
            .file_name()
            .to_string_lossy()
            .to_string();
        if !keep.contains(&name) {
            let _ = std::fs::remove_file(dir.join(&name));
        }
    }
    Ok(())
}
