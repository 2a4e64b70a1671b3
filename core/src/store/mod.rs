//! Block storage: the [`BlockLog`] trait and its NOR-flash implementation.
//!
//! - [`BlockLog`]: append (durable first, then visible), read by (author, seq), heads,
//!   one author's chain in order, the list of authors, usage figures.
//! - [`FlashLog`]: an append-only log of the blocks of several authors on any
//!   `embedded_storage::nor_flash::NorFlash`, with a bounded, const-generic RAM index.
//!   Records carry a length, CRC-32Cs and a commit word written last; mounting scans,
//!   checks CRCs and chain links, and repairs a torn tail; a torn record is never
//!   served. The format is documented in [`format`] and `docs/STORAGE.md`.
//! - [`RamNorFlash`]: a strict NOR flash in RAM with power cuts and counters, for
//!   tests, the simulator and the QEMU firmware.
//!
//! The store does not verify signatures: blocks are verified (by
//! [`crate::chain::ChainState`]) before they are stored. It keeps its own structural
//! rules, so that it never holds an unlinked chain: each author's blocks are stored from
//! seq 1, each one's `prev` is the previous one's id, and timestamps do not go back.

pub mod crc;
pub mod error;
mod flash_log;
pub mod format;
mod index;
pub mod ram_flash;

/// The `embedded-storage` crate the store is written against, re-exported so that
/// flash drivers elsewhere (the host's file flash, the firmware's) implement the very
/// same traits.
pub use embedded_storage;
pub use error::{Corruption, Error, LinkError};
pub use flash_log::{Block, FlashLog};
pub use format::Geometry;
pub use index::AUTHOR_SLOT_BYTES;
pub use ram_flash::{Counters, PowerCut, RamFlashError, RamNorFlash};

use crate::chain::{Head, HeaderSource};
use crate::sig::PublicKey;
use crate::wire::header::Header;

/// RAM bytes the index spends per stored block (a `u32` flash offset).
pub const INDEX_BYTES_PER_BLOCK: usize = core::mem::size_of::<u32>();

/// A store of several authors' chains.
///
/// Reads take `&mut self` because reading a flash does
/// (`embedded_storage::nor_flash::ReadNorFlash::read`).
pub trait BlockLog {
    /// The store's error.
    type Error: core::fmt::Debug;

    /// Stores `header` and `payload` as the next block of `header.author`'s chain.
    /// When this returns `Ok`, the block is durable; it becomes visible to reads only
    /// then.
    ///
    /// # Errors
    /// Implementation-specific; a block that is not the next link of the stored chain
    /// is refused.
    fn append(&mut self, header: &Header, payload: &[u8]) -> Result<(), Self::Error>;

    /// The header of block `seq` of `author`, or `None` if it is not stored.
    ///
    /// # Errors
    /// Implementation-specific (a failing or corrupted medium).
    fn header(&mut self, author: &PublicKey, seq: u64) -> Result<Option<Header>, Self::Error>;

    /// The payload of block `seq` of `author`, read into `buf`, or `None` if it is not
    /// stored.
    ///
    /// # Errors
    /// Implementation-specific, including a `buf` too small for the payload.
    fn payload<'b>(
        &mut self,
        author: &PublicKey,
        seq: u64,
        buf: &'b mut [u8],
    ) -> Result<Option<&'b [u8]>, Self::Error>;

    /// The head of `author`'s stored chain, or `None` if none of its blocks is stored.
    fn head(&self, author: &PublicKey) -> Option<Head>;

    /// How many authors have blocks stored.
    fn author_count(&self) -> usize;

    /// The `i`th author (in key order), for `i < author_count()`.
    fn author_at(&self, i: usize) -> Option<PublicKey>;

    /// Capacity and usage figures.
    fn usage(&self) -> Usage;

    /// The authors with blocks stored, in key order.
    fn authors(&self) -> Authors<'_, Self> {
        Authors { log: self, next: 0 }
    }

    /// `author`'s stored headers, from seq 1 to the head at the time of the call.
    fn chain(&mut self, author: PublicKey) -> ChainIter<'_, Self> {
        let last = self.head(&author).map_or(0, |h| h.seq);
        ChainIter {
            log: self,
            author,
            next: 1,
            last,
        }
    }

    /// A [`HeaderSource`] over `author`'s stored chain, for
    /// [`crate::chain::ChainState::verify_next`] and [`crate::chain::ChainState::append`]
    /// to look up skip-link targets.
    fn source(&mut self, author: PublicKey) -> LogSource<'_, Self> {
        LogSource { log: self, author }
    }
}

