//! [`FlashLog`]: the append-only block log on NOR flash. The format is in
//! [`super::format`] and `docs/STORAGE.md`.

use super::error::{Corruption, Error, LinkError};
use super::format::{
    self, Geometry, PageHeader, RECORD_HEAD_LEN, RecordHead, commit_word, decode_page_header,
    decode_record_head, encode_page_header, encode_record_head, record_field,
};
use super::index::{Index, IndexFull};
use super::{BlockLog, MountReport, Usage};
use crate::chain::{ChainError, ChainState, Head};
use crate::hash::Hash;
use crate::sig::PublicKey;
use crate::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use embedded_storage::nor_flash::NorFlash;

mod mount;

/// Scratch for reading payloads and checking erased space: a multiple of every
/// supported alignment.
const CHUNK_LEN: usize = 256;
/// Bytes of a page header read at once: fields, padding and commit word at the largest
/// alignment.
const PAGE_HEADER_READ_MAX: usize = 2 * format::ALIGN_MAX;

/// The append-only log of blocks of several authors on a NOR flash `F`, with a RAM
/// index of at most `AUTHORS` authors and `BLOCKS` blocks.
///
/// - **Append** ([`FlashLog::append`]) writes the record, then its commit word, and
///   only then updates the index: a block is durable before it is visible.
/// - **Mount** ([`FlashLog::mount`]) scans the whole log, checks every record's CRCs
///   and commit word and every chain's seq and `prev` links (not signatures: blocks are
///   verified before they are stored), and repairs a torn tail by moving on to a fresh
///   page. A torn record is never served.
/// - **Reads** ([`FlashLog::header`], [`FlashLog::payload`], [`FlashLog::block`])
///   re-check the record's CRC, author and seq.
///
/// Pass the flash as `&mut flash` to keep ownership (`embedded-storage` implements
/// `NorFlash` for `&mut T`). RAM: [`FlashLog::INDEX_BYTES`] plus the flash handle and
/// a few dozen bytes.
///
/// It is `Clone` when `F` is (for example a shared handle in tests): the clone has its
/// own copy of the index and the same flash.
#[derive(Clone, Debug)]
pub struct FlashLog<F: NorFlash, const AUTHORS: usize, const BLOCKS: usize> {
    flash: F,
    geo: Geometry,
    index: Index<AUTHORS, BLOCKS>,
    /// The page the next record goes to (unless it does not fit).
    write_page: u32,
    /// Offset within `write_page` of the next record.
    write_at: u32,
    /// The next record must go to a fresh page: the bytes at `write_at` are not erased
    /// (a torn write), or opening the next page failed (its header may have landed,
    /// and it names `write_at` as where this page's records end).
    tail_torn: bool,
    /// Every page after `write_page` is known untouched since it was last erased
    /// (true after a format and after this session opened a page; false after a mount
    /// or a failed operation, when the next page may hold a cut write that reads as
    /// erased but must not be written over).
    blank_ahead: bool,
    /// The offset of the record whose append last failed on a flash error, until the
    /// next append reads it back ([`FlashLog::settle`]): the error may have come after
    /// its commit word landed, and then it is a stored block.
    abandoned: Option<u32>,
    /// Bytes of header and payload stored.
    stored_bytes: u64,
    report: MountReport,
}

impl<F: NorFlash, const AUTHORS: usize, const BLOCKS: usize> FlashLog<F, AUTHORS, BLOCKS> {
    /// RAM bytes of the index: `4 × BLOCKS` plus a slot of
    /// [`super::AUTHOR_SLOT_BYTES`] per author, plus a length.
    pub const INDEX_BYTES: usize = core::mem::size_of::<Index<AUTHORS, BLOCKS>>();

    fn unmounted(flash: F) -> Result<Self, Error<F::Error>> {
        let geo = Geometry::of(&flash).ok_or(Error::UnsupportedGeometry)?;
        Ok(FlashLog {
            flash,
            geo,
            index: Index::new(),
            write_page: 0,
            write_at: geo.data_start(),
            tail_torn: false,
            blank_ahead: false,
            abandoned: None,
            stored_bytes: 0,
            report: MountReport::default(),
        })
    }

