//! The reference model of gossip theory, run with glitter's own protocol.
//!
//! Synchronous rounds: in each round every node, in a random order, sends its heads to
//! one peer (on the complete graph: a uniformly random other node; on a random-regular
//! graph: a random neighbour). Then all messages are delivered in FIFO waves with zero
//! latency and no loss, until none are left. Heads go out only at the start of a round,
//! so news travels at most one hop per round, which is what the theory assumes: with
//! push-pull, an informed caller informs its callee and an informed callee informs its
//! caller; with push, only the former.

use super::sigcache::SigCache;
use super::store::MemStore;
use super::{VecOutbox, stream_seed};
use glitter_core::BlockBuilder;
use glitter_core::chain::{ChainState, NoHeaders};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::sync::{Config, GossipMode, Node, SyncStore};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

type RefNode = Node<MemStore, SigCache, 64, 4, 16, 2, 2>;

/// The peer graph of a reference run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Graph {
    /// Everyone may call everyone.
    Complete,
    /// A random d-regular graph (configuration model, retried until simple).
    RandomRegular(usize),
}

/// One trial's outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Trial {
    /// Rounds until every node held the block.
    pub rounds: u32,
    /// `Block` messages delivered, per node.
    pub block_transfers_per_node: f64,
    /// `Heads` messages per node per round.
    pub heads_messages_per_node_round: f64,
    /// `Heads` bytes per node per round.
    pub heads_bytes_per_node_round: f64,
    /// Informed nodes after each round.
    pub coverage_by_round: Vec<usize>,
}

/// Builds a random d-regular graph on n nodes (configuration model with retries; falls
/// back to dropping self-loops and duplicate edges after a bounded number of tries).
pub fn random_regular(n: usize, d: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<u32>> {
    for _attempt in 0..64 {
        let mut stubs: Vec<u32> = (0..n)
            .flat_map(|i| std::iter::repeat_n(i as u32, d))
            .collect();
        for i in (1..stubs.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            stubs.swap(i, j);
        }
        let mut adj = vec![Vec::with_capacity(d); n];
        let mut ok = true;
        for pair in stubs.chunks(2) {
            let (a, b) = (pair[0], pair[pair.len() - 1]);
            if a == b || adj[a as usize].contains(&b) {
                ok = false;
                break;
            }
            adj[a as usize].push(b);
            adj[b as usize].push(a);
        }
        if ok {
            return adj;
        }
    }
    // Dense corner cases: accept a near-regular simple graph.
    let mut adj = vec![Vec::new(); n];
    for i in 0..n {
        for k in 1..=d / 2 {
            let j = (i + k) % n;
            adj[i].push(j as u32);
            adj[j].push(i as u32);
        }
    }
    adj
}

/// Runs one trial: `n` nodes, one new block at node 0, until all hold it (at most
/// `round_limit` rounds). Everyone follows node 0.
pub fn trial(
    n: usize,
    mode: GossipMode,
    graph: Graph,
    seed: u64,
    sigs: &SigCache,
    round_limit: u32,
) -> Trial {
    let mut order = ChaCha8Rng::seed_from_u64(stream_seed(seed, 2));
    let mut pick = ChaCha8Rng::seed_from_u64(stream_seed(seed, 1));
    let source =
        KeyPair::from_seed([(seed % 250) as u8 + 1; 32]).unwrap_or_else(|_| unreachable_keys());
    let author: PublicKey = source.public();
    let cfg = Config {
        mode,
        want_timeout_ms: 500,
        // The model is plain push-pull gossip (the theory it is checked against).
        eager_push: false,
        ..Config::default()
    };
    let adj = match graph {
        Graph::Complete => Vec::new(),
        Graph::RandomRegular(d) => random_regular(n, d, &mut pick),
    };
    let mut nodes: Vec<RefNode> = (0..n)
        .map(|i| {
            let me = PublicKey([(i % 251) as u8; 32]);
            let mut node = RefNode::new(me, MemStore::default(), sigs.clone(), cfg);
            node.follow(author);
            if let Graph::RandomRegular(_) = graph {
                for p in &adj[i] {
                    node.add_peer(*p);
                }
            }
            node
        })
        .collect();
    // The block appears at node 0 (posted by its author, who is node 0's user).
    let p = Payload::post("the rumor", None).unwrap_or_else(|_| unreachable!());
    let mut builder = ChainState::new(author)
        .and_then(|state| BlockBuilder::new(source, state))
        .unwrap_or_else(|_| unreachable!());
    let (h, bytes) = builder
        .next(&p, 0, &mut NoHeaders)
        .unwrap_or_else(|_| unreachable!());
    let _ = nodes[0].store().append(&h, Some(bytes));

    let mut idx: Vec<usize> = (0..n).collect();
    let mut coverage = vec![1usize];
    let mut block_msgs = 0u64;
    let mut heads_msgs = 0u64;
    let mut heads_bytes = 0u64;
    let mut rounds = 0u32;
    while coverage.last().copied().unwrap_or(0) < n && rounds < round_limit {
        rounds += 1;
        let now = u64::from(rounds) * 1_000;
        for i in (1..n).rev() {
            let j = (order.next_u64() % (i as u64 + 1)) as usize;
            idx.swap(i, j);
        }
        let mut wave: Vec<(u32, u32, Vec<u8>)> = Vec::new();
        for &u in &idx {
            let peer = match graph {
                Graph::Complete => {
                    let mut v = (pick.next_u64() % (n as u64 - 1)) as usize;
                    if v >= u {
                        v += 1;
                    }
                    v as u32
                }
                Graph::RandomRegular(_) => adj[u][(pick.next_u64() % adj[u].len() as u64) as usize],
            };
            let mut out = VecOutbox::new(64);
            nodes[u].gossip_to(now, peer, &mut out);
            wave.extend(out.messages.into_iter().map(|(to, b)| (u as u32, to, b)));
        }
        // Deliver in FIFO waves; bounded: each wave is a reply to the previous one and
        // the exchange is at most Heads → Heads/Want → Want/Block → Block.
        for _ in 0..8 {
            if wave.is_empty() {
                break;
            }
            let mut next = Vec::new();
            for (from, to, bytes) in wave {
                match bytes.first() {
                    Some(1) => {
                        heads_msgs += 1;
                        heads_bytes += bytes.len() as u64;
                    }
                    Some(3) => block_msgs += 1,
                    _ => {}
                }
                let mut out = VecOutbox::new(64);
                let _ = nodes[to as usize].handle(now, from, &bytes, &mut out);
                next.extend(out.messages.into_iter().map(|(t, b)| (to, t, b)));
            }
            wave = next;
        }
        let informed = nodes
            .iter()
            .filter(|nd| nd.store_ref().head_seq(&author) >= 1)
            .count();
        coverage.push(informed);
    }
    let per_node_round = (n as f64) * f64::from(rounds.max(1));
    Trial {
        rounds,
        block_transfers_per_node: block_msgs as f64 / n as f64,
        heads_messages_per_node_round: heads_msgs as f64 / per_node_round,
        heads_bytes_per_node_round: heads_bytes as f64 / per_node_round,
        coverage_by_round: coverage,
    }
}

fn unreachable_keys() -> KeyPair {
    // Seeds used above are never all-zero; this keeps the harness panic-free anyway.
    KeyPair::from_seed([1; 32]).unwrap_or_else(|_| unreachable!())
}

/// Summary over many trials.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// Nodes.
    pub n: usize,
    /// Gossip style.
    pub mode: String,
    /// Peer graph.
    pub graph: Graph,
    /// Trials run.
    pub trials: usize,
    /// Mean rounds to full coverage.
    pub mean_rounds: f64,
    /// Smallest and largest rounds seen.
    pub min_rounds: u32,
    /// Largest rounds seen.
    pub max_rounds: u32,
    /// Mean block transfers per node.
    pub block_transfers_per_node: f64,
    /// Mean heads messages per node per round.
    pub heads_messages_per_node_round: f64,
    /// Mean heads bytes per node per round.
    pub heads_bytes_per_node_round: f64,
    /// Mean informed fraction after each round (for plots).
    pub mean_coverage_by_round: Vec<f64>,
}

