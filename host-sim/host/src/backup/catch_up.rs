//! After a restore: the one rule for learning the real head from peers before
//! anything is appended, shared by the CLI (peer directories), the network restore
//! client and the simulator.
//!
//! A restored device holds the chain up to its backup (at least up to the manifest's
//! seq). Blocks appended after the backup exist only on peers, and appending before
//! learning them would fork the chain. So the device collects [`HeadReport`]s,
//! [`classify`]s each against what it holds, fetches from the reports that are
//! [`Standing::Ahead`] (highest first, see [`by_height`]), verifies every fetched
//! block with [`extend`], and appends only once [`may_append`] says so.

use glitter_core::chain::{ChainError, ChainState, Head};
use glitter_core::hash::Hash;
use glitter_core::sig::PublicKey;
use glitter_core::wire::header::Header;

/// What one peer said about the owner's chain: its stored head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadReport<P> {
    /// Who said it.
    pub from: P,
    /// The head seq it stores (0: none).
    pub seq: u64,
    /// The head block's id (ignored when `seq` is 0).
    pub id: Hash,
}

/// How a report relates to the chain held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The peer stores nothing of the owner.
    Empty,
    /// The peer's block at a seq we hold differs from ours: a fork; ignore the peer.
    Conflicts,
    /// The peer's head is one we already hold.
    Covered,
    /// The peer is ahead of us by this many blocks: fetch them.
    Ahead(u64),
}

/// Classifies `report` against the held chain `held` (headers seq 1..=len).
pub fn classify<P>(held: &[Header], report: &HeadReport<P>) -> Standing {
    if report.seq == 0 {
        return Standing::Empty;
    }
    let held_len = held.len() as u64;
    if report.seq > held_len {
        return Standing::Ahead(report.seq - held_len);
    }
    match usize::try_from(report.seq - 1)
        .ok()
        .and_then(|i| held.get(i))
    {
        Some(h) if h.id() == report.id => Standing::Covered,
        _ => Standing::Conflicts,
    }
}

/// The reports, highest head first (ties keep their order): the order to fetch in.
pub fn by_height<P>(mut reports: Vec<HeadReport<P>>) -> Vec<HeadReport<P>> {
    reports.sort_by_key(|r| std::cmp::Reverse(r.seq));
    reports
}

/// Verifies blocks that should follow the held chain and appends them to it.
///
/// `held` and `payloads` are the chain so far (seq 1..=len, every block already
/// verified); `incoming` yields encoded headers and payloads in seq order. Each block
/// goes through [`ChainState::verify_next`]: nothing unverified is ever adopted.
///
/// # Errors
/// The seq of the first block that does not verify, and why; the blocks before it
/// are kept.
pub fn extend<'a>(
    owner: PublicKey,
    held: &mut Vec<Header>,
    payloads: &mut Vec<Vec<u8>>,
    incoming: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<usize, (u64, ChainError)> {
    let head = held.last().map(|h| Head {
        seq: h.seq,
        id: h.id(),
        timestamp_ms: h.timestamp_ms,
    });
    let next = held.len() as u64 + 1;
    let mut state = ChainState::resume(owner, head).map_err(|e| (next, e))?;
    let mut added = 0;
    for (header, payload) in incoming {
        let seq = held.len() as u64 + 1;
        let h = state
            .verify_next(header, Some(payload), held.as_mut_slice())
            .map_err(|e| (seq, e))?;
        held.push(h);
        payloads.push(payload.to_vec());
        added += 1;
    }
    Ok(added)
}

/// Why a restored device may not append yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotYet {
    /// The chain held ends below the backup's manifest block: blocks are missing.
    BelowManifest {
        /// Blocks held.
        held: u64,
        /// The manifest's seq.
        manifest_seq: u64,
    },
    /// Fewer peers reported than the quorum asked for.
    TooFewReports {
        /// Reports heard.
        heard: usize,
        /// Reports required.
        quorum: usize,
    },
    /// A peer that agrees with us reported a higher head than we hold.
    Behind {
        /// Blocks held.
        held: u64,
        /// The highest agreeing report.
        reported: u64,
    },
}

impl core::fmt::Display for NotYet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NotYet::BelowManifest { held, manifest_seq } => write!(
                f,
                "the chain reaches block {held} but the manifest is block {manifest_seq}: peers must supply the rest"
            ),
            NotYet::TooFewReports { heard, quorum } => {
                write!(f, "{heard} of {quorum} peers reported the head")
            }
            NotYet::Behind { held, reported } => {
                write!(f, "a peer reported head {reported}, ahead of ours ({held})")
            }
        }
    }
}

impl std::error::Error for NotYet {}

/// The rule before a restored device appends: it holds at least the manifest block,
/// at least `quorum` peers have reported, and no report that agrees with the held
/// chain is ahead of it (conflicting reports are forks and do not count as ahead).
///
/// # Errors
/// [`NotYet`], saying what is missing.
pub fn may_append<P>(
    held: &[Header],
    manifest_seq: u64,
    reports: &[HeadReport<P>],
    quorum: usize,
) -> Result<(), NotYet> {
    let len = held.len() as u64;
    if len < manifest_seq {
        return Err(NotYet::BelowManifest {
            held: len,
            manifest_seq,
        });
    }
    if reports.len() < quorum {
        return Err(NotYet::TooFewReports {
            heard: reports.len(),
            quorum,
        });
    }
    if let Some(r) = reports
        .iter()
        .filter(|r| matches!(classify(held, r), Standing::Ahead(_)))
        .max_by_key(|r| r.seq)
    {
        return Err(NotYet::Behind {
            held: len,
            reported: r.seq,
        });
    }
    Ok(())
}
