//! Scenarios: reproducible stories over the simulator, each returning a report.

use super::reference::{self, Graph, Summary};
use super::{Builder, Sim, SimError, error, range, stream_seed, unit};
use glitter_core::sync::GossipMode;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Coverage samples over time: (ms, fraction of followed blocks held).
pub type Series = Vec<(u64, f64)>;

/// Outcome of a faults run (partition, churn, lossy links).
#[derive(Clone, Debug, serde::Serialize)]
pub struct FaultOutcome {
    /// The seed.
    pub seed: u64,
    /// Every node holds every block it follows at the end.
    pub converged: bool,
    /// Blocks stored anywhere that fail re-verification (must be 0).
    pub invalid_stored: u64,
    /// Time from heal (or from the last post) until convergence, if reached.
    pub converge_ms_after_heal: Option<u64>,
    /// Posts made.
    pub posts: u64,
    /// Deliveries.
    pub deliveries: u64,
    /// Messages dropped by the links.
    pub dropped: u64,
    /// Messages duplicated by the links.
    pub duplicated: u64,
    /// Crashes simulated.
    pub crashes: u64,
    /// Of those, crashes that tore a flash write (recovered at restart).
    pub torn_crashes: u64,
    /// Coverage over time.
    #[serde(skip)]
    pub series: Series,
    /// Trace hash of the run.
    pub trace_hash: String,
    /// Failures that did not stop the run (a node whose flash did not mount after a
    /// restart stays down), one line each; empty in a healthy run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// Knobs of a faults run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FaultPlan {
    /// Nodes.
    pub nodes: usize,
    /// Link loss.
    pub drop_rate: f64,
    /// Link duplication.
    pub duplicate_rate: f64,
    /// Split into two halves from 10 s to 30 s.
    pub partition: bool,
    /// Crash-restart rate per node per minute (0 = none).
    pub crash_rate_per_min: f64,
    /// Tear down limit: give up converging after this much simulated time.
    pub time_limit_ms: u64,
}

impl Default for FaultPlan {
    fn default() -> FaultPlan {
        FaultPlan {
            nodes: 20,
            drop_rate: 0.10,
            duplicate_rate: 0.05,
            partition: true,
            crash_rate_per_min: 1.0,
            time_limit_ms: 300_000,
        }
    }
}

/// Everyone follows everyone; each node has 4 random peers (plus those that chose it).
fn small_world(sim: &mut Sim, rng: &mut ChaCha8Rng) {
    let n = sim.len();
    for i in 0..n {
        for j in 0..n {
            sim.follow(i, j);
        }
        for _ in 0..4 {
            let j = range(rng, 0, n as u64 - 1) as usize;
            sim.connect(i, j);
        }
        sim.connect(i, (i + 1) % n); // a ring keeps the graph connected
    }
}

/// How often convergence is checked after the heal (the figure's resolution).
const CHECK_MS: u64 = 100;

