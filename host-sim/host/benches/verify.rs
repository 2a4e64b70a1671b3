//! Chain verification on the host: the batch and parallel path against the raw
//! ed25519-compact verify of the same blocks, measured in one run so the ratios mean
//! something.
//!
//! Run: `cargo bench -p glitter-host --bench verify`. Record the ratios in
//! docs/PERFORMANCE.md ("Batch and parallel verification").

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use glitter_core::chain::{ChainState, SignatureCheck};
use glitter_core::sig::{KeyPair, SigError};
use glitter_core::social::Payload;
use glitter_core::wire::header::{HEADER_LEN, Header};
use glitter_host::verify::{verify_chain, verify_chain_sequential};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const N: usize = 10_000;

type Block = ([u8; HEADER_LEN], Option<Vec<u8>>);

fn build(keys: &KeyPair) -> (Vec<Header>, Vec<Block>) {
    let mut state = ChainState::new(keys.public()).unwrap();
    let mut headers: Vec<Header> = Vec::with_capacity(N);
    let mut blocks = Vec::with_capacity(N);
    let mut buf = [0u8; 1024];
    for i in 0..N {
        let p = Payload::post(&format!("benchmark post number {i}"), None).unwrap();
        let b = p.encode(&mut buf).unwrap().to_vec();
        let h = state
            .append(keys, p.kind(), i as u64, &b, headers.as_mut_slice())
            .unwrap();
        headers.push(h);
        blocks.push((h.to_bytes(), Some(b)));
    }
    (headers, blocks)
}

/// Accepts every signature: what the link pass alone costs.
struct NoSignatures;

impl SignatureCheck for NoSignatures {
    fn check(&mut self, _: &Header) -> Result<(), SigError> {
        Ok(())
    }
}

fn chain(c: &mut Criterion) {
    let keys = KeyPair::from_seed([42; 32]).unwrap();
    let author = keys.public();
    let (headers, blocks) = build(&keys);
    let raw_pk = ed25519_compact::PublicKey::new(author.0);
    let raw: Vec<_> = headers
        .iter()
        .map(|h| {
            (
                h.signing_message(),
                ed25519_compact::Signature::new(h.signature),
            )
        })
        .collect();
    let mut rng = ChaCha20Rng::from_seed([7; 32]);

    let mut g = c.benchmark_group("verify_10000_blocks");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("raw_ed25519_compact_verify", |b| {
        b.iter(|| {
            for (m, s) in &raw {
                raw_pk.verify(black_box(m), s).unwrap();
            }
        })
    });
    g.bench_function("sequential_verify_next", |b| {
        b.iter(|| verify_chain_sequential(author, black_box(&blocks)).unwrap())
    });
    g.bench_function("link_pass_only", |b| {
        b.iter(|| {
            let mut s = ChainState::new(author).unwrap();
            let mut hs: Vec<Header> = Vec::with_capacity(N);
            for (h, p) in black_box(&blocks) {
                let h = s
                    .verify_next_with(h, p.as_deref(), hs.as_mut_slice(), &mut NoSignatures)
                    .unwrap();
                hs.push(h);
            }
            hs
        })
    });
    for threads in [1usize, 2] {
        g.bench_function(format!("batch_{threads}_thread"), |b| {
            b.iter(|| verify_chain(author, black_box(&blocks), &mut rng, threads).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
