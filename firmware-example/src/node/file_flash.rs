//! [`FileFlash`]: the QEMU node's NOR flash. A RAM image that writes every program and
//! erase through to a file on the host with ARM semihosting file calls, so that the
//! chain log survives a real power cut: QEMU killed with SIGKILL, then started again.
//!
//! QEMU emulates no flash writes, so the image lives in RAM; the file is its
//! persistence. An operation changes the RAM image, then the same bytes of the file
//! (`SYS_SEEK`, `SYS_WRITE`), before it returns: what the `FlashLog` committed is in
//! the host's page cache, which outlives the QEMU process. A kill between the two
//! loses at most that operation, the same as a power cut before it, and the next
//! mount treats it so (a torn tail is repaired on a fresh page).
//!
//! NOR rules, as on a chip: erases set whole 4 KiB pages to `0xFF`; writes are of
//! whole 4-byte words, aligned, and program by AND (bits only go from 1 to 0).
//! Reads may be unaligned. Rewrites of a word are not refused (glitter's own
//! `RamNorFlash` does that, for the core's tests); the log never rewrites one.
//!
//! Why not `RamNorFlash` with the file beside it: it has no in-place constructor,
//! and for 32 pages `RamNorFlash::new()` would build its 135 KB in a stack temporary
//! (or in `.data`, copied from the image).
//!
//! The file's path is the first word of the semihosting command line (QEMU's
//! `-semihosting-config enable=on,target=native,arg=PATH`). Without one the flash is
//! RAM only. See [`FileFlash::open`] for what is done with the file at boot.

use core::fmt;

use cortex_m_semihosting::nr;
use glitter_core::store::embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Pages of the flash (4 KiB each): about 450 blocks of short posts.
pub const FLASH_PAGES: usize = 32;
/// Bytes per page, the erase unit.
pub const PAGE_SIZE: usize = 4096;
/// Bytes per word, the write unit.
pub const WORD_SIZE: usize = 4;
/// Bytes of the whole flash (and of its file).
pub const FLASH_BYTES: usize = FLASH_PAGES * PAGE_SIZE;
/// Longest semihosting command line read (the path, and anything after it).
pub const CMDLINE_MAX: usize = 256;
/// Where an ELF file starts: QEMU falls back to the kernel's path as the command line
/// when no `arg=` is given, and that file is never taken for a flash image.
const ELF_MAGIC: [u8; 4] = *b"\x7fELF";

/// What went wrong in a [`FileFlash`] operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFlashError {
    /// Offset or length is not a multiple of the write or erase unit.
    NotAligned,
    /// The range runs past the end of the flash.
    OutOfBounds,
    /// The host refused to seek or write the file (the RAM image was changed).
    File,
}

impl NorFlashError for FileFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            FileFlashError::NotAligned => NorFlashErrorKind::NotAligned,
            FileFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            FileFlashError::File => NorFlashErrorKind::Other,
        }
    }
}

/// What [`FileFlash::open`] did with the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// No path on the semihosting command line: RAM only.
    NoPath,
    /// The file held a whole image: it was loaded.
    Loaded,
    /// There was no file: it was created, erased.
    Created,
    /// The file was shorter (empty, or its creation was cut): loaded, and extended
    /// with erased bytes from this length.
    Extended(usize),
    /// The file is an ELF file (QEMU's fallback command line is the kernel's path):
    /// not touched, RAM only.
    Elf,
    /// The file is longer than an image: not touched, RAM only.
    TooLong(usize),
    /// The host refused to open, read or write the file: RAM only from here.
    Failed(&'static str),
}

impl fmt::Display for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::NoPath => write!(f, "no file (semihosting arg=PATH): RAM only"),
            Opened::Loaded => write!(f, "loaded ({FLASH_BYTES} bytes)"),
            Opened::Created => write!(f, "created, erased ({FLASH_BYTES} bytes)"),
            Opened::Extended(from) => {
                write!(f, "loaded {from} bytes, extended erased to {FLASH_BYTES}")
            }
            Opened::Elf => write!(f, "an ELF file, not a flash image: not touched, RAM only"),
            Opened::TooLong(len) => write!(
                f,
                "{len} bytes, more than a {FLASH_BYTES}-byte image: not touched, RAM only"
            ),
            Opened::Failed(what) => write!(f, "cannot {what} the file: RAM only"),
        }
    }
}

