//! Strict decoding of keys and scalars, and the secret scalar behind a glitter key.
//!
//! # Which group element a proof is about
//!
//! An Ed25519 public key `A` may in principle carry a small torsion component
//! (`A = x·B + T`, with `T` of order dividing 8). Honest keys never do: RFC 8032 clamps
//! the secret to a multiple of 8, so `A = x·B` lies in the prime-order subgroup. Such
//! keys are not admitted: [`decode_key`] applies [`PublicKey::validate`], glitter's one
//! key check (canonical, not small order, torsion-free), so the eight keys `x·B + T`
//! of one secret cannot be eight "distinct" ring members.
//!
//! The proofs are about `P = 8·A` and the witness `w = 8·x mod ℓ`, so that `P = w·B`
//! holds exactly in the prime-order group (for an admitted key `8·A` is simply `A`
//! scaled; the factor is kept so the proof format is unchanged). The proofs carry no
//! points at all, only scalars, and scalars must be canonical (below ℓ).

use super::ZkError;
use super::transcript::Transcript;
use crate::sig::{KeyPair, PublicKey, SigError};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::{Scalar, clamp_integer};
use curve25519_dalek::traits::IsIdentity;
use ed25519_compact::sha512::Hash as Sha512;
use rand_core::CryptoRng;

/// Admits `key` with [`PublicKey::validate`] and returns `P = 8·A`.
///
/// # Errors
/// [`ZkError::NonCanonicalKey`], [`ZkError::WeakKey`] or
/// [`ZkError::TorsionComponent`], naming `index`.
pub fn decode_key(key: &PublicKey, index: usize) -> Result<EdwardsPoint, ZkError> {
    key.validate().map_err(|e| match e {
        SigError::WeakKey => ZkError::WeakKey { index },
        SigError::TorsionComponent => ZkError::TorsionComponent { index },
        _ => ZkError::NonCanonicalKey { index },
    })?;
    // A validated key is a canonical point, so this cannot fail; if it did, reject.
    let point = CompressedEdwardsY(key.0)
        .decompress()
        .ok_or(ZkError::NonCanonicalKey { index })?;
    let cleared = point.mul_by_cofactor();
    if cleared.is_identity() {
        return Err(ZkError::WeakKey { index });
    }
    Ok(cleared)
}

/// Decodes a canonical scalar (below ℓ).
///
/// # Errors
/// [`ZkError::NonCanonicalScalar`].
pub fn decode_scalar(bytes: [u8; 32]) -> Result<Scalar, ZkError> {
    Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes)).ok_or(ZkError::NonCanonicalScalar)
}

/// The secret behind a glitter key, in the form the proofs use.
pub struct Secret {
    /// `w = 8·x mod ℓ`, where `x` is RFC 8032's clamped secret scalar.
    pub w: Scalar,
    /// RFC 8032's second half of `SHA-512(seed)` (the signing "prefix"): secret key
    /// material that seeds the hedged nonces.
    pub prefix: [u8; 32],
}

impl Secret {
    /// Derives the secret from a key pair as RFC 8032 §5.1.5 does: `h = SHA-512(seed)`,
    /// `x = clamp(h[0..32])`; the witness is `w = 8·x mod ℓ`.
    pub fn from_key_pair(keys: &KeyPair) -> Secret {
        let h: [u8; 64] = Sha512::hash(keys.seed());
        let mut low = [0u8; 32];
        let mut prefix = [0u8; 32];
        let (a, b) = h.split_at(32);
        low.copy_from_slice(a);
        prefix.copy_from_slice(b);
        let x = Scalar::from_bytes_mod_order(clamp_integer(low));
        Secret {
            w: Scalar::from(8u8) * x,
            prefix,
        }
    }

    /// Checks that `w·B = P` for the decoded key `p`: the witness fits the key.
    pub fn fits(&self, p: &EdwardsPoint) -> bool {
        EdwardsPoint::mul_base(&self.w) == *p
    }
}

/// Hedged randomness for one proof: every scalar the prover draws depends on the
/// caller's RNG *and* on the secret and the full transcript prefix (statement and
/// binding). With a good RNG the draws are uniform; with a stuck or repeating RNG they
/// still never repeat for different statements or bindings, so the secret cannot be
/// solved for from two proofs (the failure that broke ECDSA on the PS3).
pub struct Nonces {
    seed: [u8; 64],
}

