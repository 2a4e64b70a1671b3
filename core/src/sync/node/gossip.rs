//! Gossip: the heads a node announces (recently advanced authors first, then the
//! followed ones in rotation), the tick that picks a peer, and fork proofs spread by
//! gossip.
//!
//! # Fork proofs: push once, then pull
//!
//! A proof is rare, urgent and 425 bytes, and flooding it to every peer costs each node
//! a message per peer (n² in all). Instead:
//!
//! - **Push.** At the first tick after it learns a proof, a node sends it to
//!   [`FORK_PUSH_FANOUT`] random live peers not known to hold it.
//! - **Pull.** A node marks every head entry of an author it holds a proof against
//!   (`forked`). A peer that lists that author without the mark lacks the proof, and
//!   gets it back in answer (at most once per `fork_resend_ms`, so a lost copy is
//!   replaced). A peer that shows the mark, or sent the proof, is never sent it.
//!
//! Each node sends a proof about `FORK_PUSH_FANOUT` times plus once per peer that
//! asked while lacking it: O(log n) in all, measured by `glitter sim equivocate`.
//! Every honest node that follows the author still gets it: the first time it
//! announces the author's head to any holder.

use super::{GossipMode, Node, Outbox, PeerId, SyncStore};
use crate::chain::SignatureCheck;
use crate::hash::Hash;
use crate::sig::PublicKey;
use crate::sync::message::{HEADS_MAX, HeadEntry, Message};
use heapless::Vec;
use rand_core::Rng;

/// With eager pushes on, how many heads a tick adds from the rotation to the recently
/// advanced ones. News no longer waits for the rotation (it is pushed to the peers
/// that share it), so the rotation is only anti-entropy, for what a push missed: a
/// tick then carries a quarter of the heads, and a receiver looks up a quarter.
pub const ROTATION_WITH_PUSH: usize = 4;

/// With eager pushes on, a node whose heads did not advance gossips every this many
/// ticks instead of every tick: idle gossip costs a quarter.
pub const QUIET_TICKS: u8 = 4;

/// How many random peers a newly learned fork proof is pushed to.
pub const FORK_PUSH_FANOUT: usize = 3;

/// A peer's fork-proof slot meaning "it holds this proof": never sent again.
pub(super) const HOLDS: u64 = u64::MAX;

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
        self.news = true;
        self.recent.retain(|a| *a != author);
        if self.recent.is_full() && !self.recent.is_empty() {
            self.recent.remove(RECENT_MAX - 1);
        }
        let _ = self.recent.insert(0, author);
    }

    pub(super) fn head_entry(&mut self, author: PublicKey) -> HeadEntry {
        let head = self.store.head(&author);
        HeadEntry {
            author,
            seq: head.map_or(0, |h| h.seq),
            id: head.map_or(Hash::ZERO, |h| h.id),
            forked: self.forked_at(&author).is_some(),
        }
    }

    /// Heads to announce: authors whose heads advanced recently first, then the
    /// followed authors (own chain included) in rotation, up to [`HEADS_MAX`] (with
    /// eager pushes on, at most [`ROTATION_WITH_PUSH`] from the rotation).
    fn heads_to_announce(&mut self) -> Vec<HeadEntry, HEADS_MAX> {
        let mut out: Vec<HeadEntry, HEADS_MAX> = Vec::new();
        let recent = self.recent.clone();
        for a in recent.iter() {
            if self.follows(a) {
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
        let limit = if self.config.eager_push {
            out.len() + ROTATION_WITH_PUSH
        } else {
            HEADS_MAX
        };
        // Bounded by n: each interest is looked at once at most.
        while taken < n && out.len() < limit && !out.is_full() {
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

    /// Time passed: expire old wants, send what waits (pushes, introductions, a new
    /// fork proof's push) and gossip heads to one random peer that is not banned.
    pub fn tick<R: Rng + ?Sized, O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        rng: &mut R,
        out: &mut O,
    ) {
        self.now_ms = self.now_ms.max(now_ms);
        self.drop_expired(now_ms);
        self.send_pushes(now_ms, false, out);
        let n = self.peers.len();
        if n == 0 {
            return;
        }
        self.push_forks(now_ms, rng, out);
        self.introduce(now_ms, out);
        // With eager pushes, news has gone out already: a node with nothing new since
        // its last announcement gossips only every QUIET_TICKS-th tick (anti-entropy).
        if self.config.eager_push && !self.news && self.quiet < QUIET_TICKS - 1 {
            self.quiet += 1;
            return;
        }
        self.quiet = 0;
        self.news = false;
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
        if let Some(p) = self.peer_index(peer).and_then(|i| self.peers.get_mut(i)) {
            p.introduced = true;
        }
        self.send_heads(peer, out);
    }

    /// Sends `peer` this node's heads (see `heads_to_announce`).
    pub(super) fn send_heads<O: Outbox + ?Sized>(&mut self, peer: PeerId, out: &mut O) {
        let heads = self.heads_to_announce();
        let msg = Message::Heads {
            reply: self.config.mode == GossipMode::PushPull,
            heads,
        };
        if out.send(peer, &msg).is_err() {
            self.stats.outbox_full += 1;
        }
    }

    /// Pushes each newly learned proof to [`FORK_PUSH_FANOUT`] random live peers not
    /// known to hold it (a few draws each; bounded).
    fn push_forks<R: Rng + ?Sized, O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        rng: &mut R,
        out: &mut O,
    ) {
        let n = self.peers.len();
        for fi in core::mem::take(&mut self.fork_push) {
            let Some(proof) = self.forks.get(fi).copied() else {
                continue;
            };
            let mut sent = 0;
            for _ in 0..FORK_PUSH_FANOUT * 4 {
                if sent == FORK_PUSH_FANOUT || n == 0 {
                    break;
                }
                let i = (rng.next_u32() as usize) % n;
                let Some(p) = self.peers.get_mut(i) else {
                    continue;
                };
                let Some(last) = p.fork_sent_ms.get_mut(fi) else {
                    continue;
                };
                if p.gone || p.banned_until_ms > now_ms || *last != 0 {
                    continue;
                }
                *last = now_ms.max(1);
                sent += 1;
                let id = p.id;
                if out.send(id, &Message::Fork(proof)).is_err() {
                    self.stats.outbox_full += 1;
                    return;
                }
            }
        }
    }

    /// Sends `peer` the fork proofs it has not had from us within the resend interval
    /// and is not known to hold, only those against authors listed in `about` without
    /// the forked mark (the pull half: a peer that announces a forked author's head
    /// learns of the fork in return).
    pub(super) fn send_forks<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        peer: PeerId,
        about: &[HeadEntry],
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
            if !about
                .iter()
                .any(|e| e.author == proof.author() && !e.forked)
            {
                continue;
            }
            let Some(p) = self.peers.get_mut(pi) else {
                return;
            };
            let Some(last) = p.fork_sent_ms.get_mut(i) else {
                return;
            };
            if *last == HOLDS || (*last != 0 && now_ms.saturating_sub(*last) < interval) {
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
