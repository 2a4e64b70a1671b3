//! A local data directory: one's identity and the chains one holds.
//!
//! Layout (format 2):
//!
//! ```text
//! <data-dir>/identity.seed     the 32-byte identity seed, hex, mode 0600
//! <data-dir>/chain.img         a NOR-flash image holding every chain (own and followed):
//!                              the very format a device writes (core::store::FlashLog
//!                              over host-sim's FileFlash); see docs/STORAGE.md
//! <data-dir>/forks/<author>.fork  fork proofs kept when an import conflicts
//! ```
//!
//! Format 1 kept one chain file per author in `chains/`. A format-1 directory is
//! migrated on first use: every chain file is verified and written into the image,
//! then `chains/` is renamed `chains.migrated/` (kept, not deleted).
//!
//! Appends are durable before they are visible (the store's commit word is written and
//! synced last), a torn append is discarded at the next mount, and an invalid import
//! never touches the image.

use crate::chainfile::{VerifiedChain, read_verified};
use crate::error::DataDirError;
use crate::flash_file::FileFlash;
pub use crate::fsutil::write_atomic;
use glitter_core::BlockBuilder;
use glitter_core::chain::{ChainState, ForkProof, Head};
use glitter_core::sig::PublicKey;
use glitter_core::social::Payload;
use glitter_core::store::{BlockLog, FlashLog, MountReport, Usage};
use glitter_core::wire::header::Header;
use std::path::{Path, PathBuf};

type Result<T, E = DataDirError> = std::result::Result<T, E>;

fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> DataDirError {
    let path = path.to_path_buf();
    move |source| DataDirError::Io { path, what, source }
}

fn store(path: &Path) -> impl FnOnce(crate::error::StoreError) -> DataDirError {
    let path = path.to_path_buf();
    move |source| DataDirError::Store { path, source }
}

/// The host's block store: a flash log over the image file. Index capacity: 256
/// authors and 65,536 blocks (about 260 KiB of RAM while open).
pub type HostLog = FlashLog<FileFlash, 256, 65_536>;

/// The image file's name inside a data directory.
pub const IMAGE_FILE: &str = "chain.img";

/// Default size of a new image: 8 MiB holds roughly 27,000 typical blocks.
pub const IMAGE_BYTES_DEFAULT: usize = 8 << 20;

/// An opened data directory.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
    image_bytes: usize,
}

/// What an import did.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new author's chain was stored.
    New {
        /// Blocks stored.
        blocks: usize,
    },
    /// An existing chain was extended.
    Extended {
        /// Blocks added.
        added: usize,
    },
    /// The file held nothing new.
    UpToDate,
}