    /// Erases the whole flash and starts an empty log. The first page's header is
    /// written last, after every erase: a cut format leaves no valid first page, so it
    /// mounts as [`Error::NotFormatted`] or [`Error::Corrupted`] and is simply run
    /// again.
    ///
    /// # Errors
    /// [`Error::UnsupportedGeometry`] (see [`FlashLog::mount`]) or [`Error::Flash`].
    pub fn format(flash: F) -> Result<Self, Error<F::Error>> {
        let mut log = Self::unmounted(flash)?;
        log.format_in_place()?;
        Ok(log)
    }

    /// Mounts the log on `flash`: scans it, checks it, rebuilds the RAM index, and
    /// repairs a torn tail (by erasing the next page and giving it a header, so the next
    /// append does not touch the torn bytes). If no page is left for the repair, the log
    /// mounts read-only: appends return [`Error::FullStorage`].
    ///
    /// The flash must have a power-of-two page (erase) size of at least 2 KiB,
    /// `max(4, WRITE_SIZE)` a power of two up to 32, `READ_SIZE` dividing that, and a
    /// capacity that is a whole number of pages below 4 GiB.
    ///
    /// # Errors
    /// [`Error::UnsupportedGeometry`], [`Error::NotFormatted`], [`Error::FormatMismatch`],
    /// [`Error::Corrupted`], [`Error::IndexFull`], [`Error::AuthorsFull`] (the index is
    /// too small for the image), or [`Error::Flash`].
    pub fn mount(flash: F) -> Result<Self, Error<F::Error>> {
        let mut log = Self::unmounted(flash)?;
        log.scan(true)?;
        Ok(log)
    }

    /// Mounts the log like [`FlashLog::mount`], with every check, but never writes:
    /// a torn tail is reported and not repaired, and appends then return
    /// [`Error::FullStorage`] unless a page is left after the tail (the first append
    /// opens it). For readers of a flash they must not change (a read-only file).
    ///
    /// # Errors
    /// As [`FlashLog::mount`].
    pub fn mount_read_only(flash: F) -> Result<Self, Error<F::Error>> {
        let mut log = Self::unmounted(flash)?;
        log.scan(false)?;
        Ok(log)
    }

