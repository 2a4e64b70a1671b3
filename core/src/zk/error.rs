//! Why a statement, proof or claim is rejected.

use crate::sig::SigError;
use crate::wire::WireError;
use crate::wire::header::BlockKind;

/// Why a statement, proof or claim is rejected. Every variant says what was wrong
/// and, where it helps, where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ZkError {
    /// The proof does not verify: the equation or the hash chain does not close, or a
    /// signature does not match. Deliberately says nothing more.
    Rejected,
    /// A key is not a canonical encoding of a curve point.
    NonCanonicalKey {
        /// Its position in the statement (0 for single-key statements).
        index: usize,
    },
    /// A key is a point of small order (the identity, for example): nobody can prove
    /// knowledge of its secret in a meaningful way.
    WeakKey {
        /// Its position in the statement (0 for single-key statements).
        index: usize,
    },
    /// A key has a small-order (torsion) component: one secret would stand for eight
    /// such keys, so it is not admitted (see [`PublicKey::validate`](crate::sig::PublicKey::validate)).
    TorsionComponent {
        /// Its position in the statement (0 for single-key statements).
        index: usize,
    },
    /// A ring has no members or more than the bound.
    RingSize {
        /// Members given.
        members: usize,
        /// The bound.
        max: usize,
    },
    /// A key appears twice in a ring.
    DuplicateMember {
        /// The position of the second occurrence.
        index: usize,
    },
    /// The prover's key is not in the ring.
    NotAMember,
    /// The witness does not make the statement true (another author's key, say).
    WitnessMismatch,
    /// A proof has the wrong length for its type or statement.
    ProofLength {
        /// Bytes given.
        len: usize,
        /// Bytes expected (for variable-length proofs, the nearest valid length).
        expected: usize,
    },
    /// A scalar in the proof is not below the group order.
    NonCanonicalScalar,
    /// The output buffer is too small: `needed` bytes are required.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
    /// A [`PostCount`](super::PostCount) asks for 0 posts or more than the bound.
    PostCountRange {
        /// Posts claimed.
        posts: u16,
        /// The bound.
        max: usize,
    },
    /// A post-count proof shows fewer headers than the statement claims.
    TooFewHeaders {
        /// Headers the statement needs.
        needed: usize,
        /// Headers given.
        got: usize,
    },
    /// A header in a post-count proof is by another author.
    ForeignAuthor {
        /// Its position in the proof.
        index: usize,
    },
    /// A header in a post-count proof is not a post.
    NotAPost {
        /// Its position in the proof.
        index: usize,
    },
    /// Headers in a post-count proof are not in strictly increasing seq order (so a
    /// seq might count twice).
    SeqOrder {
        /// The position of the first header out of order.
        index: usize,
    },
    /// A header's `prev` or `skip` link contradicts another header in the proof.
    BrokenLink {
        /// The position of the header whose link is wrong.
        index: usize,
    },
    /// A header's signature fails glitter's rule.
    BadHeaderSignature {
        /// Its position in the proof.
        index: usize,
        /// The failing rule.
        reason: SigError,
    },
    /// A header or claim payload does not decode.
    Wire(WireError),
    /// A claim block is not a valid block (signature, payload length or hash, payload
    /// encoding).
    Block(ClaimBlockError),
    /// The block is not a claim block.
    NotAClaim(BlockKind),
    /// A claim's backend cannot prove or verify its statement (the real backend has no
    /// post-count proof).
    Unsupported,
    /// A claim's context or message exceeds its bound.
    ClaimFieldTooLong {
        /// Bytes given.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The members of a one-out-of-many set are not in strictly increasing byte
    /// order (equal neighbours are [`ZkError::DuplicateMember`]).
    MemberOrder {
        /// The position of the first member not above its predecessor.
        index: usize,
    },
    /// A point in a proof is not a canonical encoding, is of small order, or has a
    /// small-order component.
    ProofPoint {
        /// Its position in the proof, counted in 32-byte fields.
        index: usize,
    },
    /// Hashing to the curve failed (a 2⁻¹²⁸ event).
    HashToPoint,
    /// The set given for a set claim is not the set the claim names (another hash, size
    /// or kind): the verifier holds other data than the prover did.
    SetMismatch,
    /// A set claim was checked without its set (see `zk::ClaimSet`).
    SetUnknown,
}

