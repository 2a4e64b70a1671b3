//! Typed payloads: what glitter's blocks say.
//!
//! Payloads are postcard over heapless types, so every field has a size bound and
//! decoding never allocates. Each kind of block ([`BlockKind`]) has exactly one payload
//! type, and [`Payload::decode`] accepts only its canonical encoding.
//!
//! | kind | payload type |
//! |---|---|
//! | [`BlockKind::Profile`] | [`Profile`] |
//! | [`BlockKind::Post`] | [`Post`] |
//! | [`BlockKind::Follow`] | [`Follow`] |
//! | [`BlockKind::Unfollow`] | [`Unfollow`] |
//! | [`BlockKind::Trust`] | [`Trust`] |
//! | [`BlockKind::Attestation`] | [`Attestation`] |
//! | [`BlockKind::BackupManifest`] | [`BackupManifest`] ([`manifest`]) |
//! | [`BlockKind::Claim`] | [`Claim`] ([`claim`]) |
//!
//! This is the layer below the chain validator, so every payload type is here, data
//! only: the backup manifest's structural rules live with it in [`manifest`], but
//! making a backup (shares, sealing, erasure coding) is the backup layer's business,
//! and a claim's proof is made and checked by the zk layer (feature `zk`). Decoding a
//! payload here checks its structure and canonical encoding, never a proof.

pub mod claim;
pub mod manifest;

pub use claim::{
    CLAIM_CONTEXT_LEN_MAX, CLAIM_MESSAGE_LEN_MAX, CLAIM_POST_COUNT_MAX, CLAIM_PROOF_LEN_MAX,
    CLAIM_RING_MEMBERS_MAX, CLAIM_SET_MEMBERS_MAX, Claim, ClaimBackend, ClaimStatement,
};
pub use manifest::{BackupManifest, ShardRange};

use crate::hash::Hash;
use crate::sig::PublicKey;
use crate::wire::header::BlockKind;
use crate::wire::{WireError, payload};
use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Maximum bytes in a display name.
pub const NAME_LEN_MAX: usize = 64;
/// Maximum bytes in a profile's "about" text.
pub const ABOUT_LEN_MAX: usize = 256;
/// Maximum bytes of text in a post.
pub const POST_TEXT_LEN_MAX: usize = 512;
/// Maximum heads in one attestation.
pub const ATTESTATION_HEADS_MAX: usize = 8;

/// A reference to a block: author, seq and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BlockRef {
    /// The author's key.
    pub author: [u8; 32],
    /// The block's seq.
    pub seq: u64,
    /// The block's id.
    pub id: [u8; 32],
}

impl BlockRef {
    /// Builds a reference.
    pub fn new(author: PublicKey, seq: u64, id: Hash) -> BlockRef {
        BlockRef {
            author: author.0,
            seq,
            id: id.0,
        }
    }
}

/// A profile update: the latest one on a chain wins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Profile {
    /// Display name.
    pub name: String<NAME_LEN_MAX>,
    /// Free text about the person.
    pub about: String<ABOUT_LEN_MAX>,
}

/// A post, optionally replying to another block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Post {
    /// The text (UTF-8).
    pub text: String<POST_TEXT_LEN_MAX>,
    /// The block this replies to, if any.
    pub reply_to: Option<BlockRef>,
}

/// Start following an author: replicate their chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Follow {
    /// Who to follow.
    pub author: [u8; 32],
}

/// Stop following an author.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Unfollow {
    /// Who to stop following.
    pub author: [u8; 32],
}

/// The role a [`Trust`] block gives its subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TrustRole {
    /// Holds a backup shard.
    Custodian,
    /// Attests this chain's heads.
    Witness,
    /// Withdraws any earlier role.
    Revoke,
}

/// Names a backup custodian or witness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Trust {
    /// The trusted person.
    pub subject: [u8; 32],
    /// What they are trusted with.
    pub role: TrustRole,
    /// For witnesses: how many attestations confirm a head (k of n). 0 otherwise.
    pub threshold: u8,
}

/// Heads that a witness has seen and verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attestation {
    /// The attested heads.
    pub heads: Vec<BlockRef, ATTESTATION_HEADS_MAX>,
}

/// Any payload, tagged by its block kind.
// No allocator, so no boxing: every variant is inline, and each is bounded by the
// 1 KiB payload limit anyway.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Payload {
    /// See [`Profile`].
    Profile(Profile),
    /// See [`Post`].
    Post(Post),
    /// See [`Follow`].
    Follow(Follow),
    /// See [`Unfollow`].
    Unfollow(Unfollow),
    /// See [`Trust`].
    Trust(Trust),
    /// See [`Attestation`].
    Attestation(Attestation),
    /// See [`BackupManifest`].
    BackupManifest(BackupManifest),
    /// See [`Claim`]. Decoding checks the claim's structure only, not its proof.
    Claim(Claim),
}

impl Payload {
    /// The block kind that carries this payload.
    pub fn kind(&self) -> BlockKind {
        match self {
            Payload::Profile(_) => BlockKind::Profile,
            Payload::Post(_) => BlockKind::Post,
            Payload::Follow(_) => BlockKind::Follow,
            Payload::Unfollow(_) => BlockKind::Unfollow,
            Payload::Trust(_) => BlockKind::Trust,
            Payload::Attestation(_) => BlockKind::Attestation,
            Payload::BackupManifest(_) => BlockKind::BackupManifest,
            Payload::Claim(_) => BlockKind::Claim,
        }
    }

