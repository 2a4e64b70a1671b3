//! Core backup, end to end without a host: thresholds (exhaustive for n ≤ 7),
//! tampering (10,000+ random trials, culprit named, no wrong secret ever), versions
//! and revocation.

use glitter_core::backup::manifest::BackupManifest;
use glitter_core::backup::restore::{self, RejectReason, ShareCollector};
use glitter_core::backup::seal::{self, RequesterKey, SealedShare, ShareBinding};
use glitter_core::backup::shamir::{self, Share};
use glitter_core::backup::shard::{self, ExportBlocks, ShardHeader, ShardRecord};
use glitter_core::backup::{ShardRange, erasure, share_seed, verify_received};
use glitter_core::chain::ChainState;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::wire::header::{HEADER_LEN, Header};

/// SplitMix64: a tiny deterministic generator for the random trials.
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
        self.next() % n
    }
}

fn key(i: u8) -> KeyPair {
    KeyPair::from_seed([i; 32]).unwrap()
}

fn chain(keys: &KeyPair, posts: usize) -> Vec<(Header, Vec<u8>)> {
    let mut st = ChainState::new(keys.public()).unwrap();
    let mut out: Vec<(Header, Vec<u8>)> = Vec::new();
    for i in 0..posts {
        let p = Payload::post(&format!("post {i}"), None).unwrap();
        let mut buf = [0u8; 1024];
        let bytes = p.encode(&mut buf).unwrap().to_vec();
        let mut hs: Vec<Header> = out.iter().map(|(h, _)| *h).collect();
        let h = st
            .append(keys, p.kind(), i as u64, &bytes, hs.as_mut_slice())
            .unwrap();
        out.push((h, bytes));
    }
    out
}

/// One backup made with core only: manifest, sealed shares, opened share values, and
/// one shard record per custodian for the whole chain.
struct Made {
    manifest: BackupManifest,
    sealed: Vec<SealedShare>,
    values: Vec<[u8; 32]>,
    records: Vec<Vec<u8>>,
    export: Vec<u8>,
}

fn make(
    owner: &KeyPair,
    blocks: &[(Header, Vec<u8>)],
    custodians: &[KeyPair],
    k: u8,
    version: u64,
    entropy: [u8; 32],
) -> Made {
    let pubs: Vec<PublicKey> = custodians.iter().map(|c| c.public()).collect();
    let seed = owner.seed();
    let s = share_seed(&seed, version, k, &pubs, &entropy).unwrap();
    let n = custodians.len() as u8;
    let mut export = Vec::new();
    for (h, p) in blocks {
        export.extend_from_slice(&h.to_bytes());
        export.extend_from_slice(p);
    }
    let plain_len = export.len();
    let mut buf = export.clone();
    buf.resize(plain_len + 16, 0);
    let last = blocks.len() as u64;
    let o = owner.public();
    let ct = shard::seal_range(&seed, &o, version, 1, last, &mut buf, plain_len).unwrap();
    let mut scratch = vec![0u8; erasure::shard_len(ct, k)];
    let table = shard::shard_table(&buf, &o, version, 1, last, k, n, &mut scratch).unwrap();
    let table = &table[..usize::from(n)];
    let mut m = BackupManifest {
        version,
        threshold: k,
        salt: s.salt,
        custodians: s.hints.clone(),
        commitments: s.commitments.clone(),
        ranges: Default::default(),
    };
    m.ranges
        .push(ShardRange {
            first_seq: 1,
            last_seq: last,
            version,
            ciphertext_len: ct as u32,
            root: shard::table_root(table.as_flattened()),
        })
        .unwrap();
    m.validate().unwrap();
    let mut records = Vec::new();
    let mut values = Vec::new();
    for (i, c) in custodians.iter().enumerate() {
        let h = ShardHeader {
            owner: o,
            custodian: c.public(),
            version,
            first_seq: 1,
            last_seq: last,
            index: i as u8,
            threshold: k,
            count: n,
            ciphertext_len: ct as u32,
        };
        erasure::encode_shard(&buf, k, n, i as u8, &mut scratch).unwrap();
        let mut rec = vec![0u8; h.record_len()];
        shard::write_record(&h, table, &scratch, &mut rec).unwrap();
        // The custodian checks what it receives.
        let v = verify_received(&c.seed(), &m, &s.sealed[i]).unwrap();
        restore::check_shard(&o, &m, c.public(), &ShardRecord::parse(&rec).unwrap()).unwrap();
        values.push(v);
        records.push(rec);
    }
    Made {
        manifest: m,
        sealed: s.sealed.to_vec(),
        values,
        records,
        export,
    }
}

