//! A systematic k-of-n erasure code over GF(2⁸): Reed–Solomon with a Cauchy parity
//! matrix.
//!
//! The data is cut into `k` data shards of [`shard_len`] bytes (the last one
//! zero-padded). Shards `0..k` *are* the data shards (systematic), and parity shard
//! `j` (k ≤ j < n) is `Σ_i C[j][i] · d_i` with the Cauchy coefficients
//! `C[j][i] = 1 / (x_j + y_i)`, `x_j = j`, `y_i = i`: the two index sets are
//! disjoint, so no denominator is zero. The generator `[I; C]` has every `k × k`
//! submatrix invertible, because after eliminating the identity rows what remains is
//! a square submatrix of a Cauchy matrix, and every such submatrix is nonsingular
//! (Blömer, Kalfane, Karp, Karpinski, Luby, Zuckerman, "An XOR-based erasure-resilient
//! coding scheme", ICSI TR-95-048, 1995; Plank and Xu, "Optimizing Cauchy Reed-Solomon
//! codes", NCA 2006). So any `k` of the `n` shards give back the data.
//!
//! Memory is the caller's: [`encode_shard`] writes one shard into a lent buffer, and
//! [`decode`] writes the data into a lent buffer.

use super::gf256::{self, MulTable};

/// The most shards (custodians).
pub const SHARDS_MAX: usize = 16;

/// Why shards could not be made or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErasureError {
    /// `k` or `n` outside 1 ≤ k ≤ n ≤ [`SHARDS_MAX`].
    BadThreshold {
        /// Data shards.
        k: u8,
        /// All shards.
        n: u8,
    },
    /// A shard index is not below `n`.
    IndexOutOfRange(u8),
    /// Two shards with the same index were given.
    DuplicateIndex(u8),
    /// A shard is not [`shard_len`] bytes long.
    ShardLength {
        /// The shard's index.
        index: u8,
        /// Its length.
        got: usize,
        /// The length required.
        needed: usize,
    },
    /// Fewer than `k` distinct shards.
    NotEnoughShards {
        /// Distinct shards given.
        got: usize,
        /// Shards needed.
        needed: usize,
    },
    /// The output buffer is too small.
    OutputTooSmall {
        /// Bytes needed.
        needed: usize,
    },
}

impl core::fmt::Display for ErasureError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ErasureError::BadThreshold { k, n } => {
                write!(f, "{k} of {n} shards outside 1 <= k <= n <= {SHARDS_MAX}")
            }
            ErasureError::IndexOutOfRange(i) => write!(f, "shard index {i} out of range"),
            ErasureError::DuplicateIndex(i) => write!(f, "shard {i} given twice"),
            ErasureError::ShardLength { index, got, needed } => {
                write!(f, "shard {index} is {got} bytes, {needed} expected")
            }
            ErasureError::NotEnoughShards { got, needed } => {
                write!(f, "{got} distinct shards, {needed} needed")
            }
            ErasureError::OutputTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
        }
    }
}

impl core::error::Error for ErasureError {}

/// Checks `k` of `n` and returns the shard length for `data_len` bytes.
fn checked_shard_len(k: u8, n: u8, data_len: usize) -> Result<usize, ErasureError> {
    if k == 0 || k > n || usize::from(n) > SHARDS_MAX {
        return Err(ErasureError::BadThreshold { k, n });
    }
    Ok(shard_len(data_len, k))
}

/// Checks that shard `index` is `len` bytes (`got`).
fn check_shard_len(index: u8, got: usize, len: usize) -> Result<(), ErasureError> {
    if got != len {
        return Err(ErasureError::ShardLength {
            index,
            got,
            needed: len,
        });
    }
    Ok(())
}

/// The length of each shard for `data_len` bytes split `k` ways: ⌈data_len / k⌉.
pub fn shard_len(data_len: usize, k: u8) -> usize {
    let k = usize::from(k.max(1));
    data_len.div_ceil(k)
}

