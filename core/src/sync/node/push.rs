//! Eager, interest-aware delivery ([`Config::eager_push`](super::Config::eager_push)).
//!
//! Gossip alone spreads a new block slowly through a large network: a node announces
//! its heads to one random peer per tick, and most peers do not follow most authors.
//! So a node also learns which of its peers share which of its interests, and pushes a
//! head to those peers as soon as it stores a new block of that author:
//!
//! - **Learning.** A peer that lists an author in its `Heads` (its own interests, or
//!   heads it holds) or sends a `Want` for it, replicates that author. If this node
//!   follows the author too, the peer's entry remembers a 4-byte tag of the key (at most
//!   `SHARED_TAGS` (8) per peer, the oldest replaced). A tag that collides costs one
//!   unneeded `Heads` message, nothing else.
//! - **Introduction.** A peer's first heads arrive only when its random gossip picks
//!   this node, so each tick also sends up to [`INTRODUCE_PER_TICK`] peers that have
//!   not had them yet the heads of every author this node replicates (once per peer,
//!   16 heads to a message).
//! - **Pushing.** When a block of author `a` is stored (received, or appended), `a` is
//!   queued. Once nothing more of `a` is being fetched (no want in flight), its head
//!   goes to every live peer whose entry holds `a`'s tag, at most [`PUSH_FANOUT_MAX`].
//!   Only the head is pushed: a peer that lacks the block asks for it with a `Want`,
//!   and wants in flight suppress duplicates, so each block still crosses a link about
//!   once however many peers announce it.

use super::{GossipMode, Node, Outbox, PeerId, SyncStore};
use crate::chain::SignatureCheck;
use crate::sig::PublicKey;
use crate::sync::message::{HEADS_MAX, HeadEntry, Message};
use heapless::Vec;

/// How many shared interests a peer entry remembers.
pub(super) const SHARED_TAGS: usize = 8;

/// Most peers one stored block's head is pushed to.
pub const PUSH_FANOUT_MAX: usize = 16;

/// Authors stored and waiting to be pushed (more are dropped: gossip still carries
/// them, one tick later).
pub(super) const PUSHES_PENDING_MAX: usize = 16;

/// Most peers introduced (sent this node's heads for the first time) per tick.
pub const INTRODUCE_PER_TICK: usize = 8;