/// Restores from the custodians at `chosen`: seed and chain (fully re-verified).
fn restore_subset(
    owner: &PublicKey,
    made: &Made,
    chosen: &[usize],
    custodians: &[KeyPair],
) -> Result<(KeyPair, usize), String> {
    let mut c = ShareCollector::new(*owner, &made.manifest).unwrap();
    for &i in chosen {
        c.add(
            custodians[i].public(),
            &made.sealed[i].binding,
            &made.values[i],
        )
        .map_err(|e| e.to_string())?;
    }
    let keys = c.recover().map_err(|e| e.to_string())?;
    let range = made.manifest.ranges[0];
    let recs: Vec<ShardRecord> = chosen
        .iter()
        .map(|&i| ShardRecord::parse(&made.records[i]).unwrap())
        .collect();
    let shards: Vec<(u8, &[u8])> = recs.iter().map(|r| (r.header.index, r.shard)).collect();
    let mut out = vec![0u8; range.ciphertext_len as usize];
    let len = restore::decode_range(
        &keys.seed(),
        owner,
        &made.manifest,
        &range,
        &shards,
        &mut out,
    )
    .map_err(|e| e.to_string())?;
    assert_eq!(&out[..len], &made.export[..]);
    let mut st = ChainState::new(*owner).unwrap();
    let mut hs: Vec<Header> = Vec::new();
    for b in ExportBlocks::new(&out[..len]) {
        let (h, p) = b.unwrap();
        assert_eq!(h.len(), HEADER_LEN);
        hs.push(
            st.verify_next(h, Some(p), hs.clone().as_mut_slice())
                .unwrap(),
        );
    }
    Ok((keys, hs.len()))
}

#[test]
fn every_k_subset_restores_and_every_smaller_one_fails_n_up_to_7() {
    let owner = key(1);
    let blocks = chain(&owner, 6);
    let all: Vec<KeyPair> = (0..7).map(|i| key(10 + i)).collect();
    let mut restored = 0;
    let mut refused = 0;
    for n in 2..=7usize {
        for k in 2..=n as u8 {
            let made = make(&owner, &blocks, &all[..n], k, 1, [n as u8 ^ k; 32]);
            for mask in 0u32..(1 << n) {
                let chosen: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
                if chosen.len() == k as usize {
                    let (keys, len) =
                        restore_subset(&owner.public(), &made, &chosen, &all).unwrap();
                    assert_eq!(keys.public(), owner.public());
                    assert_eq!(len, blocks.len());
                    restored += 1;
                } else if chosen.len() + 1 == k as usize {
                    let r = restore_subset(&owner.public(), &made, &chosen, &all);
                    assert!(r.unwrap_err().contains("valid shares"), "k={k} n={n}");
                    // And below the API: k − 1 points interpolate to a wrong seed, and
                    // k − 1 shards do not decode.
                    if chosen.len() >= 2 {
                        let shares: Vec<Share> = chosen
                            .iter()
                            .map(|&i| Share {
                                index: i as u8 + 1,
                                value: made.values[i],
                            })
                            .collect();
                        assert_ne!(shamir::combine(&shares).unwrap(), owner.seed());
                    }
                    let recs: Vec<ShardRecord> = chosen
                        .iter()
                        .map(|&i| ShardRecord::parse(&made.records[i]).unwrap())
                        .collect();
                    let shards: Vec<(u8, &[u8])> =
                        recs.iter().map(|r| (r.header.index, r.shard)).collect();
                    let range = made.manifest.ranges[0];
                    let mut out = vec![0u8; range.ciphertext_len as usize];
                    assert!(
                        restore::decode_range(
                            &owner.seed(),
                            &owner.public(),
                            &made.manifest,
                            &range,
                            &shards,
                            &mut out
                        )
                        .is_err()
                    );
                    refused += 1;
                }
            }
        }
    }
    eprintln!("{restored} k-subsets restored, {refused} (k-1)-subsets refused");
    assert!(restored > 200 && refused > 200);
}

