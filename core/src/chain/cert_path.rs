//! Certificate paths: proof that a block belongs to a chain, from its head down the
//! shortest path of `prev` and `skip` links.

use crate::hash::Hash;
use crate::lipmaa::{CertPath, lipmaa};
use crate::sig::SigError;
use crate::wire::header::Header;

/// Why a certificate path does not prove membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CertPathError {
    /// The first header is not the trusted head.
    HeadMismatch,
    /// A header is not the next one on the shortest path.
    UnexpectedSeq {
        /// The seq the path needs here.
        expected: u64,
        /// The seq found.
        got: u64,
    },
    /// A header's id is not what the previous header links to.
    BrokenLink {
        /// The seq whose header does not match its link.
        seq: u64,
    },
    /// A header by another author.
    WrongAuthor,
    /// A header's signature fails glitter's rule.
    BadSignature(SigError),
    /// The path stops before the target, or runs past it.
    WrongLength,
}

impl core::fmt::Display for CertPathError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CertPathError::HeadMismatch => f.write_str("path does not start at the head"),
            CertPathError::UnexpectedSeq { expected, got } => {
                write!(f, "path has seq {got} where {expected} belongs")
            }
            CertPathError::BrokenLink { seq } => write!(f, "block {seq} is not linked"),
            CertPathError::WrongAuthor => f.write_str("path mixes authors"),
            CertPathError::BadSignature(e) => write!(f, "bad signature: {e}"),
            CertPathError::WrongLength => f.write_str("path is too short or too long"),
        }
    }
}

impl core::error::Error for CertPathError {}

/// Checks a certificate path: `headers` runs from the head (whose id is `head_id`)
/// down to `target`, along the shortest path [`CertPath`]. Each header must be the one
/// its predecessor links to (by `prev` or `skip`) and must carry a valid signature.
/// Returns the target header, now proven to belong to the chain.
///
/// Allocation-free: `headers` is any iterator.
///
/// # Errors
/// The first failing [`CertPathError`].
pub fn verify_cert_path<I>(head_id: &Hash, target: u64, headers: I) -> Result<Header, CertPathError>
where
    I: IntoIterator<Item = Header>,
{
    let mut it = headers.into_iter();
    let first = it.next().ok_or(CertPathError::WrongLength)?;
    if first.id() != *head_id {
        return Err(CertPathError::HeadMismatch);
    }
    first
        .verify_signature()
        .map_err(CertPathError::BadSignature)?;
    let author = first.author;
    let mut seqs = CertPath::new(first.seq, target);
    if seqs.next() != Some(first.seq) {
        return Err(CertPathError::WrongLength);
    }
    let mut cur = first;
    for expected in seqs {
        let h = it.next().ok_or(CertPathError::WrongLength)?;
        if h.seq != expected {
            return Err(CertPathError::UnexpectedSeq {
                expected,
                got: h.seq,
            });
        }
        if h.author != author {
            return Err(CertPathError::WrongAuthor);
        }
        let id = h.id();
        let linked = (expected + 1 == cur.seq && cur.prev == id)
            || (expected == lipmaa(cur.seq) && cur.skip == id);
        if !linked {
            return Err(CertPathError::BrokenLink { seq: expected });
        }
        h.verify_signature().map_err(CertPathError::BadSignature)?;
        cur = h;
    }
    if it.next().is_some() {
        return Err(CertPathError::WrongLength);
    }
    Ok(cur)
}
