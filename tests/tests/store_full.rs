//! The store's limits and refusals (issue 3): a full flash gives `FullStorage` and
//! keeps everything readable; full indexes give typed errors; unlinked blocks are
//! refused; formats and geometries are checked; the flash overhead per stored byte.

mod store_common;

use embedded_storage::nor_flash::{ErrorType, NorFlash, NorFlashErrorKind, ReadNorFlash};
use glitter_core::chain::ChainState;
use glitter_core::hash::Hash;
use glitter_core::store::{
    BlockLog, Corruption, Error, FlashLog, LinkError, PowerCut, RamFlashError, RamNorFlash,
};
use glitter_core::wire::header::{BlockKind, PAYLOAD_LEN_MAX};
use store_common::{Model, ReadBack, check, check_consistent, run_big, workload};

#[test]
fn full_flash_refuses_and_keeps_everything_readable() {
    let w = workload(7, 3, 400, 300);
    let mut flash = RamNorFlash::<4>::new();
    let mut log = FlashLog::<_, 4, 512>::format(&mut flash).expect("format");
    let mut model = Model::new(3);
    let mut refused = 0;
    for (i, b) in w.blocks.iter().enumerate() {
        if model.chains[b.author].len() + 1 != b.header.seq as usize {
            // An earlier block of this author was refused: the chain cannot continue.
            continue;
        }
        let before = log.usage();
        match log.append(&b.header, &b.payload) {
            Ok(()) => model.commit(&w, i),
            Err(Error::FullStorage) => {
                refused += 1;
                assert_eq!(log.usage(), before, "a refused append changes nothing");
            }
            Err(e) => panic!("block {i}: {e}"),
        }
    }
    assert!(refused > 0, "the flash never filled up");
    assert!(model.blocks() > 30);
    check(&mut log, &w, &model, None, ReadBack::All).expect("readable while full");
    let u = log.usage();
    assert!(u.flash_bytes_free < 4096, "{u:?}");
    drop(log);
    let mut log = FlashLog::<_, 4, 512>::mount(&mut flash).expect("remount");
    check(&mut log, &w, &model, None, ReadBack::All).expect("readable after remount");
    assert_eq!(log.mount_report().torn_tail, None);
}

#[test]
fn torn_tail_on_the_last_page_mounts_read_only() {
    let w = workload(8, 1, 200, 200);
    let mut flash = RamNorFlash::<2>::new();
    let mut log = FlashLog::<_, 2, 64>::format(&mut flash).expect("format");
    let mut stored = 0;
    for b in &w.blocks {
        if log.usage().flash_bytes_used > 4096 + 1500 {
            break;
        }
        log.append(&b.header, &b.payload).expect("append");
        stored += 1;
    }
    drop(log);
    flash.schedule_power_cut(PowerCut {
        after_ops: 0,
        after_bytes: 50,
        torn_mask: 0xFF,
    });
    let mut log = FlashLog::<_, 2, 64>::mount(&mut flash).expect("mount");
    let b = &w.blocks[stored];
    assert!(log.append(&b.header, &b.payload).is_err());
    drop(log);
    flash.power_on();
    let mut log = FlashLog::<_, 2, 64>::mount(&mut flash).expect("mount torn");
    let torn = log.mount_report().torn_tail.expect("torn tail");
    assert!(!torn.repaired);
    assert_eq!(log.usage().flash_bytes_free, 0);
    assert_eq!(log.append(&b.header, &b.payload), Err(Error::FullStorage));
    assert_eq!(check_consistent(&mut log), Ok(stored));
}

