//! Regressions found by the fuzz targets (`fuzz/`, docs/FUZZING.md), one test each,
//! with the case the fuzzer found written out. Each names its target and the input
//! that crashed it (the bytes the target reads, in hex).

use glitter_core::chain::{ChainError, NoHeaders};
use glitter_core::hash::Hash;
use glitter_core::store::{Error, FlashLog, LinkError, PowerCut, RamNorFlash};
use glitter_core::wire::header::{BlockKind, Header, VERSION};
use glitter_tests::{TestChain, resign};

mod sync_common;

/// `chain_verify`, input `05 00 00 05 01 00 05 01 00 05 01 01 04 04`: a validator
/// holding 8 blocks was handed block 5 again without a header source, and called the
/// replay a fork (`Forked { seq: 5 }`) without any stored block to compare with.
#[test]
fn a_replay_without_its_stored_block_is_not_called_a_fork() {
    let c = TestChain::build(61, 8);
    let mut state = c.state_after(8);
    let before = state;
    let replay = c.headers[4].to_bytes();
    assert_eq!(
        state.verify_next(&replay, Some(&c.payloads[4]), &mut NoHeaders),
        Err(ChainError::StoredUnavailable { seq: 5 })
    );
    // With the stored block at hand: the replay is a replay, another block a fork.
    let mut held = c.headers.clone();
    assert_eq!(
        state.verify_next(&replay, None, held.as_mut_slice()),
        Err(ChainError::SeqReplay { seq: 5 })
    );
    let mut other = c.headers[4];
    other.timestamp_ms += 1;
    let other = resign(other, &c.keys).to_bytes();
    assert_eq!(
        state.verify_next(&other, None, held.as_mut_slice()),
        Err(ChainError::Forked { seq: 5 })
    );
    assert_eq!(
        state.verify_next(&other, None, &mut NoHeaders),
        Err(ChainError::StoredUnavailable { seq: 5 })
    );
    // A forged signature is still invalid, source or not.
    let mut forged = other;
    forged[200] ^= 1;
    assert!(matches!(
        state.verify_next(&forged, None, &mut NoHeaders),
        Err(ChainError::BadSignature(_))
    ));
    assert_eq!(state, before);
}

/// An unsigned block that links onto `last` (the store checks links, not signatures).
fn next_block(author: [u8; 32], last: Option<&Header>, len: usize) -> (Header, Vec<u8>) {
    let payload = vec![0x5A; len];
    let h = Header {
        version: VERSION,
        kind: BlockKind::Post,
        author: glitter_core::sig::PublicKey(author),
        seq: last.map_or(1, |l| l.seq + 1),
        timestamp_ms: last.map_or(1_000, |l| l.timestamp_ms + 1),
        prev: last.map_or(Hash::ZERO, Header::id),
        skip: Hash::ZERO,
        payload_len: len as u16,
        payload_hash: Hash::of(&payload),
        signature: [0; 64],
    };
    (h, payload)
}

type Log = FlashLog<RamNorFlash<4>, 3, 48>;

/// `flash_log`, input `02 f8 e1 01 0b 00 00 1e 00 00 81 fd 24 24 24 4c 4f 4c 00 00 07
/// 09 00 01`: the power failed right after an append's commit word was written, so
/// `append` returned a flash error though the block had landed. The log then appended
/// on a fresh page whose header said the previous page's records end before that
/// block, and the image no longer mounted (`Corrupted(PageBoundary)`): every committed
/// block was lost. Now the next append reads the abandoned record back first.
#[test]
fn an_append_that_failed_after_its_commit_word_landed_is_kept() {
    let (a, b) = ([51u8; 32], [52u8; 32]);
    let mut log = Log::format(RamNorFlash::new()).unwrap();
    let mut heads: [Option<Header>; 2] = [None, None];
    for i in 0..4 {
        let (author, head) = if i % 2 == 0 {
            (a, &mut heads[0])
        } else {
            (b, &mut heads[1])
        };
        let (h, p) = next_block(author, head.as_ref(), 300);
        log.append(&h, &p).unwrap();
        *head = Some(h);
    }
    // The record lands whole (one write), then its 4-byte commit word completes and the
    // power goes right after: `append` reports the cut.
    log.flash_mut_for_fault_injection()
        .schedule_power_cut(PowerCut {
            after_ops: 1,
            after_bytes: 11,
            torn_mask: 0,
        });
    let (landed, p) = next_block(b, heads[1].as_ref(), 0);
    assert!(matches!(log.append(&landed, &p), Err(Error::Flash(_))));
    log.flash_mut_for_fault_injection().power_on();
    // The session goes on without a remount.
    let (h, p) = next_block(a, heads[0].as_ref(), 0);
    log.append(&h, &p).unwrap();
    assert_eq!(log.head(&landed.author).map(|h| h.seq), Some(landed.seq));
    assert!(matches!(
        log.append(&landed, &p),
        Err(Error::Unlinked(LinkError::Seq { .. }))
    ));
    let (after, p) = next_block(b, Some(&landed), 20);
    log.append(&after, &p).unwrap();
    let flash = log.into_flash();
    let mut log = Log::mount(flash).expect("the log mounts after the failed append");
    assert_eq!(log.head(&after.author).map(|h| h.id), Some(after.id()));
    assert_eq!(
        log.header(&landed.author, landed.seq).unwrap(),
        Some(landed)
    );
    assert_eq!(log.usage().blocks, 7);
}

