//! Building blocks: a signed header plus its encoded payload.

use crate::chain::{ChainError, ChainState, HeaderSource};
use crate::sig::KeyPair;
use crate::social::Payload;
use crate::wire::header::{Header, PAYLOAD_LEN_MAX};

/// Builds and signs the next blocks of one's own chain.
///
/// It owns a payload buffer so a caller can go from a typed [`Payload`] to a signed
/// header and payload bytes in one call, without allocating.
#[derive(Debug)]
pub struct BlockBuilder {
    keys: KeyPair,
    state: ChainState,
    payload: [u8; PAYLOAD_LEN_MAX],
    payload_len: usize,
}

impl BlockBuilder {
    /// A builder for `keys`' chain, resuming at `state` (use [`ChainState::new`] for
    /// an empty chain).
    ///
    /// # Errors
    /// [`ChainError::WrongAuthor`] if `state` belongs to another author.
    pub fn new(keys: KeyPair, state: ChainState) -> Result<BlockBuilder, ChainError> {
        if keys.public() != state.author() {
            return Err(ChainError::WrongAuthor);
        }
        Ok(BlockBuilder {
            keys,
            state,
            payload: [0; PAYLOAD_LEN_MAX],
            payload_len: 0,
        })
    }

    /// The chain state after the blocks built so far.
    pub fn state(&self) -> &ChainState {
        &self.state
    }

    /// The key pair.
    pub fn keys(&self) -> &KeyPair {
        &self.keys
    }

    /// Encodes `payload`, signs the next header, and advances. Returns the header and
    /// the payload bytes (valid until the next call).
    ///
    /// # Errors
    /// [`ChainError::Oversize`] if the payload encoding is too large, or any error of
    /// [`ChainState::append`].
    pub fn next<S: HeaderSource + ?Sized>(
        &mut self,
        payload: &Payload,
        timestamp_ms: u64,
        source: &mut S,
    ) -> Result<(Header, &[u8]), ChainError> {
        let len = payload
            .encode(&mut self.payload)
            .map_err(ChainError::from)?
            .len();
        self.payload_len = len;
        let bytes = self.payload.get(..len).ok_or(ChainError::Oversize {
            len,
            max: PAYLOAD_LEN_MAX,
        })?;
        let h = self
            .state
            .append(&self.keys, payload.kind(), timestamp_ms, bytes, source)?;
        Ok((h, bytes))
    }
}
