//! Target 8, `backup_restore`: share and shard decoding, and restoring from arbitrary
//! sets of shares, shards and custodians' answers.
//!
//! Mode 0 decodes the input as every backup record (sealed share, binding, release,
//! shard record, export) and feeds its bytes to Shamir and the erasure decoder; mode 1
//! feeds a share collector shares derived from the genuine ones; mode 2 runs a whole
//! restore over edited custodian answers.
//!
//! Invariants: nothing panics; every record that decodes re-encodes to its bytes, and
//! a shard record decodes exactly when its restated layout
//! ([`crate::backup_fixture::parse_record`]) holds; a collector keeps a share exactly
//! when the model says (the genuine share of a custodian of that manifest, not already
//! held, while fewer than k are); recovery succeeds exactly with k kept shares and
//! then gives the owner's seed, never another; a restore that succeeds gives the
//! owner's keys and a prefix of the owner's genuine chain.

use crate::backup_fixture::{backup, parse_record};
use crate::bytes::{Cursor, Writer};
use glitter_core::backup::erasure;
use glitter_core::backup::restore::ShareCollector;
use glitter_core::backup::seal::{SealedRelease, SealedShare, ShareBinding};
use glitter_core::backup::shamir::{self, Share};
use glitter_core::backup::shard::{ExportBlocks, ShardRecord};
use glitter_core::sig::PublicKey;
use glitter_host::backup::{Response, restore};

fn decoders(data: &[u8]) {
    if let Ok(s) = SealedShare::parse(data) {
        assert_eq!(&s.to_bytes()[..], data);
    }
    if let Ok(b) = ShareBinding::parse(data) {
        assert_eq!(&b.to_bytes()[..], data);
    }
    if let Ok(r) = SealedRelease::parse(data) {
        assert_eq!(&r.to_bytes()[..], data);
    }
    let rec = ShardRecord::parse(data);
    let model = parse_record(data);
    assert_eq!(
        rec.is_ok(),
        model.is_some(),
        "shard record {rec:?}, model {model:?}"
    );
    if let (Ok(r), Some(m)) = (rec, model) {
        assert_eq!(r.header.custodian.0, m.custodian);
        assert_eq!(r.header.index, m.index);
        assert_eq!(r.header.record_len(), data.len());
        let _ = r.leaf(r.header.index);
    }
    let mut at = 0usize;
    for item in ExportBlocks::new(data) {
        match item {
            Ok((h, p)) => {
                assert_eq!(h.len(), 212);
                assert_eq!(p.len(), usize::from(u16::from_le_bytes([h[2], h[3]])));
                at += h.len() + p.len();
            }
            Err(e) => assert_eq!(e.offset, at),
        }
    }
    let shares: Vec<Share> = data
        .chunks_exact(33)
        .take(17)
        .map(|c| Share {
            index: c[0],
            value: c[1..].try_into().unwrap_or_default(),
        })
        .collect();
    let _ = shamir::combine(&shares);
    if let Some((&kn, rest)) = data.split_first() {
        let (k, n) = (kn & 15, kn >> 4);
        let shards: Vec<(u8, &[u8])> = rest
            .chunks(8)
            .take(17)
            .enumerate()
            .map(|(i, s)| (i as u8 ^ s.first().copied().unwrap_or(0), s))
            .collect();
        let mut out = [0u8; 200];
        let _ = erasure::decode(&shards, k, n, rest.len().min(200), &mut out);
    }
}

