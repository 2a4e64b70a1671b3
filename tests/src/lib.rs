//! Shared helpers for glitter's cross-crate tests.
