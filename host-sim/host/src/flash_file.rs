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

use glitter_core::store::embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes per page (the erase unit).
pub const FILE_FLASH_PAGE_SIZE: usize = 4096;
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
        Ok(FileFlash {
            file,
            path: path.to_path_buf(),
            size_bytes,
            sync_writes: true,
        })
    }

    /// Opens an existing image file, which must be exactly `size_bytes` long.
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
        Ok(FileFlash {
            file,
            path: path.to_path_buf(),
            size_bytes,
            sync_writes: true,
        })
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
    /// erases fail.
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
        Ok(FileFlash {
            file,
            path: path.to_path_buf(),
            size_bytes,
            sync_writes: true,
        })
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

    /// Flushes everything written so far to the disk.
    ///
    /// # Errors
    /// The I/O error.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
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

    fn read_at(&mut self, at: u64, buf: &mut [u8]) -> Result<(), FileFlashError> {
        self.file.seek(SeekFrom::Start(at))?;
        self.file.read_exact(buf)?;
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
        self.read_at(at, bytes)
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
        if let Some(w) = old
            .chunks_exact(FILE_FLASH_WRITE_SIZE)
            .position(|word| word.iter().any(|b| *b != 0xFF))
        {
            return Err(FileFlashError::NotErased {
                offset: offset + (w * FILE_FLASH_WRITE_SIZE) as u32,
            });
        }
        self.write_at(at, bytes)
    }
}

#[cfg(test)]
mod tests {
    //! One format: an image written through `FileFlash` mounts through `RamNorFlash`,
    //! and the other way round, and both recover a torn tail into the same bytes.

    use super::*;
    use glitter_core::chain::{ChainState, NoHeaders};
    use glitter_core::social::Payload;
    use glitter_core::store::{FlashLog, PowerCut, RamNorFlash};
    use glitter_core::wire::header::{BlockKind, Header, PAYLOAD_LEN_MAX};
    use glitter_core::{BlockLog, KeyPair};

    const PAGES: usize = 32;
    const SIZE: usize = PAGES * FILE_FLASH_PAGE_SIZE;
    type Ram = RamNorFlash<PAGES>;

    /// `n` signed blocks over two authors, chains interleaved.
    fn blocks(n: usize, salt: u8) -> Vec<(Header, Vec<u8>)> {
        let keys: Vec<KeyPair> = (1..=2u8)
            .map(|a| KeyPair::from_seed([a ^ salt; 32]).expect("seed"))
            .collect();
        let mut states: Vec<ChainState> = keys
            .iter()
            .map(|k| ChainState::new(k.public()).expect("key"))
            .collect();
        let mut past: Vec<Vec<Header>> = vec![Vec::new(), Vec::new()];
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        (0..n)
            .map(|i| {
                let a = i % 3 % 2;
                let text = "x".repeat(i * 7 % 300);
                let payload = Payload::post(&text, None)
                    .expect("post")
                    .encode(&mut buf)
                    .expect("encode")
                    .to_vec();
                let h = states[a]
                    .append(
                        &keys[a],
                        BlockKind::Post,
                        i as u64,
                        &payload,
                        past[a].as_mut_slice(),
                    )
                    .expect("sign");
                past[a].push(h);
                (h, payload)
            })
            .collect()
    }

    /// Every block reads back, in order, from any log.
    fn assert_holds<L: BlockLog>(log: &mut L, blocks: &[(Header, Vec<u8>)])
    where
        L::Error: std::fmt::Debug,
    {
        let mut seen = std::collections::HashMap::new();
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        for (h, p) in blocks {
            assert_eq!(log.header(&h.author, h.seq).expect("read"), Some(*h));
            let got = log.payload(&h.author, h.seq, &mut buf).expect("read");
            assert_eq!(got, Some(p.as_slice()));
            seen.insert(h.author, h.seq);
        }
        for (a, seq) in seen {
            assert_eq!(log.head(&a).map(|h| h.seq), Some(seq));
        }
        assert_eq!(log.usage().blocks, blocks.len());
    }

    fn ram_from(bytes: &[u8]) -> Box<Ram> {
        let mut ram = Box::new(Ram::new());
        ram.load(bytes).expect("image size");
        ram
    }

