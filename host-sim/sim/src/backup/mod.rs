//! The `backup` scenario: restore success under custodian churn, restores that never
//! fork, and storage per custodian.
//!
//! Three reproducible runs, each with its seed in the report:
//!
//! - [`backup()`]: N users each back up to n custodians chosen from their trusted
//!   set; in each trial one user loses the device and every custodian is online with
//!   probability p. A trial succeeds when the seed *and* the whole chain come back
//!   verified. The rate is compared with the binomial P(at least k of n online).
//! - [`no_forks`]: full restore flows on a small gossip network of real core
//!   [`Node`](glitter_core::sync::Node)s: the owner posts, backs up, posts more (those
//!   blocks are only at peers), loses the device; a new device restores from the
//!   custodians, **learns the head from a quorum of peers** (while a stale device with
//!   an older copy of the chain is online and announcing its older head), and only
//!   then appends. Forks are counted three ways: any node holding a fork proof, any
//!   two stores disagreeing at one seq, and the appended seq not being past the true
//!   head. For contrast it also counts how many restores would have forked had the
//!   device appended right after decoding the backup.
//! - [`storage`]: bytes each custodian stores for a chain of a given length.
//!
//! Owners are the host's in-memory own chains ([`MemChain`]) and back up through the
//! host's one owner flow ([`start_backup`]); custodians and restoring devices use the
//! host's backup engine; a restored device decides when it may append with the host's
//! catch-up rule ([`may_append`](glitter_host::backup::catch_up::may_append)). The
//! simulator adds only the people, the randomness and the network.

mod no_fork;
mod success;

pub use no_fork::{NoForkOutcome, NoForkPlan, no_forks};
pub use success::{BackupOutcome, BackupPlan, StorageOutcome, backup, storage};

use super::{SimError, stream_seed};
use glitter_core::backup::seal::SealedShare;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_host::backup::{Block, Custody, MemChain, start_backup};
use rand_chacha::ChaCha8Rng;
use rand_core::Rng;

/// P(at least `k` of `n` independent custodians are online), each with probability `p`.
pub fn binomial_at_least(k: u8, n: u8, p: f64) -> f64 {
    let n = u32::from(n);
    (u32::from(k)..=n)
        .map(|i| {
            let mut c = 1.0f64;
            for j in 0..i {
                c = c * f64::from(n - j) / f64::from(j + 1);
            }
            c * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32)
        })
        .sum()
}

fn fresh_keys(rng: &mut ChaCha8Rng) -> KeyPair {
    loop {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        if let Ok(k) = KeyPair::from_seed(seed)
            && k.public().validate().is_ok()
        {
            return k;
        }
    }
}

fn random32(rng: &mut ChaCha8Rng) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b
}

/// A new own chain for `keys`.
fn own_chain(keys: KeyPair) -> Result<MemChain, SimError> {
    MemChain::new(keys).map_err(SimError::own_chain)
}

/// Appends a post to `chain`, stamped `now_ms`.
fn post(chain: &mut MemChain, text: &str, now_ms: u64) -> Result<(), SimError> {
    chain.now_ms = now_ms;
    chain.post(text).map_err(SimError::own_chain)?;
    Ok(())
}

/// Backs `chain` up to `custodians` through the host's owner flow (a Trust block for
/// each custodian not yet trusted, then the manifest block, all stamped `now_ms`),
/// and has each custodian receive its package over its previous custody in `prev`.
/// Returns each custodian's custody.
fn back_up(
    chain: &mut MemChain,
    custodians: &[KeyPair],
    k: u8,
    prev: Option<&[Custody]>,
    entropy: [u8; 32],
    now_ms: u64,
) -> Result<Vec<Custody>, SimError> {
    chain.now_ms = now_ms;
    let keys = chain.keys().clone();
    let pubs: Vec<PublicKey> = custodians.iter().map(KeyPair::public).collect();
    let started =
        start_backup(chain, &keys, &pubs, k, entropy).map_err(SimError::backup("start"))?;
    let prepared = &started.prepared;
    custodians
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Custody::receive(
                c,
                keys.public(),
                started.manifest_block.clone(),
                prepared.shares[i],
                prepared.new_records[i].clone(),
                prev.and_then(|p| p.get(i)),
            )
            .map_err(SimError::backup("custodian receives"))
        })
        .collect()
}

/// Bytes one custodian stores: its sealed share and its shard records.
fn custody_bytes(c: &Custody) -> usize {
    SealedShare::LEN + c.records.iter().map(Vec::len).sum::<usize>()
}

/// Bytes of a chain as backed up (headers and payloads), without its last block
/// (the manifest).
fn backed_up_bytes(blocks: &[Block]) -> usize {
    blocks[..blocks.len() - 1]
        .iter()
        .map(|(_, p)| 212 + p.len())
        .sum()
}

/// Everything the `glitter sim backup` command reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackupScenario {
    /// Restore success rate for each (k, n) asked for.
    pub success: Vec<BackupOutcome>,
    /// The no-fork run.
    pub no_forks: NoForkOutcome,
    /// Storage per custodian for a 1,000-post chain, for each (k, n).
    pub storage: Vec<StorageOutcome>,
}

/// The whole `backup` scenario: success rates for `(k, n)` in `configs` at `plan`'s
/// other knobs, the no-fork run, and storage for a 1,000-post chain.
///
/// # Errors
/// [`SimError::BadKnob`] for bad knobs, or a failure of the host's backup engine.
pub fn scenario(
    seed: u64,
    plan: &BackupPlan,
    configs: &[(u8, u8)],
    forks: &NoForkPlan,
) -> Result<BackupScenario, SimError> {
    let mut success = Vec::new();
    let mut store = Vec::new();
    for (i, &(k, n)) in configs.iter().enumerate() {
        let p = BackupPlan {
            threshold: k,
            custodians: n,
            ..plan.clone()
        };
        success.push(backup(stream_seed(seed, 100 + i as u64), &p)?);
        store.push(storage(seed, 1_000, k, n)?);
    }
    Ok(BackupScenario {
        success,
        no_forks: no_forks(seed, forks)?,
        storage: store,
    })
}
