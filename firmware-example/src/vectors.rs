//! The pinned Ed25519 verdicts: the very table the host test checks
//! (`tests/vectors/ed25519/pinned.rs`, generated from the speccheck and Wycheproof
//! cases), compiled into the firmware so the two cannot drift.

include!("../../tests/vectors/ed25519/pinned.rs");