/// The same cut, when the record did not land: the block is not stored, and the log
/// goes on (and mounts) without it.
#[test]
fn an_append_cut_before_its_commit_word_stays_abandoned() {
    let a = [51u8; 32];
    let mut log = Log::format(RamNorFlash::new()).unwrap();
    let (first, p) = next_block(a, None, 10);
    log.append(&first, &p).unwrap();
    log.flash_mut_for_fault_injection()
        .schedule_power_cut(PowerCut {
            after_ops: 1,
            after_bytes: 2,
            torn_mask: 0xF0,
        });
    let (lost, p) = next_block(a, Some(&first), 0);
    assert!(matches!(log.append(&lost, &p), Err(Error::Flash(_))));
    log.flash_mut_for_fault_injection().power_on();
    log.append(&lost, &p).unwrap();
    let mut log = Log::mount(log.into_flash()).unwrap();
    assert_eq!(log.header(&lost.author, 2).unwrap(), Some(lost));
    assert_eq!(log.usage().blocks, 2);
}

/// `flash_log`, input `02 f8 e1 02 f8 e1 01 00 12 85 85 85 85 85 85 85 85 85 01 07 09
/// 06 ef ff 04 60 fd ff ff 01 04 07 09 00 00 01 04 07 00 00 ff ff 01 04 07 09`: the
/// power failed right after the next page's header was committed, so the append that
/// opened it failed. The next, smaller block still fitted the old page and went there,
/// past the end the new page's header names, and the image no longer mounted
/// (`Corrupted(PageBoundary)`). Now a failed page opening sends the next record to
/// that page again.
#[test]
fn a_failed_page_opening_sends_the_next_record_to_the_new_page() {
    let a = [51u8; 32];
    let mut log = Log::format(RamNorFlash::new()).unwrap();
    let mut head: Option<Header> = None;
    // Seven 528-byte records fill page 0 up to byte 3720: a 1024-byte payload no
    // longer fits, an empty one does.
    for _ in 0..7 {
        let (h, p) = next_block(a, head.as_ref(), 300);
        log.append(&h, &p).unwrap();
        head = Some(h);
    }
    // Opening page 1 writes its header, then its commit word: the second write
    // completes and the power goes.
    log.flash_mut_for_fault_injection()
        .schedule_power_cut(PowerCut {
            after_ops: 1,
            after_bytes: 11,
            torn_mask: 0,
        });
    let (big, p) = next_block(a, head.as_ref(), 1024);
    assert!(matches!(log.append(&big, &p), Err(Error::Flash(_))));
    log.flash_mut_for_fault_injection().power_on();
    let (small, p) = next_block(a, head.as_ref(), 0);
    log.append(&small, &p).unwrap();
    let log = Log::mount(log.into_flash()).expect("the log mounts after the failed opening");
    assert_eq!(log.head(&small.author).map(|h| h.id), Some(small.id()));
    assert_eq!(log.usage().blocks, 8);
    assert_eq!(log.mount_report().pages_in_use, 2);
}

