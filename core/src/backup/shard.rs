//! Chain shards: the encrypted export of a seq range, erasure-coded, one shard per
//! custodian.
//!
//! **Export** (the plaintext of a range): for each block in seq order, its 212 header
//! bytes then its payload (`payload_len` bytes, from the header). Nothing else, so the
//! export of a range of a chain is one fixed byte string. Blocks without a payload
//! cannot be backed up (an owner always holds its own payloads).
//!
//! **Ciphertext**: the export encrypted in place with ChaCha20-Poly1305 under
//! [`chain_key`](crate::backup::seal::chain_key), nonce zero, associated data
//! [`range_aad`], followed by the 16-byte tag.
//!
//! **Shard record** (what a custodian stores per range):
//!
//! | part    | size      | content |
//! |---------|-----------|---------|
//! | header  | 96        | [`ShardHeader`]: format, owner, custodian, version, first, last, index, k, n, ciphertext length |
//! | table   | 32 · n    | every shard's leaf hash ([`shard_leaf`]), in index order |
//! | shard   | ⌈len / k⌉ | this custodian's shard ([`crate::backup::erasure`]) |
//!
//! The manifest's range `root` is [`table_root`] of the table, so one 32-byte value
//! in the manifest commits to all `n` shards.

use super::erasure::{self, ErasureError, SHARDS_MAX};
use super::manifest::ShardRange;
use super::seal::{self, Reader, SealError, TAG_LEN, Writer};
use crate::hash::Hash;
use crate::sig::PublicKey;
use crate::wire::header::{HEADER_LEN, HeaderView};

/// Bytes of one leaf hash in a shard table.
pub const LEAF_LEN: usize = 32;

/// The fixed part of a shard record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShardHeader {
    /// Whose chain.
    pub owner: PublicKey,
    /// Who holds this shard.
    pub custodian: PublicKey,
    /// The backup version that made the range.
    pub version: u64,
    /// The range's first seq.
    pub first_seq: u64,
    /// The range's last seq.
    pub last_seq: u64,
    /// The shard index, 0..n.
    pub index: u8,
    /// Data shards, k.
    pub threshold: u8,
    /// All shards, n.
    pub count: u8,
    /// Ciphertext bytes (export and tag).
    pub ciphertext_len: u32,
}

impl ShardHeader {
    /// Encoded length.
    pub const LEN: usize = 1 + 32 + 32 + 8 + 8 + 8 + 1 + 1 + 1 + 4;

    /// The fixed-layout bytes.
    pub fn to_bytes(&self) -> [u8; ShardHeader::LEN] {
        let mut out = [0u8; ShardHeader::LEN];
        let mut w = Writer::new(&mut out);
        w.put(&[seal::FORMAT]);
        w.put(&self.owner.0);
        w.put(&self.custodian.0);
        w.put(&self.version.to_le_bytes());
        w.put(&self.first_seq.to_le_bytes());
        w.put(&self.last_seq.to_le_bytes());
        w.put(&[self.index, self.threshold, self.count]);
        w.put(&self.ciphertext_len.to_le_bytes());
        out
    }

    fn parse(r: &mut Reader<'_>) -> Result<ShardHeader, SealError> {
        if r.arr::<1>()? != [seal::FORMAT] {
            return Err(SealError::Malformed);
        }
        let owner = PublicKey(r.arr()?);
        let custodian = PublicKey(r.arr()?);
        let version = u64::from_le_bytes(r.arr()?);
        let first_seq = u64::from_le_bytes(r.arr()?);
        let last_seq = u64::from_le_bytes(r.arr()?);
        let [index, threshold, count] = r.arr()?;
        let ciphertext_len = u32::from_le_bytes(r.arr()?);
        Ok(ShardHeader {
            owner,
            custodian,
            version,
            first_seq,
            last_seq,
            index,
            threshold,
            count,
            ciphertext_len,
        })
    }

    /// Bytes of this record's shard.
    pub fn shard_len(&self) -> usize {
        erasure::shard_len(self.ciphertext_len as usize, self.threshold)
    }

    /// Bytes of the whole record.
    pub fn record_len(&self) -> usize {
        ShardHeader::LEN
            .saturating_add(LEAF_LEN.saturating_mul(usize::from(self.count)))
            .saturating_add(self.shard_len())
    }
}

