//! [`RamNorFlash`]: a NOR flash in RAM with strict rules, power cuts and counters.
//!
//! It behaves like the flash of a typical microcontroller (nRF52's NVMC: 4-byte words,
//! 4 KiB pages), only stricter, so that a store that works on it works on a chip:
//!
//! - **Bits only go 1 → 0.** Erasing a page sets all its bytes to `0xFF`; writing ANDs.
//! - **Each word is written once** between erases. A write that touches a word already
//!   written since its page's last erase fails with [`RamFlashError::Rewrite`] and
//!   changes nothing, unless multi-write mode ([`RamNorFlash::set_multiwrite`]) is on;
//!   then it ANDs (a 1 never sets a 0 back) and counts in [`Counters::rewrites`].
//! - **Writes and erases are aligned**: writes to [`RAM_FLASH_WORD_SIZE`], erases to
//!   whole pages; anything else fails with [`RamFlashError::NotAligned`] or
//!   [`RamFlashError::OutOfBounds`] and changes nothing. Reads may be unaligned.
//! - **Power cuts** ([`RamNorFlash::schedule_power_cut`]): after a countdown of whole
//!   writes and page erases, the next one stops after a chosen number of bytes, leaves
//!   the byte at the cut half-done (the [`PowerCut::torn_mask`] bits keep their old
//!   value), and every operation (reads included) then fails with
//!   [`RamFlashError::PowerOff`] until [`RamNorFlash::power_on`]: a reboot.
//!   A torn erase sets bytes to `0xFF` from the page's start up to the cut; a torn write
//!   programs bytes in address order up to the cut. Words a torn operation touched count
//!   as written.
//! - **Counters** ([`Counters`]) of operations and bytes, and erases and writes per page.
//!
//! It is `Clone` for small images; for large ones (boxed in tests) use
//! [`RamNorFlash::copy_from`] and [`RamNorFlash::copy_page_from`], which copy in place.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Bytes per page (the erase unit).
pub const RAM_FLASH_PAGE_SIZE: usize = 4096;
/// Bytes per word (the write unit).
pub const RAM_FLASH_WORD_SIZE: usize = 4;
const WORDS_PER_PAGE: usize = RAM_FLASH_PAGE_SIZE / RAM_FLASH_WORD_SIZE;
/// `u32`s of the per-page "written" bitmap.
const BITMAP_LEN: usize = WORDS_PER_PAGE / 32;

/// What went wrong in a [`RamNorFlash`] operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RamFlashError {
    /// Offset or length is not a multiple of the write or erase unit.
    NotAligned,
    /// The range runs past the end of the flash.
    OutOfBounds,
    /// The power was cut (by [`RamNorFlash::schedule_power_cut`]) and is not back on.
    PowerOff,
    /// A write touched the word at `offset`, already written since its last erase, with
    /// multi-write mode off.
    Rewrite {
        /// Byte offset of the word.
        offset: u32,
    },
    /// [`RamNorFlash::load`] got an image of another size.
    ImageSize,
}

impl NorFlashError for RamFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            RamFlashError::NotAligned => NorFlashErrorKind::NotAligned,
            RamFlashError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            _ => NorFlashErrorKind::Other,
        }
    }
}

impl core::fmt::Display for RamFlashError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RamFlashError::NotAligned => f.write_str("misaligned flash access"),
            RamFlashError::OutOfBounds => f.write_str("flash access out of bounds"),
            RamFlashError::PowerOff => f.write_str("power cut"),
            RamFlashError::Rewrite { offset } => {
                write!(f, "word at {offset} written twice without an erase")
            }
            RamFlashError::ImageSize => f.write_str("image size differs from flash size"),
        }
    }
}

impl core::error::Error for RamFlashError {}

/// A scheduled power cut: see [`RamNorFlash::schedule_power_cut`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PowerCut {
    /// Writes and page erases that still complete before the one that is cut.
    pub after_ops: u64,
    /// Bytes of the cut operation that complete. At or beyond the operation's length,
    /// the operation completes and the power goes right after (it still reports
    /// [`RamFlashError::PowerOff`]).
    pub after_bytes: usize,
    /// Bits of the byte at the cut that keep their old value (the rest reach the new
    /// one). `0xFF`: the byte is untouched; `0x00`: it is done.
    pub torn_mask: u8,
}