/// The generator row of shard `index`: a unit row for a data shard, the Cauchy row
/// for a parity shard.
fn generator_row(k: u8, index: u8) -> [u8; SHARDS_MAX] {
    let mut row = [0u8; SHARDS_MAX];
    if index < k {
        if let Some(x) = row.get_mut(usize::from(index)) {
            *x = 1;
        }
    } else {
        for (i, x) in row.iter_mut().enumerate().take(usize::from(k)) {
            // index ≥ k > i, so index ^ i ≠ 0.
            *x = gf256::inv(index ^ (i as u8));
        }
    }
    row
}

/// Data shard `i` of `data` (zero-padded at the end), as a slice plus its padding.
fn data_shard(data: &[u8], len: usize, i: usize) -> &[u8] {
    let start = i.saturating_mul(len).min(data.len());
    let end = start.saturating_add(len).min(data.len());
    data.get(start..end).unwrap_or(&[])
}

/// Writes shard `index` (0-based, below `n`) of `data` into `out`, which must be
/// exactly [`shard_len`]`(data.len(), k)` bytes.
///
/// # Errors
/// [`ErasureError::BadThreshold`], [`ErasureError::IndexOutOfRange`] or
/// [`ErasureError::ShardLength`] for a wrongly sized `out`.
pub fn encode_shard(
    data: &[u8],
    k: u8,
    n: u8,
    index: u8,
    out: &mut [u8],
) -> Result<(), ErasureError> {
    let len = checked_shard_len(k, n, data.len())?;
    if index >= n {
        return Err(ErasureError::IndexOutOfRange(index));
    }
    check_shard_len(index, out.len(), len)?;
    out.fill(0);
    if index < k {
        let src = data_shard(data, len, usize::from(index));
        if let Some(dst) = out.get_mut(..src.len()) {
            dst.copy_from_slice(src);
        }
        return Ok(());
    }
    let row = generator_row(k, index);
    for (i, c) in row.iter().enumerate().take(usize::from(k)) {
        MulTable::new(*c).mul_add(out, data_shard(data, len, i));
    }
    Ok(())
}

