//! Arithmetic in GF(2⁸), shared by Shamir secret sharing and the erasure code.
//!
//! The field is GF(2)\[x\] / (x⁸ + x⁴ + x³ + x² + 1), the reduction polynomial `0x11d`
//! used by most Reed–Solomon codes (for example QR codes, ISO/IEC 18004 §7.5.2), in
//! which `x` (the byte `0x02`) generates the multiplicative group.
//!
//! Addition is XOR. [`mul`] is a branch-free shift-and-add (eight fixed rounds, no
//! table lookups, no data-dependent branches), because Shamir multiplies secret bytes
//! and a table indexed by a secret leaks it through the cache. [`inv`] is `a²⁵⁴`
//! (Fermat), equally constant-time, and maps 0 to 0. The erasure code multiplies
//! public ciphertext by public coefficients, so it may use the faster
//! [`MulTable`].
//!
//! Every law of the field is checked exhaustively in this module's tests (all 256²
//! products and inverses against a log/exp reference, associativity and
//! distributivity over all 256³ triples).

/// The reduction polynomial x⁸ + x⁴ + x³ + x² + 1 without its x⁸ term.
const POLY_LOW: u8 = 0x1d;

/// Adds (and subtracts: in characteristic 2 they are the same) two elements.
#[inline]
pub const fn add(a: u8, b: u8) -> u8 {
    a ^ b
}

/// Multiplies two elements in constant time.
#[inline]
pub const fn mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut p = 0u8;
    let mut i = 0;
    // Eight rounds, one per bit of `b`; masks instead of branches.
    while i < 8 {
        p ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (POLY_LOW & carry);
        b >>= 1;
        i += 1;
    }
    p
}

/// `a` raised to `e`, in constant time for a fixed `e`.
pub const fn pow(a: u8, e: u8) -> u8 {
    let mut result = 1u8;
    let mut i = 8;
    // Square-and-multiply from the top bit, always eight rounds.
    while i > 0 {
        i -= 1;
        result = mul(result, result);
        let bit = (e >> i) & 1;
        let factor = mul(result, a);
        let mask = 0u8.wrapping_sub(bit);
        result = (factor & mask) | (result & !mask);
    }
    result
}

/// The multiplicative inverse of `a` (`a²⁵⁴`); `inv(0)` is 0, which callers rule out.
#[inline]
pub const fn inv(a: u8) -> u8 {
    pow(a, 254)
}

/// `a / b`; division by 0 gives 0, which callers rule out.
#[inline]
pub const fn div(a: u8, b: u8) -> u8 {
    mul(a, inv(b))
}

/// Multiplication by one fixed public constant as a 256-entry table: for the erasure
/// code's bulk work on public data (never for secrets).
#[derive(Clone)]
pub struct MulTable([u8; 256]);

impl MulTable {
    /// The table of `c · x` for every `x`.
    pub fn new(c: u8) -> MulTable {
        let mut t = [0u8; 256];
        let mut x = 0u8;
        for slot in t.iter_mut() {
            *slot = mul(c, x);
            x = x.wrapping_add(1);
        }
        MulTable(t)
    }

    /// `c · x`.
    #[inline]
    pub fn mul(&self, x: u8) -> u8 {
        // A [u8; 256] indexed by a u8 cannot go out of bounds; `get` keeps the
        // no-indexing rule without a branch the optimiser cannot remove.
        self.0.get(usize::from(x)).copied().unwrap_or(0)
    }

    /// `acc[i] ^= c · src[i]` for every `i` in the shorter of the two.
    pub fn mul_add(&self, acc: &mut [u8], src: &[u8]) {
        for (a, s) in acc.iter_mut().zip(src) {
            *a ^= self.mul(*s);
        }
    }
}

impl core::fmt::Debug for MulTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MulTable({})", self.mul(1))
    }
}

