//! Identities and glitter's Ed25519 signature rule.
//!
//! An author is a 32-byte Ed25519 public key. A [`KeyPair`] comes from a 32-byte seed
//! (RFC 8032 key generation), and signing is deterministic, so it needs no RNG.
//!
//! # The signature rule (consensus-critical)
//!
//! Ed25519 implementations disagree on edge cases, so glitter fixes its own rule and
//! pins its verdict on public vectors in tests that run on the host and on the
//! firmware. A signature `(R, S)` by key `A` over message `M` is accepted iff **all** of:
//!
//! 1. `S < L` (the group order): no malleability by adding `L` to `S`.
//! 2. `A` and `R` are canonical point encodings: `y < p`, and the sign bit is clear
//!    when `x = 0`.
//! 3. Neither `A` nor `R` is one of the eight small-order points.
//! 4. `8·(S·B − k·A − R) = 0` with `k = SHA-512(R ‖ A ‖ M) mod L` (the *cofactored*
//!    equation).
//!
//! Rules 1–3 are checked here on the bytes, independently of the library; rule 4 (and
//! again 1–3) is ed25519-compact's `verify`. Because 2–3 exclude every small-order
//! `A` and `R`, the cofactored and cofactorless equations differ only for keys or
//! nonces with a torsion component, which an honest signer never produces.
//!
//! # Which keys are identities
//!
//! The cofactored equation cannot tell `A` from `A + T` for a small-order `T`: one
//! secret would sign for eight different keys, that is eight chains, or eight
//! "distinct" ring members, witnesses or custodians. So a key is only *admitted* as an
//! identity (a chain's author at genesis, a ring member, a designated witness, a
//! backup custodian) if, on top of rules 2–3, it is **torsion-free**: `ℓ·A` is the
//! identity, i.e. `A` lies in the prime-order subgroup, as every RFC 8032 key does.
//! [`PublicKey::validate`] is that admission check and the only one; signature
//! verification itself does not repeat it (it would double the cost of every
//! verification), because every key it is asked about was admitted first.

use ed25519_compact as ed;
use ed25519_compact::x25519;

/// Length of a signature in bytes.
pub const SIGNATURE_LEN: usize = 64;

/// A 64-byte Ed25519 signature `R ‖ S`.
pub type Signature = [u8; SIGNATURE_LEN];

/// Why a key or signature is rejected by glitter's rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SigError {
    /// `S ≥ L`: a malleated or non-canonical scalar (rule 1).
    NonCanonicalS,
    /// The key is not a canonical encoding of a curve point (rule 2).
    NonCanonicalKey,
    /// The key is a small-order point such as the identity or all-zero (rule 3).
    WeakKey,
    /// The key is a point of large order with a small-order (torsion) component,
    /// `A = x·B + T`: the same secret would also sign for the other seven `x·B + T'`.
    /// Not admitted as an identity (see "Which keys are identities" above).
    TorsionComponent,
    /// `R` is not a canonical encoding of a curve point (rule 2).
    NonCanonicalR,
    /// `R` is a small-order point (rule 3).
    WeakR,
    /// The verification equation does not hold (rule 4).
    Mismatch,
}

impl core::fmt::Display for SigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SigError::NonCanonicalS => "signature scalar S is not below the group order",
            SigError::NonCanonicalKey => "public key is not a canonical point encoding",
            SigError::WeakKey => "public key is a small-order point",
            SigError::TorsionComponent => {
                "public key has a small-order component (not in the prime-order subgroup)"
            }
            SigError::NonCanonicalR => "signature point R is not a canonical encoding",
            SigError::WeakR => "signature point R is a small-order point",
            SigError::Mismatch => "signature does not match the key and message",
        })
    }
}

impl core::error::Error for SigError {}

/// The group order `L = 2^252 + 27742317777372353535851937790883648493`, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `p` with its sign bit (the sign of `x`) set: the encoding of the point `(−x, y)`.
/// The small-order points other than `(0, ±1)` come in such pairs.
const fn negate_x(mut p: [u8; 32]) -> [u8; 32] {
    p[31] |= 0x80;
    p
}

