//! The replication state machine.
//!
//! The [`Node`] and the types of its API live here; its methods are split by concern:
//!
//! - `peers`: the peer table (ids, scores, penalties, bans, eviction);
//! - `wants`: wants in flight and blocks parked until their predecessor arrives;
//! - `gossip`: what a tick announces (heads, fork proofs) and to whom;
//! - `push`: eager delivery: which peers share which interests, heads pushed to them;
//! - `handle`: what a received message does;
//! - `forks`: received fork proofs (checked for relevance and replay before their
//!   signatures).

mod forks;
mod gossip;
mod handle;
mod peers;
mod push;
mod wants;

use crate::chain::{ChainError, ChainState, ForkProof, Head, HeaderSource, SignatureCheck};
use crate::sig::{KeyPair, PublicKey};
use crate::sync::message::Message;
use crate::wire::WireError;
use crate::wire::header::{BlockKind, Header};
use forks::{SEEN_FORKS_MAX, SeenFork};
use gossip::RECENT_MAX;
pub use gossip::{FORK_PUSH_FANOUT, QUIET_TICKS, ROTATION_WITH_PUSH};
use heapless::Vec;
use peers::Peer;
use push::PUSHES_PENDING_MAX;
pub use push::{INTRODUCE_PER_TICK, PUSH_FANOUT_MAX};
use wants::{Parked, PendingWant};
pub use wants::{WANT_HEDGE_MS, WANT_PEERS_MAX, WantEnd};

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
    /// Score lost for heads not backed by blocks: a want for blocks the peer announced
    /// failed, or was answered without them ([`Node::want_ended`]).
    pub penalty_unbacked: i32,
    /// At or below this score a peer is banned.
    pub ban_score: i32,
    /// How long a ban lasts.
    pub ban_ms: u64,
    /// A fork proof is re-sent to the same peer at most once per this interval.
    pub fork_resend_ms: u64,
    /// Most `Want`s in flight to one peer for one author: the request pipeline. Each
    /// asks for up to [`WANT_COUNT_MAX`](crate::sync::message::WANT_COUNT_MAX) blocks,
    /// so a window of `w` keeps up to `16 w` blocks in flight per peer; size it to the
    /// bandwidth-delay product of the links (with 1, a chain is fetched one request,
    /// one round trip, at a time). Out-of-order answers are parked, so a node needs
    /// `PARKED` of about the window times [`WANT_PEERS_MAX`] blocks to make use of
    /// it, and `WANTS` room for as many wants.
    pub want_window: u8,
    /// Eager, interest-aware delivery: learn which peers follow which of this node's
    /// authors, and push a head to them as soon as a new block of that author is
    /// stored (see the `push` module). Off, news spreads by gossip ticks alone (the
    /// reference model of push-pull gossip measures exactly that).
    pub eager_push: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            mode: GossipMode::PushPull,
            want_timeout_ms: 2_000,
            penalty_invalid: 25,
            penalty_malformed: 10,
            penalty_unbacked: 10,
            ban_score: -50,
            ban_ms: 60_000,
            fork_resend_ms: 5_000,
            want_window: 1,
            eager_push: true,
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
    /// Blocks received out of order and dropped, or dropped from the parking table
    /// (re-requested later).
    pub out_of_order: u64,
    /// Blocks received ahead of a missing one and kept until it arrives. Each is counted
    /// again when it is applied (stored, or a duplicate), so the blocks received are
    /// `blocks_stored + duplicates + out_of_order` (plus the rejected ones).
    pub parked: u64,
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
    /// Heads pushed eagerly to peers that share the author (messages).
    pub pushes: u64,
    /// Stored authors whose push was dropped because too many waited (gossip carries
    /// them instead).
    pub pushes_dropped: u64,
    /// Fork proofs dropped without a signature check: already seen, about an author
    /// this node does not follow, or one it already holds a proof against.
    pub forks_ignored: u64,
    /// Fork proofs refused as a replay or flood (the sender was penalised).
    pub forks_replayed: u64,
    /// Wants for announced blocks that failed or came back without them (the peer that
    /// announced them was penalised).
    pub unbacked: u64,
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

/// How long a followed author whose block the store refused (its quota, or no room)
/// is not fetched from again: one minute.
pub const REFUSED_RETRY_MS: u64 = 60_000;

/// Most authors remembered as refused at once (the one whose pause ends first makes
/// room): a store refuses few authors at a time, and a table as large as `AUTHORS`
/// would cost 40 bytes per followed author on every node.
pub const REFUSED_MAX: usize = 16;

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
    /// The replicated authors, sorted (own chain included).
    interests: Vec<PublicKey, AUTHORS>,
    wants: Vec<PendingWant, WANTS>,
    forks: Vec<ForkProof, FORKS>,
    /// Digests of fork proofs received lately (bounded; oldest evicted).
    seen_forks: Vec<SeenFork, SEEN_FORKS_MAX>,
    /// The latest time the caller passed in (the clock of peer ages).
    now_ms: u64,
    recent: Vec<PublicKey, RECENT_MAX>,
    parked: Vec<Parked, PARKED>,
    stored: Vec<Stored, STORED_NOTICES_MAX>,
    rotation: usize,
    /// A head advanced since the last gossip (see `QUIET_TICKS`).
    news: bool,
    /// Ticks skipped in a row for lack of news.
    quiet: u8,
    /// Fork proofs (indices into `forks`) learned since the last tick: the tick pushes
    /// them to a few random peers.
    fork_push: Vec<usize, FORKS>,
    /// Authors with a block stored whose head is not yet pushed, and the peer the
    /// blocks came from (it holds them: no push back).
    pushes: Vec<(PublicKey, Option<PeerId>), PUSHES_PENDING_MAX>,
    /// Followed authors whose block the store refused (its quota, or no room), with the
    /// time until which they are not fetched again: no download loop.
    refused: Vec<(PublicKey, u64), REFUSED_MAX>,
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
            seen_forks: Vec::new(),
            now_ms: 0,
            recent: Vec::new(),
            parked: Vec::new(),
            stored: Vec::new(),
            rotation: 0,
            news: false,
            quiet: 0,
            fork_push: Vec::new(),
            pushes: Vec::new(),
            refused: Vec::new(),
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

    /// True if this node holds a fork proof against `author`; returns the forked seq.
    pub fn forked_at(&self, author: &PublicKey) -> Option<u64> {
        self.forks
            .iter()
            .find(|f| f.author() == *author)
            .map(|f| f.seq())
    }

    /// Replicates `author`'s chain. Returns false if the set is full.
    pub fn follow(&mut self, author: PublicKey) -> bool {
        match self.interests.binary_search(&author) {
            Ok(_) => true,
            Err(at) => self.interests.insert(at, author).is_ok(),
        }
    }

    /// Stops replicating `author` (stored blocks stay).
    pub fn unfollow(&mut self, author: &PublicKey) {
        if *author != self.me
            && let Ok(at) = self.interests.binary_search(author)
        {
            self.interests.remove(at);
        }
    }

    /// True if this node replicates `author` (a binary search: the set is kept sorted,
    /// and a node following hundreds of authors asks this for every head it hears).
    pub fn follows(&self, author: &PublicKey) -> bool {
        self.interests.binary_search(author).is_ok()
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
        self.queue_push(author, None);
        Ok(h)
    }
}
