//! Backup and restore on a host: the in-memory engine (shared with the simulator's
//! `backup` scenario) and the `glitter backup …` / `glitter restore` commands over
//! local data directories that stand in for custodians.
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
//! Custodian data directory layout (inside the custodian's own data directory):
//!
//! ```text
//! custody/<owner>/manifest.block               header (212 bytes) ‖ payload of the manifest
//! custody/<owner>/share-v<version>.bin         the sealed share (140 bytes)
//! custody/<owner>/range-<a>-<b>-v<ver>.shard   one shard record per range (<ver>: the range's version)
//! ```
//!
//! Every file is written to a temporary name, synced and renamed. A new version's
//! share and shards get new names, and `manifest.block` is replaced last: it is the
//! commit point, so a custodian that crashes part-way still holds the previous version
//! whole. Files the manifest no longer names are removed afterwards. The first layout
//! (`share.bin`, `range-<a>-<b>.shard`, without versions) is still read.

use crate::chainfile::VerifiedChain;
use crate::datadir::{DataDir, parse_author, write_atomic};
use anyhow::{Context, Result, anyhow, bail};
use glitter_core::backup::manifest::{self, RANGES_MAX};
use glitter_core::backup::restore::{self, Rejected, ShareCollector};
use glitter_core::backup::seal::{self, RequesterKey, SealedRelease, SealedShare};
use glitter_core::backup::shard::{self, ExportBlocks, ShardHeader, ShardRecord};
use glitter_core::backup::{BackupManifest, ShardRange, erasure};
use glitter_core::chain::{ChainState, check_payload};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::{Payload, Trust, TrustRole};
use glitter_core::wire::header::{BlockKind, HEADER_LEN, Header};
use std::path::{Path, PathBuf};

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
) -> Result<Prepared> {
    let owner = keys.public();
    let head = chain.len() as u64;
    if head == 0 {
        bail!("nothing to back up: the chain is empty");
    }
    if chain.iter().any(|(h, _)| h.author != owner) {
        bail!("the chain is not the owner's");
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
        .map_err(|e| anyhow!("{e}"))?;
    let n = custodians.len() as u8;
    let mut new_records = vec![Vec::new(); custodians.len()];
    if first <= head {
        let blocks = &chain[(first - 1) as usize..];
        let plain_len: usize = blocks.iter().map(|(_, p)| HEADER_LEN + p.len()).sum();
        let mut buf = vec![0u8; plain_len + seal::TAG_LEN];
        let mut pos = 0;
        for (h, p) in blocks {
            shard::push_export(&mut buf, &mut pos, &h.to_bytes(), p).map_err(|e| anyhow!("{e}"))?;
        }
        let ct_len = shard::seal_range(&seed, &owner, version, first, head, &mut buf, plain_len)
            .map_err(|e| anyhow!("{e}"))?;
        let len = erasure::shard_len(ct_len, k);
        let mut scratch = vec![0u8; len];
        let table = shard::shard_table(&buf, &owner, version, first, head, k, n, &mut scratch)
            .map_err(|e| anyhow!("{e}"))?;
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
            erasure::encode_shard(&buf, k, n, i as u8, &mut scratch).map_err(|e| anyhow!("{e}"))?;
            let mut rec = vec![0u8; header.record_len()];
            shard::write_record(&header, table, &scratch, &mut rec).map_err(|e| anyhow!("{e}"))?;
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
            .map_err(|_| anyhow!("more than {RANGES_MAX} ranges"))?;
    }
    manifest.validate().map_err(|e| anyhow!("manifest: {e}"))?;
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
pub fn check_manifest_block(owner: &PublicKey, block: &Block) -> Result<BackupManifest> {
    let (h, p) = block;
    if h.author != *owner {
        bail!("manifest block is by another author");
    }
    if h.kind != BlockKind::BackupManifest {
        bail!(
            "block {} is a {}, not a backup manifest",
            h.seq,
            h.kind.name()
        );
    }
    h.verify_signature()
        .map_err(|e| anyhow!("manifest block {}: {e}", h.seq))?;
    check_payload(h, p).map_err(|e| anyhow!("manifest block {}: {e}", h.seq))?;
    match Payload::decode(h.kind, p) {
        Ok(Payload::BackupManifest(m)) => {
            m.validate().map_err(|e| anyhow!("manifest: {e}"))?;
            Ok(m)
        }
        _ => bail!("manifest block {}: undecodable payload", h.seq),
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
    ) -> Result<Custody> {
        let manifest = check_manifest_block(&owner, &manifest_block)?;
        if let Some(o) = old
            && o.manifest.version >= manifest.version
        {
            bail!(
                "package is backup version {}, already holding version {}",
                manifest.version,
                o.manifest.version
            );
        }
        glitter_core::backup::verify_received(&me.seed(), &manifest, &share)
            .map_err(|e| anyhow!("{e}"))?;
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
                .with_context(|| {
                    format!(
                        "no shard for seq {}..={} in the package",
                        r.first_seq, r.last_seq
                    )
                })?;
            let rec = ShardRecord::parse(found).map_err(|e| anyhow!("{e}"))?;
            restore::check_shard(&owner, &manifest, me.public(), &rec)
                .map_err(|e| anyhow!("{e}"))?;
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
    pub fn respond(&self, me: &KeyPair, requester: &[u8; 32]) -> Result<Response> {
        let release = seal::release_share(&me.seed(), &self.share, requester)
            .map_err(|e| anyhow!("custody of {}: {e}", self.owner))?;
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
    /// peers before it appends at all.
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
) -> std::result::Result<Restored, RestoreFailure> {
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
    let mut newest_failure: Option<RestoreFailure> = None;
    for (manifest, block) in candidates {
        match restore_version(owner, requester, responses, manifest, block) {
            Ok(mut r) => {
                if let Some(f) = newest_failure {
                    r.fell_back = Some(f.reason);
                }
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
) -> std::result::Result<Restored, RestoreFailure> {
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
    // 3. Each range: checked shards, decode, decrypt, verify.
    let mut chain: Vec<Block> = Vec::new();
    let mut headers: Vec<Header> = Vec::new();
    let mut state = ChainState::new(owner).map_err(|e| fail(e.to_string(), Vec::new()))?;
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
            let h = state
                .verify_next(hb, Some(p), headers.as_mut_slice())
                .map_err(|e| fail(format!("restored chain: {e}"), rejected.clone()))?;
            headers.push(h);
            chain.push((h, p.to_vec()));
        }
        if state.next_seq() != range.last_seq + 1 {
            return Err(fail(
                format!(
                    "range {}..={} is incomplete",
                    range.first_seq, range.last_seq
                ),
                rejected,
            ));
        }
    }
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

// ---------------------------------------------------------------------------------
// The CLI over data directories.
// ---------------------------------------------------------------------------------

/// `glitter backup …` subcommands (embed in the top-level clap enum).
#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// Back up your identity and chain to custodians (k of them restore you).
    ///
    /// Each custodian is given as its data directory (a stand-in for sending the
    /// package over the network). Custodians not yet trusted get a Trust block.
    Create {
        /// A custodian's data directory (repeat for each; 2 to 16).
        #[arg(long = "custodian", value_name = "DIR", required = true)]
        custodians: Vec<PathBuf>,
        /// How many custodians are needed to restore (2 ≤ k ≤ n).
        #[arg(long, value_name = "K")]
        threshold: u8,
    },
    /// Show the latest backup: version, threshold, ranges, and what is not yet backed up.
    Status,
}

/// Arguments of `glitter restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The public key of the identity to restore (64 hex digits).
    #[arg(long, value_name = "AUTHOR")]
    pub owner: String,
    /// A custodian (repeat; at least k must answer): a running node's address
    /// (`/ip4/…/tcp/…`, the device then prints a code for the custodians to approve), or
    /// a custodian's data directory.
    #[arg(long = "custodian", value_name = "MULTIADDR|DIR", required = true)]
    pub custodians: Vec<String>,
    /// A peer holding a copy of the chain (repeat): a node's address or a data
    /// directory. The restored device learns the latest head from these (and from
    /// custodians given by address) before anything can be appended.
    #[arg(long = "peer", value_name = "MULTIADDR|DIR")]
    pub peers: Vec<String>,
    /// How long to wait for custodians to approve the device code, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub wait: u64,
}

/// A network address rather than a directory: a multiaddr starting with `/ip4/`,
/// `/ip6/`, `/dns/`, `/dns4/` or `/dns6/`.
fn as_multiaddr(s: &str) -> Option<Result<libp2p::Multiaddr>> {
    ["/ip4/", "/ip6/", "/dns/", "/dns4/", "/dns6/"]
        .iter()
        .any(|p| s.starts_with(p))
        .then(|| {
            s.parse::<libp2p::Multiaddr>()
                .map_err(|e| anyhow!("{s}: not a valid address: {e}"))
        })
}

/// Splits `glitter restore` targets into addresses and directories.
fn split_targets(all: &[String]) -> Result<(Vec<libp2p::Multiaddr>, Vec<PathBuf>)> {
    let mut addrs = Vec::new();
    let mut dirs = Vec::new();
    for s in all {
        match as_multiaddr(s) {
            Some(a) => addrs.push(a?),
            None => dirs.push(PathBuf::from(s)),
        }
    }
    Ok((addrs, dirs))
}

fn random32() -> Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| anyhow!("no OS randomness: {e}"))?;
    Ok(b)
}

fn custody_dir(custodian_root: &Path, owner: &PublicKey) -> PathBuf {
    custodian_root.join("custody").join(owner.to_string())
}

/// A block as bytes: header (212) ‖ payload.
pub fn block_bytes(b: &Block) -> Vec<u8> {
    let mut v = b.0.to_bytes().to_vec();
    v.extend_from_slice(&b.1);
    v
}

/// Parses [`block_bytes`] output (the header is decoded, not verified).
///
/// # Errors
/// If the bytes are shorter than a header or the header is malformed.
pub fn parse_block(bytes: &[u8]) -> Result<Block> {
    let (h, p) = bytes
        .split_at_checked(HEADER_LEN)
        .context("file shorter than a block header")?;
    let h = Header::decode(h).map_err(|e| anyhow!("{e}"))?;
    Ok((h, p.to_vec()))
}

/// Reads what a custodian directory holds for `owner`, if anything.
///
/// # Errors
/// If files exist but are malformed.
pub fn read_custody(custodian_root: &Path, owner: &PublicKey) -> Result<Option<Custody>> {
    let dir = custody_dir(custodian_root, owner);
    let mpath = dir.join("manifest.block");
    if !mpath.exists() {
        return Ok(None);
    }
    let manifest_block =
        parse_block(&std::fs::read(&mpath)?).with_context(|| format!("{}", mpath.display()))?;
    let manifest = check_manifest_block(owner, &manifest_block)
        .with_context(|| format!("{}", mpath.display()))?;
    // The versioned name, else the first layout's.
    let read_either = |new: String, old: String| -> Result<Vec<u8>> {
        let p = dir.join(&new);
        match std::fs::read(&p) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::read(dir.join(&old)).with_context(|| format!("{}: missing", p.display()))
            }
            Err(e) => Err(e).with_context(|| format!("{}: cannot read", p.display())),
        }
    };
    let share_bytes = read_either(share_file(manifest.version), "share.bin".into())?;
    let share = SealedShare::parse(&share_bytes)
        .map_err(|e| anyhow!("{}: {e}", dir.join(share_file(manifest.version)).display()))?;
    let mut records = Vec::new();
    for r in &manifest.ranges {
        records.push(read_either(
            range_file(r),
            format!("range-{}-{}.shard", r.first_seq, r.last_seq),
        )?);
    }
    Ok(Some(Custody {
        owner: *owner,
        manifest_block,
        manifest,
        share,
        records,
    }))
}

