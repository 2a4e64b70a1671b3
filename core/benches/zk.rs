//! Zero-knowledge proof benchmarks: Schnorr and ring proofs (n = 1, 8, 32), prove and
//! verify, with the placeholder's signature proof for comparison.
//!
//! Run (short):
//! `cargo bench -p glitter-core --bench zk -- --warm-up-time 1 --measurement-time 3`
//! and with the precomputed base-point tables:
//! `cargo bench -p glitter-core --features zk-precomputed-tables --bench zk -- --warm-up-time 1 --measurement-time 3`.
//! Record figures in docs/PERFORMANCE.md.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::zk::{Binding, Dalek, KnowsKey, Placeholder, Prover, RingMember, Verifier};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

fn keys(n: usize) -> Vec<KeyPair> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            KeyPair::from_seed(seed).unwrap()
        })
        .collect()
}

fn zk(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let binding = Binding::new(b"glitter/bench", b"message");
    let alice = &keys(1)[0];
    let st = KnowsKey {
        key: alice.public(),
    };

    let mut g = c.benchmark_group("schnorr");
    g.bench_function("prove", |b| {
        b.iter(|| {
            Dalek
                .prove(black_box(&st), alice, &binding, &mut rng)
                .unwrap()
        })
    });
    let proof = Dalek.prove(&st, alice, &binding, &mut rng).unwrap();
    g.bench_function("verify", |b| {
        b.iter(|| {
            Dalek
                .verify(black_box(&st), black_box(&proof), &binding)
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("placeholder-signature");
    g.bench_function("prove", |b| {
        b.iter(|| {
            Placeholder
                .prove(black_box(&st), alice, &binding, &mut rng)
                .unwrap()
        })
    });
    let proof = Placeholder.prove(&st, alice, &binding, &mut rng).unwrap();
    g.bench_function("verify", |b| {
        b.iter(|| {
            Placeholder
                .verify(black_box(&st), black_box(&proof), &binding)
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("ring");
    for n in [1usize, 8, 32] {
        let pairs = keys(n);
        let members: Vec<PublicKey> = pairs.iter().map(KeyPair::public).collect();
        let st = RingMember { members: &members };
        let signer = &pairs[n / 2];
        g.bench_with_input(BenchmarkId::new("prove", n), &n, |b, _| {
            b.iter(|| {
                Dalek
                    .prove(black_box(&st), signer, &binding, &mut rng)
                    .unwrap()
            })
        });
        let proof = Dalek.prove(&st, signer, &binding, &mut rng).unwrap();
        g.bench_with_input(BenchmarkId::new("verify", n), &n, |b, _| {
            b.iter(|| {
                Dalek
                    .verify(black_box(&st), black_box(&proof), &binding)
                    .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, zk);
criterion_main!(benches);
