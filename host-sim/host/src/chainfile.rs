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
//! only the framing; [`ChainFile::verify`] checks every block with `ChainState::verify_next`.

pub use crate::error::BlockFailure;
use crate::error::{ChainFileError, ParseError};
use glitter_core::chain::ChainState;
use glitter_core::sig::PublicKey;
use glitter_core::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use std::path::Path;

/// File magic.
pub const MAGIC: &[u8; 8] = b"GLCHAIN\0";
/// The chain file format version this build writes and reads.
pub const FILE_VERSION: u16 = 1;
/// Size of the file header.
pub const FILE_HEADER_LEN: usize = 8 + 2 + 32 + 8;

/// One block as carried in a chain file: the header bytes and the payload, if kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawBlock {
    /// The encoded header (exactly [`HEADER_LEN`] bytes).
    pub header: [u8; HEADER_LEN],
    /// The payload, or `None` if it was pruned.
    pub payload: Option<Vec<u8>>,
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

    /// Verifies every block in order with `ChainState::verify_next`.
    ///
    /// # Errors
    /// The first failing block, or an invalid author key.
    pub fn verify(&self) -> std::result::Result<VerifiedChain, BlockFailure> {
        let fail = |index, seq, error| BlockFailure { index, seq, error };
        let mut state = ChainState::new(self.author).map_err(|e| fail(0, None, e))?;
        let mut headers: Vec<Header> = Vec::with_capacity(self.blocks.len());
        let mut payloads = Vec::with_capacity(self.blocks.len());
        for (i, b) in self.blocks.iter().enumerate() {
            let seq = Header::decode(&b.header).ok().map(|h| h.seq);
            let h = state
                .verify_next(&b.header, b.payload.as_deref(), headers.as_mut_slice())
                .map_err(|e| fail(i, seq, e))?;
            headers.push(h);
            payloads.push(b.payload.clone());
        }
        Ok(VerifiedChain {
            author: self.author,
            headers,
            payloads,
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

/// Reads and verifies a chain file from disk.
///
/// # Errors
/// I/O, framing or verification failures, naming the file (and the block).
pub fn read_verified(path: &Path) -> Result<VerifiedChain, ChainFileError> {
    let bytes = std::fs::read(path).map_err(|source| ChainFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = ChainFile::parse(&bytes).map_err(|source| ChainFileError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    file.verify().map_err(|source| ChainFileError::Verify {
        path: path.to_path_buf(),
        source,
    })
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
