//! A domain-separated Fiat–Shamir transcript over SHA-512.
//!
//! Every input goes in as `len(label) ‖ label ‖ len(data) ‖ data` (lengths as
//! little-endian u32 and u64), so no two different sequences of inputs hash the same
//! bytes: a key cannot be shifted into a context, nor a message into a commitment.
//! The first input is always [`PROTOCOL`] and the statement's name, so proofs of one
//! statement type or protocol version never verify as another.
//!
//! Challenges are SHA-512 outputs reduced mod the group order ℓ (a 512-bit value
//! reduced mod a 253-bit ℓ is within 2⁻²⁵⁹ of uniform).
//!
//! SHA-512 here is ed25519-compact's, which glitter already links for signatures;
//! sha2's unrolled SHA-512 would add 27 KB of flash on a Cortex-M3 (measured).

use curve25519_dalek::scalar::Scalar;
use ed25519_compact::sha512::Hash as Sha512;

/// The protocol label every transcript starts with. Changing any proof format means
/// changing this label.
pub const PROTOCOL: &[u8] = b"glitter/zk/v1";

/// A running transcript. Cloning it forks it: the ring proof hashes one shared prefix
/// (statement and binding) with each member's commitment.
#[derive(Clone)]
pub struct Transcript {
    hash: Sha512,
}

impl Transcript {
    /// A transcript for the statement named `statement` (see
    /// [`Statement::NAME`](super::Statement::NAME)).
    pub fn new(statement: &str) -> Transcript {
        let mut t = Transcript {
            hash: Sha512::new(),
        };
        t.append(b"protocol", PROTOCOL);
        t.append(b"statement", statement.as_bytes());
        t
    }

    /// Absorbs `data` under `label`.
    pub fn append(&mut self, label: &[u8], data: &[u8]) {
        // Labels are short constants and data are at most a few KiB, but encode the
        // full lengths anyway: a wrapped length would make two inputs collide.
        let label_len = u32::try_from(label.len()).unwrap_or(u32::MAX);
        let data_len = u64::try_from(data.len()).unwrap_or(u64::MAX);
        self.hash.update(label_len.to_le_bytes());
        self.hash.update(label);
        self.hash.update(data_len.to_le_bytes());
        self.hash.update(data);
    }

    /// Absorbs a count or index under `label`.
    pub fn append_u64(&mut self, label: &[u8], value: u64) {
        self.append(label, &value.to_le_bytes());
    }

    /// Finishes the transcript into a challenge scalar, uniform mod ℓ.
    pub fn challenge(mut self, label: &[u8]) -> Scalar {
        self.append(b"challenge", label);
        Scalar::from_bytes_mod_order_wide(&self.hash.finalize())
    }

    /// Finishes the transcript into 64 raw bytes (for deriving nonces and for the
    /// placeholder's signed digest).
    pub fn finish_bytes(mut self, label: &[u8]) -> [u8; 64] {
        self.append(b"output", label);
        self.hash.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_separates_inputs() {
        let mut a = Transcript::new("t");
        a.append(b"x", b"ab");
        a.append(b"y", b"c");
        let mut b = Transcript::new("t");
        b.append(b"x", b"a");
        b.append(b"y", b"bc");
        assert_ne!(a.challenge(b"c"), b.challenge(b"c"));
    }

    #[test]
    fn statement_name_separates() {
        assert_ne!(
            Transcript::new("a").challenge(b"c"),
            Transcript::new("b").challenge(b"c")
        );
        assert_ne!(
            Transcript::new("a").challenge(b"c"),
            Transcript::new("a").challenge(b"d")
        );
    }
}
