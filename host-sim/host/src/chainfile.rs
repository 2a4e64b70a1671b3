//! The chain file: a portable export of one author's chain.
//!
//! | part          | size          | content                                          |
//! |---------------|---------------|--------------------------------------------------|
//! | magic         | 8             | `GLCHAIN` then a zero byte                       |
//! | version       | 2             | u16 little-endian, `1`                           |
//! | author        | 32            | the chain's author key                           |
//! | count         | 8             | u64 little-endian, number of blocks that follow  |
//! | per block     | 212 + 1 + len | header, `1` if the payload follows or `0` if it was pruned, then the payload (`payload_len` bytes from the header) |
//!
//! Blocks are in seq order from 1. Nothing may follow the last block. Reading checks
//! only the framing; [`ChainFile::verify`] checks every block as `ChainState::verify_next` does
//! (signatures in batches, on every core: [`crate::verify`]).
//!
//! Reading from disk is bounded: only regular files are read (a FIFO or a device is
//! refused before anything is read, so a pipe without a writer cannot hang a reader),
//! the file header is checked first, and then at most the size its block count allows
//! ([`FILE_HEADER_LEN`] + count × [`BLOCK_LEN_MAX`], count ≤ [`BLOCKS_MAX`]) is read.

pub use crate::error::BlockFailure;
use crate::error::{ChainFileError, ParseError};
use crate::verify::{ChainBlock, verify_chain, verify_chain_sequential};
use glitter_core::sig::PublicKey;
use glitter_core::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// File magic.
pub const MAGIC: &[u8; 8] = b"GLCHAIN\0";
/// The chain file format version this build writes and reads.
pub const FILE_VERSION: u16 = 1;
/// Size of the file header.
pub const FILE_HEADER_LEN: usize = 8 + 2 + 32 + 8;

/// The most blocks a chain file may carry: what a data directory's image indexes.
pub const BLOCKS_MAX: u64 = 65_536;
/// The largest block in a chain file: header, payload flag, longest payload.
pub const BLOCK_LEN_MAX: u64 = (HEADER_LEN + 1 + PAYLOAD_LEN_MAX) as u64;
/// The largest chain file the format allows.
pub const FILE_LEN_MAX: u64 = FILE_HEADER_LEN as u64 + BLOCKS_MAX * BLOCK_LEN_MAX;

/// One block as carried in a chain file: the header bytes and the payload, if kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawBlock {
    /// The encoded header (exactly [`HEADER_LEN`] bytes).
    pub header: [u8; HEADER_LEN],
    /// The payload, or `None` if it was pruned.
    pub payload: Option<Vec<u8>>,
}

impl ChainBlock for RawBlock {
    fn header(&self) -> &[u8] {
        &self.header
    }
    fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }
}

/// A chain file's contents before verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainFile {
    /// The author named in the file header.
    pub author: PublicKey,
    /// The blocks, in file order.
    pub blocks: Vec<RawBlock>,
}

/// A verified chain: the author, the decoded headers and the payloads.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    /// The author.
    pub author: PublicKey,
    /// Headers in seq order from 1.
    pub headers: Vec<Header>,
    /// Payloads, parallel to `headers`.
    pub payloads: Vec<Option<Vec<u8>>>,
}

impl VerifiedChain {
    /// The head header, if any.
    pub fn head(&self) -> Option<&Header> {
        self.headers.last()
    }
}

impl ChainFile {
    /// Parses the framing of a chain file.
    ///
    /// # Errors
    /// A one-line description of the first framing problem.
    pub fn parse(bytes: &[u8]) -> Result<ChainFile, ParseError> {
        let (author, count) = parse_header(bytes)?;
        let mut r = Reader {
            bytes,
            pos: FILE_HEADER_LEN,
        };
        // Bound the count by what the remaining bytes could possibly hold.
        let max_blocks = (bytes.len().saturating_sub(FILE_HEADER_LEN)) / (HEADER_LEN + 1);
        if count > max_blocks as u64 {
            return Err(ParseError::Count {
                count,
                max: max_blocks,
            });
        }
        let mut blocks = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let truncated = |what| ParseError::Truncated { index: i, what };
            let header: [u8; HEADER_LEN] = r.array().ok_or_else(|| truncated("header"))?;
            let flag = *r
                .take(1)
                .and_then(|b| b.first())
                .ok_or_else(|| truncated("flag"))?;
            let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
            let payload = match flag {
                0 => None,
                1 => {
                    if len > PAYLOAD_LEN_MAX {
                        return Err(ParseError::PayloadLen {
                            index: i,
                            len,
                            max: PAYLOAD_LEN_MAX,
                        });
                    }
                    Some(r.take(len).ok_or_else(|| truncated("payload"))?.to_vec())
                }
                other => {
                    return Err(ParseError::Flag {
                        index: i,
                        flag: other,
                    });
                }
            };
            blocks.push(RawBlock { header, payload });
        }
        if r.pos != bytes.len() {
            return Err(ParseError::Trailing(bytes.len() - r.pos));
        }
        Ok(ChainFile { author, blocks })
    }

    /// Encodes the file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FILE_HEADER_LEN + self.blocks.len() * (HEADER_LEN + 64));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FILE_VERSION.to_le_bytes());
        out.extend_from_slice(&self.author.0);
        out.extend_from_slice(&(self.blocks.len() as u64).to_le_bytes());
        for b in &self.blocks {
            out.extend_from_slice(&b.header);
            match &b.payload {
                Some(p) => {
                    out.push(1);
                    out.extend_from_slice(p);
                }
                None => out.push(0),
            }
        }
        out
    }

    /// Verifies every block with the result a loop of `ChainState::verify_next` gives:
    /// the other checks in order, the signatures in batches on every core
    /// ([`crate::verify::verify_chain`], batch weights seeded from
    /// [`crate::os::random32`]). Without OS randomness it runs that loop itself.
    ///
    /// # Errors
    /// The first failing block, or an invalid author key.
    pub fn verify(&self) -> std::result::Result<VerifiedChain, BlockFailure> {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let headers = match crate::os::random32() {
            Ok(seed) => {
                let mut rng = ChaCha20Rng::from_seed(seed);
                verify_chain(self.author, &self.blocks, &mut rng, threads)?
            }
            Err(_) => verify_chain_sequential(self.author, &self.blocks)?,
        };
        Ok(VerifiedChain {
            author: self.author,
            headers,
            payloads: self.blocks.iter().map(|b| b.payload.clone()).collect(),
        })
    }

    /// Builds a file from a verified chain.
    pub fn from_chain(chain: &VerifiedChain) -> ChainFile {
        ChainFile {
            author: chain.author,
            blocks: chain
                .headers
                .iter()
                .zip(&chain.payloads)
                .map(|(h, p)| RawBlock {
                    header: h.to_bytes(),
                    payload: p.clone(),
                })
                .collect(),
        }
    }
}