#[derive(Clone, Copy, Debug)]
enum Tamper {
    SealedBitFlip,
    ValueBitFlip,
    ShardBitFlip,
    OldVersion,
    IndexZero,
    DuplicateIndex,
    OtherOwner,
}

#[test]
fn tampering_is_always_caught_and_named_over_10000_trials() {
    let owner = key(1);
    let other = key(2);
    let blocks = chain(&owner, 4);
    let other_blocks = chain(&other, 2);
    let cust: Vec<KeyPair> = (0..7).map(|i| key(20 + i)).collect();
    // Several configurations; v1 and v2 of the owner's, and another owner's backup
    // held by the same custodians.
    let configs: Vec<(u8, usize)> = vec![(2, 3), (3, 5), (4, 7), (2, 2), (7, 7)];
    let made: Vec<(Made, Made, Made)> = configs
        .iter()
        .map(|&(k, n)| {
            (
                make(&owner, &blocks, &cust[..n], k, 1, [1; 32]),
                make(&owner, &blocks, &cust[..n], k, 2, [2; 32]),
                make(&other, &other_blocks, &cust[..n], k, 2, [3; 32]),
            )
        })
        .collect();
    let kinds = [
        Tamper::SealedBitFlip,
        Tamper::ValueBitFlip,
        Tamper::ShardBitFlip,
        Tamper::OldVersion,
        Tamper::IndexZero,
        Tamper::DuplicateIndex,
        Tamper::OtherOwner,
    ];
    let mut rng = Rng(2026);
    let device = RequesterKey::new([9; 32]).unwrap();
    let mut counts = [0usize; 7];
    let trials = 10_500;
    for t in 0..trials {
        let c = rng.below(configs.len() as u64) as usize;
        let (k, n) = configs[c];
        let (old, cur, foreign) = &made[c];
        let kind = kinds[t % kinds.len()];
        counts[t % kinds.len()] += 1;
        let culprit = rng.below(n as u64) as usize;
        let o = owner.public();
        let from = cust[culprit].public();
        let mut col = ShareCollector::new(o, &cur.manifest).unwrap();
        // For a duplicate, the culprit's honest share goes in first.
        if matches!(kind, Tamper::DuplicateIndex) {
            col.add(from, &cur.sealed[culprit].binding, &cur.values[culprit])
                .unwrap();
        }
        let verdict = match kind {
            Tamper::SealedBitFlip => {
                let r = seal::release_share(
                    &cust[culprit].seed(),
                    &cur.sealed[culprit],
                    &device.public(),
                )
                .unwrap();
                let mut b = r.to_bytes();
                let bit = rng.below(b.len() as u64 * 8) as usize;
                b[bit / 8] ^= 1 << (bit % 8);
                match seal::SealedRelease::parse(&b) {
                    Err(_) => Err(from), // malformed: refused, and it came from `from`
                    Ok(r) => match seal::open_release(&device, &r) {
                        Err(_) => Err(from),
                        Ok(v) => col.add(from, &r.binding, &v).map_err(|e| e.custodian),
                    },
                }
            }
            Tamper::ValueBitFlip => {
                let mut v = cur.values[culprit];
                let bit = rng.below(256) as usize;
                v[bit / 8] ^= 1 << (bit % 8);
                col.add(from, &cur.sealed[culprit].binding, &v)
                    .map_err(|e| {
                        assert_eq!(e.reason, RejectReason::CommitmentMismatch);
                        e.custodian
                    })
            }
            Tamper::ShardBitFlip => {
                let mut rec = cur.records[culprit].clone();
                let bit = rng.below(rec.len() as u64 * 8) as usize;
                rec[bit / 8] ^= 1 << (bit % 8);
                match ShardRecord::parse(&rec) {
                    Err(_) => Err(from),
                    Ok(r) => restore::check_shard(&o, &cur.manifest, from, &r)
                        .map(|_| ())
                        .map_err(|e| e.custodian),
                }
            }
            Tamper::OldVersion => col
                .add(from, &old.sealed[culprit].binding, &old.values[culprit])
                .map_err(|e| {
                    assert_eq!(
                        e.reason,
                        RejectReason::StaleVersion {
                            got: 1,
                            expected: 2
                        }
                    );
                    e.custodian
                }),
            Tamper::IndexZero => {
                let mut b: ShareBinding = cur.sealed[culprit].binding;
                b.index = 0;
                col.add(from, &b, &cur.values[culprit]).map_err(|e| {
                    assert_eq!(e.reason, RejectReason::IndexZero);
                    e.custodian
                })
            }
            Tamper::DuplicateIndex => col
                .add(from, &cur.sealed[culprit].binding, &cur.values[culprit])
                .map_err(|e| {
                    assert!(matches!(e.reason, RejectReason::DuplicateIndex(_)));
                    e.custodian
                }),
            Tamper::OtherOwner => col
                .add(
                    from,
                    &foreign.sealed[culprit].binding,
                    &foreign.values[culprit],
                )
                .map_err(|e| {
                    assert_eq!(e.reason, RejectReason::WrongOwner);
                    e.custodian
                }),
        };
        assert_eq!(
            verdict,
            Err(from),
            "trial {t}: {kind:?} not caught or culprit not named"
        );
        // The honest custodians still restore exactly the right seed.
        for i in (0..n).filter(|i| *i != culprit) {
            let _ = col.add(cust[i].public(), &cur.sealed[i].binding, &cur.values[i]);
        }
        let enough = n > usize::from(k) || matches!(kind, Tamper::DuplicateIndex);
        match col.recover() {
            Ok(kp) => {
                assert!(enough);
                assert_eq!(kp.public(), o, "trial {t}: wrong secret accepted");
            }
            Err(e) => assert!(!enough, "trial {t}: {e}"),
        }
    }
    eprintln!("tamper trials per kind: {counts:?}");
    assert!(counts.iter().all(|c| *c >= 1_500));
}