    /// Mounts, or formats if the flash is blank: no committed glitter page header
    /// anywhere and nothing but erased bytes after the page headers' place (a blank
    /// flash, or a format cut before page 0's header was committed). Any other error is
    /// returned, so a damaged log is never formatted away.
    ///
    /// # Errors
    /// As [`FlashLog::mount`], except [`Error::NotFormatted`]; a flash without any
    /// committed page header that is not blank (zeros, noise, a log whose first page
    /// header rotted) is [`Error::Corrupted`] with [`Corruption::FirstPageHeader`].
    pub fn mount_or_format(flash: F) -> Result<Self, Error<F::Error>> {
        let mut log = Self::unmounted(flash)?;
        match log.scan(true) {
            Ok(()) => Ok(log),
            Err(Error::NotFormatted) => {
                // No committed page header anywhere. Only a blank flash (a page header a
                // cut format or page opening left half written aside) is formatted:
                // anything else (zeros, noise, a log whose first page header rotted)
                // may be someone's data and needs an explicit format.
                for page in 0..log.geo.pages {
                    let from = log.geo.data_start();
                    if !log.erased_from(page, from)? {
                        return Err(Error::Corrupted {
                            offset: log.geo.page_start(page) + from,
                            what: Corruption::FirstPageHeader,
                        });
                    }
                }
                log.format_in_place()?;
                Ok(log)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes the next append start a fresh page instead of following the last record.
    ///
    /// Call it after mounting a log whose last session may have ended in the middle of
    /// a write (a power cut, a crash, a reset): a write cut before its first byte
    /// changed leaves a word that still reads erased but was touched, and NOR flash
    /// must not program it again before an erase. Mount cannot see such a word (a torn
    /// write it can see, it repairs the same way); only the caller knows whether the
    /// session before ended cleanly. A file image (the host's `FileFlash`) has no such
    /// words. Without a page left, appends then return [`Error::FullStorage`].
    pub fn start_on_fresh_page(&mut self) {
        self.tail_torn = true;
    }

    /// What the mount found.
    pub fn mount_report(&self) -> MountReport {
        self.report
    }

    /// The flash geometry the log uses.
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// The flash, for reading counters and the like.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash, mutably, for tests and simulators that arm faults (a power cut) on a
    /// mounted log. Writing to it behind the log's back voids the log's guarantees.
    pub fn flash_mut_for_fault_injection(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash back.
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// The head of `author`'s stored chain.
    pub fn head(&self, author: &PublicKey) -> Option<Head> {
        self.index.slot(author).and_then(|s| s.head())
    }

    /// A [`ChainState`] resumed at `author`'s stored head, to verify or build the next
    /// block.
    ///
    /// # Errors
    /// As [`ChainState::resume`] (an invalid author key).
    pub fn chain_state(&self, author: PublicKey) -> Result<ChainState, ChainError> {
        ChainState::resume(author, self.head(&author))
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), Error<F::Error>> {
        self.flash.read(offset, buf).map_err(Error::Flash)
    }

    fn write(&mut self, offset: u32, buf: &[u8]) -> Result<(), Error<F::Error>> {
        self.flash.write(offset, buf).map_err(Error::Flash)
    }

    fn align(&self) -> usize {
        self.geo.align as usize
    }

    fn format_in_place(&mut self) -> Result<(), Error<F::Error>> {
        self.abandoned = None;
        self.index.clear();
        self.stored_bytes = 0;
        self.report = MountReport::default();
        // Page 0 first, so the old log's root is gone before anything else changes.
        // Every page, blank-looking or not: a cut write can leave a word that reads as
        // erased but may not be programmed again before an erase.
        self.blank_ahead = false;
        for page in 0..self.geo.pages {
            self.erase_page(page)?;
        }
        self.write_page_header(0, 0)?;
        self.write_page = 0;
        self.write_at = self.geo.data_start();
        self.tail_torn = false;
        self.blank_ahead = true;
        self.report.pages_in_use = 1;
        Ok(())
    }

    fn erase_page(&mut self, page: u32) -> Result<(), Error<F::Error>> {
        let start = self.geo.page_start(page);
        self.flash
            .erase(start, start + self.geo.page_size)
            .map_err(Error::Flash)
    }

    /// Writes page `page`'s header (fields, then the commit word). The page is erased.
    fn write_page_header(&mut self, page: u32, prev_end: u32) -> Result<(), Error<F::Error>> {
        let mut buf = [0xFFu8; format::ALIGN_MAX];
        let hl = self.geo.page_header_len() as usize;
        let fields = buf.get_mut(..hl).ok_or(Error::UnsupportedGeometry)?;
        encode_page_header(&self.geo, page, prev_end, fields);
        let start = self.geo.page_start(page);
        self.write(start, fields_of(&buf, hl))?;
        let commit = commit_word();
        let a = self.align();
        self.write(start + hl as u32, fields_of(&commit, a))
    }

    /// Makes page `page` the write page, the current page's records ending at
    /// `write_at`: erases it, then writes its header.
    ///
    /// The erase is skipped when the page is known untouched since its last erase
    /// (`blank_ahead`) and reads as erased: the page after the one a session opened
    /// last. That saves an erase (tens of milliseconds on a microcontroller) and its
    /// wear on every page but the first one a session opens. The first one is always
    /// erased: the session before may have been cut while writing its header.
    fn open_page(&mut self, page: u32) -> Result<(), Error<F::Error>> {
        let trusted = self.blank_ahead;
        self.blank_ahead = false;
        // Until the page is open, no record may go to the current page: if this fails
        // after the header's commit word landed, that header fixes where the current
        // page's records end, and the next append must open the page again.
        self.tail_torn = true;
        if !(trusted && self.erased_from(page, 0)?) {
            self.erase_page(page)?;
        }
        self.write_page_header(page, self.write_at)?;
        self.write_page = page;
        self.write_at = self.geo.data_start();
        self.tail_torn = false;
        self.blank_ahead = true;
        self.report.pages_in_use = page + 1;
        Ok(())
    }

    fn read_page_header(&mut self, page: u32) -> Result<PageHeader, Error<F::Error>> {
        let mut buf = [0u8; PAGE_HEADER_READ_MAX];
        let n = self.geo.data_start() as usize;
        let b = buf.get_mut(..n).ok_or(Error::UnsupportedGeometry)?;
        self.read(self.geo.page_start(page), b)?;
        Ok(decode_page_header(&self.geo, b))
    }

    fn full_error(&self, e: IndexFull) -> Error<F::Error> {
        match e {
            IndexFull::Blocks => Error::IndexFull { capacity: BLOCKS },
            IndexFull::Authors => Error::AuthorsFull { capacity: AUTHORS },
        }
    }

    /// The store's own link rules: seq is the stored head's + 1, `prev` is its id (zero
    /// links at genesis), timestamps do not go back.
    fn check_link(&self, h: &Header) -> Result<(), LinkError> {
        let head = self.head(&h.author);
        let expected = head.map_or(1, |hd| hd.seq.saturating_add(1));
        if h.seq != expected {
            return Err(LinkError::Seq {
                expected,
                got: h.seq,
            });
        }
        match head {
            None => {
                if !h.prev.is_zero() || !h.skip.is_zero() {
                    return Err(LinkError::Prev { seq: h.seq });
                }
            }
            Some(hd) => {
                if h.prev != hd.id {
                    return Err(LinkError::Prev { seq: h.seq });
                }
                if h.timestamp_ms < hd.timestamp_ms {
                    return Err(LinkError::Timestamp { seq: h.seq });
                }
            }
        }
        Ok(())
    }

    /// Appends a block that was verified before (with [`ChainState::verify_next`], or
    /// built by [`ChainState::append`]). The store checks only its own rules: the
    /// payload's length, and that the block is the next link of the stored chain (seq,
    /// `prev`, timestamp). It does not check signatures, skip links or payload hashes.
    ///
    /// Returns once the record and its commit word are written: the block is then
    /// durable, and only then visible.
    ///
    /// # Errors
    /// [`Error::Oversize`], [`Error::Unlinked`], [`Error::IndexFull`],
    /// [`Error::AuthorsFull`], [`Error::FullStorage`] (nothing is written for these), or
    /// [`Error::Flash`]: the block may or may not be on flash, and it is not in the
    /// index. The next append first reads it back: if it landed whole (the flash failed
    /// after its commit word was written), it is a stored block from then on, as a
    /// remount would find it (so appending it again is [`Error::Unlinked`]); either
    /// way, that next append starts on a fresh page.
    pub fn append(&mut self, header: &Header, payload: &[u8]) -> Result<(), Error<F::Error>> {
        self.settle()?;
        if payload.len() > PAYLOAD_LEN_MAX {
            return Err(Error::Oversize {
                len: payload.len(),
                max: PAYLOAD_LEN_MAX,
            });
        }
        if payload.len() != usize::from(header.payload_len) {
            return Err(Error::Unlinked(LinkError::PayloadLength {
                declared: usize::from(header.payload_len),
                actual: payload.len(),
            }));
        }
        self.check_link(header)?;
        self.index
            .check_room(&header.author)
            .map_err(|e| self.full_error(e))?;
        let payload_len = u32::from(header.payload_len);
        let len = self.geo.record_len(payload_len);
        if self.tail_torn || self.write_at.saturating_add(len) > self.geo.page_size {
            let next = self.write_page + 1;
            if next >= self.geo.pages {
                return Err(Error::FullStorage);
            }
            self.open_page(next)?;
        }
        let bytes = header.to_bytes();
        let offset = self.geo.page_start(self.write_page) + self.write_at;
        if let Err(e) = self.write_record(offset, &bytes, payload) {
            // The record may be half written: never write here again. It may also be
            // whole: the next append reads it back first.
            self.tail_torn = true;
            self.abandoned = Some(offset);
            return Err(e);
        }
        self.write_at += len;
        self.index
            .push(
                &header.author,
                offset,
                Hash::of(&bytes),
                header.timestamp_ms,
            )
            .map_err(|e| self.full_error(e))?;
        self.stored_bytes += (HEADER_LEN as u64) + u64::from(payload_len);
        Ok(())
    }

    /// Writes one record: head, payload and padding in one write, then the commit
    /// word in a second. The first write may tear anywhere (the head's CRCs catch it);
    /// the commit word is written only after it, so a host file flash that syncs each
    /// write needs two syncs per record.
    fn write_record(
        &mut self,
        offset: u32,
        header: &[u8; HEADER_LEN],
        payload: &[u8],
    ) -> Result<(), Error<F::Error>> {
        let oversize = || Error::Oversize {
            len: payload.len(),
            max: PAYLOAD_LEN_MAX,
        };
        let mut buf = [0xFFu8; RECORD_HEAD_LEN + PAYLOAD_LEN_MAX + format::ALIGN_MAX];
        let commit_at = self.geo.commit_at(payload.len() as u32) as usize;
        let (head, rest) = buf
            .split_at_mut_checked(RECORD_HEAD_LEN)
            .ok_or_else(oversize)?;
        let head: &mut [u8; RECORD_HEAD_LEN] = head.try_into().map_err(|_| oversize())?;
        encode_record_head(header, payload, head);
        rest.get_mut(..payload.len())
            .ok_or_else(oversize)?
            .copy_from_slice(payload);
        // Head, payload and the padding (erased bytes) up to the commit word.
        let record = buf.get(..commit_at).ok_or_else(oversize)?;
        self.write(offset, record)?;
        let commit = commit_word();
        self.write(offset + commit_at as u32, fields_of(&commit, self.align()))
    }

    /// Reads and checks the head of block `seq` of `author`.
    fn record_head(
        &mut self,
        author: &PublicKey,
        seq: u64,
    ) -> Result<Option<StoredHead>, Error<F::Error>> {
        let Some(offset) = self.index.offset(author, seq) else {
            return Ok(None);
        };
        let mut head = [0u8; RECORD_HEAD_LEN];
        self.read(offset, &mut head)?;
        let bad = Error::Corrupted {
            offset,
            what: Corruption::Record,
        };
        let RecordHead::Valid {
            payload_len,
            payload_crc,
        } = decode_record_head(&self.geo, &head)
        else {
            return Err(bad);
        };
        let header = head
            .get(record_field::HEADER)
            .and_then(|b| Header::decode(b).ok())
            .filter(|h| h.author == *author && h.seq == seq)
            .ok_or(bad)?;
        Ok(Some(StoredHead {
            offset,
            header,
            payload_len,
            payload_crc,
        }))
    }

    /// The header of block `seq` of `author`, or `None` if the log does not hold it.
    ///
    /// # Errors
    /// [`Error::Flash`], or [`Error::Corrupted`] if the record changed since mount.
    pub fn header(
        &mut self,
        author: &PublicKey,
        seq: u64,
    ) -> Result<Option<Header>, Error<F::Error>> {
        Ok(self.record_head(author, seq)?.map(|r| r.header))
    }

    /// The header and payload of block `seq` of `author`; the payload is read into
    /// `buf` (at most [`PAYLOAD_LEN_MAX`] bytes are needed).
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`], [`Error::Flash`], or [`Error::Corrupted`] if the
    /// record changed since mount.
    pub fn block<'b>(
        &mut self,
        author: &PublicKey,
        seq: u64,
        buf: &'b mut [u8],
    ) -> Result<Option<Block<'b>>, Error<F::Error>> {
        let Some(StoredHead {
            offset,
            header,
            payload_len,
            payload_crc,
        }) = self.record_head(author, seq)?
        else {
            return Ok(None);
        };
        let n = payload_len as usize;
        let out = buf
            .get_mut(..n)
            .ok_or(Error::BufferTooSmall { needed: n })?;
        let at = offset + RECORD_HEAD_LEN as u32;
        // Read the aligned part straight into `out`, the last partial word via scratch
        // (READ_SIZE may be above 1).
        let a = self.align();
        let body = n - n % a;
        let (aligned, rest) = out.split_at_mut(body);
        if !aligned.is_empty() {
            self.read(at, aligned)?;
        }
        if !rest.is_empty() {
            let mut word = [0u8; format::ALIGN_MAX];
            let w = word.get_mut(..a).ok_or(Error::UnsupportedGeometry)?;
            self.read(at + body as u32, w)?;
            rest.copy_from_slice(w.get(..rest.len()).unwrap_or(&[]));
        }
        if super::crc::crc32c(out) != payload_crc {
            return Err(Error::Corrupted {
                offset,
                what: Corruption::Record,
            });
        }
        Ok(Some((header, out)))
    }

    /// The payload of block `seq` of `author`, read into `buf`. See
    /// [`FlashLog::block`].
    ///
    /// # Errors
    /// As [`FlashLog::block`].
    pub fn payload<'b>(
        &mut self,
        author: &PublicKey,
        seq: u64,
        buf: &'b mut [u8],
    ) -> Result<Option<&'b [u8]>, Error<F::Error>> {
        Ok(self.block(author, seq, buf)?.map(|(_, p)| p))
    }

    /// Capacity and usage figures.
    pub fn usage(&self) -> Usage {
        let used = u64::from(self.geo.page_start(self.write_page)) + u64::from(self.write_at);
        let capacity = self.geo.capacity();
        let free = if self.tail_torn && self.write_page + 1 >= self.geo.pages {
            0
        } else {
            capacity.saturating_sub(used)
        };
        Usage {
            blocks: self.index.blocks(),
            blocks_max: BLOCKS,
            authors: self.index.authors().len(),
            authors_max: AUTHORS,
            stored_bytes: self.stored_bytes,
            flash_bytes_used: used,
            flash_bytes_free: free,
            flash_bytes: capacity,
            index_bytes: Self::INDEX_BYTES,
        }
    }
}

/// A record head read back and checked.
struct StoredHead {
    offset: u32,
    header: Header,
    payload_len: u32,
    payload_crc: u32,
}

/// A block read back: its header and its payload (in the caller's buffer).
pub type Block<'b> = (Header, &'b [u8]);

/// The first `n` bytes of `buf` (all of it if shorter).
fn fields_of(buf: &[u8], n: usize) -> &[u8] {
    buf.get(..n).unwrap_or(buf)
}

impl<F: NorFlash, const AUTHORS: usize, const BLOCKS: usize> BlockLog
    for FlashLog<F, AUTHORS, BLOCKS>
{
    type Error = Error<F::Error>;

    fn append(&mut self, header: &Header, payload: &[u8]) -> Result<(), Self::Error> {
        FlashLog::append(self, header, payload)
    }

    fn header(&mut self, author: &PublicKey, seq: u64) -> Result<Option<Header>, Self::Error> {
        FlashLog::header(self, author, seq)
    }

    fn payload<'b>(
        &mut self,
        author: &PublicKey,
        seq: u64,
        buf: &'b mut [u8],
    ) -> Result<Option<&'b [u8]>, Self::Error> {
        FlashLog::payload(self, author, seq, buf)
    }

    fn head(&self, author: &PublicKey) -> Option<Head> {
        FlashLog::head(self, author)
    }

    fn author_count(&self) -> usize {
        self.index.authors().len()
    }

    fn author_at(&self, i: usize) -> Option<PublicKey> {
        self.index.authors().get(i).map(|s| s.key)
    }

    fn usage(&self) -> Usage {
        FlashLog::usage(self)
    }
}
