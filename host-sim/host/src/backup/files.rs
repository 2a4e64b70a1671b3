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
//!
//! [`custody_usage`] measures what is held (one `stat` per file, a bounded number of
//! entries), for the custodian's quotas ([`super::consent::CustodyQuota`]).

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

/// What [`write_custody`] writes for `c`: the manifest block, the sealed share and
/// every shard record, in bytes.
pub fn stored_bytes(c: &Custody) -> u64 {
    let block = block_bytes(&c.manifest_block).len();
    let records: usize = c.records.iter().map(Vec::len).sum();
    (block + SealedShare::LEN + records) as u64
}

/// Most entries of `custody/` that [`custody_usage`] looks at (a node keeps at most 256
/// owners; more entries mean the directory is not one a node wrote).
pub const USAGE_DIRS_MAX: usize = 1024;
/// Most entries of one owner's directory that [`custody_usage`] looks at (a manifest,
/// a share, at most 8 shards, and a few temporary files a crash left).
pub const USAGE_FILES_MAX: usize = 64;

/// The bytes a custodian's data directory holds in custody, measured on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CustodyUsage {
    /// Per owner directory: the owner and the bytes of its files.
    pub owners: Vec<(PublicKey, u64)>,
    /// Every byte under `custody/` (owner directories, and anything else there).
    pub total: u64,
}

impl CustodyUsage {
    /// The bytes held for `owner` (0 if nothing).
    pub fn of(&self, owner: &PublicKey) -> u64 {
        self.owners
            .iter()
            .find(|(o, _)| o == owner)
            .map_or(0, |(_, b)| *b)
    }
}

/// Measures `<custodian_root>/custody/`: the size of every regular file in each owner
/// directory (symlinks are not followed), one `stat` each, without reading anything.
/// A missing directory holds nothing.
///
/// # Errors
/// If a directory cannot be listed, or holds more than [`USAGE_DIRS_MAX`] entries
/// (owner directories) or [`USAGE_FILES_MAX`] (files of one owner): the work is
/// bounded, and a directory that large was not written by a node.
pub fn custody_usage(custodian_root: &Path) -> Result<CustodyUsage, BackupError> {
    let root = custodian_root.join("custody");
    let mut usage = CustodyUsage::default();
    for (path, meta) in list_bounded(&root, USAGE_DIRS_MAX)? {
        if meta.is_dir() {
            let mut bytes = 0u64;
            for (_, m) in list_bounded(&path, USAGE_FILES_MAX)? {
                if m.is_file() {
                    bytes = bytes.saturating_add(m.len());
                }
            }
            usage.total = usage.total.saturating_add(bytes);
            let owner = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(crate::account::parse_author);
            if let Some(o) = owner {
                usage.owners.push((o, bytes));
            }
        } else if meta.is_file() {
            usage.total = usage.total.saturating_add(meta.len());
        }
    }
    Ok(usage)
}

/// The entries of `dir` with their metadata (not following symlinks), at most `max`
/// of them; a missing directory has none.
fn list_bounded(dir: &Path, max: usize) -> Result<Vec<(PathBuf, std::fs::Metadata)>, BackupError> {
    let fail = |what, e: std::io::Error| BackupError::File {
        path: dir.to_path_buf(),
        what,
        source: Some(Box::new(e)),
    };
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fail("cannot list", e)),
    };
    let mut out = Vec::new();
    for e in rd {
        if out.len() == max {
            return Err(BackupError::File {
                path: dir.to_path_buf(),
                what: "holds more entries than a custody directory does; not measured",
                source: None,
            });
        }
        let e = e.map_err(|e| fail("cannot list", e))?;
        let meta = e.metadata().map_err(|e| fail("cannot stat", e))?;
        out.push((e.path(), meta));
    }
    Ok(out)
}

/// Deletes everything a custodian directory holds for `owner`. Returns whether there
/// was anything.
///
/// # Errors
/// If the directory exists but cannot be removed.
pub fn delete_custody(custodian_root: &Path, owner: &PublicKey) -> Result<bool, BackupError> {
    let dir = custody_dir(custodian_root, owner);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(custodian_root.join("custody")) {
                let _ = d.sync_all();
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BackupError::File {
            path: dir,
            what: "cannot delete",
            source: Some(Box::new(e)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glitter_core::sig::KeyPair;

    #[test]
    fn usage_is_measured_from_disk_with_a_bound_and_delete_removes_one_owner() {
        let root = std::env::temp_dir().join(format!("glitter-usage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(custody_usage(&root).unwrap(), CustodyUsage::default());
        let a = KeyPair::from_seed([3; 32]).expect("a key").public();
        let b = KeyPair::from_seed([4; 32]).expect("a key").public();
        let (da, db) = (custody_dir(&root, &a), custody_dir(&root, &b));
        std::fs::create_dir_all(&da).unwrap();
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(da.join("manifest.block"), [0u8; 300]).unwrap();
        std::fs::write(da.join("share-v1.bin"), [0u8; 140]).unwrap();
        std::fs::write(db.join("manifest.block"), [0u8; 60]).unwrap();
        // Not an owner's directory: counted in the total only.
        std::fs::write(root.join("custody").join("stray"), [0u8; 7]).unwrap();
        let u = custody_usage(&root).unwrap();
        assert_eq!(
            (u.of(&a), u.of(&b), u.total, u.owners.len()),
            (440, 60, 507, 2)
        );
        // More files than a custody directory holds: refused, not counted forever.
        for i in 0..USAGE_FILES_MAX {
            std::fs::write(db.join(format!("x{i}")), [0u8; 1]).unwrap();
        }
        assert!(custody_usage(&root).is_err());
        assert!(delete_custody(&root, &b).unwrap());
        assert!(!delete_custody(&root, &b).unwrap());
        let u = custody_usage(&root).unwrap();
        assert_eq!((u.of(&a), u.of(&b), u.total), (440, 0, 447));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