/// A run of 20-ish nodes with lossy, duplicating, reordering links, a partition that
/// heals, and crash-restarts. Posts happen before, during and after the partition.
///
/// # Errors
/// [`SimError::BadKnob`] for bad knobs.
pub fn faults(seed: u64, plan: &FaultPlan) -> Result<FaultOutcome, SimError> {
    let mut sim = Builder {
        nodes: plan.nodes,
        seed,
        latency_ms_min: 5,
        latency_ms_max: 300,
        drop_rate: plan.drop_rate,
        duplicate_rate: plan.duplicate_rate,
        tick_interval_ms: 500,
        flash_store: true,
        ..Builder::default()
    }
    .build()?;
    let mut w = ChaCha8Rng::seed_from_u64(stream_seed(seed, 10));
    small_world(&mut sim, &mut w);
    let n = sim.len();
    let mut series = Vec::new();
    let mut crashes = 0;
    let heal_at = 30_000u64;
    let mut down_until = vec![0u64; n];
    let mut failures = Vec::new();
    let mut converged_at = None;
    let mut restart = |sim: &mut Sim, i: usize| {
        if let Err(e) = sim.restart(i) {
            failures.push(error::chain(&e));
        }
    };
    // 40 s of activity in 1 s steps, then run until converged.
    for sec in 0..40u64 {
        let t = sec * 1_000;
        if plan.partition && t == 10_000 {
            sim.partition((0..n).map(|i| (i < n / 2) as u8).collect());
        }
        if plan.partition && t == heal_at {
            sim.heal();
        }
        for (i, down) in down_until.iter_mut().enumerate() {
            if !sim.is_up(i) && t >= *down {
                restart(&mut sim, i);
            }
            let posts_now = !plan.partition || t < heal_at;
            if unit(&mut w) < 0.08 && sim.is_up(i) && posts_now {
                let _ = sim.post(i, &format!("post by {i} at {t}"));
            }
            if unit(&mut w) < plan.crash_rate_per_min / 60.0 && sim.is_up(i) && t < 35_000 {
                // Half the crashes cut the node's next flash write in the middle.
                if unit(&mut w) < 0.5 {
                    sim.crash_tearing(i);
                } else {
                    sim.crash(i);
                }
                crashes += 1;
                *down = t + range(&mut w, 1_000, 8_000);
            }
        }
        if plan.partition && t >= heal_at && converged_at.is_none() {
            // From the heal on, convergence is checked every CHECK_MS (once every node
            // is up), so the figure measures the heal and not the check's schedule.
            for step in 1..=1_000 / CHECK_MS {
                sim.run_until(t + step * CHECK_MS - 1, |_| {});
                if (0..n).all(|i| sim.is_up(i)) && sim.converged() {
                    converged_at = Some(sim.now_ms());
                    break;
                }
            }
        }
        sim.run_until(t + 999, |_| {});
        series.push((sim.now_ms(), sim.coverage()));
    }
    for i in 0..n {
        if !sim.is_up(i) {
            restart(&mut sim, i);
        }
    }
    let settle_from = if plan.partition { heal_at } else { 40_000 };
    let mut t = 40_000;
    while converged_at.is_none() && t < plan.time_limit_ms {
        t += CHECK_MS;
        sim.run_until(t, |_| {});
        if sim.converged() {
            converged_at = Some(sim.now_ms());
            series.push((sim.now_ms(), 1.0));
            break;
        }
        if t % 1_000 == 0 {
            series.push((sim.now_ms(), sim.coverage()));
        }
    }
    Ok(FaultOutcome {
        seed,
        converged: converged_at.is_some(),
        invalid_stored: sim.invalid_blocks_stored(),
        converge_ms_after_heal: converged_at.map(|c| c.saturating_sub(settle_from)),
        posts: sim.stats().posts,
        deliveries: sim.stats().deliveries,
        dropped: sim.stats().dropped,
        duplicated: sim.stats().duplicated,
        crashes,
        torn_crashes: sim.torn_crashes(),
        series,
        trace_hash: format!("{:016x}", sim.trace_hash()),
        failures,
    })
}

/// Gossip: reference-model tables for push-pull and push.
pub fn gossip(
    n: usize,
    trials: usize,
    graph: Graph,
    seed: u64,
    memoise: bool,
    mut progress: impl FnMut(usize),
) -> Vec<Summary> {
    let mut out = Vec::new();
    let mut done = 0;
    for mode in [GossipMode::PushPull, GossipMode::Push] {
        out.push(reference::run(
            n,
            mode,
            graph,
            trials,
            seed,
            memoise,
            |_| {
                done += 1;
                progress(done);
            },
        ));
    }
    out
}

/// Outcome of the scale scenario.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScaleOutcome {
    /// The seed.
    pub seed: u64,
    /// Users.
    pub users: usize,
    /// Follow edges.
    pub follows: u64,
    /// Posts.
    pub posts: u64,
    /// Deliveries expected (posts × their author's followers).
    pub expected_deliveries: u64,
    /// Deliveries made.
    pub deliveries: u64,
    /// deliveries / expected.
    pub coverage: f64,
    /// Latency percentiles in ms: p50, p90, p99, max.
    pub latency_ms_p50: u64,
    /// p90.
    pub latency_ms_p90: u64,
    /// p99.
    pub latency_ms_p99: u64,
    /// Max.
    pub latency_ms_max: u64,
    /// All messages per delivery.
    pub messages_per_delivery: f64,
    /// All bytes per delivery.
    pub bytes_per_delivery: f64,
    /// Block transfers per delivery (1.0 = every block fetched exactly once per follower).
    pub block_transfers_per_delivery: f64,
    /// Heads messages per node per simulated second (one tick).
    pub heads_messages_per_node_tick: f64,
    /// Heads bytes per node per tick.
    pub heads_bytes_per_node_tick: f64,
    /// Events processed.
    pub events: u64,
    /// Simulated time.
    pub simulated_ms: u64,
    /// Whether signature verdicts were memoised across nodes.
    pub memoised_signatures: bool,
    /// Whether eager, interest-aware delivery was on (`Config::eager_push`).
    pub eager_push: bool,
    /// Real signature checks performed.
    pub real_signature_checks: u64,
    /// Real author-key admission checks performed (memoised like signatures).
    pub real_key_admissions: u64,
    /// Trace hash.
    pub trace_hash: String,
    /// Coverage over time.
    #[serde(skip)]
    pub series: Series,
    /// Followed chains some node still lacked at the end (at most [`LACKS_SHOWN`]);
    /// empty when every delivery was made.
    #[serde(skip)]
    pub lacking: Vec<Lack>,
}