/// The tag of an author key in a peer's shared interests (never 0, the empty slot).
pub(super) fn tag(author: &PublicKey) -> u32 {
    let [a, b, c, d, ..] = author.0;
    u32::from_le_bytes([a, b, c, d]).max(1)
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
    /// The peer at `peer_index` replicates `author`, which this node follows too:
    /// remembered for pushes.
    pub(super) fn note_interest(&mut self, peer_index: Option<usize>, author: &PublicKey) {
        if !self.config.eager_push {
            return;
        }
        let t = tag(author);
        let Some(p) = peer_index.and_then(|i| self.peers.get_mut(i)) else {
            return;
        };
        if p.shared.contains(&t) {
            return;
        }
        let slot = usize::from(p.shared_next) % SHARED_TAGS;
        if let Some(s) = p.shared.get_mut(slot) {
            *s = t;
        }
        p.shared_next = u8::try_from((slot + 1) % SHARED_TAGS).unwrap_or(0);
    }

    /// A block of `author` was stored (sent by `from`, if a peer sent it): push its
    /// head once the fetch settles, to every sharing peer but `from`.
    pub(super) fn queue_push(&mut self, author: PublicKey, from: Option<PeerId>) {
        if !self.config.eager_push {
            return;
        }
        if let Some(p) = self.pushes.iter_mut().find(|(a, _)| *a == author) {
            // Blocks from two peers: neither is known to hold the newest.
            if p.1 != from {
                p.1 = None;
            }
            return;
        }
        if self.pushes.is_full() {
            self.pushes.remove(0);
            self.stats.pushes_dropped += 1;
        }
        let _ = self.pushes.push((author, from));
    }

    /// Sends the queued pushes. With `settled_only`, an author with wants still in
    /// flight waits (its head is pushed when the last block arrives, not once per
    /// block).
    pub(super) fn send_pushes<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        settled_only: bool,
        out: &mut O,
    ) {
        let mut i = 0;
        // Bounded by PUSHES_PENDING_MAX: each pass removes an entry or moves past it.
        while let Some((author, from)) = self.pushes.get(i).copied() {
            if settled_only && self.wants.iter().any(|w| w.author == author) {
                i += 1;
                continue;
            }
            self.pushes.remove(i);
            self.push_head(now_ms, author, from, out);
        }
    }

    /// Sends the queued pushes now, whatever is in flight: for a caller that just
    /// appended with [`Node::append_own`] (which has no outbox), so the new block's
    /// head leaves at once instead of at the next tick or message.
    pub fn flush<O: Outbox + ?Sized>(&mut self, now_ms: u64, out: &mut O) {
        self.now_ms = self.now_ms.max(now_ms);
        self.send_pushes(now_ms, false, out);
    }

    fn push_head<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        author: PublicKey,
        from: Option<PeerId>,
        out: &mut O,
    ) {
        let mut heads: Vec<HeadEntry, HEADS_MAX> = Vec::new();
        let _ = heads.push(self.head_entry(author));
        let msg = Message::Heads {
            reply: false,
            heads,
        };
        let t = tag(&author);
        let mut sent = 0;
        for k in 0..self.peers.len() {
            let Some(p) = self.peers.get(k) else { break };
            if p.gone || p.banned_until_ms > now_ms || Some(p.id) == from || !p.shared.contains(&t)
            {
                continue;
            }
            if sent == PUSH_FANOUT_MAX {
                break;
            }
            if out.send(p.id, &msg).is_err() {
                self.stats.outbox_full += 1;
                return;
            }
            sent += 1;
            self.stats.pushes += 1;
        }
    }

    /// Sends up to [`INTRODUCE_PER_TICK`] live peers that have not had them yet this
    /// node's heads for every author it replicates (16 to a message), so they learn
    /// its interests at once instead of one random tick at a time.
    pub(super) fn introduce<O: Outbox + ?Sized>(&mut self, now_ms: u64, out: &mut O) {
        if !self.config.eager_push {
            return;
        }
        let mut introduced = 0;
        for k in 0..self.peers.len() {
            if introduced == INTRODUCE_PER_TICK {
                break;
            }
            if self.introduce_to(k, now_ms, out) {
                introduced += 1;
            }
        }
    }

    /// Introduces this node to the peer at index `k` if it has not been yet (see
    /// [`Node::introduce`]). Returns whether it sent.
    fn introduce_to<O: Outbox + ?Sized>(&mut self, k: usize, now_ms: u64, out: &mut O) -> bool {
        if !self.config.eager_push {
            return false;
        }
        let Some(p) = self.peers.get_mut(k) else {
            return false;
        };
        if p.introduced || p.gone || p.banned_until_ms > now_ms {
            return false;
        }
        p.introduced = true;
        let id = p.id;
        let reply = self.config.mode == GossipMode::PushPull;
        // Bounded by AUTHORS / HEADS_MAX messages.
        for chunk in 0..self.interests.len().div_ceil(HEADS_MAX) {
            let mut heads: Vec<HeadEntry, HEADS_MAX> = Vec::new();
            for i in chunk * HEADS_MAX..(chunk + 1) * HEADS_MAX {
                let Some(a) = self.interests.get(i).copied() else {
                    break;
                };
                let _ = heads.push(self.head_entry(a));
            }
            if out.send(id, &Message::Heads { reply, heads }).is_err() {
                self.stats.outbox_full += 1;
                break;
            }
        }
        true
    }
}