/// A point of order 8, sign bit clear (its `−x` twin is also of order 8).
const ORDER_8_A: [u8; 32] = [
    0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
    0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
];

/// The other `y` of order 8, sign bit clear.
const ORDER_8_B: [u8; 32] = [
    0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
    0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
];

/// The canonical encodings of the eight points of small order (order 1, 2, 4 and 8).
/// Source of the facts: the small-order blocklist discussed in "Taming the many
/// EdDSAs" (Chalkias, Garillot, Nikolaenko, 2020) and RFC 7748 §6.
const SMALL_ORDER: [[u8; 32]; 8] = [
    // identity (0, 1)
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    // order 2: (0, -1)
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // order 4: (±sqrt(-1), 0)
    [0; 32],
    negate_x([0; 32]),
    // order 8: (±x, y) for two values of y
    ORDER_8_A,
    negate_x(ORDER_8_A),
    ORDER_8_B,
    negate_x(ORDER_8_B),
];

/// Compares two little-endian 256-bit numbers: `a < b`.
fn lt_le(a: &[u8; 32], b: &[u8; 32]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// True if `s` (little-endian) is below the group order `L` (rule 1).
pub fn scalar_is_canonical(s: &[u8; 32]) -> bool {
    lt_le(s, &L)
}

/// Rule 2 on the bytes alone: `y < p = 2^255 − 19` and no "negative zero" x for the two
/// points with `x = 0` (`y = ±1`). Points that are not on the curve at all are left
/// to the library, which rejects them too.
fn point_is_canonical(p: &[u8; 32]) -> bool {
    let mut y = *p;
    let sign = y[31] >> 7;
    y[31] &= 0x7f;
    // p = 2^255 - 19, little-endian: ed ff .. ff 7f
    let mut pm = [0xffu8; 32];
    pm[0] = 0xed;
    pm[31] = 0x7f;
    if !lt_le(&y, &pm) {
        return false;
    }
    // x = 0 exactly when y = 1 or y = p - 1; then the sign bit must be clear.
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut p_minus_one = pm;
    p_minus_one[0] = 0xec;
    !(sign == 1 && (y == one || y == p_minus_one))
}

fn is_small_order(p: &[u8; 32]) -> bool {
    SMALL_ORDER.iter().any(|s| s == p)
}

/// `ℓ − 1`, little-endian.
const L_MINUS_ONE: [u8; 32] = {
    let mut l = L;
    l[0] -= 1;
    l
};

/// True if the canonical, on-curve, not-small-order key `key` lies in the prime-order
/// subgroup (`ℓ·A` is the identity); `None` if the library cannot map it to
/// Montgomery form (not a point, or small order: excluded by the caller already).
///
/// Computed on the Montgomery `u`-coordinate with ed25519-compact's X25519 ladder
/// (already in every build for backup sealing), so it costs no new code on the
/// firmware. `u` identifies `P` up to sign, and `u((ℓ − 1)·P) = u(P)` holds exactly
/// when `(ℓ − 1)·P = ±P`. The `−P` case is `ℓ·P = 0`, torsion-free. The `+P` case
/// is `(ℓ − 2)·P = 0`, impossible for `P ≠ 0` because the group order `8ℓ` is coprime
/// to `ℓ − 2` (odd, and `ℓ` is prime). Comparing with `ℓ − 1` rather than testing
/// `u(ℓ·P) = 0` matters: the ladder maps both the identity and the order-2 point
/// `(0, −1)` to `u = 0`, so `A + (0, −1)` would slip through that test.
fn is_torsion_free(key: &[u8; 32]) -> Option<bool> {
    let u = x25519::PublicKey::from_ed25519(&ed::PublicKey::new(*key)).ok()?;
    let m = u.unclamped_mul(&x25519::SecretKey::new(L_MINUS_ONE)).ok()?;
    Some(*m == *u)
}

/// Admits a public key as an identity: rules 2 and 3 (and the library's own point
/// decoding), then torsion-freeness (see the module docs).
///
/// # Errors
/// [`SigError::NonCanonicalKey`], [`SigError::WeakKey`] or
/// [`SigError::TorsionComponent`].
pub fn validate_key(key: &[u8; 32]) -> Result<(), SigError> {
    check_encoding(key)?;
    match is_torsion_free(key) {
        Some(true) => Ok(()),
        Some(false) => Err(SigError::TorsionComponent),
        // Unreachable after `check_encoding`; rejecting is the safe answer.
        None => Err(SigError::NonCanonicalKey),
    }
}

/// Rules 2–3 alone (and the library's point decoding), without the torsion check:
/// only for re-checking a key that was admitted earlier, as the chain validator does
/// when it resumes a chain with a verified head. Admitting a key is [`validate_key`]'s
/// job.
pub(crate) fn check_encoding(key: &[u8; 32]) -> Result<(), SigError> {
    if !point_is_canonical(key) {
        return Err(SigError::NonCanonicalKey);
    }
    if is_small_order(key) {
        return Err(SigError::WeakKey);
    }
    match ed::PublicKey::new(*key).validate() {
        Ok(()) => Ok(()),
        Err(ed::Error::WeakPublicKey) => Err(SigError::WeakKey),
        Err(_) => Err(SigError::NonCanonicalKey),
    }
}

/// A short, stable name for whether `key` is admitted as an identity
/// ([`validate_key`]): `"accept"`, `"non-canonical-key"`, `"weak-key"`,
/// `"torsion-component"`, or `"bad-length"` when it is not 32 bytes. Pinned test
/// vectors record these names next to the signature verdicts of [`verdict`].
pub fn key_verdict(key: &[u8]) -> &'static str {
    let Ok(key) = <&[u8; 32]>::try_from(key) else {
        return "bad-length";
    };
    match validate_key(key) {
        Ok(()) => "accept",
        Err(e) => e.name(),
    }
}

