//! The `equivocate` scenario: an author signs two different blocks at one seq and sends
//! them to different halves of the network. Witnesses attest what they hold after a
//! settling delay, unless they know of a fork. Measures how fast every honest node
//! holds the fork proof, and checks that no honest node ever confirms either branch.

use super::scenarios::Series;
use super::{Builder, Sim, SimError, range, stream_seed};
use glitter_core::BlockBuilder;
use glitter_core::attest::{self, AttestationRecord, Status, WitnessSet};
use glitter_core::chain::{ChainError, ChainState, Head};
use glitter_core::sig::PublicKey;
use glitter_core::social::{Attestation, BlockRef, Payload, Trust, TrustRole};
use glitter_core::sync::{Message, SyncStore};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Outcome of one run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EquivocateOutcome {
    /// The seed.
    pub seed: u64,
    /// Gossip rounds (ticks) from both blocks existing until every honest node held
    /// the fork proof; `None` if some never did within the limit.
    pub rounds_to_all_proofs: Option<u64>,
    /// Honest nodes that, at any sampled moment, saw either branch as confirmed.
    pub honest_confirmations: u64,
    /// Honest nodes holding the proof at the end.
    pub nodes_with_proof: usize,
    /// Honest nodes.
    pub honest_nodes: usize,
    /// Blocks confirmed before the fork (sanity: confirmation works at all).
    pub confirmed_before_fork: bool,
    /// Fork proofs sent over the links.
    pub fork_messages: u64,
    /// Fraction of honest nodes with the proof, by round.
    #[serde(skip)]
    pub series: Series,
    /// The rounds after the fork in which some honest node lacked the proof, with who
    /// and why (a diagnostic for slow runs).
    #[serde(skip)]
    pub lagging: Vec<Lagging>,
}

/// One round in which some honest nodes did not yet hold the fork proof.
#[derive(Clone, Debug)]
pub struct Lagging {
    /// The round (1 = the first after the fork).
    pub round: u64,
    /// The honest nodes (up) without the proof.
    pub nodes: Vec<usize>,
    /// Each one's head seq of the author's chain.
    pub heads: Vec<u64>,
    /// Each one's gossip peers.
    pub peers: Vec<Vec<u32>>,
}

impl std::fmt::Display for Lagging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "round {}: lacking {:?} heads {:?} peers {:?}",
            self.round, self.nodes, self.heads, self.peers
        )
    }
}

/// Round length (the gossip tick).
pub const TICK_MS: u64 = 1_000;
/// Witnesses attest a head only after holding it this long with no fork known.
pub const ATTEST_DELAY_MS: u64 = 15 * TICK_MS;

/// What node `viewer` concludes about `author`'s block `seq`.
pub fn view_status(
    sim: &Sim,
    viewer: usize,
    author: &PublicKey,
    seq: u64,
    witnesses: &[usize],
) -> Status {
    let Some(store) = sim.store_of(viewer) else {
        return Status::Unknown;
    };
    let mut set = WitnessSet::new();
    for (k, h) in store.headers(author).iter().enumerate() {
        if let Some(p) = store.payload_ref(author, k as u64 + 1)
            && let Ok(pl) = Payload::decode(h.kind, p)
        {
            // A refused designation (a key that is no admissible identity) counts as none.
            let _ = set.apply(&pl);
        }
    }
    let mut records: Vec<AttestationRecord> = Vec::new();
    for &w in witnesses {
        let wa = sim.author(w);
        for (k, h) in store.headers(&wa).iter().enumerate() {
            if let Some(p) = store.payload_ref(&wa, k as u64 + 1)
                && let Ok(rs) = attest::records_of(h, p)
            {
                records.extend(rs);
            }
        }
    }
    let mut chain = store.headers(author).to_vec();
    let forked = sim.node(viewer).and_then(|n| n.forked_at(author));
    attest::status(&set, author, seq, &records, &mut chain[..], forked)
}