/// A parsed shard record borrowing its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardRecord<'a> {
    /// The fixed part.
    pub header: ShardHeader,
    /// The table: `n` leaf hashes.
    pub table: &'a [u8],
    /// The shard.
    pub shard: &'a [u8],
}

impl<'a> ShardRecord<'a> {
    /// Parses a record strictly (exact length, n ≤ 16, index < n, 1 ≤ k ≤ n).
    ///
    /// # Errors
    /// [`SealError::Malformed`].
    pub fn parse(bytes: &'a [u8]) -> Result<ShardRecord<'a>, SealError> {
        let mut r = Reader::new(bytes);
        let header = ShardHeader::parse(&mut r)?;
        if usize::from(header.count) > SHARDS_MAX
            || header.index >= header.count
            || header.threshold == 0
            || header.threshold > header.count
        {
            return Err(SealError::Malformed);
        }
        let table = r.take(LEAF_LEN * usize::from(header.count))?;
        let shard = r.take(header.shard_len())?;
        r.end()?;
        Ok(ShardRecord {
            header,
            table,
            shard,
        })
    }

    /// The leaf hash the table lists for shard `index`.
    pub fn leaf(&self, index: u8) -> Option<&'a [u8]> {
        let start = usize::from(index).checked_mul(LEAF_LEN)?;
        self.table.get(start..start.checked_add(LEAF_LEN)?)
    }
}

/// Writes a shard record: header, table, shard. `out` must be exactly
/// [`ShardHeader::record_len`] bytes.
///
/// # Errors
/// [`ErasureError::ShardLength`] if `out`, `table` or `shard` has the wrong size.
pub fn write_record(
    header: &ShardHeader,
    table: &[[u8; LEAF_LEN]],
    shard: &[u8],
    out: &mut [u8],
) -> Result<(), ErasureError> {
    let wrong = ErasureError::ShardLength {
        index: header.index,
        got: out.len(),
        needed: header.record_len(),
    };
    if out.len() != header.record_len()
        || table.len() != usize::from(header.count)
        || shard.len() != header.shard_len()
    {
        return Err(wrong);
    }
    let mut w = Writer::new(out);
    w.put(&header.to_bytes());
    for leaf in table {
        w.put(leaf);
    }
    w.put(shard);
    Ok(())
}

/// The leaf hash of shard `index` of a range:
/// `SHA-256("glitter/backup/v1/shard" ‖ owner ‖ version ‖ first ‖ last ‖ index ‖ shard)`.
pub fn shard_leaf(
    owner: &PublicKey,
    version: u64,
    first_seq: u64,
    last_seq: u64,
    index: u8,
    shard: &[u8],
) -> [u8; LEAF_LEN] {
    Hash::of_parts(&[
        b"glitter/backup/v1/shard",
        &owner.0,
        &version.to_le_bytes(),
        &first_seq.to_le_bytes(),
        &last_seq.to_le_bytes(),
        &[index],
        shard,
    ])
    .0
}

/// The root over a shard table: `SHA-256("glitter/backup/v1/table" ‖ leaves)`.
pub fn table_root(table: &[u8]) -> [u8; 32] {
    Hash::of_parts(&[b"glitter/backup/v1/table", table]).0
}

/// The associated data of a range's ciphertext: owner ‖ version ‖ first ‖ last.
pub fn range_aad(owner: &PublicKey, version: u64, first_seq: u64, last_seq: u64) -> [u8; 56] {
    let mut out = [0u8; 56];
    let mut w = Writer::new(&mut out);
    w.put(&owner.0);
    w.put(&version.to_le_bytes());
    w.put(&first_seq.to_le_bytes());
    w.put(&last_seq.to_le_bytes());
    out
}

/// Encrypts the export in `buf[..plain_len]` in place and writes the tag after it;
/// returns the ciphertext length `plain_len + 16`.
///
/// # Errors
/// [`SealError::Malformed`] if `buf` has no room for the tag, or
/// [`SealError::TooLong`].
pub fn seal_range(
    seed: &[u8; 32],
    owner: &PublicKey,
    version: u64,
    first_seq: u64,
    last_seq: u64,
    buf: &mut [u8],
    plain_len: usize,
) -> Result<usize, SealError> {
    let total = plain_len.checked_add(TAG_LEN).ok_or(SealError::TooLong)?;
    let (plain, rest) = buf
        .get_mut(..total)
        .ok_or(SealError::Malformed)?
        .split_at_mut(plain_len);
    let key = seal::chain_key(seed, owner, version, first_seq, last_seq);
    let tag = seal::encrypt(&key, &range_aad(owner, version, first_seq, last_seq), plain)?;
    rest.copy_from_slice(&tag);
    Ok(total)
}