/// Inverts the `n × n` matrix in the top-left corner of `m` in place (Gauss–Jordan).
/// Returns false, leaving `m` unspecified, if it is singular or `n` exceeds `N`.
pub fn invert_matrix<const N: usize>(m: &mut [[u8; N]; N], n: usize) -> bool {
    if n > N {
        return false;
    }
    let mut inv_m = [[0u8; N]; N];
    for (i, row) in inv_m.iter_mut().enumerate().take(n) {
        if let Some(x) = row.get_mut(i) {
            *x = 1;
        }
    }
    for col in 0..n {
        // Find a pivot row at or below `col` (public data: branching is fine).
        let Some(pivot) = (col..n).find(|r| m.get(*r).and_then(|row| row.get(col)) != Some(&0))
        else {
            return false;
        };
        m.swap(pivot, col);
        inv_m.swap(pivot, col);
        let (Some(prow), Some(pinv)) = (m.get(col).copied(), inv_m.get(col).copied()) else {
            return false;
        };
        let scale = inv(prow.get(col).copied().unwrap_or(0));
        let prow = prow.map(|x| mul(x, scale));
        let pinv = pinv.map(|x| mul(x, scale));
        for r in 0..n {
            let (Some(row), Some(irow)) = (m.get_mut(r), inv_m.get_mut(r)) else {
                return false;
            };
            if r == col {
                *row = prow;
                *irow = pinv;
                continue;
            }
            let f = row.get(col).copied().unwrap_or(0);
            if f == 0 {
                continue;
            }
            for (x, p) in row.iter_mut().zip(prow.iter()) {
                *x ^= mul(f, *p);
            }
            for (x, p) in irow.iter_mut().zip(pinv.iter()) {
                *x ^= mul(f, *p);
            }
        }
    }
    *m = inv_m;
    true
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Reference tables built independently: powers of the generator 2.
    fn log_exp() -> ([u8; 256], [u8; 255]) {
        let mut exp = [0u8; 255];
        let mut log = [0u8; 256];
        let mut x: u16 = 1;
        for (i, e) in exp.iter_mut().enumerate() {
            *e = x as u8;
            log[x as usize] = i as u8;
            x <<= 1;
            if x & 0x100 != 0 {
                x ^= 0x11d;
            }
        }
        assert_eq!(x, 1, "2 generates a group of order 255");
        (log, exp)
    }

    #[test]
    fn generator_has_order_255() {
        let (_, exp) = log_exp();
        let mut seen = [false; 256];
        for e in exp {
            assert!(!seen[e as usize], "{e} repeats: 2 is not a generator");
            seen[e as usize] = true;
        }
        assert!(!seen[0]);
    }

    #[test]
    fn every_product_and_inverse_matches_log_exp() {
        let (log, exp) = log_exp();
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let want = if a == 0 || b == 0 {
                    0
                } else {
                    exp[(log[a as usize] as usize + log[b as usize] as usize) % 255]
                };
                assert_eq!(mul(a, b), want, "{a} * {b}");
                assert_eq!(mul(a, b), mul(b, a), "commutativity {a} {b}");
                assert_eq!(MulTable::new(a).mul(b), want);
            }
            if a != 0 {
                let i = inv(a);
                assert_eq!(mul(a, i), 1, "inverse of {a}");
                assert_eq!(i, exp[(255 - log[a as usize] as usize) % 255]);
                assert_eq!(div(mul(a, 77), a), 77);
            }
        }
        assert_eq!(inv(0), 0);
    }

    #[test]
    fn identities_and_distinct_inverses() {
        let mut seen = [false; 256];
        for a in 0..=255u8 {
            assert_eq!(mul(a, 1), a);
            assert_eq!(mul(a, 0), 0);
            assert_eq!(add(a, a), 0);
            assert_eq!(add(a, 0), a);
            if a != 0 {
                let i = inv(a);
                assert!(!seen[i as usize], "inverse not a bijection");
                seen[i as usize] = true;
                assert_eq!(pow(a, 255), 1, "Fermat for {a}");
            }
        }
    }

    #[test]
    fn associativity_and_distributivity_exhaustive() {
        // 256³ triples; the table version of mul keeps this fast in debug builds
        // and is itself checked against `mul` above.
        let tables: Vec<MulTable> = (0..=255u8).map(MulTable::new).collect();
        let t = |a: u8, b: u8| tables[a as usize].mul(b);
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let ab = t(a, b);
                for c in 0..=255u8 {
                    assert_eq!(t(ab, c), t(a, t(b, c)), "assoc {a} {b} {c}");
                    assert_eq!(t(a, b ^ c), ab ^ t(a, c), "distrib {a} {b} {c}");
                }
            }
        }
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn matrix_inverse_roundtrip_and_singular() {
        let mut m = [[0u8; 4]; 4];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                // A Cauchy matrix: 1 / (x_i + y_j) with disjoint x and y.
                *x = inv((i as u8 + 4) ^ j as u8);
            }
        }
        let orig = m;
        assert!(invert_matrix(&mut m, 4));
        for i in 0..4 {
            for j in 0..4 {
                let mut s = 0;
                for k in 0..4 {
                    s ^= mul(orig[i][k], m[k][j]);
                }
                assert_eq!(s, (i == j) as u8);
            }
        }
        let mut sing = [[1u8; 3]; 3];
        assert!(!invert_matrix(&mut sing, 3));
        assert!(!invert_matrix(&mut sing, 4));
    }
}
