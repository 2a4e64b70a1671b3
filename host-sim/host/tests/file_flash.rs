//! `FileFlash` (`glitter_host::flash_file`), one format: an image written through
//! `FileFlash` mounts through `RamNorFlash`, and the other way round, and both recover a
//! torn tail into the same bytes.

mod flash_common;

use glitter_core::BlockLog;
use glitter_core::chain::{ChainState, NoHeaders};
use glitter_core::store::embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use glitter_core::store::{FlashLog, PowerCut, RamNorFlash};
use glitter_core::wire::header::{Header, PAYLOAD_LEN_MAX};
use glitter_host::flash_file::{FILE_FLASH_PAGE_SIZE, FileFlash, FileFlashError};

const PAGES: usize = 32;
const SIZE: usize = PAGES * FILE_FLASH_PAGE_SIZE;
type Ram = RamNorFlash<PAGES>;

/// `n` signed blocks over two authors, chains interleaved.
fn blocks(n: usize, salt: u8) -> Vec<(Header, Vec<u8>)> {
    flash_common::blocks(&[[1 ^ salt; 32], [2 ^ salt; 32]], n, |i| {
        (i % 3 % 2, "x".repeat(i * 7 % 300))
    })
}

/// Every block reads back, in order, from any log.
fn assert_holds<L: BlockLog>(log: &mut L, blocks: &[(Header, Vec<u8>)])
where
    L::Error: std::fmt::Debug,
{
    let mut seen = std::collections::HashMap::new();
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    for (h, p) in blocks {
        assert_eq!(log.header(&h.author, h.seq).expect("read"), Some(*h));
        let got = log.payload(&h.author, h.seq, &mut buf).expect("read");
        assert_eq!(got, Some(p.as_slice()));
        seen.insert(h.author, h.seq);
    }
    for (a, seq) in seen {
        assert_eq!(log.head(&a).map(|h| h.seq), Some(seq));
    }
    assert_eq!(log.usage().blocks, blocks.len());
}

fn ram_from(bytes: &[u8]) -> Box<Ram> {
    let mut ram = Box::new(Ram::new());
    ram.load(bytes).expect("image size");
    ram
}

#[test]
fn nor_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flash.img");
    assert!(FileFlash::create(&path, 1000).is_err());
    let mut f = FileFlash::create(&path, 2 * FILE_FLASH_PAGE_SIZE).expect("create");
    f.set_sync_writes(false);
    assert!(
        FileFlash::create(&path, FILE_FLASH_PAGE_SIZE).is_err(),
        "exists"
    );
    assert_eq!(f.write(2, &[0; 4]), Err(FileFlashError::NotAligned));
    assert_eq!(f.write(8192, &[0; 4]), Err(FileFlashError::OutOfBounds));
    assert_eq!(f.erase(0, 10), Err(FileFlashError::NotAligned));
    f.write(4, &[1, 2, 3, 4]).expect("write");
    assert_eq!(
        f.write(0, &[0; 8]),
        Err(FileFlashError::NotErased { offset: 4 })
    );
    let mut b = [0u8; 6];
    f.read(2, &mut b).expect("read");
    assert_eq!(b, [0xFF, 0xFF, 1, 2, 3, 4]);
    f.erase(0, 4096).expect("erase");
    f.read(2, &mut b).expect("read");
    assert_eq!(b, [0xFF; 6]);
    f.sync().expect("sync");
    drop(f);
    assert!(FileFlash::open(&path, 4096).is_err(), "wrong size");
    let f = FileFlash::open_existing(&path).expect("open");
    assert_eq!(f.capacity(), 8192);
}

#[test]
fn file_image_mounts_in_ram_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flash.img");
    let all = blocks(120, 0);
    let (first, second) = all.split_at(80);

    // Written through the file...
    let mut file = FileFlash::create(&path, SIZE).expect("create");
    file.set_sync_writes(false);
    let mut log = FlashLog::<_, 4, 256>::format(&mut file).expect("format");
    for (h, p) in first {
        log.append(h, p).expect("append");
    }
    drop(log);
    file.sync().expect("sync");
    drop(file);

    // ...mounts in RAM, and keeps growing there...
    let mut ram = ram_from(&std::fs::read(&path).expect("read image"));
    let mut log = FlashLog::<_, 4, 256>::mount(&mut *ram).expect("mount in RAM");
    assert_holds(&mut log, first);
    for (h, p) in second {
        log.append(h, p).expect("append in RAM");
    }
    drop(log);

    // ...and the RAM image mounts from a file again.
    let path2 = dir.path().join("from-ram.img");
    std::fs::write(&path2, ram.as_bytes()).expect("write image");
    let mut file = FileFlash::open(&path2, SIZE).expect("open");
    let mut log = FlashLog::<_, 4, 256>::mount(&mut file).expect("mount from file");
    assert_holds(&mut log, &all);
}

#[test]
fn torn_tail_recovers_to_the_same_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let all = blocks(30, 9);
    // A RAM log whose last append is cut in the middle of its payload.
    let mut ram = Box::new(Ram::new());
    let mut log = FlashLog::<_, 4, 64>::format(&mut *ram).expect("format");
    for (h, p) in &all[..29] {
        log.append(h, p).expect("append");
    }
    drop(log);
    // Op 0 of an append writes the record (224-byte head, payload, padding): cut it
    // half-way through the payload.
    ram.schedule_power_cut(PowerCut {
        after_ops: 0,
        after_bytes: (224 + all[29].1.len() / 2) as _,
        torn_mask: 0x3C,
    });
    let mut log = FlashLog::<_, 4, 64>::mount(&mut *ram).expect("mount");
    let (h, p) = &all[29];
    assert!(log.append(h, p).is_err());
    drop(log);
    ram.power_on();
    let torn = ram.as_bytes().to_vec();

    // Recover it once in RAM and once from a file: same report, same bytes.
    let mut in_ram = ram_from(&torn);
    let log = FlashLog::<_, 4, 64>::mount(&mut *in_ram).expect("ram mount");
    let ram_report = log.mount_report();
    drop(log);
    let path = dir.path().join("torn.img");
    std::fs::write(&path, &torn).expect("write");
    let mut file = FileFlash::open(&path, SIZE).expect("open");
    let mut log = FlashLog::<_, 4, 64>::mount(&mut file).expect("file mount");
    assert_eq!(log.mount_report(), ram_report);
    assert!(ram_report.torn_tail.is_some_and(|t| t.repaired));
    assert_holds(&mut log, &all[..29]);
    log.append(h, p).expect("append after repair");
    drop(log);
    drop(file);
    let mut log = FlashLog::<_, 4, 64>::mount(&mut *in_ram).expect("ram mount");
    log.append(h, p).expect("append after repair");
    drop(log);
    assert_eq!(std::fs::read(&path).expect("read"), in_ram.as_bytes());
    let mut genesis_only = ChainState::new(all[0].0.author).expect("key");
    assert!(
        genesis_only
            .verify_next(&all[0].0.to_bytes(), Some(&all[0].1), &mut NoHeaders)
            .is_ok()
    );
}
