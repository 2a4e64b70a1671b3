//! One-out-of-many membership proofs on the host: prove and verify at n = 1,024 and
//! 65,536 (with a tag; constant-time and variable-time provers), preparing a set, and core's streaming verifier at n = 1,024
//! for comparison. Prints the proof sizes.
//!
//! Run: `cargo bench -p glitter-host --bench zk_oom -- --warm-up-time 1 --measurement-time 5`.
//! Record figures in docs/ZK.md ("One-out-of-many membership proofs").

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use glitter_core::zk::oom::OneOfManyProof;
use glitter_core::zk::{Binding, Dalek, Proof, Verifier};
use glitter_host::zk_oom::{PreparedMembers, prove, prove_vartime, verify};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

#[path = "../tests/zk_common/mod.rs"]
mod zk_common;

fn one_of_many(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let binding = Binding::new(b"glitter/bench/oom", b"message");
    for n in [1_024usize, 65_536] {
        let (pairs, keys) = zk_common::sorted_set(n, 0x42);
        let signer = &pairs[n / 3];
        let members = PreparedMembers::new(&keys).unwrap();
        for linkable in [false, true] {
            let p = prove(&members, linkable, signer, &binding, &mut rng).unwrap();
            println!(
                "one-of-many n = {n}, linkable {linkable}: proof {} bytes (len_for {})",
                p.encoded_len(),
                OneOfManyProof::len_for(n, linkable)
            );
        }
        let proof = prove(&members, true, signer, &binding, &mut rng).unwrap();

        let mut g = c.benchmark_group("one_of_many");
        g.sample_size(10);
        g.bench_function(BenchmarkId::new("host_prove_linkable", n), |b| {
            b.iter(|| prove(&members, true, signer, &binding, &mut rng).unwrap())
        });
        g.bench_function(BenchmarkId::new("host_prove_vartime_linkable", n), |b| {
            b.iter(|| prove_vartime(&members, true, signer, &binding, &mut rng).unwrap())
        });
        g.bench_function(BenchmarkId::new("host_verify_prepared_linkable", n), |b| {
            b.iter(|| verify(&members, true, black_box(&proof), &binding).unwrap())
        });
        g.bench_function(BenchmarkId::new("host_prepare_members", n), |b| {
            b.iter(|| PreparedMembers::new(black_box(&keys)).unwrap())
        });
        if n <= 1_024 {
            let st = members.statement(true);
            g.bench_function(BenchmarkId::new("core_streaming_verify_linkable", n), |b| {
                b.iter(|| Dalek.verify(&st, black_box(&proof), &binding).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, one_of_many);
criterion_main!(benches);