/// Decrypts a range's ciphertext in place; returns the export's length.
///
/// # Errors
/// [`SealError::Malformed`] if `buf` is not exactly the range's ciphertext length,
/// [`SealError::Forged`] if it does not authenticate.
pub fn open_range(
    seed: &[u8; 32],
    owner: &PublicKey,
    range: &ShardRange,
    buf: &mut [u8],
) -> Result<usize, SealError> {
    if buf.len() != range.ciphertext_len as usize || buf.len() < TAG_LEN {
        return Err(SealError::Malformed);
    }
    let plain_len = buf.len() - TAG_LEN;
    let (plain, tag) = buf.split_at_mut(plain_len);
    let tag: [u8; TAG_LEN] = (&*tag).try_into().map_err(|_| SealError::Malformed)?;
    let key = seal::chain_key(seed, owner, range.version, range.first_seq, range.last_seq);
    seal::decrypt(
        &key,
        &range_aad(owner, range.version, range.first_seq, range.last_seq),
        plain,
        &tag,
    )?;
    Ok(plain_len)
}

/// Computes the shard table of a ciphertext: each shard is built in `scratch` (exactly
/// [`erasure::shard_len`] bytes) and hashed. Returns the table (first `n` entries).
///
/// # Errors
/// As [`erasure::encode_shard`].
#[allow(clippy::too_many_arguments)]
pub fn shard_table(
    ciphertext: &[u8],
    owner: &PublicKey,
    version: u64,
    first_seq: u64,
    last_seq: u64,
    k: u8,
    n: u8,
    scratch: &mut [u8],
) -> Result<[[u8; LEAF_LEN]; SHARDS_MAX], ErasureError> {
    let mut table = [[0u8; LEAF_LEN]; SHARDS_MAX];
    for (i, leaf) in (0..n).zip(table.iter_mut()) {
        erasure::encode_shard(ciphertext, k, n, i, scratch)?;
        *leaf = shard_leaf(owner, version, first_seq, last_seq, i, scratch);
    }
    Ok(table)
}

/// Why an export does not frame into blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ExportError {
    /// Byte offset of the block that does not fit.
    pub offset: usize,
}

impl core::fmt::Display for ExportError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "chain export truncated at byte {}", self.offset)
    }
}

impl core::error::Error for ExportError {}

/// Iterates the blocks of an export: `(header bytes, payload)`. Framing only; the
/// caller verifies each block with [`crate::chain::ChainState::verify_next`].
#[derive(Clone, Debug)]
pub struct ExportBlocks<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ExportBlocks<'a> {
    /// Iterates `bytes`.
    pub fn new(bytes: &'a [u8]) -> ExportBlocks<'a> {
        ExportBlocks { bytes, pos: 0 }
    }
}

impl<'a> Iterator for ExportBlocks<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let err = ExportError { offset: self.pos };
        let header_end = self.pos.saturating_add(HEADER_LEN);
        let Some(header) = self.bytes.get(self.pos..header_end) else {
            self.pos = self.bytes.len();
            return Some(Err(err));
        };
        let len = match HeaderView::new_checked(header) {
            Ok(v) => usize::from(v.payload_len()),
            Err(_) => {
                self.pos = self.bytes.len();
                return Some(Err(err));
            }
        };
        let end = header_end.saturating_add(len);
        let Some(payload) = self.bytes.get(header_end..end) else {
            self.pos = self.bytes.len();
            return Some(Err(err));
        };
        self.pos = end;
        Some(Ok((header, payload)))
    }
}

/// Appends one block to an export in `out` at `*pos`.
///
/// # Errors
/// [`SealError::Malformed`] if `out` is too small.
pub fn push_export(
    out: &mut [u8],
    pos: &mut usize,
    header: &[u8; HEADER_LEN],
    payload: &[u8],
) -> Result<(), SealError> {
    let end = pos
        .checked_add(HEADER_LEN)
        .and_then(|e| e.checked_add(payload.len()))
        .ok_or(SealError::Malformed)?;
    let dst = out.get_mut(*pos..end).ok_or(SealError::Malformed)?;
    let (h, p) = dst.split_at_mut(HEADER_LEN);
    h.copy_from_slice(header);
    p.copy_from_slice(payload);
    *pos = end;
    Ok(())
}
