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
use crate::error::StoreError;
use crate::flash_file::FileFlash;
pub use crate::fsutil::write_atomic;
use crate::image_state::{ImageState, Session};
use glitter_core::BlockBuilder;
use glitter_core::chain::{ChainState, ForkProof, Head};
use glitter_core::sig::PublicKey;
use glitter_core::social::Payload;
use glitter_core::store::{BlockLog, FlashLog, MountReport, Usage};
use glitter_core::wire::header::Header;
use std::path::{Path, PathBuf};

type Result<T, E = DataDirError> = std::result::Result<T, E>;

pub(crate) fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> DataDirError {
    let path = path.to_path_buf();
    move |source| DataDirError::Io { path, what, source }
}

pub(crate) fn store(path: &Path) -> impl FnOnce(crate::error::StoreError) -> DataDirError {
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

/// The file beside the image that records its size in bytes (decimal), written when
/// the image is created, so a truncated image is detected.
pub const SIZE_FILE: &str = "chain.img.size";

/// What `fsck` found: the read-only mount's report, usage, and how the last writing
/// session ended (`None`: not recorded, an image from an older glitter).
#[derive(Debug)]
pub struct Health {
    /// What the mount found.
    pub report: MountReport,
    /// Space and index figures.
    pub usage: Usage,
    /// How the last writing session ended.
    pub session: Option<Session>,
}

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

    /// Opens an existing directory at `root` for reading: creates nothing (except when
    /// migrating a format-1 directory, which has no image yet), and its image is opened
    /// read-only by [`DataDir::read_log`].
    ///
    /// # Errors
    /// If `root` is not a directory (a mistyped `--data-dir` is an error, not a new
    /// empty directory).
    pub fn open_existing(root: &Path) -> Result<DataDir> {
        if !root.is_dir() {
            return Err(DataDirError::Io {
                path: root.to_path_buf(),
                what: "no such data directory",
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "it is created by a writing command (glitter keygen, post, import)",
                ),
            });
        }
        crate::fsutil::check_owner(root)?;
        let d = DataDir {
            root: root.to_path_buf(),
            image_bytes: IMAGE_BYTES_DEFAULT,
        };
        // A format-1 directory (no image yet) is still migrated on first use: the old
        // files are kept, nothing is lost.
        d.migrate_format1()?;
        Ok(d)
    }

    pub(crate) fn image_path(&self) -> PathBuf {
        self.root.join(IMAGE_FILE)
    }

    fn size_path(&self) -> PathBuf {
        self.root.join(SIZE_FILE)
    }

    /// Checks the image's length against the one recorded when it was created, so a
    /// truncated (or extended) image is an error rather than a shorter log.
    fn check_image_size(&self, len: usize) -> Result<()> {
        let path = self.size_path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let recorded = text.trim().parse::<usize>().ok();
        if recorded == Some(len) {
            return Ok(());
        }
        Err(DataDirError::Io {
            path: self.image_path(),
            what: "damaged flash image",
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                match recorded {
                    Some(r) => {
                        format!("it is {len} bytes but was created with {r}: truncated or extended")
                    }
                    None => format!("{} does not hold a size", path.display()),
                },
            ),
        })
    }

    /// The image size recorded when it was created, if any.
    pub(crate) fn recorded_size(&self) -> Option<usize> {
        std::fs::read_to_string(self.size_path())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn record_image_size(&self, len: usize) -> Result<()> {
        write_atomic(&self.size_path(), format!("{len}\n").as_bytes(), false)?;
        Ok(())
    }

    /// Mounts the image read-only, with every check and no repair, or `None` if the
    /// directory has no image yet. Never creates, formats or writes anything. Checks the
    /// image against its recorded size and its session record
    /// ([`crate::image_state`]): a committed block that no longer mounts is an error.
    ///
    /// # Errors
    /// I/O errors and store errors (a damaged image: not formatted, corrupted,
    /// truncated, committed blocks missing), naming the image.
    pub fn read_log(&self) -> Result<Option<Box<HostLog>>> {
        Ok(self.read_log_with_state()?.map(|(log, _)| log))
    }

    /// [`DataDir::read_log`], with the session record it checked against. Not inlined:
    /// a mounted log is about 260 KiB until it is boxed, and writers mount twice.
    #[inline(never)]
    fn read_log_with_state(&self) -> Result<Option<(Box<HostLog>, Option<ImageState>)>> {
        let path = self.image_path();
        if !path.exists() {
            return Ok(None);
        }
        let flash =
            FileFlash::open_read_only(&path).map_err(io(&path, "cannot open the flash image"))?;
        self.check_image_size(flash.size_bytes())?;
        let state = ImageState::read(&self.root)?;
        let log = match HostLog::mount_read_only(flash) {
            Ok(log) => log,
            // This directory created and formatted the image (its size is recorded):
            // no page header at all is damage, not a new image.
            Err(StoreError::NotFormatted) if self.size_path().exists() => {
                return Err(DataDirError::NoLog { path });
            }
            Err(e) => return Err(store(&path)(e)),
        };
        if let Some(st) = &state {
            let short = st.shortfalls(&log);
            if let Some(first) = short.first() {
                return Err(DataDirError::Damaged {
                    path,
                    first: *first,
                    more: short.len() - 1,
                });
            }
        }
        Ok(Some((Box::new(log), state)))
    }

    /// Opens the image for writing (creating it if it does not exist yet) and starts
    /// a writing session: the image is first checked read-only as
    /// [`DataDir::read_log`] checks it (a damaged image is an error and is not
    /// touched), then mounted (a torn tail from a crash is repaired), and the session
    /// is recorded as open. End it with [`DataDir::close_log`].
    ///
    /// # Errors
    /// I/O errors and store errors, naming the image.
    pub fn log(&self) -> Result<Box<HostLog>> {
        let path = self.image_path();
        if !path.exists() {
            self.build_image(&[], self.image_bytes, &[])?;
        }
        // Every check, before anything is written.
        let floors = self.floors()?;
        let flash =
            FileFlash::open_existing(&path).map_err(io(&path, "cannot open the flash image"))?;
        if !self.size_path().exists() {
            // An image from before sizes were recorded: record it now.
            self.record_image_size(flash.size_bytes())?;
        }
        let log = mount_boxed(flash, &path)?;
        ImageState::of_log(Session::Open, &*log, &floors).write(&self.root)?;
        Ok(log)
    }

    /// The floors of the image's session record ([`ImageState::floors`]), after every
    /// check [`DataDir::read_log`] makes.
    fn floors(&self) -> Result<Vec<(PublicKey, u64)>> {
        Ok(self
            .read_log_with_state()?
            .and_then(|(_, state)| state)
            .map(|s| s.floors)
            .unwrap_or_default())
    }

    /// Ends a writing session: syncs the image, then records a clean close with the
    /// heads it holds, so that the next mount can tell every committed block.
    ///
    /// # Errors
    /// If the image cannot be synced or the record written (the session then stays
    /// recorded as open, which is safe).
    pub fn close_log(&self, log: &HostLog) -> Result<()> {
        self.record_session(Session::Clean, log)
    }

    /// Records the heads of a long writing session (a node) without ending it: syncs
    /// the image, then records the session as still open with the heads it holds now,
    /// so that a crash later loses the evidence of fewer blocks.
    ///
    /// # Errors
    /// As [`DataDir::close_log`].
    pub fn checkpoint(&self, log: &HostLog) -> Result<()> {
        self.record_session(Session::Open, log)
    }

    fn record_session(&self, session: Session, log: &HostLog) -> Result<()> {
        let path = self.image_path();
        log.flash()
            .sync()
            .map_err(io(&path, "cannot sync the flash image"))?;
        let floors = ImageState::read(&self.root)?
            .map(|s| s.floors)
            .unwrap_or_default();
        ImageState::of_log(session, log, &floors).write(&self.root)
    }

    /// Mounts the image read-only and reports its health: what the mount found
    /// (records, authors, a torn tail), the usage figures, and how the last writing
    /// session ended.
    ///
    /// # Errors
    /// As [`DataDir::read_log`].
    pub fn fsck(&self) -> Result<Option<Health>> {
        Ok(self.read_log_with_state()?.map(|(log, state)| Health {
            report: log.mount_report(),
            usage: log.usage(),
            session: state.map(|s| s.session),
        }))
    }

    /// Builds an image of `size` bytes holding `chains` (every block with its
    /// payload) under a temporary name, syncs it, records its size and a clean
    /// session (with `floors`: blocks committed once that it does not hold), and
    /// renames it over the image: a crash leaves the old image or the new one, whole.
    pub(crate) fn build_image(
        &self,
        chains: &[VerifiedChain],
        size: usize,
        floors: &[(PublicKey, u64)],
    ) -> Result<()> {
        let path = self.image_path();
        let tmp = self.root.join(format!("{IMAGE_FILE}.new"));
        let _ = std::fs::remove_file(&tmp);
        let mut f =
            FileFlash::create(&tmp, size).map_err(io(&tmp, "cannot create the flash image"))?;
        f.set_sync_writes(false);
        let mut log = HostLog::format(f).map_err(store(&tmp))?;
        for chain in chains {
            for (h, p) in chain.headers.iter().zip(&chain.payloads) {
                let p = p.as_deref().ok_or(DataDirError::NoPayload { seq: h.seq })?;
                log.append(h, p)
                    .map_err(|source| DataDirError::StoreBlock {
                        path: tmp.clone(),
                        seq: h.seq,
                        source,
                    })?;
            }
        }
        let state = ImageState::of_log(Session::Clean, &log, floors);
        let f = log.into_flash();
        f.sync().map_err(io(&tmp, "cannot sync the new image"))?;
        drop(f);
        self.record_image_size(size)?;
        state.write(&self.root)?;
        std::fs::rename(&tmp, &path).map_err(io(&path, "cannot move the new image into place"))?;
        if let Ok(d) = std::fs::File::open(&self.root) {
            let _ = d.sync_all();
        }
        // A group-commit journal of the old image names the old inode, so it would not be
        // replayed into this one; removed now, it cannot match a later image that gets
        // the old inode number back either.
        crate::flash_journal::remove(&path)
            .map_err(io(&path, "cannot remove the old image's journal"))?;
        Ok(())
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
        let Some(log) = self.read_log()? else {
            return Ok(Vec::new());
        };
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
        let Some(mut log) = self.read_log()? else {
            return Ok(VerifiedChain {
                author: *author,
                headers: Vec::new(),
                payloads: Vec::new(),
            });
        };
        chain_from_log(&mut log, author)
    }

    /// Appends a block with `payload` to one's own chain, stamped `now_ms`.
    ///
    /// # Errors
    /// Without an identity, or if the payload is invalid, or on I/O failure.
    pub fn append_own(&self, payload: &Payload, now_ms: u64) -> Result<Header> {
        let keys = self.identity()?;
        let me = keys.public();
        let floor = ImageState::read(&self.root)?.and_then(|s| s.floor(&me));
        let mut log = self.log()?;
        let head: Option<Head> = log.head(&me);
        let held = head.map_or(0, |h| h.seq);
        if let Some(floor) = floor.filter(|f| held < *f) {
            self.close_log(&log)?;
            return Err(DataDirError::OwnBlocksLost { held, floor });
        }
        let own = |source| DataDirError::Chain {
            what: "own chain",
            source,
        };
        let built = ChainState::resume(me, head)
            .map_err(own)
            .and_then(|state| BlockBuilder::new(keys, state).map_err(own))
            .and_then(|mut builder| {
                let mut src = log.source(me);
                builder
                    .next(payload, now_ms, &mut src)
                    .map(|(h, bytes)| (h, bytes.to_vec()))
                    .map_err(|source| DataDirError::Chain {
                        what: "append",
                        source,
                    })
            });
        let appended = built.and_then(|(h, bytes)| {
            log.append(&h, &bytes)
                .map_err(store(&self.image_path()))
                .map(|()| h)
        });
        // The session ends cleanly whether or not the block was appended.
        self.close_log(&log)?;
        appended
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
        if self.image_path().exists() {
            return Ok(false);
        }
        self.build_image(std::slice::from_ref(chain), self.image_bytes, &[])?;
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
        let appended = incoming
            .headers
            .iter()
            .zip(&incoming.payloads)
            .skip(held.headers.len())
            .try_for_each(|(h, p)| {
                log.append(h, p.as_deref().unwrap_or_default())
                    .map_err(|source| DataDirError::StoreBlock {
                        path: path.clone(),
                        seq: h.seq,
                        source,
                    })
            });
        // What was appended is committed either way: close the session cleanly.
        self.close_log(&log)?;
        appended?;
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

/// Mounts `flash` for writing, boxed. It formats only a blank image (a creation cut
/// short by an older glitter); a damaged one is an error. Not inlined, as
/// [`DataDir::read_log_with_state`].
#[inline(never)]
fn mount_boxed(flash: FileFlash, path: &Path) -> Result<Box<HostLog>> {
    Ok(Box::new(
        HostLog::mount_or_format(flash).map_err(store(path))?,
    ))
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
