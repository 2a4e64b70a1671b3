//! The on-flash format: field offsets, lengths and the encode/check helpers.
//!
//! Everything here is pure (no flash access), so the layout lives in one place and
//! `docs/STORAGE.md` can be checked against it. All integers are little-endian.
//! `A` below is the write alignment, `max(4, WRITE_SIZE)`.
//!
//! Page header (at the start of every page in use):
//!
//! | bytes       | field                                                   |
//! |-------------|---------------------------------------------------------|
//! | 0..4        | magic `"GLPG"`                                          |
//! | 4           | format version, `1`                                     |
//! | 5           | log2 of the page size                                   |
//! | 6           | log2 of `A`                                             |
//! | 7           | reserved, `0`                                           |
//! | 8..12       | page index (u32)                                        |
//! | 12..16      | `prev_end`: where the previous page's records end (u32) |
//! | 16..20      | CRC-32C of bytes 0..16                                  |
//! | 20..H       | `0xFF` padding to `A`                                   |
//! | H..H+A      | commit word: `"GLOK"` then zeros, written last          |
//!
//! Record (one block), starting `A`-aligned, never crossing a page:
//!
//! | bytes          | field                                                |
//! |----------------|------------------------------------------------------|
//! | 0..2           | tag `"BK"`                                           |
//! | 2..4           | `payload_len` (u16, ≤ 1024)                          |
//! | 4..8           | CRC-32C of the payload                               |
//! | 8..12          | CRC-32C of bytes 0..8 and the 212 header bytes       |
//! | 12..224        | the block header, exactly as signed                  |
//! | 224..224+L     | the payload                                          |
//! | ..P            | `0xFF` padding to `A`                                |
//! | P..P+A         | commit word: `"GLOK"` then zeros, written last       |

use super::crc::{Crc32c, crc32c};
use crate::wire::header::{HEADER_LEN, PAYLOAD_LEN_MAX};
use core::ops::Range;
use embedded_storage::nor_flash::NorFlash;

/// Format version written into every page header.
pub const FORMAT_VERSION: u8 = 1;
/// The magic at the start of every page header.
pub const PAGE_MAGIC: [u8; 4] = *b"GLPG";
/// The tag at the start of a block record.
pub const RECORD_TAG: [u8; 2] = *b"BK";
/// The first four bytes of every commit word (the rest of the word is zeros).
pub const COMMIT_MARK: [u8; 4] = *b"GLOK";
/// Bytes of a page header before its padding and commit word.
pub const PAGE_HEADER_FIELDS_LEN: usize = 20;
/// Bytes of a record before its payload: 12 bytes of prefix and the block header.
pub const RECORD_HEAD_LEN: usize = RECORD_PREFIX_LEN + HEADER_LEN;
/// Bytes of a record's prefix (tag, payload length, the two CRCs).
pub const RECORD_PREFIX_LEN: usize = 12;
/// The largest write alignment the format supports.
pub const ALIGN_MAX: usize = 32;
/// The smallest page (erase unit) the format supports.
pub const PAGE_SIZE_MIN: usize = 2048;

pub(crate) mod page_field {
    use core::ops::Range;
    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const PAGE_LOG2: usize = 5;
    pub const ALIGN_LOG2: usize = 6;
    pub const RESERVED: usize = 7;
    pub const INDEX: Range<usize> = 8..12;
    pub const PREV_END: Range<usize> = 12..16;
    pub const CRC: Range<usize> = 16..20;
    pub const CHECKED: Range<usize> = 0..16;
}

pub(crate) mod record_field {
    use core::ops::Range;
    pub const TAG: Range<usize> = 0..2;
    pub const PAYLOAD_LEN: Range<usize> = 2..4;
    pub const PAYLOAD_CRC: Range<usize> = 4..8;
    pub const HEAD_CRC: Range<usize> = 8..12;
    pub const CHECKED_PREFIX: Range<usize> = 0..8;
    pub const HEADER: Range<usize> = 12..224;
    /// The author key inside the record (the header's bytes 4..36).
    pub const AUTHOR: Range<usize> = 16..48;
}