/// Reads and verifies a chain file from disk, reading at most what the format allows
/// (see the module docs).
///
/// # Errors
/// Not a regular file, I/O, framing or verification failures, naming the file (and
/// the block).
pub fn read_verified(path: &Path) -> Result<VerifiedChain, ChainFileError> {
    let file = read_chain_file(path)?;
    file.verify().map_err(|source| ChainFileError::Verify {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a chain file's framing from disk: the header first, then at most the bytes its
/// block count allows.
///
/// # Errors
/// Not a regular file, an I/O error, or a framing problem, naming the file.
pub fn read_chain_file(path: &Path) -> Result<ChainFile, ChainFileError> {
    let read_err = |source| ChainFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let parse_err = |source| ChainFileError::Parse {
        path: path.to_path_buf(),
        source,
    };
    let (f, len) = open_regular(path)?;
    let mut header = Vec::with_capacity(FILE_HEADER_LEN);
    (&f).take(FILE_HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(read_err)?;
    // Checks magic, version and the count bound; the blocks are not there yet.
    let (_, count) = parse_header(&header).map_err(parse_err)?;
    let max = FILE_HEADER_LEN as u64 + count * BLOCK_LEN_MAX;
    if len > max {
        return Err(parse_err(ParseError::TooLong { len, max }));
    }
    let mut bytes = header;
    bytes.reserve(
        usize::try_from(len)
            .unwrap_or(0)
            .saturating_sub(FILE_HEADER_LEN),
    );
    // One byte past the bound, so a file that grew meanwhile still fails as too long.
    (&f).take(max + 1 - FILE_HEADER_LEN as u64)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > max {
        return Err(parse_err(ParseError::TooLong {
            len: bytes.len() as u64,
            max,
        }));
    }
    ChainFile::parse(&bytes).map_err(parse_err)
}

/// The file header's checks (magic, version, count bound) on the first
/// [`FILE_HEADER_LEN`] bytes of `bytes`; returns the author and the block count.
fn parse_header(bytes: &[u8]) -> Result<(PublicKey, u64), ParseError> {
    let mut r = Reader { bytes, pos: 0 };
    if bytes.len() < FILE_HEADER_LEN {
        return Err(ParseError::TooShort);
    }
    if r.take(8).ok_or(ParseError::TooShort)? != MAGIC {
        return Err(ParseError::BadMagic);
    }
    let version = u16::from_le_bytes(r.array().ok_or(ParseError::TooShort)?);
    if version != FILE_VERSION {
        return Err(ParseError::Version {
            found: version,
            reads: FILE_VERSION,
        });
    }
    let author = PublicKey(r.array().ok_or(ParseError::TooShort)?);
    let count = u64::from_le_bytes(r.array().ok_or(ParseError::TooShort)?);
    if count > BLOCKS_MAX {
        return Err(ParseError::Count {
            count,
            max: BLOCKS_MAX as usize,
        });
    }
    Ok((author, count))
}

/// Opens `path` for reading if it is a regular file, and returns it with its length.
/// The open never blocks (`O_NONBLOCK`, so a FIFO without a writer cannot hang it), and
/// anything but a regular file is refused before a byte is read.
///
/// # Errors
/// [`ChainFileError::Read`] with the OS error, or [`ChainFileError::NotAFile`].
pub fn open_regular(path: &Path) -> Result<(File, u64), ChainFileError> {
    let read_err = |source| ChainFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(read_err)?;
    let meta = f.metadata().map_err(read_err)?;
    let t = meta.file_type();
    if !t.is_file() {
        let kind = if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else if t.is_socket() {
            "a socket"
        } else if t.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(ChainFileError::NotAFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    Ok((f, meta.len()))
}

/// Reads a whole regular file of at most `max` bytes (a custody file, a manifest).
///
/// # Errors
/// As [`open_regular`], or [`ChainFileError::TooLong`] past `max`.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, ChainFileError> {
    let (f, len) = open_regular(path)?;
    let too_long = |len| ChainFileError::TooLong {
        path: path.to_path_buf(),
        len,
        max,
    };
    if len > max {
        return Err(too_long(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    (&f).take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ChainFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(too_long(bytes.len() as u64));
    }
    Ok(bytes)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}
