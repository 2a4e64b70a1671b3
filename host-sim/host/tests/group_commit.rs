//! Group commit against power cuts, on real files: a node-sized run of batches through
//! a [`FileFlash`] in group mode and a [`FlashLog`] on it, cut at a chosen batch.
//!
//! The model of a power cut (what a disk may hold afterwards):
//! - the journal holds every record that was synced; the record being written when the
//!   power went may be there in part (a prefix of it, the rest the old bytes);
//! - the image holds what was written to it up to its last sync; every page written
//!   since may hold, sector by sector (512 bytes), the old or the new bytes.
//!
//! The guarantee checked: the next open mounts cleanly (no torn tail, no corruption)
//! and holds exactly the blocks of the batches whose commit returned, in order. Every
//! failure prints its seed and the command that replays it.

mod flash_common;

use glitter_core::store::FlashLog;
use glitter_core::wire::header::{Header, PAYLOAD_LEN_MAX};
use glitter_host::flash_file::{FILE_FLASH_PAGE_SIZE, FileFlash};
use glitter_host::flash_journal::{self, JOURNAL_BYTES};
use std::path::Path;

const PAGES: usize = 256;
const SIZE: usize = PAGES * FILE_FLASH_PAGE_SIZE;
const SECTOR: usize = 512;
type Log = FlashLog<FileFlash, 4, 4096>;
/// The journal of the power-cut runs: about six batches, so that they wrap it often.
const JOURNAL_TEST: u64 = 64 * 1024;

/// A seeded stream (splitmix64), so a seed replays a run exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `n` signed blocks of three authors, chains interleaved, payloads of about 0–500 bytes.
fn blocks(n: usize) -> Vec<(Header, Vec<u8>)> {
    flash_common::blocks(&[[1; 32], [2; 32], [3; 32]], n, |i| {
        (i * 7 % 3, "g".repeat(i * 37 % 500))
    })
}

/// Where to cut: after batch `k` committed, with batch `k + 1`'s record torn.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// After this many batches.
    After(usize),
    /// Just before the first batch whose record wrapped the journal.
    AtFirstWrap,
}

/// What the disk holds after the cut, and how many blocks were acknowledged.
struct Crash {
    image: Vec<u8>,
    journal: Vec<u8>,
    acked: usize,
}

/// Runs batches of 1–24 blocks until the cut and builds the disk the model allows.
fn run_and_cut(dir: &Path, all: &[(Header, Vec<u8>)], seed: u64, cut: Cut) -> Crash {
    let mut rng = Rng(seed);
    let path = dir.join("chain.img");
    let mut flash = FileFlash::create(&path, SIZE).expect("create");
    let log = Log::format(flash).expect("format");
    flash = log.into_flash();
    flash.sync().expect("sync");
    // A small journal, so that a run wraps it often.
    flash.set_journal_bytes(JOURNAL_TEST).expect("journal size");
    flash.set_group_commit(true).expect("group commit on");
    let mut log = Log::mount(flash).expect("mount");
    let journal_path = flash_journal::journal_path(&path);
    let read = |p: &Path| std::fs::read(p).expect("read");
    // The image as of its last sync, and as of the last commit.
    let mut synced = read(&path);
    let mut committed = synced.clone();
    let mut journal = read(&journal_path);
    let (mut next, mut batch) = (0usize, 0usize);
    loop {
        let n = 1 + rng.below(24) as usize;
        let end = (next + n).min(all.len());
        assert!(end > next, "seed {seed}: ran out of blocks before the cut");
        for (h, p) in &all[next..end] {
            log.append(h, p).expect("append");
        }
        let wraps = log.flash().group_stats().expect("group").journal_wraps;
        log.flash().commit().expect("commit");
        let wrapped = log.flash().group_stats().expect("group").journal_wraps > wraps;
        let cut_here = match cut {
            Cut::After(k) => batch == k,
            Cut::AtFirstWrap => wrapped,
        };
        if cut_here {
            // This batch's record is torn: a prefix of the new journal bytes over the
            // old ones. Its pages never reached the image (they are written after the
            // record's sync), and a wrap synced the image first.
            let new = read(&journal_path);
            let first = (0..new.len()).position(|i| new[i] != journal[i]);
            let first = first.expect("the record changed the journal");
            // Some of its sectors landed, in any order, but not all of them.
            let mut torn = mix(&journal, &new, &mut rng);
            let last = (0..new.len()).rev().find(|i| new[*i] != journal[*i]);
            let last = last.expect("the record changed the journal") / SECTOR * SECTOR;
            if torn[first..] == new[first..] {
                torn[last..].copy_from_slice(&journal[last..]);
            }
            if wrapped {
                synced = committed.clone();
            }
            let image = mix(&synced, &committed, &mut rng);
            drop(log);
            return Crash {
                image,
                journal: torn,
                acked: next,
            };
        }
        if wrapped {
            // The wrap synced the image before this batch's pages were written.
            synced = committed.clone();
        }
        committed = read(&path);
        journal = read(&journal_path);
        next = end;
        batch += 1;
    }
}

/// A page-by-page, sector-by-sector mix of the image at its last sync and as last
/// written: what the disk may hold of pages written since the sync.
fn mix(synced: &[u8], written: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = synced.to_vec();
    for (i, sector) in written.chunks(SECTOR).enumerate() {
        if rng.below(2) == 0 {
            out[i * SECTOR..i * SECTOR + sector.len()].copy_from_slice(sector);
        }
    }
    out
}

