//! Batch verification (`glitter_host::verify`) gives exactly the single path's verdicts
//! (`glitter_core::sig::verify`), item by item and for the batch as a whole: on every
//! pinned Ed25519 vector, and on more than 100,000 generated adversarial signatures
//! (torsion added to R and to A, S around L, bit flips, small-order and non-canonical
//! points, mixed batches, one bad item at every position).
//!
//! Seeded: `GLITTER_BATCH_SEED=N` replays another run; a failure prints its seed.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use glitter_core::sig::{self, KeyPair, PublicKey, SigError, Signature};
use glitter_host::verify::{ItemFailure, SigItem, verify_all, verify_each};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha512};

include!("../../../tests/vectors/ed25519/pinned.rs");

/// An owned signature case.
#[derive(Clone, Debug)]
struct Item {
    key: PublicKey,
    msg: Vec<u8>,
    sig: Signature,
}

impl Item {
    fn as_ref(&self) -> SigItem<'_> {
        SigItem {
            key: &self.key,
            msg: &self.msg,
            sig: &self.sig,
        }
    }
    fn single(&self) -> Result<(), SigError> {
        sig::verify(&self.key.0, &self.msg, &self.sig)
    }
}

/// Checks one batch both ways against the single path; returns how many were invalid.
fn check_batch(items: &[Item], rng: &mut ChaCha20Rng, threads: usize, seed: u64) -> usize {
    let refs: Vec<SigItem<'_>> = items.iter().map(Item::as_ref).collect();
    let expected: Vec<Result<(), SigError>> = items.iter().map(Item::single).collect();
    let got = verify_each(&refs, rng, threads);
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            g,
            e,
            "seed {seed}: item {i} of {} ({threads} threads): {:?}",
            items.len(),
            items[i]
        );
    }
    assert_eq!(got.len(), expected.len(), "seed {seed}");
    let first = expected
        .iter()
        .enumerate()
        .find_map(|(index, r)| r.err().map(|error| ItemFailure { index, error }));
    assert_eq!(
        verify_all(&refs, rng, threads).err(),
        first,
        "seed {seed}: batch of {} ({threads} threads)",
        items.len()
    );
    expected.iter().filter(|r| r.is_err()).count()
}

fn seed() -> u64 {
    std::env::var("GLITTER_BATCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(18)
}

#[test]
fn pinned_vectors_get_the_same_verdicts() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut items = Vec::new();
    for (name, key, msg, sig, verdict) in PINNED {
        let (Ok(key), Ok(sig)) = (<[u8; 32]>::try_from(*key), <[u8; 64]>::try_from(*sig)) else {
            assert_eq!(*verdict, "bad-length", "{name}");
            continue;
        };
        let item = Item {
            key: PublicKey(key),
            msg: msg.to_vec(),
            sig,
        };
        assert_eq!(
            item.single().err().map_or("accept", SigError::name),
            *verdict,
            "{name}: the pinned verdict"
        );
        // Alone, and then together with every other vector.
        check_batch(std::slice::from_ref(&item), &mut rng, 1, 0);
        items.push(item);
    }
    assert!(items.len() >= 140, "{} vectors", items.len());
    let bad = check_batch(&items, &mut rng, 1, 0);
    assert!(bad >= 20 && bad < items.len(), "{bad} invalid vectors");
    check_batch(&items, &mut rng, 2, 0);
    // Each valid vector beside each invalid one, in both orders.
    let (ok, ko): (Vec<&Item>, Vec<&Item>) = items.iter().partition(|i| i.single().is_ok());
    for a in &ok {
        for b in &ko {
            check_batch(&[(*a).clone(), (*b).clone()], &mut rng, 1, 0);
            check_batch(&[(*b).clone(), (*a).clone()], &mut rng, 1, 0);
        }
    }
}

/// A signer that can put torsion into `R` and `A`: the secret scalar of an RFC 8032
/// key pair, computed here from its seed.
struct Signer {
    keys: KeyPair,
    a: Scalar,
    point: EdwardsPoint,
}

