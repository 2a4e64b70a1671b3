//! A data directory's own chain as the backup flow sees it.

use super::engine::Block;
use super::owner::OwnChain;
use crate::datadir::DataDir;
use crate::error::{BoxError, DataDirError};
use glitter_core::social::Payload;

/// A data directory's own chain, as the backup flow sees it; blocks appended are
/// stamped `now_ms`.
#[derive(Debug)]
pub struct OwnDir<'a> {
    /// The directory.
    pub dir: &'a DataDir,
    /// The timestamp for appended blocks.
    pub now_ms: u64,
}

impl OwnChain for OwnDir<'_> {
    fn own_blocks(&mut self) -> Result<Vec<Block>, BoxError> {
        let me = self.dir.identity()?.public();
        let chain = self.dir.chain(&me)?;
        Ok(chain
            .headers
            .iter()
            .zip(&chain.payloads)
            .map(|(h, p)| {
                p.clone()
                    .map(|p| (*h, p))
                    .ok_or(DataDirError::NoPayload { seq: h.seq })
            })
            .collect::<Result<Vec<Block>, DataDirError>>()?)
    }

    fn append_own(&mut self, payload: &Payload) -> Result<Block, BoxError> {
        let h = self.dir.append_own(payload, self.now_ms)?;
        let mut buf = [0u8; glitter_core::PAYLOAD_LEN_MAX];
        let bytes = payload.encode(&mut buf).map_err(DataDirError::Payload)?;
        Ok((h, bytes.to_vec()))
    }
}
