//! The batch equation over one chunk of signatures, and the per-item fallback to the
//! single path. See the parent module for the argument that verdicts equal
//! [`glitter_core::sig::verify`]'s.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use glitter_core::sig::{self, PublicKey, SigError, Signature};
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};
use std::sync::OnceLock;

/// One signature to check: `sig` by `key` over `msg`.
#[derive(Clone, Copy, Debug)]
pub struct SigItem<'a> {
    /// The signer's key.
    pub key: &'a PublicKey,
    /// The signed message.
    pub msg: &'a [u8],
    /// The signature `R ‖ S`.
    pub sig: &'a Signature,
}

/// Bytes of one batch weight `z_i`: 128 bits.
pub(crate) const WEIGHT_LEN: usize = 16;

/// A random 128-bit batch weight, drawn from the caller's CSPRNG.
pub(crate) type Weight = [u8; WEIGHT_LEN];

/// Draws `n` weights from `rng`. The lowest bit is set so that no weight is zero
/// (a zero weight would drop its item from the equation); 2^127 values remain.
pub(crate) fn draw_weights<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> Vec<Weight> {
    let mut bytes = vec![0u8; n.saturating_mul(WEIGHT_LEN)];
    rng.fill_bytes(&mut bytes);
    bytes
        .chunks_exact(WEIGHT_LEN)
        .map(|c| {
            let mut w = [0u8; WEIGHT_LEN];
            w.copy_from_slice(c);
            w[0] |= 1;
            w
        })
        .collect()
}

fn weight_scalar(w: &Weight) -> Scalar {
    let mut b = [0u8; 32];
    b[..WEIGHT_LEN].copy_from_slice(w);
    // Below 2^128 < L: already reduced.
    Scalar::from_bytes_mod_order(b)
}

/// The distinct keys of a chunk: each key's point, if it may enter the batch, and the
/// running coefficient `Σ z_i k_i` of its items.
#[derive(Default)]
struct Keys {
    entries: Vec<KeyEntry>,
    last: usize,
    index: std::collections::HashMap<[u8; 32], usize>,
}

struct KeyEntry {
    bytes: [u8; 32],
    /// `None`: the key's items go to the single path.
    point: Option<EdwardsPoint>,
    coef: Scalar,
}

/// Up to this many distinct keys are looked up by scanning, beyond it by hashing.
const KEY_SCAN: usize = 8;

impl Keys {
    /// The slot of `key`, decoding it on first sight.
    fn slot(&mut self, key: &[u8; 32]) -> usize {
        if let Some(e) = self.entries.get(self.last)
            && e.bytes == *key
        {
            return self.last;
        }
        let found = if self.entries.len() <= KEY_SCAN {
            self.entries.iter().position(|e| e.bytes == *key)
        } else {
            self.index.get(key).copied()
        };
        let slot = found.unwrap_or_else(|| {
            self.entries.push(KeyEntry {
                bytes: *key,
                point: batchable_point(key),
                coef: Scalar::ZERO,
            });
            let slot = self.entries.len() - 1;
            if self.entries.len() > KEY_SCAN {
                if self.index.is_empty() {
                    for (i, e) in self.entries.iter().enumerate() {
                        self.index.insert(e.bytes, i);
                    }
                } else {
                    self.index.insert(*key, slot);
                }
            }
            slot
        });
        self.last = slot;
        slot
    }
}

/// The point `bytes` encodes, if it may enter the batch: it decodes, its encoding is
/// the canonical one (decoding and re-encoding gives the same bytes), and it is not of
/// small order. A conservative filter, not a verdict: anything it refuses goes to the
/// single path, which names the rule.
fn batchable_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let p = CompressedEdwardsY(*bytes).decompress()?;
    (p.compress().0 == *bytes && !p.is_small_order()).then_some(p)
}

/// The canonical encodings of the eight points of small order, computed once from
/// curve25519-dalek's table of them.
fn small_order_encodings() -> &'static [[u8; 32]; 8] {
    static TABLE: OnceLock<[[u8; 32]; 8]> = OnceLock::new();
    TABLE.get_or_init(|| EIGHT_TORSION.map(|t| t.compress().0))
}

/// An item that passed the filter: its index in the chunk, `R`, `S` and key slot.
struct Candidate {
    index: usize,
    r: EdwardsPoint,
    s: Scalar,
    key: usize,
}

fn split(sig: &Signature) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&sig[..32]);
    s.copy_from_slice(&sig[32..]);
    (r, s)
}

