//! A variable-time multiscalar multiplication without an allocator: Pippenger's
//! bucket method over signed radix-2⁶ digits kept in a caller-provided buffer.
//!
//! For `t` terms it costs about `43·(t + 64) + 258` point additions (43 windows of 6
//! bits, each adding every point once into one of 32 buckets and then summing the
//! buckets), instead of about `300·t` for one scalar multiplication per term. The
//! buckets (32 points, about 5 KB on 32-bit targets) live on the stack; the digits
//! (43 bytes per term) in the caller's buffer. All inputs are public: variable time.

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;

/// Bits per window.
const WINDOW_BITS: usize = 6;

/// Windows per scalar: `⌈256 / 6⌉`. Reduced scalars are below `2²⁵³`, so the last
/// window absorbs every carry.
pub const WINDOWS: usize = 43;

/// Buckets per window: signed digits lie in `[−32, 31]`, so `|d|` is 1 to 32.
const BUCKETS: usize = 1 << (WINDOW_BITS - 1);

/// One scalar in signed radix `2⁶`: `s = Σ dᵥ·64ʷ` with every `dᵥ` in `[−32, 31]`.
/// The scratch unit of [`PreparedSet::verify`](super::PreparedSet::verify).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalarDigits([i8; WINDOWS]);

impl ScalarDigits {
    /// All digits zero (the scalar 0): what a scratch buffer is initialised with.
    pub const ZERO: ScalarDigits = ScalarDigits([0; WINDOWS]);

    /// The signed digits of a reduced scalar (below ℓ).
    pub fn new(scalar: &Scalar) -> ScalarDigits {
        let bytes = scalar.to_bytes();
        let byte = |i: usize| u16::from(bytes.get(i).copied().unwrap_or(0));
        let mut digits = [0i8; WINDOWS];
        let mut carry = 0i16;
        for (w, digit) in digits.iter_mut().enumerate() {
            let bit = w * WINDOW_BITS;
            let pair = byte(bit / 8) | (byte(bit / 8 + 1) << 8);
            let window = ((pair >> (bit % 8)) & 0x3f) as i16;
            let r = window + carry;
            // r is in 0..=64; digits above 31 borrow 64 from the next window.
            carry = i16::from(r >= BUCKETS as i16);
            *digit = (r - (carry << WINDOW_BITS)) as i8;
        }
        ScalarDigits(digits)
    }

    /// The digits, least significant first.
    #[cfg(test)]
    pub(super) fn digits(&self) -> &[i8; WINDOWS] {
        &self.0
    }
}

/// `Σ sᵢ·Pᵢ` for `digits[i]` the signed digits of `sᵢ` and `Pᵢ` the `i`-th item of
/// `points` (pairs beyond the shorter of the two are ignored). `points` is iterated
/// once per window.
pub(super) fn pippenger<'p, I>(digits: &[ScalarDigits], points: I) -> EdwardsPoint
where
    I: Iterator<Item = &'p EdwardsPoint> + Clone,
{
    let mut total = EdwardsPoint::identity();
    let mut buckets = [EdwardsPoint::identity(); BUCKETS];
    for w in (0..WINDOWS).rev() {
        for _ in 0..WINDOW_BITS {
            total = total + total;
        }
        for bucket in buckets.iter_mut() {
            *bucket = EdwardsPoint::identity();
        }
        for (d, p) in digits.iter().zip(points.clone()) {
            let digit = d.0.get(w).copied().unwrap_or(0);
            let slot = usize::from(digit.unsigned_abs()).wrapping_sub(1);
            if let Some(bucket) = buckets.get_mut(slot) {
                if digit > 0 {
                    *bucket += p;
                } else {
                    *bucket -= p;
                }
            }
        }
        // Σ_b (b + 1)·bucket[b], as a running sum from the top bucket down.
        let mut running = EdwardsPoint::identity();
        let mut window_sum = EdwardsPoint::identity();
        for bucket in buckets.iter().rev() {
            running += bucket;
            window_sum += running;
        }
        total += window_sum;
    }
    total
}
