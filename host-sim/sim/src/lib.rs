//! A deterministic discrete-event simulator of glitter nodes.
//!
//! One seed drives everything: a root seed is split into independent ChaCha streams,
//! one per concern (network, node order, workload, and one per node for its gossip
//! choices), so changing how often one concern draws never shifts another. Time is a
//! simulated clock in ms; events sit in a queue ordered by (time, insertion order), so
//! two runs of one seed process the same events in the same order. Every processed
//! event is folded into a trace hash; the determinism test compares those.
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
pub mod reference;
pub mod report;
pub mod scenarios;
pub mod sigcache;
pub mod store;

use glitter_core::chain::ChainError;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::sync::{Config, GossipMode, Message, Node, Outbox, OutboxFull, PeerId};
use glitter_core::wire::header::Header;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use sigcache::SigCache;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use store::MemStore;

/// A simulated node: the real core `Node` over an in-memory store.
pub type SimNode = Node<MemStore, SigCache, 256, 512, 64, 4, 8>;

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
    /// Memoise signature verdicts on identical bytes across nodes (reported).
    pub memoise_signatures: bool,
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
            memoise_signatures: false,
            outbox_max: 256,
            flash_store: false,
        }
    }
}

/// A knob out of range.
#[derive(Debug, PartialEq)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid simulator setting: {}", self.0)
    }
}

impl std::error::Error for BuildError {}

impl Builder {
    /// Validates the knobs and creates the simulation (nodes exist but know nobody).
    ///
    /// # Errors
    /// A [`BuildError`] naming the first bad knob.
    pub fn build(&self) -> Result<Sim, BuildError> {
        let bad = |s: String| Err(BuildError(s));
        if self.nodes < 2 || self.nodes > 200_000 {
            return bad(format!("nodes = {} (must be 2..=200000)", self.nodes));
        }
        if self.latency_ms_min > self.latency_ms_max {
            return bad(format!(
                "latency_ms_min {} > latency_ms_max {}",
                self.latency_ms_min, self.latency_ms_max
            ));
        }
        for (name, p) in [
            ("drop_rate", self.drop_rate),
            ("duplicate_rate", self.duplicate_rate),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("{name} = {p} (must be in [0, 1))"));
            }
        }
        if self.tick_interval_ms == 0 {
            return bad("tick_interval_ms = 0 (must be positive)".into());
        }
        if self.outbox_max == 0 {
            return bad("outbox_max = 0 (must be positive)".into());
        }
        Sim::new(self.clone())
    }
}

/// Message counters by kind.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Traffic {
    /// Messages sent.
    pub messages: u64,
    /// Bytes sent.
    pub bytes: u64,
}

/// Whole-simulation counters.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SimStats {
    /// Head announcements (`Heads`).
    pub heads: Traffic,
    /// `Want` requests.
    pub wants: Traffic,
    /// `Block` transfers.
    pub blocks: Traffic,
    /// Fork proofs.
    pub forks: Traffic,
    /// Messages lost to drop or partition.
    pub dropped: u64,
    /// Messages duplicated by the link.
    pub duplicated: u64,
    /// Events processed.
    pub events: u64,
    /// Blocks stored at followers (a delivery).
    pub deliveries: u64,
    /// Posts created.
    pub posts: u64,
    /// Messages refused by receivers (malformed or invalid).
    pub refused: u64,
    /// Delivery latencies in ms (post creation to storage at a follower).
    #[serde(skip)]
    pub latencies_ms: Vec<u64>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EventKind {
    Tick { node: u32 },
    Deliver { to: u32, from: u32, bytes: Vec<u8> },
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at_ms: u64,
    order: u64,
    kind: EventKind,
}

/// Collects a node's outgoing messages as encoded bytes, bounded.
#[derive(Debug, Default)]
pub struct VecOutbox {
    /// (destination, encoded message).
    pub messages: Vec<(PeerId, Vec<u8>)>,
    /// The bound.
    pub max: usize,
}

impl Outbox for VecOutbox {
    fn send(&mut self, to: PeerId, msg: &Message<'_>) -> Result<(), OutboxFull> {
        if self.messages.len() >= self.max {
            return Err(OutboxFull);
        }
        let mut buf = vec![0u8; msg.encoded_len()];
        msg.emit(&mut buf).map_err(|_| OutboxFull)?;
        self.messages.push((to, buf));
        Ok(())
    }
}

