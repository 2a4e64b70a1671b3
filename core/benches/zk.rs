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

use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::zk::{
    Binding, Dalek, KnowsKey, Placeholder, Prover, RingMember, Statement, Verifier,
};
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

/// Benchmarks `backend`'s `prove` and `verify` of `st` in group `g`: ids `prove` and
/// `verify`, with the parameter `ring` when it is given.
fn prove_and_verify<B, S>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    backend: &B,
    st: &S,
    signer: &KeyPair,
    binding: &Binding<'_>,
    rng: &mut ChaCha20Rng,
    ring: Option<usize>,
) where
    B: Prover<S, Witness = KeyPair> + Verifier<S, Proof = <B as Prover<S>>::Proof>,
    S: Statement,
{
    let mut bench = |name: &str, f: &mut dyn FnMut(&mut Bencher<'_>)| {
        match ring {
            Some(n) => g.bench_function(BenchmarkId::new(name, n), f),
            None => g.bench_function(name, f),
        };
    };
    bench("prove", &mut |b| {
        b.iter(|| backend.prove(black_box(st), signer, binding, rng).unwrap())
    });
    let proof = backend.prove(st, signer, binding, rng).unwrap();
    bench("verify", &mut |b| {
        b.iter(|| {
            backend
                .verify(black_box(st), black_box(&proof), binding)
                .unwrap()
        })
    });
}

fn zk(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let binding = Binding::new(b"glitter/bench", b"message");
    let alice = &keys(1)[0];
    let st = KnowsKey {
        key: alice.public(),
    };

    let mut g = c.benchmark_group("schnorr");
    prove_and_verify(&mut g, &Dalek, &st, alice, &binding, &mut rng, None);
    g.finish();

    let mut g = c.benchmark_group("placeholder-signature");
    prove_and_verify(&mut g, &Placeholder, &st, alice, &binding, &mut rng, None);
    g.finish();

    let mut g = c.benchmark_group("ring");
    for n in [1usize, 8, 32] {
        let pairs = keys(n);
        let members: Vec<PublicKey> = pairs.iter().map(KeyPair::public).collect();
        let st = RingMember { members: &members };
        let signer = &pairs[n / 2];
        prove_and_verify(&mut g, &Dalek, &st, signer, &binding, &mut rng, Some(n));
    }
    g.finish();
}

criterion_group!(benches, zk);
criterion_main!(benches);
