//! Shamir secret sharing of a 32-byte secret over GF(2⁸), byte by byte.
//!
//! Shamir, "How to share a secret", CACM 22(11), 1979. Each byte `s[b]` of the secret
//! is the constant term of its own random polynomial of degree `k − 1`; share `x`
//! (1 ≤ x ≤ 255) holds the 32 values `f_b(x)`. Any `k` shares determine every
//! polynomial, hence the secret, by Lagrange interpolation at 0; any `k − 1` shares
//! are uniformly distributed whatever the secret is, so they reveal nothing about it.
//! x = 0 is the secret itself and is never a share.
//!
//! All arithmetic on secret data uses the constant-time [`gf256::mul`]; the share
//! indices are public.

use super::gf256;

/// Bytes in the shared secret (an Ed25519 seed).
pub const SECRET_LEN: usize = 32;
/// The most shares a secret is split into (and the largest threshold).
pub const SHARES_MAX: usize = 16;

/// One share: its index `x` (1..=255) and the 32 polynomial values at `x`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// The evaluation point, never 0.
    pub index: u8,
    /// `f_b(index)` for each byte `b` of the secret.
    pub value: [u8; SECRET_LEN],
}

impl core::fmt::Debug for Share {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // A share is secret material: print only its index.
        write!(f, "Share {{ index: {} }}", self.index)
    }
}

/// Why shares could not be made or combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ShamirError {
    /// `k` or `n` outside 2 ≤ k ≤ n ≤ [`SHARES_MAX`].
    BadThreshold {
        /// The threshold given.
        k: u8,
        /// The share count given.
        n: u8,
    },
    /// The output slice holds fewer than `n` shares.
    OutputTooSmall {
        /// Slots needed.
        needed: usize,
    },
    /// Fewer shares than the threshold.
    NotEnoughShares {
        /// Shares given.
        got: usize,
        /// Shares needed.
        needed: usize,
    },
    /// A share has index 0 (that point is the secret itself).
    IndexZero,
    /// Two shares have the same index.
    DuplicateIndex(u8),
}

impl core::fmt::Display for ShamirError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ShamirError::BadThreshold { k, n } => {
                write!(
                    f,
                    "threshold {k} of {n} outside 2 <= k <= n <= {SHARES_MAX}"
                )
            }
            ShamirError::OutputTooSmall { needed } => {
                write!(f, "output holds too few shares: {needed} needed")
            }
            ShamirError::NotEnoughShares { got, needed } => {
                write!(f, "{got} shares, {needed} needed")
            }
            ShamirError::IndexZero => f.write_str("share index 0 is not a share"),
            ShamirError::DuplicateIndex(i) => write!(f, "share index {i} given twice"),
        }
    }
}

impl core::error::Error for ShamirError {}

/// Checks 2 ≤ k ≤ n ≤ [`SHARES_MAX`].
///
/// # Errors
/// [`ShamirError::BadThreshold`].
pub fn check_threshold(k: u8, n: u8) -> Result<(), ShamirError> {
    if k < 2 || k > n || usize::from(n) > SHARES_MAX {
        return Err(ShamirError::BadThreshold { k, n });
    }
    Ok(())
}

/// Splits `secret` into `n` shares with indices 1..=n, any `k` of which recover it.
///
/// `coefficients[j]` (for j < k − 1) holds the coefficients of x^(j+1) for all 32
/// bytes; they must be uniformly random and secret (the caller derives them; see
/// [`crate::backup::seal`]). Writes `out[..n]`.
///
/// # Errors
/// [`ShamirError::BadThreshold`], or [`ShamirError::OutputTooSmall`] if `out` is
/// shorter than `n`, or [`ShamirError::NotEnoughShares`] if fewer than `k − 1`
/// coefficient rows are given.
pub fn split(
    secret: &[u8; SECRET_LEN],
    k: u8,
    n: u8,
    coefficients: &[[u8; SECRET_LEN]],
    out: &mut [Share],
) -> Result<(), ShamirError> {
    check_threshold(k, n)?;
    let degree = usize::from(k) - 1;
    let coefficients = coefficients
        .get(..degree)
        .ok_or(ShamirError::NotEnoughShares {
            got: coefficients.len(),
            needed: degree,
        })?;
    let out = out
        .get_mut(..usize::from(n))
        .ok_or(ShamirError::OutputTooSmall {
            needed: usize::from(n),
        })?;
    for (x, share) in (1..=n).zip(out.iter_mut()) {
        let mut value = [0u8; SECRET_LEN];
        for (b, v) in value.iter_mut().enumerate() {
            // Horner: ((a_{k-1} x + a_{k-2}) x + ...) x + s.
            let mut acc = 0u8;
            for row in coefficients.iter().rev() {
                acc = gf256::mul(acc, x) ^ row.get(b).copied().unwrap_or(0);
            }
            acc = gf256::mul(acc, x) ^ secret.get(b).copied().unwrap_or(0);
            *v = acc;
        }
        *share = Share { index: x, value };
    }
    Ok(())
}

