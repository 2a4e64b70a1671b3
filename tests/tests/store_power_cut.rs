//! Power cuts at every flash operation of a workload, and cuts during the repair that
//! follows (issue 3).
//!
//! - `single_cut_*`: a workload of 3,000 pre-signed blocks over 4 authors (about 11,000
//!   writes and erases, all counted from the format on). For every operation index of
//!   it, cut the power at the operation's first byte (with a random half-programmed
//!   byte) and again at a random byte inside it (up to its very end: the operation
//!   completes but the caller sees the cut). After each cut: mount, and compare with the
//!   model: no committed block lost, nothing read back corrupt, each head the old head
//!   or the block in flight. Every 8th case then appends the next block and remounts.
//! - `double_cut`: 1,000 cases of a first cut during an append, then a second cut at a
//!   random byte of the repair that the next mount performs; then mount again, check,
//!   append, remount, check.
//!
//! Seeds: `GLITTER_STORE_SEED`.

mod store_common;

use glitter_core::store::{Error, FlashLog, PowerCut, RamFlashError, RamNorFlash};
use std::sync::Arc;
use store_common::{
    Model, ReadBack, Rng, Shared, Workload, check, check_consistent, run_big, seed, workload,
};

/// 480 pages of 4 KiB: room for the workload, the pages repairs use up, and spare.
const PAGES: usize = 480;
type Log = FlashLog<Shared<PAGES>, 8, 8192>;

const BLOCKS: usize = 5_000;
const AUTHORS: usize = 4;
const TEXT_MAX: usize = 100;
/// The minimum number of operation indices covered.
const OPS_MIN: usize = 10_000;

#[derive(Default, Debug)]
struct Stats {
    cases: usize,
    landed: usize,
    continued: usize,
    /// Writes and erases of the workload itself, from the format on.
    workload_ops: usize,
    /// Operation indices this worker cut.
    ops_cut: usize,
}

/// A cut of operation `op` (counted from now) after `bytes` bytes.
fn cut(op: usize, bytes: usize, rng: &mut Rng) -> PowerCut {
    PowerCut {
        after_ops: op as u64,
        after_bytes: bytes,
        torn_mask: if rng.chance(2) { 0xFF } else { rng.byte() },
    }
}

/// Cuts during a format, of a blank flash and of one holding a log: the image must
/// mount as not formatted, as corrupted (later pages of the old log outlive its first
/// page), as an empty log, or (cut before the first erase did anything) as the old log
/// intact; and formatting again must work.
fn format_cuts(w: &Workload, seed: u64) -> usize {
    let mut rng = Rng::new(seed);
    let flash = Shared::<PAGES>::new();
    let blank: Box<RamNorFlash<PAGES>> = Box::new(RamNorFlash::new());
    let mut used: Box<RamNorFlash<PAGES>> = Box::new(RamNorFlash::new());
    let mut log = Log::format(flash.clone()).expect("format");
    for b in &w.blocks[..300] {
        log.append(&b.header, &b.payload).expect("append");
    }
    drop(log);
    flash.save_to(&mut used);
    let mut cases = 0;
    for base in [&blank, &used] {
        flash.restore_from(base);
        let first_op = flash.ops();
        drop(Log::format(flash.clone()).expect("format"));
        let ops = flash.ops() - first_op;
        let lens: Vec<usize> = (first_op..first_op + ops)
            .map(|i| flash.op_len(i))
            .collect();
        for (op, len) in lens.iter().enumerate() {
            for bytes in [0, 1 + rng.below_usize(*len)] {
                flash.restore_from(base);
                flash.with(|f| f.schedule_power_cut(cut(op, bytes, &mut rng)));
                assert!(Log::format(flash.clone()).is_err(), "op {op}: cut missed");
                flash.with(|f| f.power_on());
                match Log::mount(flash.clone()) {
                    Err(Error::NotFormatted | Error::Corrupted { .. }) => {}
                    Ok(mut log) => {
                        let n = check_consistent(&mut log)
                            .unwrap_or_else(|e| panic!("op {op} byte {bytes}: {e}"));
                        assert!(n == 0 || n == 300, "op {op} byte {bytes}: {n} blocks");
                    }
                    Err(e) => panic!("op {op} byte {bytes}: mount after cut format: {e}"),
                }
                let log = Log::format(flash.clone()).expect("format again");
                assert_eq!(log.mount_report().records, 0);
                drop(log);
                assert_eq!(
                    Log::mount(flash.clone()).map(|l| l.usage().blocks),
                    Ok(0),
                    "op {op}"
                );
                cases += 1;
            }
        }
    }
    cases
}

