//! Received fork proofs. A proof costs two signature checks, so they are checked
//! last: a proof first passes the sender's budget (at most [`FORK_BUDGET_PER_FORK`] ×
//! `FORKS` proofs per fork-resend interval, what an honest peer can send at most),
//! then a bounded set of recently seen proofs (a proof seen before costs one hash and
//! a lookup), then relevance (an author this node follows and holds no proof against
//! yet). Only a new, relevant proof is verified, through the node's
//! [`SignatureCheck`].
//!
//! Penalties: the same proof again from the same peer within half the resend interval
//! (an honest node never resends sooner than the interval) and proofs beyond the budget
//! cost the sender the
//! malformed-message penalty; a proof whose signatures fail costs the invalid penalty,
//! and so does a copy of it later. A proof merely unsolicited (about an author this
//! node does not follow) costs nothing the first time: honest nodes push a new proof to
//! a few random peers, whatever they follow.

use super::{HandleError, Node, PeerId, SyncStore};
use crate::chain::{ChainError, ForkError, ForkProof, SignatureCheck};
use crate::hash::Hash;
use crate::wire::WireError;

/// How many recently received proofs are remembered by digest.
pub(super) const SEEN_FORKS_MAX: usize = 32;

/// A peer may send this many times `FORKS` proofs (plus one) per resend interval
/// (two sends of one proof can land in one interval when delivery times vary).
pub(super) const FORK_BUDGET_PER_FORK: u32 = 2;

/// What a seen proof turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Not checked (it was not needed when it arrived).
    Unchecked,
    /// Its signatures verified.
    Valid,
    /// Its signatures failed, for this reason.
    Invalid(ChainError),
}

/// A fork proof received lately, by the digest of its message bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct SeenFork {
    digest: Hash,
    from: PeerId,
    at_ms: u64,
    verdict: Verdict,
}

impl<
    S,
    C,
    const PEERS: usize,
    const AUTHORS: usize,
    const WANTS: usize,
    const FORKS: usize,
    const PARKED: usize,
> Node<S, C, PEERS, AUTHORS, WANTS, FORKS, PARKED>
where
    S: SyncStore,
    C: SignatureCheck,
{
    /// Handles a fork proof `proof` (shape checked, signatures not) that arrived from
    /// `from` as the message `bytes`.
    pub(super) fn on_fork(
        &mut self,
        now_ms: u64,
        from: PeerId,
        bytes: &[u8],
        proof: ForkProof,
    ) -> Result<(), HandleError> {
        if !self.fork_budget(now_ms, from) {
            self.stats.forks_replayed += 1;
            self.penalise(from, self.config.penalty_malformed, now_ms);
            return Ok(());
        }
        let digest = Hash::of(bytes);
        let interval = self.config.fork_resend_ms;
        let seen = self.seen_forks.iter().position(|s| s.digest == digest);
        let verdict = match seen.and_then(|i| self.seen_forks.get_mut(i)) {
            Some(s) => {
                // An honest peer resends a proof at most once per interval; half of
                // it leaves room for delivery times that vary.
                let replay = s.from == from && now_ms.saturating_sub(s.at_ms) < interval / 2;
                s.from = from;
                s.at_ms = now_ms;
                if replay {
                    self.stats.forks_replayed += 1;
                    self.penalise(from, self.config.penalty_malformed, now_ms);
                    return Ok(());
                }
                s.verdict
            }
            None => {
                if self.seen_forks.is_full() {
                    self.seen_forks.remove(0);
                }
                let _ = self.seen_forks.push(SeenFork {
                    digest,
                    from,
                    at_ms: now_ms,
                    verdict: Verdict::Unchecked,
                });
                Verdict::Unchecked
            }
        };
        let author = proof.author();
        let known = self.forks.iter().position(|f| f.author() == author);
        match verdict {
            Verdict::Invalid(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_invalid, now_ms);
                return Err(HandleError::Invalid(e));
            }
            Verdict::Valid if self.follows(&author) && known.is_none() => {
                // Verified before but not kept (the table was full then): keep it now.
                self.remember_fork(proof);
            }
            Verdict::Valid => {}
            Verdict::Unchecked if !self.follows(&author) || known.is_some() => {}
            Verdict::Unchecked => {
                let checked = proof.verify_with(&mut self.sigs).map_err(|e| match e {
                    ForkError::BadSignature(s) => ChainError::BadSignature(s),
                    ForkError::Wire(w) => ChainError::Wire(w),
                    _ => ChainError::Wire(WireError::Malformed),
                });
                let verdict = match checked {
                    Ok(()) => Verdict::Valid,
                    Err(e) => Verdict::Invalid(e),
                };
                if let Some(s) = self.seen_forks.iter_mut().find(|s| s.digest == digest) {
                    s.verdict = verdict;
                }
                if let Err(e) = checked {
                    self.stats.invalid += 1;
                    self.penalise(from, self.config.penalty_invalid, now_ms);
                    return Err(HandleError::Invalid(e));
                }
                self.remember_fork(proof);
                self.mark_fork_known(from, &author);
                return Ok(());
            }
        }
        if !self.follows(&author) {
            self.stats.unsolicited += 1;
        }
        self.stats.forks_ignored += 1;
        if verdict == Verdict::Valid || known.is_some() {
            self.mark_fork_known(from, &author);
        }
        Ok(())
    }

    /// Counts a proof against `from`'s budget; false when it is spent.
    fn fork_budget(&mut self, now_ms: u64, from: PeerId) -> bool {
        if self.peer_index(from).is_none() {
            let _ = self.add_peer(from);
        }
        let interval = self.config.fork_resend_ms.max(1);
        let budget = FORK_BUDGET_PER_FORK
            .saturating_mul(u32::try_from(FORKS).unwrap_or(u32::MAX))
            .saturating_add(1);
        let Some(p) = self.peer_index(from).and_then(|i| self.peers.get_mut(i)) else {
            return true;
        };
        if now_ms.saturating_sub(p.fork_window_ms) >= interval {
            p.fork_window_ms = now_ms;
            p.fork_window_count = 0;
        }
        p.fork_window_count = p.fork_window_count.saturating_add(1);
        p.fork_window_count <= budget
    }

    /// `from` holds our proof against `author` (it sent it, or marks the author forked):
    /// never send it there.
    pub(super) fn mark_fork_known(&mut self, from: PeerId, author: &crate::sig::PublicKey) {
        let Some(fi) = self.forks.iter().position(|f| f.author() == *author) else {
            return;
        };
        if let Some(slot) = self
            .peer_index(from)
            .and_then(|i| self.peers.get_mut(i))
            .and_then(|p| p.fork_sent_ms.get_mut(fi))
        {
            *slot = super::gossip::HOLDS;
        }
    }
}