/// Recovers the secret from exactly the given shares by Lagrange interpolation at 0.
///
/// It uses *all* given shares, so pass exactly `k` of them: with fewer it returns a
/// value unrelated to the secret (that is the scheme's secrecy), and callers must
/// check the result (glitter checks that the seed derives the owner's key).
///
/// # Errors
/// [`ShamirError::NotEnoughShares`] for fewer than 2 shares or more than
/// [`SHARES_MAX`], [`ShamirError::IndexZero`], [`ShamirError::DuplicateIndex`].
pub fn combine(shares: &[Share]) -> Result<[u8; SECRET_LEN], ShamirError> {
    if shares.len() < 2 || shares.len() > SHARES_MAX {
        return Err(ShamirError::NotEnoughShares {
            got: shares.len(),
            needed: 2,
        });
    }
    for (i, s) in shares.iter().enumerate() {
        if s.index == 0 {
            return Err(ShamirError::IndexZero);
        }
        if shares.iter().skip(i + 1).any(|t| t.index == s.index) {
            return Err(ShamirError::DuplicateIndex(s.index));
        }
    }
    let mut secret = [0u8; SECRET_LEN];
    for (i, si) in shares.iter().enumerate() {
        // L_i(0) = Π_{j≠i} x_j / (x_j − x_i); subtraction is XOR.
        let mut num = 1u8;
        let mut den = 1u8;
        for (j, sj) in shares.iter().enumerate() {
            if i != j {
                num = gf256::mul(num, sj.index);
                den = gf256::mul(den, sj.index ^ si.index);
            }
        }
        let l = gf256::div(num, den);
        for (out, y) in secret.iter_mut().zip(si.value.iter()) {
            *out ^= gf256::mul(l, *y);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn coeffs(seed: u8) -> [[u8; 32]; SHARES_MAX] {
        let mut c = [[0u8; 32]; SHARES_MAX];
        for (j, row) in c.iter_mut().enumerate() {
            for (b, x) in row.iter_mut().enumerate() {
                *x = (j as u8).wrapping_mul(31) ^ (b as u8).wrapping_mul(7) ^ seed;
            }
        }
        c
    }

    #[test]
    fn every_k_subset_recovers_for_small_n() {
        let secret = [0xa5u8; 32];
        for n in 2..=6u8 {
            for k in 2..=n {
                let mut shares = [Share {
                    index: 0,
                    value: [0; 32],
                }; SHARES_MAX];
                split(&secret, k, n, &coeffs(k ^ n), &mut shares).unwrap();
                for mask in 0u32..(1 << n) {
                    let chosen: Vec<Share> = (0..n as usize)
                        .filter(|i| mask & (1 << i) != 0)
                        .map(|i| shares[i])
                        .collect();
                    if chosen.len() == k as usize {
                        assert_eq!(combine(&chosen).unwrap(), secret, "k={k} n={n} {mask:b}");
                    } else if chosen.len() + 1 == k as usize && chosen.len() >= 2 {
                        assert_ne!(combine(&chosen).unwrap(), secret);
                    }
                }
            }
        }
    }

    #[test]
    fn rejects_bad_inputs() {
        let secret = [1u8; 32];
        let mut out = [Share {
            index: 0,
            value: [0; 32],
        }; 4];
        assert!(split(&secret, 1, 3, &coeffs(0), &mut out).is_err());
        assert!(split(&secret, 4, 3, &coeffs(0), &mut out).is_err());
        assert!(split(&secret, 2, 17, &coeffs(0), &mut out).is_err());
        assert_eq!(
            split(&secret, 2, 5, &coeffs(0), &mut out),
            Err(ShamirError::OutputTooSmall { needed: 5 })
        );
        split(&secret, 2, 4, &coeffs(0), &mut out).unwrap();
        let mut z = out;
        z[0].index = 0;
        assert_eq!(combine(&z[..2]), Err(ShamirError::IndexZero));
        let d = [out[1], out[1]];
        assert_eq!(combine(&d), Err(ShamirError::DuplicateIndex(2)));
        assert!(combine(&out[..1]).is_err());
    }
}
