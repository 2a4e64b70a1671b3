//! The model of key admission ("which keys are identities", `core/src/sig.rs` and
//! docs/ZK.md): a key is admitted iff it is the canonical encoding of a curve point,
//! that point is not of small order, and it lies in the prime-order subgroup.
//!
//! Restated with curve25519-dalek's point arithmetic, not with glitter's byte rules
//! and ed25519-compact's X25519 ladder that `PublicKey::validate` uses.

use curve25519_dalek::edwards::CompressedEdwardsY;

/// True iff `key` is an admissible identity.
pub fn admitted(key: &[u8; 32]) -> bool {
    let Some(p) = CompressedEdwardsY(*key).decompress() else {
        return false;
    };
    // Canonical: the point re-encodes to the very bytes (y < p, no negative zero).
    p.compress().0 == *key && !p.is_small_order() && p.is_torsion_free()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honest_keys_are_admitted_and_small_order_points_are_not() {
        for seed in 1..=5u8 {
            assert!(admitted(&crate::fixtures::keys(seed).public().0));
        }
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!admitted(&identity));
        assert!(!admitted(&[0; 32]));
        assert!(!admitted(&[0xff; 32]));
    }
}