fn share_file(version: u64) -> String {
    format!("share-v{version}.bin")
}

fn range_file(r: &ShardRange) -> String {
    format!("range-{}-{}-v{}.shard", r.first_seq, r.last_seq, r.version)
}

/// Writes what a custodian holds for an owner into its data directory (layout in the
/// module docs): shard records and the share under versioned names, then the manifest
/// last, so a crash part-way leaves the previous version readable.
///
/// # Errors
/// On I/O errors.
pub fn write_custody(custodian_root: &Path, c: &Custody) -> Result<()> {
    let dir = custody_dir(custodian_root, &c.owner);
    std::fs::create_dir_all(&dir)?;
    let mut keep = vec!["manifest.block".to_string(), share_file(c.manifest.version)];
    for (r, rec) in c.manifest.ranges.iter().zip(&c.records) {
        let name = range_file(r);
        write_atomic(&dir.join(&name), rec, false)?;
        keep.push(name);
    }
    write_atomic(
        &dir.join(share_file(c.manifest.version)),
        &c.share.to_bytes(),
        true,
    )?;
    // The commit point: until this rename, the previous manifest and its files rule.
    write_atomic(
        &dir.join("manifest.block"),
        &block_bytes(&c.manifest_block),
        false,
    )?;
    // Drop what the manifest no longer names (older shares, dropped ranges, the
    // first layout's files).
    for e in std::fs::read_dir(&dir)? {
        let name = e?.file_name().to_string_lossy().to_string();
        if !keep.contains(&name) {
            let _ = std::fs::remove_file(dir.join(&name));
        }
    }
    Ok(())
}

