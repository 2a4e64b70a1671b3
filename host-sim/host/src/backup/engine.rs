//! The backup engine: pure, in memory, shared by the CLI, the node and the simulator.
//!
//! The engine wires core's [`glitter_core::backup`] pieces into the three roles:
//!
//! 1. **Owner**: [`prepare_backup`] splits the seed, encrypts and shards the chain
//!    (incrementally when it can), and yields the manifest to append to the chain and
//!    one package per custodian.
//! 2. **Custodian**: [`Custody::receive`] checks the package (manifest signature, its
//!    share against the manifest, every shard against the manifest) before keeping it;
//!    [`Custody::respond`] answers a restoring device with the manifest block, its
//!    share re-sealed to the device's one-time key, and its shard records.
//! 3. **Restoring device**: [`restore()`] takes the custodians' responses, picks the
//!    latest manifest, rejects (and names) every bad share or shard, recovers the seed,
//!    checks it derives the owner's key, decodes, decrypts and verifies the chain.
//!    The device must then learn the latest head from peers before it appends
//!    anything: [`restore()`] returns the manifest's seq as a floor, and the CLI and the
//!    simulator refuse to append until peers have been consulted.
//!
//! The custodian's files are in [`super::files`]; the owner's flow in [`super::owner`].

use crate::error::BackupError;
use glitter_core::backup::manifest::{self, RANGES_MAX};
use glitter_core::backup::restore::{self, Rejected, ShareCollector};
use glitter_core::backup::seal::{self, RequesterKey, SealedRelease, SealedShare};
use glitter_core::backup::shard::{self, ExportBlocks, ShardHeader, ShardRecord};
use glitter_core::backup::{BackupManifest, ShardRange, erasure};
use glitter_core::chain::{ChainState, check_payload};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::wire::header::{BlockKind, HEADER_LEN, Header};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

/// One block: header and payload.
pub type Block = (Header, Vec<u8>);

/// What the owner produces for one backup.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The manifest to append to the owner's chain (as a `BackupManifest` block).
    pub manifest: BackupManifest,
    /// The custodians, in index order.
    pub custodians: Vec<PublicKey>,
    /// Sealed share per custodian.
    pub shares: Vec<SealedShare>,
    /// Shard records of the *new* range per custodian (empty if nothing new).
    pub new_records: Vec<Vec<Vec<u8>>>,
    /// True if the backup re-encoded the whole chain (first backup, changed
    /// custodians or threshold, or too many ranges).
    pub full: bool,
}