/// Runs the scenario: `nodes` nodes (node 0 equivocates; nodes 1..=3 are its witnesses
/// with k = 2), links losing `drop_rate` of messages.
///
/// # Errors
/// [`SimError::BadKnob`] for bad knobs, or a failure to build the author's blocks.
pub fn run(seed: u64, nodes: usize, drop_rate: f64) -> Result<EquivocateOutcome, SimError> {
    let mut sim = Builder {
        nodes,
        seed,
        latency_ms_min: 10,
        latency_ms_max: 200,
        drop_rate,
        tick_interval_ms: TICK_MS,
        ..Builder::default()
    }
    .build()?;
    let mut w = ChaCha8Rng::seed_from_u64(stream_seed(seed, 30));
    // Everyone follows the author and its witnesses (the chains the verdict needs);
    // following all n authors would cost n² and exceed a node's table beyond 512.
    for i in 0..nodes {
        for j in 0..nodes.min(4) {
            sim.follow(i, j);
        }
        for _ in 0..4 {
            let j = range(&mut w, 0, nodes as u64 - 1) as usize;
            sim.connect(i, j);
        }
        sim.connect(i, (i + 1) % nodes);
    }
    let witnesses = [1usize, 2, 3];
    let author = sim.author(0);
    for &wi in &witnesses {
        let t = Trust {
            subject: sim.author(wi).0,
            role: TrustRole::Witness,
            threshold: 2,
        };
        sim.publish(0, &Payload::Trust(t))?;
    }
    let first = sim.post(0, "an honest post")?;
    // Let it spread and settle, with witnesses attesting.
    let mut attested: Vec<u64> = vec![0; nodes];
    let mut honest_confirmations = 0u64;
    // When each witness first held each seq (its clock, not the author's claim).
    let mut first_seen: std::collections::HashMap<(usize, u64), u64> =
        std::collections::HashMap::new();
    let mut attest_round = |sim: &mut Sim, attested: &mut Vec<u64>| {
        let now = sim.now_ms();
        for &wi in &witnesses {
            let Some(node) = sim.node(wi) else { continue };
            if node.forked_at(&author).is_some() {
                continue;
            }
            let Some(store) = sim.store_of(wi) else {
                continue;
            };
            let hs = store.headers(&author);
            // Settling delay: attest the newest head held for at least the delay.
            for h in &hs {
                first_seen.entry((wi, h.seq)).or_insert(now);
            }
            let Some(h) = hs
                .iter()
                .rev()
                .find(|h| {
                    let seen = first_seen.get(&(wi, h.seq)).copied().unwrap_or(now);
                    now.saturating_sub(seen.max(h.timestamp_ms)) >= ATTEST_DELAY_MS
                })
                .copied()
            else {
                continue;
            };
            if h.seq <= attested[wi] {
                continue;
            }
            let mut heads = heapless::Vec::new();
            let _ = heads.push(BlockRef::new(author, h.seq, h.id()));
            if sim
                .publish(wi, &Payload::Attestation(Attestation { heads }))
                .is_ok()
            {
                attested[wi] = h.seq;
            }
        }
    };
    for r in 0..50u64 {
        sim.run_until((r + 1) * TICK_MS, |_| {});
        attest_round(&mut sim, &mut attested);
    }
    let confirmed_before_fork = (4..nodes).all(|v| {
        matches!(
            view_status(&sim, v, &author, first.seq, &witnesses),
            Status::Confirmed { .. }
        )
    });

    // The equivocation: two different blocks at the next seq. Branch B is built from
    // the head before branch A, by a second builder over the same keys.
    let now = sim.now_ms();
    let mut twin = {
        let store = sim.store_of(0).ok_or(SimError::NodeDown { node: 0 })?;
        let head = store.headers(&author).last().map(|h| Head {
            seq: h.seq,
            id: h.id(),
            timestamp_ms: h.timestamp_ms,
        });
        ChainState::resume(author, head)
            .and_then(|state| BlockBuilder::new(sim.keys(0).clone(), state))
            .map_err(SimError::chain("the equivocating twin"))?
    };
    let a = sim.post(0, "branch A")?;
    let pb = Payload::post("branch B", None)
        .map_err(ChainError::from)
        .map_err(SimError::chain("the equivocating twin"))?;
    let mut chain_copy = sim
        .store_of(0)
        .map(|s| s.headers(&author).to_vec())
        .unwrap_or_default();
    chain_copy.pop(); // without branch A
    let (b, pbytes) = twin
        .next(&pb, now, &mut chain_copy[..])
        .map_err(SimError::chain("the equivocating twin"))?;
    let pbytes = pbytes.to_vec();
    // The author hands A to one half and B to the other, directly.
    let (ab, bb) = (a.to_bytes(), b.to_bytes());
    let pa = sim
        .store_of(0)
        .and_then(|s| s.payload_ref(&author, a.seq))
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    for v in 1..nodes {
        let m = if v < nodes / 2 {
            Message::Block {
                header: &ab,
                payload: Some(&pa),
            }
        } else {
            Message::Block {
                header: &bb,
                payload: Some(&pbytes),
            }
        };
        let mut bytes = vec![0u8; m.encoded_len()];
        if m.emit(&mut bytes).is_ok() {
            sim.inject(0, v, bytes);
        }
    }
    let honest: Vec<usize> = (1..nodes).collect();
    let start = sim.now_ms();
    let mut series = Vec::new();
    let mut rounds_to_all = None;
    let mut confirmed_any = vec![false; nodes];
    let mut lagging = Vec::new();
    for r in 1..=60u64 {
        sim.run_until(start + r * TICK_MS, |_| {});
        attest_round(&mut sim, &mut attested);
        let with = honest
            .iter()
            .filter(|&&v| sim.node(v).is_some_and(|n| n.forked_at(&author).is_some()))
            .count();
        series.push((r, with as f64 / honest.len() as f64));
        let lacking: Vec<usize> = honest
            .iter()
            .copied()
            .filter(|&v| sim.node(v).is_some_and(|n| n.forked_at(&author).is_none()))
            .collect();
        if !lacking.is_empty() {
            lagging.push(Lagging {
                round: r,
                heads: lacking.iter().map(|&v| sim.head_seq(v, &author)).collect(),
                peers: lacking.iter().map(|&v| sim.peers_of(v).to_vec()).collect(),
                nodes: lacking,
            });
        }
        if rounds_to_all.is_none() && with == honest.len() {
            rounds_to_all = Some(r);
        }
        for &v in &honest {
            if matches!(
                view_status(&sim, v, &author, a.seq, &witnesses),
                Status::Confirmed { .. }
            ) {
                confirmed_any[v] = true;
            }
        }
        if rounds_to_all.is_some() && r >= 20 {
            break;
        }
    }
    let _ = sim.node_mut(0).map(|n| n.store().head(&author));
    honest_confirmations += confirmed_any.iter().filter(|c| **c).count() as u64;
    Ok(EquivocateOutcome {
        seed,
        rounds_to_all_proofs: rounds_to_all,
        honest_confirmations,
        nodes_with_proof: honest
            .iter()
            .filter(|&&v| sim.node(v).is_some_and(|n| n.forked_at(&author).is_some()))
            .count(),
        honest_nodes: honest.len(),
        confirmed_before_fork,
        fork_messages: sim.stats().forks.messages,
        series,
        lagging,
    })
}
