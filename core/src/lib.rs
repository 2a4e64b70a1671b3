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
//! Layers, bottom up (each module may use only the ones above it in this list):
//!
//! 1. [`hash`], [`sig`]: SHA-256 ids and glitter's Ed25519 signature rule.
//! 2. [`wire`]: canonical bytes of the block header (fixed layout) and strict decoding.
//! 3. [`lipmaa`]: Bamboo's skip-link function and shortest certificate paths.
//! 4. [`social`]: typed payloads (postcard over heapless types) with size bounds.
//! 5. [`block`]: building and signing blocks.
//! 6. [`chain`]: the incremental validator [`chain::ChainState`], fork proofs and
//!    certificate-path verification.
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
pub mod zk;

pub use block::BlockBuilder;
pub use chain::{ChainError, ChainState, ForkProof};
pub use hash::Hash;
pub use sig::{KeyPair, PublicKey};
pub use store::{BlockLog, FlashLog, RamNorFlash};
pub use wire::header::{BlockKind, HEADER_LEN, Header, PAYLOAD_LEN_MAX};
