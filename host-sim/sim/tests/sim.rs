//! Simulator tests: gossip against theory, determinism, faults, Byzantine peers.

use glitter_core::sync::GossipMode;
use glitter_sim::reference::{self, Graph};
use glitter_sim::scenarios::{self, FaultPlan};

fn replay(cmd: &str, seed: u64) -> String {
    format!("seed {seed}; replay: cargo run --release -p glitter-sim -- sim {cmd} --seed {seed}")
}

#[test]
fn gossip_matches_theory_at_n_1000() {
    // Reference means (200 trials, from the design brief): push-pull 9.2 rounds, push 17.9 rounds.
    let trials: usize = std::env::var("GLITTER_GOSSIP_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    for (mode, expect) in [(GossipMode::PushPull, 9.2), (GossipMode::Push, 17.9)] {
        let s = reference::run(1000, mode, Graph::Complete, trials, 1, true, |_| {});
        let err = (s.mean_rounds - expect).abs() / expect;
        let figures = format!(
            "{mode:?}: mean {:.2} rounds (min {}, max {}), {:.3} block transfers/node",
            s.mean_rounds, s.min_rounds, s.max_rounds, s.block_transfers_per_node
        );
        assert!(
            err <= 0.10,
            "{figures}: mean vs {expect} ({})",
            replay("gossip --nodes 1000", 1)
        );
        assert!(
            s.block_transfers_per_node <= 1.2,
            "{figures}: too many transfers per node ({})",
            replay("gossip --nodes 1000", 1)
        );
    }
}

