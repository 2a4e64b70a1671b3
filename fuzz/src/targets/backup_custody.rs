//! Target 7, `backup_custody`: `/glitter/backup/1` frames and `Custody::receive`.
//!
//! Mode 0 reads the input as a frame through the node's and the device's codec;
//! mode 1 decodes it as a frame body; mode 2 builds a package from the genuine ones
//! with arbitrary edits and hands it to a custodian (with or without what it held).
//!
//! Invariants: nothing panics; a large frame is read only from an admitted owner
//! within the package limit (a stranger's is drained, not decoded), and only a device
//! reads a large release; bounded lists stay bounded; what decodes encodes back to a
//! message that decodes to itself. A custodian keeps a package exactly when the model
//! says: it is the genuine manifest block of a version newer than the one held, the
//! custodian's own genuine share of that version, and, for every range, the first
//! record naming that range (new records first, then the held ones) is the
//! custodian's genuine record. What it keeps is exactly the genuine custody.

use crate::backup_fixture::{Package, backup, parse_record};
use crate::bytes::{Cursor, Writer};
use glitter_core::backup::seal::SealedShare;
use glitter_host::backup::{Custody, parse_block, stored_bytes};
use glitter_net::backup_codec::{BackupCodec, BackupGate, decode_body, encode_frame};
use glitter_net::backup_proto::{
    BACKUP_PROTOCOL, BackupRequest, BackupResponse, REASON_LEN_MAX, RECORDS_MAX, SMALL_FRAME_MAX,
};
use libp2p::PeerId;
use libp2p::request_response::Codec;
use std::sync::Arc;

fn peer() -> PeerId {
    let k = libp2p::identity::Keypair::ed25519_from_bytes([7; 32]).expect("a libp2p key");
    k.public().to_peer_id()
}

fn check_request(r: &BackupRequest, frame_len: usize) {
    if let BackupRequest::Deliver { records, .. } = r {
        assert!(records.len() <= RECORDS_MAX);
    }
    if matches!(
        r,
        BackupRequest::NotAnOwner { .. } | BackupRequest::OverQuota { .. }
    ) {
        return;
    }
    let again = encode_frame(r).expect("a decoded request encodes");
    assert!(again.len() <= frame_len + 4, "re-encoding grew");
    assert_eq!(
        &decode_body::<BackupRequest>(&again[4..]).expect("decodes"),
        r
    );
}

fn check_response(r: &BackupResponse, frame_len: usize) {
    match r {
        BackupResponse::Refused { reason } => assert!(reason.len() <= REASON_LEN_MAX),
        BackupResponse::Release { records, .. } => assert!(records.len() <= RECORDS_MAX),
        _ => {}
    }
    let again = encode_frame(r).expect("a decoded response encodes");
    assert!(again.len() <= frame_len + 4, "re-encoding grew");
    assert_eq!(
        &decode_body::<BackupResponse>(&again[4..]).expect("decodes"),
        r
    );
}

fn frames(c: &mut Cursor<'_>) {
    let flags = c.u8();
    let max = if flags & 4 == 0 {
        0
    } else {
        usize::from(c.u16())
    };
    let data = c.rest();
    let declared = data
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let gate = Arc::new(BackupGate::default());
    let owner = flags & 1 == 1;
    if owner {
        gate.set_owners([peer()]);
    }
    if max > 0 {
        gate.set_package_max(max);
    }
    let base = BackupCodec::node(gate.clone());
    let mut codec = gate.with_peer(peer(), || base.clone());
    if let Ok(r) = futures::executor::block_on(codec.read_request(&BACKUP_PROTOCOL, &mut &data[..]))
    {
        let len = declared.expect("a frame has a length");
        match r {
            BackupRequest::NotAnOwner { len: l } => {
                assert!(!owner && l as usize == len && len > SMALL_FRAME_MAX);
            }
            BackupRequest::OverQuota { len: l } => {
                assert!(owner && l as usize == len && len > gate.package_max());
            }
            _ => assert!(len <= SMALL_FRAME_MAX || (owner && len <= gate.package_max())),
        }
        check_request(&r, len);
    }
    let mut codec = if flags & 2 == 0 {
        BackupCodec::node(gate)
    } else {
        BackupCodec::device()
    };
    if let Ok(r) =
        futures::executor::block_on(codec.read_response(&BACKUP_PROTOCOL, &mut &data[..]))
    {
        let len = declared.expect("a frame has a length");
        let release = matches!(r, BackupResponse::Release { .. });
        assert!(len <= SMALL_FRAME_MAX || (flags & 2 != 0 && release));
        check_response(&r, len);
    }
}

fn bodies(data: &[u8]) {
    if let Ok(r) = decode_body::<BackupRequest>(data) {
        check_request(&r, data.len());
    }
    if let Ok(r) = decode_body::<BackupResponse>(data) {
        check_response(&r, data.len());
    }
}

fn edit(c: &mut Cursor<'_>, b: &mut Vec<u8>) {
    match c.below(5) {
        0 if !b.is_empty() => {
            let at = c.below(b.len().min(256)) * b.len() / b.len().min(256);
            if let Some(x) = b.get_mut(at) {
                *x ^= c.u8() | 1;
            }
        }
        1 => b.truncate(b.len().saturating_sub(1 + c.below(8))),
        2 => b.push(c.u8()),
        _ => {}
    }
}

