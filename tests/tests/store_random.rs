//! Random and mutated flash images (issue 3): each one either mounts to a consistent
//! log or returns a typed error; nothing panics, and a mounted log keeps working.
//!
//! CI runs 10,000 images. The long run is one command:
//!
//! ```sh
//! GLITTER_STORE_IMAGES=1000000 cargo test --release -p glitter-tests --test store_random
//! ```
//!
//! Images are numbered; image `i` depends only on the seed and `i`, so a failure names
//! the image and `GLITTER_STORE_SEED=<seed> GLITTER_STORE_ONLY=<i>` replays it alone.
//!
//! Each image starts from one of a few valid logs (empty, half full, full, with a torn
//! tail, with a repaired tail) or from noise, then gets one or two mutations: random
//! bytes or bits, a range set to `0xFF`, `0x00` or noise, a page copied over or swapped
//! with another, a truncation, a page header rewritten with a valid CRC but wrong
//! fields, or a forged record with valid CRCs and commit word but a mutated block
//! header. After a successful mount, the test walks every chain (seq, author, `prev`,
//! timestamps, payload lengths), appends a new author's genesis block, remounts, and
//! checks the block is there.

mod store_common;

use glitter_core::ChainState;
use glitter_core::sig::KeyPair;
use glitter_core::store::format::{
    Geometry, RECORD_HEAD_LEN, commit_word, encode_page_header, encode_record_head,
};
use glitter_core::store::{Error, FlashLog, PowerCut, RamNorFlash};
use glitter_core::wire::header::{BlockKind, HEADER_LEN};
use std::collections::BTreeMap;
use std::sync::Mutex;
use store_common::{Rng, check_consistent, env_count, run_big, seed, workload};

const PAGES: usize = 8;
type Flash = RamNorFlash<PAGES>;
type Log<'a> = FlashLog<&'a mut Flash, 8, 256>;
/// A log with a tiny index, to exercise the capacity errors at mount.
type TinyLog<'a> = FlashLog<&'a mut Flash, 2, 24>;

/// The valid images mutations start from.
fn bases(seed: u64) -> Vec<Base> {
    let w = workload(seed, 3, 400, 60);
    let mut out = Vec::new();
    let mut flash = Flash::new();
    // Empty, and a few fill levels.
    drop(Log::format(&mut flash).expect("format"));
    out.push(flash.as_bytes().to_vec());
    let mut log = Log::mount(&mut flash).expect("mount");
    let mut stored = 0;
    for (i, b) in w.blocks.iter().enumerate() {
        match log.append(&b.header, &b.payload) {
            Ok(()) => stored = i + 1,
            Err(Error::FullStorage) => break,
            Err(e) => panic!("base append: {e}"),
        }
        if i == 10 || i == 45 {
            let img = log.flash().as_bytes().to_vec();
            out.push(img);
        }
    }
    out.push(log.flash().as_bytes().to_vec());
    drop(log);
    // Torn tails: cut an append of a half-full log, before and after repair.
    let mut flash = Flash::new();
    let mut log = Log::format(&mut flash).expect("format");
    let half = stored / 2;
    for b in &w.blocks[..half] {
        log.append(&b.header, &b.payload).expect("append");
    }
    drop(log);
    flash.schedule_power_cut(PowerCut {
        after_ops: 1,
        after_bytes: 100,
        torn_mask: 0x5A,
    });
    let mut log = Log::mount(&mut flash).expect("mount");
    let b = &w.blocks[half];
    assert!(log.append(&b.header, &b.payload).is_err());
    drop(log);
    flash.power_on();
    out.push(flash.as_bytes().to_vec());
    drop(Log::mount(&mut flash).expect("repair"));
    out.push(flash.as_bytes().to_vec());
    // Where each image's next record would go, for forging records right there.
    out.into_iter()
        .map(|img| {
            let mut f = Flash::new();
            f.load(&img).expect("size");
            let used = Log::mount(&mut f)
                .expect("base mounts")
                .usage()
                .flash_bytes_used;
            Base {
                img,
                write_at: used as usize,
            }
        })
        .collect()
}

/// A valid image and the offset of its next record.
struct Base {
    img: Vec<u8>,
    write_at: usize,
}

