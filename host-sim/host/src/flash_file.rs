//! [`FileFlash`]: a NOR flash backed by a file, so a host data directory holds the very
//! same flash image a device writes (`docs/STORAGE.md`).
//!
//! Geometry: pages of [`FILE_FLASH_PAGE_SIZE`] (4096) bytes, writes of
//! [`FILE_FLASH_WRITE_SIZE`] (4) bytes, reads of any size: the geometry of
//! `glitter_core::store::RamNorFlash` and of the nRF52840's flash, so an image moves
//! between all three unchanged.
//!
//! NOR rules, as on a chip and in `RamNorFlash`: an erase sets a page to `0xFF`; a write
//! must be aligned and may only program words that read as erased (anything else fails
//! with [`FileFlashError::NotErased`] and writes nothing).
//!
//! Durability: with `sync_writes` on (the default), every write and erase is followed by
//! `fdatasync`, so the order in which the store writes (record, then commit word) is the
//! order in which they reach the disk, and a power cut of the whole machine leaves at
//! most the one record in flight torn. Turn it off for bulk work
//! ([`FileFlash::set_sync_writes`]) and call [`FileFlash::sync`] at the end: a process
//! crash is still safe (the page cache keeps the order), an OS crash or power cut
//! during the bulk work may then lose or tear more than the last record, which the next
//! mount reports as corruption rather than serving it.
//!
//! Group commit ([`FileFlash::set_group_commit`], what a node uses): writes and erases
//! are staged in RAM, page by page, and [`FileFlash::commit`] makes a whole batch
//! durable with one `fdatasync` of a journal beside the image (see
//! [`crate::flash_journal`]); reads see the staged bytes. What was committed survives a
//! power cut whole, whatever order the disk wrote the image's pages in: the next open
//! replays the journal. What was staged and not committed is lost whole, so a caller
//! acknowledges nothing before the commit that covers it.

use crate::flash_journal::{self, ImageId, JOURNAL_BYTES, Journal, PAGE_BYTES, Page, Pages};
use glitter_core::store::embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes per page (the erase unit).
pub const FILE_FLASH_PAGE_SIZE: usize = PAGE_BYTES;
/// Bytes per write unit.
pub const FILE_FLASH_WRITE_SIZE: usize = 4;

/// What went wrong in a [`FileFlash`] operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFlashError {
    /// Offset or length is not a multiple of the write or erase unit.
    NotAligned,
    /// The range runs past the end of the image.
    OutOfBounds,
    /// A write targets the word at `offset`, which is not erased.
    NotErased {
        /// Byte offset of the word.
        offset: u32,
    },
    /// The file operation failed.
    Io(io::ErrorKind),
}

impl NorFlashError for FileFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FileFlashError::NotAligned => NorFlashErrorKind::NotAligned,
            FileFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl std::fmt::Display for FileFlashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileFlashError::NotAligned => f.write_str("misaligned flash access"),
            FileFlashError::OutOfBounds => f.write_str("flash access out of bounds"),
            FileFlashError::NotErased { offset } => {
                write!(f, "write to a word that is not erased, at {offset}")
            }
            FileFlashError::Io(kind) => write!(f, "flash file I/O error: {kind}"),
        }
    }
}

impl std::error::Error for FileFlashError {}

impl From<io::Error> for FileFlashError {
    fn from(e: io::Error) -> FileFlashError {
        FileFlashError::Io(e.kind())
    }
}

/// A NOR flash image in a file. See the module docs.
#[derive(Debug)]
pub struct FileFlash {
    file: File,
    path: PathBuf,
    size_bytes: usize,
    sync_writes: bool,
    /// The size of group commit's journal.
    journal_bytes: u64,
    /// Group commit's state, when it is on.
    group: Option<RefCell<Group>>,
    /// A read-only image's journal pages, seen by reads as the image's.
    replayed: Pages,
}

/// Group commit: the journal, and the pages written since the last commit.
#[derive(Debug)]
struct Group {
    journal: Journal,
    staged: Pages,
    stats: GroupStats,
}

/// What group commit did since it was turned on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Batches committed (one journal sync each).
    pub commits: u64,
    /// Pages those batches wrote.
    pub pages: u64,
    /// Times the journal was full, so the image was synced and the journal started
    /// again.
    pub journal_wraps: u64,
}

