//! Bamboo's skip links and certificate paths.
//!
//! `lipmaa(n)` is the sequence number that block `n`'s `skip` field links to, as defined
//! by the Bamboo specification (after Lipmaa's "certificate pool" construction). With
//! the `prev` links (`n → n−1`) it lets anyone check that block `x` belongs to the chain
//! whose head is `n` with O(log n) headers rather than `n − x`.

/// The largest sequence number glitter accepts. Large enough for a block a millisecond
/// for a hundred thousand years, small enough that every computation here stays in
/// `u64` without overflow.
pub const SEQ_MAX: u64 = 1 << 52;

/// Bamboo's `lipmaa(n)`: the target of block `n`'s skip link. `lipmaa(1) = 0` (no link).
///
/// For `n = 0` or `n > SEQ_MAX` the result is 0; callers reject such `n` earlier.
pub fn lipmaa(n: u64) -> u64 {
    if n == 0 || n > SEQ_MAX {
        return 0;
    }
    // Find the smallest k with (3^k − 1) / 2 ≥ n. 3^34 > 2 · 2^52, so po3 stays < 2^64.
    let mut m: u64 = 1;
    let mut po3: u64 = 3;
    while m < n {
        po3 = po3.saturating_mul(3);
        m = (po3 - 1) / 2;
    }
    po3 /= 3;
    if m != n {
        let mut x = n;
        // Each pass divides po3 by 3, so at most ~34 passes; m ≥ 1 while po3 ≥ 3.
        while x != 0 && po3 >= 3 {
            m = (po3 - 1) / 2;
            po3 /= 3;
            x %= m;
        }
        if m != po3 {
            po3 = m;
        }
    }
    n - po3
}

/// The sequence numbers of the shortest certificate path from head `n` down to `x`,
/// `n` first and `x` last, following `prev` (`v → v−1`) and `skip` (`v → lipmaa(v)`)
/// links. Allocation-free: an iterator.
///
/// The walk is greedy: take the skip link when it does not overshoot `x`, else `prev`.
/// Tests check against a breadth-first search that this is a shortest path, and that
/// its length stays within `3·⌈log2 n⌉` hops for `n ≤ 100,000`.
#[derive(Clone, Debug)]
pub struct CertPath {
    next: Option<u64>,
    target: u64,
}

impl CertPath {
    /// The path from `n` to `x`; empty unless `1 ≤ x ≤ n ≤ SEQ_MAX`.
    pub fn new(n: u64, x: u64) -> CertPath {
        let valid = x >= 1 && x <= n && n <= SEQ_MAX;
        CertPath {
            next: if valid { Some(n) } else { None },
            target: x,
        }
    }
}

impl Iterator for CertPath {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let v = self.next?;
        self.next = if v <= self.target {
            None
        } else {
            let l = lipmaa(v);
            Some(if l >= self.target { l } else { v - 1 })
        };
        Some(v)
    }
}

/// How many hops (links) the certificate path from `n` to `x` takes.
pub fn cert_path_hops(n: u64, x: u64) -> usize {
    CertPath::new(n, x).count().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_bamboo_table() {
        // Values of lipmaa(1..=40) as drawn in the Bamboo specification's diagram:
        // the "spine" 1, 4, 13, 40 links back to the previous spine node.
        let expect = [
            0, 1, 2, 1, 4, 5, 6, 4, 8, 9, 10, 8, 4, 13, 14, 15, 13, 17, 18, 19, 17, 21, 22, 23, 21,
            13, 26, 27, 28, 26, 30, 31, 32, 30, 34, 35, 36, 34, 26, 13,
        ];
        for (i, e) in expect.iter().enumerate() {
            assert_eq!(lipmaa(i as u64 + 1), *e, "lipmaa({})", i + 1);
        }
        assert_eq!(lipmaa(121), 40);
        assert_eq!(lipmaa(364), 121);
    }

    #[test]
    fn always_links_backwards() {
        for n in 2..20_000u64 {
            let l = lipmaa(n);
            assert!(l >= 1 && l < n, "lipmaa({n}) = {l}");
        }
        assert!(lipmaa(SEQ_MAX) < SEQ_MAX);
        assert_eq!(lipmaa(0), 0);
        assert_eq!(lipmaa(SEQ_MAX + 1), 0);
    }

    #[test]
    fn path_endpoints() {
        let p: heapless::Vec<u64, 64> = CertPath::new(40, 13).collect();
        assert_eq!(p.as_slice(), &[40, 13]);
        let p: heapless::Vec<u64, 64> = CertPath::new(5, 5).collect();
        assert_eq!(p.as_slice(), &[5]);
        assert_eq!(CertPath::new(5, 6).count(), 0);
        assert_eq!(CertPath::new(5, 0).count(), 0);
    }
}
