//! The peer table: ids, scores, penalties and bans.
//!
//! The table holds at most `PEERS` entries. When it is full, a new peer takes the slot
//! of the least valuable entry ([`Node::add_peer`]): a peer that is not banned, one
//! that shares no known interest before one that does, then the one heard from longest
//! ago (the higher score first among equals). A banned entry is
//! evicted only when every entry is banned, and then the one whose ban ends first, so
//! a stream of throwaway peer ids cannot push a ban out. A peer that leaves
//! ([`Node::peer_gone`]) frees its slot at once unless it is banned: a banned peer's
//! entry stays until its ban ends.

use super::push::SHARED_TAGS;
use super::{Node, PeerId, SyncStore};
use crate::chain::SignatureCheck;

/// One known peer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Peer<const FORKS: usize> {
    pub(super) id: PeerId,
    pub(super) score: i32,
    pub(super) banned_until_ms: u64,
    /// The node's clock when this peer was added or last sent a message.
    pub(super) last_seen_ms: u64,
    /// The peer left ([`Node::peer_gone`]); the entry stays only for its ban.
    pub(super) gone: bool,
    /// When each remembered fork proof was last sent to this peer (0: never).
    pub(super) fork_sent_ms: [u64; FORKS],
    /// Start of the current fork-proof window, and proofs received in it.
    pub(super) fork_window_ms: u64,
    pub(super) fork_window_count: u32,
    /// Tags of authors both this node and the peer replicate (eager pushes go there).
    pub(super) shared: [u32; SHARED_TAGS],
    /// The slot the next learned tag replaces.
    pub(super) shared_next: u8,
    /// This node's heads were sent to the peer at least once.
    pub(super) introduced: bool,
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
    /// Adds a peer (a peer that left and comes back is live again, its score and ban
    /// kept). When the table is full, the least valuable entry is evicted (see the
    /// module docs). Returns false only if the table has no room at all (`PEERS` is 0).
    pub fn add_peer(&mut self, id: PeerId) -> bool {
        let now = self.now_ms;
        if let Some(p) = self.peer_index(id).and_then(|i| self.peers.get_mut(i)) {
            p.gone = false;
            p.last_seen_ms = now;
            return true;
        }
        let fresh = Peer {
            id,
            score: 0,
            banned_until_ms: 0,
            last_seen_ms: now,
            gone: false,
            fork_sent_ms: [0; FORKS],
            fork_window_ms: 0,
            fork_window_count: 0,
            shared: [0; SHARED_TAGS],
            shared_next: 0,
            introduced: false,
        };
        if self.peers.is_full() {
            let Some(victim) = self.eviction_victim() else {
                return false;
            };
            if let Some(slot) = self.peers.get_mut(victim) {
                *slot = fresh;
                return true;
            }
            return false;
        }
        self.peers.push(fresh).is_ok()
    }

    /// The peer left (its connection closed): its slot is freed, unless it is banned,
    /// in which case the entry (and the ban) stays until the ban ends or the slot is
    /// needed (see the module docs). Forgetting an unknown peer does nothing.
    pub fn peer_gone(&mut self, id: PeerId) {
        let now = self.now_ms;
        let Some(i) = self.peer_index(id) else {
            return;
        };
        let banned = self.peers.get(i).is_some_and(|p| p.banned_until_ms > now);
        if banned {
            if let Some(p) = self.peers.get_mut(i) {
                p.gone = true;
            }
        } else {
            self.peers.swap_remove(i);
        }
    }

    /// Bans `id` until `until_ms` (adding it if new), e.g. a peer the transport
    /// remembers was banned before it reconnected under a new id. Its score is lowered
    /// to the ban score if it was above.
    pub fn ban_peer(&mut self, id: PeerId, until_ms: u64) {
        let _ = self.add_peer(id);
        let ban_score = self.config.ban_score;
        if let Some(p) = self.peer_index(id).and_then(|i| self.peers.get_mut(i)) {
            p.banned_until_ms = p.banned_until_ms.max(until_ms);
            p.score = p.score.min(ban_score);
        }
    }

    /// A peer's current score, if known.
    pub fn peer_score(&self, id: PeerId) -> Option<i32> {
        self.peer_index(id)
            .and_then(|i| self.peers.get(i))
            .map(|p| p.score)
    }

    /// True if the peer is banned at `now_ms`.
    pub fn is_banned(&self, id: PeerId, now_ms: u64) -> bool {
        self.banned_until(id).is_some_and(|t| t > now_ms)
    }

    /// When `id`'s ban ends (or ended), if it was ever banned and is still known.
    pub fn banned_until(&self, id: PeerId) -> Option<u64> {
        self.peer_index(id)
            .and_then(|i| self.peers.get(i))
            .map(|p| p.banned_until_ms)
            .filter(|t| *t > 0)
    }

    /// How many peers the table holds (including banned peers that left).
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The index of peer `id` in the peer table.
    pub(super) fn peer_index(&self, id: PeerId) -> Option<usize> {
        self.peers.iter().position(|p| p.id == id)
    }

    /// Drops the entries of peers that left and whose ban has ended.
    pub(super) fn drop_expired(&mut self, now_ms: u64) {
        self.peers
            .retain(|p| !(p.gone && p.banned_until_ms <= now_ms));
    }

    /// The entry to evict for a new peer: a peer that is not banned, one that shares no
    /// known interest with this node before one that does (eager pushes go to those),
    /// then the one heard from longest ago, the higher score first among equals; if
    /// every entry is banned, the one whose ban ends first.
    fn eviction_victim(&self) -> Option<usize> {
        let now = self.now_ms;
        let idle = self
            .peers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.banned_until_ms <= now)
            .min_by_key(|(_, p)| {
                (
                    p.shared.iter().any(|t| *t != 0),
                    p.last_seen_ms,
                    i64::from(p.score).saturating_neg(),
                )
            })
            .map(|(i, _)| i);
        idle.or_else(|| {
            self.peers
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.banned_until_ms)
                .map(|(i, _)| i)
        })
    }

    /// Gives a peer below zero one point back (never above zero, never while banned).
    pub(super) fn credit(&mut self, id: PeerId) {
        let now = self.now_ms;
        if let Some(p) = self.peer_index(id).and_then(|i| self.peers.get_mut(i))
            && p.score < 0
            && p.banned_until_ms <= now
        {
            p.score += 1;
        }
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
