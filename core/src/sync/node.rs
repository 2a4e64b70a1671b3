//! The replication state machine.

use crate::chain::{ChainError, ChainState, ForkProof, Head, HeaderSource, SignatureCheck};
use crate::hash::Hash;
use crate::sig::{KeyPair, PublicKey};
use crate::sync::message::{HEADS_MAX, HeadEntry, Message, WANT_COUNT_MAX};
use crate::wire::WireError;
use crate::wire::header::{BlockKind, Header, PAYLOAD_LEN_MAX};
use heapless::Vec;
use rand_core::Rng;

/// A peer's transport-level identity, assigned by the caller.
pub type PeerId = u32;

/// The store is full: the block was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StoreFull;

/// What replication needs from a block store. Blocks reach `append` only after the
/// chain validator accepted them.
pub trait SyncStore {
    /// The head of `author`'s chain, if any block is stored.
    fn head(&mut self, author: &PublicKey) -> Option<Head>;
    /// The stored header at (`author`, `seq`).
    fn header(&mut self, author: &PublicKey, seq: u64) -> Option<Header>;
    /// Copies the stored payload at (`author`, `seq`) into `buf`, returning its length;
    /// `None` if the block or its payload is not stored.
    fn payload(&mut self, author: &PublicKey, seq: u64, buf: &mut [u8]) -> Option<usize>;
    /// Stores a verified block that extends `author`'s head.
    ///
    /// # Errors
    /// [`StoreFull`] when there is no room.
    fn append(&mut self, header: &Header, payload: Option<&[u8]>) -> Result<(), StoreFull>;
}

/// The outbox refused a message (it is full).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OutboxFull;

/// Where a node puts the messages it wants sent. Bounded by the caller.
pub trait Outbox {
    /// Queues `msg` for `to`.
    ///
    /// # Errors
    /// [`OutboxFull`]: the node drops the message and carries on.
    fn send(&mut self, to: PeerId, msg: &Message<'_>) -> Result<(), OutboxFull>;
}

/// Gossip style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GossipMode {
    /// Announce heads; the receiver pulls what it lacks and answers with newer heads.
    PushPull,
    /// Announce heads; the receiver only pulls (rumor "push" with fanout 1).
    Push,
}

/// Tuning knobs, with units in their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Gossip style.
    pub mode: GossipMode,
    /// How long a sent `Want` suppresses a duplicate request for the same block.
    pub want_timeout_ms: u64,
    /// Score lost for an invalid block or fork proof.
    pub penalty_invalid: i32,
    /// Score lost for a malformed message.
    pub penalty_malformed: i32,
    /// At or below this score a peer is banned.
    pub ban_score: i32,
    /// How long a ban lasts.
    pub ban_ms: u64,
    /// A fork proof is re-sent to the same peer at most once per this interval.
    pub fork_resend_ms: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mode: GossipMode::PushPull,
            want_timeout_ms: 2_000,
            penalty_invalid: 25,
            penalty_malformed: 10,
            ban_score: -50,
            ban_ms: 60_000,
            fork_resend_ms: 5_000,
        }
    }
}

/// Counters, for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NodeStats {
    /// Blocks verified and stored.
    pub blocks_stored: u64,
    /// Blocks received that were already stored (cheap: no signature check).
    pub duplicates: u64,
    /// Blocks received out of order and dropped (re-requested later).
    pub out_of_order: u64,
    /// Blocks or messages rejected as invalid.
    pub invalid: u64,
    /// Blocks for authors this node does not replicate, ignored.
    pub unsolicited: u64,
    /// Messages ignored because their sender is banned.
    pub from_banned: u64,
    /// Messages dropped because the outbox was full.
    pub outbox_full: u64,
    /// Blocks not stored because the store was full.
    pub store_full: u64,
    /// `Want` messages sent.
    pub wants_sent: u64,
    /// Fork proofs learned.
    pub forks: u64,
}