/// A header for forged records: a real one with a field or two changed.
fn forged_header(rng: &mut Rng, w: &store_common::Workload) -> [u8; HEADER_LEN] {
    let b = &w.blocks[rng.below_usize(w.blocks.len())];
    let mut h = b.bytes;
    for _ in 0..rng.below(3) {
        let i = rng.below_usize(HEADER_LEN);
        h[i] = rng.byte();
    }
    h
}

fn mutate(rng: &mut Rng, img: &mut [u8], write_at: usize, w: &store_common::Workload) {
    let geo = Geometry {
        page_size: 4096,
        pages: PAGES as u32,
        align: 4,
    };
    match rng.below(9) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below_usize(img.len());
                img[i] = rng.byte();
            }
        }
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below_usize(img.len());
                img[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let start = rng.below_usize(img.len());
            let len = rng.below_usize((img.len() - start).min(600)) + 1;
            let fill = match rng.below(3) {
                0 => Some(0xFF),
                1 => Some(0x00),
                _ => None,
            };
            for b in &mut img[start..start + len] {
                *b = fill.unwrap_or_else(|| rng.byte());
            }
        }
        3 => {
            let (a, b) = (rng.below_usize(PAGES), rng.below_usize(PAGES));
            let page = img[a * 4096..(a + 1) * 4096].to_vec();
            img[b * 4096..(b + 1) * 4096].copy_from_slice(&page);
        }
        4 => {
            let (a, b) = (rng.below_usize(PAGES), rng.below_usize(PAGES));
            if a != b {
                let (lo, hi) = (a.min(b), a.max(b));
                let (x, y) = img.split_at_mut(hi * 4096);
                x[lo * 4096..(lo + 1) * 4096].swap_with_slice(&mut y[..4096]);
            }
        }
        5 => {
            let start = rng.below_usize(img.len());
            img[start..].fill(0xFF);
        }
        6 => {
            // A page header with a valid CRC and commit word but made-up fields.
            let page = rng.below_usize(PAGES);
            let index = if rng.chance(2) {
                page as u32
            } else {
                rng.below(PAGES as u64 + 2) as u32
            };
            let prev_end = match rng.below(3) {
                0 => rng.below(4097) as u32,
                1 => (rng.below(1024) * 4) as u32,
                _ => 24,
            };
            let hl = geo.page_header_len() as usize;
            let at = page * 4096;
            encode_page_header(&geo, index, prev_end, &mut img[at..at + hl]);
            img[at + hl..at + hl + 4].copy_from_slice(&commit_word()[..4]);
        }
        7 => {
            // A forged record: valid CRCs and commit word, doctored block header.
            let payload_len = rng.below_usize(80);
            let payload: Vec<u8> = (0..payload_len).map(|_| rng.byte()).collect();
            let mut header = forged_header(rng, w);
            header[2..4].copy_from_slice(&(payload_len as u16).to_le_bytes());
            let len = geo.record_len(payload_len as u32) as usize;
            let at = if rng.chance(2) && write_at % 4096 + len <= 4096 {
                write_at
            } else {
                let page = rng.below_usize(PAGES);
                page * 4096 + 24 + 4 * rng.below_usize((4096 - 24 - len) / 4)
            };
            let mut head = [0u8; RECORD_HEAD_LEN];
            encode_record_head(&header, &payload, &mut head);
            img[at..at + RECORD_HEAD_LEN].copy_from_slice(&head);
            let p = at + RECORD_HEAD_LEN;
            img[p..p + payload_len].copy_from_slice(&payload);
            let c = at + geo.commit_at(payload_len as u32) as usize;
            img[c..c + 4].copy_from_slice(&commit_word()[..4]);
        }
        _ => {
            // Noise, with or without a valid first page header.
            for b in img.iter_mut() {
                *b = rng.byte();
            }
            if rng.chance(2) {
                encode_page_header(&geo, 0, 0, &mut img[..20]);
                img[20..24].copy_from_slice(&commit_word()[..4]);
            }
        }
    }
}

/// What happened to one image, for the summary.
fn outcome<E: std::fmt::Debug>(r: &Result<usize, Error<E>>) -> String {
    match r {
        Ok(_) => "mounted".into(),
        Err(Error::Corrupted { what, .. }) => format!("Corrupted({what:?})"),
        Err(e) => {
            let s = format!("{e:?}");
            s.split(['(', ' ', '{']).next().unwrap_or("?").to_string()
        }
    }
}

