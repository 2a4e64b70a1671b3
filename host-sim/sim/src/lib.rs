//! A deterministic discrete-event simulator of glitter nodes.
//!
//! One seed drives everything: a root seed is split into independent ChaCha streams,
//! one per concern (network, node order, workload, and one per node for its gossip
//! choices), so changing how often one concern draws never shifts another. Time is a
//! simulated clock in ms; events sit in a queue ordered by (time, insertion order), so
//! two runs of one seed process the same events in the same order. Every processed
//! event is folded into a trace hash; the determinism test compares those. The
//! simulator reads no clock and no OS randomness, opens no socket and prints nothing:
//! what a run finds is in its outcome, and what stops it is a [`SimError`].
//!
//! A step ([`Sim::step`]) pops the earliest event and runs it:
//! - `Tick(node)`: the node gossips (its `tick`), and the next tick is scheduled;
//! - `Deliver(to, from, bytes)`: the node handles the message;
//!
//! and every message a node emits goes through the link model: dropped if the two
//! nodes are in different partitions, dropped with `drop_rate`, else delivered after a
//! uniform latency in `[latency_ms_min, latency_ms_max]` (jitter reorders messages
//! sent in different steps; a burst one step sends to one peer keeps its order, as on
//! one connection), and duplicated with `duplicate_rate` (the copy gets its own
//! latency, so it may overtake).

pub mod backup;
pub mod equivocate;
pub mod error;
mod link;
mod queue;
pub mod reference;
pub mod report;
pub mod scenarios;
pub mod sigcache;
mod stats;
pub mod store;
pub mod twin;

pub use error::SimError;
/// The one outbox of host code, shared with the libp2p node.
pub use glitter_host::outbox::VecOutbox;
pub use stats::{SimStats, Traffic};

use glitter_core::chain::ChainError;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::sync::{Config, GossipMode, Node};
use glitter_core::wire::header::{Header, PAYLOAD_LEN_MAX};
use link::EventKind;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sigcache::SigCache;
use store::{BlockPool, MemStore};

/// A simulated node: the real core `Node` over an in-memory store.
///
/// 128 peers, 512 followed authors, 64 wants, 4 fork proofs, 8 parked blocks: about
/// 52 KB per node, the bulk of a 100,000-person run's memory (`tests/footprint.rs`).
/// A node with more peers than its table holds keeps the most recently heard ones.
pub type SimNode = Node<MemStore, SigCache, 128, 512, 64, 4, 8>;

/// Derives the seed of stream `stream` from the root seed (SplitMix64 finaliser).
pub fn stream_seed(root: u64, stream: u64) -> u64 {
    let mut z = root ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Stream ids.
mod streams {
    pub const NETWORK: u64 = 1;
    pub const ORDER: u64 = 2;
    pub const KEYS: u64 = 4;
    pub const STORAGE: u64 = 5;
    pub const NODE_BASE: u64 = 1_000;
}

/// A uniform float in [0, 1) from an RNG.
pub fn unit(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform integer in [lo, hi].
pub fn range(rng: &mut impl Rng, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    lo + rng.next_u64() % (hi - lo + 1)
}

/// Encodes `payload` and appends it to `keys`' own chain in `node`: the one way the
/// simulator appends through a node (the node signs, stores, and announces the block
/// first).
///
/// # Errors
/// The payload does not encode, or the chain refuses the block.
pub fn append_payload(
    node: &mut SimNode,
    keys: &KeyPair,
    payload: &Payload,
    now_ms: u64,
) -> Result<Header, ChainError> {
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let bytes = payload.encode(&mut buf)?;
    node.append_own(keys, payload.kind(), now_ms, bytes)
}

/// Every simulator knob, with its unit in its name. [`Builder::build`] validates them.
#[derive(Clone, Debug)]
pub struct Builder {
    /// Number of nodes (each is one person).
    pub nodes: usize,
    /// The root seed.
    pub seed: u64,
    /// Minimum one-way link latency.
    pub latency_ms_min: u64,
    /// Maximum one-way link latency.
    pub latency_ms_max: u64,
    /// Probability that a message is lost.
    pub drop_rate: f64,
    /// Probability that a message is delivered twice.
    pub duplicate_rate: f64,
    /// Time between a node's gossip ticks.
    pub tick_interval_ms: u64,
    /// Gossip style.
    pub mode: GossipMode,
    /// Most wants in flight to one peer for one author (`Config::want_window`).
    pub want_window: u8,
    /// Memoise signature verdicts on identical bytes across nodes (reported).
    pub memoise_signatures: bool,
    /// Eager, interest-aware delivery (`Config::eager_push`).
    pub eager_push: bool,
    /// Most messages one node may emit per step.
    pub outbox_max: usize,
    /// Persist every node's store in a simulated NOR flash (`FlashLog` over
    /// `RamNorFlash`): restarts recover from flash alone, and crashes may tear a write.
    pub flash_store: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            nodes: 20,
            seed: 1,
            latency_ms_min: 10,
            latency_ms_max: 100,
            drop_rate: 0.0,
            duplicate_rate: 0.0,
            tick_interval_ms: 1_000,
            mode: GossipMode::PushPull,
            want_window: 1,
            memoise_signatures: false,
            eager_push: true,
            outbox_max: 256,
            flash_store: false,
        }
    }
}