/// Most [`Lack`]s a scale outcome lists.
pub const LACKS_SHOWN: usize = 15;

/// A followed chain a node still lacked at the end of a scale run: a diagnostic.
#[derive(Clone, Debug)]
pub struct Lack {
    /// The node.
    pub node: usize,
    /// Authors the node follows.
    pub node_follows: usize,
    /// The node's gossip peers.
    pub node_peers: usize,
    /// The author (node index) whose chain it lacks.
    pub author: usize,
    /// Blocks of that chain the node holds.
    pub have: u64,
    /// Blocks the author holds.
    pub full: u64,
    /// The author's followers.
    pub author_followers: u64,
    /// The author's gossip peers.
    pub author_peers: usize,
    /// The node's own view, if it is up: whether it follows the author, and its score
    /// of the author as a peer.
    pub view: Option<(bool, Option<i32>)>,
}

impl std::fmt::Display for Lack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (i, j) = (self.node, self.author);
        write!(
            f,
            "node {i} (follows {}, peers {}) lacks {j} ({}/{}; {} followers; {j}'s peers {}) node view {:?}",
            self.node_follows,
            self.node_peers,
            self.have,
            self.full,
            self.author_followers,
            self.author_peers,
            self.view
        )
    }
}

/// Draws from a Pareto(α = 2) distribution with scale `xm`.
fn pareto2(rng: &mut ChaCha8Rng, xm: f64) -> f64 {
    let u = 1.0 - unit(rng); // (0, 1]
    xm / u.sqrt()
}

