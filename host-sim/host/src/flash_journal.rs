//! The group-commit journal of a [`crate::flash_file::FileFlash`]: many flash writes
//! made durable with one `fdatasync`.
//!
//! In group mode a file flash does not write its pages in place at once. It stages the
//! pages a batch of writes touched, in RAM, and [`Journal::append`] writes them, whole,
//! as one record at the end of a journal file beside the image (`<image>.journal`),
//! then syncs that file once. Only then are the pages written into the image, without
//! a sync of their own. After a power cut the image may hold any mix of old and new
//! bytes in pages written since its last sync, but every such page is in the journal,
//! whole, as of its last batch: the next open replays the journal's records in order
//! ([`read`]) and the image is exactly what the last durable batch left. A record that
//! did not land whole (its CRC fails) was never acknowledged and its pages never
//! reached the image, so replay stops there.
//!
//! The image is synced, and the journal written again from its start under a new
//! epoch, when the next record would not fit ([`JOURNAL_BYTES`]); a close syncs the
//! image and removes the journal ([`remove`]), so that no stale record can be replayed
//! over later writes. Each record names the image file (device, inode and length), so
//! a journal left beside an image that was since replaced is ignored.
//!
//! Record layout (integers little-endian):
//!
//! | bytes        | field                                               |
//! |--------------|-----------------------------------------------------|
//! | 0..4         | magic `"GLJR"`                                      |
//! | 4            | version, `1`                                        |
//! | 5..8         | zeros                                               |
//! | 8..16        | image device                                        |
//! | 16..24       | image inode                                         |
//! | 24..32       | image length                                        |
//! | 32..40       | epoch (starts at 0 in a new journal file)           |
//! | 40..48       | seq (0 for an epoch's first record, then +1)        |
//! | 48..52       | page count `n` (1..=[`STAGED_PAGES_MAX`])           |
//! | 52..         | `n` times: page index (u32), then the page's bytes  |
//! | end-4..end   | CRC-32C of everything before it                     |

use glitter_core::store::crc::{Crc32c, crc32c};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes per page (the flash's erase unit, and the journal's unit).
pub const PAGE_BYTES: usize = 4096;
/// Most pages one record (one batch) holds: a batch that touches more is committed in
/// parts, so a record is at most about 1 MiB.
pub const STAGED_PAGES_MAX: usize = 256;
/// The journal file's size by default: room for at least three of the largest
/// records, so the image is synced at most once per three batches' worth of pages.
pub const JOURNAL_BYTES: u64 = 4 * 1024 * 1024;
/// The smallest journal: three records of one page.
pub const JOURNAL_BYTES_MIN: u64 = 3 * (HEAD_LEN + ENTRY_LEN + CRC_LEN) as u64;

const MAGIC: [u8; 4] = *b"GLJR";
const VERSION: u8 = 1;
const HEAD_LEN: usize = 52;
const ENTRY_LEN: usize = 4 + PAGE_BYTES;
const CRC_LEN: usize = 4;

/// One page's bytes.
pub type Page = Box<[u8; PAGE_BYTES]>;
/// Pages by index.
pub type Pages = BTreeMap<u32, Page>;

/// The image file a journal belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageId {
    dev: u64,
    ino: u64,
    len: u64,
}

impl ImageId {
    /// The identity of the open image `file`.
    ///
    /// # Errors
    /// The I/O error of reading its metadata.
    pub fn of(file: &File) -> io::Result<ImageId> {
        let m = file.metadata()?;
        #[cfg(unix)]
        let (dev, ino) = {
            use std::os::unix::fs::MetadataExt;
            (m.dev(), m.ino())
        };
        #[cfg(not(unix))]
        let (dev, ino) = (0, 0);
        Ok(ImageId {
            dev,
            ino,
            len: m.len(),
        })
    }

    fn pages(&self) -> u64 {
        self.len / PAGE_BYTES as u64
    }
}

/// The journal's path beside `image`.
pub fn journal_path(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_os_string();
    name.push(".journal");
    PathBuf::from(name)
}

fn sync_parent(path: &Path) {
    // Makes a create or remove durable; not every platform can open a directory.
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = d.sync_all();
    }
}