impl Builder {
    /// Validates the knobs and creates the simulation (nodes exist but know nobody).
    ///
    /// # Errors
    /// [`SimError::BadKnob`] naming the first bad knob, or [`SimError::Flash`] if a
    /// node's simulated flash does not format.
    pub fn build(&self) -> Result<Sim, SimError> {
        if self.nodes < 2 || self.nodes > 200_000 {
            return Err(SimError::bad_knob(
                "nodes",
                format!("nodes = {} (must be 2..=200000)", self.nodes),
            ));
        }
        if self.latency_ms_min > self.latency_ms_max {
            return Err(SimError::bad_knob(
                "latency_ms_min",
                format!(
                    "latency_ms_min {} > latency_ms_max {}",
                    self.latency_ms_min, self.latency_ms_max
                ),
            ));
        }
        for (name, p) in [
            ("drop_rate", self.drop_rate),
            ("duplicate_rate", self.duplicate_rate),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(SimError::bad_knob(
                    name,
                    format!("{name} = {p} (must be in [0, 1))"),
                ));
            }
        }
        if self.tick_interval_ms == 0 {
            return Err(SimError::bad_knob(
                "tick_interval_ms",
                "tick_interval_ms = 0 (must be positive)",
            ));
        }
        if self.outbox_max == 0 {
            return Err(SimError::bad_knob(
                "outbox_max",
                "outbox_max = 0 (must be positive)",
            ));
        }
        Sim::new(self.clone())
    }

    /// The configuration of every node (at build and at restart).
    fn node_config(&self) -> Config {
        Config {
            mode: self.mode,
            // A want suppresses duplicates for a little over one round trip.
            want_timeout_ms: (2 * self.latency_ms_max + self.tick_interval_ms).max(1),
            // A lost fork proof is offered again after two gossip rounds.
            fork_resend_ms: 2 * self.tick_interval_ms,
            want_window: self.want_window,
            eager_push: self.eager_push,
            ..Config::default()
        }
    }
}

/// The simulation.
pub struct Sim {
    cfg: Builder,
    now_ms: u64,
    queue: queue::EventQueue,
    order: u64,
    nodes: Vec<Option<SimNode>>,
    dormant: Vec<Option<MemStore>>,
    keys: Vec<KeyPair>,
    peers_of: Vec<Vec<u32>>,
    follows_of: Vec<Vec<PublicKey>>,
    node_rngs: Vec<ChaCha8Rng>,
    net: ChaCha8Rng,
    group: Vec<u8>,
    trace: u64,
    sigs: SigCache,
    stats: SimStats,
    index_of: std::collections::HashMap<PublicKey, u32>,
    storage: ChaCha8Rng,
    torn_crashes: u64,
}