impl Signer {
    fn new(seed: [u8; 32]) -> Signer {
        let keys = KeyPair::from_seed(seed).unwrap();
        let h = Sha512::digest(seed);
        let mut s = [0u8; 32];
        s.copy_from_slice(&h[..32]);
        s[0] &= 248;
        s[31] &= 127;
        s[31] |= 64;
        let a = Scalar::from_bytes_mod_order(s);
        let point = EdwardsPoint::mul_base(&a);
        assert_eq!(point.compress().0, keys.public().0);
        Signer { keys, a, point }
    }

    /// A signature with `R = r·B + T_r` by the key `A + T_a`, valid under the
    /// cofactored equation.
    fn sign_torsion(&self, msg: &[u8], rng: &mut ChaCha20Rng, t_r: usize, t_a: usize) -> Item {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        let r = Scalar::from_bytes_mod_order_wide(&wide);
        let big_r = (EdwardsPoint::mul_base(&r) + EIGHT_TORSION[t_r])
            .compress()
            .0;
        let key = (self.point + EIGHT_TORSION[t_a]).compress().0;
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(big_r)
                .chain_update(key)
                .chain_update(msg)
                .finalize()
                .into(),
        );
        let s = r + k * self.a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        Item {
            key: PublicKey(key),
            msg: msg.to_vec(),
            sig,
        }
    }

    /// Passes the cofactored equation but breaks rule 3: `R` is the small-order `T_t`
    /// and `S = k·a`, or the key is `T_t` and `S = r` (then any message verifies).
    fn sign_small_order(&self, msg: &[u8], rng: &mut ChaCha20Rng, t: usize, in_key: bool) -> Item {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        let r = Scalar::from_bytes_mod_order_wide(&wide);
        let torsion = EIGHT_TORSION[t].compress().0;
        let (big_r, key) = if in_key {
            (EdwardsPoint::mul_base(&r).compress().0, torsion)
        } else {
            (torsion, self.point.compress().0)
        };
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(big_r)
                .chain_update(key)
                .chain_update(msg)
                .finalize()
                .into(),
        );
        let s = if in_key { r } else { k * self.a };
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        Item {
            key: PublicKey(key),
            msg: msg.to_vec(),
            sig,
        }
    }
}

/// L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `a + b` on 256-bit little-endian numbers (wrapping).
fn add256(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    out
}

fn small(n: u8) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = n;
    b
}

/// Encodings of `y = p + d` (non-canonical) with either sign bit.
fn non_canonical_point(d: u8, sign: bool) -> [u8; 32] {
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut y = add256(&p, &small(d));
    y[31] = (y[31] & 0x7f) | (u8::from(sign) << 7);
    y
}

struct Gen {
    rng: ChaCha20Rng,
    signers: Vec<Signer>,
}

impl Gen {
    fn msg(&mut self) -> Vec<u8> {
        let len = (self.rng.next_u32() % 200) as usize;
        let mut m = vec![0u8; len];
        self.rng.fill_bytes(&mut m);
        m
    }

    fn pick(&mut self) -> usize {
        (self.rng.next_u32() as usize) % self.signers.len()
    }

    /// A valid signature: mostly plain RFC 8032, sometimes with torsion in R, A or both.
    fn valid(&mut self) -> Item {
        let s = self.pick();
        let msg = self.msg();
        match self.rng.next_u32() % 8 {
            0 => {
                let (tr, ta) = (self.rng.next_u32() as usize % 8, 0);
                self.signers[s].sign_torsion(&msg, &mut self.rng, tr, ta)
            }
            1 => {
                let (tr, ta) = (
                    self.rng.next_u32() as usize % 8,
                    self.rng.next_u32() as usize % 8,
                );
                self.signers[s].sign_torsion(&msg, &mut self.rng, tr, ta)
            }
            _ => {
                let sig = self.signers[s].keys.sign(&msg);
                Item {
                    key: self.signers[s].keys.public(),
                    msg,
                    sig,
                }
            }
        }
    }