/// The `N` bytes of `b` at `r`; zeros if `r` is out of `b` or not `N` long.
fn field<const N: usize>(b: &[u8], r: Range<usize>) -> [u8; N] {
    b.get(r)
        .and_then(|src| <[u8; N]>::try_from(src).ok())
        .unwrap_or([0; N])
}

pub(crate) fn le_u16(b: &[u8], r: Range<usize>) -> u16 {
    u16::from_le_bytes(field(b, r))
}

pub(crate) fn le_u32(b: &[u8], r: Range<usize>) -> u32 {
    u32::from_le_bytes(field(b, r))
}

pub(crate) fn put(b: &mut [u8], r: Range<usize>, src: &[u8]) {
    if let Some(dst) = b.get_mut(r)
        && dst.len() == src.len()
    {
        dst.copy_from_slice(src);
    }
}

/// The sizes that follow from a flash's geometry; checked once at mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    /// Bytes per page (the flash's erase size).
    pub page_size: u32,
    /// Number of pages.
    pub pages: u32,
    /// Write alignment `A = max(4, WRITE_SIZE)`.
    pub align: u32,
}

impl Geometry {
    /// The geometry of `flash`, or `None` if the format cannot use it: the page size
    /// must be a power of two of at least [`PAGE_SIZE_MIN`] bytes, `max(4,
    /// WRITE_SIZE)` a power of two of at most [`ALIGN_MAX`], `READ_SIZE` a power of
    /// two dividing it, and the capacity a whole number of pages that fits in a `u32`.
    pub fn of<F: NorFlash>(flash: &F) -> Option<Geometry> {
        let page = F::ERASE_SIZE;
        let align = F::WRITE_SIZE.max(4);
        let read = F::READ_SIZE;
        let cap = flash.capacity();
        let ok = page.is_power_of_two()
            && page >= PAGE_SIZE_MIN
            && align.is_power_of_two()
            && align <= ALIGN_MAX
            && read.is_power_of_two()
            && read <= align
            && cap >= page
            && cap.is_multiple_of(page)
            && u32::try_from(cap).is_ok();
        if !ok {
            return None;
        }
        Some(Geometry {
            page_size: u32::try_from(page).ok()?,
            pages: u32::try_from(cap / page).ok()?,
            align: u32::try_from(align).ok()?,
        })
    }

    /// log2 of the page size, as stored in page headers.
    pub fn page_log2(&self) -> u8 {
        self.page_size.trailing_zeros() as u8
    }

    /// log2 of the alignment, as stored in page headers.
    pub fn align_log2(&self) -> u8 {
        self.align.trailing_zeros() as u8
    }

    /// `n` rounded up to the alignment (saturating; callers bound `n` first).
    pub fn round_up(&self, n: u32) -> u32 {
        let mask = self.align - 1;
        n.saturating_add(mask) & !mask
    }

    /// Bytes of the page header before its commit word (the fields and padding).
    pub fn page_header_len(&self) -> u32 {
        self.round_up(PAGE_HEADER_FIELDS_LEN as u32)
    }

    /// Offset within a page of its first record.
    pub fn data_start(&self) -> u32 {
        self.page_header_len() + self.align
    }

    /// Offset within a record of its payload's padding end (= its commit word).
    pub fn commit_at(&self, payload_len: u32) -> u32 {
        RECORD_HEAD_LEN as u32 + self.round_up(payload_len)
    }

    /// Total bytes of a record with `payload_len` bytes of payload.
    pub fn record_len(&self, payload_len: u32) -> u32 {
        self.commit_at(payload_len) + self.align
    }

    /// The smallest record (an empty payload).
    pub fn record_len_min(&self) -> u32 {
        self.record_len(0)
    }

    /// Absolute offset of page `page`'s first byte.
    pub fn page_start(&self, page: u32) -> u32 {
        page.saturating_mul(self.page_size)
    }

    /// Total bytes of flash.
    pub fn capacity(&self) -> u64 {
        u64::from(self.pages) * u64::from(self.page_size)
    }
}

/// The commit word for this geometry in a buffer of [`ALIGN_MAX`] bytes; use the
/// first `align` bytes.
pub fn commit_word() -> [u8; ALIGN_MAX] {
    let mut w = [0u8; ALIGN_MAX];
    put(&mut w, 0..4, &COMMIT_MARK);
    w
}

