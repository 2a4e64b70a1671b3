//! Chain validation: the incremental state machine, fork proofs and certificate paths.
//!
//! [`ChainState`] holds just enough of one author's chain (the head) to check the next
//! block. Links further back (the skip link, and the stored block when a seq repeats)
//! come from a [`HeaderSource`] the caller provides, usually the block store.
//!
//! [`ForkProof`] (in `fork`) is transferable evidence of a fork, and
//! [`verify_cert_path`] (in `cert_path`) checks that a block belongs to a chain.

mod cert_path;
mod fork;
#[cfg(test)]
mod tests;

pub use cert_path::{CertPathError, verify_cert_path};
pub use fork::{FORK_PROOF_LEN, ForkError, ForkProof};

use crate::hash::Hash;
use crate::lipmaa::{SEQ_MAX, lipmaa};
use crate::sig::{KeyPair, PublicKey, SigError};
use crate::social::Payload;
use crate::wire::WireError;
use crate::wire::header::{BlockKind, Header, HeaderView, PAYLOAD_LEN_MAX, VERSION};

/// Why a block is not the valid next block of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChainError {
    /// The header bytes are malformed (length, version or kind).
    Wire(WireError),
    /// A declared or actual payload length exceeds [`PAYLOAD_LEN_MAX`].
    Oversize {
        /// The length found.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A field has a second encoding of the same meaning (see [`NonCanonical`]).
    NonCanonical(NonCanonical),
    /// The author key is unusable: it fails the signature rule's key checks at genesis.
    InvalidAuthorKey(SigError),
    /// The block belongs to another author.
    WrongAuthor,
    /// `seq` is 0; chains count from 1.
    SeqZero,
    /// `seq` is above [`SEQ_MAX`].
    SeqTooLarge {
        /// The seq found.
        seq: u64,
    },
    /// `seq` skips ahead of the next expected seq.
    SeqGap {
        /// The next seq this chain expects.
        expected: u64,
        /// The seq found.
        got: u64,
    },
    /// The very block already stored at `seq` was received again.
    SeqReplay {
        /// The repeated seq.
        seq: u64,
    },
    /// A different, validly signed block at an existing `seq`: the author forked. Build
    /// the transferable proof with [`ForkProof::new`].
    Forked {
        /// The seq with two blocks.
        seq: u64,
    },
    /// `prev` is not the id of block `seq − 1`.
    PrevMismatch {
        /// The block's seq.
        seq: u64,
    },
    /// `skip` is not the id of block `lipmaa(seq)`.
    SkipMismatch {
        /// The block's seq.
        seq: u64,
    },
    /// A validly signed block at a seq the chain already has, whose stored block is
    /// not available from the header source: whether it repeats that block or forks
    /// the chain cannot be told.
    StoredUnavailable {
        /// The block's seq.
        seq: u64,
    },
    /// The skip target is not available from the header source, so the link cannot be
    /// checked.
    SkipUnavailable {
        /// The block's seq.
        seq: u64,
        /// `lipmaa(seq)`.
        target: u64,
    },
    /// The timestamp is earlier than the previous block's.
    TimestampRegression {
        /// The previous block's timestamp.
        prev_ms: u64,
        /// The timestamp found.
        got_ms: u64,
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
    /// The payload does not decode as its kind's type.
    PayloadMalformed(WireError),
    /// The signature fails glitter's rule.
    BadSignature(SigError),
}

/// Which field has a non-canonical encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NonCanonical {
    /// A genesis block (seq 1) with a nonzero `prev` or `skip`.
    GenesisLinks,
    /// A payload that decodes but is not in its one canonical encoding.
    Payload,
}