fn check_size(size_bytes: usize) -> io::Result<()> {
    if size_bytes == 0
        || !size_bytes.is_multiple_of(FILE_FLASH_PAGE_SIZE)
        || u32::try_from(size_bytes).is_err()
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "flash image size {size_bytes} is not a positive multiple of \
                 {FILE_FLASH_PAGE_SIZE} bytes below 4 GiB"
            ),
        ));
    }
    Ok(())
}

impl FileFlash {
    /// Creates a new image file of `size_bytes` (a positive multiple of 4096, below 4
    /// GiB), fully erased (`0xFF`).
    ///
    /// # Errors
    /// `InvalidInput` for a bad size, `AlreadyExists` if the file exists, or the I/O
    /// error.
    pub fn create(path: impl AsRef<Path>, size_bytes: usize) -> io::Result<FileFlash> {
        check_size(size_bytes)?;
        let path = path.as_ref();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let page = [0xFFu8; FILE_FLASH_PAGE_SIZE];
        for _ in 0..size_bytes / FILE_FLASH_PAGE_SIZE {
            file.write_all(&page)?;
        }
        file.sync_all()?;
        // A journal left by an image of this name that was removed: not ours.
        flash_journal::remove(path)?;
        Ok(FileFlash::new(file, path, size_bytes))
    }

    fn new(file: File, path: &Path, size_bytes: usize) -> FileFlash {
        FileFlash {
            file,
            path: path.to_path_buf(),
            size_bytes,
            sync_writes: true,
            journal_bytes: JOURNAL_BYTES,
            group: None,
            replayed: Pages::new(),
        }
    }