fn own_blocks(chain: &VerifiedChain) -> Result<Vec<Block>> {
    chain
        .headers
        .iter()
        .zip(&chain.payloads)
        .map(|(h, p)| {
            p.clone()
                .map(|p| (*h, p))
                .with_context(|| format!("block {} has no payload: cannot back up", h.seq))
        })
        .collect()
}

/// The latest `BackupManifest` in an own chain, with its seq.
pub fn latest_manifest(chain: &[Block]) -> Option<(u64, BackupManifest)> {
    chain
        .iter()
        .rev()
        .find_map(|(h, p)| match Payload::decode(h.kind, p) {
            Ok(Payload::BackupManifest(m)) => Some((h.seq, m)),
            _ => None,
        })
}

/// The custodians in `custodians` that the own chain `chain` does not yet name in a
/// `Trust{Custodian}` block, in order.
pub fn untrusted_custodians(chain: &[Block], custodians: &[PublicKey]) -> Vec<PublicKey> {
    custodians
        .iter()
        .filter(|c| {
            !chain.iter().any(|(h, p)| {
                matches!(Payload::decode(h.kind, p),
                    Ok(Payload::Trust(t)) if t.subject == c.0 && t.role == TrustRole::Custodian)
            })
        })
        .copied()
        .collect()
}