/// Makes backup version `prev.version + 1` (or 1) of `chain` (seq 1..=head, the
/// owner's own, with payloads) for `custodians` with threshold `k`.
///
/// Incremental when `prev` had the same custodians and threshold and room for one
/// more range: only blocks after `prev`'s last range are encrypted and sharded. Every
/// version re-splits the seed, so the previous version's shares stop counting.
///
/// # Errors
/// Bad threshold, duplicate custodians, an empty chain, or a chain not of `keys`.
pub fn prepare_backup(
    keys: &KeyPair,
    chain: &[Block],
    prev: Option<&BackupManifest>,
    custodians: &[PublicKey],
    k: u8,
    entropy: [u8; 32],
) -> Result<Prepared, BackupError> {
    let owner = keys.public();
    let head = chain.len() as u64;
    if head == 0 {
        return Err(BackupError::EmptyChain);
    }
    if chain.iter().any(|(h, _)| h.author != owner) {
        return Err(BackupError::NotOwners);
    }
    let version = prev.map_or(1, |m| m.version + 1);
    let hints: Vec<[u8; manifest::HINT_LEN]> = custodians.iter().map(manifest::hint).collect();
    let same_set = prev.is_some_and(|m| {
        m.threshold == k && m.custodians.as_slice() == hints.as_slice() && m.last_seq() <= head
    });
    let mut ranges: Vec<ShardRange> = Vec::new();
    let full = match prev {
        Some(m) if same_set && (m.ranges.len() < RANGES_MAX || m.last_seq() == head) => {
            ranges.extend(m.ranges.iter().copied());
            false
        }
        _ => true,
    };
    let first = ranges.last().map_or(1, |r| r.last_seq + 1);
    let seed = keys.seed();
    let shares = glitter_core::backup::share_seed(&seed, version, k, custodians, &entropy)
        .map_err(BackupError::core("splitting the seed"))?;
    let n = custodians.len() as u8;
    let mut new_records = vec![Vec::new(); custodians.len()];
    if first <= head {
        let blocks = &chain[(first - 1) as usize..];
        let plain_len: usize = blocks.iter().map(|(_, p)| HEADER_LEN + p.len()).sum();
        let mut buf = vec![0u8; plain_len + seal::TAG_LEN];
        let mut pos = 0;
        for (h, p) in blocks {
            shard::push_export(&mut buf, &mut pos, &h.to_bytes(), p)
                .map_err(BackupError::core("exporting blocks"))?;
        }
        let ct_len = shard::seal_range(&seed, &owner, version, first, head, &mut buf, plain_len)
            .map_err(BackupError::core("encrypting the range"))?;
        let len = erasure::shard_len(ct_len, k);
        let mut scratch = vec![0u8; len];
        let table = shard::shard_table(&buf, &owner, version, first, head, k, n, &mut scratch)
            .map_err(BackupError::core("hashing the shards"))?;
        let table = &table[..custodians.len()];
        let root = shard::table_root(table.as_flattened());
        for (i, c) in custodians.iter().enumerate() {
            let header = ShardHeader {
                owner,
                custodian: *c,
                version,
                first_seq: first,
                last_seq: head,
                index: i as u8,
                threshold: k,
                count: n,
                ciphertext_len: ct_len as u32,
            };
            erasure::encode_shard(&buf, k, n, i as u8, &mut scratch)
                .map_err(BackupError::core("erasure coding"))?;
            let mut rec = vec![0u8; header.record_len()];
            shard::write_record(&header, table, &scratch, &mut rec)
                .map_err(BackupError::core("writing a shard record"))?;
            new_records[i].push(rec);
        }
        ranges.push(ShardRange {
            first_seq: first,
            last_seq: head,
            version,
            ciphertext_len: ct_len as u32,
            root,
        });
    }
    let mut manifest = BackupManifest {
        version,
        threshold: k,
        salt: shares.salt,
        custodians: shares.hints.clone(),
        commitments: shares.commitments.clone(),
        ranges: Default::default(),
    };
    for r in ranges {
        manifest
            .ranges
            .push(r)
            .map_err(|_| BackupError::TooManyRanges(RANGES_MAX))?;
    }
    manifest.validate().map_err(BackupError::core("manifest"))?;
    Ok(Prepared {
        manifest,
        custodians: custodians.to_vec(),
        shares: shares.sealed.to_vec(),
        new_records,
        full,
    })
}

/// Checks that `(header, payload)` is a `BackupManifest` block signed by `owner`.
///
/// # Errors
/// A one-line reason.
pub fn check_manifest_block(
    owner: &PublicKey,
    block: &Block,
) -> Result<BackupManifest, BackupError> {
    let (h, p) = block;
    if h.author != *owner {
        return Err(BackupError::ManifestAuthor);
    }
    if h.kind != BlockKind::BackupManifest {
        return Err(BackupError::NotAManifest {
            seq: h.seq,
            kind: h.kind.name(),
        });
    }
    let bad = |e: Box<dyn std::error::Error + Send + Sync>| BackupError::ManifestBlock {
        seq: h.seq,
        source: e,
    };
    h.verify_signature().map_err(|e| bad(Box::new(e)))?;
    check_payload(h, p).map_err(|e| bad(Box::new(e)))?;
    match Payload::decode(h.kind, p) {
        Ok(Payload::BackupManifest(m)) => {
            m.validate().map_err(BackupError::core("manifest"))?;
            Ok(m)
        }
        _ => Err(BackupError::ManifestPayload { seq: h.seq }),
    }
}