/// Why a message was not processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HandleError {
    /// The bytes are not a valid message; the sender was penalised.
    Malformed(WireError),
    /// A block failed validation; the sender was penalised.
    Invalid(ChainError),
    /// The sender is banned.
    Banned,
}

#[derive(Clone, Copy, Debug)]
struct Peer<const FORKS: usize> {
    id: PeerId,
    score: i32,
    banned_until_ms: u64,
    /// When each remembered fork proof was last sent to this peer (0: never).
    fork_sent_ms: [u64; FORKS],
}

/// A `Want` in flight: blocks `from..end` of `author`, requested at `sent_ms`.
#[derive(Clone, Copy, Debug)]
struct PendingWant {
    author: PublicKey,
    from: u64,
    end: u64,
    sent_ms: u64,
}

/// A block that arrived ahead of its predecessor, kept until the gap fills.
#[derive(Clone, Debug)]
struct Parked {
    from: PeerId,
    author: PublicKey,
    seq: u64,
    header: [u8; crate::wire::header::HEADER_LEN],
    payload: Option<Vec<u8, PAYLOAD_LEN_MAX>>,
}

/// A block this node just verified and stored (see [`Node::take_stored`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stored {
    /// Whose block.
    pub author: PublicKey,
    /// Its seq.
    pub seq: u64,
    /// Its timestamp.
    pub timestamp_ms: u64,
}

/// How many stored-block notices are kept for the caller before the oldest is dropped.
pub const STORED_NOTICES_MAX: usize = 32;

/// How far ahead of the head a block may be and still be parked.
const PARK_AHEAD_MAX: u64 = 32;

/// How many recently advanced authors are announced ahead of the rotation.
const RECENT_MAX: usize = 8;

/// Adapts a [`SyncStore`] to one author's [`HeaderSource`].
struct AuthorSource<'s, S: SyncStore> {
    store: &'s mut S,
    author: PublicKey,
}

impl<S: SyncStore> HeaderSource for AuthorSource<'_, S> {
    fn header_at(&mut self, seq: u64) -> Option<Header> {
        self.store.header(&self.author, seq)
    }
}

/// A replicating node: its store, peers, the authors it follows, and wants in flight.
///
/// Capacities are const generics: `PEERS` peers, `AUTHORS` replicated authors
/// (including its own), `WANTS` wants in flight, `FORKS` remembered fork proofs, and
/// `PARKED` blocks that arrived out of order (links may reorder) and wait for their
/// predecessor (each costs about 1.3 KB).
pub struct Node<
    S,
    C,
    const PEERS: usize,
    const AUTHORS: usize,
    const WANTS: usize,
    const FORKS: usize,
    const PARKED: usize,