impl core::fmt::Display for ChainError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChainError::Wire(e) => write!(f, "malformed header: {e}"),
            ChainError::Oversize { len, max } => {
                write!(f, "payload of {len} bytes exceeds the bound of {max}")
            }
            ChainError::NonCanonical(NonCanonical::GenesisLinks) => {
                f.write_str("non-canonical encoding: genesis block with nonzero prev or skip")
            }
            ChainError::NonCanonical(NonCanonical::Payload) => {
                f.write_str("non-canonical encoding of the payload")
            }
            ChainError::InvalidAuthorKey(e) => write!(f, "invalid author key: {e}"),
            ChainError::WrongAuthor => f.write_str("block belongs to another author"),
            ChainError::SeqZero => f.write_str("seq 0 (chains count from 1)"),
            ChainError::SeqTooLarge { seq } => write!(f, "seq {seq} above the maximum"),
            ChainError::SeqGap { expected, got } => {
                write!(f, "seq gap: expected {expected}, got {got}")
            }
            ChainError::SeqReplay { seq } => write!(f, "block {seq} received again"),
            ChainError::Forked { seq } => write!(f, "fork: two different blocks at seq {seq}"),
            ChainError::PrevMismatch { seq } => write!(f, "prev link of block {seq} mismatches"),
            ChainError::SkipMismatch { seq } => write!(f, "skip link of block {seq} mismatches"),
            ChainError::StoredUnavailable { seq } => {
                write!(f, "the stored block {seq} is unavailable to compare with")
            }
            ChainError::SkipUnavailable { seq, target } => {
                write!(f, "skip target {target} of block {seq} unavailable")
            }
            ChainError::TimestampRegression { prev_ms, got_ms } => {
                write!(f, "timestamp went back from {prev_ms} ms to {got_ms} ms")
            }
            ChainError::PayloadLengthMismatch { declared, actual } => {
                write!(f, "payload is {actual} bytes, header says {declared}")
            }
            ChainError::PayloadHashMismatch => f.write_str("payload hash mismatch"),
            ChainError::PayloadMalformed(e) => write!(f, "malformed payload: {e}"),
            ChainError::BadSignature(e) => write!(f, "bad signature: {e}"),
        }
    }
}

impl core::error::Error for ChainError {}

impl From<WireError> for ChainError {
    fn from(e: WireError) -> ChainError {
        match e {
            WireError::Oversize { len, max } => ChainError::Oversize { len, max },
            other => ChainError::Wire(other),
        }
    }
}

/// Earlier headers of one chain, by seq. The block store implements this; so do
/// slices of headers ordered from seq 1.
pub trait HeaderSource {
    /// The stored header at `seq`, if there is one.
    fn header_at(&mut self, seq: u64) -> Option<Header>;
}

impl HeaderSource for [Header] {
    fn header_at(&mut self, seq: u64) -> Option<Header> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.get(i).copied()
    }
}

/// A [`HeaderSource`] with nothing in it: enough for chains whose skip links all point
/// at the head (and for the first blocks of any chain).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHeaders;

impl HeaderSource for NoHeaders {
    fn header_at(&mut self, _seq: u64) -> Option<Header> {
        None
    }
}

/// How a header's signature is checked. [`Ed25519Check`] applies glitter's rule; a
/// simulator may wrap it to memoise verdicts on identical bytes.
pub trait SignatureCheck {
    /// Checks `h`'s signature.
    ///
    /// # Errors
    /// The failing rule.
    fn check(&mut self, h: &Header) -> Result<(), SigError>;

    /// Admits `key` as a chain's author ([`PublicKey::validate`], what
    /// [`ChainState::new`] checks). The default is that check; a simulator may memoise
    /// its verdict on identical key bytes, as it does signatures.
    ///
    /// # Errors
    /// As [`PublicKey::validate`].
    fn admit(&mut self, key: &PublicKey) -> Result<(), SigError> {
        key.validate()
    }
}

/// The real check: glitter's signature rule ([`crate::sig`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ed25519Check;

impl SignatureCheck for Ed25519Check {
    fn check(&mut self, h: &Header) -> Result<(), SigError> {
        h.verify_signature()
    }
}

/// The head of a chain: what the next block must link to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Head {
    /// The head's seq.
    pub seq: u64,
    /// The head's id.
    pub id: Hash,
    /// The head's timestamp.
    pub timestamp_ms: u64,
}

/// The incremental validator of one author's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChainState {
    author: PublicKey,
    head: Option<Head>,
}

impl ChainState {
    /// An empty chain for `author`.
    ///
    /// # Errors
    /// [`ChainError::InvalidAuthorKey`] for a key that is no admissible identity
    /// ([`PublicKey::validate`]): non-canonical, small-order (including the identity and
    /// all-zero keys), or with a torsion component.
    pub fn new(author: PublicKey) -> Result<ChainState, ChainError> {
        author.validate().map_err(ChainError::InvalidAuthorKey)?;
        Ok(ChainState { author, head: None })
    }

    /// Resumes from a head already verified and stored earlier (for example at mount).
    ///
    /// Without a head this is [`ChainState::new`]: the genesis comes next, and the
    /// author is admitted with [`PublicKey::validate`]. With a head, the author was
    /// admitted when that chain's genesis was verified (only `new` starts a chain), so
    /// only the cheap encoding rules are checked again, not torsion-freeness: that costs
    /// as much as a signature check, and a syncing node resumes once per block.
    ///
    /// # Errors
    /// As [`ChainState::new`] ([`SigError::TorsionComponent`] only without a head).
    pub fn resume(author: PublicKey, head: Option<Head>) -> Result<ChainState, ChainError> {
        ChainState::resume_with(author, head, &mut Ed25519Check)
    }

