//! Issue 15's soak: 8 honest `glitter node` processes and 2 adversaries (a
//! `--fake-heads` liar and an `--evil` forger, the forger killed with SIGKILL and
//! restarted twice) run for `GLITTER_SOAK_SECS` seconds (default 20: the CI version)
//! while every honest node posts every 1–2 s. Then:
//!
//! - every honest post reaches every honest follower (within [`SETTLE`] after the last
//!   post), and each follower's block ids for each honest author equal the author's,
//!   as do the ids each post was acknowledged with: nothing honest is lost;
//! - every honest node held the forger below zero (or banned it) at some point: in a
//!   sample (every 1–5 s, see [`report::Sample`]) or, failing that, within
//!   [`VERDICT_WAIT`] after the run (a ban lasts 60 s, and a peer that reconnects after
//!   its ban ended starts again from 0). So did it hold the `--fake-heads` liar, whose
//!   unanswered wants time out;
//! - each honest node's resident memory (VmRSS) at the end of the run is at most its
//!   value after the warm-up (the first 20% of the run) plus
//!   [`report::growth_bound_kib`].
//!
//! The memory curve is printed as a table and written as JSON to the path in
//! `GLITTER_SOAK_REPORT` (default `target/soak-report.json`). The schedule (post
//! times, the forger's down times) comes from `GLITTER_SOAK_SEED` (default 15) and is
//! printed. The full soak, documented in docs/PERFORMANCE.md ("Soak"):
//!
//! ```sh
//! GLITTER_SOAK_SECS=120 cargo test -p glitter --test net_soak -- --nocapture
//! ```

#[path = "../cli_common/mod.rs"]
mod cli_common;
#[path = "../net_common/mod.rs"]
mod net_common;
mod report;

use cli_common::Rng;
use glitter_net::{Request, control_request};
use net_common::{NodeProc, wait_for};
use report::{Sample, below_zero, mib, percentile, sample, verdict};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Honest nodes.
const HONEST: usize = 8;
/// Honest node `i` follows honest authors `i+1 ..= i+FOLLOWS` (mod [`HONEST`]): every
/// honest author has `FOLLOWS` honest followers, and every node also relays the heads
/// of authors it does not follow.
const FOLLOWS: usize = 5;
/// The CI run's length.
const DEFAULT_SECS: u64 = 20;
const DEFAULT_SEED: u64 = 15;
/// Each honest node posts again after a time drawn uniformly from this range (ms).
const POST_GAP_MS: (u64, u64) = (1_000, 2_000);
/// The memory baseline is the first sample at or after this share of the run.
const WARM_FRACTION: f64 = 0.2;
/// How long after the last post every honest follower may take to catch up.
const SETTLE: Duration = Duration::from_secs(30);
/// How long after the run an honest node that never held an adversary below zero in a
/// sample may take to do so.
const VERDICT_WAIT: Duration = Duration::from_secs(30);
/// When the forger is killed (shares of the run); its down time is drawn from
/// [`EVIL_DOWN_MS`].
const EVIL_KILLS: [f64; 2] = [0.4, 0.7];
const EVIL_DOWN_MS: (u64, u64) = (500, 2_000);

enum Event {
    Post(usize),
    Sample,
}

/// The run's timeline (ms since the start): posts and samples, in order, and the
/// forger's restarts (kill time, down time).
struct Schedule {
    events: Vec<(u64, Event)>,
    evil_restarts: Vec<(u64, u64)>,
}

fn schedule(seed: u64, run_ms: u64, sample_ms: u64) -> Schedule {
    let mut rng = Rng::new(seed);
    let mut events = Vec::new();
    let mean = (POST_GAP_MS.0 + POST_GAP_MS.1) / 2;
    for i in 0..HONEST {
        // Staggered first posts, then independent gaps.
        let mut at = i as u64 * mean / HONEST as u64 + rng.range((0, 100));
        while at < run_ms {
            events.push((at, Event::Post(i)));
            at += rng.range(POST_GAP_MS);
        }
    }
    let mut at = 0;
    while at < run_ms {
        events.push((at, Event::Sample));
        at += sample_ms;
    }
    events.push((run_ms, Event::Sample));
    events.sort_by_key(|(at, _)| *at);
    let evil_restarts = EVIL_KILLS
        .iter()
        .map(|f| ((run_ms as f64 * f) as u64, rng.range(EVIL_DOWN_MS)))
        .collect();
    Schedule {
        events,
        evil_restarts,
    }
}