/// What one custodian holds for one owner.
#[derive(Clone, Debug)]
pub struct Custody {
    /// The owner.
    pub owner: PublicKey,
    /// The latest manifest block received.
    pub manifest_block: Block,
    /// Its decoded manifest.
    pub manifest: BackupManifest,
    /// The sealed share of that version.
    pub share: SealedShare,
    /// Shard records, one per range of the manifest, in range order.
    pub records: Vec<Vec<u8>>,
}

impl Custody {
    /// A custodian receives a package: it checks the manifest block's signature, opens
    /// its share and checks it against the manifest's commitment, checks every new
    /// shard, and keeps the shards of older ranges that the manifest still lists.
    ///
    /// # Errors
    /// The first check that fails; nothing is kept then.
    pub fn receive(
        me: &KeyPair,
        owner: PublicKey,
        manifest_block: Block,
        share: SealedShare,
        new_records: Vec<Vec<u8>>,
        old: Option<&Custody>,
    ) -> Result<Custody, BackupError> {
        let manifest = check_manifest_block(&owner, &manifest_block)?;
        if let Some(o) = old
            && o.manifest.version >= manifest.version
        {
            return Err(BackupError::NotNewer {
                package: manifest.version,
                held: o.manifest.version,
            });
        }
        glitter_core::backup::verify_received(&me.seed(), &manifest, &share)
            .map_err(BackupError::core("checking the share"))?;
        let mut records = Vec::new();
        for r in &manifest.ranges {
            let found = new_records
                .iter()
                .chain(old.map_or(&[][..], |o| &o.records[..]))
                .find(|b| {
                    ShardRecord::parse(b).is_ok_and(|rec| {
                        rec.header.first_seq == r.first_seq
                            && rec.header.last_seq == r.last_seq
                            && rec.header.version == r.version
                    })
                })
                .ok_or(BackupError::NoShard {
                    first: r.first_seq,
                    last: r.last_seq,
                })?;
            let rec = ShardRecord::parse(found).map_err(BackupError::core("parsing a shard"))?;
            restore::check_shard(&owner, &manifest, me.public(), &rec)
                .map_err(BackupError::core("checking a shard"))?;
            records.push(found.clone());
        }
        Ok(Custody {
            owner,
            manifest_block,
            manifest,
            share,
            records,
        })
    }

    /// Answers a restoring device whose one-time key is `requester`.
    ///
    /// # Errors
    /// If the stored share does not open (damaged storage).
    pub fn respond(&self, me: &KeyPair, requester: &[u8; 32]) -> Result<Response, BackupError> {
        let release = seal::release_share(&me.seed(), &self.share, requester).map_err(|e| {
            BackupError::Custody {
                owner: self.owner,
                source: Box::new(e),
            }
        })?;
        Ok(Response {
            from: me.public(),
            manifest_block: self.manifest_block.clone(),
            release,
            records: self.records.clone(),
        })
    }
}

/// A custodian's answer to a restoring device.
#[derive(Clone, Debug)]
pub struct Response {
    /// The custodian (as the transport authenticates it).
    pub from: PublicKey,
    /// The manifest block it holds.
    pub manifest_block: Block,
    /// Its share, sealed to the device.
    pub release: SealedRelease,
    /// Its shard records.
    pub records: Vec<Vec<u8>>,
}

