//! Memoised signature verdicts, shared by all simulated nodes.
//!
//! Thousands of simulated nodes receive the same block bytes; checking the same
//! signature on the same bytes gives the same verdict, so the simulator may check it
//! once, and likewise the admission of an author's key (a chain's genesis at every
//! follower). This is the only shortcut the simulator takes, it is off unless asked
//! for, and reports say when it was on. Every other check runs per node.

use glitter_core::chain::{Ed25519Check, SignatureCheck};
use glitter_core::sig::{PublicKey, SigError};
use glitter_core::wire::header::Header;
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::rc::Rc;

/// Shared verdict cache, keyed by the full header bytes' SHA-256 (the block id, which
/// covers the signature).
#[derive(Clone, Debug, Default)]
pub struct SigCache {
    inner: Rc<RefCell<CacheInner>>,
    enabled: bool,
}

#[derive(Debug, Default)]
struct CacheInner {
    verdicts: HashMap<[u8; 32], Result<(), SigError>>,
    real_checks: u64,
    hits: u64,
    /// Author admissions (`PublicKey::validate`) by key bytes.
    admissions: HashMap<[u8; 32], Result<(), SigError>>,
    real_admissions: u64,
}

impl SigCache {
    /// A cache; with `enabled` false every check is a real check.
    pub fn new(enabled: bool) -> SigCache {
        SigCache {
            inner: Rc::default(),
            enabled,
        }
    }

    /// Real signature verifications performed.
    pub fn real_checks(&self) -> u64 {
        self.inner.borrow().real_checks
    }

    /// Checks answered from the cache.
    pub fn hits(&self) -> u64 {
        self.inner.borrow().hits
    }

    /// Real author-key admission checks performed (`PublicKey::validate`, one
    /// scalar multiplication each; memoised like signatures).
    pub fn real_admissions(&self) -> u64 {
        self.inner.borrow().real_admissions
    }

    /// Whether memoisation is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

impl SignatureCheck for SigCache {
    fn check(&mut self, h: &Header) -> Result<(), SigError> {
        let mut inner = self.inner.borrow_mut();
        if !self.enabled {
            inner.real_checks += 1;
            return Ed25519Check.check(h);
        }
        let id = h.id().0;
        if let Some(v) = inner.verdicts.get(&id).copied() {
            inner.hits += 1;
            return v;
        }
        inner.real_checks += 1;
        let v = Ed25519Check.check(h);
        inner.verdicts.insert(id, v);
        v
    }

    fn admit(&mut self, key: &PublicKey) -> Result<(), SigError> {
        let mut inner = self.inner.borrow_mut();
        if !self.enabled {
            inner.real_admissions += 1;
            return key.validate();
        }
        if let Some(v) = inner.admissions.get(&key.0).copied() {
            return v;
        }
        inner.real_admissions += 1;
        let v = key.validate();
        inner.admissions.insert(key.0, v);
        v
    }
}
