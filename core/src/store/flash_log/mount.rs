//! Mount: the scan that rebuilds the RAM index from the flash, checks every record,
//! and finds (and repairs) a torn tail.

use super::{CHUNK_LEN, FlashLog};
use crate::hash::Hash;
use crate::sig::PublicKey;
use crate::store::crc::Crc32c;
use crate::store::error::{Corruption, Error};
use crate::store::format::{
    self, PageHeader, RECORD_HEAD_LEN, RecordHead, decode_record_head, is_commit, record_field,
};
use crate::store::{MountReport, TornTail};
use crate::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use embedded_storage::nor_flash::NorFlash;

/// What the second mount pass reads of each record: prefix and author, rounded up to
/// the largest alignment.
const PEEK_LEN: usize = 64;

/// How a page's records end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The next record position is erased (the page is not known to be erased beyond).
    Erased,
    /// Too little room is left for the smallest record.
    Full,
    /// The next record position holds something that is not a committed, intact record:
    /// a torn write.
    Invalid,
}

impl<F: NorFlash, const AUTHORS: usize, const BLOCKS: usize> FlashLog<F, AUTHORS, BLOCKS> {
    /// Mount: everything after `unmounted`.
    pub(super) fn scan(&mut self, repair: bool) -> Result<(), Error<F::Error>> {
        self.abandoned = None;
        self.index.clear();
        self.stored_bytes = 0;
        self.report = MountReport::default();
        match self.read_page_header(0)? {
            PageHeader::Valid { index: 0, .. } => {}
            PageHeader::Valid { .. } => {
                return Err(Error::Corrupted {
                    offset: 0,
                    what: Corruption::PageHeader,
                });
            }
            PageHeader::Foreign => return Err(Error::FormatMismatch),
            PageHeader::Absent => {
                for page in 1..self.geo.pages {
                    if self.read_page_header(page)? != PageHeader::Absent {
                        return Err(Error::Corrupted {
                            offset: 0,
                            what: Corruption::FirstPageHeader,
                        });
                    }
                }
                return Err(Error::NotFormatted);
            }
        }
        // Pass 1: check every record and link, count blocks per author.
        let mut page = 0u32;
        let (tail, tail_at, tail_end) = loop {
            let (at, end) = self.scan_page(page)?;
            let next = page + 1;
            if next >= self.geo.pages {
                break (page, at, end);
            }
            match self.read_page_header(next)? {
                PageHeader::Absent => break (page, at, end),
                PageHeader::Foreign => {
                    return Err(Error::Corrupted {
                        offset: self.geo.page_start(next),
                        what: Corruption::PageHeader,
                    });
                }
                PageHeader::Valid { index, prev_end } => {
                    if index != next {
                        return Err(Error::Corrupted {
                            offset: self.geo.page_start(next),
                            what: Corruption::PageHeader,
                        });
                    }
                    if prev_end != at {
                        return Err(Error::Corrupted {
                            offset: self.geo.page_start(page) + at.min(prev_end),
                            what: Corruption::PageBoundary,
                        });
                    }
                }
            }
            page = next;
        };
        // Pages after the tail were erased by the format and never written since, except
        // the one right after it, which a cut page opening may have left torn (but never
        // with a committed header, or it would be in the log).
        // The page right after the tail may hold a header a cut page opening left half
        // written, but never records: records are written only after a committed
        // header. Records there mean its header rotted, and the log goes on past it.
        // No page after the tail holds records either.
        for p in tail.saturating_add(1)..self.geo.pages {
            if !self.erased_from(p, self.geo.data_start())? {
                return Err(Error::Corrupted {
                    offset: self.geo.page_start(p),
                    what: Corruption::PageHeader,
                });
            }
        }
        for p in tail.saturating_add(2)..self.geo.pages {
            if self.read_page_header(p)? != PageHeader::Absent {
                return Err(Error::Corrupted {
                    offset: self.geo.page_start(p),
                    what: Corruption::StrayPage,
                });
            }
        }
        let torn = match tail_end {
            End::Full => false,
            End::Invalid => true,
            End::Erased => !self.erased_from(tail, tail_at)?,
        };
        if torn {
            self.check_torn(tail, tail_at)?;
        }
        // Pass 2: place each block's offset in its author's group.
        self.index.layout();
        for p in 0..=tail {
            let end = if p == tail {
                tail_at
            } else {
                match self.read_page_header(p + 1)? {
                    PageHeader::Valid { prev_end, .. } => prev_end,
                    _ => {
                        return Err(Error::Corrupted {
                            offset: self.geo.page_start(p + 1),
                            what: Corruption::PageHeader,
                        });
                    }
                }
            };
            self.place_page(p, end)?;
        }
        if !self.index.layout_complete() {
            return Err(Error::Corrupted {
                offset: self.geo.page_start(tail) + tail_at,
                what: Corruption::Record,
            });
        }
        self.write_page = tail;
        self.write_at = tail_at;
        self.tail_torn = torn;
        self.report.records = self.index.blocks();
        self.report.authors = self.index.authors().len();
        self.report.pages_in_use = tail + 1;
        if torn {
            let offset = self.geo.page_start(tail) + tail_at;
            let repaired = repair && tail + 1 < self.geo.pages;
            if repaired {
                self.open_page(tail + 1)?;
            }
            self.report.torn_tail = Some(TornTail { offset, repaired });
        }
        Ok(())
    }

