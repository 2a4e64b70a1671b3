//! Target 10, `flash_log`: `FlashLog` mount of arbitrary images, then appends (some
//! cut by a power loss at any byte), then remounts. Model-based: after every remount
//! the committed blocks equal the model's ([`crate::flash_model`]).
//!
//! The image is one of a few valid logs (blank, empty, holding blocks, with a torn
//! tail, full) with arbitrary byte patches. Invariants: mount never panics, and the
//! writing and the read-only mount agree; a mounted log serves only chains that keep
//! the store's rules; an append succeeds or fails exactly as the model's rules say
//! (capacity aside), and fails with a flash error only when the power was cut; after a
//! cut, the remount holds every committed block, plus at most the block in flight.

use crate::bytes::{Cursor, Writer};
use crate::chain_model::HEADER;
use crate::flash_model::{Block, LogModel, Refusal, next_block};
use glitter_core::sig::PublicKey;
use glitter_core::store::{BlockLog, Error, FlashLog, PowerCut, RamFlashError, RamNorFlash};
use glitter_core::wire::header::Header;
use std::sync::OnceLock;

const PAGES: usize = 4;
type Flash = RamNorFlash<PAGES>;
type Log = FlashLog<Flash, 3, 48>;

/// The authors: three fit the index, the fourth does not.
fn authors() -> [[u8; 32]; 4] {
    [51u8, 52, 53, 54].map(|s| crate::fixtures::keys(s).public().0)
}

fn header_of(b: &[u8; HEADER]) -> Header {
    Header::decode(b).expect("a model block decodes")
}

/// Base images: blank, empty, with blocks, with a torn tail, full.
fn bases() -> &'static [Flash] {
    static B: OnceLock<Vec<Flash>> = OnceLock::new();
    B.get_or_init(|| {
        let blank = Flash::new();
        let log = Log::format(Flash::new()).expect("format");
        let empty = log.flash().clone();
        let mut log = log;
        let mut model = LogModel::default();
        let sizes = [0usize, 40, 300, 1024, 7, 512];
        for i in 0..14 {
            let a = authors()[i % 3];
            let (h, p) = next_block(
                a,
                model.chain(&a).last().map(|b| &b.0),
                sizes[i % 6],
                i as u8,
            );
            log.append(&header_of(&h), &p)
                .expect("room for the base blocks");
            model.push(h, p);
        }
        let some = log.flash().clone();
        let mut torn = log.clone();
        torn.flash_mut_for_fault_injection()
            .schedule_power_cut(PowerCut {
                after_ops: 0,
                after_bytes: 100,
                torn_mask: 0x0F,
            });
        let a = authors()[0];
        let (h, p) = next_block(a, model.chain(&a).last().map(|b| &b.0), 200, 9);
        let _ = torn.append(&header_of(&h), &p);
        let mut torn = torn.into_flash();
        torn.power_on();
        loop {
            let a = authors()[model.blocks() % 3];
            let (h, p) = next_block(a, model.chain(&a).last().map(|b| &b.0), 1000, 3);
            if log.append(&header_of(&h), &p).is_err() {
                break;
            }
            model.push(h, p);
        }
        vec![blank, empty, some, torn, log.into_flash()]
    })
}

/// What a mounted log holds, read through its public API.
fn content(log: &mut Log) -> LogModel {
    let mut m = LogModel::default();
    let keys: Vec<PublicKey> = log.authors().collect();
    let mut buf = [0u8; 1024];
    for a in keys {
        let head = log.head(&a).map_or(0, |h| h.seq);
        let mut chain: Vec<Block> = Vec::new();
        for seq in 1..=head {
            let (h, p) = log
                .block(&a, seq, &mut buf)
                .expect("a mounted block reads back")
                .expect("every block up to the head is held");
            chain.push((h.to_bytes(), p.to_vec()));
        }
        LogModel::check_chain(&a.0, &chain);
        m.chains.insert(a.0, chain);
    }
    let usage = log.usage();
    assert_eq!(usage.blocks, m.blocks());
    assert_eq!(usage.authors, m.chains.len());
    m
}

