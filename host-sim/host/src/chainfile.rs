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

use anyhow::{Context, Result, bail};
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

/// Why a chain file does not verify: the block index (0-based in the file) and seq,
/// and the reason.
#[derive(Debug)]
pub struct BlockFailure {
    /// Position in the file, from 0.
    pub index: usize,
    /// The seq the block claims, if its header decoded.
    pub seq: Option<u64>,
    /// What is wrong.
    pub error: glitter_core::ChainError,
}

impl std::fmt::Display for BlockFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(s) => write!(f, "block #{} (seq {s}): {}", self.index, self.error),
            None => write!(f, "block #{}: {}", self.index, self.error),
        }
    }
}

impl std::error::Error for BlockFailure {}

impl ChainFile {
    /// Parses the framing of a chain file.
    ///
    /// # Errors
    /// A one-line description of the first framing problem.
    pub fn parse(bytes: &[u8]) -> Result<ChainFile> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(8)
            .context("file too short for the chain file header")?
            != MAGIC
        {
            bail!("not a glitter chain file (bad magic)");
        }
        let version = u16::from_le_bytes(r.array()?);
        if version != FILE_VERSION {
            bail!("unsupported chain file version {version} (this build reads {FILE_VERSION})");
        }
        let author = PublicKey(r.array()?);
        let count = u64::from_le_bytes(r.array()?);
        // Bound the count by what the remaining bytes could possibly hold.
        let max_blocks = (bytes.len().saturating_sub(FILE_HEADER_LEN)) / (HEADER_LEN + 1);
        if count > max_blocks as u64 {
            bail!("file claims {count} blocks but can hold at most {max_blocks}");
        }
        let mut blocks = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            let header: [u8; HEADER_LEN] = r
                .array()
                .with_context(|| format!("block #{i}: truncated header"))?;
            let flag = r
                .take(1)
                .with_context(|| format!("block #{i}: truncated"))?[0];
            let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
            let payload = match flag {
                0 => None,
                1 => {
                    if len > PAYLOAD_LEN_MAX {
                        bail!("block #{i}: payload length {len} exceeds {PAYLOAD_LEN_MAX}");
                    }
                    Some(
                        r.take(len)
                            .with_context(|| format!("block #{i}: truncated payload"))?
                            .to_vec(),
                    )
                }
                other => bail!("block #{i}: invalid payload flag {other}"),
            };
            blocks.push(RawBlock { header, payload });
        }
        if r.pos != bytes.len() {
            bail!(
                "{} trailing bytes after the last block",
                bytes.len() - r.pos
            );
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
pub fn read_verified(path: &Path) -> Result<VerifiedChain> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let file = ChainFile::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    file.verify()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).context("length overflow")?;
        let s = self
            .bytes
            .get(self.pos..end)
            .context("unexpected end of file")?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
}