/// The `Trust{Custodian}` payload naming `c`.
pub fn custodian_trust(c: &PublicKey) -> Payload {
    Payload::Trust(Trust {
        subject: c.0,
        role: TrustRole::Custodian,
        threshold: 0,
    })
}

/// What `glitter backup status` prints for an own chain (seq 1..=head, with payloads).
pub fn status_lines(chain: &[Block]) -> Vec<String> {
    let mut out = Vec::new();
    let Some((seq, m)) = latest_manifest(chain) else {
        out.push("no backup yet: run `glitter backup create` (or `glitter node backup`)".into());
        return out;
    };
    out.push(format!(
        "backup version {} (block {seq}): {} of {} custodians restore you",
        m.version,
        m.threshold,
        m.custodians.len()
    ));
    for (i, h) in m.custodians.iter().enumerate() {
        out.push(format!("  custodian #{}: {}…", i + 1, hex::encode(h)));
    }
    for r in &m.ranges {
        out.push(format!(
            "  range seq {}..={} (version {}, {} bytes encrypted, ~{} per custodian)",
            r.first_seq,
            r.last_seq,
            r.version,
            r.ciphertext_len,
            erasure::shard_len(r.ciphertext_len as usize, m.threshold)
        ));
    }
    let behind = (chain.len() as u64).saturating_sub(m.last_seq());
    out.push(format!(
        "chain head {}; {behind} block(s) not in the backup (the manifest itself counts)",
        chain.len()
    ));
    out
}