/// Verifies `sig` by `key` over `msg` under glitter's rule (see the module docs).
///
/// # Errors
/// The first rule that fails, in the order S, key, R, equation.
pub fn verify(key: &[u8; 32], msg: &[u8], sig: &Signature) -> Result<(), SigError> {
    let (r, s) = split_sig(sig);
    if !scalar_is_canonical(&s) {
        return Err(SigError::NonCanonicalS);
    }
    if !point_is_canonical(key) {
        return Err(SigError::NonCanonicalKey);
    }
    if is_small_order(key) {
        return Err(SigError::WeakKey);
    }
    if !point_is_canonical(&r) {
        return Err(SigError::NonCanonicalR);
    }
    if is_small_order(&r) {
        return Err(SigError::WeakR);
    }
    let pk = ed::PublicKey::new(*key);
    match pk.verify(msg, &ed::Signature::new(*sig)) {
        Ok(()) => Ok(()),
        Err(ed::Error::NonCanonical) => Err(SigError::NonCanonicalS),
        Err(ed::Error::WeakPublicKey) => Err(SigError::WeakKey),
        Err(ed::Error::InvalidPublicKey) => Err(SigError::NonCanonicalKey),
        // R failed to decode or is weak: the library reports both as InvalidSignature.
        Err(ed::Error::InvalidSignature) => Err(SigError::NonCanonicalR),
        Err(_) => Err(SigError::Mismatch),
    }
}