impl Nonces {
    /// Starts a stream from the secret's prefix, the transcript so far and 32 bytes of
    /// `rng` output.
    pub fn new<R: CryptoRng + ?Sized>(secret: &Secret, prefix: &Transcript, rng: &mut R) -> Nonces {
        let mut fresh = [0u8; 32];
        rng.fill_bytes(&mut fresh);
        let mut t = prefix.clone();
        t.append(b"nonce-key", &secret.prefix);
        t.append(b"nonce-rng", &fresh);
        Nonces {
            seed: t.finish_bytes(b"nonces"),
        }
    }

    /// The `i`-th scalar of the stream.
    pub fn scalar(&self, i: u64) -> Scalar {
        let mut h = Sha512::new();
        h.update(b"glitter/zk/v1/nonce");
        h.update(self.seed);
        h.update(i.to_le_bytes());
        Scalar::from_bytes_mod_order_wide(&h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witness_matches_the_ed25519_key() {
        for i in 1..=20u8 {
            let keys = KeyPair::from_seed([i; 32]).unwrap();
            let secret = Secret::from_key_pair(&keys);
            let p = decode_key(&keys.public(), 0).unwrap();
            assert!(secret.fits(&p));
            // And x itself gives A: the derivation is RFC 8032's.
            let x = secret.w * Scalar::from(8u8).invert();
            assert_eq!(EdwardsPoint::mul_base(&x).compress().0, keys.public().0);
        }
    }

    #[test]
    fn identity_and_non_canonical_keys_are_rejected() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            decode_key(&PublicKey(identity), 3),
            Err(ZkError::WeakKey { index: 3 })
        );
        // y = p + 1 is a non-canonical encoding of y = 1 (the identity).
        let mut p_plus_one = [0xffu8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert_eq!(
            decode_key(&PublicKey(p_plus_one), 0),
            Err(ZkError::NonCanonicalKey { index: 0 })
        );
        // "Negative zero": the identity with the sign bit set.
        let mut neg_zero = identity;
        neg_zero[31] |= 0x80;
        assert_eq!(
            decode_key(&PublicKey(neg_zero), 0),
            Err(ZkError::NonCanonicalKey { index: 0 })
        );
        // Not on the curve at all (y = 2 has no x).
        let mut two = [0u8; 32];
        two[0] = 2;
        assert_eq!(
            decode_key(&PublicKey(two), 1),
            Err(ZkError::NonCanonicalKey { index: 1 })
        );
    }

    #[test]
    fn torsioned_keys_cannot_join_a_ring() {
        // x·B + T for T the point (0, −1) of order 2 and a point of order 8.
        let keys = KeyPair::from_seed([9; 32]).unwrap();
        let a = CompressedEdwardsY(keys.public().0).decompress().unwrap();
        let mut order_2 = [0xffu8; 32];
        order_2[0] = 0xec;
        order_2[31] = 0x7f;
        // The order-8 point with y = 0x05fc…e826 (sign bit clear), as in sig.rs.
        let order_8: [u8; 32] =
            hex::decode("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
                .unwrap()
                .try_into()
                .unwrap();
        let torsion = [
            CompressedEdwardsY(order_2).decompress().unwrap(),
            CompressedEdwardsY(order_8).decompress().unwrap(),
        ];
        for t in torsion {
            let bad = PublicKey((a + t).compress().0);
            assert_eq!(
                decode_key(&bad, 2),
                Err(ZkError::TorsionComponent { index: 2 })
            );
        }
    }

    #[test]
    fn scalars_must_be_below_the_order() {
        assert!(decode_scalar([0; 32]).is_ok());
        assert_eq!(decode_scalar([0xff; 32]), Err(ZkError::NonCanonicalScalar));
        // ℓ itself, little-endian.
        let l: [u8; 32] =
            hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(decode_scalar(l), Err(ZkError::NonCanonicalScalar));
        let mut below = l;
        below[0] -= 1;
        assert!(decode_scalar(below).is_ok());
    }
}