/// Mounts `flash` both ways: they must agree; returns the writable log.
fn mount(flash: &Flash) -> Result<Log, Error<RamFlashError>> {
    let ro = Log::mount_read_only(flash.clone());
    let rw = Log::mount(flash.clone());
    let (mut ro, mut rw) = match (ro, rw) {
        (Ok(ro), Ok(rw)) => (ro, rw),
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "the two mounts fail differently");
            return Err(a);
        }
        (ro, rw) => panic!("read-only {:?}, writable {:?}", ro.err(), rw.err()),
    };
    assert_eq!(
        content(&mut ro),
        content(&mut rw),
        "the two mounts serve different blocks"
    );
    Ok(rw)
}

/// The block the fuzzer appends next, possibly broken.
fn candidate(c: &mut Cursor<'_>, model: &LogModel) -> Block {
    let a = authors()[c.below(4)];
    let len = match c.below(4) {
        0 => 0,
        1 => 100,
        2 => 1024,
        _ => usize::from(c.u8()),
    };
    let (mut h, mut p) = next_block(a, model.chain(&a).last().map(|b| &b.0), len, c.u8());
    match c.below(10) {
        0 => h[36] ^= 1 << c.below(2),           // seq
        1 => h[52 + c.below(32)] ^= c.u8() | 1,  // prev
        2 => h[44..52].copy_from_slice(&[0; 8]), // timestamp back to 0
        3 => h[84 + c.below(32)] ^= 1,           // skip (checked at genesis only)
        4 => p.push(0),                          // payload longer than declared
        5 => p = vec![0; 1025],                  // oversize
        _ => {}
    }
    (h, p)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let mut flash = bases()[c.below(5)].clone();
    let mut image = flash.as_bytes().to_vec();
    for _ in 0..c.below(8) {
        let at = usize::from(c.u16()) % image.len();
        let patch = c.string(64);
        for (i, b) in patch.iter().enumerate() {
            if let Some(x) = image.get_mut(at + i) {
                *x = *b;
            }
        }
    }
    flash.load(&image).expect("the image has the flash's size");
    let Ok(mut log) = mount(&flash) else { return };
    let mut model = content(&mut log);
    // Blocks whose append failed on a cut: each may or may not have landed.
    let mut in_flight: Vec<Block> = Vec::new();
    // A cut happened and nothing was stored since: a reboot must not write where the
    // cut may have touched a word that still reads erased.
    let mut cut_pending = false;
    for _ in 0..24 {
        if c.is_empty() {
            break;
        }
        match c.below(6) {
            0..=2 => {
                let (h, p) = candidate(&mut c, &model);
                let (stored, cut) = append(&mut log, &mut model, &mut in_flight, (&h, &p), false);
                assert!(!cut, "no cut was armed");
                cut_pending &= !stored;
            }
            3 => {
                let cut = PowerCut {
                    after_ops: u64::from(c.u8() % 4),
                    after_bytes: usize::from(c.u16() % 1300),
                    torn_mask: c.u8(),
                };
                log.flash_mut_for_fault_injection().schedule_power_cut(cut);
                let (h, p) = candidate(&mut c, &model);
                let (stored, cut) = append(&mut log, &mut model, &mut in_flight, (&h, &p), true);
                if cut {
                    in_flight.push((h, p));
                }
                cut_pending &= !stored;
                let f = log.flash_mut_for_fault_injection();
                f.cancel_power_cut();
                if !f.is_powered() {
                    f.power_on();
                    cut_pending = true;
                    if c.u8() & 1 == 0 {
                        log = remount(log, &mut model, &mut in_flight, cut_pending);
                    }
                }
            }
            4 => log = remount(log, &mut model, &mut in_flight, cut_pending),
            _ => {
                let a = authors()[c.below(4)];
                let seq = u64::from(c.u8() % 20);
                let mut buf = [0u8; 1024];
                let got = log.block(&PublicKey(a), seq, &mut buf).expect("a read");
                let want = model.chain(&a).get((seq as usize).wrapping_sub(1));
                assert_eq!(got.map(|(h, p)| (h.to_bytes(), p.to_vec())).as_ref(), want);
            }
        }
    }
    let _ = remount(log, &mut model, &mut in_flight, cut_pending);
}