    /// A valid item changed by one of the adversarial mutations (most make it invalid;
    /// a few, like torsion re-signed, stay valid: the verdict decides, not the label).
    fn mutated(&mut self) -> Item {
        let mut it = self.valid();
        let bit = self.rng.next_u32() as usize;
        let t = EIGHT_TORSION[bit % 8];
        match self.rng.next_u32() % 17 {
            16 => {
                let s = self.pick();
                let msg = it.msg.clone();
                it = self.signers[s].sign_small_order(&msg, &mut self.rng, bit % 8, bit & 8 != 0);
            }
            0 => it.sig[bit % 32] ^= 1 << (bit / 32 % 8),
            1 => it.sig[32 + bit % 32] ^= 1 << (bit / 32 % 8),
            2 if !it.msg.is_empty() => {
                let n = it.msg.len();
                it.msg[bit % n] ^= 1 << (bit / 256 % 8);
            }
            2 => it.msg.push(0),
            3 => {
                let s = match bit % 5 {
                    0 => add256(&L, &[0xff; 32]), // L − 1
                    1 => L,
                    2 => add256(&L, &small(1)),
                    3 => {
                        let mut s = [0u8; 32];
                        s.copy_from_slice(&it.sig[32..]);
                        add256(&s, &L) // S + L
                    }
                    _ => {
                        let mut s = [0u8; 32];
                        self.rng.fill_bytes(&mut s);
                        s
                    }
                };
                it.sig[32..].copy_from_slice(&s);
            }
            4 => {
                let r = t.compress().0;
                it.sig[..32].copy_from_slice(&r);
            }
            5 => {
                let r = non_canonical_point((bit % 19) as u8, bit & 64 != 0);
                it.sig[..32].copy_from_slice(&r);
            }
            6 => {
                // R + T without re-signing.
                if let Some(r) = CompressedEdwardsY(it.sig[..32].try_into().unwrap()).decompress() {
                    it.sig[..32].copy_from_slice(&(r + t).compress().0);
                }
            }
            7 => {
                // A + T without re-signing.
                if let Some(a) = CompressedEdwardsY(it.key.0).decompress() {
                    it.key = PublicKey((a + t).compress().0);
                }
            }
            8 => it.key = PublicKey(t.compress().0),
            9 => it.key = PublicKey(non_canonical_point((bit % 19) as u8, bit & 64 != 0)),
            10 => {
                let mut k = [0u8; 32];
                self.rng.fill_bytes(&mut k);
                it.key = PublicKey(k);
            }
            11 => {
                let other = self.pick();
                it.key = self.signers[other].keys.public();
            }
            12 => {
                let mut r = [0u8; 32];
                self.rng.fill_bytes(&mut r);
                it.sig[..32].copy_from_slice(&r);
            }
            13 => {
                // The negative-zero encodings of (0, ±1), and R with a flipped sign bit.
                if bit.is_multiple_of(2) {
                    let mut r = small(1);
                    if bit & 4 != 0 {
                        r = non_canonical_point(0, false);
                        r[0] = 0xec; // y = p − 1
                    }
                    r[31] |= 0x80;
                    it.sig[..32].copy_from_slice(&r);
                } else {
                    it.sig[31] ^= 0x80;
                }
            }
            14 => {
                // R = −R: same y, so everything but the equation passes.
                if let Some(r) = CompressedEdwardsY(it.sig[..32].try_into().unwrap()).decompress() {
                    it.sig[..32].copy_from_slice(&(-r).compress().0);
                }
            }
            _ => {
                // S·B − k·A = R with the basepoint's S shifted by one: S + 1.
                let mut s = [0u8; 32];
                s.copy_from_slice(&it.sig[32..]);
                let s = Scalar::from_bytes_mod_order(s) + Scalar::ONE;
                it.sig[32..].copy_from_slice(s.as_bytes());
            }
        }
        it
    }
}

#[derive(Default)]
struct Tally {
    total: usize,
    invalid: usize,
    batches: usize,
}