/// A package built from the genuine ones; returns the custodian, the package and the
/// held custody.
fn package(c: &mut Cursor<'_>) -> (usize, Package, Option<&'static Custody>) {
    let f = backup();
    let me = c.below(3);
    let (v, i) = (c.below(2), c.below(3));
    let mut p = f.packages[v][i].clone();
    let other = &f.packages[c.below(2)][c.below(3)];
    match c.below(6) {
        0 => p.manifest_block = other.manifest_block.clone(),
        1 => p.share = other.share.clone(),
        2 => p.records = other.records.clone(),
        3 => p.records.extend(other.records.iter().cloned()),
        4 => p.records.reverse(),
        _ => {}
    }
    for _ in 0..c.below(3) {
        match c.below(3) {
            0 => edit(c, &mut p.manifest_block),
            1 => edit(c, &mut p.share),
            _ => {
                if !p.records.is_empty() {
                    let r = c.below(p.records.len());
                    edit(c, &mut p.records[r]);
                }
            }
        }
    }
    let old = match c.below(4) {
        0 | 1 => None,
        2 => Some(&f.custody[0][me]),
        _ => Some(&f.custody[c.below(2)][c.below(3)]),
    };
    (me, p, old)
}

/// The model: the version whose custody `me` must end up with, or `None`.
fn model(me: usize, p: &Package, old: Option<&Custody>) -> Option<usize> {
    let f = backup();
    let v = (0..2).find(|v| f.packages[*v][me].manifest_block == p.manifest_block)?;
    if old.is_some_and(|o| o.manifest.version > v as u64) {
        return None;
    }
    if p.share != f.packages[v][me].share {
        return None;
    }
    let held = old.map_or(&[][..], |o| o.records.as_slice());
    let genuine = &f.custody[v][me];
    for (r, want) in genuine.manifest.ranges.iter().zip(&genuine.records) {
        let first = p.records.iter().chain(held).find(|b| {
            parse_record(b).is_some_and(|h| h.range == (r.version, r.first_seq, r.last_seq))
        })?;
        if first != want {
            return None;
        }
    }
    Some(v)
}

fn receive(c: &mut Cursor<'_>) {
    let f = backup();
    let (me, p, old) = package(c);
    let want = model(me, &p, old);
    let got = parse_block(&p.manifest_block).ok().and_then(|block| {
        let share = SealedShare::parse(&p.share).ok()?;
        let owner = block.0.author;
        Some(Custody::receive(
            &f.custodians[me],
            owner,
            block,
            share,
            p.records.clone(),
            old,
        ))
    });
    let kept = got.as_ref().and_then(|r| r.as_ref().ok());
    assert_eq!(
        kept.is_some(),
        want.is_some(),
        "receive {:?}, model {want:?}",
        got.map(|r| r.err())
    );
    if let (Some(c), Some(v)) = (kept, want) {
        let g = &f.custody[v][me];
        assert_eq!(c.manifest, g.manifest);
        assert_eq!(c.share, g.share);
        assert_eq!(c.records, g.records);
        assert_eq!(stored_bytes(c), stored_bytes(g));
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    match c.below(3) {
        0 => frames(&mut c),
        1 => bodies(c.rest()),
        _ => receive(&mut c),
    }
}

/// Seeds: the genuine packages as frames and bodies, the other messages, and a
/// package of each version to each custodian.
pub fn seeds() -> Vec<Vec<u8>> {
    let f = backup();
    let mut msgs: Vec<(bool, Vec<u8>)> = Vec::new();
    let p = &f.packages[1][0];
    let deliver = BackupRequest::Deliver {
        manifest_block: p.manifest_block.clone(),
        share: p.share.clone(),
        records: p.records.clone(),
    };
    let r = &f.responses[1][0];
    let release = BackupResponse::Release {
        manifest_block: glitter_host::backup::block_bytes(&r.manifest_block),
        release: r.release.to_bytes().to_vec(),
        records: r.records.clone(),
    };
    for m in [
        deliver,
        BackupRequest::Hello,
        BackupRequest::Head { author: [3; 32] },
        BackupRequest::Fetch {
            owner: [1; 32],
            device: [2; 32],
        },
    ] {
        msgs.push((true, encode_frame(&m).unwrap_or_default()));
    }
    for m in [
        release,
        BackupResponse::Refused {
            reason: "no".into(),
        },
        BackupResponse::Stored {
            bytes: 300,
            receipt: vec![1; 64],
        },
        BackupResponse::Head {
            seq: 9,
            id: [4; 32],
        },
    ] {
        msgs.push((false, encode_frame(&m).unwrap_or_default()));
    }
    let mut out = Vec::new();
    for (_, m) in &msgs {
        out.push(Writer::new().u8(0).u8(3).bytes(m).finish());
        out.push(Writer::new().u8(1).bytes(&m[4..]).finish());
    }
    for v in 0..2u8 {
        for i in 0..3u8 {
            for old in [0u8, 2] {
                out.push(
                    Writer::new()
                        .u8(2)
                        .u8(i)
                        .u8(v)
                        .u8(i)
                        .u8(0)
                        .u8(0)
                        .u8(5)
                        .u8(0)
                        .u8(old)
                        .finish(),
                );
            }
        }
    }
    out
}