/// The simulation.
pub struct Sim {
    cfg: Builder,
    now_ms: u64,
    queue: BinaryHeap<Reverse<Event>>,
    order: u64,
    nodes: Vec<Option<SimNode>>,
    dormant: Vec<Option<MemStore>>,
    keys: Vec<KeyPair>,
    pub(crate) peers_of: Vec<Vec<u32>>,
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
    fn new(cfg: Builder) -> Result<Sim, BuildError> {
        let mut keyrng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.seed, streams::KEYS));
        let sigs = SigCache::new(cfg.memoise_signatures);
        let node_config = Config {
            mode: cfg.mode,
            // A want suppresses duplicates for a little over one round trip.
            want_timeout_ms: (2 * cfg.latency_ms_max + cfg.tick_interval_ms).max(1),
            // A lost fork proof is offered again after two gossip rounds.
            fork_resend_ms: 2 * cfg.tick_interval_ms,
            ..Config::default()
        };
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
                MemStore::with_flash().map_err(BuildError)?
            } else {
                MemStore::default()
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
            queue: BinaryHeap::new(),
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

    fn schedule(&mut self, at_ms: u64, kind: EventKind) {
        self.order += 1;
        self.queue.push(Reverse(Event {
            at_ms,
            order: self.order,
            kind,
        }));
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
    /// If the node is down or the post is invalid.
    pub fn post(&mut self, i: usize, text: &str) -> Result<Header, ChainError> {
        let p = Payload::post(text, None).map_err(ChainError::from)?;
        let mut buf = [0u8; 1024];
        let bytes = p.encode(&mut buf).map_err(ChainError::from)?.to_vec();
        let keys = self.keys[i].clone();
        let now = self.now_ms;
        let node = self.nodes[i].as_mut().ok_or(ChainError::WrongAuthor)?;
        let h = node.append_own(&keys, p.kind(), now, &bytes);
        self.reap(i);
        let h = h?;
        self.stats.posts += 1;
        self.fold(&[4, i as u64, h.seq]);
        Ok(h)
    }

    /// Node `i` appends any payload to its own chain now. Returns the header.
    ///
    /// # Errors
    /// If the node is down or the payload is invalid.
    pub fn publish(&mut self, i: usize, payload: &Payload) -> Result<Header, ChainError> {
        let mut buf = [0u8; 1024];
        let bytes = payload.encode(&mut buf).map_err(ChainError::from)?.to_vec();
        let keys = self.keys[i].clone();
        let now = self.now_ms;
        let node = self.nodes[i].as_mut().ok_or(ChainError::WrongAuthor)?;
        let h = node.append_own(&keys, payload.kind(), now, &bytes);
        self.reap(i);
        let h = h?;
        self.fold(&[9, i as u64, h.seq]);
        Ok(h)
    }

    /// Node `i`'s store (up or down).
    pub fn store_of(&self, i: usize) -> Option<&MemStore> {
        match (&self.nodes[i], &self.dormant[i]) {
            (Some(n), _) => Some(n_store(n)),
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
    pub fn restart(&mut self, i: usize) {
        if let Some(store) = self.dormant[i].take() {
            let store = match store.recover() {
                Ok(s) => s,
                Err(e) => {
                    // Never expected; keep the node down and make it visible.
                    eprintln!("node {i}: flash did not mount after restart: {e}");
                    return;
                }
            };
            let config = Config {
                mode: self.cfg.mode,
                want_timeout_ms: (2 * self.cfg.latency_ms_max + self.cfg.tick_interval_ms).max(1),
                fork_resend_ms: 2 * self.cfg.tick_interval_ms,
                ..Config::default()
            };
            let mut n = SimNode::new(self.author(i), store, self.sigs.clone(), config);
            for p in &self.peers_of[i] {
                n.add_peer(*p);
            }
            for a in &self.follows_of[i] {
                n.follow(*a);
            }
            self.nodes[i] = Some(n);
            self.fold(&[8, i as u64]);
        }
    }

    /// True if node `i` is up.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    /// The head seq node `i` holds for `author` (from its store, up or down).
    pub fn head_seq(&self, i: usize, author: &PublicKey) -> u64 {
        match (&self.nodes[i], &self.dormant[i]) {
            (Some(n), _) => n_store(n).head_seq(author),
            (None, Some(s)) => s.head_seq(author),
            (None, None) => 0,
        }
    }

    /// Injects raw bytes from `from` to `to` now, as a (possibly hostile) peer would.
    pub fn inject(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let at = self.now_ms;
        self.schedule(
            at,
            EventKind::Deliver {
                to: to as u32,
                from: from as u32,
                bytes,
            },
        );
    }

    fn send_all(&mut self, from: u32, out: VecOutbox) {
        // Messages one step sends to one destination travel together (one latency
        // draw, order kept), as a burst on one connection would; separate steps and
        // duplicates draw their own latency, so the link still reorders.
        let mut burst_latency: Vec<(u32, u64)> = Vec::new();
        for (to, bytes) in out.messages {
            let t = match bytes.first() {
                Some(1) => &mut self.stats.heads,
                Some(2) => &mut self.stats.wants,
                Some(3) => &mut self.stats.blocks,
                _ => &mut self.stats.forks,
            };
            t.messages += 1;
            t.bytes += bytes.len() as u64;
            let to_i = to as usize;
            if to_i >= self.nodes.len() || self.group[from as usize] != self.group[to_i] {
                self.stats.dropped += 1;
                continue;
            }
            if self.cfg.drop_rate > 0.0 && unit(&mut self.net) < self.cfg.drop_rate {
                self.stats.dropped += 1;
                continue;
            }
            let copies =
                if self.cfg.duplicate_rate > 0.0 && unit(&mut self.net) < self.cfg.duplicate_rate {
                    self.stats.duplicated += 1;
                    2
                } else {
                    1
                };
            for c in 0..copies {
                let lat = match burst_latency.iter().find(|(d, _)| *d == to) {
                    Some((_, l)) if c == 0 => *l,
                    _ => {
                        let l = range(
                            &mut self.net,
                            self.cfg.latency_ms_min,
                            self.cfg.latency_ms_max,
                        );
                        if c == 0 {
                            burst_latency.push((to, l));
                        }
                        l
                    }
                };
                let at = self.now_ms + lat;
                self.schedule(
                    at,
                    EventKind::Deliver {
                        to,
                        from,
                        bytes: bytes.clone(),
                    },
                );
            }
        }
    }

    /// Runs the earliest event. Returns false when the queue is empty.
    pub fn step(&mut self) -> bool {
        let Some(Reverse(ev)) = self.queue.pop() else {
            return false;
        };
        self.now_ms = ev.at_ms;
        self.stats.events += 1;
        let mut out = VecOutbox {
            messages: Vec::new(),
            max: self.cfg.outbox_max,
        };
        match ev.kind {
            EventKind::Tick { node } => {
                self.fold(&[1, ev.at_ms, u64::from(node)]);
                let i = node as usize;
                if let Some(n) = self.nodes[i].as_mut() {
                    n.tick(ev.at_ms, &mut self.node_rngs[i], &mut out);
                }
                let next = ev.at_ms + self.cfg.tick_interval_ms;
                self.schedule(next, EventKind::Tick { node });
                self.send_all(node, out);
                self.reap(i);
            }
            EventKind::Deliver { to, from, bytes } => {
                let head = bytes.iter().take(48).fold(bytes.len() as u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
                });
                self.fold(&[2, ev.at_ms, u64::from(to), u64::from(from), head]);
                let i = to as usize;
                let Some(n) = self.nodes[i].as_mut() else {
                    self.stats.dropped += 1;
                    return true;
                };
                if n.handle(ev.at_ms, from, &bytes, &mut out).is_err() {
                    self.stats.refused += 1;
                }
                for s in n.take_stored() {
                    self.stats.deliveries += 1;
                    self.stats
                        .latencies_ms
                        .push(ev.at_ms.saturating_sub(s.timestamp_ms));
                }
                self.send_all(to, out);
                self.reap(i);
            }
        }
        true
    }

    /// Runs events until simulated time `until_ms` (events at later times stay queued),
    /// calling `progress(now_ms)` every so often. Bounded by the event count.
    pub fn run_until(&mut self, until_ms: u64, mut progress: impl FnMut(u64)) {
        let mut n = 0u64;
        while let Some(Reverse(ev)) = self.queue.peek() {
            if ev.at_ms > until_ms {
                break;
            }
            self.step();
            n += 1;
            if n.is_multiple_of(65_536) {
                progress(self.now_ms);
            }
        }
        self.now_ms = self.now_ms.max(until_ms);
        progress(self.now_ms);
    }

    /// Fraction of (node, followed author) pairs where the node holds the author's
    /// whole chain as its author has it. Crashed nodes count with what their store has.
    pub fn coverage(&self) -> f64 {
        let mut want = 0u64;
        let mut have = 0u64;
        for i in 0..self.nodes.len() {
            for a in &self.follows_of[i] {
                let Some(j) = self.index_of(a) else { continue };
                let full = self.head_seq(j, a);
                want += full;
                have += self.head_seq(i, a).min(full);
            }
        }
        if want == 0 {
            1.0
        } else {
            have as f64 / want as f64
        }
    }

    /// True if every node holds every block of every author it follows.
    pub fn converged(&self) -> bool {
        (0..self.nodes.len()).all(|i| {
            self.follows_of[i].iter().all(|a| {
                self.index_of(a)
                    .is_none_or(|j| self.head_seq(i, a) >= self.head_seq(j, a))
            })
        })
    }

    /// Invalid blocks stored anywhere: re-verifies every stored chain from scratch.
    pub fn invalid_blocks_stored(&self) -> u64 {
        let mut bad = 0;
        for i in 0..self.nodes.len() {
            let store = match (&self.nodes[i], &self.dormant[i]) {
                (Some(n), _) => n_store(n),
                (None, Some(s)) => s,
                _ => continue,
            };
            for a in store.authors() {
                let headers = store.headers(a);
                let Ok(mut st) = glitter_core::ChainState::new(*a) else {
                    bad += headers.len() as u64;
                    continue;
                };
                for (k, h) in headers.iter().enumerate() {
                    let mut src = headers[..k].to_vec();
                    if st.verify_next(&h.to_bytes(), None, &mut src[..]).is_err() {
                        bad += 1;
                    }
                }
            }
        }
        bad
    }
}

/// Shared access to a node's store (MemStore has `&self` accessors).
fn n_store(n: &SimNode) -> &MemStore {
    n.store_ref()
}