/// A successful restore.
#[derive(Debug)]
pub struct Restored {
    /// The recovered identity.
    pub keys: KeyPair,
    /// The verified chain: the backed-up ranges, plus the manifest block when it
    /// directly follows them.
    pub chain: Vec<Block>,
    /// The manifest used.
    pub manifest: BackupManifest,
    /// The manifest block's seq: the chain has at least this many blocks, so the
    /// device must never append at or below it, and must learn the real head from
    /// peers before it appends at all. After a fallback to an older version, the seq
    /// of the newest verified manifest seen (a higher one).
    pub manifest_seq: u64,
    /// Shares and shards refused, with the custodian named.
    pub rejected: Vec<Rejected>,
    /// Set when the newest manifest could not be restored (fewer than k of its
    /// custodians answered) and an older version was: why the newest failed.
    pub fell_back: Option<String>,
}

/// Why a restore failed, with everything refused on the way.
#[derive(Debug)]
pub struct RestoreFailure {
    /// The reason.
    pub reason: String,
    /// Shares and shards refused, with the custodian named.
    pub rejected: Vec<Rejected>,
}

impl std::fmt::Display for RestoreFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        for r in &self.rejected {
            write!(f, "; refused {r}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RestoreFailure {}

/// Restores `owner` from custodians' `responses` (device key `requester`).
///
/// # Errors
/// [`RestoreFailure`] when fewer than k valid shares or shards per range arrive, or
/// no valid manifest does.
pub fn restore(
    owner: PublicKey,
    requester: &RequesterKey,
    responses: &[Response],
) -> Result<Restored, RestoreFailure> {
    // 1. Every valid manifest among the responses, the latest (highest seq) first. A
    //    custodian that missed the newest backup still holds the one before it, so
    //    when the newest version has fewer than k holders the previous one is tried.
    let mut candidates: Vec<(BackupManifest, Block)> = Vec::new();
    for r in responses {
        if let Ok(m) = check_manifest_block(&owner, &r.manifest_block)
            && candidates
                .iter()
                .all(|(_, b)| b.0.seq != r.manifest_block.0.seq)
        {
            candidates.push((m, r.manifest_block.clone()));
        }
    }
    candidates.sort_by_key(|(_, b)| std::cmp::Reverse(b.0.seq));
    // The highest seq any verified manifest proves: a fallback to an older version must
    // still not let the device append at or below it (that would fork the chain).
    let proven = candidates.first().map_or(0, |(_, b)| b.0.seq);
    let mut newest_failure: Option<RestoreFailure> = None;
    for (manifest, block) in candidates {
        match restore_version(owner, requester, responses, manifest, block) {
            Ok(mut r) => {
                if let Some(f) = newest_failure {
                    r.fell_back = Some(f.reason);
                }
                r.manifest_seq = r.manifest_seq.max(proven);
                return Ok(r);
            }
            Err(f) => {
                if newest_failure.is_none() {
                    newest_failure = Some(f);
                }
            }
        }
    }
    Err(newest_failure.unwrap_or(RestoreFailure {
        reason: "no valid backup manifest among the responses".into(),
        rejected: Vec::new(),
    }))
}

/// Restores from one manifest version.
fn restore_version(
    owner: PublicKey,
    requester: &RequesterKey,
    responses: &[Response],
    manifest: BackupManifest,
    manifest_block: Block,
) -> Result<Restored, RestoreFailure> {
    let mut rejected = Vec::new();
    let fail = |reason: String, rejected: Vec<Rejected>| RestoreFailure {
        reason: format!(
            "backup version {} (block {}): {reason}",
            manifest.version, manifest_block.0.seq
        ),
        rejected,
    };
    // 2. Shares, each checked against the manifest.
    let mut collector = match ShareCollector::new(owner, &manifest) {
        Ok(c) => c,
        Err(e) => return Err(fail(e.to_string(), rejected)),
    };
    for r in responses {
        let opened = seal::open_release(requester, &r.release);
        match opened {
            Ok(value) => {
                if let Err(e) = collector.add(r.from, &r.release.binding, &value) {
                    rejected.push(e);
                }
            }
            Err(e) => rejected.push(Rejected {
                custodian: r.from,
                reason: restore::RejectReason::Seal(e),
            }),
        }
    }
    let keys = match collector.recover() {
        Ok(k) => k,
        Err(e) => return Err(fail(e.to_string(), rejected)),
    };
    let seed = keys.seed();
    // 3. Each range: checked shards, decode, decrypt; then the whole chain is verified
    //    at once, its signatures in batches on every core (`crate::verify`).
    let mut blocks: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for range in &manifest.ranges {
        let mut good: Vec<(u8, Vec<u8>)> = Vec::new();
        for r in responses {
            for bytes in &r.records {
                let Ok(rec) = ShardRecord::parse(bytes) else {
                    continue;
                };
                if rec.header.first_seq != range.first_seq || rec.header.last_seq != range.last_seq
                {
                    continue;
                }
                match restore::check_shard(&owner, &manifest, r.from, &rec) {
                    Ok(_) if good.iter().all(|(i, _)| *i != rec.header.index) => {
                        good.push((rec.header.index, rec.shard.to_vec()));
                    }
                    Ok(_) => {}
                    Err(e) => rejected.push(e),
                }
            }
        }
        let shards: Vec<(u8, &[u8])> = good
            .iter()
            .take(manifest.threshold as usize)
            .map(|(i, s)| (*i, s.as_slice()))
            .collect();
        let mut out = vec![0u8; range.ciphertext_len as usize];
        let plain_len =
            match restore::decode_range(&seed, &owner, &manifest, range, &shards, &mut out) {
                Ok(l) => l,
                Err(e) => {
                    return Err(fail(
                        format!("seq {}..={}: {e}", range.first_seq, range.last_seq),
                        rejected,
                    ));
                }
            };
        for item in ExportBlocks::new(&out[..plain_len]) {
            let (hb, p) = item.map_err(|e| fail(e.to_string(), rejected.clone()))?;
            blocks.push((hb.to_vec(), Some(p.to_vec())));
        }
        // The ranges are consecutive from seq 1 (the manifest checks that), so after
        // this one the chain must hold exactly `last_seq` blocks; the verification
        // below checks that they are seqs 1, 2, … in order.
        if blocks.len() as u64 != range.last_seq {
            return Err(fail(
                format!(
                    "range {}..={} is incomplete",
                    range.first_seq, range.last_seq
                ),
                rejected,
            ));
        }
    }
    // The batch weights must be unpredictable to whoever supplied the blocks: they come
    // from the recovered seed, which no fewer than k custodians know.
    let mut weights = ChaCha20Rng::from_seed(weight_seed(&seed));
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let headers = crate::verify::verify_chain(owner, &blocks, &mut weights, threads)
        .map_err(|e| fail(format!("restored chain: {}", e.error), rejected.clone()))?;
    let mut chain: Vec<Block> = headers
        .iter()
        .zip(blocks)
        .map(|(h, (_, p))| (*h, p.unwrap_or_default()))
        .collect();
    let mut headers = headers;
    let mut state = ChainState::resume(
        owner,
        headers.last().map(|h| glitter_core::chain::Head {
            seq: h.seq,
            id: h.id(),
            timestamp_ms: h.timestamp_ms,
        }),
    )
    .map_err(|e| fail(e.to_string(), Vec::new()))?;
    // 4. The manifest block itself, when it directly follows (the usual case).
    let manifest_seq = manifest_block.0.seq;
    if manifest_seq == state.next_seq() {
        let (h, p) = &manifest_block;
        if state
            .verify_next(&h.to_bytes(), Some(p), headers.as_mut_slice())
            .is_ok()
        {
            chain.push(manifest_block.clone());
        }
    }
    Ok(Restored {
        keys,
        chain,
        manifest,
        manifest_seq,
        rejected,
        fell_back: None,
    })
}

/// The seed of a restore's batch-verification weights: a hash of the recovered identity
/// seed under its own label (so the weights reveal nothing of the seed).
fn weight_seed(seed: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"glitter restore batch weights v1");
    h.update(seed);
    h.finalize().into()
}