    /// [`ChainState::resume`] with the admission of a new author delegated to `sigs`
    /// ([`SignatureCheck::admit`]).
    ///
    /// # Errors
    /// As [`ChainState::resume`].
    pub fn resume_with<C: SignatureCheck + ?Sized>(
        author: PublicKey,
        head: Option<Head>,
        sigs: &mut C,
    ) -> Result<ChainState, ChainError> {
        let Some(head) = head else {
            sigs.admit(&author).map_err(ChainError::InvalidAuthorKey)?;
            return Ok(ChainState { author, head: None });
        };
        crate::sig::check_encoding(author.as_bytes()).map_err(ChainError::InvalidAuthorKey)?;
        Ok(ChainState {
            author,
            head: Some(head),
        })
    }

    /// The author.
    pub fn author(&self) -> PublicKey {
        self.author
    }

    /// The current head, if the chain has any block.
    pub fn head(&self) -> Option<Head> {
        self.head
    }

    /// The seq the next block must have.
    pub fn next_seq(&self) -> u64 {
        self.head.map_or(1, |h| h.seq.saturating_add(1))
    }

    /// The `skip` value block `seq` must carry, given this chain's head and `source`.
    fn expected_skip<S: HeaderSource + ?Sized>(
        &self,
        seq: u64,
        source: &mut S,
    ) -> Result<Hash, ChainError> {
        let target = lipmaa(seq);
        if target == 0 {
            return Ok(Hash::ZERO);
        }
        match self.head {
            Some(h) if h.seq == target => Ok(h.id),
            _ => source
                .header_at(target)
                .filter(|hd| hd.seq == target && hd.author == self.author)
                .map(|hd| hd.id())
                .ok_or(ChainError::SkipUnavailable { seq, target }),
        }
    }

    /// Checks that `header` (and `payload`, if present) is the valid next block, and if
    /// so advances the head. A payload may be absent (pruned): the header still
    /// verifies without it.
    ///
    /// Checks run cheapest first, and the first failure is returned: header encoding,
    /// author, seq, links, timestamp, payload, then the signature.
    ///
    /// # Errors
    /// The precise [`ChainError`]; the state is unchanged on error.
    pub fn verify_next<S: HeaderSource + ?Sized>(
        &mut self,
        header: &[u8],
        payload: Option<&[u8]>,
        source: &mut S,
    ) -> Result<Header, ChainError> {
        self.verify_next_with(header, payload, source, &mut Ed25519Check)
    }

    /// [`ChainState::verify_next`] with the signature check delegated to `sigs`. Every
    /// other check runs as usual. A simulator uses this to memoise the verdict on
    /// identical header bytes across thousands of simulated nodes; real nodes use
    /// [`ChainState::verify_next`].
    ///
    /// # Errors
    /// As [`ChainState::verify_next`].
    pub fn verify_next_with<S: HeaderSource + ?Sized, C: SignatureCheck + ?Sized>(
        &mut self,
        header: &[u8],
        payload: Option<&[u8]>,
        source: &mut S,
        sigs: &mut C,
    ) -> Result<Header, ChainError> {
        let view = HeaderView::new_checked(header)?;
        let h = Header::parse(&view)?;
        self.check_header(&h, source)?;
        if let Some(p) = payload {
            check_payload(&h, p)?;
        }
        sigs.check(&h).map_err(ChainError::BadSignature)?;
        self.head = Some(Head {
            seq: h.seq,
            id: Hash::of(view.bytes()),
            timestamp_ms: h.timestamp_ms,
        });
        Ok(h)
    }

    fn check_header<S: HeaderSource + ?Sized>(
        &self,
        h: &Header,
        source: &mut S,
    ) -> Result<(), ChainError> {
        if h.author != self.author {
            return Err(ChainError::WrongAuthor);
        }
        if h.seq == 0 {
            return Err(ChainError::SeqZero);
        }
        if h.seq > SEQ_MAX {
            return Err(ChainError::SeqTooLarge { seq: h.seq });
        }
        let expected = self.next_seq();
        if h.seq < expected {
            return Err(self.repeated(h, source));
        }
        if h.seq > expected {
            return Err(ChainError::SeqGap {
                expected,
                got: h.seq,
            });
        }
        match self.head {
            None => {
                if !h.prev.is_zero() || !h.skip.is_zero() {
                    return Err(ChainError::NonCanonical(NonCanonical::GenesisLinks));
                }
            }
            Some(head) => {
                if h.prev != head.id {
                    return Err(ChainError::PrevMismatch { seq: h.seq });
                }
                if h.skip != self.expected_skip(h.seq, source)? {
                    return Err(ChainError::SkipMismatch { seq: h.seq });
                }
                if h.timestamp_ms < head.timestamp_ms {
                    return Err(ChainError::TimestampRegression {
                        prev_ms: head.timestamp_ms,
                        got_ms: h.timestamp_ms,
                    });
                }
            }
        }
        Ok(())
    }