/// A short, stable name for the verdict of glitter's rule on raw bytes: `"accept"`, or
/// the failing rule (`"non-canonical-s"`, `"non-canonical-key"`, `"weak-key"`,
/// `"non-canonical-r"`, `"weak-r"`, `"mismatch"`), or `"bad-length"` when the key is not
/// 32 bytes or the signature not 64. Pinned test vectors record these names, so the
/// host and the firmware compare verdicts through this one function.
pub fn verdict(key: &[u8], msg: &[u8], sig: &[u8]) -> &'static str {
    let (Ok(key), Ok(sig)) = (<&[u8; 32]>::try_from(key), <&Signature>::try_from(sig)) else {
        return "bad-length";
    };
    match verify(key, msg, sig) {
        Ok(()) => "accept",
        Err(e) => e.name(),
    }
}

impl SigError {
    /// A short, stable, kebab-case name (used by pinned vectors).
    pub fn name(self) -> &'static str {
        match self {
            SigError::NonCanonicalS => "non-canonical-s",
            SigError::NonCanonicalKey => "non-canonical-key",
            SigError::WeakKey => "weak-key",
            SigError::TorsionComponent => "torsion-component",
            SigError::NonCanonicalR => "non-canonical-r",
            SigError::WeakR => "weak-r",
            SigError::Mismatch => "mismatch",
        }
    }
}

fn split_sig(sig: &Signature) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    let (a, b) = sig.split_at(32);
    r.copy_from_slice(a);
    s.copy_from_slice(b);
    (r, s)
}

/// An author's identity: a 32-byte Ed25519 public key.
///
/// Constructing one does not validate it; [`PublicKey::validate`] applies rules 2–3
/// and torsion-freeness, and everything that admits a key as an identity (a chain's
/// genesis, a ring, a witness or custodian designation) rejects keys that fail it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Admission as an identity: canonical, not small order, torsion-free (in the
    /// prime-order subgroup). The one key check of glitter; see [`validate_key`].
    ///
    /// # Errors
    /// [`SigError::NonCanonicalKey`], [`SigError::WeakKey`] or
    /// [`SigError::TorsionComponent`].
    pub fn validate(&self) -> Result<(), SigError> {
        validate_key(&self.0)
    }

    /// Verifies `sig` over `msg` by this key under glitter's rule.
    ///
    /// # Errors
    /// See [`verify`].
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), SigError> {
        verify(&self.0, msg, sig)
    }
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("@")?;
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…")
    }
}

impl core::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The all-zero seed was given; it is not accepted as a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ZeroSeed;

impl core::fmt::Display for ZeroSeed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the all-zero seed is not a valid secret")
    }
}

impl core::error::Error for ZeroSeed {}

/// An Ed25519 key pair derived from a 32-byte seed (RFC 8032 §5.1.5).
#[derive(Clone)]
pub struct KeyPair {
    inner: ed::KeyPair,
}

impl KeyPair {
    /// Derives the key pair from `seed`. Deterministic: the same seed gives the same keys.
    ///
    /// # Errors
    /// [`ZeroSeed`] for the all-zero seed, which ed25519-compact refuses (it would
    /// panic in its own `from_seed`; glitter never lets it).
    pub fn from_seed(seed: [u8; 32]) -> Result<KeyPair, ZeroSeed> {
        ed::KeyPair::try_from_seed(ed::Seed::new(seed))
            .map(|inner| KeyPair { inner })
            .map_err(|_| ZeroSeed)
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(*self.inner.pk)
    }

    /// The 32-byte seed this pair was derived from (the secret to back up).
    pub fn seed(&self) -> [u8; 32] {
        *self.inner.sk.seed()
    }

    /// Signs `msg` deterministically (no RNG, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        *self.inner.sk.sign(msg, None)
    }
}