/// True if `word` (the first `align` bytes read at a commit position) is the commit
/// word.
pub fn is_commit(word: &[u8]) -> bool {
    let expected = commit_word();
    expected.get(..word.len()) == Some(word) && word.len() >= 4
}

/// Encodes a page header's fields and padding (the bytes before its commit word) into
/// `out`, which must be `geo.page_header_len()` bytes long.
pub fn encode_page_header(geo: &Geometry, page: u32, prev_end: u32, out: &mut [u8]) {
    out.fill(0xFF);
    put(out, page_field::MAGIC, &PAGE_MAGIC);
    if let Some(b) = out.get_mut(page_field::VERSION) {
        *b = FORMAT_VERSION;
    }
    if let Some(b) = out.get_mut(page_field::PAGE_LOG2) {
        *b = geo.page_log2();
    }
    if let Some(b) = out.get_mut(page_field::ALIGN_LOG2) {
        *b = geo.align_log2();
    }
    if let Some(b) = out.get_mut(page_field::RESERVED) {
        *b = 0;
    }
    put(out, page_field::INDEX, &page.to_le_bytes());
    put(out, page_field::PREV_END, &prev_end.to_le_bytes());
    let crc = crc32c(out.get(page_field::CHECKED).unwrap_or(&[]));
    put(out, page_field::CRC, &crc.to_le_bytes());
}

/// What a page header (fields, padding and commit word, read together) says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageHeader {
    /// No committed, CRC-valid header: the page is not part of the log.
    Absent,
    /// A committed header written by another format version or geometry.
    Foreign,
    /// A committed header of this format.
    Valid {
        /// The page index it names.
        index: u32,
        /// Where the previous page's records end.
        prev_end: u32,
    },
}

/// Decodes the page header in `bytes` (`geo.data_start()` bytes: fields, padding,
/// commit word).
pub fn decode_page_header(geo: &Geometry, bytes: &[u8]) -> PageHeader {
    let crc = crc32c(bytes.get(page_field::CHECKED).unwrap_or(&[]));
    if bytes.get(page_field::MAGIC) != Some(&PAGE_MAGIC[..])
        || le_u32(bytes, page_field::CRC) != crc
    {
        return PageHeader::Absent;
    }
    // The fields check: judge the format before the commit word, whose position
    // depends on the alignment the writer used.
    let same = bytes.get(page_field::VERSION) == Some(&FORMAT_VERSION)
        && bytes.get(page_field::PAGE_LOG2) == Some(&geo.page_log2())
        && bytes.get(page_field::ALIGN_LOG2) == Some(&geo.align_log2())
        && bytes.get(page_field::RESERVED) == Some(&0);
    if !same {
        return PageHeader::Foreign;
    }
    let hl = geo.page_header_len() as usize;
    if !is_commit(bytes.get(hl..).unwrap_or(&[])) {
        return PageHeader::Absent;
    }
    PageHeader::Valid {
        index: le_u32(bytes, page_field::INDEX),
        prev_end: le_u32(bytes, page_field::PREV_END),
    }
}

/// Encodes a record's prefix and header (its first [`RECORD_HEAD_LEN`] bytes).
pub fn encode_record_head(
    header: &[u8; HEADER_LEN],
    payload: &[u8],
    out: &mut [u8; RECORD_HEAD_LEN],
) {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    put(out, record_field::TAG, &RECORD_TAG);
    put(out, record_field::PAYLOAD_LEN, &len.to_le_bytes());
    put(
        out,
        record_field::PAYLOAD_CRC,
        &crc32c(payload).to_le_bytes(),
    );
    put(out, record_field::HEADER, header);
    let crc = head_crc(out);
    put(out, record_field::HEAD_CRC, &crc.to_le_bytes());
}

/// The CRC a record head must carry: over the checked prefix and the header bytes.
pub fn head_crc(head: &[u8]) -> u32 {
    let mut c = Crc32c::new();
    c.update(head.get(record_field::CHECKED_PREFIX).unwrap_or(&[]));
    c.update(head.get(record_field::HEADER).unwrap_or(&[]));
    c.finish()
}

