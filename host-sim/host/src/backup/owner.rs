//! The owner's side of a backup: what the own chain says about backups, and the one
//! backup flow that the CLI, the node and the simulator share.

use super::engine::{Block, Prepared, prepare_backup};
use crate::error::{BackupError, BoxError};
use glitter_core::backup::{BackupManifest, erasure};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::{Payload, Trust, TrustRole};

/// Most custodians one backup may name.
pub const CUSTODIANS_MAX: usize = 16;

/// An own chain that the backup flow reads and appends to: a data directory, a
/// running node's store, or a simulated person's chain in memory.
pub trait OwnChain {
    /// The own chain, seq 1..=head, with payloads.
    ///
    /// # Errors
    /// If the store cannot be read or a block has lost its payload.
    fn own_blocks(&mut self) -> Result<Vec<Block>, BoxError>;
    /// Signs, stores and returns the next own block carrying `payload`.
    ///
    /// # Errors
    /// If the payload is invalid or the store refuses the block.
    fn append_own(&mut self, payload: &Payload) -> Result<Block, BoxError>;
}

/// What [`start_backup`] did: the blocks it appended and the packages to deliver.
#[derive(Clone, Debug)]
pub struct Started {
    /// Custodians newly trusted, with the seq of their Trust block.
    pub trusted: Vec<(PublicKey, u64)>,
    /// The prepared backup: manifest, sealed shares and shard records per custodian.
    pub prepared: Prepared,
    /// The manifest block as appended (header and payload).
    pub manifest_block: Block,
}

impl Started {
    /// The one-line summary: version, full or incremental, block, k of n, range.
    pub fn summary(&self) -> String {
        let m = &self.prepared.manifest;
        format!(
            "backup version {} ({}) at block {}: any {} of {} custodians restore seq 1..={}",
            m.version,
            if self.prepared.full {
                "full"
            } else {
                "incremental"
            },
            self.manifest_block.0.seq,
            m.threshold,
            self.prepared.custodians.len(),
            m.last_seq()
        )
    }
}

/// Checks a backup plan before anything is appended: 2 to 16 distinct custodians,
/// not the owner, and 2 ≤ `threshold` ≤ their number.
///
/// # Errors
/// A one-line reason.
pub fn check_plan(
    owner: &PublicKey,
    custodians: &[PublicKey],
    threshold: u8,
) -> Result<(), BackupError> {
    for (i, c) in custodians.iter().enumerate() {
        if c == owner {
            return Err(BackupError::OwnCustodian);
        }
        if custodians[..i].contains(c) {
            return Err(BackupError::DuplicateCustodian(*c));
        }
    }
    let n = custodians.len();
    if !(2..=CUSTODIANS_MAX).contains(&n) {
        return Err(BackupError::CustodianCount {
            given: n,
            max: CUSTODIANS_MAX,
        });
    }
    if !(2..=n).contains(&usize::from(threshold)) {
        return Err(BackupError::Threshold { custodians: n });
    }
    Ok(())
}

/// The owner-backup flow, the same for the CLI, the node and the simulator: checks
/// the plan, reads the own chain once, appends a `Trust{Custodian}` block for every
/// custodian not yet trusted, prepares the next backup version (incremental when it
/// can) and appends its manifest block. Delivering the packages is the caller's.
///
/// # Errors
/// A bad plan (nothing appended), or a store error.
pub fn start_backup(
    chain: &mut impl OwnChain,
    keys: &KeyPair,
    custodians: &[PublicKey],
    threshold: u8,
    entropy: [u8; 32],
) -> Result<Started, BackupError> {
    check_plan(&keys.public(), custodians, threshold)?;
    let mut blocks = chain.own_blocks().map_err(BackupError::OwnChain)?;
    let mut trusted = Vec::new();
    for c in untrusted_custodians(&blocks, custodians) {
        let block = chain
            .append_own(&custodian_trust(&c))
            .map_err(BackupError::OwnChain)?;
        trusted.push((c, block.0.seq));
        blocks.push(block);
    }
    let prev = latest_manifest(&blocks).map(|(_, m)| m);
    let prepared = prepare_backup(keys, &blocks, prev.as_ref(), custodians, threshold, entropy)?;
    let manifest_block = chain
        .append_own(&Payload::BackupManifest(prepared.manifest.clone()))
        .map_err(BackupError::OwnChain)?;
    Ok(Started {
        trusted,
        prepared,
        manifest_block,
    })
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