impl DataDir {
    /// Opens (creating if needed) the directory at `root`.
    ///
    /// # Errors
    /// If the directory cannot be created.
    pub fn open(root: &Path) -> Result<DataDir> {
        let size = std::env::var("GLITTER_IMAGE_MIB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(IMAGE_BYTES_DEFAULT, |m| m << 20);
        DataDir::open_sized(root, size)
    }

    /// Opens (creating if needed) the directory at `root`; a new image gets
    /// `image_bytes` (a multiple of 4 KiB), an existing one keeps its size.
    ///
    /// # Errors
    /// If the directory cannot be created, or a format-1 directory fails to migrate
    /// (nothing is lost: the old files stay).
    pub fn open_sized(root: &Path, image_bytes: usize) -> Result<DataDir> {
        crate::fsutil::create_private_dir(root)?;
        let d = DataDir {
            root: root.to_path_buf(),
            image_bytes,
        };
        d.migrate_format1()?;
        Ok(d)
    }

    fn image_path(&self) -> PathBuf {
        self.root.join(IMAGE_FILE)
    }

    /// Mounts the image (creating and formatting it if it does not exist yet). A torn
    /// tail from a crash is repaired here.
    ///
    /// # Errors
    /// I/O errors and store errors, naming the image.
    pub fn log(&self) -> Result<Box<HostLog>> {
        let path = self.image_path();
        if !path.exists() {
            // Format a new image without a sync per erased page, then sync once: an
            // interrupted format leaves no glitter page, which the next open formats.
            let mut f = FileFlash::create(&path, self.image_bytes)
                .map_err(io(&path, "cannot create the flash image"))?;
            f.set_sync_writes(false);
            let log = HostLog::format(f).map_err(store(&path))?;
            let mut f = log.into_flash();
            f.sync().map_err(io(&path, "cannot sync the new image"))?;
        }
        let flash =
            FileFlash::open_existing(&path).map_err(io(&path, "cannot open the flash image"))?;
        let log = HostLog::mount_or_format(flash).map_err(store(&path))?;
        Ok(Box::new(log))
    }

    /// Mounts the image and reports its health: what the mount found (records,
    /// authors, a torn tail it repaired) and the usage figures.
    ///
    /// # Errors
    /// As [`DataDir::log`].
    pub fn fsck(&self) -> Result<(MountReport, Usage)> {
        let log = self.log()?;
        Ok((log.mount_report(), log.usage()))
    }

    /// Moves a format-1 directory (one chain file per author) into the image.
    fn migrate_format1(&self) -> Result<()> {
        let old = self.root.join("chains");
        if !old.is_dir() || self.image_path().exists() {
            return Ok(());
        }
        let mut chains = Vec::new();
        for e in std::fs::read_dir(&old).map_err(io(&old, "cannot list"))? {
            let path = e.map_err(io(&old, "cannot list"))?.path();
            if path.extension().is_some_and(|x| x == "chain") {
                chains.push(read_verified(&path).map_err(|e| DataDirError::Migrate(Box::new(e)))?);
            }
        }
        for c in &chains {
            self.import(c)?;
        }
        std::fs::rename(&old, self.root.join("chains.migrated"))
            .map_err(io(&old, "cannot rename after migration"))?;
        Ok(())
    }

    /// The directory path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn fork_path(&self, author: &PublicKey) -> PathBuf {
        self.root.join("forks").join(format!("{author}.fork"))
    }