#[test]
fn index_capacities_are_typed_errors() {
    let w = workload(9, 3, 60, 20);
    let mut flash = RamNorFlash::<4>::new();
    let mut log = FlashLog::<_, 2, 8>::format(&mut flash).expect("format");
    let mut authors_full = 0;
    let mut index_full = 0;
    for b in &w.blocks {
        match log.append(&b.header, &b.payload) {
            Ok(()) => {}
            Err(Error::AuthorsFull { capacity: 2 }) => authors_full += 1,
            Err(Error::IndexFull { capacity: 8 }) => index_full += 1,
            Err(Error::Unlinked(LinkError::Seq { .. })) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(authors_full > 0 && index_full > 0);
    assert_eq!(log.usage().blocks, 8);
    assert_eq!(log.usage().authors, 2);
    drop(log);
    // Mounting an image too big for the index is a typed error too.
    assert_eq!(
        FlashLog::<_, 2, 7>::mount(&mut flash).err(),
        Some(Error::IndexFull { capacity: 7 })
    );
    assert_eq!(
        FlashLog::<_, 1, 8>::mount(&mut flash).err(),
        Some(Error::AuthorsFull { capacity: 1 })
    );
    assert_eq!(
        FlashLog::<_, 2, 8>::mount(&mut flash).map(|l| l.usage().blocks),
        Ok(8)
    );
}

#[test]
fn unlinked_blocks_are_refused() {
    let w = workload(10, 1, 4, 10);
    let b = &w.blocks;
    let mut flash = RamNorFlash::<2>::new();
    let mut log = FlashLog::<_, 2, 16>::format(&mut flash).expect("format");
    let refused = |e| Err(Error::Unlinked(e));
    assert_eq!(
        log.append(&b[1].header, &b[1].payload),
        refused(LinkError::Seq {
            expected: 1,
            got: 2
        })
    );
    let mut genesis = b[0].header;
    genesis.prev = Hash([1; 32]);
    assert_eq!(
        log.append(&genesis, &b[0].payload),
        refused(LinkError::Prev { seq: 1 })
    );
    assert_eq!(
        log.append(&b[0].header, &b[0].payload[1..]),
        refused(LinkError::PayloadLength {
            declared: b[0].payload.len(),
            actual: b[0].payload.len() - 1
        })
    );
    log.append(&b[0].header, &b[0].payload).expect("genesis");
    assert_eq!(
        log.append(&b[0].header, &b[0].payload),
        refused(LinkError::Seq {
            expected: 2,
            got: 1
        })
    );
    let mut wrong_prev = b[1].header;
    wrong_prev.prev = Hash([2; 32]);
    assert_eq!(
        log.append(&wrong_prev, &b[1].payload),
        refused(LinkError::Prev { seq: 2 })
    );
    let mut back_in_time = b[1].header;
    back_in_time.timestamp_ms = b[0].header.timestamp_ms - 1;
    assert_eq!(
        log.append(&back_in_time, &b[1].payload),
        refused(LinkError::Timestamp { seq: 2 })
    );
    let big = vec![0u8; PAYLOAD_LEN_MAX + 1];
    assert_eq!(
        log.append(&b[1].header, &big),
        Err(Error::Oversize {
            len: PAYLOAD_LEN_MAX + 1,
            max: PAYLOAD_LEN_MAX
        })
    );
    log.append(&b[1].header, &b[1].payload).expect("seq 2");
    assert_eq!(log.usage().blocks, 2);
}

#[test]
fn chain_state_round_trip_through_the_store() {
    // Build, sign, store and re-verify through the HeaderSource adapter, long enough
    // for skip links to reach far back.
    let keys = glitter_core::KeyPair::from_seed([3; 32]).expect("seed");
    let mut flash = run_big(|| Box::new(RamNorFlash::<64>::new()));
    let mut log = FlashLog::<_, 2, 1024>::format(&mut *flash).expect("format");
    let mut state = ChainState::new(keys.public()).expect("key");
    for i in 0..600u64 {
        let payload =
            glitter_core::social::Payload::post(&format!("post {i}"), None).expect("post");
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        let bytes = payload.encode(&mut buf).expect("encode").to_vec();
        let h = state
            .append(
                &keys,
                BlockKind::Post,
                i,
                &bytes,
                &mut log.source(keys.public()),
            )
            .expect("append to chain");
        log.append(&h, &bytes).expect("store");
    }
    drop(log);
    let mut log = FlashLog::<_, 2, 1024>::mount(&mut *flash).expect("mount");
    let mut verifier = ChainState::new(keys.public()).expect("key");
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    for seq in 1..=600 {
        let (h, p) = log
            .block(&keys.public(), seq, &mut buf)
            .expect("read")
            .expect("present");
        let p = p.to_vec();
        verifier
            .verify_next(&h.to_bytes(), Some(&p), &mut log.source(keys.public()))
            .expect("verifies");
    }
    assert_eq!(verifier.head(), log.head(&keys.public()));
    assert_eq!(log.chain(keys.public()).count(), 600);
    assert!(log.chain(keys.public()).all(|h| h.is_ok()));
    assert_eq!(log.authors().collect::<Vec<_>>(), vec![keys.public()]);
    assert_eq!(
        log.chain_state(keys.public()).map(|s| s.head()),
        Ok(verifier.head())
    );
    let mut small = [0u8; 4];
    assert_eq!(
        log.payload(&keys.public(), 1, &mut small).err(),
        Some(Error::BufferTooSmall { needed: 8 })
    );
    assert_eq!(log.header(&keys.public(), 601), Ok(None));
    assert_eq!(log.header(&glitter_core::PublicKey([1; 32]), 1), Ok(None));
}

#[test]
fn format_rules() {
    let mut flash = RamNorFlash::<4>::new();
    assert_eq!(
        FlashLog::<_, 2, 8>::mount(&mut flash).err(),
        Some(Error::NotFormatted)
    );
    let log = FlashLog::<_, 2, 8>::mount_or_format(&mut flash).expect("formats a blank flash");
    assert_eq!(log.mount_report().pages_in_use, 1);
    drop(log);
    // A log of another alignment is recognised as foreign, not as garbage.
    let mut img = flash.as_bytes().to_vec();
    img[6] = 3; // log2 of an 8-byte alignment
    let crc = glitter_core::store::crc::crc32c(&img[..16]);
    img[16..20].copy_from_slice(&crc.to_le_bytes());
    flash.load(&img).expect("size");
    assert_eq!(
        FlashLog::<_, 2, 8>::mount(&mut flash).err(),
        Some(Error::FormatMismatch)
    );
    assert_eq!(
        FlashLog::<_, 2, 8>::mount_or_format(&mut flash).err(),
        Some(Error::FormatMismatch),
        "a foreign log is never formatted away"
    );
    // A lost first page with later pages alive is corruption, and is not formatted away.
    let w = workload(11, 1, 40, 200);
    let mut log = FlashLog::<_, 2, 64>::format(&mut flash).expect("format");
    for b in &w.blocks {
        if log.append(&b.header, &b.payload).is_err() {
            break;
        }
    }
    drop(log);
    let mut img = flash.as_bytes().to_vec();
    img[..4096].fill(0xFF);
    flash.load(&img).expect("size");
    let lost = Some(Error::Corrupted {
        offset: 0,
        what: Corruption::FirstPageHeader,
    });
    assert_eq!(FlashLog::<_, 2, 64>::mount(&mut flash).err(), lost);
    assert_eq!(
        FlashLog::<_, 2, 64>::mount_or_format(&mut flash).err(),
        lost
    );
}

/// A flash with a geometry the format refuses (1 KiB pages).
struct TinyPages([u8; 4096]);

impl ErrorType for TinyPages {
    type Error = NorFlashErrorKind;
}

impl ReadNorFlash for TinyPages {
    const READ_SIZE: usize = 1;
    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let o = offset as usize;
        bytes.copy_from_slice(&self.0[o..o + bytes.len()]);
        Ok(())
    }
    fn capacity(&self) -> usize {
        self.0.len()
    }
}

impl NorFlash for TinyPages {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 1024;
    fn erase(&mut self, _: u32, _: u32) -> Result<(), Self::Error> {
        Err(NorFlashErrorKind::Other)
    }
    fn write(&mut self, _: u32, _: &[u8]) -> Result<(), Self::Error> {
        Err(NorFlashErrorKind::Other)
    }
}

#[test]
fn unsupported_geometry_is_refused() {
    let mut f = TinyPages([0xFF; 4096]);
    assert_eq!(
        FlashLog::<_, 1, 1>::mount(&mut f).err(),
        Some(Error::UnsupportedGeometry)
    );
    assert_eq!(
        FlashLog::<_, 1, 1>::format(&mut f).err(),
        Some(Error::UnsupportedGeometry)
    );
}

#[test]
fn strict_nor_rules_hold_and_overhead_is_small() {
    // The whole workload in strict mode: any second write to a word would have failed
    // the append. Then the overhead of the format on typical posts.
    let w = workload(12, 3, 1_000, 200);
    let mut flash = run_big(|| Box::new(RamNorFlash::<128>::new()));
    let mut log = FlashLog::<_, 4, 2048>::format(&mut *flash).expect("format");
    for b in &w.blocks {
        log.append(&b.header, &b.payload).expect("append");
    }
    let u = log.usage();
    let per_byte = u.flash_bytes_used as f64 / u.stored_bytes as f64;
    eprintln!(
        "overhead: {} flash bytes for {} bytes of header+payload: {per_byte:.3} per byte; \
         index {} bytes ({} per block)",
        u.flash_bytes_used,
        u.stored_bytes,
        u.index_bytes,
        glitter_core::store::INDEX_BYTES_PER_BLOCK
    );
    assert!(per_byte < 1.12, "{per_byte}");
    drop(log);
    assert_eq!(flash.counters().rewrites, 0);
    assert_eq!(
        flash.write(0, &[0; 4]),
        Err(RamFlashError::Rewrite { offset: 0 })
    );
    let erases: u32 = (0..128).map(|p| flash.page_erases(p).unwrap_or(0)).sum();
    assert_eq!(
        erases, 128,
        "the format erases each page; the session never again"
    );
    // A new session erases the first page it opens (the one before may have been cut
    // writing its header), and only that one.
    let mut log = FlashLog::<_, 4, 2048>::mount(&mut *flash).expect("mount");
    let extra = workload(13, 1, 200, 200);
    for b in &extra.blocks {
        log.append(&b.header, &b.payload).expect("append");
    }
    drop(log);
    let erases: u32 = (0..128).map(|p| flash.page_erases(p).unwrap_or(0)).sum();
    assert_eq!(erases, 129);
}