/// Recovers `data_len` bytes of data into `out[..data_len]` from at least `k`
/// distinct shards `(index, bytes)`; the first `k` distinct ones are used, so callers
/// check each shard's hash *before* passing it.
///
/// # Errors
/// [`ErasureError::BadThreshold`], [`ErasureError::IndexOutOfRange`],
/// [`ErasureError::DuplicateIndex`], [`ErasureError::ShardLength`],
/// [`ErasureError::NotEnoughShards`] or [`ErasureError::OutputTooSmall`].
pub fn decode(
    shards: &[(u8, &[u8])],
    k: u8,
    n: u8,
    data_len: usize,
    out: &mut [u8],
) -> Result<(), ErasureError> {
    let len = checked_shard_len(k, n, data_len)?;
    if out.len() < data_len {
        return Err(ErasureError::OutputTooSmall { needed: data_len });
    }
    let mut chosen: [Option<(u8, &[u8])>; SHARDS_MAX] = [None; SHARDS_MAX];
    let mut count = 0usize;
    for (i, (index, bytes)) in shards.iter().enumerate() {
        if *index >= n {
            return Err(ErasureError::IndexOutOfRange(*index));
        }
        if shards.iter().take(i).any(|(j, _)| j == index) {
            return Err(ErasureError::DuplicateIndex(*index));
        }
        check_shard_len(*index, bytes.len(), len)?;
        if count < usize::from(k)
            && let Some(slot) = chosen.get_mut(count)
        {
            *slot = Some((*index, bytes));
            count += 1;
        }
    }
    if count < usize::from(k) {
        return Err(ErasureError::NotEnoughShards {
            got: count,
            needed: usize::from(k),
        });
    }
    let mut m = [[0u8; SHARDS_MAX]; SHARDS_MAX];
    for (row, c) in m.iter_mut().zip(chosen.iter()) {
        if let Some((index, _)) = c {
            *row = generator_row(k, *index);
        }
    }
    if !gf256::invert_matrix(&mut m, usize::from(k)) {
        // Cannot happen for distinct indices below n (see the module docs); reported
        // as a shortage rather than a panic.
        return Err(ErasureError::NotEnoughShards {
            got: 0,
            needed: usize::from(k),
        });
    }
    let out = out.get_mut(..data_len).unwrap_or(&mut []);
    // Data shard d = Σ_t inv[d][t] · chosen_t, written straight to its place in `out`.
    for (d, dst) in out.chunks_mut(len.max(1)).enumerate() {
        dst.fill(0);
        let Some(row) = m.get(d) else { break };
        for (coef, c) in row.iter().zip(chosen.iter()).take(usize::from(k)) {
            let Some((_, src)) = c else { continue };
            match *coef {
                0 => {}
                1 => {
                    for (a, s) in dst.iter_mut().zip(src.iter()) {
                        *a ^= *s;
                    }
                }
                c => MulTable::new(c).mul_add(dst, src),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::{vec, vec::Vec};

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + 7) as u8).collect()
    }

    #[test]
    fn every_k_subset_decodes_for_n_up_to_7() {
        for n in 1..=7u8 {
            for k in 1..=n {
                for data_len in [0usize, 1, 5, 64, 101] {
                    let data = sample(data_len);
                    let l = shard_len(data_len, k);
                    let shards: Vec<Vec<u8>> = (0..n)
                        .map(|i| {
                            let mut s = vec![0u8; l];
                            encode_shard(&data, k, n, i, &mut s).unwrap();
                            s
                        })
                        .collect();
                    for mask in 0u32..(1 << n) {
                        let set: Vec<(u8, &[u8])> = (0..n)
                            .filter(|i| mask & (1 << i) != 0)
                            .map(|i| (i, shards[i as usize].as_slice()))
                            .collect();
                        let mut out = vec![0u8; data_len];
                        let r = decode(&set, k, n, data_len, &mut out);
                        if set.len() >= k as usize {
                            r.unwrap();
                            assert_eq!(out, data, "k={k} n={n} len={data_len} {mask:b}");
                        } else {
                            assert!(matches!(r, Err(ErasureError::NotEnoughShards { .. })));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn n16_any_k_decodes() {
        let data = sample(1000);
        let (k, n) = (11u8, 16u8);
        let l = shard_len(data.len(), k);
        let shards: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let mut s = vec![0u8; l];
                encode_shard(&data, k, n, i, &mut s).unwrap();
                s
            })
            .collect();
        // The last k shards: 5 parity-free data shards missing.
        let set: Vec<(u8, &[u8])> = (n - k..n)
            .map(|i| (i, shards[i as usize].as_slice()))
            .collect();
        let mut out = vec![0u8; data.len()];
        decode(&set, k, n, data.len(), &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn rejects_bad_inputs() {
        let d = sample(10);
        let mut s = vec![0u8; 5];
        assert_eq!(
            encode_shard(&d, 2, 3, 3, &mut s),
            Err(ErasureError::IndexOutOfRange(3))
        );
        assert!(encode_shard(&d, 0, 3, 0, &mut s).is_err());
        assert!(encode_shard(&d, 2, 17, 0, &mut s).is_err());
        assert!(matches!(
            encode_shard(&d, 2, 3, 0, &mut [0u8; 4]),
            Err(ErasureError::ShardLength { .. })
        ));
        encode_shard(&d, 2, 3, 0, &mut s).unwrap();
        let mut out = [0u8; 10];
        assert_eq!(
            decode(&[(0, &s), (0, &s)], 2, 3, 10, &mut out),
            Err(ErasureError::DuplicateIndex(0))
        );
        assert!(matches!(
            decode(&[(0, &s[..4])], 2, 3, 10, &mut out),
            Err(ErasureError::ShardLength { .. })
        ));
        assert_eq!(
            decode(&[(0, &s)], 2, 3, 10, &mut out[..9]),
            Err(ErasureError::OutputTooSmall { needed: 10 })
        );
    }
}