/// `glitter backup create` and `glitter backup status` on the data directory `dir`.
///
/// # Errors
/// A one-line reason naming the directory or custodian at fault.
pub fn run_backup(dir: &Path, cmd: BackupCommand, now_ms: u64) -> Result<Vec<String>> {
    let data = DataDir::open(dir)?;
    let keys = data.identity()?;
    let owner = keys.public();
    let mut out = Vec::new();
    match cmd {
        BackupCommand::Status => {
            let chain = own_blocks(&data.chain(&owner)?)?;
            out.extend(status_lines(&chain));
        }
        BackupCommand::Create {
            custodians,
            threshold,
        } => {
            let mut ckeys = Vec::new();
            for c in &custodians {
                let k = DataDir::open(c)
                    .and_then(|d| d.identity())
                    .with_context(|| format!("custodian {}", c.display()))?;
                ckeys.push(k);
            }
            let cpubs: Vec<PublicKey> = ckeys.iter().map(|k| k.public()).collect();
            // Trust blocks for custodians not yet trusted.
            let existing = own_blocks(&data.chain(&owner)?)?;
            for c in untrusted_custodians(&existing, &cpubs) {
                let h = data.append_own(&custodian_trust(&c), now_ms)?;
                out.push(format!("trusted {c} as custodian (block {})", h.seq));
            }
            let chain = own_blocks(&data.chain(&owner)?)?;
            let prev = latest_manifest(&chain).map(|(_, m)| m);
            let p = prepare_backup(&keys, &chain, prev.as_ref(), &cpubs, threshold, random32()?)?;
            let h = data.append_own(&Payload::BackupManifest(p.manifest.clone()), now_ms)?;
            let full_chain = own_blocks(&data.chain(&owner)?)?;
            let mblock = full_chain
                .last()
                .cloned()
                .context("manifest block missing after append")?;
            for (i, (ck, dirp)) in ckeys.iter().zip(&custodians).enumerate() {
                let old = read_custody(dirp, &owner).ok().flatten();
                let c = Custody::receive(
                    ck,
                    owner,
                    mblock.clone(),
                    p.shares[i],
                    p.new_records[i].clone(),
                    old.as_ref(),
                )
                .with_context(|| format!("custodian {} refused the package", dirp.display()))?;
                write_custody(dirp, &c)?;
                let bytes: usize = c.records.iter().map(Vec::len).sum::<usize>() + SealedShare::LEN;
                out.push(format!(
                    "custodian #{} {} holds {bytes} bytes",
                    i + 1,
                    dirp.display()
                ));
            }
            out.push(format!(
                "backup version {} ({}) at block {}: any {} of {} custodians restore seq 1..={}",
                p.manifest.version,
                if p.full { "full" } else { "incremental" },
                h.seq,
                threshold,
                custodians.len(),
                p.manifest.last_seq()
            ));
        }
    }
    Ok(out)
}