    /// A block at a seq the chain already has: a harmless replay if it is the stored
    /// block, a fork if it is a different block the author really signed. A fork is
    /// claimed only against a stored block at hand: if `source` lacks it, a block that
    /// the author signed is [`ChainError::StoredUnavailable`] (it may be a replay).
    fn repeated<S: HeaderSource + ?Sized>(&self, h: &Header, source: &mut S) -> ChainError {
        let stored = match self.head {
            Some(head) if head.seq == h.seq => Some(head.id),
            _ => source
                .header_at(h.seq)
                .filter(|s| s.seq == h.seq && s.author == self.author)
                .map(|s| s.id()),
        };
        if stored == Some(h.id()) {
            return ChainError::SeqReplay { seq: h.seq };
        }
        match h.verify_signature() {
            Ok(()) if stored.is_some() => ChainError::Forked { seq: h.seq },
            Ok(()) => ChainError::StoredUnavailable { seq: h.seq },
            Err(e) => ChainError::BadSignature(e),
        }
    }

    /// Builds, signs and appends the next block of this chain (the author's own).
    ///
    /// `timestamp_ms` is raised to the head's timestamp if the local clock went back,
    /// so the chain's timestamps never decrease.
    ///
    /// # Errors
    /// [`ChainError::WrongAuthor`] if `keys` are not this chain's,
    /// [`ChainError::Oversize`] for a payload above [`PAYLOAD_LEN_MAX`],
    /// [`ChainError::SkipUnavailable`] if `source` lacks the skip target, and
    /// [`ChainError::SeqTooLarge`] at the end of the seq space.
    pub fn append<S: HeaderSource + ?Sized>(
        &mut self,
        keys: &KeyPair,
        kind: BlockKind,
        timestamp_ms: u64,
        payload: &[u8],
        source: &mut S,
    ) -> Result<Header, ChainError> {
        if keys.public() != self.author {
            return Err(ChainError::WrongAuthor);
        }
        let payload_len = u16::try_from(payload.len())
            .ok()
            .filter(|l| usize::from(*l) <= PAYLOAD_LEN_MAX)
            .ok_or(ChainError::Oversize {
                len: payload.len(),
                max: PAYLOAD_LEN_MAX,
            })?;
        let seq = self.next_seq();
        if seq > SEQ_MAX {
            return Err(ChainError::SeqTooLarge { seq });
        }
        let (prev, skip, timestamp_ms) = match self.head {
            None => (Hash::ZERO, Hash::ZERO, timestamp_ms),
            Some(head) => (
                head.id,
                self.expected_skip(seq, source)?,
                timestamp_ms.max(head.timestamp_ms),
            ),
        };
        let mut h = Header {
            version: VERSION,
            kind,
            author: self.author,
            seq,
            timestamp_ms,
            prev,
            skip,
            payload_len,
            payload_hash: Hash::of(payload),
            signature: [0; 64],
        };
        h.signature = keys.sign(&h.signing_message());
        self.head = Some(Head {
            seq,
            id: h.id(),
            timestamp_ms,
        });
        Ok(h)
    }
}

/// Checks a payload against its header: length, hash, and canonical decoding as the
/// header's kind.
///
/// Decoding checks a payload's structure and bounds, nothing more. In particular a
/// claim block's payload is accepted when it decodes canonically as a claim; its proof
/// is not checked here, in any build (the zk layer checks proofs, when the `zk`
/// feature is on). So chain verdicts are the same with and without that feature.
///
/// # Errors
/// [`ChainError::Oversize`], [`ChainError::PayloadLengthMismatch`],
/// [`ChainError::PayloadHashMismatch`], [`ChainError::NonCanonical`] or
/// [`ChainError::PayloadMalformed`].
pub fn check_payload(h: &Header, payload: &[u8]) -> Result<(), ChainError> {
    if payload.len() > PAYLOAD_LEN_MAX {
        return Err(ChainError::Oversize {
            len: payload.len(),
            max: PAYLOAD_LEN_MAX,
        });
    }
    if payload.len() != usize::from(h.payload_len) {
        return Err(ChainError::PayloadLengthMismatch {
            declared: usize::from(h.payload_len),
            actual: payload.len(),
        });
    }
    if Hash::of(payload) != h.payload_hash {
        return Err(ChainError::PayloadHashMismatch);
    }
    match Payload::decode(h.kind, payload) {
        Ok(_) => Ok(()),
        Err(WireError::NonCanonical) => Err(ChainError::NonCanonical(NonCanonical::Payload)),
        Err(e) => Err(ChainError::PayloadMalformed(e)),
    }
}