/// Writes the crash's bytes into the very files (the journal names the image's
/// inode), opens the image and checks the guarantee.
fn check_recovery(dir: &Path, all: &[(Header, Vec<u8>)], crash: &Crash, seed: u64) {
    let replay =
        format!("replay: GLITTER_SEED={seed} cargo test -p glitter-host --test group_commit");
    let path = dir.join("chain.img");
    let journal_path = flash_journal::journal_path(&path);
    write_in_place(&path, &crash.image);
    write_in_place(&journal_path, &crash.journal);

    // A read-only open sees the journal's pages without writing anything.
    let ro = FileFlash::open_read_only(&path).expect("open read-only");
    let mut log =
        Log::mount(ro).unwrap_or_else(|e| panic!("seed {seed}: read-only mount: {e:?}; {replay}"));
    assert_holds(&mut log, &all[..crash.acked], seed, &replay);
    drop(log);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        crash.image,
        "seed {seed}: read-only open wrote"
    );

    let flash = FileFlash::open(&path, SIZE).expect("open replays the journal");
    assert!(
        !journal_path.exists(),
        "seed {seed}: the replayed journal is removed"
    );
    let mut log =
        Log::mount(flash).unwrap_or_else(|e| panic!("seed {seed}: mount: {e:?}; {replay}"));
    assert_eq!(log.mount_report().torn_tail, None, "seed {seed}: {replay}");
    assert_holds(&mut log, &all[..crash.acked], seed, &replay);
    // The log goes on from there.
    let (h, p) = &all[crash.acked];
    log.append(h, p)
        .unwrap_or_else(|e| panic!("seed {seed}: append after recovery: {e:?}"));
}

fn write_in_place(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open");
    f.write_all(bytes).expect("write");
    f.sync_all().expect("sync");
}

fn assert_holds(log: &mut Log, blocks: &[(Header, Vec<u8>)], seed: u64, replay: &str) {
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    for (h, p) in blocks {
        assert_eq!(
            log.header(&h.author, h.seq).expect("read"),
            Some(*h),
            "seed {seed}: block {} of an author lost; {replay}",
            h.seq
        );
        assert_eq!(
            log.payload(&h.author, h.seq, &mut buf).expect("read"),
            Some(p.as_slice())
        );
    }
    assert_eq!(
        log.usage().blocks,
        blocks.len(),
        "seed {seed}: unacknowledged blocks kept; {replay}"
    );
}

fn seeds() -> Vec<u64> {
    match std::env::var("GLITTER_SEED") {
        Ok(s) => vec![s.parse().expect("GLITTER_SEED is a number")],
        Err(_) => (1..=12).collect(),
    }
}

#[test]
fn a_power_cut_keeps_exactly_the_committed_batches() {
    let all = blocks(2000);
    for seed in seeds() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Cut anywhere in the first 150 batches (the journal wraps every few).
        let k = Rng(seed ^ 0xC0FFEE).below(150) as usize;
        let crash = run_and_cut(dir.path(), &all, seed, Cut::After(k));
        check_recovery(dir.path(), &all, &crash, seed);
    }
}

#[test]
fn a_power_cut_as_the_journal_wraps_keeps_every_committed_batch() {
    let all = blocks(2000);
    for seed in seeds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let crash = run_and_cut(dir.path(), &all, seed, Cut::AtFirstWrap);
        assert!(crash.acked > 0);
        check_recovery(dir.path(), &all, &crash, seed);
    }
}

#[test]
fn a_journal_beside_a_replaced_image_is_not_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = blocks(40);
    let path = dir.path().join("chain.img");
    let flash = FileFlash::create(&path, SIZE).expect("create");
    let mut flash = Log::format(flash).expect("format").into_flash();
    flash.set_group_commit(true).expect("group commit on");
    let mut log = Log::mount(flash).expect("mount");
    for (h, p) in &all[..30] {
        log.append(h, p).expect("append");
    }
    log.flash().commit().expect("commit");
    drop(log);
    let journal = flash_journal::journal_path(&path);
    assert!(std::fs::metadata(&journal).expect("journal").len() == JOURNAL_BYTES);
    // Another image (10 blocks) is renamed over it: a new inode, the old journal stays.
    let other = dir.path().join("other.img");
    let flash = FileFlash::create(&other, SIZE).expect("create");
    let mut log = Log::format(flash).expect("format");
    for (h, p) in &all[..10] {
        log.append(h, p).expect("append");
    }
    drop(log);
    std::fs::rename(&other, &path).expect("rename");
    let mut log = Log::mount(FileFlash::open(&path, SIZE).expect("open")).expect("mount");
    assert_eq!(log.usage().blocks, 10, "the stale journal was not replayed");
    assert!(!journal.exists(), "the stale journal is removed");
    assert_holds(&mut log, &all[..10], 0, "deterministic");
}

#[test]
fn staged_writes_are_read_back_and_lost_whole_without_a_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = blocks(60);
    let path = dir.path().join("chain.img");
    let flash = FileFlash::create(&path, SIZE).expect("create");
    let mut flash = Log::format(flash).expect("format").into_flash();
    flash.set_group_commit(true).expect("group commit on");
    let mut log = Log::mount(flash).expect("mount");
    for (h, p) in &all[..20] {
        log.append(h, p).expect("append");
    }
    log.flash().commit().expect("commit");
    for (h, p) in &all[20..50] {
        log.append(h, p).expect("append");
    }
    assert!(log.flash().has_staged());
    // Reads see staged blocks before they are committed.
    assert_holds(&mut log, &all[..50], 0, "deterministic");
    let stats = log.flash().group_stats().expect("group");
    assert_eq!(stats.commits, 1);
    // The process dies without committing: the second batch is gone, whole.
    drop(log);
    let mut log = Log::mount(FileFlash::open(&path, SIZE).expect("open")).expect("mount");
    assert_eq!(log.mount_report().torn_tail, None);
    assert_holds(&mut log, &all[..20], 0, "deterministic");
}