/// Checks one chunk. Returns the failing items (index in `items`, the single path's
/// error), ascending; with `first_only`, at most the first one.
///
/// `weights` must be at least as long as `items` and fresh from a CSPRNG.
pub(crate) fn check_chunk(
    items: &[SigItem<'_>],
    weights: &[Weight],
    first_only: bool,
) -> Vec<(usize, SigError)> {
    let mut keys = Keys::default();
    let mut single: Vec<usize> = Vec::new();
    let mut cands: Vec<Candidate> = Vec::with_capacity(items.len());
    // Rule 1 with core's own function; rules 2–3 through the conservative filter.
    for (index, it) in items.iter().enumerate() {
        let (r_bytes, s_bytes) = split(it.sig);
        let s = sig::scalar_is_canonical(&s_bytes)
            .then(|| Scalar::from_canonical_bytes(s_bytes).into_option())
            .flatten();
        let key = keys.slot(&it.key.0);
        let key_ok = keys.entries.get(key).is_some_and(|e| e.point.is_some());
        let r = match (s, key_ok) {
            (Some(_), true) => CompressedEdwardsY(r_bytes).decompress(),
            _ => None,
        };
        match (s, r) {
            (Some(s), Some(r)) => cands.push(Candidate { index, r, s, key }),
            _ => single.push(index),
        }
    }
    // Canonical R: re-encode all candidates with one shared inversion. A canonical
    // encoding is of a small-order point iff it is one of the eight in the table.
    let points: Vec<EdwardsPoint> = cands.iter().map(|c| c.r).collect();
    let encoded = EdwardsPoint::compress_batch_alloc(&points);
    let weak = small_order_encodings();
    let mut kept = Vec::with_capacity(cands.len());
    for (c, enc) in cands.into_iter().zip(encoded) {
        let canonical = items
            .get(c.index)
            .is_some_and(|it| it.sig[..32] == enc.0[..]);
        if canonical && !weak.contains(&enc.0) {
            kept.push(c);
        } else {
            single.push(c.index);
        }
    }
    if !kept.is_empty() && !batch_equation_holds(items, weights, &kept, &mut keys) {
        single.extend(kept.iter().map(|c| c.index));
    }
    single.sort_unstable();
    let mut failures = Vec::new();
    for i in single {
        let Some(it) = items.get(i) else { continue };
        if let Err(e) = sig::verify(&it.key.0, it.msg, it.sig) {
            failures.push((i, e));
            if first_only {
                break;
            }
        }
    }
    failures
}

/// `[8]( Σ z_i R_i + Σ_A (Σ z_i k_i) A − (Σ z_i s_i) B ) = 0`, the negated cofactored
/// batch equation, with the `A` terms grouped by distinct key.
fn batch_equation_holds(
    items: &[SigItem<'_>],
    weights: &[Weight],
    cands: &[Candidate],
    keys: &mut Keys,
) -> bool {
    let mut scalars: Vec<Scalar> = Vec::with_capacity(cands.len() + keys.entries.len() + 1);
    let mut points: Vec<EdwardsPoint> = Vec::with_capacity(scalars.capacity());
    let mut s_sum = Scalar::ZERO;
    for c in cands {
        let (Some(it), Some(w), Some(entry)) = (
            items.get(c.index),
            weights.get(c.index),
            keys.entries.get_mut(c.key),
        ) else {
            return false;
        };
        let mut h = Sha512::new();
        h.update(&it.sig[..32]);
        h.update(it.key.0);
        h.update(it.msg);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let z = weight_scalar(w);
        s_sum += z * c.s;
        entry.coef += z * k;
        scalars.push(z);
        points.push(c.r);
    }
    for e in &keys.entries {
        if let Some(p) = e.point
            && e.coef != Scalar::ZERO
        {
            scalars.push(e.coef);
            points.push(p);
        }
    }
    scalars.push(-s_sum);
    points.push(ED25519_BASEPOINT_POINT);
    EdwardsPoint::vartime_multiscalar_mul(&scalars, &points).is_small_order()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `y = p + d` (a non-canonical encoding), with the sign bit given.
    fn above_p(d: u8, sign: bool) -> [u8; 32] {
        let mut y = [0xffu8; 32];
        y[0] = 0xed_u8.wrapping_add(d);
        y[31] = 0x7f | (u8::from(sign) << 7);
        y
    }

    /// The filter refuses exactly what ed25519-compact's own key check refuses (not a
    /// canonical encoding of a point, or a point of small order), on edge encodings
    /// and on random bytes: whatever passes satisfies rules 2 and 3.
    #[test]
    fn the_point_filter_matches_compacts_key_check() {
        let agree = |b: [u8; 32]| {
            let lib = ed25519_compact::PublicKey::new(b).validate().is_ok();
            assert_eq!(batchable_point(&b).is_some(), lib, "{b:02x?}");
            lib
        };
        let mut passed = 0;
        for d in 0..19 {
            for sign in [false, true] {
                assert!(!agree(above_p(d, sign)), "y = p + {d}");
            }
        }
        // Negative zero: (0, 1) and (0, −1) with the sign bit set.
        let mut one = [0u8; 32];
        one[0] = 1;
        one[31] = 0x80;
        assert!(!agree(one));
        let mut minus_one = above_p(0, true);
        minus_one[0] = 0xec;
        assert!(!agree(minus_one));
        for t in curve25519_dalek::constants::EIGHT_TORSION {
            assert!(!agree(t.compress().0));
        }
        // Random bytes (about half are points), and y just below p.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..4000u32 {
            let mut b = [0u8; 32];
            for chunk in b.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            if i % 4 == 0 {
                b[1..31].fill(0xff);
                b[31] |= 0x7f;
                b[0] = 0xd0 | (b[0] & 0x1f);
            }
            passed += usize::from(agree(b));
        }
        assert!((1000..3000).contains(&passed), "{passed}");
    }

    /// The table holds exactly the encodings the point filter calls small-order.
    #[test]
    fn the_small_order_table_is_the_eight_points() {
        let t = small_order_encodings();
        let distinct: std::collections::BTreeSet<_> = t.iter().collect();
        assert_eq!(distinct.len(), 8);
        for e in t {
            let p = CompressedEdwardsY(*e).decompress().unwrap();
            assert!(p.is_small_order() && p.compress().0 == *e);
            assert_eq!(
                ed25519_compact::PublicKey::new(*e).validate(),
                Err(ed25519_compact::Error::WeakPublicKey)
            );
        }
    }

    #[test]
    fn weights_are_odd_and_fresh() {
        use rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let w = draw_weights(&mut rng, 100);
        assert_eq!(w.len(), 100);
        assert!(w.iter().all(|w| w[0] & 1 == 1));
        let distinct: std::collections::BTreeSet<_> = w.iter().collect();
        assert_eq!(distinct.len(), 100);
        assert!(check_chunk(&[], &[], false).is_empty());
    }
}