#[test]
fn faults_converge_with_no_invalid_blocks() {
    let seeds: u64 = std::env::var("GLITTER_FAULT_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let plan = FaultPlan::default();
    let mut worst = 0;
    let mut torn = 0;
    for seed in 1..=seeds {
        let o = scenarios::faults(seed, &plan).unwrap();
        assert!(
            o.failures.is_empty(),
            "{}; {}",
            o.failures.join("; "),
            replay("partition", seed)
        );
        assert!(
            o.converged,
            "did not converge: {}",
            replay(
                "partition --nodes 20 --drop 0.1 --dup 0.05 --crash-rate 1",
                seed
            )
        );
        assert_eq!(o.invalid_stored, 0, "{}", replay("partition", seed));
        assert!(
            o.posts > 0 && o.dropped > 0 && o.duplicated > 0 && o.crashes > 0,
            "{o:?}"
        );
        worst = worst.max(o.converge_ms_after_heal.unwrap_or(0));
        torn += o.torn_crashes;
    }
    assert!(
        torn > 0,
        "no crash tore a flash write in {seeds} seeds (all converged; slowest {worst} ms after heal)"
    );
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let plan = FaultPlan::default();
    let a = scenarios::faults(7, &plan).unwrap();
    let b = scenarios::faults(7, &plan).unwrap();
    let c = scenarios::faults(8, &plan).unwrap();
    assert_eq!(a.trace_hash, b.trace_hash, "{}", replay("partition", 7));
    assert_eq!(a.deliveries, b.deliveries);
    assert_ne!(a.trace_hash, c.trace_hash);
}

#[test]
fn byzantine_peer_never_gets_anything_stored() {
    use glitter_core::sig::KeyPair;
    use glitter_core::sync::{Message, SyncStore};
    use glitter_sim::Builder;
    for seed in 1..=10u64 {
        let mut sim = Builder {
            nodes: 10,
            seed,
            drop_rate: 0.05,
            ..Builder::default()
        }
        .build()
        .unwrap();
        for i in 0..10 {
            for j in 0..10 {
                sim.follow(i, j);
            }
            sim.connect(i, (i + 1) % 10);
            sim.connect(i, (i + 3) % 10);
        }
        let evil = 9usize;
        let evil_keys: KeyPair = sim.keys(evil).clone();
        let victim_author = sim.author(0);
        for round in 0..20u64 {
            for i in 0..9 {
                if round % 4 == i as u64 % 4 {
                    sim.post(i, &format!("honest post {round} by {i}")).unwrap();
                }
            }
            // The attacker takes node 0's latest real block and abuses it.
            let seq = sim
                .node_mut(0)
                .unwrap()
                .store()
                .head(&victim_author)
                .map_or(0, |h| h.seq);
            if seq > 0 {
                let real = sim
                    .node_mut(0)
                    .unwrap()
                    .store()
                    .header(&victim_author, seq)
                    .unwrap();
                let mut attacks: Vec<Vec<u8>> = Vec::new();
                // 1. corrupted signature
                let mut h = real;
                h.signature[40] ^= 1;
                attacks.push(enc(&h.to_bytes(), None));
                // 2. forged: author 0's name, the attacker's signature, next seq
                let mut f = real;
                f.seq += 1;
                f.prev = real.id();
                f.signature = evil_keys.sign(&f.signing_message());
                attacks.push(enc(&f.to_bytes(), None));
                // 3. payload that does not match the header
                attacks.push(enc(&real.to_bytes(), Some(b"\x05hello")));
                // 4. oversized and malformed messages
                attacks.push(vec![3u8; 5000]);
                attacks.push(vec![1, 0, 200]);
                attacks.push(vec![]);
                for target in 0..9 {
                    for a in &attacks {
                        sim.inject(evil, target, a.clone());
                    }
                }
            }
            sim.run_until((round + 1) * 2_000, |_| {});
        }
        sim.run_until(120_000, |_| {});
        assert_eq!(
            sim.invalid_blocks_stored(),
            0,
            "{}",
            replay("byzantine", seed)
        );
        for i in 0..9 {
            assert!(
                sim.node(i).unwrap().peer_score(evil as u32).unwrap() <= -50,
                "node {i} never penalised the attacker"
            );
            for j in 0..9 {
                let a = sim.author(j);
                assert_eq!(
                    sim.head_seq(i, &a),
                    sim.head_seq(j, &a),
                    "node {i} lacks {j}'s posts; {}",
                    replay("byzantine", seed)
                );
            }
        }
        assert!(sim.stats().refused > 0);
    }

    fn enc(header: &[u8; 212], payload: Option<&[u8]>) -> Vec<u8> {
        let m = Message::Block { header, payload };
        let mut buf = vec![0u8; m.encoded_len()];
        m.emit(&mut buf).unwrap();
        buf
    }
}

#[test]
fn scale_without_memoisation_every_node_verifies() {
    // The large `scale` run may memoise verdicts on identical bytes; this smaller run
    // does not, and checks that every delivery paid for a real signature check.
    let o = scenarios::scale(400, 3, false, true, 3.0, |_, _, _| {}).unwrap();
    assert!(
        o.coverage >= 0.99,
        "coverage {} ({})",
        o.coverage,
        replay("scale --nodes 400 --post-scale 3 --no-memo", 3)
    );
    assert!(o.deliveries > 1_000, "{o:?}");
    assert!(!o.memoised_signatures);
    assert!(
        o.real_signature_checks >= o.deliveries,
        "{} checks for {} deliveries",
        o.real_signature_checks,
        o.deliveries
    );
    let m = scenarios::scale(400, 3, true, true, 3.0, |_, _, _| {}).unwrap();
    assert_eq!(
        m.deliveries, o.deliveries,
        "memoisation changed the outcome"
    );
    assert_eq!(m.trace_hash, o.trace_hash);
    assert!(m.real_signature_checks <= m.posts);
    // Without memoisation every follower admits every author's key at its genesis.
    assert!(o.real_key_admissions > m.real_key_admissions);
    assert!(m.real_key_admissions <= m.users as u64);
}

#[test]
fn equivocation_is_caught_everywhere_and_never_confirmed() {
    use glitter_sim::equivocate;
    let seeds: u64 = std::env::var("GLITTER_EQUIVOCATE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut dist = std::collections::BTreeMap::new();
    let mut slow = Vec::new();
    for seed in 1..=seeds {
        let o = equivocate::run(seed, 20, 0.1).unwrap();
        let r = o.rounds_to_all_proofs.unwrap_or(u64::MAX);
        if r > 12 {
            let lagging: Vec<String> = o.lagging.iter().map(ToString::to_string).collect();
            slow.push(format!(
                "{} honest nodes of {} hold the proof; rounds {:?}; {}\n{}",
                o.nodes_with_proof,
                o.honest_nodes,
                o.rounds_to_all_proofs,
                replay("equivocate --nodes 20 --drop 0.1", seed),
                lagging.join("\n")
            ));
        }
        assert_eq!(o.honest_confirmations, 0, "{}", replay("equivocate", seed));
        // Gossip, not flood: O(log n) proof messages per node.
        assert!(
            o.fork_messages as f64 / 20.0 <= 3.0 * 20f64.log2(),
            "{} fork-proof messages at 20 nodes; {}",
            o.fork_messages,
            replay("equivocate --nodes 20 --drop 0.1", seed)
        );
        assert!(
            o.confirmed_before_fork,
            "witnesses never confirmed the honest block; {}",
            replay("equivocate", seed)
        );
        *dist.entry(r).or_insert(0u32) += 1;
    }
    assert!(
        slow.is_empty(),
        "{}\nrounds until every honest node holds the fork proof: {dist:?}",
        slow.join("\n")
    );
}

#[test]
fn bad_knobs_are_refused_by_name() {
    use glitter_sim::{Builder, SimError};
    for (b, knob) in [
        (
            Builder {
                nodes: 1,
                ..Builder::default()
            },
            "nodes",
        ),
        (
            Builder {
                latency_ms_min: 200,
                ..Builder::default()
            },
            "latency_ms_min",
        ),
        (
            Builder {
                drop_rate: 1.0,
                ..Builder::default()
            },
            "drop_rate",
        ),
        (
            Builder {
                tick_interval_ms: 0,
                ..Builder::default()
            },
            "tick_interval_ms",
        ),
    ] {
        match b.build() {
            Err(SimError::BadKnob { knob: k, detail }) => {
                assert_eq!(k, knob, "{detail}");
            }
            Err(e) => panic!("{knob}: not a bad knob: {e}"),
            Ok(_) => panic!("{knob}: accepted"),
        }
    }
    let e = Builder {
        nodes: 1,
        ..Builder::default()
    }
    .build()
    .err()
    .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("invalid simulator setting: nodes = 1 (must be 2..=200000)")
    );
}

/// The lab's `lossy6` twin: every burst post reaches every node, the nodes converge
/// after the heal (and faster than the 11 s floor the partition scenario's check had
/// before it polled from the heal on), and the same seed gives the same figures.
#[test]
fn the_lossy6_twin_delivers_everything_and_heals() {
    for seed in 1..=3 {
        let o = glitter_sim::twin::lossy6(seed).expect("the twin runs");
        let heal = o.heal_converge_ms.unwrap_or_else(|| {
            panic!("seed {seed}: no convergence after the heal; replay: glitter sim twin --seeds 1 --seed {seed}")
        });
        assert!(heal < 11_000, "seed {seed}: {heal} ms after the heal");
        assert!(o.reach_all_max_ms > 0 && o.reach_all_median_ms <= o.reach_all_max_ms);
        assert!(o.transfers_per_block >= 1.0, "{o:?}");
        let again = glitter_sim::twin::lossy6(seed).expect("the twin runs");
        assert_eq!(
            format!("{o:?}"),
            format!("{again:?}"),
            "seed {seed} replays"
        );
    }
}

/// Eager, interest-aware delivery against gossip alone, in one seeded network of 1,000
/// people: same coverage, far lower tail latency, and still about one block transfer
/// per delivery (issue 18's goals are p99 ≤ 10 s and ≤ 1.2 transfers at 10,000).
#[test]
fn eager_delivery_cuts_the_tail_and_fetches_each_block_about_once() {
    let seed = 5;
    let gossip = scenarios::scale(1_000, seed, true, false, 3.0, |_, _, _| {}).unwrap();
    let eager = scenarios::scale(1_000, seed, true, true, 3.0, |_, _, _| {}).unwrap();
    let replay = replay("scale --nodes 1000 --post-scale 3", seed);
    assert_eq!(eager.expected_deliveries, gossip.expected_deliveries);
    assert!(eager.coverage >= 0.999, "{replay}: {eager:?}");
    assert!(
        eager.latency_ms_p99 <= 10_000 && eager.latency_ms_p99 * 2 < gossip.latency_ms_p99,
        "{replay}: p99 eager {} ms, gossip {} ms",
        eager.latency_ms_p99,
        gossip.latency_ms_p99
    );
    assert!(
        eager.block_transfers_per_delivery <= 1.2,
        "{replay}: {} transfers per delivery",
        eager.block_transfers_per_delivery
    );
}

/// Fork proofs at 200 nodes: every honest node gets the proof, and each sends at most
/// 3·log2(n) proof messages (a flood costs about one per peer per resend interval).
#[test]
fn fork_proofs_reach_everyone_in_log_messages_at_200_nodes() {
    use glitter_sim::equivocate;
    for seed in 1..=2 {
        let o = equivocate::run(seed, 200, 0.1).unwrap();
        let replay = replay("equivocate --nodes 200 --drop 0.1", seed);
        assert_eq!(o.nodes_with_proof, o.honest_nodes, "{replay}");
        assert_eq!(o.honest_confirmations, 0, "{replay}");
        let per_node = o.fork_messages as f64 / 200.0;
        assert!(
            per_node <= 3.0 * 200f64.log2(),
            "{per_node} fork-proof messages per node; {replay}"
        );
    }
}
