//! Strict postcard decoding for payloads.
//!
//! Postcard accepts some encodings that are not minimal (for example over-long varints).
//! glitter accepts only the one canonical encoding: decode, re-encode, compare.

use crate::wire::WireError;
use crate::wire::header::PAYLOAD_LEN_MAX;
use serde::{Deserialize, Serialize};

/// Decodes `bytes` as `T`, requiring no trailing bytes and the canonical encoding.
///
/// # Errors
/// [`WireError::Oversize`] above [`PAYLOAD_LEN_MAX`], [`WireError::Malformed`],
/// [`WireError::TrailingBytes`] or [`WireError::NonCanonical`].
pub fn decode_canonical<'de, T>(bytes: &'de [u8]) -> Result<T, WireError>
where
    T: Deserialize<'de> + Serialize,
{
    if bytes.len() > PAYLOAD_LEN_MAX {
        return Err(WireError::Oversize {
            len: bytes.len(),
            max: PAYLOAD_LEN_MAX,
        });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|_| WireError::Malformed)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes { extra: rest.len() });
    }
    let mut scratch = [0u8; PAYLOAD_LEN_MAX];
    let again = postcard::to_slice(&value, &mut scratch).map_err(|_| WireError::NonCanonical)?;
    if &*again != bytes {
        return Err(WireError::NonCanonical);
    }
    Ok(value)
}

/// Encodes `value` into `out`, returning the used prefix.
///
/// # Errors
/// [`WireError::BufferTooSmall`] if `out` cannot hold the encoding, or
/// [`WireError::Oversize`] if the encoding exceeds [`PAYLOAD_LEN_MAX`].
pub fn encode<'b, T: Serialize>(value: &T, out: &'b mut [u8]) -> Result<&'b [u8], WireError> {
    let needed =
        postcard::experimental::serialized_size(value).map_err(|_| WireError::Malformed)?;
    if needed > PAYLOAD_LEN_MAX {
        return Err(WireError::Oversize {
            len: needed,
            max: PAYLOAD_LEN_MAX,
        });
    }
    if needed > out.len() {
        return Err(WireError::BufferTooSmall { needed });
    }
    let used = postcard::to_slice(value, out).map_err(|_| WireError::BufferTooSmall { needed })?;
    Ok(used)
}