/// Feeds a collector shares derived from the genuine ones, and checks each verdict
/// and the recovery against the model.
fn collect(c: &mut Cursor<'_>) {
    let f = backup();
    let mv = c.below(2);
    let manifest = &f.versions[mv].prepared.manifest;
    let owner = f.owner.public();
    let mut col = ShareCollector::new(owner, manifest).expect("a genuine manifest");
    let mut kept: Vec<u8> = Vec::new();
    let k = usize::from(manifest.threshold);
    for _ in 0..6 {
        if c.is_empty() {
            break;
        }
        let (v, i) = (c.below(2), c.below(3));
        let mut binding = f.share(v, i).binding;
        let mut value = f.opened[v][i];
        let mut from = f.custodians[i].public();
        match c.below(10) {
            0 => value[c.below(32)] ^= c.u8() | 1,
            1 => binding.index = c.u8(),
            2 => binding.threshold = c.u8(),
            3 => binding.count = c.u8(),
            4 => binding.salt[c.below(16)] ^= 1,
            5 => binding.version = u64::from(c.u8()),
            6 => binding.owner = f.all_keys()[c.below(5)].public(),
            7 => from = f.all_keys()[c.below(5)].public(),
            8 => binding.custodian = f.all_keys()[c.below(5)].public(),
            _ => {}
        }
        let genuine = v == mv
            && binding == f.share(v, i).binding
            && value == f.opened[v][i]
            && from == f.custodians[i].public();
        let got = col.add(from, &binding, &value);
        let expect = genuine && !kept.contains(&binding.index);
        assert_eq!(got.is_ok(), expect, "add: {got:?}, model {expect}");
        if expect && kept.len() < k {
            kept.push(binding.index);
        }
        assert_eq!(col.len(), kept.len());
    }
    let r = col.recover();
    assert_eq!(r.is_ok(), kept.len() >= k, "recover: {r:?}");
    if let Ok(keys) = r {
        assert_eq!(keys.seed(), f.owner.seed(), "a wrong secret was recovered");
    }
}

/// A whole restore over custodians' answers, each genuine or edited.
fn restore_from(c: &mut Cursor<'_>) {
    let f = backup();
    let mut answers: Vec<Response> = Vec::new();
    for _ in 0..c.below(5) {
        let mut r = f.responses[c.below(2)][c.below(3)].clone();
        match c.below(8) {
            0 => r.from = f.all_keys()[c.below(5)].public(),
            1 => r.release.ciphertext[c.below(32)] ^= 1,
            2 => r.release.binding.index = c.u8(),
            3 => r.records.clear(),
            4 => {
                if let Some(rec) = r.records.first_mut() {
                    let at = c.below(rec.len());
                    rec[at] ^= c.u8() | 1;
                }
            }
            5 => {
                let other = &f.responses[c.below(2)][c.below(3)];
                r.records = other.records.clone();
            }
            6 => r.manifest_block = f.responses[0][0].manifest_block.clone(),
            _ => {}
        }
        answers.push(r);
    }
    let owner: PublicKey = if c.below(8) == 0 {
        f.stranger.public()
    } else {
        f.owner.public()
    };
    if let Ok(r) = restore(owner, &f.device, &answers) {
        assert_eq!(owner, f.owner.public());
        assert_eq!(
            r.keys.seed(),
            f.owner.seed(),
            "a wrong secret was recovered"
        );
        assert!(!r.chain.is_empty());
        assert_eq!(
            &f.chain[..r.chain.len()],
            &r.chain[..],
            "restored blocks differ"
        );
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    match c.below(3) {
        0 => decoders(c.rest()),
        1 => collect(&mut c),
        _ => restore_from(&mut c),
    }
}

/// Seeds: genuine records for the decoders, the genuine shares in order, and
/// restores from each pair of custodians.
pub fn seeds() -> Vec<Vec<u8>> {
    let f = backup();
    let mut out = Vec::new();
    let r = &f.responses[1][1];
    for b in [
        f.share(1, 0).to_bytes().to_vec(),
        f.share(1, 0).binding.to_bytes().to_vec(),
        r.release.to_bytes().to_vec(),
        r.records[0].clone(),
        r.records[1].clone(),
    ] {
        out.push(Writer::new().u8(0).bytes(&b).finish());
    }
    for mv in 0..2u8 {
        let mut w = Writer::new();
        w.u8(1).u8(mv);
        for i in 0..3u8 {
            w.u8(mv).u8(i).u8(9);
        }
        out.push(w.finish());
    }
    for (a, b) in [(0u8, 1u8), (1, 2), (0, 2)] {
        out.push(
            Writer::new()
                .u8(2)
                .u8(2)
                .u8(1)
                .u8(a)
                .u8(7)
                .u8(1)
                .u8(b)
                .u8(7)
                .u8(1)
                .finish(),
        );
    }
    out
}