    /// Reads back the record whose append failed (if any): a flash error can come
    /// after the commit word landed, and then the record is a committed block that a
    /// mount would serve. Such a block is indexed now, and the log's records end after
    /// it, so the next page's `prev_end` is where a mount's scan stops and the next
    /// block links to it; without this, the next append would add a second block at
    /// its seq, or a page boundary that no longer checks, and the log would not mount.
    /// A record that did not land whole stays abandoned, as before. Either way the tail
    /// stays torn: the next record goes to a fresh page.
    ///
    /// # Errors
    /// [`Error::Flash`] if it cannot be read (it is read again next time).
    pub(super) fn settle(&mut self) -> Result<(), Error<F::Error>> {
        let Some(offset) = self.abandoned else {
            return Ok(());
        };
        let mut head = [0u8; RECORD_HEAD_LEN];
        self.read(offset, &mut head)?;
        if let RecordHead::Valid {
            payload_len,
            payload_crc,
        } = decode_record_head(&self.geo, &head)
            && self.committed(offset, payload_len)?
            && self.payload_crc(offset, payload_len)? == payload_crc
            && let Some(header) = head
                .get(record_field::HEADER)
                .and_then(|b| Header::decode(b).ok())
        {
            // This log wrote the record after the block passed its link and room
            // checks, and nothing was appended since: it is the next link.
            self.index
                .push(
                    &header.author,
                    offset,
                    Hash::of(&header.to_bytes()),
                    header.timestamp_ms,
                )
                .map_err(|e| self.full_error(e))?;
            self.stored_bytes += (HEADER_LEN as u64) + u64::from(payload_len);
            self.write_at += self.geo.record_len(payload_len);
        }
        self.abandoned = None;
        Ok(())
    }

    /// Checks that what the tail page holds at `at` (not a committed, intact record)
    /// can be the last append, cut before its commit word landed, and not a committed
    /// record that rotted. A cut append writes its record in one write, then the commit
    /// word in a second, and nothing after it in that page. So:
    /// - everything after the record's extent (its own length if its head checks, else
    ///   the largest record's) is erased;
    /// - a record whose head checks has a commit word that is erased or half
    ///   programmed (bits only go 1 -> 0), and if half programmed, an intact payload;
    ///   a whole commit word over a bad payload is rot;
    /// - a record whose head does not check has no commit word in its extent.
    ///
    /// Otherwise the result is `Corrupted(Record)`: committed blocks would be lost.
    fn check_torn(&mut self, page: u32, at: u32) -> Result<(), Error<F::Error>> {
        let start = self.geo.page_start(page);
        let rot = Error::Corrupted {
            offset: start + at,
            what: Corruption::Record,
        };
        let room = self.geo.page_size.saturating_sub(at);
        let max = self.geo.record_len(PAYLOAD_LEN_MAX as u32).min(room);
        let mut head = [0u8; RECORD_HEAD_LEN];
        let head_len = (RECORD_HEAD_LEN as u32).min(room) as usize;
        self.read(start + at, head.get_mut(..head_len).unwrap_or(&mut []))?;
        let a = self.align();
        let extent = match decode_record_head(&self.geo, &head) {
            RecordHead::Valid {
                payload_len,
                payload_crc,
            } if head_len == RECORD_HEAD_LEN => {
                let len = self.geo.record_len(payload_len);
                if len > room {
                    return Err(rot);
                }
                let mut word = [0u8; format::ALIGN_MAX];
                let w = word.get_mut(..a).ok_or(Error::UnsupportedGeometry)?;
                self.read(start + at + self.geo.commit_at(payload_len), w)?;
                let target = format::commit_word();
                let half = w
                    .iter()
                    .zip(target.iter())
                    .all(|(got, want)| got & want == *want);
                let erased = w.iter().all(|b| *b == 0xFF);
                if !half
                    || is_commit(w)
                    || (!erased && self.payload_crc(start + at, payload_len)? != payload_crc)
                {
                    return Err(rot);
                }
                len
            }
            _ => {
                // No trustworthy length: no commit word may follow in the largest
                // record's extent.
                let mut pos = a as u32;
                let mut word = [0u8; format::ALIGN_MAX];
                // At most max / a rounds.
                while pos.saturating_add(a as u32) <= max {
                    let w = word.get_mut(..a).ok_or(Error::UnsupportedGeometry)?;
                    self.read(start + at + pos, w)?;
                    if is_commit(w) {
                        return Err(rot);
                    }
                    pos += a as u32;
                }
                max
            }
        };
        if !self.erased_from(page, at + extent)? {
            return Err(rot);
        }
        Ok(())
    }

