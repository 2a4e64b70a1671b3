//! Gossip: the heads a node announces (recently advanced authors first, then the
//! followed ones in rotation), the tick that picks a peer, and fork proofs offered to
//! peers.

use super::{GossipMode, Node, Outbox, PeerId, SyncStore};
use crate::chain::SignatureCheck;
use crate::hash::Hash;
use crate::sig::PublicKey;
use crate::sync::message::{HEADS_MAX, HeadEntry, Message};
use heapless::Vec;
use rand_core::Rng;

/// How many recently advanced authors are announced ahead of the rotation.
pub(super) const RECENT_MAX: usize = 8;

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
    /// Remembers that `author`'s head just advanced, so it is announced first.
    pub(super) fn mark_recent(&mut self, author: PublicKey) {
        self.recent.retain(|a| *a != author);
        if self.recent.is_full() && !self.recent.is_empty() {
            self.recent.remove(RECENT_MAX - 1);
        }
        let _ = self.recent.insert(0, author);
    }

    fn head_entry(&mut self, author: PublicKey) -> HeadEntry {
        let head = self.store.head(&author);
        HeadEntry {
            author,
            seq: head.map_or(0, |h| h.seq),
            id: head.map_or(Hash::ZERO, |h| h.id),
        }
    }

    /// Heads to announce: authors whose heads advanced recently first, then the
    /// followed authors (own chain included) in rotation, up to [`HEADS_MAX`].
    fn heads_to_announce(&mut self) -> Vec<HeadEntry, HEADS_MAX> {
        let mut out: Vec<HeadEntry, HEADS_MAX> = Vec::new();
        let recent = self.recent.clone();
        for a in recent.iter() {
            if self.interests.contains(a) {
                let e = self.head_entry(*a);
                let _ = out.push(e);
            }
        }
        let n = self.interests.len();
        if n == 0 {
            return out;
        }
        let start = self.rotation % n;
        let mut taken = 0;
        // Bounded by n: each interest is looked at once at most.
        while taken < n && !out.is_full() {
            let Some(author) = self.interests.get((start + taken) % n).copied() else {
                break;
            };
            taken += 1;
            if out.iter().any(|e| e.author == author) {
                continue;
            }
            let e = self.head_entry(author);
            let _ = out.push(e);
        }
        self.rotation = (start + taken) % n;
        out
    }

    /// Time passed: expire old wants and gossip heads to one random peer that is not
    /// banned.
    pub fn tick<R: Rng + ?Sized, O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        rng: &mut R,
        out: &mut O,
    ) {
        self.now_ms = self.now_ms.max(now_ms);
        self.drop_expired(now_ms);
        let n = self.peers.len();
        if n == 0 {
            return;
        }
        if self.fork_flood {
            // Fork proofs are rare and urgent: offer a new one to every peer once
            // (bounded by the peer table and the per-peer resend interval).
            self.fork_flood = false;
            for i in 0..n {
                if let Some(p) = self.peers.get(i).copied()
                    && p.banned_until_ms <= now_ms
                    && !p.gone
                {
                    self.send_forks(now_ms, p.id, None, out);
                }
            }
        }
        // A few draws to skip banned peers; bounded, so a node whose peers are all
        // banned simply stays quiet this tick.
        for _ in 0..4 {
            let i = (rng.next_u32() as usize) % n;
            if let Some(p) = self.peers.get(i).copied()
                && p.banned_until_ms <= now_ms
                && !p.gone
            {
                self.gossip_to(now_ms, p.id, out);
                return;
            }
        }
    }

    /// Sends this node's heads to `peer` now (the gossip step of [`Node::tick`], for
    /// callers that choose the peer themselves, such as a reference-model harness).
    pub fn gossip_to<O: Outbox + ?Sized>(&mut self, now_ms: u64, peer: PeerId, out: &mut O) {
        self.expire_wants(now_ms);
        let heads = self.heads_to_announce();
        let msg = Message::Heads {
            reply: self.config.mode == GossipMode::PushPull,
            heads,
        };
        if out.send(peer, &msg).is_err() {
            self.stats.outbox_full += 1;
        }
        self.send_forks(now_ms, peer, None, out);
    }

    /// Sends `peer` the fork proofs it has not had from us within the resend interval.
    /// With `about`, only proofs against authors listed there (the pull half: a peer
    /// that announces a forked author's head learns of the fork in return).
    fn send_forks<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        peer: PeerId,
        about: Option<&[HeadEntry]>,
        out: &mut O,
    ) {
        if self.forks.is_empty() {
            return;
        }
        if self.peer_index(peer).is_none() {
            let _ = self.add_peer(peer);
        }
        let Some(pi) = self.peer_index(peer) else {
            return;
        };
        let interval = self.config.fork_resend_ms;
        for (i, proof) in self.forks.iter().enumerate() {
            if let Some(heads) = about
                && !heads.iter().any(|e| e.author == proof.author())
            {
                continue;
            }
            let Some(p) = self.peers.get_mut(pi) else {
                return;
            };
            let Some(last) = p.fork_sent_ms.get_mut(i) else {
                return;
            };
            if *last != 0 && now_ms.saturating_sub(*last) < interval {
                continue;
            }
            if out.send(peer, &Message::Fork(*proof)).is_err() {
                self.stats.outbox_full += 1;
                return;
            }
            *last = now_ms.max(1);
        }
    }
}