/// Runs `trials` trials with seeds `seed, seed+1, ...` and summarises them, calling
/// `progress` after each.
pub fn run(
    n: usize,
    mode: GossipMode,
    graph: Graph,
    trials: usize,
    seed: u64,
    memoise: bool,
    mut progress: impl FnMut(usize),
) -> Summary {
    let sigs = SigCache::new(memoise);
    let mut results = Vec::with_capacity(trials);
    for t in 0..trials {
        results.push(trial(
            n,
            mode,
            graph,
            seed.wrapping_add(t as u64),
            &sigs,
            200,
        ));
        progress(t + 1);
    }
    let k = results.len().max(1) as f64;
    let longest = results
        .iter()
        .map(|r| r.coverage_by_round.len())
        .max()
        .unwrap_or(0);
    let mean_cov = (0..longest)
        .map(|r| {
            results
                .iter()
                .map(|t| *t.coverage_by_round.get(r).unwrap_or(&n) as f64 / n as f64)
                .sum::<f64>()
                / k
        })
        .collect();
    Summary {
        n,
        mode: format!("{mode:?}"),
        graph,
        trials,
        mean_rounds: results.iter().map(|r| f64::from(r.rounds)).sum::<f64>() / k,
        min_rounds: results.iter().map(|r| r.rounds).min().unwrap_or(0),
        max_rounds: results.iter().map(|r| r.rounds).max().unwrap_or(0),
        block_transfers_per_node: results
            .iter()
            .map(|r| r.block_transfers_per_node)
            .sum::<f64>()
            / k,
        heads_messages_per_node_round: results
            .iter()
            .map(|r| r.heads_messages_per_node_round)
            .sum::<f64>()
            / k,
        heads_bytes_per_node_round: results
            .iter()
            .map(|r| r.heads_bytes_per_node_round)
            .sum::<f64>()
            / k,
        mean_coverage_by_round: mean_cov,
    }
}