/// Operation counters since creation (or [`RamNorFlash::reset_counters`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Read calls.
    pub reads: u64,
    /// Write calls that reached the array (complete or cut).
    pub writes: u64,
    /// Page erases that reached the array (complete or cut).
    pub erases: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes programmed.
    pub bytes_written: u64,
    /// Words written again without an erase (multi-write mode only).
    pub rewrites: u64,
    /// Power cuts that happened.
    pub power_cuts: u64,
}

impl Counters {
    /// Writes plus erases: the operations a [`PowerCut`] counts.
    pub fn ops(&self) -> u64 {
        self.writes + self.erases
    }
}

/// A NOR flash of `PAGES` pages of [`RAM_FLASH_PAGE_SIZE`] bytes in RAM. See the module
/// docs for its rules.
///
/// RAM: `PAGES × (4096 + 136)` bytes plus a few dozen (data, the "written" bitmap,
/// per-page counters).
#[derive(Clone, Debug)]
pub struct RamNorFlash<const PAGES: usize> {
    pages: [[u8; RAM_FLASH_PAGE_SIZE]; PAGES],
    written: [[u32; BITMAP_LEN]; PAGES],
    page_erases: [u32; PAGES],
    page_writes: [u32; PAGES],
    counters: Counters,
    multiwrite: bool,
    cut: Option<PowerCut>,
    powered: bool,
}

impl<const PAGES: usize> Default for RamNorFlash<PAGES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const PAGES: usize> RamNorFlash<PAGES> {
    /// Capacity in bytes.
    pub const CAPACITY: usize = PAGES * RAM_FLASH_PAGE_SIZE;

    /// A fully erased flash, powered, strict (multi-write off), counters at zero.
    pub const fn new() -> Self {
        RamNorFlash {
            pages: [[0xFF; RAM_FLASH_PAGE_SIZE]; PAGES],
            written: [[0; BITMAP_LEN]; PAGES],
            page_erases: [0; PAGES],
            page_writes: [0; PAGES],
            counters: Counters {
                reads: 0,
                writes: 0,
                erases: 0,
                bytes_read: 0,
                bytes_written: 0,
                rewrites: 0,
                power_cuts: 0,
            },
            multiwrite: false,
            cut: None,
            powered: true,
        }
    }

    /// The whole image.
    pub fn as_bytes(&self) -> &[u8] {
        self.pages.as_flattened()
    }

    /// Replaces the whole image with `image` (for tests and tools: loading a file, or a
    /// deliberately damaged image). Words that are not all `0xFF` count as written.
    /// Counters and power state are unchanged.
    ///
    /// # Errors
    /// [`RamFlashError::ImageSize`] if `image` is not [`Self::CAPACITY`] bytes.
    pub fn load(&mut self, image: &[u8]) -> Result<(), RamFlashError> {
        if image.len() != Self::CAPACITY {
            return Err(RamFlashError::ImageSize);
        }
        self.pages.as_flattened_mut().copy_from_slice(image);
        for p in 0..PAGES {
            self.resync_written(p);
        }
        Ok(())
    }

    /// Copies `other`'s whole state (image, bitmap, counters, power) in place.
    pub fn copy_from(&mut self, other: &Self) {
        self.pages.copy_from_slice(&other.pages);
        self.written.copy_from_slice(&other.written);
        self.page_erases.copy_from_slice(&other.page_erases);
        self.page_writes.copy_from_slice(&other.page_writes);
        self.counters = other.counters;
        self.multiwrite = other.multiwrite;
        self.cut = other.cut;
        self.powered = other.powered;
    }

    /// Copies one page (data, bitmap and its counters) from `other`; returns false if
    /// `page` is out of range. The global counters are not touched.
    pub fn copy_page_from(&mut self, other: &Self, page: usize) -> bool {
        let (Some(d), Some(s)) = (self.pages.get_mut(page), other.pages.get(page)) else {
            return false;
        };
        d.copy_from_slice(s);
        if let (Some(d), Some(s)) = (self.written.get_mut(page), other.written.get(page)) {
            d.copy_from_slice(s);
        }
        if let (Some(d), Some(s)) = (self.page_erases.get_mut(page), other.page_erases.get(page)) {
            *d = *s;
        }
        if let (Some(d), Some(s)) = (self.page_writes.get_mut(page), other.page_writes.get(page)) {
            *d = *s;
        }
        true
    }

    /// Turns multi-write mode on or off (see the module docs).
    pub fn set_multiwrite(&mut self, on: bool) {
        self.multiwrite = on;
    }