/// Runs image `i`; panics (with the image number) on any broken promise.
fn run_image(
    i: u64,
    seed: u64,
    bases: &[Base],
    w: &store_common::Workload,
    newcomer: &(glitter_core::Header, Vec<u8>),
    flash: &mut Flash,
) -> String {
    let mut rng = Rng::new(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let base = &bases[rng.below_usize(bases.len())];
    let mut img = base.img.clone();
    for _ in 0..1 + rng.below(2) {
        mutate(&mut rng, &mut img, base.write_at, w);
    }
    flash.load(&img).expect("image size");
    flash.power_on();
    let tiny = rng.chance(8);
    let r = if tiny {
        TinyLog::mount(&mut *flash)
            .map(|mut log| check_consistent(&mut log).unwrap_or_else(|e| panic!("image {i}: {e}")))
    } else {
        match Log::mount(&mut *flash) {
            Err(e) => Err(e),
            Ok(mut log) => {
                let n = check_consistent(&mut log).unwrap_or_else(|e| panic!("image {i}: {e}"));
                let (h, p) = newcomer;
                let appended = match log.append(h, p) {
                    Ok(()) => true,
                    Err(
                        Error::FullStorage | Error::AuthorsFull { .. } | Error::IndexFull { .. },
                    ) => false,
                    Err(e) => panic!("image {i}: append on a mounted image: {e}"),
                };
                drop(log);
                if appended {
                    let mut again = Log::mount(&mut *flash)
                        .unwrap_or_else(|e| panic!("image {i}: remount after append: {e}"));
                    let m = check_consistent(&mut again)
                        .unwrap_or_else(|e| panic!("image {i}: after append: {e}"));
                    assert_eq!(m, n + 1, "image {i}: appended block missing");
                    assert!(again.head(&h.author).is_some(), "image {i}");
                }
                Ok(n)
            }
        }
    };
    assert!(
        !matches!(r, Err(Error::Flash(_))),
        "image {i}: flash error {r:?}"
    );
    if rng.chance(16) {
        flash.load(&img).expect("image size");
        let r = Log::mount_or_format(&mut *flash).map(|_| 0usize);
        assert!(!matches!(r, Err(Error::Flash(_))), "image {i}: {r:?}");
    }
    outcome(&r)
}

#[test]
fn random_images() {
    let images = env_count("GLITTER_STORE_IMAGES", 10_000) as u64;
    let only = std::env::var("GLITTER_STORE_ONLY")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let seed = seed("store_random", 0x5EED_1111);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let tally = std::sync::Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let mut handles = Vec::new();
    for t in 0..threads {
        let tally = tally.clone();
        handles.push(std::thread::spawn(move || {
            run_big(move || {
                let w = workload(seed, 3, 400, 60);
                let bases = bases(seed);
                let keys = KeyPair::from_seed([0xA5; 32]).expect("nonzero seed");
                let mut st = ChainState::new(keys.public()).expect("key");
                let payload = vec![0u8; 0];
                let h = st
                    .append(
                        &keys,
                        BlockKind::Post,
                        1,
                        &payload,
                        &mut glitter_core::chain::NoHeaders,
                    )
                    .expect("genesis");
                let newcomer = (h, payload);
                let mut flash = Box::new(Flash::new());
                let mut local = BTreeMap::<String, u64>::new();
                let mut i = t;
                while i < images {
                    if only.is_none_or(|o| o == i) {
                        let o = run_image(i, seed, &bases, &w, &newcomer, &mut flash);
                        *local.entry(o).or_default() += 1;
                    }
                    i += threads;
                }
                let mut g = tally.lock().expect("tally");
                for (k, v) in local {
                    *g.entry(k).or_default() += v;
                }
            })
        }));
    }
    for h in handles {
        h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    }
    let tally = tally.lock().expect("tally");
    eprintln!("store_random: {images} images: {tally:?}");
    let total: u64 = tally.values().sum();
    assert_eq!(total, if only.is_some() { 1 } else { images });
    if only.is_none() && images >= 1000 {
        assert!(tally.get("mounted").copied().unwrap_or(0) > images / 10);
    }
}