    /// Pass 1 over one page: returns where its records end and why.
    fn scan_page(&mut self, page: u32) -> Result<(u32, End), Error<F::Error>> {
        let start = self.geo.page_start(page);
        let mut at = self.geo.data_start();
        let min = self.geo.record_len_min();
        // Each round advances `at` by at least `min` bytes, so a page takes at most
        // page_size / min rounds.
        loop {
            if at.saturating_add(min) > self.geo.page_size {
                return Ok((at, End::Full));
            }
            let mut head = [0u8; RECORD_HEAD_LEN];
            self.read(start + at, &mut head)?;
            let (payload_len, payload_crc) = match decode_record_head(&self.geo, &head) {
                RecordHead::Erased => return Ok((at, End::Erased)),
                RecordHead::Invalid => return Ok((at, End::Invalid)),
                RecordHead::Valid {
                    payload_len,
                    payload_crc,
                } => (payload_len, payload_crc),
            };
            let len = self.geo.record_len(payload_len);
            if at.saturating_add(len) > self.geo.page_size
                || !self.committed(start + at, payload_len)?
                || self.payload_crc(start + at, payload_len)? != payload_crc
            {
                return Ok((at, End::Invalid));
            }
            // A committed, intact record: from here on, a problem is corruption.
            let corrupted = |what| Error::Corrupted {
                offset: start + at,
                what,
            };
            let bytes = head
                .get(record_field::HEADER)
                .ok_or(corrupted(Corruption::BlockHeader))?;
            let header = Header::decode(bytes).map_err(|_| corrupted(Corruption::BlockHeader))?;
            if u32::from(header.payload_len) != payload_len {
                return Err(corrupted(Corruption::BlockHeader));
            }
            self.check_link(&header)
                .map_err(|_| corrupted(Corruption::BrokenLink))?;
            self.index
                .count(&header.author, Hash::of(bytes), header.timestamp_ms)
                .map_err(|e| self.full_error(e))?;
            self.stored_bytes += (HEADER_LEN as u64) + u64::from(payload_len);
            at += len;
        }
    }

    /// Pass 2 over one page: places the offsets of its records, which pass 1 checked,
    /// up to `end`.
    fn place_page(&mut self, page: u32, end: u32) -> Result<(), Error<F::Error>> {
        let start = self.geo.page_start(page);
        let mut at = self.geo.data_start();
        let changed = |at: u32| Error::Corrupted {
            offset: start + at,
            what: Corruption::Record,
        };
        while at < end {
            let mut peek = [0u8; PEEK_LEN];
            self.read(start + at, &mut peek)?;
            let payload_len = u32::from(format::le_u16(&peek, record_field::PAYLOAD_LEN));
            let mut key = [0u8; 32];
            key.copy_from_slice(peek.get(record_field::AUTHOR).ok_or(changed(at))?);
            if usize::try_from(payload_len).map_or(true, |l| l > PAYLOAD_LEN_MAX)
                || !self.index.place_next(&PublicKey(key), start + at)
            {
                return Err(changed(at));
            }
            at += self.geo.record_len(payload_len);
        }
        if at != end {
            return Err(changed(end));
        }
        Ok(())
    }

    /// True if the commit word of the record at `offset` is written.
    fn committed(&mut self, offset: u32, payload_len: u32) -> Result<bool, Error<F::Error>> {
        let mut word = [0u8; format::ALIGN_MAX];
        let a = self.align();
        let w = word.get_mut(..a).ok_or(Error::UnsupportedGeometry)?;
        self.read(offset + self.geo.commit_at(payload_len), w)?;
        Ok(is_commit(w))
    }

    /// CRC-32C of the payload of the record at `offset`, read in chunks.
    fn payload_crc(&mut self, offset: u32, payload_len: u32) -> Result<u32, Error<F::Error>> {
        let mut crc = Crc32c::new();
        let mut chunk = [0u8; CHUNK_LEN];
        let padded = self.geo.round_up(payload_len);
        let mut done = 0u32;
        // At most PAYLOAD_LEN_MAX / CHUNK_LEN + 1 rounds.
        while done < padded {
            let n = (padded - done).min(CHUNK_LEN as u32);
            let buf = chunk
                .get_mut(..n as usize)
                .ok_or(Error::UnsupportedGeometry)?;
            self.read(offset + RECORD_HEAD_LEN as u32 + done, buf)?;
            let real = payload_len.saturating_sub(done).min(n) as usize;
            crc.update(buf.get(..real).unwrap_or(&[]));
            done += n;
        }
        Ok(crc.finish())
    }

    /// True if page `page` is erased from `at` to its end.
    pub(super) fn erased_from(&mut self, page: u32, at: u32) -> Result<bool, Error<F::Error>> {
        let start = self.geo.page_start(page);
        let mut chunk = [0u8; CHUNK_LEN];
        let mut pos = at;
        // At most page_size / CHUNK_LEN rounds.
        while pos < self.geo.page_size {
            let n = (self.geo.page_size - pos).min(CHUNK_LEN as u32);
            let buf = chunk
                .get_mut(..n as usize)
                .ok_or(Error::UnsupportedGeometry)?;
            self.read(start + pos, buf)?;
            if buf.iter().any(|b| *b != 0xFF) {
                return Ok(false);
            }
            pos += n;
        }
        Ok(true)
    }
}