/// The node's flash: a RAM image, written through to a host file.
pub struct FileFlash {
    image: &'static mut [u8; FLASH_BYTES],
    /// The semihosting handle of the open file, if any.
    file: Option<usize>,
}

impl FileFlash {
    /// The flash over `image`, from the file at `path` (bytes, no NUL):
    ///
    /// - a file of [`FLASH_BYTES`] is loaded;
    /// - no file: one is created, erased;
    /// - a shorter file (empty, or cut while it was created) is loaded and extended
    ///   with erased bytes;
    /// - an ELF file or a longer file is not touched, and the flash is RAM only.
    ///
    /// `image` is erased first; without a usable file it stays RAM only.
    pub fn open(image: &'static mut [u8; FLASH_BYTES], path: Option<&[u8]>) -> (FileFlash, Opened) {
        image.fill(0xFF);
        let mut flash = FileFlash { image, file: None };
        let Some(path) = path else {
            return (flash, Opened::NoPath);
        };
        let mut name = [0u8; CMDLINE_MAX + 1];
        let Some(slot) = name.get_mut(..path.len()) else {
            return (flash, Opened::Failed("name"));
        };
        slot.copy_from_slice(path);
        let name = name.get(..=path.len()).unwrap_or_default();
        let opened = flash.attach(name);
        (flash, opened)
    }

    /// Opens (or creates) the file `name` (NUL-terminated) and loads it.
    fn attach(&mut self, name: &[u8]) -> Opened {
        let existing = match host::open(name, nr::open::R_BINARY) {
            Some(h) => {
                let len = host::flen(h);
                let mut magic = [0u8; 4];
                let elf =
                    len.is_some_and(|l| l >= 4) && host::read(h, &mut magic) && magic == ELF_MAGIC;
                host::close(h);
                match len {
                    None => return Opened::Failed("size"),
                    Some(_) if elf => return Opened::Elf,
                    Some(len) if len > FLASH_BYTES => return Opened::TooLong(len),
                    Some(len) => Some(len),
                }
            }
            None => None,
        };
        let Some(len) = existing else {
            let Some(h) = host::open(name, nr::open::RW_TRUNC_BINARY) else {
                return Opened::Failed("create");
            };
            if !host::write_at(h, 0, self.image.as_slice()) {
                host::close(h);
                return Opened::Failed("write");
            }
            self.file = Some(h);
            return Opened::Created;
        };
        let Some(h) = host::open(name, nr::open::RW_BINARY) else {
            return Opened::Failed("open");
        };
        let (head, tail) = self.image.split_at_mut(len);
        if !host::read_at(h, 0, head) {
            host::close(h);
            self.image.fill(0xFF);
            return Opened::Failed("read");
        }
        if !tail.is_empty() && !host::write_at(h, len, tail) {
            host::close(h);
            self.image.fill(0xFF);
            return Opened::Failed("extend");
        }
        self.file = Some(h);
        if len == FLASH_BYTES {
            Opened::Loaded
        } else {
            Opened::Extended(len)
        }
    }

    /// Checks that `offset..offset + len` lies in the flash and is aligned to `align`;
    /// returns it as a range.
    fn range(
        offset: u32,
        len: usize,
        align: usize,
    ) -> Result<core::ops::Range<usize>, FileFlashError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(FileFlashError::OutOfBounds)?;
        if end > FLASH_BYTES {
            return Err(FileFlashError::OutOfBounds);
        }
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(FileFlashError::NotAligned);
        }
        Ok(start..end)
    }

    /// Writes the image's bytes in `range` through to the file, if there is one.
    fn persist(&mut self, range: core::ops::Range<usize>) -> Result<(), FileFlashError> {
        let Some(h) = self.file else {
            return Ok(());
        };
        let start = range.start;
        let bytes = self.image.get(range).ok_or(FileFlashError::OutOfBounds)?;
        if host::write_at(h, start, bytes) {
            Ok(())
        } else {
            Err(FileFlashError::File)
        }
    }
}

