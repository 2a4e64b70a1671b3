//! Replication rate between two local `glitter node` processes, as a ratio to the
//! simulator's in-process rate on the same machine and in the same run, and CPU time
//! per replicated block. Prints its figures (run with `--nocapture`); the numbers in
//! docs/PERFORMANCE.md come from
//! `GLITTER_NET_BENCH_BLOCKS=5000 cargo test --release -p glitter-sim --test net_perf -- --nocapture`.

mod net_common;

use glitter_sim::node::Request;
use glitter_sim::sim::Builder;
use net_common::{NodeProc, wait_for};
use std::time::{Duration, Instant};

fn blocks() -> u64 {
    std::env::var("GLITTER_NET_BENCH_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400)
}

/// Wall seconds for the simulator to replicate `n` blocks from node 0 to node 1.
fn simulator_secs(n: u64) -> f64 {
    let mut sim = Builder {
        nodes: 2,
        seed: 7,
        latency_ms_min: 1,
        latency_ms_max: 1,
        tick_interval_ms: 200,
        ..Builder::default()
    }
    .build()
    .unwrap();
    sim.connect(0, 1);
    for i in 0..n {
        sim.post(0, &format!("bench post {i}")).unwrap();
    }
    let a = sim.author(0);
    let start = Instant::now();
    sim.follow(1, 0);
    // Bounded: each step is one event; far more than n blocks need.
    for _ in 0..50_000_000u64 {
        if sim.head_seq(1, &a) >= n {
            break;
        }
        assert!(sim.step(), "the simulator ran out of events");
    }
    assert_eq!(sim.head_seq(1, &a), n);
    start.elapsed().as_secs_f64()
}

/// Replicates `n` blocks between two fresh node processes; returns (wall s, receiver
/// CPU ms, sender CPU ms).
fn network_run(n: u64, fsync: bool) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut src = NodeProc::new(dir.path(), "source", 0x41);
    src.extra = vec!["--tick-ms".into(), "200".into()];
    src.start();
    src.ctl(Request::PostMany {
        count: u32::try_from(n).unwrap(),
    });
    let mut dst = NodeProc::new(dir.path(), "sink", 0x42);
    dst.extra = vec!["--tick-ms".into(), "200".into()];
    if !fsync {
        dst.extra.push("--no-fsync".into());
    }
    dst.peers = vec![src.addr.clone()];
    dst.start();
    wait_for("the sink to connect", Duration::from_secs(10), || {
        (dst.ctl(Request::Status).data["connected"].as_u64()? > 0).then_some(())
    });
    let a = src.author.clone();
    let (dst_cpu0, src_cpu0) = (dst.cpu_ms().unwrap_or(0.0), src.cpu_ms().unwrap_or(0.0));
    let start = Instant::now();
    dst.follow(&a);
    wait_for("the sink to replicate", Duration::from_secs(120), || {
        (dst.head_of(&a) >= n).then_some(())
    });
    let secs = start.elapsed().as_secs_f64();
    let dst_cpu = dst.cpu_ms().unwrap_or(0.0) - dst_cpu0;
    let src_cpu = src.cpu_ms().unwrap_or(0.0) - src_cpu0;
    assert_eq!(dst.id_of(&a, n), src.id_of(&a, n));
    (secs, dst_cpu, src_cpu)
}

#[test]
fn replication_rate_against_the_simulator() {
    let n = blocks();
    let sim_secs = simulator_secs(n);
    let sim_rate = n as f64 / sim_secs;
    println!("blocks: {n}");
    println!(
        "simulator: {sim_secs:.3} s, {sim_rate:.0} blocks/s (in process, no memoised signatures)"
    );
    for fsync in [true, false] {
        let (secs, dst_cpu, src_cpu) = network_run(n, fsync);
        let rate = n as f64 / secs;
        println!(
            "network ({}): {secs:.3} s, {rate:.0} blocks/s, ratio to the simulator {:.3}; \
             CPU per block: receiver {:.1} µs, sender {:.1} µs",
            if fsync {
                "fsync per write"
            } else {
                "--no-fsync"
            },
            rate / sim_rate,
            dst_cpu * 1000.0 / n as f64,
            src_cpu * 1000.0 / n as f64
        );
    }
}
