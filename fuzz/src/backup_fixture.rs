//! The genuine backup the backup targets start from, made by the one owner flow
//! (`glitter_host::backup::start_backup` over a `MemChain`): an owner, three
//! custodians, threshold 2, version 1 over the first blocks and version 2 adding a
//! range; the packages each custodian received, what each holds after checking them,
//! and each one's answer to a restoring device.
//!
//! It also restates the shard record layout (docs/BACKUP.md, `core/src/backup/shard.rs`
//! module table) for the models.

use crate::fixtures::keys;
use glitter_core::backup::seal::{RequesterKey, SealedShare, open_share};
use glitter_core::sig::KeyPair;
use glitter_host::backup::owner::Started;
use glitter_host::backup::{
    Block, Custody, MemChain, OwnChain, Response, block_bytes, start_backup,
};
use std::sync::OnceLock;

/// One custodian's package of one version, as bytes on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// Header ‖ payload of the manifest block.
    pub manifest_block: Vec<u8>,
    /// The sealed share.
    pub share: Vec<u8>,
    /// The shard records of the version's new range.
    pub records: Vec<Vec<u8>>,
}

/// The genuine backup.
pub struct BackupFixture {
    /// The owner.
    pub owner: KeyPair,
    /// The three custodians, in index order.
    pub custodians: Vec<KeyPair>,
    /// A key that is no custodian.
    pub stranger: KeyPair,
    /// The owner's chain after both backups.
    pub chain: Vec<Block>,
    /// What `start_backup` returned, version 1 then 2.
    pub versions: Vec<Started>,
    /// `packages[v][i]`: custodian `i`'s package of version `v + 1`.
    pub packages: Vec<Vec<Package>>,
    /// `custody[v][i]`: what custodian `i` holds after version `v + 1`.
    pub custody: Vec<Vec<Custody>>,
    /// `opened[v][i]`: custodian `i`'s share value of version `v + 1`.
    pub opened: Vec<Vec<[u8; 32]>>,
    /// A restoring device's one-time key.
    pub device: RequesterKey,
    /// `responses[v][i]`: custodian `i`'s answer to the device, holding version `v + 1`.
    pub responses: Vec<Vec<Response>>,
}

/// The fixture, built once.
pub fn backup() -> &'static BackupFixture {
    static F: OnceLock<BackupFixture> = OnceLock::new();
    F.get_or_init(build)
}

fn build() -> BackupFixture {
    let owner = keys(91);
    let custodians: Vec<KeyPair> = [92u8, 93, 94].iter().map(|s| keys(*s)).collect();
    let public: Vec<_> = custodians.iter().map(KeyPair::public).collect();
    let mut chain = MemChain::new(owner.clone()).expect("a valid owner");
    chain.now_ms = glitter_tests::T0_MS;
    let mut versions = Vec::new();
    for (v, posts) in [(1u8, 3), (2, 2)] {
        for i in 0..posts {
            chain
                .post(&format!("post {i} before backup {v}"))
                .expect("a post");
        }
        let started = start_backup(&mut chain, &owner, &public, 2, [v; 32]).expect("a backup");
        versions.push(started);
    }
    let packages: Vec<Vec<Package>> = versions
        .iter()
        .map(|s| {
            (0..custodians.len())
                .map(|i| Package {
                    manifest_block: block_bytes(&s.manifest_block),
                    share: s.prepared.shares[i].to_bytes().to_vec(),
                    records: s.prepared.new_records[i].clone(),
                })
                .collect()
        })
        .collect();
    let mut custody: Vec<Vec<Custody>> = Vec::new();
    for (v, s) in versions.iter().enumerate() {
        let row = custodians
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let old = custody.get(v.wrapping_sub(1)).map(|r| &r[i]);
                Custody::receive(
                    c,
                    owner.public(),
                    s.manifest_block.clone(),
                    s.prepared.shares[i],
                    s.prepared.new_records[i].clone(),
                    old,
                )
                .expect("a custodian accepts a genuine package")
            })
            .collect();
        custody.push(row);
    }
    let opened = versions
        .iter()
        .map(|s| {
            custodians
                .iter()
                .zip(&s.prepared.shares)
                .map(|(c, sh)| open_share(&c.seed(), sh).expect("a genuine share opens"))
                .collect()
        })
        .collect();
    let device = RequesterKey::new([77; 32]).expect("a device key");
    let responses = custody
        .iter()
        .map(|row| {
            row.iter()
                .zip(&custodians)
                .map(|(c, k)| c.respond(k, &device.public()).expect("an answer"))
                .collect()
        })
        .collect();
    let blocks = chain.own_blocks().expect("the chain");
    BackupFixture {
        owner,
        custodians,
        stranger: keys(95),
        chain: blocks,
        versions,
        packages,
        custody,
        opened,
        device,
        responses,
    }
}

impl BackupFixture {
    /// Every key of the backup: owner, custodians, stranger.
    pub fn all_keys(&self) -> Vec<KeyPair> {
        let mut k = vec![self.owner.clone()];
        k.extend(self.custodians.iter().cloned());
        k.push(self.stranger.clone());
        k
    }

    /// The genuine sealed share of custodian `i` in version `v + 1`.
    pub fn share(&self, v: usize, i: usize) -> SealedShare {
        self.versions[v].prepared.shares[i]
    }
}

/// The fields of a shard record's fixed part that the models use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHead {
    /// The custodian the record is for.
    pub custodian: [u8; 32],
    /// Backup version, first and last seq of its range.
    pub range: (u64, u64, u64),
    /// Shard index.
    pub index: u8,
}

/// The shard record layout, restated: format 1, owner, custodian, version, first,
/// last (u64 LE each), index, k, n, ciphertext length (u32 LE), then n 32-byte leaf
/// hashes, then the shard of ⌈length / k⌉ bytes; n ≤ 16, index < n, 1 ≤ k ≤ n, and
/// nothing after it.
pub fn parse_record(b: &[u8]) -> Option<RecordHead> {
    let le64 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
    if b.len() < 96 || b[0] != 1 {
        return None;
    }
    let (index, k, n) = (b[89], b[90], b[91]);
    let ct = u32::from_le_bytes(b[92..96].try_into().unwrap_or_default()) as usize;
    if n > 16 || index >= n || k == 0 || k > n {
        return None;
    }
    if b.len() != 96 + 32 * usize::from(n) + ct.div_ceil(usize::from(k)) {
        return None;
    }
    Some(RecordHead {
        custodian: b[33..65].try_into().unwrap_or_default(),
        range: (le64(65), le64(73), le64(81)),
        index,
    })
}