impl core::fmt::Display for ZkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ZkError::Rejected => f.write_str("the proof does not verify"),
            ZkError::NonCanonicalKey { index } => {
                write!(f, "key {index} is not a canonical point encoding")
            }
            ZkError::WeakKey { index } => write!(f, "key {index} is a small-order point"),
            ZkError::TorsionComponent { index } => {
                write!(f, "key {index} has a small-order component")
            }
            ZkError::RingSize { members, max } => {
                write!(f, "a ring needs 1 to {max} members, not {members}")
            }
            ZkError::DuplicateMember { index } => {
                write!(f, "ring member {index} repeats an earlier member")
            }
            ZkError::NotAMember => f.write_str("the prover's key is not in the ring"),
            ZkError::WitnessMismatch => f.write_str("the witness does not fit the statement"),
            ZkError::ProofLength { len, expected } => {
                write!(f, "proof is {len} bytes, expected {expected}")
            }
            ZkError::NonCanonicalScalar => {
                f.write_str("a proof scalar is not below the group order")
            }
            ZkError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            ZkError::PostCountRange { posts, max } => {
                write!(f, "a post count must be 1 to {max}, not {posts}")
            }
            ZkError::TooFewHeaders { needed, got } => {
                write!(f, "{got} headers shown, {needed} needed")
            }
            ZkError::ForeignAuthor { index } => {
                write!(f, "header {index} is by another author")
            }
            ZkError::NotAPost { index } => write!(f, "header {index} is not a post"),
            ZkError::SeqOrder { index } => {
                write!(
                    f,
                    "header {index} does not have a higher seq than the one before"
                )
            }
            ZkError::BrokenLink { index } => {
                write!(
                    f,
                    "header {index} links to a different block than the proof shows"
                )
            }
            ZkError::BadHeaderSignature { index, reason } => {
                write!(f, "header {index}: {reason}")
            }
            ZkError::Wire(e) => write!(f, "encoding: {e}"),
            ZkError::Block(e) => write!(f, "claim block: {e}"),
            ZkError::NotAClaim(kind) => write!(f, "a {} block is not a claim", kind.name()),
            ZkError::Unsupported => f.write_str("this backend cannot prove this statement"),
            ZkError::ClaimFieldTooLong { len, max } => {
                write!(f, "claim field of {len} bytes exceeds the bound {max}")
            }
            ZkError::MemberOrder { index } => {
                write!(f, "member {index} is not above the member before it")
            }
            ZkError::ProofPoint { index } => {
                write!(f, "proof field {index} is not a valid prime-order point")
            }
            ZkError::HashToPoint => f.write_str("hashing to the curve failed"),
            ZkError::SetMismatch => f.write_str("the set given is not the set the claim names"),
            ZkError::SetUnknown => f.write_str("the claim names a set that was not given"),
        }
    }
}

impl core::error::Error for ZkError {}

impl ZkError {
    /// A short, stable, kebab-case name (pinned test vectors record these).
    pub fn name(&self) -> &'static str {
        match self {
            ZkError::Rejected => "rejected",
            ZkError::NonCanonicalKey { .. } => "non-canonical-key",
            ZkError::WeakKey { .. } => "weak-key",
            ZkError::TorsionComponent { .. } => "torsion-component",
            ZkError::RingSize { .. } => "ring-size",
            ZkError::DuplicateMember { .. } => "duplicate-member",
            ZkError::NotAMember => "not-a-member",
            ZkError::WitnessMismatch => "witness-mismatch",
            ZkError::ProofLength { .. } => "proof-length",
            ZkError::NonCanonicalScalar => "non-canonical-scalar",
            ZkError::BufferTooSmall { .. } => "buffer-too-small",
            ZkError::PostCountRange { .. } => "post-count-range",
            ZkError::TooFewHeaders { .. } => "too-few-headers",
            ZkError::ForeignAuthor { .. } => "foreign-author",
            ZkError::NotAPost { .. } => "not-a-post",
            ZkError::SeqOrder { .. } => "seq-order",
            ZkError::BrokenLink { .. } => "broken-link",
            ZkError::BadHeaderSignature { .. } => "bad-header-signature",
            ZkError::Wire(_) => "wire",
            ZkError::Block(_) => "block",
            ZkError::NotAClaim(_) => "not-a-claim",
            ZkError::Unsupported => "unsupported",
            ZkError::ClaimFieldTooLong { .. } => "claim-field-too-long",
            ZkError::MemberOrder { .. } => "member-order",
            ZkError::ProofPoint { .. } => "proof-point",
            ZkError::HashToPoint => "hash-to-point",
            ZkError::SetMismatch => "set-mismatch",
            ZkError::SetUnknown => "set-unknown",
        }
    }
}

impl From<WireError> for ZkError {
    fn from(e: WireError) -> ZkError {
        ZkError::Wire(e)
    }
}

impl From<ClaimBlockError> for ZkError {
    fn from(e: ClaimBlockError) -> ZkError {
        ZkError::Block(e)
    }
}

/// Why a claim block is not a valid block, before its proof is looked at (see
/// [`verify_claim_block`](super::verify_claim_block)).
///
/// The payload variants are the chain validator's payload rules
/// ([`check_payload`](crate::chain::check_payload)) for a claim block, with the same
/// information as the matching [`ChainError`](crate::chain::ChainError) variants and
/// the same messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClaimBlockError {
    /// The header's signature fails glitter's rule.
    BadSignature(SigError),
    /// The payload is longer than the payload bound.
    Oversize {
        /// The payload's length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The payload's length differs from the header's `payload_len`.
    PayloadLengthMismatch {
        /// `payload_len` in the header.
        declared: usize,
        /// The payload's real length.
        actual: usize,
    },
    /// The payload's SHA-256 differs from the header's `payload_hash`.
    PayloadHashMismatch,
    /// The payload decodes as a claim, but is not its one canonical encoding.
    NonCanonicalPayload,
    /// The payload does not decode as a claim.
    PayloadMalformed(WireError),
}

impl core::fmt::Display for ClaimBlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ClaimBlockError::BadSignature(e) => write!(f, "bad signature: {e}"),
            ClaimBlockError::Oversize { len, max } => {
                write!(f, "payload of {len} bytes exceeds the bound of {max}")
            }
            ClaimBlockError::PayloadLengthMismatch { declared, actual } => {
                write!(f, "payload is {actual} bytes, header says {declared}")
            }
            ClaimBlockError::PayloadHashMismatch => f.write_str("payload hash mismatch"),
            ClaimBlockError::NonCanonicalPayload => {
                f.write_str("non-canonical encoding of the payload")
            }
            ClaimBlockError::PayloadMalformed(e) => write!(f, "malformed payload: {e}"),
        }
    }
}

impl core::error::Error for ClaimBlockError {}