    /// Fork proofs held: (author, forked seq), verified on load (invalid files skipped).
    ///
    /// # Errors
    /// On I/O failure.
    pub fn forks(&self) -> Result<Vec<(PublicKey, u64)>> {
        let dir = self.root.join("forks");
        let mut out = Vec::new();
        if !dir.exists() {
            return Ok(out);
        }
        for e in std::fs::read_dir(&dir).map_err(io(&dir, "cannot list"))? {
            let path = e.map_err(io(&dir, "cannot list"))?.path();
            let bytes = std::fs::read(&path).map_err(io(&path, "cannot read"))?;
            if let Ok(p) = ForkProof::decode(&bytes) {
                out.push((p.author(), p.seq()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The authors whose chains are stored, sorted.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn authors(&self) -> Result<Vec<PublicKey>> {
        let log = self.log()?;
        let mut out: Vec<PublicKey> = (0..log.author_count())
            .filter_map(|i| log.author_at(i))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The stored chain of `author` (empty if none is stored). Blocks were verified
    /// before they were stored; the store re-checks CRCs and hash links on mount.
    ///
    /// # Errors
    /// If the image cannot be read.
    pub fn chain(&self, author: &PublicKey) -> Result<VerifiedChain> {
        let mut log = self.log()?;
        chain_from_log(&mut log, author)
    }

    /// Appends a block with `payload` to one's own chain, stamped `now_ms`.
    ///
    /// # Errors
    /// Without an identity, or if the payload is invalid, or on I/O failure.
    pub fn append_own(&self, payload: &Payload, now_ms: u64) -> Result<Header> {
        let keys = self.identity()?;
        let me = keys.public();
        let mut log = self.log()?;
        let head: Option<Head> = log.head(&me);
        let own = |source| DataDirError::Chain {
            what: "own chain",
            source,
        };
        let state = ChainState::resume(me, head).map_err(own)?;
        let mut builder = BlockBuilder::new(keys, state).map_err(own)?;
        let (h, bytes) = {
            let mut src = log.source(me);
            builder
                .next(payload, now_ms, &mut src)
                .map_err(|source| DataDirError::Chain {
                    what: "append",
                    source,
                })?
        };
        log.append(&h, bytes).map_err(store(&self.image_path()))?;
        Ok(h)
    }

    /// Writes a verified chain as the first content of a directory that has no image
    /// yet (a restore): the image is built under a temporary name without a sync per
    /// write, synced once, then renamed into place, so a crash leaves either no image or
    /// a whole one. Returns `false`, writing nothing, if an image already exists (use
    /// [`DataDir::import`] then).
    ///
    /// # Errors
    /// On I/O failure or if the chain does not fit the image.
    pub fn import_into_new_image(&self, chain: &VerifiedChain) -> Result<bool> {
        let path = self.image_path();
        if path.exists() {
            return Ok(false);
        }
        let tmp = self.root.join(format!("{IMAGE_FILE}.new"));
        let _ = std::fs::remove_file(&tmp);
        let mut f = FileFlash::create(&tmp, self.image_bytes)
            .map_err(io(&tmp, "cannot create the flash image"))?;
        f.set_sync_writes(false);
        let mut log = HostLog::format(f).map_err(store(&tmp))?;
        for (h, p) in chain.headers.iter().zip(&chain.payloads) {
            let p = p.as_deref().ok_or(DataDirError::NoPayload { seq: h.seq })?;
            log.append(h, p)
                .map_err(|source| DataDirError::StoreBlock {
                    path: tmp.clone(),
                    seq: h.seq,
                    source,
                })?;
        }
        let mut f = log.into_flash();
        f.sync().map_err(io(&tmp, "cannot sync the new image"))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io(&path, "cannot move the new image into place"))?;
        if let Ok(d) = std::fs::File::open(&self.root) {
            let _ = d.sync_all();
        }
        Ok(true)
    }

    /// Stores a verified chain, if it extends what is held.
    ///
    /// # Errors
    /// If the chain conflicts with the stored one (a fork: the file names the seq),
    /// or on I/O failure. Nothing is written on error.
    pub fn import(&self, incoming: &VerifiedChain) -> Result<ImportOutcome> {
        let held = self.chain(&incoming.author)?;
        for (a, b) in held.headers.iter().zip(&incoming.headers) {
            if a.id() != b.id() {
                // Two valid signed blocks at one seq: keep the transferable proof and
                // mark the author as forked; the stored chain is left as it was.
                let proof = ForkProof::new(*a, *b)
                    .map_err(|source| DataDirError::NotAFork { seq: a.seq, source })?;
                let forks = self.root.join("forks");
                std::fs::create_dir_all(&forks).map_err(io(&forks, "cannot create"))?;
                let path = self.fork_path(&incoming.author);
                write_atomic(&path, &proof.to_bytes(), false)?;
                return Err(DataDirError::Forked {
                    author: incoming.author,
                    seq: a.seq,
                    path,
                });
            }
        }
        if incoming.headers.len() <= held.headers.len() {
            return Ok(ImportOutcome::UpToDate);
        }
        if incoming
            .payloads
            .iter()
            .skip(held.headers.len())
            .any(Option::is_none)
        {
            return Err(DataDirError::Pruned);
        }
        let mut log = self.log()?;
        let path = self.image_path();
        for (h, p) in incoming
            .headers
            .iter()
            .zip(&incoming.payloads)
            .skip(held.headers.len())
        {
            log.append(h, p.as_deref().unwrap_or_default())
                .map_err(|source| DataDirError::StoreBlock {
                    path: path.clone(),
                    seq: h.seq,
                    source,
                })?;
        }
        Ok(if held.headers.is_empty() {
            ImportOutcome::New {
                blocks: incoming.headers.len(),
            }
        } else {
            ImportOutcome::Extended {
                added: incoming.headers.len() - held.headers.len(),
            }
        })
    }
}

/// Reads `author`'s whole chain out of a mounted log.
///
/// # Errors
/// If the image cannot be read.
pub fn chain_from_log(log: &mut HostLog, author: &PublicKey) -> Result<VerifiedChain> {
    let head = log.head(author).map_or(0, |h| h.seq);
    let mut headers = Vec::with_capacity(head as usize);
    let mut payloads = Vec::with_capacity(head as usize);
    let mut buf = [0u8; glitter_core::PAYLOAD_LEN_MAX];
    for seq in 1..=head {
        let (h, p) = log
            .block(author, seq, &mut buf)
            .map_err(|source| DataDirError::StoreBlock {
                path: PathBuf::from(IMAGE_FILE),
                seq,
                source,
            })?
            .ok_or(DataDirError::Missing {
                author: *author,
                seq,
            })?;
        headers.push(h);
        payloads.push(Some(p.to_vec()));
    }
    Ok(VerifiedChain {
        author: *author,
        headers,
        payloads,
    })
}
