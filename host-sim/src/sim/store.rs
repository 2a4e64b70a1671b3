//! In-memory block store for simulated nodes.

use glitter_core::chain::Head;
use glitter_core::sig::PublicKey;
use glitter_core::sync::{StoreFull, SyncStore};
use glitter_core::wire::header::Header;
use std::collections::HashMap;

/// One author's stored chain.
#[derive(Clone, Debug, Default)]
struct Chain {
    headers: Vec<Header>,
    ids: Vec<glitter_core::Hash>,
    payloads: Vec<Option<Vec<u8>>>,
}

/// A `SyncStore` in RAM: chains by author. Survives a simulated crash (the simulator
/// keeps it, as flash would); only the node's volatile state is lost.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    chains: HashMap<PublicKey, Chain>,
    blocks: u64,
}

impl MemStore {
    /// Total blocks stored.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The seq of `author`'s head, 0 if none.
    pub fn head_seq(&self, author: &PublicKey) -> u64 {
        self.chains
            .get(author)
            .map_or(0, |c| c.headers.len() as u64)
    }

    /// All stored headers of `author`.
    pub fn headers(&self, author: &PublicKey) -> &[Header] {
        self.chains.get(author).map_or(&[], |c| &c.headers)
    }

    /// The stored payload of (`author`, `seq`), if kept.
    pub fn payload_ref(&self, author: &PublicKey, seq: u64) -> Option<&[u8]> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.chains.get(author)?.payloads.get(i)?.as_deref()
    }

    /// Authors with at least one block.
    pub fn authors(&self) -> impl Iterator<Item = &PublicKey> {
        self.chains.keys()
    }
}

impl SyncStore for MemStore {
    fn head(&mut self, author: &PublicKey) -> Option<Head> {
        let c = self.chains.get(author)?;
        let h = c.headers.last()?;
        Some(Head {
            seq: h.seq,
            id: *c.ids.last()?,
            timestamp_ms: h.timestamp_ms,
        })
    }

    fn header(&mut self, author: &PublicKey, seq: u64) -> Option<Header> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.chains.get(author)?.headers.get(i).copied()
    }

    fn payload(&mut self, author: &PublicKey, seq: u64, buf: &mut [u8]) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        let p = self.chains.get(author)?.payloads.get(i)?.as_ref()?;
        buf.get_mut(..p.len())?.copy_from_slice(p);
        Some(p.len())
    }

    fn append(&mut self, header: &Header, payload: Option<&[u8]>) -> Result<(), StoreFull> {
        let c = self.chains.entry(header.author).or_default();
        if header.seq != c.headers.len() as u64 + 1 {
            return Err(StoreFull);
        }
        c.headers.push(*header);
        c.ids.push(header.id());
        c.payloads.push(payload.map(<[u8]>::to_vec));
        self.blocks += 1;
        Ok(())
    }
}