    #[test]
    fn nor_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("flash.img");
        assert!(FileFlash::create(&path, 1000).is_err());
        let mut f = FileFlash::create(&path, 2 * FILE_FLASH_PAGE_SIZE).expect("create");
        f.set_sync_writes(false);
        assert!(
            FileFlash::create(&path, FILE_FLASH_PAGE_SIZE).is_err(),
            "exists"
        );
        assert_eq!(f.write(2, &[0; 4]), Err(FileFlashError::NotAligned));
        assert_eq!(f.write(8192, &[0; 4]), Err(FileFlashError::OutOfBounds));
        assert_eq!(f.erase(0, 10), Err(FileFlashError::NotAligned));
        f.write(4, &[1, 2, 3, 4]).expect("write");
        assert_eq!(
            f.write(0, &[0; 8]),
            Err(FileFlashError::NotErased { offset: 4 })
        );
        let mut b = [0u8; 6];
        f.read(2, &mut b).expect("read");
        assert_eq!(b, [0xFF, 0xFF, 1, 2, 3, 4]);
        f.erase(0, 4096).expect("erase");
        f.read(2, &mut b).expect("read");
        assert_eq!(b, [0xFF; 6]);
        f.sync().expect("sync");
        drop(f);
        assert!(FileFlash::open(&path, 4096).is_err(), "wrong size");
        let f = FileFlash::open_existing(&path).expect("open");
        assert_eq!(f.capacity(), 8192);
    }

    #[test]
    fn file_image_mounts_in_ram_and_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("flash.img");
        let all = blocks(120, 0);
        let (first, second) = all.split_at(80);

        // Written through the file...
        let mut file = FileFlash::create(&path, SIZE).expect("create");
        file.set_sync_writes(false);
        let mut log = FlashLog::<_, 4, 256>::format(&mut file).expect("format");
        for (h, p) in first {
            log.append(h, p).expect("append");
        }
        drop(log);
        file.sync().expect("sync");
        drop(file);

        // ...mounts in RAM, and keeps growing there...
        let mut ram = ram_from(&std::fs::read(&path).expect("read image"));
        let mut log = FlashLog::<_, 4, 256>::mount(&mut *ram).expect("mount in RAM");
        assert_holds(&mut log, first);
        for (h, p) in second {
            log.append(h, p).expect("append in RAM");
        }
        drop(log);

        // ...and the RAM image mounts from a file again.
        let path2 = dir.path().join("from-ram.img");
        std::fs::write(&path2, ram.as_bytes()).expect("write image");
        let mut file = FileFlash::open(&path2, SIZE).expect("open");
        let mut log = FlashLog::<_, 4, 256>::mount(&mut file).expect("mount from file");
        assert_holds(&mut log, &all);
    }

    #[test]
    fn torn_tail_recovers_to_the_same_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = blocks(30, 9);
        // A RAM log whose last append is cut in the middle of its payload.
        let mut ram = Box::new(Ram::new());
        let mut log = FlashLog::<_, 4, 64>::format(&mut *ram).expect("format");
        for (h, p) in &all[..29] {
            log.append(h, p).expect("append");
        }
        drop(log);
        // Op 0 of an append writes the record (224-byte head, payload, padding): cut it
        // half-way through the payload.
        ram.schedule_power_cut(PowerCut {
            after_ops: 0,
            after_bytes: (224 + all[29].1.len() / 2) as _,
            torn_mask: 0x3C,
        });
        let mut log = FlashLog::<_, 4, 64>::mount(&mut *ram).expect("mount");
        let (h, p) = &all[29];
        assert!(log.append(h, p).is_err());
        drop(log);
        ram.power_on();
        let torn = ram.as_bytes().to_vec();

        // Recover it once in RAM and once from a file: same report, same bytes.
        let mut in_ram = ram_from(&torn);
        let log = FlashLog::<_, 4, 64>::mount(&mut *in_ram).expect("ram mount");
        let ram_report = log.mount_report();
        drop(log);
        let path = dir.path().join("torn.img");
        std::fs::write(&path, &torn).expect("write");
        let mut file = FileFlash::open(&path, SIZE).expect("open");
        let mut log = FlashLog::<_, 4, 64>::mount(&mut file).expect("file mount");
        assert_eq!(log.mount_report(), ram_report);
        assert!(ram_report.torn_tail.is_some_and(|t| t.repaired));
        assert_holds(&mut log, &all[..29]);
        log.append(h, p).expect("append after repair");
        drop(log);
        drop(file);
        let mut log = FlashLog::<_, 4, 64>::mount(&mut *in_ram).expect("ram mount");
        log.append(h, p).expect("append after repair");
        drop(log);
        assert_eq!(std::fs::read(&path).expect("read"), in_ram.as_bytes());
        let mut genesis_only = ChainState::new(all[0].0.author).expect("key");
        assert!(
            genesis_only
                .verify_next(&all[0].0.to_bytes(), Some(&all[0].1), &mut NoHeaders)
                .is_ok()
        );
    }
}