    /// Arms a power cut: `cut.after_ops` more writes or page erases complete, then the
    /// next one is cut after `cut.after_bytes` bytes. Replaces any armed cut.
    pub fn schedule_power_cut(&mut self, cut: PowerCut) {
        self.cut = Some(cut);
    }

    /// Disarms a scheduled power cut that has not happened yet.
    pub fn cancel_power_cut(&mut self) {
        self.cut = None;
    }

    /// True until a scheduled cut happens, and again after [`RamNorFlash::power_on`].
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Restores power after a cut (a reboot), and disarms any scheduled cut. The torn
    /// content stays.
    pub fn power_on(&mut self) {
        self.powered = true;
        self.cut = None;
    }

    /// The operation counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Zeroes the operation counters, the per-page ones included.
    pub fn reset_counters(&mut self) {
        self.counters = Counters::default();
        self.page_erases = [0; PAGES];
        self.page_writes = [0; PAGES];
    }

    /// Erases of page `page` (complete or cut), or `None` out of range.
    pub fn page_erases(&self, page: usize) -> Option<u32> {
        self.page_erases.get(page).copied()
    }

    /// Writes into page `page` (complete or cut), or `None` out of range.
    pub fn page_writes(&self, page: usize) -> Option<u32> {
        self.page_writes.get(page).copied()
    }

    /// Recomputes a page's "written" bitmap from its content: a word is written iff it
    /// is not all `0xFF`.
    fn resync_written(&mut self, page: usize) {
        let (Some(data), Some(bits)) = (self.pages.get(page), self.written.get_mut(page)) else {
            return;
        };
        bits.fill(0);
        for (w, word) in data.chunks_exact(RAM_FLASH_WORD_SIZE).enumerate() {
            if word.iter().any(|b| *b != 0xFF)
                && let Some(slot) = bits.get_mut(w / 32)
            {
                *slot |= 1 << (w % 32);
            }
        }
    }

    fn is_written(&self, page: usize, word: usize) -> bool {
        self.written
            .get(page)
            .and_then(|b| b.get(word / 32))
            .is_some_and(|slot| slot & (1 << (word % 32)) != 0)
    }

    fn mark_written(&mut self, page: usize, word: usize) {
        if let Some(slot) = self
            .written
            .get_mut(page)
            .and_then(|b| b.get_mut(word / 32))
        {
            *slot |= 1 << (word % 32);
        }
    }

    /// Counts one mutating operation against the armed cut. Returns how many bytes of
    /// it may complete (`None`: all, no cut) and the torn mask.
    fn take_cut(&mut self) -> Option<(usize, u8)> {
        let cut = self.cut.as_mut()?;
        if cut.after_ops > 0 {
            cut.after_ops -= 1;
            return None;
        }
        let r = (cut.after_bytes, cut.torn_mask);
        self.cut = None;
        Some(r)
    }

    fn power_lost(&mut self) -> RamFlashError {
        self.powered = false;
        self.counters.power_cuts += 1;
        RamFlashError::PowerOff
    }

    fn check_range(offset: u32, len: usize, align: usize) -> Result<usize, RamFlashError> {
        let start = offset as usize;
        let end = start.checked_add(len).ok_or(RamFlashError::OutOfBounds)?;
        if end > Self::CAPACITY {
            return Err(RamFlashError::OutOfBounds);
        }
        if !start.is_multiple_of(align) || !len.is_multiple_of(align) {
            return Err(RamFlashError::NotAligned);
        }
        Ok(start)
    }

    fn erase_page(&mut self, page: usize) -> Result<(), RamFlashError> {
        self.counters.erases += 1;
        if let Some(n) = self.page_erases.get_mut(page) {
            *n = n.saturating_add(1);
        }
        let cut = self.take_cut();
        let Some(data) = self.pages.get_mut(page) else {
            return Err(RamFlashError::OutOfBounds);
        };
        match cut {
            None => {
                data.fill(0xFF);
                if let Some(bits) = self.written.get_mut(page) {
                    bits.fill(0);
                }
                Ok(())
            }
            Some((done, mask)) => {
                let done = done.min(RAM_FLASH_PAGE_SIZE);
                if let Some(head) = data.get_mut(..done) {
                    head.fill(0xFF);
                }
                if let Some(b) = data.get_mut(done) {
                    *b = (*b & mask) | !mask;
                }
                self.resync_written(page);
                Err(self.power_lost())
            }
        }
    }
}

