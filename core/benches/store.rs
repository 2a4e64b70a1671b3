//! Store benchmarks (issue 3). Figures and the command are in `docs/PERFORMANCE.md`.
//!
//! ```sh
//! cargo bench -p glitter-core --bench store -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! - `store_append/raw_sign`: ed25519 sign of one block's signing message.
//! - `store_append/sign_and_append`: `ChainState::append` (build, hash, sign, skip
//!   lookup through the log) plus `FlashLog::append` (CRCs, four writes, index), for
//!   the owner's chain in a log that also holds 2,000 blocks of two other authors.
//! - `store_append/append_presigned`: `FlashLog::append` alone.
//! - `store_mount/10k_blocks`: mounting a 10,000-block, 3-author image (CRCs of every
//!   record, SHA-256 of every header for the `prev` links, index rebuild).
//!
//! It also prints the index RAM and the flash bytes per byte of header and payload.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use glitter_core::chain::{ChainState, NoHeaders};
use glitter_core::social::Payload;
use glitter_core::store::{BlockLog, FlashLog, RamNorFlash};
use glitter_core::wire::header::{BlockKind, Header, PAYLOAD_LEN_MAX};
use glitter_core::{KeyPair, PublicKey};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// 4 MiB of RAM flash: room for 10,000 blocks of typical posts.
const PAGES: usize = 1024;
type Flash = RamNorFlash<PAGES>;
type Log<'a> = FlashLog<&'a mut Flash, 8, 16_384>;

fn keys(i: u8) -> KeyPair {
    KeyPair::from_seed([i; 32]).expect("nonzero seed")
}

fn post(i: usize) -> Vec<u8> {
    let text: String = (0..(i * 37) % 200)
        .map(|j| char::from(b'a' + (j % 26) as u8))
        .collect();
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    Payload::post(&text, None)
        .expect("post")
        .encode(&mut buf)
        .expect("encode")
        .to_vec()
}

/// `n` signed blocks spread round-robin over `authors` authors.
fn blocks(authors: u8, n: usize, first_key: u8) -> Vec<(Header, Vec<u8>)> {
    let pairs: Vec<KeyPair> = (0..authors).map(|a| keys(first_key + a)).collect();
    let mut states: Vec<ChainState> = pairs
        .iter()
        .map(|k| ChainState::new(k.public()).expect("key"))
        .collect();
    let mut past: Vec<Vec<Header>> = vec![Vec::new(); usize::from(authors)];
    (0..n)
        .map(|i| {
            let a = i % usize::from(authors);
            let p = post(i);
            let h = states[a]
                .append(
                    &pairs[a],
                    BlockKind::Post,
                    i as u64,
                    &p,
                    past[a].as_mut_slice(),
                )
                .expect("sign");
            past[a].push(h);
            (h, p)
        })
        .collect()
}

/// A freshly formatted log on `flash` holding `blocks`.
fn formatted<'a>(flash: &'a mut Flash, blocks: &[(Header, Vec<u8>)]) -> Log<'a> {
    let mut log = Log::format(flash).expect("format");
    for (h, p) in blocks {
        log.append(h, p).expect("append");
    }
    log
}

/// The most appends timed on one fresh log.
const CHUNK: u64 = 6_000;

/// Runs `iters` appends in chunks of at most [`CHUNK`], each on a freshly formatted
/// log holding `others`' blocks: `run(log, n)` appends `n` blocks and returns the time
/// it measured, so only the appends are timed. Returns the total.
fn in_chunks(
    iters: u64,
    flash: &mut Flash,
    others: &[(Header, Vec<u8>)],
    mut run: impl FnMut(&mut Log<'_>, u64) -> Duration,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        drop(formatted(flash, others));
        let mut log = Log::mount(&mut *flash).expect("mount");
        total += run(&mut log, n);
        left -= n;
    }
    total
}

fn append(c: &mut Criterion) {
    let me = keys(1);
    let others = blocks(2, 2_000, 10);
    let payload = post(100);
    let mut flash = Box::new(Flash::new());
    let mut g = c.benchmark_group("store_append");

    let msg = {
        let mut st = ChainState::new(me.public()).expect("key");
        st.append(&me, BlockKind::Post, 0, &payload, &mut NoHeaders)
            .expect("sign")
            .signing_message()
    };
    g.bench_function("raw_sign", |b| b.iter(|| me.sign(black_box(&msg))));

    g.bench_function("sign_and_append", |b| {
        b.iter_custom(|iters| {
            in_chunks(iters, &mut flash, &others, |log, n| {
                let mut state = ChainState::new(me.public()).expect("key");
                let t = Instant::now();
                for i in 0..n {
                    let h = state
                        .append(
                            &me,
                            BlockKind::Post,
                            i,
                            &payload,
                            &mut log.source(me.public()),
                        )
                        .expect("sign");
                    log.append(&h, &payload).expect("append");
                }
                t.elapsed()
            })
        })
    });

    let mine = blocks(1, CHUNK as usize, 1);
    g.bench_function("append_presigned", |b| {
        b.iter_custom(|iters| {
            in_chunks(iters, &mut flash, &others, |log, n| {
                let t = Instant::now();
                for (h, p) in &mine[..n as usize] {
                    log.append(h, p).expect("append");
                }
                t.elapsed()
            })
        })
    });
    g.finish();
}

fn mount(c: &mut Criterion) {
    let mut flash = Box::new(Flash::new());
    let image = blocks(3, 10_000, 20);
    let log = formatted(&mut flash, &image);
    let u = log.usage();
    drop(log);
    eprintln!(
        "store: 10,000-block image: {} flash bytes for {} bytes of header+payload = {:.3} \
         flash bytes per byte; index RAM {} bytes for {} blocks / 8 authors ({} per block + \
         {} per author)",
        u.flash_bytes_used,
        u.stored_bytes,
        u.flash_bytes_used as f64 / u.stored_bytes as f64,
        Log::INDEX_BYTES,
        u.blocks_max,
        glitter_core::store::INDEX_BYTES_PER_BLOCK,
        glitter_core::store::AUTHOR_SLOT_BYTES,
    );
    let mut g = c.benchmark_group("store_mount");
    g.sample_size(20);
    g.bench_with_input(BenchmarkId::new("blocks", 10_000), &(), |b, ()| {
        b.iter(|| {
            let log = Log::mount(&mut *flash).expect("mount");
            black_box(log.usage().blocks)
        })
    });
    g.finish();
    let log = Log::mount(&mut *flash).expect("mount");
    assert_eq!(log.usage().blocks, 10_000);
    let _: Option<PublicKey> = log.author_at(0);
}

criterion_group!(benches, append, mount);
criterion_main!(benches, parts_group);

fn parts(c: &mut Criterion) {
    let data = [0x5Au8; 512];
    let mut g = c.benchmark_group("store_parts");
    g.bench_function("crc32c_320B", |b| {
        b.iter(|| glitter_core::store::crc::crc32c(black_box(&data[..320])))
    });
    g.bench_function("sha256_212B", |b| {
        b.iter(|| glitter_core::hash::Hash::of(black_box(&data[..212])))
    });
    g.finish();
}
criterion_group!(parts_group, parts);