/// Runs the cut cases of every `workers`th append, starting at `worker`.
fn single_cut_worker(w: &Workload, worker: usize, workers: usize, seed: u64) -> Stats {
    let mut rng = Rng::new(seed ^ ((worker as u64) << 32));
    let flash = Shared::<PAGES>::new();
    let mut base: Box<RamNorFlash<PAGES>> = Box::new(RamNorFlash::new());
    let mut log = Log::format(flash.clone()).expect("format");
    flash.save_to(&mut base);
    let mut model = Model::new(w.keys.len());
    let mut stats = Stats {
        workload_ops: flash.ops(),
        ..Stats::default()
    };
    for (k, b) in w.blocks.iter().enumerate() {
        // Count this append's operations (and their lengths) on a throwaway clone.
        let first_op = flash.ops();
        log.clone()
            .append(&b.header, &b.payload)
            .unwrap_or_else(|e| panic!("block {k}: reference append: {e}"));
        let ops = flash.ops() - first_op;
        let lens: Vec<usize> = (first_op..first_op + ops)
            .map(|i| flash.op_len(i))
            .collect();
        flash.restore_from(&base);
        stats.workload_ops += ops;
        if k % workers == worker {
            stats.ops_cut += ops;
            for (op, len) in lens.iter().enumerate() {
                for bytes in [0, 1 + rng.below_usize(*len)] {
                    flash.restore_from(&base);
                    flash.with(|f| f.schedule_power_cut(cut(op, bytes, &mut rng)));
                    let r = log.clone().append(&b.header, &b.payload);
                    assert!(
                        matches!(r, Err(Error::Flash(RamFlashError::PowerOff))),
                        "block {k} op {op}: cut missed: {r:?}"
                    );
                    flash.with(|f| f.power_on());
                    let case = format!("block {k} op {op}/{ops} byte {bytes}/{len}");
                    let mut after =
                        Log::mount(flash.clone()).unwrap_or_else(|e| panic!("{case}: mount: {e}"));
                    let landed = check(&mut after, w, &model, Some(k), ReadBack::Last(3))
                        .unwrap_or_else(|e| panic!("{case}: {e}"));
                    stats.cases += 1;
                    stats.landed += usize::from(landed);
                    if stats.cases.is_multiple_of(8) {
                        // Life goes on after the cut: append, remount, check.
                        let mut m = model.clone();
                        if !landed {
                            after
                                .append(&b.header, &b.payload)
                                .unwrap_or_else(|e| panic!("{case}: append after cut: {e}"));
                        }
                        m.commit(w, k);
                        drop(after);
                        let mut again = Log::mount(flash.clone())
                            .unwrap_or_else(|e| panic!("{case}: remount: {e}"));
                        check(&mut again, w, &m, None, ReadBack::Last(3))
                            .unwrap_or_else(|e| panic!("{case}: after remount: {e}"));
                        stats.continued += 1;
                    }
                }
            }
        }
        flash.restore_from(&base);
        log.append(&b.header, &b.payload)
            .unwrap_or_else(|e| panic!("block {k}: append: {e}"));
        flash.save_to(&mut base);
        model.commit(w, k);
    }
    let mut last = Log::mount(flash.clone()).expect("final mount");
    check(&mut last, w, &model, None, ReadBack::All).expect("final check");
    stats
}

fn single_cut(worker: usize, workers: usize) {
    let seed = seed("store_power_cut", 0x5EED_0003);
    let w = Arc::new(workload(seed, AUTHORS, BLOCKS, TEXT_MAX));
    let stats = run_big(move || {
        let format_cases = if worker == 0 {
            format_cuts(&w, seed)
        } else {
            0
        };
        let s = single_cut_worker(&w, worker, workers, seed);
        eprintln!("worker {worker}/{workers}: {format_cases} format cuts, {s:?}");
        s
    });
    assert!(
        stats.workload_ops >= OPS_MIN,
        "workload has only {} ops",
        stats.workload_ops
    );
    assert!(stats.cases > 0 && stats.landed > 0 && stats.landed < stats.cases);
}