    /// Decodes the canonical payload of a block of `kind`.
    ///
    /// # Errors
    /// See [`payload::decode_canonical`].
    pub fn decode(kind: BlockKind, bytes: &[u8]) -> Result<Payload, WireError> {
        Ok(match kind {
            BlockKind::Profile => Payload::Profile(payload::decode_canonical(bytes)?),
            BlockKind::Post => Payload::Post(payload::decode_canonical(bytes)?),
            BlockKind::Follow => Payload::Follow(payload::decode_canonical(bytes)?),
            BlockKind::Unfollow => Payload::Unfollow(payload::decode_canonical(bytes)?),
            BlockKind::Trust => Payload::Trust(payload::decode_canonical(bytes)?),
            BlockKind::Attestation => Payload::Attestation(payload::decode_canonical(bytes)?),
            BlockKind::BackupManifest => Payload::BackupManifest(payload::decode_canonical(bytes)?),
            BlockKind::Claim => Payload::Claim(payload::decode_canonical(bytes)?),
        })
    }

    /// Encodes into `out`, returning the used prefix.
    ///
    /// # Errors
    /// See [`payload::encode`].
    pub fn encode<'b>(&self, out: &'b mut [u8]) -> Result<&'b [u8], WireError> {
        match self {
            Payload::Profile(p) => payload::encode(p, out),
            Payload::Post(p) => payload::encode(p, out),
            Payload::Follow(p) => payload::encode(p, out),
            Payload::Unfollow(p) => payload::encode(p, out),
            Payload::Trust(p) => payload::encode(p, out),
            Payload::Attestation(p) => payload::encode(p, out),
            Payload::BackupManifest(p) => payload::encode(p, out),
            Payload::Claim(p) => payload::encode(p, out),
        }
    }

    /// A post with `text`.
    ///
    /// # Errors
    /// [`WireError::Oversize`] if the text exceeds [`POST_TEXT_LEN_MAX`] bytes.
    pub fn post(text: &str, reply_to: Option<BlockRef>) -> Result<Payload, WireError> {
        Ok(Payload::Post(Post {
            text: bounded(text)?,
            reply_to,
        }))
    }

    /// A profile with `name` and `about`.
    ///
    /// # Errors
    /// [`WireError::Oversize`] if either field exceeds its bound.
    pub fn profile(name: &str, about: &str) -> Result<Payload, WireError> {
        Ok(Payload::Profile(Profile {
            name: bounded(name)?,
            about: bounded(about)?,
        }))
    }
}

/// Copies `s` into a bounded string.
///
/// # Errors
/// [`WireError::Oversize`] if `s` is longer than `N` bytes.
pub fn bounded<const N: usize>(s: &str) -> Result<String<N>, WireError> {
    let mut out = String::new();
    out.push_str(s).map_err(|_| WireError::Oversize {
        len: s.len(),
        max: N,
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_every_kind() {
        let r = BlockRef {
            author: [1; 32],
            seq: 5,
            id: [2; 32],
        };
        let mut heads = Vec::new();
        heads.push(r).unwrap();
        let all = [
            Payload::profile("alice", "hi").unwrap(),
            Payload::post("hello", Some(r)).unwrap(),
            Payload::Follow(Follow { author: [3; 32] }),
            Payload::Unfollow(Unfollow { author: [3; 32] }),
            Payload::Trust(Trust {
                subject: [4; 32],
                role: TrustRole::Witness,
                threshold: 2,
            }),
            Payload::Attestation(Attestation { heads }),
            Payload::BackupManifest(BackupManifest {
                version: 1,
                threshold: 2,
                salt: [5; 16],
                custodians: Vec::from_slice(&[[6; manifest::HINT_LEN], [7; 8]]).unwrap(),
                commitments: Vec::from_slice(&[[8; 16], [9; 16]]).unwrap(),
                ranges: Vec::new(),
            }),
            Payload::Claim(Claim {
                backend: ClaimBackend::Placeholder,
                statement: ClaimStatement::PostCount {
                    author: [10; 32],
                    posts: 2,
                },
                context: Vec::from_slice(b"ctx").unwrap(),
                message: Vec::new(),
                proof: Vec::from_slice(&[11; 5]).unwrap(),
            }),
        ];
        assert_eq!(all.len(), BlockKind::ALL.len());
        for p in all {
            let mut buf = [0u8; 1024];
            let bytes = p.encode(&mut buf).unwrap();
            assert_eq!(Payload::decode(p.kind(), bytes).unwrap(), p);
        }
    }

    #[test]
    fn overlong_varint_is_non_canonical() {
        // Post { text: "", reply_to: None } is [0x00, 0x00]; an over-long zero length
        // (0x80 0x00) decodes to the same value in postcard but is not canonical.
        assert!(Payload::decode(BlockKind::Post, &[0, 0]).is_ok());
        assert_eq!(
            Payload::decode(BlockKind::Post, &[0x80, 0x00, 0x00]),
            Err(WireError::NonCanonical)
        );
        assert_eq!(
            Payload::decode(BlockKind::Post, &[0, 0, 0]),
            Err(WireError::TrailingBytes { extra: 1 })
        );
        assert_eq!(
            Payload::decode(BlockKind::Post, &[5]),
            Err(WireError::Malformed)
        );
    }

    #[test]
    fn text_bounds() {
        let long = [b'x'; POST_TEXT_LEN_MAX + 1];
        let s = core::str::from_utf8(&long).unwrap();
        assert!(matches!(
            Payload::post(s, None),
            Err(WireError::Oversize { .. })
        ));
        assert!(Payload::post(&s[..POST_TEXT_LEN_MAX], None).is_ok());
    }
}