/// What the first [`RECORD_HEAD_LEN`] bytes at a record position say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordHead {
    /// The first aligned word is erased: no record was started here.
    Erased,
    /// Not a record head this format wrote completely (torn, or not a record).
    Invalid,
    /// A complete record head (its CRC checks). The payload and commit word are
    /// still to be checked.
    Valid {
        /// The payload length.
        payload_len: u32,
        /// The payload's CRC.
        payload_crc: u32,
    },
}

/// Decodes a record head from `head` (the first [`RECORD_HEAD_LEN`] bytes).
pub fn decode_record_head(geo: &Geometry, head: &[u8]) -> RecordHead {
    let first = head.get(..geo.align as usize).unwrap_or(&[]);
    if first.iter().all(|b| *b == 0xFF) {
        return RecordHead::Erased;
    }
    if head.get(record_field::TAG) != Some(&RECORD_TAG[..]) {
        return RecordHead::Invalid;
    }
    let payload_len = le_u16(head, record_field::PAYLOAD_LEN);
    if usize::from(payload_len) > PAYLOAD_LEN_MAX {
        return RecordHead::Invalid;
    }
    if le_u32(head, record_field::HEAD_CRC) != head_crc(head) {
        return RecordHead::Invalid;
    }
    RecordHead::Valid {
        payload_len: u32::from(payload_len),
        payload_crc: le_u32(head, record_field::PAYLOAD_CRC),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(align: u32) -> Geometry {
        Geometry {
            page_size: 4096,
            pages: 4,
            align,
        }
    }

    #[test]
    fn sizes() {
        let g = geo(4);
        assert_eq!(g.page_header_len(), 20);
        assert_eq!(g.data_start(), 24);
        assert_eq!(g.record_len(0), 228);
        assert_eq!(g.record_len(1), 232);
        assert_eq!(g.record_len(1024), 1252);
        let g = geo(32);
        assert_eq!(g.page_header_len(), 32);
        assert_eq!(g.data_start(), 64);
        assert_eq!(g.record_len(1), 224 + 32 + 32);
        assert!(g.data_start() + g.record_len(1024) <= PAGE_SIZE_MIN as u32);
    }

    #[test]
    fn page_header_round_trip() {
        for align in [4, 8, 32] {
            let g = geo(align);
            let mut buf = [0u8; 64];
            let hl = g.page_header_len() as usize;
            encode_page_header(&g, 3, 1000, &mut buf[..hl]);
            buf[hl..hl + align as usize].copy_from_slice(&commit_word()[..align as usize]);
            let all = &buf[..g.data_start() as usize];
            assert_eq!(
                decode_page_header(&g, all),
                PageHeader::Valid {
                    index: 3,
                    prev_end: 1000
                }
            );
            let mut torn = buf;
            torn[hl] = 0xFF;
            assert_eq!(
                decode_page_header(&g, &torn[..g.data_start() as usize]),
                PageHeader::Absent
            );
            let mut flipped = buf;
            flipped[9] ^= 1;
            assert_eq!(
                decode_page_header(&g, &flipped[..g.data_start() as usize]),
                PageHeader::Absent
            );
            let other = geo(align * 2);
            assert_eq!(decode_page_header(&other, all), PageHeader::Foreign);
        }
    }

    #[test]
    fn record_head_round_trip() {
        let g = geo(4);
        let header = [7u8; HEADER_LEN];
        let mut head = [0u8; RECORD_HEAD_LEN];
        encode_record_head(&header, b"hello", &mut head);
        assert_eq!(
            decode_record_head(&g, &head),
            RecordHead::Valid {
                payload_len: 5,
                payload_crc: crc32c(b"hello")
            }
        );
        for i in 0..RECORD_HEAD_LEN {
            let mut bad = head;
            bad[i] ^= 0x10;
            assert_ne!(
                decode_record_head(&g, &bad),
                decode_record_head(&g, &head),
                "byte {i}"
            );
        }
        assert_eq!(
            decode_record_head(&g, &[0xFF; RECORD_HEAD_LEN]),
            RecordHead::Erased
        );
    }
}
