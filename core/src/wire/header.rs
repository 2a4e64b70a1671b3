//! The signed block header: a fixed 212-byte layout.
//!
//! | field          | offset | size | encoding                                   |
//! |----------------|-------:|-----:|--------------------------------------------|
//! | `version`      |      0 |    1 | `1`                                        |
//! | `kind`         |      1 |    1 | [`BlockKind`] code                         |
//! | `payload_len`  |      2 |    2 | u16 little-endian, ≤ [`PAYLOAD_LEN_MAX`]   |
//! | `author`       |      4 |   32 | Ed25519 public key                         |
//! | `seq`          |     36 |    8 | u64 little-endian, 1-based                 |
//! | `timestamp_ms` |     44 |    8 | u64 little-endian, ms since Unix epoch     |
//! | `prev`         |     52 |   32 | id of block `seq − 1`, zero at seq 1       |
//! | `skip`         |     84 |   32 | id of block `lipmaa(seq)`, zero at seq 1   |
//! | `payload_hash` |    116 |   32 | SHA-256 of the payload                     |
//! | `signature`    |    148 |   64 | Ed25519 over `SIGN_DOMAIN ‖ bytes[0..148]` |
//!
//! The block id is SHA-256 of all 212 bytes. Two types, smoltcp style: [`HeaderView`]
//! is a checked view over borrowed bytes; [`Header`] is the value with `parse`,
//! [`Header::ENCODED_LEN`] and `emit`.

use crate::hash::Hash;
use crate::sig::{PublicKey, Signature};
use crate::wire::WireError;
use core::ops::Range;

/// Total length of an encoded header.
pub const HEADER_LEN: usize = 212;
/// Length of the signed part of a header (everything before the signature).
pub const SIGNED_LEN: usize = 148;
/// The only header format version this build reads and writes.
pub const VERSION: u8 = 1;
/// The largest payload a block may carry, in bytes.
pub const PAYLOAD_LEN_MAX: usize = 1024;
/// Domain-separation tag prefixed to the signed bytes, so a block signature can never
/// be confused with a signature over any other glitter structure.
pub const SIGN_DOMAIN: &[u8; 16] = b"glitter/block/v1";

mod field {
    use core::ops::Range;
    pub const VERSION: usize = 0;
    pub const KIND: usize = 1;
    pub const PAYLOAD_LEN: Range<usize> = 2..4;
    pub const AUTHOR: Range<usize> = 4..36;
    pub const SEQ: Range<usize> = 36..44;
    pub const TIMESTAMP: Range<usize> = 44..52;
    pub const PREV: Range<usize> = 52..84;
    pub const SKIP: Range<usize> = 84..116;
    pub const PAYLOAD_HASH: Range<usize> = 116..148;
    pub const SIGNATURE: Range<usize> = 148..212;
}

/// What a block is about; the code is the header's `kind` byte.
///
/// Each kind has one payload type. Those types are defined a layer up, with the typed
/// payloads; this layer knows only the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum BlockKind {
    /// A profile update.
    Profile = 1,
    /// A post.
    Post = 2,
    /// Start following an author.
    Follow = 3,
    /// Stop following an author.
    Unfollow = 4,
    /// Name a backup custodian or witness.
    Trust = 5,
    /// Heads this author has seen and verified (witness attestation).
    Attestation = 6,
    /// The owner-signed index of a backup.
    BackupManifest = 7,
    /// A statement and its proof (a claim).
    Claim = 8,
}

impl BlockKind {
    /// Every kind, in code order.
    pub const ALL: [BlockKind; 8] = [
        BlockKind::Profile,
        BlockKind::Post,
        BlockKind::Follow,
        BlockKind::Unfollow,
        BlockKind::Trust,
        BlockKind::Attestation,
        BlockKind::BackupManifest,
        BlockKind::Claim,
    ];

    /// The kind for a code byte.
    ///
    /// # Errors
    /// [`WireError::UnknownKind`].
    pub fn from_code(code: u8) -> Result<BlockKind, WireError> {
        BlockKind::ALL
            .iter()
            .copied()
            .find(|k| *k as u8 == code)
            .ok_or(WireError::UnknownKind(code))
    }

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Profile => "profile",
            BlockKind::Post => "post",
            BlockKind::Follow => "follow",
            BlockKind::Unfollow => "unfollow",
            BlockKind::Trust => "trust",
            BlockKind::Attestation => "attestation",
            BlockKind::BackupManifest => "backup-manifest",
            BlockKind::Claim => "claim",
        }
    }
}

/// A checked view over the bytes of one header. Once [`HeaderView::new_checked`]
/// succeeds, no accessor can panic.
#[derive(Clone, Copy, Debug)]
pub struct HeaderView<'a> {
    bytes: &'a [u8; HEADER_LEN],
}

