//! A peer that announces heads beyond the truth for a followed author every 50 ms and
//! never answers a want (`glitter node --fake-heads`, a hidden test-only mode) does
//! not stall replication: an honest post reaches an honest follower about as fast as
//! without the liar, and the liar ends up scored below zero (or banned) by the core,
//! with a gossipsub score no higher than the honest peer's.

mod net_common;

use glitter_net::Request;
use net_common::{NodeProc, wait_for};
use std::time::{Duration, Instant};

/// Posts measured with and without the liar.
const POSTS: usize = 5;

/// Posts `POSTS` times on `author`, each time measuring how long until `follower`
/// stores the post (polled every 5 ms). Returns the latencies in seconds.
fn latencies(author: &NodeProc, follower: &NodeProc, label: &str) -> Vec<f64> {
    let a = author.author.clone();
    let mut out = Vec::new();
    for i in 0..POSTS {
        let t = Instant::now();
        let (seq, _) = author.post(&format!("{label} post {i}"));
        loop {
            if follower.head_of(&a) >= seq {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "{label}: post {i} (seq {seq}) not replicated in 60 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        out.push(t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(300));
    }
    out
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// The `peers` row of `peer_id` on `node`.
fn row(node: &NodeProc, peer_id: &str) -> Option<serde_json::Value> {
    node.ctl(Request::Peers)
        .data
        .as_array()?
        .iter()
        .find(|r| r["peer_id"] == peer_id)
        .cloned()
}

#[test]
fn fake_heads_do_not_stall_replication() {
    let dir = tempfile::tempdir().unwrap();
    let tick = vec!["--tick-ms".to_string(), "200".to_string()];
    let mut author = NodeProc::new(dir.path(), "author", 0x71);
    author.extra = tick.clone();
    author.start();
    let mut follower = NodeProc::new(dir.path(), "follower", 0x72);
    follower.extra = tick;
    follower.peers = vec![author.addr.clone()];
    follower.start();
    let a = author.author.clone();
    follower.follow(&a);
    let (seq, _) = author.post("warm-up");
    wait_for("the warm-up post", Duration::from_secs(20), || {
        (follower.head_of(&a) >= seq).then_some(())
    });

    let base = latencies(&author, &follower, "baseline");

    // The liar: connected to both, following the author (so it has a head to inflate),
    // announcing head + 3 every 50 ms and never answering a want.
    let mut liar = NodeProc::new(dir.path(), "liar", 0x73);
    liar.extra = vec!["--tick-ms".into(), "50".into(), "--fake-heads".into()];
    liar.peers = vec![author.addr.clone(), follower.addr.clone()];
    liar.start();
    liar.follow(&a);
    let head = author.head_of(&a);
    wait_for(
        "the liar to hold the author's chain",
        Duration::from_secs(20),
        || (liar.head_of(&a) >= head).then_some(()),
    );
    let liar_id = liar.peer_id();
    let author_id = author.peer_id();
    wait_for(
        "the follower to see the liar",
        Duration::from_secs(20),
        || row(&follower, &liar_id).map(|_| ()),
    );
    // Let its lies reach the follower for a while (gossipsub mesh, several 50 ms ticks).
    std::thread::sleep(Duration::from_secs(2));

    let attacked = latencies(&author, &follower, "attacked");

    let (mb, ma) = (median(&base), median(&attacked));
    println!("baseline latencies (s): {base:.3?}; median {mb:.3}");
    println!("with the liar (s):      {attacked:.3?}; median {ma:.3}");
    let bound = (2.0 * mb).max(mb + 0.5);
    assert!(
        ma <= bound,
        "median latency with the liar {ma:.3} s above {bound:.3} s (baseline {mb:.3} s)"
    );

    // The liar is penalised by the core and sinks in gossipsub too.
    let t = Instant::now();
    let (liar_row, honest_row) = wait_for(
        "the follower to score the liar below zero and below the honest peer in gossipsub",
        Duration::from_secs(40),
        || {
            let l = row(&follower, &liar_id)?;
            let h = row(&follower, &author_id)?;
            let core_bad = l["banned"].as_bool()? || l["core_score"].as_i64()? < 0;
            let gossip_ok = l["gossipsub_score"].as_f64()? <= h["gossipsub_score"].as_f64()?;
            (core_bad && gossip_ok).then_some((l, h))
        },
    );
    println!(
        "after {} ms more: liar {liar_row}; honest author {honest_row}",
        t.elapsed().as_millis()
    );
    let status = follower.ctl(Request::Status).data;
    println!("follower: core {}, net {}", status["core"], status["net"]);
    // The liar's held requests never crowded out honest ones.
    assert_eq!(status["net"]["requests_dropped"].as_u64(), Some(0));
}