impl Sim {
    fn new(cfg: Builder) -> Result<Sim, SimError> {
        let mut keyrng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, streams::KEYS));
        let sigs = SigCache::new(cfg.memoise_signatures);
        let pool = BlockPool::default();
        let node_config = cfg.node_config();
        let mut keys = Vec::with_capacity(cfg.nodes);
        let mut nodes = Vec::with_capacity(cfg.nodes);
        let mut node_rngs = Vec::with_capacity(cfg.nodes);
        let mut index_of = std::collections::HashMap::new();
        for i in 0..cfg.nodes {
            let k = loop {
                let mut seed = [0u8; 32];
                keyrng.fill_bytes(&mut seed);
                if let Ok(k) = KeyPair::from_seed(seed)
                    && k.public().validate().is_ok()
                {
                    break k;
                }
            };
            index_of.insert(k.public(), i as u32);
            let store = if cfg.flash_store {
                MemStore::with_flash(&pool).map_err(|source| SimError::Flash { node: i, source })?
            } else {
                MemStore::in_pool(&pool)
            };
            nodes.push(Some(SimNode::new(
                k.public(),
                store,
                sigs.clone(),
                node_config,
            )));
            keys.push(k);
            node_rngs.push(ChaCha8Rng::seed_from_u64(stream_seed(
                cfg.seed,
                streams::NODE_BASE + i as u64,
            )));
        }
        let mut order_rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, streams::ORDER));
        let mut sim = Sim {
            now_ms: 0,
            queue: queue::EventQueue::new(cfg.tick_interval_ms.max(cfg.latency_ms_max)),
            order: 0,
            dormant: (0..cfg.nodes).map(|_| None).collect(),
            peers_of: vec![Vec::new(); cfg.nodes],
            follows_of: vec![Vec::new(); cfg.nodes],
            node_rngs,
            net: ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, streams::NETWORK)),
            group: vec![0; cfg.nodes],
            trace: 0xcbf2_9ce4_8422_2325,
            sigs,
            stats: SimStats::default(),
            nodes,
            keys,
            index_of,
            storage: ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, streams::STORAGE)),
            torn_crashes: 0,
            cfg,
        };
        // First ticks at random phases, so nodes do not gossip in lock step.
        for i in 0..sim.cfg.nodes {
            let at = order_rng.next_u64() % sim.cfg.tick_interval_ms;
            sim.schedule(at, EventKind::Tick { node: i as u32 });
        }
        Ok(sim)
    }

    /// The settings.
    pub fn config(&self) -> &Builder {
        &self.cfg
    }

    /// Simulated time now.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True if there are no nodes (never, once built).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s keys.
    pub fn keys(&self, i: usize) -> &KeyPair {
        &self.keys[i]
    }

    /// Node `i`'s public key.
    pub fn author(&self, i: usize) -> PublicKey {
        self.keys[i].public()
    }

    /// The node index of an author key.
    pub fn index_of(&self, author: &PublicKey) -> Option<usize> {
        self.index_of.get(author).map(|i| *i as usize)
    }

    /// Node `i`, if it is up.
    pub fn node(&self, i: usize) -> Option<&SimNode> {
        self.nodes[i].as_ref()
    }

    /// Node `i` mutably, if it is up.
    pub fn node_mut(&mut self, i: usize) -> Option<&mut SimNode> {
        self.nodes[i].as_mut()
    }

    /// The counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// The signature cache (for its counters).
    pub fn sigs(&self) -> &SigCache {
        &self.sigs
    }

    /// The trace hash so far.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    fn fold(&mut self, words: &[u64]) {
        for w in words {
            for b in w.to_le_bytes() {
                self.trace ^= u64::from(b);
                self.trace = self.trace.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }

    /// Makes `a` and `b` gossip peers of each other.
    pub fn connect(&mut self, a: usize, b: usize) {
        if a == b || self.peers_of[a].contains(&(b as u32)) {
            return;
        }
        self.peers_of[a].push(b as u32);
        self.peers_of[b].push(a as u32);
        if let Some(n) = self.nodes[a].as_mut() {
            n.add_peer(b as u32);
        }
        if let Some(n) = self.nodes[b].as_mut() {
            n.add_peer(a as u32);
        }
    }

    /// Node `i`'s gossip peers (node indices).
    pub fn peers_of(&self, i: usize) -> &[u32] {
        &self.peers_of[i]
    }

    /// Makes `follower` replicate `author`'s chain.
    pub fn follow(&mut self, follower: usize, author: usize) {
        let a = self.author(author);
        if follower == author || self.follows_of[follower].contains(&a) {
            return;
        }
        self.follows_of[follower].push(a);
        if let Some(n) = self.nodes[follower].as_mut() {
            n.follow(a);
        }
    }

    /// Who `i` follows.
    pub fn follows_of(&self, i: usize) -> &[PublicKey] {
        &self.follows_of[i]
    }

    /// Node `i` posts `text` now. Returns the header.
    ///
    /// # Errors
    /// [`SimError::NodeDown`], or [`SimError::Chain`] if the post is invalid.
    pub fn post(&mut self, i: usize, text: &str) -> Result<Header, SimError> {
        let p = Payload::post(text, None)
            .map_err(ChainError::from)
            .map_err(SimError::chain(format!("node {i}")))?;
        let h = self.append(i, &p)?;
        self.stats.posts += 1;
        self.fold(&[4, i as u64, h.seq]);
        Ok(h)
    }

    /// Node `i` appends any payload to its own chain now. Returns the header.
    ///
    /// # Errors
    /// [`SimError::NodeDown`], or [`SimError::Chain`] if the payload is invalid.
    pub fn publish(&mut self, i: usize, payload: &Payload) -> Result<Header, SimError> {
        let h = self.append(i, payload)?;
        self.fold(&[9, i as u64, h.seq]);
        Ok(h)
    }

    /// Appends through node `i` (see [`append_payload`]); a torn flash write crashes
    /// the node.
    fn append(&mut self, i: usize, payload: &Payload) -> Result<Header, SimError> {
        let now = self.now_ms;
        let keys = &self.keys[i];
        let node = self.nodes[i]
            .as_mut()
            .ok_or(SimError::NodeDown { node: i })?;
        let h = append_payload(node, keys, payload, now);
        // The new head is pushed at once to the peers that share this author.
        let mut out = VecOutbox::new(self.cfg.outbox_max);
        node.flush(now, &mut out);
        self.send_all(i as u32, out);
        self.reap(i);
        h.map_err(SimError::chain(format!("node {i}")))
    }

    /// Node `i`'s store (up or down).
    pub fn store_of(&self, i: usize) -> Option<&MemStore> {
        match (&self.nodes[i], &self.dormant[i]) {
            (Some(n), _) => Some(n.store_ref()),
            (None, Some(s)) => Some(s),
            _ => None,
        }
    }

    /// Splits the network: `group[i]` is node i's side; messages between sides are lost.
    pub fn partition(&mut self, group: Vec<u8>) {
        assert_eq!(group.len(), self.nodes.len(), "one group per node");
        self.group = group;
        self.fold(&[5]);
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        self.group = vec![0; self.nodes.len()];
        self.fold(&[6]);
    }

    /// Crashes node `i`: its volatile state (wants in flight, peer scores) is lost, its
    /// store survives.
    pub fn crash(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            self.dormant[i] = Some(n.into_store());
            self.fold(&[7, i as u64]);
        }
    }

    /// Arms a crash that tears node `i`'s next flash write: the node runs on until it
    /// next writes, the write is cut at a random byte (the storage stream decides
    /// where), and the node is down from that moment. Without a flash store this is a
    /// plain [`Sim::crash`]. Returns true if a tear was armed.
    pub fn crash_tearing(&mut self, i: usize) -> bool {
        let bytes = range(&mut self.storage, 0, 300) as usize;
        let mask = (self.storage.next_u32() & 0xff) as u8;
        let armed = self.nodes[i]
            .as_mut()
            .is_some_and(|n| n.store().arm_tear(bytes, mask));
        if !armed {
            self.crash(i);
        }
        self.fold(&[10, i as u64, bytes as u64]);
        armed
    }

    /// Crashes with a torn write so far (a node's armed power cut happened).
    pub fn torn_crashes(&self) -> u64 {
        self.torn_crashes
    }

    /// Crashes node `i` if an armed power cut just happened in its flash.
    fn reap(&mut self, i: usize) {
        if self.nodes[i]
            .as_ref()
            .is_some_and(|n| n.store_ref().power_lost())
        {
            self.torn_crashes += 1;
            self.crash(i);
        }
    }

    /// Restarts node `i` from its surviving store (recovered from flash if it has one).
    /// Does nothing if the node is up.
    ///
    /// # Errors
    /// [`SimError::Flash`] if the flash does not mount (never expected): the node's
    /// store is lost and the node stays down; the run may go on.
    pub fn restart(&mut self, i: usize) -> Result<(), SimError> {
        if let Some(store) = self.dormant[i].take() {
            let store = store
                .recover()
                .map_err(|source| SimError::Flash { node: i, source })?;
            let mut n = SimNode::new(
                self.author(i),
                store,
                self.sigs.clone(),
                self.cfg.node_config(),
            );
            for p in &self.peers_of[i] {
                n.add_peer(*p);
            }
            for a in &self.follows_of[i] {
                n.follow(*a);
            }
            self.nodes[i] = Some(n);
            self.fold(&[8, i as u64]);
        }
        Ok(())
    }

    /// True if node `i` is up.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    /// The head seq node `i` holds for `author` (from its store, up or down).
    pub fn head_seq(&self, i: usize, author: &PublicKey) -> u64 {
        self.store_of(i).map_or(0, |s| s.head_seq(author))
    }
}
