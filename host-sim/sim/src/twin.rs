//! The lab's `lossy6` scenario in the simulator (issue 16, "one model, one reality"):
//! the same topology, link settings, gossip tick and want window as
//! `glitter lab run lab/lossy6.toml`, so the simulator's prediction and the lab's
//! measurement can be put side by side (docs/PERFORMANCE.md).
//!
//! Six nodes, every pair connected, everyone following everyone; links of 50 ± 20 ms
//! one way (uniform, 30–70 ms), 10% loss, 1% duplication (the simulator's links reorder
//! through their random delay); heads gossiped every 200 ms in push mode with a window
//! of 32 wants, as the real node runs (its tables are the simulator's: 64 wants and 8
//! parked blocks, not the real node's 512 and 512). Then a 100-post burst from node 0, 50 ms apart;
//! then a 3 + 3 partition with ten posts on each side, 500 ms apart, healed 30 s after
//! it began.

use crate::{Builder, Sim, SimError};
use glitter_core::sync::GossipMode;

/// What the simulator predicts for the lab's `lossy6`.
#[derive(Clone, Debug)]
pub struct TwinOutcome {
    /// The seed.
    pub seed: u64,
    /// Time for each burst post to reach all five other nodes: median, in ms.
    pub reach_all_median_ms: u64,
    /// The same: the slowest post.
    pub reach_all_max_ms: u64,
    /// Blocks received per block stored by the followers during the burst.
    pub transfers_per_block: f64,
    /// Time from the heal until every node holds every post, in ms (`None`: not within
    /// a minute).
    pub heal_converge_ms: Option<u64>,
}

/// How often the run checks who holds what (the figures' resolution).
const STEP_MS: u64 = 10;
const NODES: usize = 6;

fn blocks_received(sim: &Sim) -> (u64, u64) {
    let (mut received, mut stored) = (0, 0);
    for i in 1..NODES {
        if let Some(n) = sim.node(i) {
            let s = n.stats();
            received += s.blocks_stored + s.duplicates + s.out_of_order;
            stored += s.blocks_stored;
        }
    }
    (received, stored)
}

/// Runs the twin of `lossy6` with `seed`.
///
/// # Errors
/// [`SimError`] if the simulation cannot be built or a post fails.
pub fn lossy6(seed: u64) -> Result<TwinOutcome, SimError> {
    let mut sim = Builder {
        nodes: NODES,
        seed,
        latency_ms_min: 30,
        latency_ms_max: 70,
        drop_rate: 0.10,
        duplicate_rate: 0.01,
        tick_interval_ms: 200,
        mode: GossipMode::Push,
        want_window: 32,
        ..Builder::default()
    }
    .build()?;
    for a in 0..NODES {
        for b in 0..NODES {
            sim.connect(a, b);
            sim.follow(a, b);
        }
    }
    sim.run_until(2_000, |_| {});

    // The burst: 100 posts by node 0, 50 ms apart.
    let author = sim.author(0);
    let (received0, stored0) = blocks_received(&sim);
    let start = sim.now_ms();
    let mut posted_at = Vec::new();
    let mut reach = Vec::new();
    let mut t = start;
    while reach.len() < 100 && t < start + 60_000 {
        if posted_at.len() < 100 && t >= start + 50 * posted_at.len() as u64 {
            sim.post(0, &format!("burst {}", posted_at.len()))?;
            posted_at.push(t);
        }
        t += STEP_MS;
        sim.run_until(t, |_| {});
        let everywhere = (1..NODES).map(|i| sim.head_seq(i, &author)).min();
        let everywhere = usize::try_from(everywhere.unwrap_or(0)).unwrap_or(usize::MAX);
        while reach.len() < everywhere.min(posted_at.len()) {
            reach.push(t - posted_at[reach.len()]);
        }
    }
    let (received1, stored1) = blocks_received(&sim);
    let transfers_per_block =
        (received1 - received0) as f64 / (stored1.saturating_sub(stored0)).max(1) as f64;
    let mut sorted = reach.clone();
    sorted.sort_unstable();

    // The partition: 3 + 3, ten posts on each side, healed 30 s after it began.
    sim.run_until(sim.now_ms() + 2_000, |_| {});
    let cut = sim.now_ms();
    sim.partition((0..NODES).map(|i| u8::from(i >= 3)).collect());
    for k in 0..10u64 {
        sim.post(1, &format!("left {k}"))?;
        sim.post(4, &format!("right {k}"))?;
        sim.run_until(cut + (k + 1) * 500, |_| {});
    }
    sim.run_until(cut + 30_000, |_| {});
    sim.heal();
    let healed = sim.now_ms();
    let mut heal_converge_ms = None;
    let mut t = healed;
    while t < healed + 60_000 {
        t += STEP_MS;
        sim.run_until(t, |_| {});
        if sim.converged() {
            heal_converge_ms = Some(t - healed);
            break;
        }
    }
    Ok(TwinOutcome {
        seed,
        reach_all_median_ms: sorted.get(sorted.len() / 2).copied().unwrap_or(0),
        reach_all_max_ms: sorted.last().copied().unwrap_or(0),
        transfers_per_block,
        heal_converge_ms,
    })
}