impl<const PAGES: usize> ErrorType for RamNorFlash<PAGES> {
    type Error = RamFlashError;
}

impl<const PAGES: usize> ReadNorFlash for RamNorFlash<PAGES> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if !self.powered {
            return Err(RamFlashError::PowerOff);
        }
        let start = Self::check_range(offset, bytes.len(), 1)?;
        let src = self
            .as_bytes()
            .get(start..start + bytes.len())
            .ok_or(RamFlashError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        self.counters.reads += 1;
        self.counters.bytes_read += bytes.len() as u64;
        Ok(())
    }

    fn capacity(&self) -> usize {
        Self::CAPACITY
    }
}

impl<const PAGES: usize> NorFlash for RamNorFlash<PAGES> {
    const WRITE_SIZE: usize = RAM_FLASH_WORD_SIZE;
    const ERASE_SIZE: usize = RAM_FLASH_PAGE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if !self.powered {
            return Err(RamFlashError::PowerOff);
        }
        let len = (to as usize)
            .checked_sub(from as usize)
            .ok_or(RamFlashError::OutOfBounds)?;
        let start = Self::check_range(from, len, RAM_FLASH_PAGE_SIZE)?;
        let first = start / RAM_FLASH_PAGE_SIZE;
        // One page per operation, as a chip's page-erase command.
        for page in first..first + len / RAM_FLASH_PAGE_SIZE {
            self.erase_page(page)?;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        if !self.powered {
            return Err(RamFlashError::PowerOff);
        }
        let start = Self::check_range(offset, bytes.len(), RAM_FLASH_WORD_SIZE)?;
        // Check every word before touching any: a refused write changes nothing.
        let first_word = start / RAM_FLASH_WORD_SIZE;
        let words = bytes.len() / RAM_FLASH_WORD_SIZE;
        let mut rewrites = 0u64;
        for w in first_word..first_word + words {
            if self.is_written(w / WORDS_PER_PAGE, w % WORDS_PER_PAGE) {
                if !self.multiwrite {
                    return Err(RamFlashError::Rewrite {
                        offset: (w * RAM_FLASH_WORD_SIZE) as u32,
                    });
                }
                rewrites += 1;
            }
        }
        self.counters.writes += 1;
        self.counters.rewrites += rewrites;
        let cut = self.take_cut();
        let done = cut.map_or(bytes.len(), |(n, _)| n.min(bytes.len()));
        // The completed bytes, programmed (AND) a word-aligned span at a time; the span
        // never crosses a page.
        let mut i = 0;
        while i < done {
            let addr = start + i;
            let (page, at) = (addr / RAM_FLASH_PAGE_SIZE, addr % RAM_FLASH_PAGE_SIZE);
            let n = (done - i).min(RAM_FLASH_PAGE_SIZE - at);
            if let (Some(dst), Some(src)) = (
                self.pages.get_mut(page).and_then(|p| p.get_mut(at..at + n)),
                bytes.get(i..i + n),
            ) {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d &= *s;
                }
            }
            for w in at / RAM_FLASH_WORD_SIZE..(at + n).div_ceil(RAM_FLASH_WORD_SIZE) {
                self.mark_written(page, w);
            }
            i += n;
        }
        self.counters.bytes_written += done as u64;
        // The byte at the cut: the bits in the mask keep their old value.
        if let (Some((_, mask)), Some(new)) = (cut, bytes.get(done)) {
            let addr = start + done;
            let (page, at) = (addr / RAM_FLASH_PAGE_SIZE, addr % RAM_FLASH_PAGE_SIZE);
            if let Some(b) = self.pages.get_mut(page).and_then(|p| p.get_mut(at)) {
                *b = (*b & mask) | (*b & *new & !mask);
            }
            self.mark_written(page, at / RAM_FLASH_WORD_SIZE);
        }
        if let Some(last) = bytes.len().checked_sub(1) {
            let first_page = start / RAM_FLASH_PAGE_SIZE;
            let last_page = (start + last) / RAM_FLASH_PAGE_SIZE;
            for n in self
                .page_writes
                .iter_mut()
                .take(last_page + 1)
                .skip(first_page)
            {
                *n = n.saturating_add(1);
            }
        }
        match cut {
            None => Ok(()),
            Some(_) => Err(self.power_lost()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Flash = RamNorFlash<2>;

    #[test]
    fn nor_rules() {
        let mut f = Flash::new();
        assert_eq!(f.write(1, &[0; 4]), Err(RamFlashError::NotAligned));
        assert_eq!(f.write(0, &[0; 3]), Err(RamFlashError::NotAligned));
        assert_eq!(f.write(8192, &[0; 4]), Err(RamFlashError::OutOfBounds));
        assert_eq!(f.erase(0, 100), Err(RamFlashError::NotAligned));
        assert_eq!(f.erase(4096, 0), Err(RamFlashError::OutOfBounds));
        f.write(0, &[0x0F, 0xF0, 0xFF, 0x00]).unwrap();
        assert_eq!(
            f.write(0, &[0xFF; 4]),
            Err(RamFlashError::Rewrite { offset: 0 })
        );
        assert_eq!(
            f.write(4, &[0; 8]).and(f.write(8, &[0; 4])),
            Err(RamFlashError::Rewrite { offset: 8 })
        );
        f.set_multiwrite(true);
        f.write(0, &[0xFF, 0x0F, 0x0F, 0xFF]).unwrap();
        assert_eq!(&f.as_bytes()[..4], &[0x0F, 0x00, 0x0F, 0x00]);
        assert_eq!(f.counters().rewrites, 1);
        f.erase(0, 4096).unwrap();
        assert!(f.as_bytes()[..4096].iter().all(|b| *b == 0xFF));
        f.set_multiwrite(false);
        f.write(0, &[1, 2, 3, 4]).unwrap();
        assert_eq!(f.page_erases(0), Some(1));
        assert_eq!(f.page_erases(1), Some(0));
        assert_eq!(f.page_writes(0), Some(4));
        let mut buf = [0u8; 3];
        f.read(1, &mut buf).unwrap();
        assert_eq!(buf, [2, 3, 4]);
    }

    #[test]
    fn torn_write_and_erase() {
        let mut f = Flash::new();
        f.schedule_power_cut(PowerCut {
            after_ops: 1,
            after_bytes: 5,
            torn_mask: 0xF0,
        });
        f.write(0, &[0; 4]).unwrap();
        assert_eq!(f.write(4, &[0; 8]), Err(RamFlashError::PowerOff));
        assert!(!f.is_powered());
        assert_eq!(f.read(0, &mut [0; 1]), Err(RamFlashError::PowerOff));
        f.power_on();
        assert_eq!(&f.as_bytes()[4..12], &[0, 0, 0, 0, 0, 0xF0, 0xFF, 0xFF]);
        // The torn words count as written.
        assert_eq!(
            f.write(8, &[0; 4]),
            Err(RamFlashError::Rewrite { offset: 8 })
        );
        f.schedule_power_cut(PowerCut {
            after_ops: 0,
            after_bytes: 6,
            torn_mask: 0x0F,
        });
        assert_eq!(f.erase(0, 4096), Err(RamFlashError::PowerOff));
        f.power_on();
        assert_eq!(
            &f.as_bytes()[..8],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xF0, 0x00]
        );
        // Fully erased words are writable again; the torn one is not.
        f.write(0, &[0; 4]).unwrap();
        assert_eq!(
            f.write(4, &[0; 4]),
            Err(RamFlashError::Rewrite { offset: 4 })
        );
        assert_eq!(f.counters().power_cuts, 2);
    }

    #[test]
    fn cut_at_the_end_completes_the_op() {
        let mut f = Flash::new();
        f.schedule_power_cut(PowerCut {
            after_ops: 0,
            after_bytes: 4,
            torn_mask: 0,
        });
        assert_eq!(f.write(0, &[1, 2, 3, 4]), Err(RamFlashError::PowerOff));
        f.power_on();
        assert_eq!(&f.as_bytes()[..4], &[1, 2, 3, 4]);
    }

    #[test]
    fn load_and_copy() {
        let mut f = Flash::new();
        let mut img = [0xFFu8; Flash::CAPACITY];
        img[4] = 0;
        f.load(&img).unwrap();
        assert_eq!(
            f.write(4, &[0; 4]),
            Err(RamFlashError::Rewrite { offset: 4 })
        );
        f.write(0, &[0; 4]).unwrap();
        assert_eq!(f.load(&img[1..]), Err(RamFlashError::ImageSize));
        let mut g = Flash::new();
        g.copy_from(&f);
        assert_eq!(g.as_bytes(), f.as_bytes());
        let mut h = Flash::new();
        assert!(h.copy_page_from(&f, 0));
        assert!(!h.copy_page_from(&f, 2));
        assert_eq!(h.as_bytes(), f.as_bytes());
    }
}