#[test]
fn removed_custodians_old_share_is_useless_with_new_shares() {
    let owner = key(1);
    let blocks = chain(&owner, 3);
    let c: Vec<KeyPair> = (0..5).map(|i| key(40 + i)).collect();
    // v1: custodians 0..4 (3 of 4). v2 after removing custodian 3: 0,1,2,4 (3 of 4).
    let v1 = make(&owner, &blocks, &c[..4], 3, 1, [5; 32]);
    let set2 = [c[0].clone(), c[1].clone(), c[2].clone(), c[4].clone()];
    let v2 = make(&owner, &blocks, &set2, 3, 2, [6; 32]);
    let o = owner.public();
    let mut col = ShareCollector::new(o, &v2.manifest).unwrap();
    // The removed custodian offers its v1 share: refused, named, clear reason.
    let e = col
        .add(c[3].public(), &v1.sealed[3].binding, &v1.values[3])
        .unwrap_err();
    assert_eq!(e.custodian, c[3].public());
    assert!(e.to_string().contains("cannot be mixed"), "{e}");
    // Even combined by force with two new shares, it yields garbage, not the seed.
    let mixed = [
        Share {
            index: 4,
            value: v1.values[3],
        },
        Share {
            index: 1,
            value: v2.values[0],
        },
        Share {
            index: 2,
            value: v2.values[1],
        },
    ];
    assert_ne!(shamir::combine(&mixed).unwrap(), owner.seed());
    // The removed custodian's v1 share and shard now hold for a manifest that lists
    // someone else: refused.
    let rec = ShardRecord::parse(&v1.records[3]).unwrap();
    assert!(restore::check_shard(&o, &v2.manifest, c[3].public(), &rec).is_err());
    // The new set restores.
    for (i, key) in set2.iter().enumerate().take(3) {
        col.add(key.public(), &v2.sealed[i].binding, &v2.values[i])
            .unwrap();
    }
    assert_eq!(col.recover().unwrap().public(), o);
}

#[test]
fn a_custodian_refuses_a_share_that_does_not_match_the_manifest() {
    let owner = key(1);
    let blocks = chain(&owner, 2);
    let c: Vec<KeyPair> = (0..3).map(|i| key(60 + i)).collect();
    let m = make(&owner, &blocks, &c, 2, 1, [7; 32]);
    // Custodian 1 is handed custodian 0's share: it cannot even open it.
    assert!(verify_received(&c[1].seed(), &m.manifest, &m.sealed[0]).is_err());
    // A manifest from another backup: the commitment does not match.
    let other = make(&owner, &blocks, &c, 2, 1, [8; 32]);
    let e = verify_received(&c[0].seed(), &other.manifest, &m.sealed[0]).unwrap_err();
    assert!(matches!(
        e.reason,
        RejectReason::ParametersMismatch | RejectReason::CommitmentMismatch
    ));
}