fn arr<const N: usize>(b: &[u8; HEADER_LEN], r: Range<usize>) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = b.get(r)
        && src.len() == N
    {
        out.copy_from_slice(src);
    }
    out
}

impl<'a> HeaderView<'a> {
    /// Checks the length only: exactly [`HEADER_LEN`] bytes.
    ///
    /// # Errors
    /// [`WireError::Truncated`] or [`WireError::TrailingBytes`].
    pub fn new_checked(bytes: &'a [u8]) -> Result<HeaderView<'a>, WireError> {
        if bytes.len() < HEADER_LEN {
            return Err(WireError::Truncated {
                needed: HEADER_LEN,
                got: bytes.len(),
            });
        }
        if bytes.len() > HEADER_LEN {
            return Err(WireError::TrailingBytes {
                extra: bytes.len() - HEADER_LEN,
            });
        }
        let bytes: &[u8; HEADER_LEN] = bytes.try_into().map_err(|_| WireError::Malformed)?;
        Ok(HeaderView { bytes })
    }

    /// The raw bytes.
    pub fn bytes(&self) -> &'a [u8; HEADER_LEN] {
        self.bytes
    }
    /// The `version` byte.
    pub fn version(&self) -> u8 {
        self.bytes[field::VERSION]
    }
    /// The `kind` byte.
    pub fn kind_code(&self) -> u8 {
        self.bytes[field::KIND]
    }
    /// The declared payload length.
    pub fn payload_len(&self) -> u16 {
        u16::from_le_bytes(arr(self.bytes, field::PAYLOAD_LEN))
    }
    /// The author key bytes.
    pub fn author(&self) -> [u8; 32] {
        arr(self.bytes, field::AUTHOR)
    }
    /// The sequence number.
    pub fn seq(&self) -> u64 {
        u64::from_le_bytes(arr(self.bytes, field::SEQ))
    }
    /// The timestamp in ms.
    pub fn timestamp_ms(&self) -> u64 {
        u64::from_le_bytes(arr(self.bytes, field::TIMESTAMP))
    }
    /// The `prev` link.
    pub fn prev(&self) -> [u8; 32] {
        arr(self.bytes, field::PREV)
    }
    /// The `skip` link.
    pub fn skip(&self) -> [u8; 32] {
        arr(self.bytes, field::SKIP)
    }
    /// The payload hash.
    pub fn payload_hash(&self) -> [u8; 32] {
        arr(self.bytes, field::PAYLOAD_HASH)
    }
    /// The signature.
    pub fn signature(&self) -> [u8; 64] {
        arr(self.bytes, field::SIGNATURE)
    }
    /// The signed prefix (everything but the signature).
    pub fn signed_bytes(&self) -> &'a [u8] {
        let (signed, _) = self.bytes.split_at(SIGNED_LEN);
        signed
    }
}

/// A decoded block header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Format version; always [`VERSION`] once parsed.
    pub version: u8,
    /// What the payload is.
    pub kind: BlockKind,
    /// The author's key.
    pub author: PublicKey,
    /// Position in the author's chain, from 1.
    pub seq: u64,
    /// Author's clock in ms since the Unix epoch; never decreases along a chain.
    pub timestamp_ms: u64,
    /// Id of block `seq − 1`, or zero at seq 1.
    pub prev: Hash,
    /// Id of block `lipmaa(seq)`, or zero at seq 1.
    pub skip: Hash,
    /// Payload length in bytes, at most [`PAYLOAD_LEN_MAX`].
    pub payload_len: u16,
    /// SHA-256 of the payload.
    pub payload_hash: Hash,
    /// Ed25519 signature over [`SIGN_DOMAIN`] and the first [`SIGNED_LEN`] bytes.
    pub signature: Signature,
}

impl Header {
    /// Encoded length: always [`HEADER_LEN`].
    pub const ENCODED_LEN: usize = HEADER_LEN;

    /// Parses a checked view: version, kind and the payload bound. Link and signature
    /// rules belong to the chain validator, a layer up.
    ///
    /// # Errors
    /// [`WireError::UnsupportedVersion`], [`WireError::UnknownKind`] or
    /// [`WireError::Oversize`].
    pub fn parse(view: &HeaderView<'_>) -> Result<Header, WireError> {
        if view.version() != VERSION {
            return Err(WireError::UnsupportedVersion(view.version()));
        }
        let kind = BlockKind::from_code(view.kind_code())?;
        let payload_len = view.payload_len();
        if usize::from(payload_len) > PAYLOAD_LEN_MAX {
            return Err(WireError::Oversize {
                len: usize::from(payload_len),
                max: PAYLOAD_LEN_MAX,
            });
        }
        Ok(Header {
            version: VERSION,
            kind,
            author: PublicKey(view.author()),
            seq: view.seq(),
            timestamp_ms: view.timestamp_ms(),
            prev: Hash(view.prev()),
            skip: Hash(view.skip()),
            payload_len,
            payload_hash: Hash(view.payload_hash()),
            signature: view.signature(),
        })
    }

