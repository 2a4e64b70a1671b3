//! Replication rate between two local `glitter node` processes, as a ratio to the
//! simulator's in-process rate on the same machine and in the same run, and CPU time
//! per replicated block; and backup and restore across processes against the same
//! engine in process. Prints its figures (run with `--nocapture`); the numbers in
//! docs/PERFORMANCE.md come from
//! `GLITTER_NET_BENCH_BLOCKS=5000 cargo test --release -p glitter-sim --test net_perf -- --nocapture`.

mod net_common;

use glitter_net::Request;
use glitter_sim::Builder;
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
                "fsync, group commit"
            } else {
                "--no-fsync"
            },
            rate / sim_rate,
            dst_cpu * 1000.0 / n as f64,
            src_cpu * 1000.0 / n as f64
        );
    }
}

/// Backup to three custodian processes and restore from two of them, against the
/// same engine run in process on the same chain in the same run. The numbers in
/// docs/PERFORMANCE.md come from
/// `GLITTER_NET_BENCH_BLOCKS=5000 cargo test --release -p glitter-sim --test net_perf backup -- --nocapture`.
#[test]
fn backup_and_restore_over_the_network_against_the_engine() {
    use glitter_core::backup::seal::RequesterKey;
    use glitter_host::backup::{Custody, prepare_backup, read_custody, restore};
    use glitter_host::datadir::DataDir;
    use std::io::BufRead;
    let n = blocks();
    let dir = tempfile::tempdir().unwrap();
    let nodes = net_common::start_nodes(dir.path(), &["owner", "c1", "c2", "c3"], 0x51, None);
    let owner = nodes[0].author.clone();
    nodes[0].ctl(Request::PostMany {
        count: u32::try_from(n).unwrap(),
    });
    for c in &nodes[1..] {
        c.follow(&owner);
        c.accept_custody(&owner);
    }
    let custodians: Vec<String> = nodes[1..].iter().map(|c| c.author.clone()).collect();
    net_common::wait_authors_known(&nodes[0], 3);
    // 1. Network backup: the control request returns when all three receipts are in.
    let t = Instant::now();
    let r = nodes[0].ctl(Request::Backup {
        custodians,
        threshold: 2,
    });
    let net_backup = t.elapsed().as_secs_f64();
    assert_eq!(r.data["held"].as_u64(), Some(3), "{r:?}");
    let head = r.data["seq"].as_u64().unwrap();
    for c in &nodes[1..] {
        wait_for("custodians to replicate", Duration::from_secs(60), || {
            (c.head_of(&owner) >= head).then_some(())
        });
    }
    // 2. Network restore: from the second approval to the end of `glitter restore`.
    let new_dir = dir.path().join("new");
    let mut child = std::process::Command::new(net_common::bin())
        .arg("--data-dir")
        .arg(&new_dir)
        .args(["restore", "--owner", &owner, "--wait", "120"])
        .args(["--custodian", &nodes[1].addr, "--custodian", &nodes[2].addr])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let code = loop {
        let l = lines.next().unwrap().unwrap();
        if let Some(c) = l.strip_prefix("device code: ") {
            break c.to_string();
        }
    };
    let approve = |c: &NodeProc| {
        c.ctl(Request::Release {
            owner: owner.clone(),
            code: code.clone(),
            valid_for_s: Some(300),
        })
    };
    approve(&nodes[1]);
    let t = Instant::now();
    approve(&nodes[2]);
    for l in lines.by_ref() {
        let _ = l;
    }
    let status = child.wait().unwrap();
    let net_restore = t.elapsed().as_secs_f64();
    assert!(status.success());
    let restored = DataDir::open(&new_dir).unwrap();
    let pk = restored.identity().unwrap().public();
    assert_eq!(pk.to_string(), owner);
    let chain = restored.chain(&pk).unwrap();
    assert_eq!(chain.headers.len() as u64, head);
    // 3. The same engine in process, on the same chain (backup) and the same custody
    //    files (restore), timed in the same run.
    let blocks: Vec<(glitter_core::wire::header::Header, Vec<u8>)> = chain
        .headers
        .iter()
        .zip(&chain.payloads)
        .map(|(h, p)| (*h, p.clone().unwrap()))
        .collect();
    let keys = restored.identity().unwrap();
    let ckeys: Vec<_> = nodes[1..]
        .iter()
        .map(|c| DataDir::open(&c.data).unwrap().identity().unwrap())
        .collect();
    let cpubs: Vec<_> = ckeys.iter().map(|k| k.public()).collect();
    // The chain state at the end of the backed-up part (not timed).
    let body = &blocks[..blocks.len() - 1];
    let mut state = glitter_core::chain::ChainState::new(pk).unwrap();
    let mut headers: Vec<glitter_core::wire::header::Header> = Vec::new();
    for (h, p) in body {
        let h = state
            .verify_next(&h.to_bytes(), Some(p), headers.as_mut_slice())
            .unwrap();
        headers.push(h);
    }
    let t = Instant::now();
    let p = prepare_backup(&keys, body, None, &cpubs, 2, [9; 32]).unwrap();
    let prepare = t.elapsed();
    // The manifest block (signing it is not timed).
    let payload = glitter_core::social::Payload::BackupManifest(p.manifest.clone());
    let mut buf = [0u8; glitter_core::wire::header::PAYLOAD_LEN_MAX];
    let bytes = payload.encode(&mut buf).unwrap().to_vec();
    let ts = headers.last().unwrap().timestamp_ms + 1;
    let mh = state
        .append(&keys, payload.kind(), ts, &bytes, headers.as_mut_slice())
        .unwrap();
    let t = Instant::now();
    for (i, ck) in ckeys.iter().enumerate() {
        Custody::receive(
            ck,
            pk,
            (mh, bytes.clone()),
            p.shares[i],
            p.new_records[i].clone(),
            None,
        )
        .unwrap();
    }
    let engine_backup = (prepare + t.elapsed()).as_secs_f64();
    let device = RequesterKey::new([5; 32]).unwrap();
    let responses: Vec<_> = nodes[1..3]
        .iter()
        .zip(&ckeys)
        .map(|(c, ck)| {
            read_custody(&c.data, &pk)
                .unwrap()
                .unwrap()
                .respond(ck, &device.public())
                .unwrap()
        })
        .collect();
    let t = Instant::now();
    let r = restore(pk, &device, &responses).unwrap();
    let engine_restore = t.elapsed().as_secs_f64();
    assert_eq!(r.chain.len() as u64, head);
    println!("backup of {head} blocks to 3 custodians (k = 2):");
    println!(
        "  network {:.1} ms (control request to all receipts), engine in process {:.1} ms, ratio {:.2}",
        net_backup * 1e3,
        engine_backup * 1e3,
        net_backup / engine_backup
    );
    println!(
        "  restore: network {:.1} ms (second approval to exit, incl. head check), engine in process {:.1} ms, ratio {:.2}",
        net_restore * 1e3,
        engine_restore * 1e3,
        net_restore / engine_restore
    );
}