/// The scale scenario: `users` people with Pareto (α = 2) follows and posts.
/// `progress(phase, done, total)` is called as the run goes.
///
/// # Errors
/// [`SimError::BadKnob`] for bad knobs.
pub fn scale(
    users: usize,
    seed: u64,
    memoise: bool,
    eager: bool,
    post_scale: f64,
    mut progress: impl FnMut(&str, u64, u64),
) -> Result<ScaleOutcome, SimError> {
    let mut sim = Builder {
        nodes: users,
        seed,
        latency_ms_min: 20,
        latency_ms_max: 200,
        tick_interval_ms: 1_000,
        memoise_signatures: memoise,
        eager_push: eager,
        ..Builder::default()
    }
    .build()?;
    let mut w = ChaCha8Rng::seed_from_u64(stream_seed(seed, 20));
    // Popularity weights, Pareto(2); cumulative for sampling whom to follow.
    let weights: Vec<f64> = (0..users).map(|_| pareto2(&mut w, 1.0)).collect();
    let mut cum = Vec::with_capacity(users);
    let mut acc = 0.0;
    for x in &weights {
        acc += x;
        cum.push(acc);
    }
    let mut followers = vec![0u64; users];
    let mut follower_lists: Vec<Vec<u32>> = vec![Vec::new(); users];
    let mut edges = 0u64;
    for i in 0..users {
        let k = (pareto2(&mut w, 5.0) as usize).min(400);
        for _ in 0..k {
            let r = unit(&mut w) * acc;
            let j = cum.partition_point(|c| *c < r).min(users - 1);
            if j != i && !sim.follows_of(i).contains(&sim.author(j)) {
                sim.follow(i, j);
                sim.connect(i, j);
                // Followers of one author also peer with a few of each other, so an
                // author's posts spread epidemically among its followers instead of
                // only through the author.
                for _ in 0..2 {
                    let fl = &follower_lists[j];
                    if !fl.is_empty() {
                        let k = fl[(w.next_u64() % fl.len() as u64) as usize] as usize;
                        sim.connect(i, k);
                    }
                }
                follower_lists[j].push(i as u32);
                followers[j] += 1;
                edges += 1;
            }
        }
        for _ in 0..2 {
            let j = range(&mut w, 0, users as u64 - 1) as usize;
            sim.connect(i, j);
        }
        if i % 1000 == 0 {
            progress("building graph", i as u64, users as u64);
        }
    }
    // Posts: Pareto(2) per user, scaled so deliveries reach about a million at 10k users.
    let post_window_ms = 60_000u64;
    let mut plan: Vec<(u64, usize)> = Vec::new();
    let mut expected = 0u64;
    for (i, f) in followers.iter().enumerate() {
        let k = (pareto2(&mut w, post_scale) as u64).min(200);
        for _ in 0..k {
            plan.push((range(&mut w, 0, post_window_ms), i));
        }
        expected += k * f;
    }
    plan.sort_unstable();
    let total_posts = plan.len() as u64;
    let mut series = Vec::new();
    let mut next = 0usize;
    let mut t = 0u64;
    // Five simulated minutes: posting takes one, the rest is for the tail.
    let limit_ms = 300_000u64;
    while t < limit_ms {
        t += 1_000;
        while next < plan.len() && plan[next].0 < t {
            let (at, i) = plan[next];
            sim.run_until(at, |_| {});
            let _ = sim.post(i, "a post in the scale scenario");
            next += 1;
        }
        sim.run_until(t, |_| {});
        let d = sim.stats().deliveries;
        series.push((
            t,
            if expected == 0 {
                1.0
            } else {
                d as f64 / expected as f64
            },
        ));
        progress("simulating (deliveries)", d, expected);
        if next == plan.len() && d >= expected {
            break;
        }
    }
    let mut lacking = Vec::new();
    'nodes: for i in 0..users {
        for a in sim.follows_of(i) {
            let j = sim.index_of(a).unwrap_or(0);
            let (have, full) = (sim.head_seq(i, a), sim.head_seq(j, a));
            if have < full {
                if lacking.len() == LACKS_SHOWN {
                    break 'nodes;
                }
                lacking.push(Lack {
                    node: i,
                    node_follows: sim.follows_of(i).len(),
                    node_peers: sim.peers_of(i).len(),
                    author: j,
                    have,
                    full,
                    author_followers: followers[j],
                    author_peers: sim.peers_of(j).len(),
                    view: sim.node(i).map(|n| (n.follows(a), n.peer_score(j as u32))),
                });
            }
        }
    }
    let st = sim.stats();
    let mut lat = st.latencies_ms.clone();
    lat.sort_unstable();
    let pct = |p: f64| -> u64 {
        if lat.is_empty() {
            0
        } else {
            lat[((lat.len() - 1) as f64 * p) as usize]
        }
    };
    let deliveries = st.deliveries.max(1) as f64;
    let msgs = st.heads.messages + st.wants.messages + st.blocks.messages + st.forks.messages;
    let bytes = st.heads.bytes + st.wants.bytes + st.blocks.bytes + st.forks.bytes;
    let node_ticks = users as f64 * (sim.now_ms() as f64 / 1_000.0).max(1.0);
    Ok(ScaleOutcome {
        seed,
        users,
        follows: edges,
        posts: total_posts,
        expected_deliveries: expected,
        deliveries: st.deliveries,
        coverage: if expected == 0 {
            1.0
        } else {
            st.deliveries as f64 / expected as f64
        },
        latency_ms_p50: pct(0.50),
        latency_ms_p90: pct(0.90),
        latency_ms_p99: pct(0.99),
        latency_ms_max: lat.last().copied().unwrap_or(0),
        messages_per_delivery: msgs as f64 / deliveries,
        bytes_per_delivery: bytes as f64 / deliveries,
        block_transfers_per_delivery: st.blocks.messages as f64 / deliveries,
        heads_messages_per_node_tick: st.heads.messages as f64 / node_ticks,
        heads_bytes_per_node_tick: st.heads.bytes as f64 / node_ticks,
        events: st.events,
        simulated_ms: sim.now_ms(),
        memoised_signatures: memoise,
        eager_push: eager,
        real_signature_checks: sim.sigs().real_checks(),
        real_key_admissions: sim.sigs().real_admissions(),
        trace_hash: format!("{:016x}", sim.trace_hash()),
        series,
        lacking,
    })
}