impl ErrorType for FileFlash {
    type Error = FileFlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), FileFlashError> {
        let range = Self::range(offset, bytes.len(), 1)?;
        let src = self.image.get(range).ok_or(FileFlashError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        FLASH_BYTES
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = WORD_SIZE;
    const ERASE_SIZE: usize = PAGE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), FileFlashError> {
        let len = to.checked_sub(from).ok_or(FileFlashError::OutOfBounds)? as usize;
        let range = Self::range(from, len, PAGE_SIZE)?;
        self.image
            .get_mut(range.clone())
            .ok_or(FileFlashError::OutOfBounds)?
            .fill(0xFF);
        self.persist(range)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), FileFlashError> {
        let range = Self::range(offset, bytes.len(), WORD_SIZE)?;
        let dst = self
            .image
            .get_mut(range.clone())
            .ok_or(FileFlashError::OutOfBounds)?;
        for (d, s) in dst.iter_mut().zip(bytes) {
            *d &= *s;
        }
        self.persist(range)
    }
}

/// The first word of the semihosting command line, into `buf`; `None` if there is
/// none (or the host has no command line to give).
pub fn cmdline_path(buf: &mut [u8; CMDLINE_MAX]) -> Option<&[u8]> {
    let len = host::cmdline(buf)?;
    let line = buf.get(..len)?;
    let first = line
        .split(|b| b.is_ascii_whitespace() || *b == 0)
        .find(|w| !w.is_empty())?;
    // `:tt` and the like name the host's console, not a file.
    if first.first() == Some(&b':') {
        return None;
    }
    Some(first)
}

/// The ARM semihosting calls the flash uses (`bkpt 0xab`, operation in r0, argument
/// block in r1). Each returns whether the host did it.
mod host {
    use cortex_m_semihosting::{nr, syscall1};

    /// Performs semihosting operation `op` on the argument block `args`.
    fn call(op: usize, args: &mut [usize]) -> usize {
        // SAFETY: `op` is one of the file operations below, each given the argument
        // block it defines: buffer pointers and lengths come from live Rust slices that
        // outlive the call, and the host writes (SYS_READ, SYS_GET_CMDLINE) only
        // within them. `syscall1` is an asm block without `nomem`, so the compiler
        // assumes memory was read and written.
        unsafe { syscall1(op, args.as_mut_ptr() as usize) }
    }

    /// SYS_OPEN: opens `name` (NUL-terminated) in `mode`; the handle.
    pub fn open(name: &[u8], mode: usize) -> Option<usize> {
        let len = name.len().checked_sub(1)?;
        let h = call(nr::OPEN, &mut [name.as_ptr() as usize, mode, len]);
        (h != usize::MAX).then_some(h)
    }

    /// SYS_CLOSE.
    pub fn close(h: usize) {
        call(nr::CLOSE, &mut [h]);
    }

    /// SYS_FLEN: the file's length.
    pub fn flen(h: usize) -> Option<usize> {
        let len = call(nr::FLEN, &mut [h]);
        (len != usize::MAX).then_some(len)
    }

    /// SYS_SEEK to `at`.
    fn seek(h: usize, at: usize) -> bool {
        call(nr::SEEK, &mut [h, at]) == 0
    }

    /// SYS_READ of exactly `buf.len()` bytes at the current position.
    pub fn read(h: usize, buf: &mut [u8]) -> bool {
        // The host returns how many bytes it did not read.
        call(nr::READ, &mut [h, buf.as_mut_ptr() as usize, buf.len()]) == 0
    }

    /// SYS_SEEK then SYS_READ of exactly `buf.len()` bytes at `at`.
    pub fn read_at(h: usize, at: usize, buf: &mut [u8]) -> bool {
        buf.is_empty() || (seek(h, at) && read(h, buf))
    }

    /// SYS_SEEK then SYS_WRITE of all of `bytes` at `at`.
    pub fn write_at(h: usize, at: usize, bytes: &[u8]) -> bool {
        // The host returns how many bytes it did not write.
        bytes.is_empty()
            || (seek(h, at) && call(nr::WRITE, &mut [h, bytes.as_ptr() as usize, bytes.len()]) == 0)
    }

    /// SYS_GET_CMDLINE into `buf`: the command line's length.
    pub fn cmdline(buf: &mut [u8]) -> Option<usize> {
        let mut block = [buf.as_mut_ptr() as usize, buf.len()];
        if call(nr::GET_CMDLINE, &mut block) != 0 {
            return None;
        }
        let [_, len] = block;
        Some(len.min(buf.len()))
    }
}
