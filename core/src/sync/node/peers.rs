//! The peer table: ids, scores, penalties and bans.

use super::{Node, PeerId, SyncStore};
use crate::chain::SignatureCheck;

/// One known peer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Peer<const FORKS: usize> {
    pub(super) id: PeerId,
    pub(super) score: i32,
    pub(super) banned_until_ms: u64,
    /// When each remembered fork proof was last sent to this peer (0: never).
    pub(super) fork_sent_ms: [u64; FORKS],
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
    /// Adds a peer. Returns false if the peer set is full (the peer is not added).
    pub fn add_peer(&mut self, id: PeerId) -> bool {
        self.peer_index(id).is_some()
            || self
                .peers
                .push(Peer {
                    id,
                    score: 0,
                    banned_until_ms: 0,
                    fork_sent_ms: [0; FORKS],
                })
                .is_ok()
    }

    /// A peer's current score, if known.
    pub fn peer_score(&self, id: PeerId) -> Option<i32> {
        self.peer_index(id)
            .and_then(|i| self.peers.get(i))
            .map(|p| p.score)
    }

    /// True if the peer is banned at `now_ms`.
    pub fn is_banned(&self, id: PeerId, now_ms: u64) -> bool {
        self.peer_index(id)
            .and_then(|i| self.peers.get(i))
            .is_some_and(|p| p.banned_until_ms > now_ms)
    }

    /// The index of peer `id` in the peer table.
    pub(super) fn peer_index(&self, id: PeerId) -> Option<usize> {
        self.peers.iter().position(|p| p.id == id)
    }

    /// Lowers `id`'s score by `by` (adding the peer if new); at or below the ban
    /// score it is banned until `now_ms` plus the ban time.
    pub(super) fn penalise(&mut self, id: PeerId, by: i32, now_ms: u64) {
        if self.peer_index(id).is_none() {
            let _ = self.add_peer(id);
        }
        let (ban_score, ban_ms) = (self.config.ban_score, self.config.ban_ms);
        if let Some(p) = self.peer_index(id).and_then(|i| self.peers.get_mut(i)) {
            p.score = p.score.saturating_sub(by);
            if p.score <= ban_score {
                p.banned_until_ms = now_ms.saturating_add(ban_ms);
            }
        }
    }
}
