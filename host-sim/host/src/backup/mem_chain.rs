//! An own chain in memory: a simulated person's, or a test's. Appends go through
//! core's [`BlockBuilder`], the one append path.

use super::engine::Block;
use super::owner::OwnChain;
use crate::error::BoxError;
use glitter_core::BlockBuilder;
use glitter_core::chain::ChainError;
use glitter_core::chain::ChainState;
use glitter_core::sig::KeyPair;
use glitter_core::social::Payload;
use glitter_core::wire::header::Header;

/// An own chain held in memory, with the clock value its blocks are stamped with.
#[derive(Debug)]
pub struct MemChain {
    builder: BlockBuilder,
    headers: Vec<Header>,
    blocks: Vec<Block>,
    /// The timestamp for the next appended blocks (the caller owns time).
    pub now_ms: u64,
}

impl MemChain {
    /// An empty chain of `keys`.
    ///
    /// # Errors
    /// If `keys` gives an unusable author key.
    pub fn new(keys: KeyPair) -> Result<MemChain, ChainError> {
        let state = ChainState::new(keys.public())?;
        let builder = BlockBuilder::new(keys, state)?;
        Ok(MemChain {
            builder,
            headers: Vec::new(),
            blocks: Vec::new(),
            now_ms: 0,
        })
    }

    /// The owner's keys.
    pub fn keys(&self) -> &KeyPair {
        self.builder.keys()
    }

    /// The blocks so far, seq 1..=head.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Appends a post.
    ///
    /// # Errors
    /// Text over the bound.
    pub fn post(&mut self, text: &str) -> Result<Block, BoxError> {
        let p = Payload::post(text, None)?;
        self.append_own(&p)
    }
}

impl OwnChain for MemChain {
    fn own_blocks(&mut self) -> Result<Vec<Block>, BoxError> {
        Ok(self.blocks.clone())
    }

    fn append_own(&mut self, payload: &Payload) -> Result<Block, BoxError> {
        let (h, bytes) = self
            .builder
            .next(payload, self.now_ms, self.headers.as_mut_slice())?;
        let block = (h, bytes.to_vec());
        self.headers.push(h);
        self.blocks.push(block.clone());
        Ok(block)
    }
}