/// Appends one block and checks the outcome against the model; returns whether it was
/// stored, and whether it failed on the power cut (it is in flight). An append first
/// settles the block in flight of a failed append: if it landed whole, it is stored
/// from then on.
fn append(
    log: &mut Log,
    model: &mut LogModel,
    in_flight: &mut Vec<Block>,
    (h, p): (&[u8; HEADER], &[u8]),
    cut: bool,
) -> (bool, bool) {
    let header = header_of(h);
    if !in_flight.is_empty() {
        // Let an append the store refuses without writing (an oversize payload) settle
        // the block in flight, so the model knows whether it landed before the real one.
        let probe = log.append(&header, &[0; 1025]);
        assert!(matches!(probe, Err(Error::Oversize { .. })), "{probe:?}");
        for (fh, fp) in in_flight.drain(..) {
            let f = header_of(&fh);
            let landed = log.header(&f.author, f.seq).expect("a read") == Some(f);
            if landed && model.check(&fh, &fp).is_ok() {
                model.push(fh, fp);
            }
        }
    }
    let expect = model.check(h, p);
    let got = log.append(&header, p);
    match (&got, expect) {
        (Ok(()), Ok(())) => {
            model.push(*h, p.to_vec());
            (true, false)
        }
        (Err(Error::Oversize { .. }), Err(Refusal::Oversize)) => (false, false),
        (Err(Error::Unlinked(_)), Err(Refusal::Unlinked)) => (false, false),
        (Err(Error::IndexFull { .. }), Ok(())) => {
            assert_eq!(model.blocks(), 48, "index full with room");
            (false, false)
        }
        (Err(Error::AuthorsFull { .. }), Ok(())) => {
            let author = crate::flash_model::author_of(h);
            assert!(model.chains.len() == 3 && model.chain(&author).is_empty());
            (false, false)
        }
        (Err(Error::FullStorage), Ok(())) => (false, false),
        (Err(Error::Flash(RamFlashError::PowerOff)), Ok(())) if cut => (false, true),
        _ => panic!("append: store {got:?}, model {expect:?}"),
    }
}

/// Remounts the flash (after powering it on): every committed block is there, and of
/// the blocks in flight at most the one that extends its chain.
fn remount(log: Log, model: &mut LogModel, in_flight: &mut Vec<Block>, cut: bool) -> Log {
    let mut flash = log.into_flash();
    flash.power_on();
    let mut log = match mount(&flash) {
        Ok(log) => log,
        Err(e) => panic!("a log that was mounted does not mount again: {e:?}"),
    };
    let got = content(&mut log);
    for (a, chain) in &got.chains {
        let mine = model.chain(a);
        let extra = chain.get(mine.len()..).unwrap_or(&[]);
        assert_eq!(
            chain.get(..mine.len()),
            Some(mine),
            "a committed block was lost"
        );
        assert!(
            extra.len() <= 1 && extra.iter().all(|b| in_flight.contains(b)),
            "blocks that were never appended appeared"
        );
    }
    for (a, chain) in &model.chains {
        assert!(
            got.chain(a).starts_with(chain),
            "an author's blocks were lost"
        );
    }
    *model = got;
    in_flight.clear();
    if cut {
        // A reboot after a cut: the next append goes to a fresh page (the cut may have
        // touched a word that still reads erased).
        log.start_on_fresh_page();
    }
    log
}

/// Seeds: each base image unpatched with appends, cuts and remounts, and one patch.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for base in 0..5u8 {
        let mut w = Writer::new();
        w.u8(base).u8(0);
        // Two appends, a cut append with a remount, a read, a remount.
        w.u8(0).u8(0).u8(1).u8(7).u8(9);
        w.u8(1).u8(1).u8(3).u8(40).u8(7).u8(9);
        w.u8(3)
            .u8(0)
            .u16(120)
            .u8(0x0F)
            .u8(2)
            .u8(0)
            .u8(5)
            .u8(9)
            .u8(0);
        w.u8(5).u8(0).u8(2);
        w.u8(4);
        out.push(w.finish());
    }
    let mut w = Writer::new();
    w.u8(2).u8(1).u16(4096 + 30).string(&[0x00, 0x11]);
    w.u8(4);
    out.push(w.finish());
    out
}