> where
    S: SyncStore,
    C: SignatureCheck,
{
    me: PublicKey,
    store: S,
    sigs: C,
    config: Config,
    peers: Vec<Peer<FORKS>, PEERS>,
    interests: Vec<PublicKey, AUTHORS>,
    wants: Vec<PendingWant, WANTS>,
    forks: Vec<ForkProof, FORKS>,
    recent: Vec<PublicKey, RECENT_MAX>,
    parked: Vec<Parked, PARKED>,
    stored: Vec<Stored, STORED_NOTICES_MAX>,
    rotation: usize,
    /// A fork proof arrived since the last tick: offer it to every peer.
    fork_flood: bool,
    stats: NodeStats,
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
    /// A node for identity `me`, replicating its own chain.
    pub fn new(me: PublicKey, store: S, sigs: C, config: Config) -> Self {
        let mut interests = Vec::new();
        let _ = interests.push(me);
        Node {
            me,
            store,
            sigs,
            config,
            peers: Vec::new(),
            interests,
            wants: Vec::new(),
            forks: Vec::new(),
            recent: Vec::new(),
            parked: Vec::new(),
            stored: Vec::new(),
            rotation: 0,
            fork_flood: false,
            stats: NodeStats::default(),
        }
    }

    /// This node's identity.
    pub fn me(&self) -> PublicKey {
        self.me
    }

    /// The counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// The store.
    pub fn store(&mut self) -> &mut S {
        &mut self.store
    }

    /// The store, read-only.
    pub fn store_ref(&self) -> &S {
        &self.store
    }

    /// Consumes the node, returning its store (for a simulated crash).
    pub fn into_store(self) -> S {
        self.store
    }

    /// Takes the notices of blocks stored from peers since the last call (at most
    /// [`STORED_NOTICES_MAX`]; older ones are dropped if the caller does not collect).
    pub fn take_stored(&mut self) -> Vec<Stored, STORED_NOTICES_MAX> {
        core::mem::take(&mut self.stored)
    }

    /// Fork proofs this node holds.
    pub fn forks(&self) -> &[ForkProof] {
        &self.forks
    }

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

    /// Replicates `author`'s chain. Returns false if the set is full.
    pub fn follow(&mut self, author: PublicKey) -> bool {
        self.interests.contains(&author) || self.interests.push(author).is_ok()
    }

    /// Stops replicating `author` (stored blocks stay).
    pub fn unfollow(&mut self, author: &PublicKey) {
        if *author != self.me {
            self.interests.retain(|a| a != author);
        }
    }

    /// True if this node replicates `author`.
    pub fn follows(&self, author: &PublicKey) -> bool {
        self.interests.contains(author)
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

    fn peer_index(&self, id: PeerId) -> Option<usize> {
        self.peers.iter().position(|p| p.id == id)
    }

    fn penalise(&mut self, id: PeerId, by: i32, now_ms: u64) {
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

    /// Appends a block to this node's own chain (the caller holds the keys).
    ///
    /// # Errors
    /// Any [`ChainError`] of [`ChainState::append`], or [`ChainError::Oversize`] if
    /// the store is full.
    pub fn append_own(
        &mut self,
        keys: &KeyPair,
        kind: BlockKind,
        now_ms: u64,
        payload: &[u8],
    ) -> Result<Header, ChainError> {
        let author = keys.public();
        let mut state = ChainState::resume(author, self.store.head(&author))?;
        let h = {
            let mut src = AuthorSource {
                store: &mut self.store,
                author,
            };
            state.append(keys, kind, now_ms, payload, &mut src)?
        };
        self.store
            .append(&h, Some(payload))
            .map_err(|_| ChainError::Oversize {
                len: payload.len(),
                max: 0,
            })?;
        self.mark_recent(author);
        Ok(h)
    }

    /// Remembers that `author`'s head just advanced, so it is announced first.
    fn mark_recent(&mut self, author: PublicKey) {
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

    /// True if this node holds a fork proof against `author`; returns the forked seq.
    pub fn forked_at(&self, author: &PublicKey) -> Option<u64> {
        self.forks
            .iter()
            .find(|f| f.author() == *author)
            .map(|f| f.seq())
    }

    /// Processes one received message from `from`.
    ///
    /// # Errors
    /// [`HandleError`] when the message is refused; the node's stored data is never
    /// affected by a refused message.
    pub fn handle<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        from: PeerId,
        bytes: &[u8],
        out: &mut O,
    ) -> Result<(), HandleError> {
        if self.is_banned(from, now_ms) {
            self.stats.from_banned += 1;
            return Err(HandleError::Banned);
        }
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_malformed, now_ms);
                return Err(HandleError::Malformed(e));
            }
        };
        match msg {
            Message::Heads { reply, heads } => {
                self.on_heads(now_ms, from, reply, &heads, out);
                Ok(())
            }
            Message::Want {
                author,
                from_seq,
                count,
            } => {
                self.on_want(from, author, from_seq, count, out);
                Ok(())
            }
            Message::Block { header, payload } => {
                let r = self.on_block(now_ms, from, header, payload);
                self.drain_parked(now_ms);
                r
            }
            Message::Fork(proof) => {
                // Only about authors we replicate: anyone can fork their own chain, so
                // proofs about strangers would just fill the table.
                if self.follows(&proof.author()) {
                    self.remember_fork(proof);
                }
                Ok(())
            }
        }
    }

    fn expire_wants(&mut self, now_ms: u64) {
        let timeout = self.config.want_timeout_ms;
        self.wants
            .retain(|w| now_ms.saturating_sub(w.sent_ms) < timeout);
    }

    /// The end of the run of blocks of `author` already requested from `from` on (so
    /// a new want starts there), or `from` if none is.
    fn requested_until(&self, author: &PublicKey, from: u64) -> u64 {
        self.wants
            .iter()
            .filter(|w| w.author == *author && w.from <= from && w.end > from)
            .map(|w| w.end)
            .max()
            .unwrap_or(from)
    }

    fn send_want<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        to: PeerId,
        author: PublicKey,
        from_seq: u64,
        count: u8,
        out: &mut O,
    ) {
        self.expire_wants(now_ms);
        let end = from_seq.saturating_add(u64::from(count));
        let from_seq = self.requested_until(&author, from_seq);
        if from_seq >= end {
            return; // all already requested
        }
        let count = (end - from_seq).min(u64::from(WANT_COUNT_MAX)) as u8;
        let msg = Message::Want {
            author,
            from_seq,
            count,
        };
        if out.send(to, &msg).is_err() {
            self.stats.outbox_full += 1;
            return;
        }
        self.stats.wants_sent += 1;
        let w = PendingWant {
            author,
            from: from_seq,
            end,
            sent_ms: now_ms,
        };
        if self.wants.push(w).is_err() {
            // Table full: forget the oldest, so the newest want is remembered.
            if !self.wants.is_empty() {
                self.wants.remove(0);
            }
            let _ = self.wants.push(w);
        }
    }

    fn on_heads<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        from: PeerId,
        reply: bool,
        heads: &[HeadEntry],
        out: &mut O,
    ) {
        let mut answer: Vec<HeadEntry, HEADS_MAX> = Vec::new();
        for e in heads {
            let mine = self.store.head(&e.author);
            let my_seq = mine.map_or(0, |h| h.seq);
            if self.follows(&e.author) {
                if e.seq > my_seq {
                    let count = (e.seq - my_seq).min(u64::from(WANT_COUNT_MAX)) as u8;
                    self.send_want(now_ms, from, e.author, my_seq + 1, count, out);
                } else if e.seq > 0 {
                    // Same or older seq: a different id there means a fork; fetch it.
                    let stored = self.store.header(&e.author, e.seq).map(|h| h.id());
                    if stored.is_some_and(|id| id != e.id) {
                        self.send_want(now_ms, from, e.author, e.seq, 1, out);
                    }
                }
            }
            if reply
                && let Some(h) = mine
                && h.seq > e.seq
            {
                let _ = answer.push(HeadEntry {
                    author: e.author,
                    seq: h.seq,
                    id: h.id,
                });
            }
        }
        if !answer.is_empty()
            && out
                .send(
                    from,
                    &Message::Heads {
                        reply: false,
                        heads: answer,
                    },
                )
                .is_err()
        {
            self.stats.outbox_full += 1;
        }
    }

    fn on_want<O: Outbox + ?Sized>(
        &mut self,
        to: PeerId,
        author: PublicKey,
        from_seq: u64,
        count: u8,
        out: &mut O,
    ) {
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        for seq in from_seq..from_seq.saturating_add(u64::from(count)) {
            let Some(h) = self.store.header(&author, seq) else {
                break;
            };
            let len = self.store.payload(&author, seq, &mut buf);
            let bytes = h.to_bytes();
            let payload = len.and_then(|l| buf.get(..l));
            if out.send(to, &Message::block(&bytes, payload)).is_err() {
                self.stats.outbox_full += 1;
                break;
            }
        }
    }

    fn on_block(
        &mut self,
        now_ms: u64,
        from: PeerId,
        header: &[u8; crate::wire::header::HEADER_LEN],
        payload: Option<&[u8]>,
    ) -> Result<(), HandleError> {
        let author = match Header::decode(header) {
            Ok(h) => h.author,
            Err(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_invalid, now_ms);
                return Err(HandleError::Invalid(ChainError::from(e)));
            }
        };
        if !self.follows(&author) {
            self.stats.unsolicited += 1;
            return Ok(());
        }
        let head = self.store.head(&author);
        let mut state = match ChainState::resume(author, head) {
            Ok(s) => s,
            Err(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_invalid, now_ms);
                return Err(HandleError::Invalid(e));
            }
        };
        let verdict = {
            let mut src = AuthorSource {
                store: &mut self.store,
                author,
            };
            state.verify_next_with(header, payload, &mut src, &mut self.sigs)
        };
        match verdict {
            Ok(h) => {
                // A want is done once its last block arrived.
                self.wants
                    .retain(|w| !(w.author == author && h.seq.saturating_add(1) >= w.end));
                if self.store.append(&h, payload).is_err() {
                    self.stats.store_full += 1;
                } else {
                    self.stats.blocks_stored += 1;
                    self.mark_recent(author);
                    if self.stored.is_full() {
                        self.stored.remove(0);
                    }
                    let _ = self.stored.push(Stored {
                        author,
                        seq: h.seq,
                        timestamp_ms: h.timestamp_ms,
                    });
                }
                Ok(())
            }
            Err(ChainError::SeqReplay { .. }) => {
                self.stats.duplicates += 1;
                Ok(())
            }
            Err(ChainError::SeqGap { expected, got }) => {
                self.stats.out_of_order += 1;
                if got - expected < PARK_AHEAD_MAX {
                    self.park(from, author, got, header, payload);
                }
                Ok(())
            }
            Err(ChainError::SkipUnavailable { .. }) => {
                self.stats.out_of_order += 1;
                Ok(())
            }
            Err(ChainError::Forked { seq }) => {
                let theirs = Header::decode(header).ok();
                let ours = self.store.header(&author, seq);
                if let (Some(a), Some(b)) = (ours, theirs)
                    && let Ok(p) = ForkProof::new(a, b)
                {
                    self.remember_fork(p);
                }
                Ok(())
            }
            Err(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_invalid, now_ms);
                Err(HandleError::Invalid(e))
            }
        }
    }

    /// Keeps a block that arrived before its predecessor (oldest evicted when full).
    fn park(
        &mut self,
        from: PeerId,
        author: PublicKey,
        seq: u64,
        header: &[u8; crate::wire::header::HEADER_LEN],
        payload: Option<&[u8]>,
    ) {
        if PARKED == 0
            || self
                .parked
                .iter()
                .any(|p| p.author == author && p.seq == seq)
        {
            return;
        }
        let payload = match payload {
            Some(p) => match Vec::from_slice(p) {
                Ok(v) => Some(v),
                Err(_) => return,
            },
            None => None,
        };
        if self.parked.is_full() {
            self.parked.remove(0);
        }
        let _ = self.parked.push(Parked {
            from,
            author,
            seq,
            header: *header,
            payload,
        });
    }

    /// Applies parked blocks whose predecessor is now stored. Bounded: each pass
    /// removes one parked block, and there are at most `PARKED`.
    fn drain_parked(&mut self, now_ms: u64) {
        for _ in 0..PARKED {
            let ready = self.parked.iter().position(|p| {
                let head = self.store.head(&p.author).map_or(0, |h| h.seq);
                p.seq <= head.saturating_add(1)
            });
            let Some(i) = ready else {
                return;
            };
            let p = self.parked.remove(i);
            let _ = self.on_block(now_ms, p.from, &p.header, p.payload.as_deref());
        }
    }

    fn remember_fork(&mut self, p: ForkProof) {
        if self.forks.iter().any(|f| f.author() == p.author()) {
            return;
        }
        if self.forks.push(p).is_ok() {
            self.stats.forks += 1;
            self.fork_flood = true;
        }
    }
}
