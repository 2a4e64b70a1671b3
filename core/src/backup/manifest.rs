//! The `BackupManifest` payload: the owner-signed index of a backup.
//!
//! The manifest's data type and its structural rules are defined one layer below the
//! chain validator, in [`crate::social::manifest`], because a manifest is a block
//! payload and the chain layer decodes every payload. This module re-exports them
//! under their historical paths (`glitter_core::backup::manifest::…`) and says how the
//! backup fills them in.
//!
//! A manifest is the payload of a [`crate::wire::header::BlockKind::BackupManifest`]
//! block on the owner's chain, so the owner's signature covers it and its place in the
//! chain orders it: the manifest at the highest seq supersedes every earlier one. Its
//! layout and worst-case size (950 bytes) are in [`crate::social::manifest`].
//!
//! **Why so compact.** Listing 16 full custodian keys (512 bytes) plus a full hash per
//! share and per shard does not fit. So: custodian *hints* are the first 8 bytes of
//! each key ([`hint`]), enough to pick out one of at most 16 trusted keys (the full
//! keys are the subjects of the owner's `Trust` blocks); the full key is bound into
//! each share's commitment, so a look-alike key cannot pass. Share commitments are
//! 16-byte truncated hashes (see [`crate::backup::seal::commit_share`]: second
//! preimages, not collisions, are what an attacker would need). Each range commits to
//! its `n` shards with one 32-byte root ([`crate::backup::restore::table_root`]) over
//! a table of shard hashes that every custodian stores beside its shard.

pub use crate::social::manifest::{
    BackupManifest, CUSTODIANS_MAX, HINT_LEN, ManifestError, RANGE_CIPHERTEXT_LEN_MIN, RANGES_MAX,
    ShardRange, hint,
};

// The payload layer states these bounds as plain numbers; they must be the backup's.
const _: () = assert!(CUSTODIANS_MAX == super::shamir::SHARES_MAX);
const _: () = assert!(CUSTODIANS_MAX == super::erasure::SHARDS_MAX);
const _: () = assert!(RANGE_CIPHERTEXT_LEN_MIN == super::seal::TAG_LEN);
const _: () = assert!(super::seal::SALT_LEN == 16 && super::seal::COMMIT_LEN == 16);
