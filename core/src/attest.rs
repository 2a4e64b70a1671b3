//! Witness consensus: designated witnesses, k-of-n confirmation of chain heads, and
//! evidence against witnesses that attest two different blocks at one position.
//!
//! A person designates witnesses with [`Trust`](crate::social::Trust) blocks (role `Witness`, with the
//! threshold k); a later `Revoke` withdraws one. Witnesses publish [`Attestation`]
//! blocks on their own chains listing the heads (author, seq, id) they verified.
//!
//! **The rule.** Block `seq` of `author` is *confirmed at level k* when k distinct
//! designated witnesses have attested it or a later head of the same chain — and a
//! later head counts only if this node holds that very block in its verified chain (so
//! the hash links from it down to `seq` are checked). Nothing at or after a seq where
//! the author is known to have forked is confirmed.
//!
//! **Guarantees and limits.** Honest nodes that hold the same fork proofs agree on
//! what is confirmed. k colluding witnesses can confirm any block the author really
//! signed, including one branch of a fork that honest nodes have not yet heard of; they
//! cannot confirm a block the author did not sign, and two conflicting branches can
//! only both be confirmed if some witness attests both, which is provable
//! ([`verify_witness_equivocation`]). Witnesses should wait before attesting (the
//! simulator's witnesses wait a documented delay) so fork proofs can spread first.

use crate::chain::HeaderSource;
use crate::hash::Hash;
use crate::sig::{PublicKey, SigError};
use crate::social::{Attestation, BlockRef, Payload, TrustRole};
use crate::wire::WireError;
use crate::wire::header::{BlockKind, Header};
use heapless::Vec;

/// Most witnesses one person may designate.
pub const WITNESSES_MAX: usize = 16;

/// A person's designated witnesses and threshold, folded from their chain's payloads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WitnessSet {
    witnesses: Vec<PublicKey, WITNESSES_MAX>,
    threshold: u8,
}

impl WitnessSet {
    /// An empty set (nothing can be confirmed).
    pub fn new() -> WitnessSet {
        WitnessSet::default()
    }

    /// Applies one payload of the owner's chain, in chain order. Only `Trust` payloads
    /// change the set: `Witness` adds the subject and sets the threshold, `Revoke`
    /// removes the subject. Additions beyond [`WITNESSES_MAX`] are ignored.
    ///
    /// A witness must be an admissible identity ([`PublicKey::validate`]): a
    /// designation of any other key is refused and leaves the set (and threshold)
    /// unchanged, so the torsioned variants of one key cannot count as several
    /// distinct witnesses. The block itself stays valid; only the designation is void.
    ///
    /// # Errors
    /// The [`SigError`] of a refused `Witness` designation.
    pub fn apply(&mut self, payload: &Payload) -> Result<(), SigError> {
        if let Payload::Trust(t) = payload {
            let who = PublicKey(t.subject);
            match t.role {
                TrustRole::Witness => {
                    who.validate()?;
                    if !self.witnesses.contains(&who) {
                        let _ = self.witnesses.push(who);
                    }
                    self.threshold = t.threshold;
                }
                TrustRole::Revoke => self.witnesses.retain(|w| *w != who),
                TrustRole::Custodian => {}
            }
        }
        Ok(())
    }

    /// The designated witnesses.
    pub fn witnesses(&self) -> &[PublicKey] {
        &self.witnesses
    }

    /// The threshold k (0 if never set).
    pub fn threshold(&self) -> u8 {
        self.threshold
    }

    /// True if `who` is designated.
    pub fn contains(&self, who: &PublicKey) -> bool {
        self.witnesses.contains(who)
    }
}

/// One head listed in a witness's attestation block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AttestationRecord {
    /// The witness (the attestation block's author).
    pub witness: PublicKey,
    /// The seq of the attestation block on the witness's chain.
    pub witness_seq: u64,
    /// The attested head.
    pub head: BlockRef,
}

/// Confirmation status of one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status {
    /// At least `threshold` designated witnesses attested it (or a later linked head).
    Confirmed {
        /// How many distinct witnesses count.
        level: u8,
    },
    /// Not yet enough witnesses.
    Pending {
        /// Distinct designated witnesses that count so far.
        attested: u8,
        /// The threshold.
        needed: u8,
    },
    /// The author forked at or before this seq: never confirmed.
    Forked {
        /// The seq of the fork.
        at: u64,
    },
    /// This node does not hold the block.
    Unknown,
    /// The author designated no witnesses (or a threshold of 0).
    NoWitnesses,
}