    /// Checks the length and parses; see [`HeaderView::new_checked`] and [`Header::parse`].
    ///
    /// # Errors
    /// Any [`WireError`] from the two steps.
    pub fn decode(bytes: &[u8]) -> Result<Header, WireError> {
        Header::parse(&HeaderView::new_checked(bytes)?)
    }

    /// Writes the header into `out`. Never panics.
    pub fn emit(&self, out: &mut [u8; HEADER_LEN]) {
        fn put(out: &mut [u8; HEADER_LEN], r: Range<usize>, src: &[u8]) {
            if let Some(dst) = out.get_mut(r)
                && dst.len() == src.len()
            {
                dst.copy_from_slice(src);
            }
        }
        out[field::VERSION] = self.version;
        out[field::KIND] = self.kind as u8;
        put(out, field::PAYLOAD_LEN, &self.payload_len.to_le_bytes());
        put(out, field::AUTHOR, &self.author.0);
        put(out, field::SEQ, &self.seq.to_le_bytes());
        put(out, field::TIMESTAMP, &self.timestamp_ms.to_le_bytes());
        put(out, field::PREV, &self.prev.0);
        put(out, field::SKIP, &self.skip.0);
        put(out, field::PAYLOAD_HASH, &self.payload_hash.0);
        put(out, field::SIGNATURE, &self.signature);
    }

    /// The encoded bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.emit(&mut out);
        out
    }

    /// The block id: SHA-256 of the encoded header.
    pub fn id(&self) -> Hash {
        Hash::of(&self.to_bytes())
    }

    /// The message the author signs: [`SIGN_DOMAIN`] followed by the signed prefix.
    pub fn signing_message(&self) -> [u8; SIGN_DOMAIN.len() + SIGNED_LEN] {
        let bytes = self.to_bytes();
        let mut msg = [0u8; SIGN_DOMAIN.len() + SIGNED_LEN];
        let (dom, rest) = msg.split_at_mut(SIGN_DOMAIN.len());
        dom.copy_from_slice(SIGN_DOMAIN);
        if let Some(signed) = bytes.get(..SIGNED_LEN) {
            rest.copy_from_slice(signed);
        }
        msg
    }

    /// Checks the signature under glitter's rule ([`crate::sig`]).
    ///
    /// # Errors
    /// The [`crate::sig::SigError`] of the failing rule.
    pub fn verify_signature(&self) -> Result<(), crate::sig::SigError> {
        self.author.verify(&self.signing_message(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            version: VERSION,
            kind: BlockKind::Post,
            author: PublicKey([9; 32]),
            seq: 0x0102_0304_0506_0708,
            timestamp_ms: 77,
            prev: Hash([1; 32]),
            skip: Hash([2; 32]),
            payload_len: 300,
            payload_hash: Hash([3; 32]),
            signature: [4; 64],
        }
    }

    #[test]
    fn layout_offsets() {
        let b = sample().to_bytes();
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 2);
        assert_eq!(&b[2..4], &300u16.to_le_bytes());
        assert_eq!(&b[4..36], &[9; 32]);
        assert_eq!(&b[36..44], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&b[52..84], &[1; 32]);
        assert_eq!(&b[84..116], &[2; 32]);
        assert_eq!(&b[116..148], &[3; 32]);
        assert_eq!(&b[148..212], &[4; 64]);
        assert_eq!(Header::decode(&b), Ok(sample()));
    }

    #[test]
    fn strict_lengths_and_codes() {
        let b = sample().to_bytes();
        assert_eq!(
            Header::decode(&b[..211]),
            Err(WireError::Truncated {
                needed: 212,
                got: 211
            })
        );
        let mut long = [0u8; 213];
        long[..212].copy_from_slice(&b);
        assert_eq!(
            Header::decode(&long),
            Err(WireError::TrailingBytes { extra: 1 })
        );
        let mut v = b;
        v[0] = 2;
        assert_eq!(Header::decode(&v), Err(WireError::UnsupportedVersion(2)));
        v = b;
        v[1] = 0;
        assert_eq!(Header::decode(&v), Err(WireError::UnknownKind(0)));
        v = b;
        v[2..4].copy_from_slice(&1025u16.to_le_bytes());
        assert_eq!(
            Header::decode(&v),
            Err(WireError::Oversize {
                len: 1025,
                max: 1024
            })
        );
    }
}