/// `glitter restore`: restores an identity into the (identity-less) data directory
/// `dir` from custodians (running nodes by address, or data directories), then
/// catches up from peers (likewise) before writing anything.
///
/// # Errors
/// A one-line reason; refused shares are named with their custodian.
pub fn run_restore(dir: &Path, args: RestoreArgs) -> Result<Vec<String>> {
    let owner = parse_author(&args.owner)
        .with_context(|| format!("{:?} is not a 64-hex-digit key", args.owner))?;
    let (net_custodians, dir_custodians) = split_targets(&args.custodians)?;
    let (net_peers, dir_peers) = split_targets(&args.peers)?;
    let data = DataDir::open(dir)?;
    if data.identity().is_ok() {
        bail!(
            "{}: this data directory already has an identity; restore into an empty one",
            dir.display()
        );
    }
    let requester = RequesterKey::new(random32()?).map_err(|e| anyhow!("{e}"))?;
    let mut out = Vec::new();
    let mut responses = Vec::new();
    for c in &dir_custodians {
        let answer = (|| -> Result<Option<Response>> {
            let me = DataDir::open(c)?.identity()?;
            match read_custody(c, &owner)? {
                Some(cust) => Ok(Some(cust.respond(&me, &requester.public())?)),
                None => Ok(None),
            }
        })();
        match answer {
            Ok(Some(r)) => responses.push(r),
            Ok(None) => out.push(format!(
                "custodian {}: holds nothing for {owner}",
                c.display()
            )),
            Err(e) => out.push(format!("custodian {}: no answer ({e:#})", c.display())),
        }
    }
    let mut consulted = 0;
    let (restored, blocks) = if net_custodians.is_empty() && net_peers.is_empty() {
        let restored =
            restore(owner, &requester, &responses).map_err(|e| anyhow!("restore failed: {e}"))?;
        for r in &restored.rejected {
            out.push(format!("refused: {r}"));
        }
        if let Some(why) = &restored.fell_back {
            out.push(format!(
                "the newest backup could not be restored ({why}); used an older version"
            ));
        }
        out.push(format!(
            "recovered the identity {owner} from backup version {} ({} of {} custodians)",
            restored.manifest.version,
            restored.manifest.threshold,
            restored.manifest.custodians.len()
        ));
        out.push(format!(
            "restored and verified blocks 1..={}",
            restored.chain.len()
        ));
        let blocks = restored.chain.clone();
        (restored, blocks)
    } else {
        // Lines are printed as they happen (the device code first of all).
        for l in out.drain(..) {
            let _ = crate::cli::say(&l);
        }
        let net = crate::node::restore_net::run(
            owner,
            &requester,
            responses,
            &net_custodians,
            &net_peers,
            std::time::Duration::from_secs(args.wait),
        )?;
        consulted += net.consulted;
        (net.restored, net.chain)
    };
    let mut chain = VerifiedChain {
        author: owner,
        headers: blocks.iter().map(|(h, _)| *h).collect(),
        payloads: blocks.iter().map(|(_, p)| Some(p.clone())).collect(),
    };
    // Learn the latest head from peer directories: take the longest verified copy
    // that extends ours.
    for p in &dir_peers {
        let Ok(pd) = DataDir::open(p) else { continue };
        let Ok(theirs) = pd.chain(&owner) else {
            out.push(format!(
                "peer {}: copy does not verify; ignored",
                p.display()
            ));
            continue;
        };
        consulted += 1;
        let agrees = chain
            .headers
            .iter()
            .zip(&theirs.headers)
            .all(|(a, b)| a.id() == b.id());
        if !agrees {
            out.push(format!(
                "peer {}: holds a conflicting chain (fork); ignored",
                p.display()
            ));
        } else if theirs.headers.len() > chain.headers.len()
            && theirs.payloads.iter().all(Option::is_some)
        {
            out.push(format!(
                "peer {}: newer head {} (was {})",
                p.display(),
                theirs.headers.len(),
                chain.headers.len()
            ));
            chain = theirs;
        }
    }
    if (chain.headers.len() as u64) < restored.manifest_seq {
        bail!(
            "the chain reaches block {} but the manifest is block {}: peers must supply the rest (pass --peer); nothing written",
            chain.headers.len(),
            restored.manifest_seq
        );
    }
    if !data.import_into_new_image(&chain)? {
        data.import(&chain)?;
    }
    data.create_identity(restored.keys.seed())?;
    out.push(format!(
        "head is block {} after consulting {consulted} peer(s){}",
        chain.headers.len(),
        if consulted == 0 {
            "; WARNING: no peer consulted, newer blocks may exist: sync before posting"
        } else {
            ""
        }
    ));
    Ok(out)
}