/// `flash_log`, input `01 00 f9 c4 c4 c4 c4 c4 c4 c4 bd c4 c4 c4 bd bd c0 bd c0 bd bd c4
/// c4 c4 c4 c4 bd 00 00 00 bd c4 c4 c4 c4 c4 bd 00 00 00 00 00 2e 1d 4d f9 c4 bd 09 2e
/// bd c4 c4 c4 c4 c4 c4 09 07 01 00 00 04 09 07 71`: the power failed at the very first
/// byte of a record, before any bit changed. The word reads erased, so the mount took
/// the log as ending cleanly, and the next append programmed that word a second time
/// (`Flash(Rewrite)` on the strict simulated NOR). Mount cannot see such a word; after
/// a reboot from a cut, `start_on_fresh_page` sends the next record to a fresh page.
#[test]
fn after_a_cut_that_changed_no_bit_the_next_record_starts_a_fresh_page() {
    let a = [51u8; 32];
    let mut log = Log::format(RamNorFlash::new()).unwrap();
    let (first, p) = next_block(a, None, 10);
    log.append(&first, &p).unwrap();
    log.flash_mut_for_fault_injection()
        .schedule_power_cut(PowerCut {
            after_ops: 0,
            after_bytes: 0,
            torn_mask: 0xFF,
        });
    let (second, p) = next_block(a, Some(&first), 10);
    assert!(matches!(log.append(&second, &p), Err(Error::Flash(_))));
    let mut flash = log.into_flash();
    flash.power_on();
    // The cut is invisible: the image mounts as a clean log.
    let mut log = Log::mount(flash.clone()).unwrap();
    assert_eq!(log.mount_report().torn_tail, None);
    assert!(matches!(
        log.append(&second, &p),
        Err(Error::Flash(
            glitter_core::store::RamFlashError::Rewrite { .. }
        ))
    ));
    // The reboot knows the session was cut.
    let mut log = Log::mount(flash).unwrap();
    log.start_on_fresh_page();
    log.append(&second, &p).unwrap();
    let mut log = Log::mount(log.into_flash()).unwrap();
    assert_eq!(log.header(&second.author, 2).unwrap(), Some(second));
    assert_eq!(log.mount_report().pages_in_use, 2);
}

/// `sync_node` (input in `fuzz/corpus/sync_node/`, named by its SHA-256; 133 bytes from
/// `0200010000010001…`): block 3 of a chain was parked while the head was 1; the node
/// then appended block 2 itself (an own append does not apply parked blocks); block 4
/// arrived with the parking table full of blocks no farther ahead, so it was dropped as
/// out of order, and only then did block 3 come out of the table. The genuine next
/// block was not stored although there was room. Parked blocks that became ready now go
/// first, so block 4 finds block 3 stored.
#[test]
fn parked_blocks_made_ready_by_an_own_append_are_applied_before_the_next_block() {
    use glitter_core::sync::{Config, Message, Node, SyncStore};
    use sync_common::{Counting, Sent, Store};
    let a = TestChain::build(0x31, 4);
    let b = TestChain::build(0x32, 2);
    let msg = |c: &TestChain, i: usize| {
        let mut buf = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
        Message::block(&c.headers[i].to_bytes(), Some(&c.payloads[i]))
            .emit(&mut buf)
            .expect("emit")
            .to_vec()
    };
    // Two parked blocks at most.
    let mut n = Node::<Store, Counting, 8, 4, 4, 2, 2>::new(
        glitter_core::sig::KeyPair::from_seed([0x30; 32])
            .expect("keys")
            .public(),
        Store::default(),
        Counting::default(),
        Config::default(),
    );
    n.follow(a.keys.public());
    n.follow(b.keys.public());
    n.add_peer(7);
    let mut out = Sent::default();
    n.handle(1, 7, &msg(&a, 0), &mut out).expect("a1");
    n.handle(1, 7, &msg(&a, 2), &mut out).expect("a3, parked");
    n.handle(1, 7, &msg(&b, 1), &mut out).expect("b2, parked");
    assert_eq!(n.stats().parked, 2);
    // Block 2 is stored without going through `handle` (as an own append is).
    n.store()
        .append(&a.headers[1], Some(&a.payloads[1]))
        .expect("a2");
    n.handle(2, 7, &msg(&a, 3), &mut out).expect("a4");
    let head = n.store().head(&a.keys.public()).map(|h| h.seq);
    assert_eq!(head, Some(4), "blocks 3 and 4 stored");
}
