//! The store's errors: small enums, generic over the flash driver's own error.

/// Why a store operation failed. `E` is the flash driver's error type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error<E> {
    /// The flash driver failed (including a power cut in the simulator). After a failed
    /// append the log stays usable: the next append reads the record in flight back
    /// (stored if it landed whole, abandoned if not) and starts on a fresh page.
    Flash(E),
    /// No page of the flash holds a glitter page header: it was never formatted (or a
    /// format was cut before its first page header was committed). Call
    /// [`crate::store::FlashLog::format`].
    NotFormatted,
    /// The image holds a glitter log, but one written with another format version, page
    /// size or write alignment.
    FormatMismatch,
    /// The flash's geometry cannot hold this format (see
    /// [`crate::store::FlashLog::mount`] for the rules).
    UnsupportedGeometry,
    /// Committed data that a power cut cannot explain: bit rot, a stray or missing
    /// page, or a committed block that breaks its chain's links. The log is not
    /// mounted, so nothing is served from it; `offset` is the byte where the scan
    /// found the problem.
    Corrupted {
        /// Absolute flash offset of the problem.
        offset: u32,
        /// What was wrong there.
        what: Corruption,
    },
    /// No flash left for this record; everything already stored stays readable.
    FullStorage,
    /// The RAM index holds `capacity` blocks and is full. At mount: the image holds
    /// more blocks than the index can track; mount with a larger `BLOCKS`.
    IndexFull {
        /// The index's block capacity.
        capacity: usize,
    },
    /// The RAM index tracks `capacity` authors and all slots are taken.
    AuthorsFull {
        /// The index's author capacity.
        capacity: usize,
    },
    /// The payload is larger than [`crate::wire::header::PAYLOAD_LEN_MAX`].
    Oversize {
        /// The payload's length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Append refused a block that is not the next link of its stored chain. The store
    /// never holds an unlinked chain.
    Unlinked(LinkError),
    /// The caller's buffer is too small: `needed` bytes are required.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
}

/// What a [`Error::Corrupted`] image got wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Corruption {
    /// Page 0 lost its header while later pages still carry one.
    FirstPageHeader,
    /// A committed page header that does not fit this log: it names another page, or
    /// another format.
    PageHeader,
    /// A page's records do not end where the next page's header says they end: a
    /// record in the middle of the log no longer checks.
    PageBoundary,
    /// A page after the last one in use carries a committed header: pages in the middle
    /// were lost.
    StrayPage,
    /// A committed record whose CRC checks holds a header that does not decode, or
    /// whose length disagrees with its record.
    BlockHeader,
    /// A committed record breaks its chain's seq, `prev` or timestamp rule.
    BrokenLink,
    /// A record read after mount no longer matches its CRC, author or seq.
    Record,
}

/// Why [`Error::Unlinked`]: the block is not the next link of its stored chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkError {
    /// `seq` is not the stored head's seq + 1 (1 for an author with no blocks).
    Seq {
        /// The seq the store expects.
        expected: u64,
        /// The seq given.
        got: u64,
    },
    /// `prev` is not the stored head's id (or a genesis block has nonzero links).
    Prev {
        /// The block's seq.
        seq: u64,
    },
    /// The timestamp is earlier than the stored head's.
    Timestamp {
        /// The block's seq.
        seq: u64,
    },
    /// The payload's length differs from the header's `payload_len`.
    PayloadLength {
        /// `payload_len` in the header.
        declared: usize,
        /// The payload's real length.
        actual: usize,
    },
}

impl<E> From<LinkError> for Error<E> {
    fn from(e: LinkError) -> Error<E> {
        Error::Unlinked(e)
    }
}

impl<E: core::fmt::Debug> core::fmt::Display for Error<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Flash(e) => write!(f, "flash driver error: {e:?}"),
            Error::NotFormatted => f.write_str("flash holds no glitter log (not formatted)"),
            Error::FormatMismatch => {
                f.write_str("log written with another format version, page size or alignment")
            }
            Error::UnsupportedGeometry => {
                f.write_str("flash geometry unsupported by the log format")
            }
            Error::Corrupted { offset, what } => {
                write!(f, "corrupted log at flash offset {offset}: {what}")
            }
            Error::FullStorage => f.write_str("flash full"),
            Error::IndexFull { capacity } => {
                write!(f, "block index full ({capacity} blocks)")
            }
            Error::AuthorsFull { capacity } => {
                write!(f, "author index full ({capacity} authors)")
            }
            Error::Oversize { len, max } => {
                write!(f, "payload of {len} bytes exceeds the bound of {max}")
            }
            Error::Unlinked(e) => write!(f, "block refused: {e}"),
            Error::BufferTooSmall { needed } => {
                write!(f, "buffer too small: {needed} bytes needed")
            }
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for Error<E> {}

impl core::fmt::Display for Corruption {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Corruption::FirstPageHeader => "first page header lost while later pages remain",
            Corruption::PageHeader => "committed page header that does not fit this log",
            Corruption::PageBoundary => "records end before the next page says they do",
            Corruption::StrayPage => "committed page after the end of the log",
            Corruption::BlockHeader => "committed record with a malformed block header",
            Corruption::BrokenLink => "committed block breaks its chain's links",
            Corruption::Record => "stored record no longer checks",
        })
    }
}

impl core::fmt::Display for LinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinkError::Seq { expected, got } => {
                write!(f, "seq {got} where the store expects {expected}")
            }
            LinkError::Prev { seq } => write!(f, "prev link of block {seq} is not the stored head"),
            LinkError::Timestamp { seq } => {
                write!(f, "timestamp of block {seq} is before the stored head's")
            }
            LinkError::PayloadLength { declared, actual } => {
                write!(f, "payload is {actual} bytes, header says {declared}")
            }
        }
    }
}

impl core::error::Error for LinkError {}
