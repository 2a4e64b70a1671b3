//! Fork proofs: transferable evidence that an author signed two blocks at one seq.

use super::{Ed25519Check, SignatureCheck};
use crate::lipmaa::SEQ_MAX;
use crate::sig::{PublicKey, SigError};
use crate::wire::WireError;
use crate::wire::header::Header;

/// Why a [`ForkProof`] is not a proof of a fork.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ForkError {
    /// The bytes are malformed.
    Wire(WireError),
    /// The two headers are the same block.
    SameBlock,
    /// The two headers have different authors.
    DifferentAuthors,
    /// The two headers have different seqs.
    DifferentSeqs,
    /// A seq of 0 or above [`SEQ_MAX`].
    BadSeq,
    /// The headers are not in canonical order (smaller id first).
    NonCanonical,
    /// One of the signatures fails glitter's rule.
    BadSignature(SigError),
}

impl core::fmt::Display for ForkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ForkError::Wire(e) => write!(f, "malformed fork proof: {e}"),
            ForkError::SameBlock => f.write_str("both headers are the same block"),
            ForkError::DifferentAuthors => f.write_str("headers by different authors"),
            ForkError::DifferentSeqs => f.write_str("headers at different seqs"),
            ForkError::BadSeq => f.write_str("seq out of range"),
            ForkError::NonCanonical => f.write_str("headers not in canonical order"),
            ForkError::BadSignature(e) => write!(f, "bad signature: {e}"),
        }
    }
}

impl core::error::Error for ForkError {}

/// Encoded length of a fork proof: two headers.
pub const FORK_PROOF_LEN: usize = 2 * Header::ENCODED_LEN;

/// Transferable evidence that an author signed two different blocks at one seq.
/// Anyone can check it with [`ForkProof::verify`]; it needs no other context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ForkProof {
    first: Header,
    second: Header,
}

impl ForkProof {
    /// Builds a proof from two conflicting headers (in any order) and verifies it.
    ///
    /// # Errors
    /// See [`ForkProof::verify`].
    pub fn new(a: Header, b: Header) -> Result<ForkProof, ForkError> {
        let (first, second) = if a.id() <= b.id() { (a, b) } else { (b, a) };
        let p = ForkProof { first, second };
        p.verify()?;
        Ok(p)
    }

    /// The author who forked.
    pub fn author(&self) -> PublicKey {
        self.first.author
    }

    /// The seq with two blocks.
    pub fn seq(&self) -> u64 {
        self.first.seq
    }

    /// The two headers, smaller id first.
    pub fn headers(&self) -> (&Header, &Header) {
        (&self.first, &self.second)
    }

    /// Checks that this really is a fork: same author and seq, different ids, both
    /// signatures valid, canonical order.
    ///
    /// # Errors
    /// The first failing [`ForkError`].
    pub fn verify(&self) -> Result<(), ForkError> {
        self.verify_with(&mut Ed25519Check)
    }

    /// As [`ForkProof::verify`], with the two signatures checked by `sigs` (the shape
    /// is checked first, so a malformed proof costs no signature check).
    ///
    /// # Errors
    /// The first failing [`ForkError`].
    pub fn verify_with<C: SignatureCheck + ?Sized>(&self, sigs: &mut C) -> Result<(), ForkError> {
        self.check_shape()?;
        sigs.check(&self.first).map_err(ForkError::BadSignature)?;
        sigs.check(&self.second).map_err(ForkError::BadSignature)?;
        Ok(())
    }

    /// Everything [`ForkProof::verify`] checks except the signatures.
    fn check_shape(&self) -> Result<(), ForkError> {
        let (a, b) = (&self.first, &self.second);
        if a.author != b.author {
            return Err(ForkError::DifferentAuthors);
        }
        if a.seq != b.seq {
            return Err(ForkError::DifferentSeqs);
        }
        if a.seq == 0 || a.seq > SEQ_MAX {
            return Err(ForkError::BadSeq);
        }
        let (ia, ib) = (a.id(), b.id());
        if ia == ib {
            return Err(ForkError::SameBlock);
        }
        if ia > ib {
            return Err(ForkError::NonCanonical);
        }
        Ok(())
    }

    /// The canonical encoding: the two headers, smaller id first.
    pub fn to_bytes(&self) -> [u8; FORK_PROOF_LEN] {
        let mut out = [0u8; FORK_PROOF_LEN];
        let (x, y) = out.split_at_mut(Header::ENCODED_LEN);
        x.copy_from_slice(&self.first.to_bytes());
        y.copy_from_slice(&self.second.to_bytes());
        out
    }

    /// Decodes and verifies a proof.
    ///
    /// # Errors
    /// [`ForkError::Wire`] for malformed bytes, or as [`ForkProof::verify`].
    pub fn decode(bytes: &[u8]) -> Result<ForkProof, ForkError> {
        let p = ForkProof::decode_unverified(bytes)?;
        p.verify()?;
        Ok(p)
    }

    /// Decodes a proof and checks its shape, but not its signatures: the caller must
    /// call [`ForkProof::verify_with`] before trusting or storing it (the replication
    /// node does, once it knows the proof is new and about an author it follows).
    pub(crate) fn decode_unverified(bytes: &[u8]) -> Result<ForkProof, ForkError> {
        if bytes.len() != FORK_PROOF_LEN {
            return Err(ForkError::Wire(if bytes.len() < FORK_PROOF_LEN {
                WireError::Truncated {
                    needed: FORK_PROOF_LEN,
                    got: bytes.len(),
                }
            } else {
                WireError::TrailingBytes {
                    extra: bytes.len() - FORK_PROOF_LEN,
                }
            }));
        }
        let (x, y) = bytes.split_at(Header::ENCODED_LEN);
        let first = Header::decode(x).map_err(ForkError::Wire)?;
        let second = Header::decode(y).map_err(ForkError::Wire)?;
        let p = ForkProof { first, second };
        p.check_shape()?;
        Ok(p)
    }
}