impl core::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the secret.
        f.debug_struct("KeyPair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h32(s: &str) -> [u8; 32] {
        let v = hex::decode(s).unwrap();
        v.try_into().unwrap()
    }

    #[test]
    fn rfc8032_test_1_to_3() {
        // RFC 8032 §7.1, TEST 1..3: (secret key, public key, message, signature).
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
            (
                "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
                "af82",
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
            ),
        ];
        for (sk, pk, msg, sig) in cases {
            let kp = KeyPair::from_seed(h32(sk)).unwrap();
            assert_eq!(hex::encode(kp.public().0), pk);
            let m = hex::decode(msg).unwrap();
            let s = kp.sign(&m);
            assert_eq!(hex::encode(s), sig);
            assert_eq!(kp.public().verify(&m, &s), Ok(()));
            assert_eq!(kp.seed(), h32(sk));
        }
    }

    #[test]
    fn every_small_order_encoding_is_weak() {
        for p in SMALL_ORDER {
            assert!(point_is_canonical(&p), "{p:02x?}");
            assert_eq!(validate_key(&p), Err(SigError::WeakKey));
            // The library, independently, agrees that these are weak.
            assert_eq!(
                ed::PublicKey::new(p).validate(),
                Err(ed::Error::WeakPublicKey)
            );
        }
    }

    #[test]
    fn small_order_table_is_pinned() {
        // SHA-256 of the eight encodings in order, as first written out byte by byte.
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for p in SMALL_ORDER {
            h.update(p);
        }
        assert_eq!(
            hex::encode(h.finalize()),
            "184291c098c8d4765102a58e9123171015da440749a562dc7e80d7a573f6da01"
        );
    }

    #[test]
    fn mixed_order_keys_are_not_admitted() {
        // The mixed-order keys of "Taming the many EdDSAs" speccheck cases 2 and 3
        // (tests/vectors/ed25519/speccheck_cases.json): large order, plus torsion.
        for k in [
            "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
            "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        ] {
            assert_eq!(ed::PublicKey::new(h32(k)).validate(), Ok(()));
            assert_eq!(validate_key(&h32(k)), Err(SigError::TorsionComponent));
            assert_eq!(key_verdict(&h32(k)), "torsion-component");
        }
        // The RFC 8032 test key (prime order) is admitted.
        let rfc = h32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        assert_eq!(validate_key(&rfc), Ok(()));
        assert_eq!(key_verdict(&rfc[..31]), "bad-length");
    }

    /// Every key `x·B + T` for the eight small-order `T`: only `T = 0` is admitted, and
    /// the X25519-ladder check agrees with curve25519-dalek's `is_torsion_free` on
    /// every variant of many keys.
    #[cfg(feature = "zk")]
    #[test]
    fn torsion_check_agrees_with_dalek() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        for seed in 1..=40u8 {
            let a = KeyPair::from_seed([seed; 32]).unwrap().public();
            let point = CompressedEdwardsY(a.0).decompress().unwrap();
            let mut admitted = 0;
            for t in SMALL_ORDER {
                let variant = point + CompressedEdwardsY(t).decompress().unwrap();
                let key = variant.compress().0;
                let expected = if variant.is_torsion_free() {
                    Ok(())
                } else {
                    Err(SigError::TorsionComponent)
                };
                assert_eq!(validate_key(&key), expected, "seed {seed}, T {t:02x?}");
                admitted += usize::from(expected.is_ok());
            }
            assert_eq!(admitted, 1, "seed {seed}");
        }
    }

    #[test]
    fn malleated_s_is_rejected() {
        let kp = KeyPair::from_seed([7; 32]).unwrap();
        assert_eq!(KeyPair::from_seed([0; 32]).unwrap_err(), ZeroSeed);
        let mut sig = kp.sign(b"m");
        // S + L: add L to the little-endian S.
        let mut carry = 0u16;
        for i in 0..32 {
            let v = sig[32 + i] as u16 + L[i] as u16 + carry;
            sig[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(kp.public().verify(b"m", &sig), Err(SigError::NonCanonicalS));
    }

    #[test]
    fn non_canonical_y_is_rejected() {
        // y = p (non-canonical encoding of y = 0).
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert_eq!(validate_key(&p), Err(SigError::NonCanonicalKey));
        // negative zero x for the identity
        let mut id = [0u8; 32];
        id[0] = 1;
        id[31] = 0x80;
        assert_eq!(validate_key(&id), Err(SigError::NonCanonicalKey));
    }
}