    /// Opens an existing image file, which must be exactly `size_bytes` long. A group
    /// commit journal beside it is replayed into it first, synced, and removed.
    ///
    /// # Errors
    /// `InvalidInput` for a bad size, `InvalidData` if the file has another length, or
    /// the I/O error.
    pub fn open(path: impl AsRef<Path>, size_bytes: usize) -> io::Result<FileFlash> {
        check_size(size_bytes)?;
        let path = path.as_ref();
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len();
        if len != size_bytes as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: flash image is {len} bytes, expected {size_bytes}",
                    path.display()
                ),
            ));
        }
        let flash = FileFlash::new(file, path, size_bytes);
        if let Some(pages) = flash_journal::read(path, ImageId::of(&flash.file)?, JOURNAL_BYTES)? {
            for (index, page) in &pages {
                flash.put_page(*index, page)?;
            }
            flash.file.sync_data()?;
            flash_journal::remove(path)?;
        }
        Ok(flash)
    }

    /// Opens an existing image file, taking its size from its length.
    ///
    /// # Errors
    /// `InvalidData` if the length is not a positive multiple of 4096 below 4 GiB, or
    /// the I/O error.
    pub fn open_existing(path: impl AsRef<Path>) -> io::Result<FileFlash> {
        let len = std::fs::metadata(path.as_ref())?.len();
        let size = usize::try_from(len)
            .ok()
            .filter(|s| check_size(*s).is_ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: {len} bytes is not a flash image size",
                        path.as_ref().display()
                    ),
                )
            })?;
        FileFlash::open(path, size)
    }

    /// Opens an existing image file for reading only (the file is opened without write
    /// access, so nothing can change it), taking its size from its length. Writes and
    /// erases fail. Reads see a group commit journal's pages as the next writable open
    /// will replay them.
    ///
    /// # Errors
    /// As [`FileFlash::open_existing`].
    pub fn open_read_only(path: impl AsRef<Path>) -> io::Result<FileFlash> {
        let path = path.as_ref();
        let file = OpenOptions::new().read(true).open(path)?;
        let len = file.metadata()?.len();
        let size_bytes = usize::try_from(len)
            .ok()
            .filter(|s| check_size(*s).is_ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {len} bytes is not a flash image size", path.display()),
                )
            })?;
        let mut flash = FileFlash::new(file, path, size_bytes);
        flash.replayed = flash_journal::read(path, ImageId::of(&flash.file)?, JOURNAL_BYTES)?
            .unwrap_or_default();
        Ok(flash)
    }

    /// Opens the image file if it exists (it must be `size_bytes` long), else creates
    /// it erased.
    ///
    /// # Errors
    /// As [`FileFlash::open`] and [`FileFlash::create`].
    pub fn open_or_create(path: impl AsRef<Path>, size_bytes: usize) -> io::Result<FileFlash> {
        if path.as_ref().exists() {
            FileFlash::open(path, size_bytes)
        } else {
            FileFlash::create(path, size_bytes)
        }
    }

    /// The image file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The image size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    /// Turns `fdatasync` after every write and erase on (the default) or off. See the
    /// module docs for what turning it off risks.
    pub fn set_sync_writes(&mut self, on: bool) {
        self.sync_writes = on;
    }

    /// Flushes everything written so far to the disk (in group mode: commits what is
    /// staged, then syncs the image).
    ///
    /// # Errors
    /// The I/O error.
    pub fn sync(&self) -> io::Result<()> {
        self.commit()?;
        self.file.sync_data()
    }

    /// Turns group commit on or off (see the module docs). On: the image is synced and
    /// a new journal started. Off: what is staged is committed, the image synced and
    /// the journal removed; the file flash then writes in place again.
    ///
    /// # Errors
    /// The I/O error; group commit is then as it was.
    pub fn set_group_commit(&mut self, on: bool) -> io::Result<()> {
        match (on, self.group.is_some()) {
            (true, false) => {
                self.file.sync_data()?;
                let id = ImageId::of(&self.file)?;
                let journal = Journal::create(&self.path, id, self.journal_bytes)?;
                self.group = Some(RefCell::new(Group {
                    journal,
                    staged: Pages::new(),
                    stats: GroupStats::default(),
                }));
            }
            (false, true) => {
                self.sync()?;
                flash_journal::remove(&self.path)?;
                self.group = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// Sets the size of the journal the next [`FileFlash::set_group_commit`] starts
    /// (by default [`JOURNAL_BYTES`]; at least
    /// [`flash_journal::JOURNAL_BYTES_MIN`], checked then). A smaller journal syncs
    /// the image more often and commits smaller batches. Opening an image reads at most
    /// [`JOURNAL_BYTES`] of its journal, so a larger one is refused.
    ///
    /// # Errors
    /// `InvalidInput` above [`JOURNAL_BYTES`].
    pub fn set_journal_bytes(&mut self, bytes: u64) -> io::Result<()> {
        if bytes > JOURNAL_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a journal holds at most {JOURNAL_BYTES} bytes"),
            ));
        }
        self.journal_bytes = bytes;
        Ok(())
    }

    /// True if writes are staged that no commit has made durable yet.
    pub fn has_staged(&self) -> bool {
        self.group
            .as_ref()
            .is_some_and(|g| !g.borrow().staged.is_empty())
    }

    /// Makes every staged write durable with one journal sync, then writes the pages
    /// into the image (synced later: when the journal is full, by [`FileFlash::sync`],
    /// or never before a power cut, after which the next open replays the journal).
    /// Without group commit, or with nothing staged, it does nothing.
    ///
    /// # Errors
    /// The I/O error. The batch is then not known to be durable: stop using this
    /// flash, and let the next open recover what the disk holds.
    pub fn commit(&self) -> io::Result<()> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let mut g = group.borrow_mut();
        if g.staged.is_empty() {
            return Ok(());
        }
        let Group {
            journal,
            staged,
            stats,
        } = &mut *g;
        journal.append(staged, &self.file)?;
        for (index, page) in staged.iter() {
            self.put_page(*index, page)?;
        }
        stats.commits += 1;
        stats.pages += staged.len() as u64;
        stats.journal_wraps = journal.epoch();
        staged.clear();
        Ok(())
    }

    /// What group commit did since it was turned on (`None` when it is off).
    pub fn group_stats(&self) -> Option<GroupStats> {
        self.group.as_ref().map(|g| g.borrow().stats)
    }

    /// Writes page `index` into the image, in place, unsynced.
    fn put_page(&self, index: u32, page: &Page) -> io::Result<()> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(u64::from(index) * PAGE_BYTES as u64))?;
        file.write_all(&page[..])
    }

    /// Group mode's write (`bytes`) and erase (`None`: `len` bytes of `0xFF`) at
    /// `offset`: changes the staged copy of each page the range touches (staging the
    /// image's page first if it is not). Commits when the batch is full.
    fn stage(&self, offset: u32, bytes: Option<&[u8]>, len: usize) -> Result<(), FileFlashError> {
        let Some(group) = &self.group else {
            return Err(FileFlashError::Io(io::ErrorKind::Unsupported));
        };
        let mut done = 0usize;
        // One round per page the range touches.
        while done < len {
            let at = offset as usize + done;
            let index = (at / PAGE_BYTES) as u32;
            let from = at % PAGE_BYTES;
            let n = (PAGE_BYTES - from).min(len - done);
            let staged = group.borrow().staged.contains_key(&index);
            if !staged {
                let mut page: Page = Box::new([0xFF; PAGE_BYTES]);
                self.read_at(u64::from(index) * PAGE_BYTES as u64, &mut page[..])?;
                group.borrow_mut().staged.insert(index, page);
            }
            let mut g = group.borrow_mut();
            if let Some(dst) = g
                .staged
                .get_mut(&index)
                .and_then(|p| p.get_mut(from..from + n))
            {
                match bytes.and_then(|b| b.get(done..done + n)) {
                    Some(src) => dst.copy_from_slice(src),
                    None => dst.fill(0xFF),
                }
            }
            let full = g.staged.len() >= g.journal.pages_max();
            drop(g);
            if full {
                self.commit()?;
            }
            done += n;
        }
        Ok(())
    }

    /// Overlays the staged (or replayed) pages on `buf`, read from the image at `offset`.
    fn overlay(&self, offset: u32, buf: &mut [u8]) {
        let group = self.group.as_ref().map(|g| g.borrow());
        let pages = match &group {
            Some(g) => &g.staged,
            None => &self.replayed,
        };
        if pages.is_empty() {
            return;
        }
        let start = offset as usize;
        let first = (start / PAGE_BYTES) as u32;
        let last = ((start + buf.len()).div_ceil(PAGE_BYTES)) as u32;
        for (index, page) in pages.range(first..last) {
            let page_start = *index as usize * PAGE_BYTES;
            let lo = start.max(page_start);
            let hi = (start + buf.len()).min(page_start + PAGE_BYTES);
            if let (Some(dst), Some(src)) = (
                buf.get_mut(lo - start..hi - start),
                page.get(lo - page_start..hi - page_start),
            ) {
                dst.copy_from_slice(src);
            }
        }
    }

    fn check(&self, offset: u32, len: usize, align: usize) -> Result<u64, FileFlashError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(FileFlashError::OutOfBounds)?;
        if end > self.size_bytes {
            return Err(FileFlashError::OutOfBounds);
        }
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(FileFlashError::NotAligned);
        }
        Ok(start as u64)
    }

    fn read_at(&self, at: u64, buf: &mut [u8]) -> Result<(), FileFlashError> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(buf)?;
        Ok(())
    }

    fn write_at(&mut self, at: u64, buf: &[u8]) -> Result<(), FileFlashError> {
        self.file.seek(SeekFrom::Start(at))?;
        self.file.write_all(buf)?;
        if self.sync_writes {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

impl ErrorType for FileFlash {
    type Error = FileFlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FileFlashError> {
        let at = self.check(offset, bytes.len(), 1)?;
        self.read_at(at, bytes)?;
        self.overlay(offset, bytes);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.size_bytes
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = FILE_FLASH_WRITE_SIZE;
    const ERASE_SIZE: usize = FILE_FLASH_PAGE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FileFlashError> {
        let len = (to as usize)
            .checked_sub(from as usize)
            .ok_or(FileFlashError::OutOfBounds)?;
        let at = self.check(from, len, FILE_FLASH_PAGE_SIZE)?;
        if self.group.is_some() {
            return self.stage(from, None, len);
        }
        let page = [0xFFu8; FILE_FLASH_PAGE_SIZE];
        self.file.seek(SeekFrom::Start(at))?;
        for _ in 0..len / FILE_FLASH_PAGE_SIZE {
            self.file.write_all(&page)?;
        }
        if self.sync_writes {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FileFlashError> {
        let at = self.check(offset, bytes.len(), FILE_FLASH_WRITE_SIZE)?;
        // Only erased words may be programmed: check them all before writing any.
        let mut old = vec![0u8; bytes.len()];
        self.read_at(at, &mut old)?;
        self.overlay(offset, &mut old);
        if let Some(w) = old
            .chunks_exact(FILE_FLASH_WRITE_SIZE)
            .position(|word| word.iter().any(|b| *b != 0xFF))
        {
            return Err(FileFlashError::NotErased {
                offset: offset + (w * FILE_FLASH_WRITE_SIZE) as u32,
            });
        }
        if self.group.is_some() {
            return self.stage(offset, Some(bytes), bytes.len());
        }
        self.write_at(at, bytes)
    }
}
