//! # glitter-core
//!
//! The portable heart of glitter: personal blockchains of signed, hash-linked blocks.
//!
//! This crate is `#![no_std]` and never allocates. The caller owns memory (buffers are
//! lent, capacities are constants or const generics), time (`now` is passed in) and
//! randomness (an RNG is passed in where one is needed). Nothing here reads a clock,
//! an RNG or a global, so the same code runs on a Cortex-M, in a simulator of
//! thousands of nodes, and in a networked host node.
//!
//! ## Layers
//!
//! Bottom up. A module may use the modules of the items before its own, and no
//! others: not a later item's, and not another module of its own item (modules named
//! in one item are independent peers). This holds for code and for doc links alike;
//! `tests/tests/architecture.rs` parses this list and checks every `crate::` path in
//! `core/src`, so a new module must be added here.
//!
//! 1. [`hash`], [`sig`], [`lipmaa`]: SHA-256 ids, glitter's Ed25519 signature rule,
//!    and Bamboo's skip-link function with shortest certificate paths.
//! 2. [`wire`]: canonical bytes of the block header (fixed layout) and strict decoding.
//! 3. [`social`]: every typed payload (postcard over heapless types) with size bounds,
//!    including the data of backup manifests and of claims.
//! 4. [`chain`]: the incremental validator [`chain::ChainState`], fork proofs and
//!    certificate-path verification.
//! 5. [`block`], [`attest`], [`store`]: building and signing blocks; witness
//!    consensus; the append-only block log on NOR flash.
//! 6. [`sync`]: sans-IO replication (and replication straight into the flash log).
//! 7. [`backup`], `zk`: web-of-trust backup of the seed and the chain; claims and
//!    their proofs (cargo feature `zk`, on by default).
//!
//! ## Features
//!
//! - `zk` (default): the `zk` module, on curve25519-dalek. Without it, claim blocks
//!   are still decoded, validated, stored and replicated exactly as with it: the chain
//!   validator checks a claim's structure and canonical encoding, never its proof
//!   (proofs are checked by `zk::verify_claim_block`, which needs the feature).
//! - `zk-precomputed-tables`: faster proving for about 30 KB more flash (implies `zk`).
//! - `defmt`: `defmt::Format` on public types.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod attest;
pub mod backup;
pub mod block;
pub mod chain;
pub mod hash;
pub mod lipmaa;
pub mod sig;
pub mod social;
pub mod store;
pub mod sync;
pub mod wire;
#[cfg(feature = "zk")]
pub mod zk;

pub use block::BlockBuilder;
pub use chain::{ChainError, ChainState, ForkProof};
pub use hash::Hash;
pub use sig::{KeyPair, PublicKey};
pub use store::{BlockLog, FlashLog, RamNorFlash};
pub use wire::header::{BlockKind, HEADER_LEN, Header, PAYLOAD_LEN_MAX};