#[test]
fn adversarial_batches_match_the_single_path() {
    let seed = seed();
    let start = std::time::Instant::now();
    let mut g = Gen {
        rng: ChaCha20Rng::seed_from_u64(seed),
        signers: (1..=12u8).map(|s| Signer::new([s; 32])).collect(),
    };
    let mut weights_rng = ChaCha20Rng::seed_from_u64(seed ^ 0x5eed);
    let mut tally = Tally::default();
    let run = |items: &[Item], threads: usize, rng: &mut ChaCha20Rng, t: &mut Tally| {
        t.invalid += check_batch(items, rng, threads, seed);
        t.total += items.len();
        t.batches += 1;
    };

    // One invalid item at every position of a batch of 64 (one chunk, Straus) and of
    // 200 (two chunks on two threads, 128 + 72), the rest valid.
    for (size, threads) in [(64usize, 1usize), (64, 2), (200, 2)] {
        let base: Vec<Item> = (0..size).map(|_| g.valid()).collect();
        for pos in 0..size {
            let mut items = base.clone();
            items[pos] = loop {
                let m = g.mutated();
                if m.single().is_err() {
                    break m;
                }
            };
            run(&items, threads, &mut weights_rng, &mut tally);
        }
    }
    // Large all-valid batches (Pippenger chunks, several on one thread past 2048),
    // torsion included.
    for (size, threads) in [(1000usize, 1usize), (3000, 1), (4000, 2)] {
        let items: Vec<Item> = (0..size).map(|_| g.valid()).collect();
        run(&items, threads, &mut weights_rng, &mut tally);
    }
    // Mixed batches of many sizes, invalid items at random positions, until 100,000.
    let sizes = [1usize, 2, 3, 5, 17, 64, 65, 190, 300, 1000, 2000];
    while tally.total < 100_000 {
        let size = sizes[g.rng.next_u32() as usize % sizes.len()];
        let rate = g.rng.next_u32() % 4; // 0: none invalid … 3: about half
        let items: Vec<Item> = (0..size)
            .map(|_| {
                if g.rng.next_u32() % 8 < rate * rate / 2 + rate.min(1) {
                    g.mutated()
                } else {
                    g.valid()
                }
            })
            .collect();
        let threads = 1 + (g.rng.next_u32() as usize % 3);
        run(&items, threads, &mut weights_rng, &mut tally);
    }
    let secs = start.elapsed().as_secs_f64();
    let Tally {
        total,
        invalid,
        batches,
    } = tally;
    eprintln!(
        "seed {seed}: {total} signatures ({invalid} invalid) in {batches} batches, {secs:.1} s"
    );
    assert!(total >= 100_000);
    assert!(invalid >= 10_000, "only {invalid} invalid");
}

/// Torsion in `R` and `A` of a correctly made signature is accepted by the single path
/// (the cofactored equation) and so by the batch, for every one of the eight points.
#[test]
fn torsion_in_r_and_a_is_accepted_alike() {
    let signer = Signer::new([3; 32]);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut items = Vec::new();
    for tr in 0..8 {
        for ta in 0..8 {
            let it = signer.sign_torsion(b"torsion", &mut rng, tr, ta);
            let weak_r = EdwardsPoint::is_small_order(
                &CompressedEdwardsY(it.sig[..32].try_into().unwrap())
                    .decompress()
                    .unwrap(),
            );
            assert!(!weak_r);
            assert_eq!(it.single(), Ok(()), "T_r {tr}, T_a {ta}");
            items.push(it);
        }
    }
    check_batch(&items, &mut rng, 1, 5);
    // Small-order R or key with a signature that passes the equation: rule 3 rejects
    // it, and so must the batch, beside valid items.
    for t in 0..8 {
        for in_key in [false, true] {
            let bad = signer.sign_small_order(b"weak", &mut rng, t, in_key);
            let want = if in_key {
                SigError::WeakKey
            } else {
                SigError::WeakR
            };
            assert_eq!(bad.single(), Err(want), "T {t}, in key {in_key}");
            let mut batch = items.clone();
            batch.insert(t * 3, bad);
            check_batch(&batch, &mut rng, 1, 5);
        }
    }
    // And the base point itself is no torsion point (a sanity check of the constants).
    assert!(!ED25519_BASEPOINT_POINT.is_small_order());
}