/// The followers' view, polled until `stop`: when each (follower, author, seq) was
/// first seen stored (s since `t0`).
fn observe(
    data: &[PathBuf],
    follows: &[Vec<usize>],
    authors: &[String],
    t0: Instant,
    stop: &AtomicBool,
) -> HashMap<(usize, usize, u64), f64> {
    let mut last = vec![vec![0u64; HONEST]; HONEST];
    let mut seen = HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        for (f, dir) in data.iter().enumerate() {
            let Ok(r) = control_request(dir, &Request::Status) else {
                continue;
            };
            let t = t0.elapsed().as_secs_f64();
            for &a in &follows[f] {
                let seq = r.data["heads"][&authors[a]].as_u64().unwrap_or(0);
                while last[f][a] < seq {
                    last[f][a] += 1;
                    seen.insert((f, a, last[f][a]), t);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    seen
}

/// Kills and restarts the forger at the scheduled times (until `stop`); returns
/// (killed, back) in s.
fn churn(
    evil: &mut NodeProc,
    restarts: &[(u64, u64)],
    t0: Instant,
    stop: &AtomicBool,
) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for &(at, down) in restarts {
        while Instant::now() < t0 + Duration::from_millis(at) {
            if stop.load(Ordering::Relaxed) {
                return out;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        evil.kill9();
        let killed = t0.elapsed().as_secs_f64();
        std::thread::sleep(Duration::from_millis(down));
        evil.start();
        out.push((killed, t0.elapsed().as_secs_f64()));
    }
    out
}

/// Sets the flag when dropped: a failure on the main thread also ends the helper
/// threads (a scope waits for them before it passes the panic on).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Sleeps until `t`; returns how late it already was (s).
fn sleep_until(t: Instant) -> f64 {
    match t.checked_duration_since(Instant::now()) {
        Some(d) => {
            std::thread::sleep(d);
            0.0
        }
        None => (Instant::now() - t).as_secs_f64(),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
        })
        .unwrap_or(default)
}

/// Each follower that does not hold an author's head: (follower, author, its head,
/// the author's head).
fn lagging(honest: &[NodeProc], follows: &[Vec<usize>]) -> Vec<(usize, usize, u64, u64)> {
    let heads: Vec<u64> = honest.iter().map(|n| n.head_of(&n.author)).collect();
    let mut out = Vec::new();
    for (f, node) in honest.iter().enumerate() {
        for &a in &follows[f] {
            let h = node.head_of(&honest[a].author);
            if h != heads[a] {
                out.push((f, a, h, heads[a]));
            }
        }
    }
    out
}

struct Post {
    author: usize,
    seq: u64,
    id: String,
    /// When it was sent (s since the start).
    t: f64,
}

/// Every block of every honest author a follower does not hold with the author's id,
/// and every acknowledged post the author does not hold with the acknowledged id.
fn losses(honest: &[NodeProc], follows: &[Vec<usize>], posts: &[Post]) -> Vec<String> {
    let mut out = Vec::new();
    let ids: Vec<Vec<Option<String>>> = honest
        .iter()
        .map(|n| {
            let head = n.head_of(&n.author);
            (1..=head).map(|s| n.id_of(&n.author, s)).collect()
        })
        .collect();
    for p in posts {
        let have = ids[p.author].get(p.seq as usize - 1).cloned().flatten();
        if have.as_deref() != Some(p.id.as_str()) {
            out.push(format!(
                "h{} lost its own post {} ({have:?})",
                p.author, p.seq
            ));
        }
    }
    for (f, node) in honest.iter().enumerate() {
        for &a in &follows[f] {
            for (s, want) in ids[a].iter().enumerate() {
                let got = node.id_of(&honest[a].author, s as u64 + 1);
                if &got != want {
                    out.push(format!(
                        "h{f} holds h{a}:{} as {got:?}, not {want:?}",
                        s + 1
                    ));
                }
            }
        }
    }
    out
}

/// The ten processes, connected and following.
struct Cluster {
    honest: Vec<NodeProc>,
    liar: NodeProc,
    evil: NodeProc,
    follows: Vec<Vec<usize>>,
    _dir: tempfile::TempDir,
}

fn start_cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let base =
        |tick: &str| -> Vec<String> { vec!["--tick-ms".into(), tick.into(), "--no-fsync".into()] };
    // Honest nodes in a complete graph (each dials those started before it).
    let mut honest: Vec<NodeProc> = Vec::new();
    for i in 0..HONEST {
        let mut n = NodeProc::new(dir.path(), &format!("h{i}"), 0xA0 + i as u8);
        n.extra = base("200");
        n.peers = honest.iter().map(|q| q.addr.clone()).collect();
        n.start();
        honest.push(n);
    }
    let all_honest: Vec<String> = honest.iter().map(|n| n.addr.clone()).collect();
    // The liar announces heads 3 blocks past the truth every 50 ms and never answers a
    // want; the forger announces malformed and inflated heads and serves forged blocks.
    let mut liar = NodeProc::new(dir.path(), "liar", 0xB0);
    liar.extra = [base("50"), vec!["--fake-heads".into()]].concat();
    liar.peers = all_honest.clone();
    liar.start();
    let mut evil = NodeProc::new(dir.path(), "evil", 0xB1);
    evil.extra = [base("200"), vec!["--evil".into()]].concat();
    evil.peers = all_honest;
    evil.start();
    let follows: Vec<Vec<usize>> = (0..HONEST)
        .map(|i| (1..=FOLLOWS).map(|k| (i + k) % HONEST).collect())
        .collect();
    for (i, n) in honest.iter().enumerate() {
        for &a in &follows[i] {
            n.follow(&honest[a].author);
        }
        // The adversaries' own chains too: their answers for them are lies as well.
        n.follow(&liar.author);
        n.follow(&evil.author);
    }
    // The adversaries follow every honest author, so they have heads to inflate.
    for adv in [&liar, &evil] {
        for n in &honest {
            adv.follow(&n.author);
        }
    }
    for n in &honest {
        wait_for(
            &format!("{} to connect to all 9 others", n.name),
            Duration::from_secs(30),
            || (n.ctl(Request::Status).data["connected"].as_u64()? >= 9).then_some(()),
        );
    }
    Cluster {
        honest,
        liar,
        evil,
        follows,
        _dir: dir,
    }
}

/// What a run leaves: the posts, the samples (the last one after the settle time),
/// when followers saw each post, and the settling.
struct Run {
    posts: Vec<Post>,
    samples: Vec<Sample>,
    seen: HashMap<(usize, usize, u64), f64>,
    restarts: Vec<(f64, f64)>,
    late_max: f64,
    settle_s: f64,
    lag: Vec<(usize, usize, u64, u64)>,
}

/// Posts and samples on this thread, the forger's restarts and the followers' view on
/// two others; then waits up to [`SETTLE`] for every follower to catch up.
fn run(c: &mut Cluster, sched: &Schedule, watch: &[String]) -> Run {
    let t0 = Instant::now();
    let stop = AtomicBool::new(false);
    let data: Vec<PathBuf> = c.honest.iter().map(|n| n.data.clone()).collect();
    let authors: Vec<String> = c.honest.iter().map(|n| n.author.clone()).collect();
    let (honest, follows, evil) = (&c.honest, &c.follows, &mut c.evil);
    let mut posts = Vec::new();
    let mut samples = Vec::new();
    let mut late_max: f64 = 0.0;
    let (lag, settle_s, seen, restarts) = std::thread::scope(|s| {
        let observer = s.spawn(|| observe(&data, follows, &authors, t0, &stop));
        let (restarts, stop_ref) = (&sched.evil_restarts, &stop);
        let churner = s.spawn(move || churn(evil, restarts, t0, stop_ref));
        let stop_guard = StopOnDrop(&stop);
        for (at, ev) in &sched.events {
            late_max = late_max.max(sleep_until(t0 + Duration::from_millis(*at)));
            match ev {
                Event::Post(i) => {
                    let t = t0.elapsed().as_secs_f64();
                    let (seq, id) = honest[*i].post(&format!("soak h{i} at {at} ms"));
                    posts.push(Post {
                        author: *i,
                        seq,
                        id,
                        t,
                    });
                }
                Event::Sample => samples.push(sample(honest, t0, watch)),
            }
        }
        let restarts = churner.join().expect("the forger's restarts");
        let settle = Instant::now();
        let lag = loop {
            let l = lagging(honest, follows);
            if l.is_empty() || settle.elapsed() > SETTLE {
                break l;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let settle_s = settle.elapsed().as_secs_f64();
        drop(stop_guard);
        let seen = observer.join().expect("the observer");
        (lag, settle_s, seen, restarts)
    });
    samples.push(sample(honest, t0, watch));
    Run {
        posts,
        samples,
        seen,
        restarts,
        late_max,
        settle_s,
        lag,
    }
}

/// Latencies (s) from each post to the first time each follower was seen holding it,
/// sorted, and how many deliveries the observer never saw.
fn latencies(r: &Run, follows: &[Vec<usize>]) -> (Vec<f64>, usize) {
    let mut lat = Vec::new();
    let mut unseen = 0;
    for p in &r.posts {
        for (f, fl) in follows.iter().enumerate() {
            if fl.contains(&p.author) {
                match r.seen.get(&(f, p.author, p.seq)) {
                    Some(t) => lat.push((t - p.t).max(0.0)),
                    None => unseen += 1,
                }
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    (lat, unseen)
}

/// Why followers never caught up: their heads, wants over time, peers and log.
fn lag_report(c: &Cluster, r: &Run, seed: u64, secs: u64) -> String {
    let mut why = String::new();
    for &(f, a, h, ah) in &r.lag {
        let wants: Vec<u64> = r
            .samples
            .iter()
            .map(|s| {
                s.nodes[f].status["core"]["wants_sent"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .collect();
        let last_post = r
            .posts
            .iter()
            .filter(|p| p.author == a)
            .map(|p| p.t)
            .next_back();
        why.push_str(&format!(
            "h{f} holds h{a} at seq {h}, h{a} at {ah} (h{a}'s last post at {last_post:?} s); \
             h{f}'s wants_sent per sample {wants:?}; h{f}'s peers {}\n",
            c.honest[f].ctl(Request::Peers).data
        ));
    }
    let f = r.lag[0].0;
    format!(
        "seed {seed}, {secs} s: {} follower(s) never caught up within {SETTLE:?} after the \
         last post:\n{why}--- h{f}'s log ---\n{}",
        r.lag.len(),
        c.honest[f].logs()
    )
}

/// The soak: nothing honest lost, memory flat, and every honest node held both
/// adversaries below zero at some point.
fn soak() {
    let secs = env_u64("GLITTER_SOAK_SECS", DEFAULT_SECS);
    let seed = env_u64("GLITTER_SOAK_SEED", DEFAULT_SEED);
    let run_ms = secs * 1000;
    // About 24 samples in a long run, one a second in a short one, at most 5 s apart.
    let sample_ms = (run_ms / 24).clamp(1_000, 5_000);
    let sched = schedule(seed, run_ms, sample_ms);
    println!(
        "soak: {secs} s, seed {seed} (GLITTER_SOAK_SECS, GLITTER_SOAK_SEED), samples every \
         {sample_ms} ms, forger restarts (at ms, down ms) {:?}",
        sched.evil_restarts
    );
    let setup = Instant::now();
    let mut c = start_cluster();
    // Watched at every sample: the liar (index 0) and the forger (1).
    let watch = [c.liar.peer_id(), c.evil.peer_id()];
    println!("set-up took {:.1} s", setup.elapsed().as_secs_f64());
    let r = run(&mut c, &sched, &watch);
    let lost = losses(&c.honest, &c.follows, &r.posts);
    // How often each honest node held each adversary below zero (or banned) in the
    // samples; one that never did is watched a while longer.
    let held = |i: usize, a: usize| {
        let views = r.samples.iter().map(|s| s.nodes[i].watched[a]);
        let below = views.clone().filter(|v| below_zero(*v)).count();
        let banned = views.filter(|v| v.is_some_and(|v| v.0)).count();
        (below, banned)
    };
    let wait = Instant::now();
    let mut held_ever: Vec<[bool; 2]> = vec![[false; 2]; HONEST];
    while wait.elapsed() < VERDICT_WAIT {
        for (i, n) in c.honest.iter().enumerate() {
            for a in 0..2 {
                held_ever[i][a] |= held(i, a).0 > 0 || below_zero(verdict(n, &watch[a]));
            }
        }
        if held_ever.iter().all(|l| l[0] && l[1]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    // The run's samples end at `secs`; the one after the settle time is printed too.
    let in_run = r.samples.len() - 1;
    let warm = r.samples[..in_run]
        .iter()
        .position(|s| s.t >= secs as f64 * WARM_FRACTION)
        .expect("a sample after the warm-up");
    let memory = report::memory(&r.samples[..in_run], warm);
    let (lat, unseen) = latencies(&r, &c.follows);
    println!(
        "\nposts {} ({} deliveries to followers seen, {unseen} not seen by the observer); \
         latency p50 {:.3} s, p90 {:.3} s, p99 {:.3} s, max {:.3} s (observer resolution \
         about 0.15 s); caught up {:.1} s after the last post; schedule slipped at most \
         {:.3} s; forger (killed, back) at {:.1?} s",
        r.posts.len(),
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        r.settle_s,
        r.late_max,
        r.restarts,
    );
    let after = &r.samples[in_run];
    let n_samples = r.samples.len();
    for (i, node) in after.nodes.iter().enumerate() {
        let ((lb, lx), (eb, ex)) = (held(i, 0), held(i, 1));
        println!(
            "h{i}: liar below zero in {lb}/{n_samples} samples (banned {lx}), now {:?}; forger \
             below zero in {eb}/{n_samples} (banned {ex}), now {:?}; VmRSS {:.1} MiB after \
             settling; core {}; net {}",
            node.watched[0],
            node.watched[1],
            mib(node.rss_kib),
            node.status["core"],
            node.status["net"]
        );
    }
    let json_report = json!({
        "seed": seed, "secs": secs, "sample_ms": sample_ms, "warm_fraction": WARM_FRACTION,
        "honest": (0..HONEST).map(|i| format!("h{i}")).collect::<Vec<_>>(),
        "follows": c.follows, "evil_restarts_s": r.restarts,
        "samples": report::samples_json(&r.samples),
        "memory": memory.summary,
        "posts": r.posts.len(), "deliveries_seen": lat.len(), "unseen": unseen,
        "latency_s": {"p50": percentile(&lat, 0.5), "p90": percentile(&lat, 0.9),
            "p99": percentile(&lat, 0.99), "max": lat.last()},
        "settle_s": r.settle_s, "schedule_slip_max_s": r.late_max,
        "lagging": r.lag.iter()
            .map(|(f, a, h, ah)| format!("h{f} holds h{a} at {h}, the author at {ah}"))
            .collect::<Vec<_>>(),
        "lost": lost,
        "below_zero_samples": (0..HONEST)
            .map(|i| json!({"liar": held(i, 0), "evil": held(i, 1)})).collect::<Vec<_>>(),
        "held_below_zero": held_ever,
    });
    let path = std::env::var_os("GLITTER_SOAK_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            tmp.parent().unwrap_or(&tmp).join("soak-report.json")
        });
    std::fs::write(&path, serde_json::to_string_pretty(&json_report).unwrap())
        .expect("write report");
    println!("report: {}", path.display());

    // The verdicts.
    if !r.lag.is_empty() {
        panic!("{}", lag_report(&c, &r, seed, secs));
    }
    assert!(
        lost.is_empty(),
        "seed {seed}: honest blocks lost: {lost:#?}"
    );
    for (i, l) in held_ever.iter().enumerate() {
        assert!(
            l[0] && l[1],
            "seed {seed}: h{i} never held an adversary below zero (liar, forger): {l:?}"
        );
    }
    let too_much = memory.too_much;
    assert!(
        too_much.is_empty(),
        "seed {seed}: memory grew: {too_much:#?}"
    );
}

/// The soak, with both adversaries held below zero by every honest node. The liar's
/// penalty comes from its held wants timing out: with at most 32 requests in flight to
/// one peer, 8 honest nodes keep at most 256 wants held, which the `--fake-heads`
/// adversary keeps until they time out. (Before that cap it dropped the oldest as newer
/// ones came, its streams closed before the timeout, and only a timeout costs the
/// announcer, so the liar stayed at 0 everywhere.)
#[test]
fn soak_nothing_honest_is_lost_memory_stays_flat_and_adversaries_sink() {
    soak();
}
