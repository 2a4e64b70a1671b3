//! Canonical bytes.
//!
//! Every structure has exactly one encoding. Decoding is strict: exact length, no
//! trailing bytes, every length bounded before it is used, and values re-encode to the
//! bytes they came from.

pub mod header;
pub mod payload;

/// Why bytes could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WireError {
    /// The input ended early: `needed` bytes were required, `got` were given.
    Truncated {
        /// Bytes required.
        needed: usize,
        /// Bytes given.
        got: usize,
    },
    /// The input has `extra` bytes after the structure.
    TrailingBytes {
        /// Number of surplus bytes.
        extra: usize,
    },
    /// The format version byte is not one this build understands.
    UnsupportedVersion(u8),
    /// The block kind byte is not a known kind.
    UnknownKind(u8),
    /// A declared length exceeds its bound.
    Oversize {
        /// Declared length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The bytes decode, but are not the one canonical encoding of their value.
    NonCanonical,
    /// The bytes do not decode as the expected structure.
    Malformed,
    /// The output buffer is too small: `needed` bytes are required.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::Truncated { needed, got } => {
                write!(f, "truncated: {got} bytes, {needed} needed")
            }
            WireError::TrailingBytes { extra } => write!(f, "{extra} trailing bytes"),
            WireError::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            WireError::UnknownKind(k) => write!(f, "unknown block kind {k}"),
            WireError::Oversize { len, max } => write!(f, "length {len} exceeds the bound {max}"),
            WireError::NonCanonical => f.write_str("non-canonical encoding"),
            WireError::Malformed => f.write_str("malformed encoding"),
            WireError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
        }
    }
}

impl core::error::Error for WireError {}
