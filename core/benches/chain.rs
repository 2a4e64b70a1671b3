//! Chain benchmarks: `verify_next` and `append` against the raw ed25519-compact
//! primitives, measured in the same run so their ratio is meaningful.
//!
//! Run: `cargo bench -p glitter-core --bench chain`. Record ratios in docs/PERFORMANCE.md.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glitter_core::chain::ChainState;
use glitter_core::sig::KeyPair;
use glitter_core::social::Payload;
use glitter_core::wire::header::{BlockKind, Header};
use std::hint::black_box;

const N: usize = 10_000;

fn build(keys: &KeyPair) -> (Vec<Header>, Vec<Vec<u8>>) {
    let mut state = ChainState::new(keys.public()).unwrap();
    let mut headers: Vec<Header> = Vec::with_capacity(N);
    let mut payloads = Vec::with_capacity(N);
    let mut buf = [0u8; 1024];
    for i in 0..N {
        let p = Payload::post(&format!("benchmark post number {i}"), None).unwrap();
        let b = p.encode(&mut buf).unwrap().to_vec();
        let h = state
            .append(keys, p.kind(), i as u64, &b, headers.as_mut_slice())
            .unwrap();
        headers.push(h);
        payloads.push(b);
    }
    (headers, payloads)
}

fn chain(c: &mut Criterion) {
    let keys = KeyPair::from_seed([42; 32]).unwrap();
    let (headers, payloads) = build(&keys);
    let encoded: Vec<[u8; 212]> = headers.iter().map(|h| h.to_bytes()).collect();
    let msg = headers[5].signing_message();
    let sig = headers[5].signature;
    let raw_pk = ed25519_compact::PublicKey::new(keys.public().0);
    let raw_kp = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([42; 32]));

    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_ed25519_compact_verify", |b| {
        b.iter(|| raw_pk.verify(black_box(&msg), &ed25519_compact::Signature::new(sig)))
    });
    g.finish();

    let mut g = c.benchmark_group("verify_next");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    let mut source = headers.clone();
    g.bench_function("chain_10000_blocks_with_payloads", |b| {
        b.iter(|| {
            let mut s = ChainState::new(keys.public()).unwrap();
            for i in 0..N {
                s.verify_next(&encoded[i], Some(&payloads[i]), &mut source[..i])
                    .unwrap();
            }
            s
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sign");
    g.throughput(Throughput::Elements(1));
    g.bench_function("raw_ed25519_compact_sign", |b| {
        b.iter(|| raw_kp.sk.sign(black_box(&msg), None))
    });
    let payload = Payload::post("a typical short post of some forty bytes", None).unwrap();
    let mut pbuf = [0u8; 1024];
    let pbytes = payload.encode(&mut pbuf).unwrap().to_vec();
    g.bench_function("append_build_and_sign", |b| {
        // A fresh chain whose skip links always hit the head or the few blocks kept.
        let mut state = ChainState::new(keys.public()).unwrap();
        let mut recent: Vec<Header> = Vec::new();
        b.iter(|| {
            let h = state
                .append(
                    &keys,
                    BlockKind::Post,
                    1,
                    black_box(&pbytes),
                    recent.as_mut_slice(),
                )
                .unwrap_or(headers[0]);
            if recent.len() < 4 {
                recent.push(h);
            } else {
                // Restart the chain so skip targets stay available without growing memory.
                state = ChainState::new(keys.public()).unwrap();
                recent.clear();
            }
            h
        })
    });
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