/// The authors of a [`BlockLog`]; see [`BlockLog::authors`].
#[derive(Debug)]
pub struct Authors<'a, L: BlockLog + ?Sized> {
    log: &'a L,
    next: usize,
}

impl<L: BlockLog + ?Sized> Iterator for Authors<'_, L> {
    type Item = PublicKey;

    fn next(&mut self) -> Option<PublicKey> {
        let a = self.log.author_at(self.next)?;
        self.next += 1;
        Some(a)
    }
}

/// One author's stored headers in seq order; see [`BlockLog::chain`]. Yields an error
/// (and then stops) if a read fails.
#[derive(Debug)]
pub struct ChainIter<'a, L: BlockLog + ?Sized> {
    log: &'a mut L,
    author: PublicKey,
    next: u64,
    last: u64,
}

impl<L: BlockLog + ?Sized> Iterator for ChainIter<'_, L> {
    type Item = Result<Header, L::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next > self.last {
            return None;
        }
        let seq = self.next;
        self.next = seq.saturating_add(1);
        match self.log.header(&self.author, seq) {
            Ok(Some(h)) => Some(Ok(h)),
            Ok(None) => {
                self.next = u64::MAX;
                None
            }
            Err(e) => {
                self.next = u64::MAX;
                Some(Err(e))
            }
        }
    }
}

/// A [`HeaderSource`] over one author's chain in a [`BlockLog`]; see
/// [`BlockLog::source`]. A failed read looks like a missing header (the validator then
/// reports [`crate::chain::ChainError::SkipUnavailable`]).
#[derive(Debug)]
pub struct LogSource<'a, L: BlockLog + ?Sized> {
    log: &'a mut L,
    author: PublicKey,
}

impl<L: BlockLog + ?Sized> HeaderSource for LogSource<'_, L> {
    fn header_at(&mut self, seq: u64) -> Option<Header> {
        self.log.header(&self.author, seq).ok().flatten()
    }
}

/// Capacity and usage figures of a [`BlockLog`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Usage {
    /// Blocks stored.
    pub blocks: usize,
    /// Blocks the index can hold.
    pub blocks_max: usize,
    /// Authors with blocks stored.
    pub authors: usize,
    /// Authors the index can hold.
    pub authors_max: usize,
    /// Bytes of block headers and payloads stored.
    pub stored_bytes: u64,
    /// Flash bytes from the start to the next write position (records, page headers,
    /// padding, and page tails left unused).
    pub flash_bytes_used: u64,
    /// Flash bytes after the next write position (an upper bound on what more fits:
    /// records do not cross pages).
    pub flash_bytes_free: u64,
    /// Total flash bytes.
    pub flash_bytes: u64,
    /// RAM bytes of the index.
    pub index_bytes: usize,
}

/// What [`FlashLog::mount`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MountReport {
    /// Committed blocks found.
    pub records: usize,
    /// Authors found.
    pub authors: usize,
    /// Pages in use, the write page included.
    pub pages_in_use: u32,
    /// A torn record at the end of the log, if the last session was cut.
    pub torn_tail: Option<TornTail>,
}

/// A torn tail found at mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TornTail {
    /// Absolute flash offset where the torn bytes start.
    pub offset: u32,
    /// True if mount moved on to a fresh page; false if no page was left, so the log
    /// is read-only.
    pub repaired: bool,
}