/// The confirmation status of block `seq` of `author`.
///
/// `chain` is this node's verified copy of the author's chain; `records` are the
/// attestation entries this node extracted from the witnesses' verified chains (see
/// [`records_of`]); `forked_at` is the seq of a known fork proof, if any.
pub fn status<S: HeaderSource + ?Sized>(
    set: &WitnessSet,
    author: &PublicKey,
    seq: u64,
    records: &[AttestationRecord],
    chain: &mut S,
    forked_at: Option<u64>,
) -> Status {
    if let Some(f) = forked_at
        && seq >= f
    {
        return Status::Forked { at: f };
    }
    if set.threshold == 0 || set.witnesses.is_empty() {
        return Status::NoWitnesses;
    }
    if chain.header_at(seq).is_none() {
        return Status::Unknown;
    }
    let mut counted: Vec<PublicKey, WITNESSES_MAX> = Vec::new();
    for r in records {
        if r.head.author != author.0 || r.head.seq < seq || !set.contains(&r.witness) {
            continue;
        }
        if counted.contains(&r.witness) {
            continue;
        }
        // A later head counts only through links this node verified: it must be the
        // very block this node holds at that seq.
        let held = chain.header_at(r.head.seq).map(|h| h.id());
        if held == Some(Hash(r.head.id)) {
            let _ = counted.push(r.witness);
        }
    }
    let level = counted.len() as u8;
    if level >= set.threshold {
        Status::Confirmed { level }
    } else {
        Status::Pending {
            attested: level,
            needed: set.threshold,
        }
    }
}

/// The attestation records in one verified attestation block (`header` must already
/// have passed the chain validator; `payload` is its payload).
///
/// # Errors
/// [`WireError`] if the block is not a canonical attestation.
pub fn records_of<'a>(
    header: &Header,
    payload: &'a [u8],
) -> Result<impl Iterator<Item = AttestationRecord> + 'a, WireError> {
    if header.kind != BlockKind::Attestation {
        return Err(WireError::Malformed);
    }
    let Payload::Attestation(Attestation { heads }) = Payload::decode(header.kind, payload)? else {
        return Err(WireError::Malformed);
    };
    let witness = header.author;
    let witness_seq = header.seq;
    Ok(heads.into_iter().map(move |head| AttestationRecord {
        witness,
        witness_seq,
        head,
    }))
}

/// A witness attested two different ids at one (author, seq): found among `records`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Equivocation {
    /// The misbehaving witness.
    pub witness: PublicKey,
    /// Its two attestation blocks (seqs on its chain) that conflict.
    pub witness_seqs: (u64, u64),
    /// The attested chain's author.
    pub author: PublicKey,
    /// The seq attested twice.
    pub seq: u64,
}

/// Finds the first witness that attested two different ids for one (author, seq).
/// Quadratic in `records.len()`; callers bound the slice.
pub fn find_equivocation(records: &[AttestationRecord]) -> Option<Equivocation> {
    for (i, a) in records.iter().enumerate() {
        for b in records.iter().skip(i + 1) {
            if a.witness == b.witness
                && a.head.author == b.head.author
                && a.head.seq == b.head.seq
                && a.head.id != b.head.id
            {
                return Some(Equivocation {
                    witness: a.witness,
                    witness_seqs: (a.witness_seq, b.witness_seq),
                    author: PublicKey(a.head.author),
                    seq: a.head.seq,
                });
            }
        }
    }
    None
}

/// Why two blocks are not proof of a witness's equivocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EquivocationError {
    /// A header or payload is malformed, or not an attestation.
    Wire(WireError),
    /// A payload does not match its header.
    PayloadMismatch,
    /// A signature fails glitter's rule.
    BadSignature(SigError),
    /// The two blocks are by different witnesses.
    DifferentWitnesses,
    /// The blocks do not attest two different ids at one (author, seq).
    NoConflict,
}

/// Checks transferable evidence: two attestation blocks (headers and payloads) signed
/// by one witness that attest different ids for the same (author, seq). Needs no
/// other context. Returns the conflict.
///
/// # Errors
/// The first failing [`EquivocationError`].
pub fn verify_witness_equivocation(
    header_a: &[u8],
    payload_a: &[u8],
    header_b: &[u8],
    payload_b: &[u8],
) -> Result<Equivocation, EquivocationError> {
    let check = |h: &[u8], p: &[u8]| -> Result<Header, EquivocationError> {
        let h = Header::decode(h).map_err(EquivocationError::Wire)?;
        if usize::from(h.payload_len) != p.len() || Hash::of(p) != h.payload_hash {
            return Err(EquivocationError::PayloadMismatch);
        }
        h.verify_signature()
            .map_err(EquivocationError::BadSignature)?;
        Ok(h)
    };
    let ha = check(header_a, payload_a)?;
    let hb = check(header_b, payload_b)?;
    if ha.author != hb.author {
        return Err(EquivocationError::DifferentWitnesses);
    }
    let ra = records_of(&ha, payload_a).map_err(EquivocationError::Wire)?;
    for a in ra {
        let rb = records_of(&hb, payload_b).map_err(EquivocationError::Wire)?;
        for b in rb {
            if a.head.author == b.head.author && a.head.seq == b.head.seq && a.head.id != b.head.id
            {
                return Ok(Equivocation {
                    witness: ha.author,
                    witness_seqs: (ha.seq, hb.seq),
                    author: PublicKey(a.head.author),
                    seq: a.head.seq,
                });
            }
        }
    }
    Err(EquivocationError::NoConflict)
}