/// Removes `image`'s journal, durably (the directory is synced). Call it only once the
/// image itself is synced.
///
/// # Errors
/// The I/O error, except that a missing journal is fine.
pub fn remove(image: &Path) -> io::Result<()> {
    match std::fs::remove_file(journal_path(image)) {
        Ok(()) => {
            sync_parent(image);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The pages of the journal's durable records for the image `id`, the later record's
/// page winning: `None` if there is no journal file, empty if it holds no record for
/// this image. Reads at most `capacity` bytes (the journal's size).
///
/// # Errors
/// The I/O error of reading it.
pub fn read(image: &Path, id: ImageId, capacity: u64) -> io::Result<Option<Pages>> {
    let file = match File::open(journal_path(image)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    file.take(capacity).read_to_end(&mut bytes)?;
    Ok(Some(parse(&bytes, id)))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(s.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(s.try_into().ok()?))
}

/// The records of `bytes` (a journal file's contents) for image `id`, applied in
/// order; stops at the first that is torn, foreign, or out of sequence.
pub fn parse(bytes: &[u8], id: ImageId) -> Pages {
    let mut pages = Pages::new();
    let mut at = 0usize;
    let mut expect: Option<(u64, u64)> = None;
    // Each round consumes a record of at least HEAD_LEN + ENTRY_LEN + CRC_LEN bytes.
    while let Some((epoch, seq, len)) = record_at(bytes, at, id) {
        if expect.is_some_and(|e| e != (epoch, seq)) || (expect.is_none() && seq != 0) {
            break;
        }
        expect = Some((epoch, seq + 1));
        let body = bytes.get(at + HEAD_LEN..at + len - CRC_LEN).unwrap_or(&[]);
        for entry in body.chunks_exact(ENTRY_LEN) {
            let (index, data) = entry.split_at(4);
            if let (Some(index), Ok(page)) = (u32_at(index, 0), <[u8; PAGE_BYTES]>::try_from(data))
            {
                pages.insert(index, Box::new(page));
            }
        }
        at += len;
    }
    pages
}

/// The (epoch, seq, length) of an intact record for `id` at `at`, if there is one.
fn record_at(bytes: &[u8], at: usize, id: ImageId) -> Option<(u64, u64, usize)> {
    let head = bytes.get(at..at.checked_add(HEAD_LEN)?)?;
    let ok = head.get(0..4) == Some(&MAGIC[..])
        && head.get(4) == Some(&VERSION)
        && head.get(5..8) == Some(&[0u8; 3][..])
        && u64_at(head, 8) == Some(id.dev)
        && u64_at(head, 16) == Some(id.ino)
        && u64_at(head, 24) == Some(id.len);
    let count = usize::try_from(u32_at(head, 48)?).ok()?;
    if !ok || count == 0 || count > STAGED_PAGES_MAX {
        return None;
    }
    let len = HEAD_LEN + count * ENTRY_LEN + CRC_LEN;
    let record = bytes.get(at..at.checked_add(len)?)?;
    let (body, crc) = record.split_at(len - CRC_LEN);
    if u32_at(crc, 0)? != crc32c(body) {
        return None;
    }
    // Every page index must lie inside the image.
    let in_image = body
        .get(HEAD_LEN..)?
        .chunks_exact(ENTRY_LEN)
        .all(|e| u32_at(e, 0).is_some_and(|i| u64::from(i) < id.pages()));
    in_image.then_some((u64_at(head, 32)?, u64_at(head, 40)?, len))
}

/// An open journal, appending records for one image.
#[derive(Debug)]
pub struct Journal {
    file: File,
    id: ImageId,
    capacity: u64,
    at: u64,
    epoch: u64,
    seq: u64,
}

impl Journal {
    /// Starts a new, empty journal of `capacity` bytes (at least
    /// [`JOURNAL_BYTES_MIN`]) for the image at `image` (identity `id`), replacing any
    /// journal there: the file is created, filled with zeros (so that a record's sync
    /// need not also grow the file) and synced, and so is the directory. Call it only
    /// once the image is synced: an old journal's records are lost.
    ///
    /// # Errors
    /// `InvalidInput` for a capacity below the minimum; the I/O error.
    pub fn create(image: &Path, id: ImageId, capacity: u64) -> io::Result<Journal> {
        if capacity < JOURNAL_BYTES_MIN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a journal needs at least {JOURNAL_BYTES_MIN} bytes"),
            ));
        }
        let path = journal_path(image);
        remove(image)?;
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path)?;
        let zeros = vec![0u8; 64 * 1024];
        let mut left = capacity;
        // capacity / 64 KiB rounds.
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            file.write_all(zeros.get(..n).unwrap_or(&[]))?;
            left -= n as u64;
        }
        file.sync_all()?;
        sync_parent(&path);
        Ok(Journal {
            file,
            id,
            capacity,
            at: 0,
            epoch: 0,
            seq: 0,
        })
    }

    /// The most pages one record may hold: [`STAGED_PAGES_MAX`], or fewer in a small
    /// journal, so that three records always fit.
    pub fn pages_max(&self) -> usize {
        let per_record = (self.capacity / 3) as usize;
        ((per_record - HEAD_LEN - CRC_LEN) / ENTRY_LEN).min(STAGED_PAGES_MAX)
    }

    /// How many times the journal was full and started again (its epoch).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Writes `pages` (1..=[`Journal::pages_max`] of them) as the next record and syncs
    /// it: when this returns `Ok`, the pages are durable. If the record does not fit
    /// after the last one, `image` is synced first (every page the journal holds is then
    /// in the image) and the record starts a new epoch at the journal's start.
    ///
    /// # Errors
    /// `InvalidInput` for an empty or oversized batch; the I/O error.
    pub fn append(&mut self, pages: &Pages, image: &File) -> io::Result<()> {
        if pages.is_empty() || pages.len() > self.pages_max() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a journal record holds 1 to {} pages", self.pages_max()),
            ));
        }
        let mut record = Vec::with_capacity(HEAD_LEN + pages.len() * ENTRY_LEN + CRC_LEN);
        record.extend_from_slice(&MAGIC);
        record.extend_from_slice(&[VERSION, 0, 0, 0]);
        for v in [self.id.dev, self.id.ino, self.id.len] {
            record.extend_from_slice(&v.to_le_bytes());
        }
        let len = (HEAD_LEN + pages.len() * ENTRY_LEN + CRC_LEN) as u64;
        if self.at + len > self.capacity {
            image.sync_data()?;
            self.epoch += 1;
            self.seq = 0;
            self.at = 0;
        }
        record.extend_from_slice(&self.epoch.to_le_bytes());
        record.extend_from_slice(&self.seq.to_le_bytes());
        record.extend_from_slice(&(pages.len() as u32).to_le_bytes());
        for (index, page) in pages {
            record.extend_from_slice(&index.to_le_bytes());
            record.extend_from_slice(&page[..]);
        }
        let mut crc = Crc32c::new();
        crc.update(&record);
        record.extend_from_slice(&crc.finish().to_le_bytes());
        self.file.seek(SeekFrom::Start(self.at))?;
        self.file.write_all(&record)?;
        self.file.sync_data()?;
        self.at += len;
        self.seq += 1;
        Ok(())
    }
}