// Two halves, so the test harness runs them on two threads.
#[test]
fn single_cut_every_op_even_blocks() {
    single_cut(0, 2);
}

#[test]
fn single_cut_every_op_odd_blocks() {
    single_cut(1, 2);
}

#[test]
fn double_cut() {
    const CASES: usize = 1_000;
    const SMALL_PAGES: usize = 96;
    type SmallLog = FlashLog<Shared<SMALL_PAGES>, 8, 1024>;
    let seed = seed("store_power_cut", 0x5EED_0D0C);
    run_big(move || {
        let w = workload(seed ^ 1, 3, 600, 160);
        let mut rng = Rng::new(seed);
        let flash = Shared::<SMALL_PAGES>::new();
        let mut base: Box<RamNorFlash<SMALL_PAGES>> = Box::new(RamNorFlash::new());
        let mut torn: Box<RamNorFlash<SMALL_PAGES>> = Box::new(RamNorFlash::new());
        let mut log = SmallLog::format(flash.clone()).expect("format");
        flash.save_to(&mut base);
        let mut model = Model::new(w.keys.len());
        let (mut cases, mut no_repair) = (0usize, 0usize);
        let per_block = CASES.div_ceil(w.blocks.len()) + 1;
        for (k, b) in w.blocks.iter().enumerate() {
            let mut done_here = 0;
            // Bounded: a few attempts per block to find cuts that leave a torn tail.
            for _attempt in 0..8 * per_block {
                if done_here == per_block || cases == CASES {
                    break;
                }
                // First cut: somewhere in this append.
                let first_op = flash.ops();
                log.clone()
                    .append(&b.header, &b.payload)
                    .expect("reference");
                let ops = flash.ops() - first_op;
                let op = rng.below_usize(ops);
                let len = flash.op_len(first_op + op);
                flash.restore_from(&base);
                let bytes = rng.below_usize(len + 1);
                flash.with(|f| f.schedule_power_cut(cut(op, bytes, &mut rng)));
                assert!(log.clone().append(&b.header, &b.payload).is_err());
                flash.with(|f| f.power_on());
                torn.copy_from(&flash.flash.borrow());
                // How many operations does the repairing mount perform?
                let before = flash.ops();
                drop(SmallLog::mount(flash.clone()).expect("mount after first cut"));
                let repair_ops = flash.ops() - before;
                if repair_ops == 0 {
                    no_repair += 1;
                    flash.restore_from(&base);
                    continue;
                }
                let case = format!("block {k} op {op} byte {bytes}");
                // Second cut: inside the repair.
                flash.with(|f| f.copy_from(&torn));
                let op2 = rng.below_usize(repair_ops);
                let len2 = flash.op_len(before + op2);
                let bytes2 = rng.below_usize(len2 + 1);
                flash.with(|f| f.schedule_power_cut(cut(op2, bytes2, &mut rng)));
                let r = SmallLog::mount(flash.clone());
                assert!(
                    matches!(r, Err(Error::Flash(RamFlashError::PowerOff))),
                    "{case}: second cut missed"
                );
                drop(r);
                flash.with(|f| f.power_on());
                let case = format!("{case}, then repair op {op2} byte {bytes2}");
                let mut after =
                    SmallLog::mount(flash.clone()).unwrap_or_else(|e| panic!("{case}: {e}"));
                let landed = check(&mut after, &w, &model, Some(k), ReadBack::Last(4))
                    .unwrap_or_else(|e| panic!("{case}: {e}"));
                let mut m = model.clone();
                if !landed {
                    after
                        .append(&b.header, &b.payload)
                        .unwrap_or_else(|e| panic!("{case}: append: {e}"));
                }
                m.commit(&w, k);
                drop(after);
                let mut again =
                    SmallLog::mount(flash.clone()).unwrap_or_else(|e| panic!("{case}: {e}"));
                check(&mut again, &w, &m, None, ReadBack::Last(4))
                    .unwrap_or_else(|e| panic!("{case}: after remount: {e}"));
                drop(again);
                flash.restore_from(&base);
                cases += 1;
                done_here += 1;
            }
            log.append(&b.header, &b.payload).expect("append");
            flash.save_to(&mut base);
            model.commit(&w, k);
        }
        eprintln!("double_cut: {cases} cases ({no_repair} first cuts left nothing to repair)");
        assert!(cases >= CASES, "only {cases} double-cut cases");
    });
}
