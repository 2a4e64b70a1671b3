//! The model of the flash log (target `flash_log`): the committed blocks of every
//! author, and the store's own link rules (README "Storage" and docs/STORAGE.md): each
//! author's blocks are stored from seq 1, a genesis block has zero `prev` and `skip`,
//! every later block's `prev` is the id of the one before, timestamps do not go back,
//! and a payload is at most 1024 bytes, exactly the header's `payload_len`.
//!
//! The store does not check signatures, skip links past genesis or payload hashes,
//! and neither does the model.

use crate::chain_model::{HEADER, sha256};
use std::collections::BTreeMap;

/// One stored block: the header bytes and the payload.
pub type Block = ([u8; HEADER], Vec<u8>);

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// The author field of a header.
pub fn author_of(h: &[u8; HEADER]) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[4..36]);
    a
}

/// Why the model refuses an append (the store's `Oversize` and `Unlinked`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Payload above 1024 bytes.
    Oversize,
    /// Not the next link (seq, prev, genesis links, timestamp, payload length).
    Unlinked,
}

/// The committed blocks, by author.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogModel {
    /// Each author's chain, seq 1 first.
    pub chains: BTreeMap<[u8; 32], Vec<Block>>,
}

impl LogModel {
    /// Blocks held, all authors.
    pub fn blocks(&self) -> usize {
        self.chains.values().map(Vec::len).sum()
    }

    /// `author`'s chain.
    pub fn chain(&self, author: &[u8; 32]) -> &[Block] {
        self.chains.get(author).map_or(&[][..], Vec::as_slice)
    }

    /// Whether `header` and `payload` may be appended, by the store's rules.
    pub fn check(&self, header: &[u8; HEADER], payload: &[u8]) -> Result<(), Refusal> {
        if payload.len() > 1024 {
            return Err(Refusal::Oversize);
        }
        let declared = usize::from(u16::from_le_bytes([header[2], header[3]]));
        if payload.len() != declared {
            return Err(Refusal::Unlinked);
        }
        let chain = self.chain(&author_of(header));
        if le64(header, 36) != chain.len() as u64 + 1 {
            return Err(Refusal::Unlinked);
        }
        let linked = match chain.last() {
            None => header[52..116].iter().all(|b| *b == 0),
            Some((last, _)) => header[52..84] == sha256(last) && le64(header, 44) >= le64(last, 44),
        };
        if linked {
            Ok(())
        } else {
            Err(Refusal::Unlinked)
        }
    }

    /// Records an appended block.
    pub fn push(&mut self, header: [u8; HEADER], payload: Vec<u8>) {
        self.chains
            .entry(author_of(&header))
            .or_default()
            .push((header, payload));
    }

    /// Checks a chain read from a mounted log against the store's rules (a mount
    /// must never serve one that breaks them).
    pub fn check_chain(author: &[u8; 32], chain: &[Block]) {
        let mut model = LogModel::default();
        for (h, p) in chain {
            assert!(
                crate::wire_model::header_decodes(h),
                "a mounted header does not decode"
            );
            assert_eq!(&author_of(h), author, "a block filed under another author");
            assert_eq!(
                model.check(h, p),
                Ok(()),
                "a mounted chain breaks a link rule"
            );
            model.push(*h, p.clone());
        }
    }
}

/// A block that links onto `last` (or is a genesis block): author `author`, a payload
/// of `len` bytes of `fill`, one millisecond after `last`. Unsigned: the store does
/// not check signatures.
pub fn next_block(author: [u8; 32], last: Option<&[u8; HEADER]>, len: usize, fill: u8) -> Block {
    let payload = vec![fill; len];
    let mut h = [0u8; HEADER];
    h[0] = 1;
    h[1] = 2;
    h[2..4].copy_from_slice(&(len as u16).to_le_bytes());
    h[4..36].copy_from_slice(&author);
    let (seq, ts, prev) = match last {
        None => (1, 1_000, [0u8; 32]),
        Some(l) => (le64(l, 36) + 1, le64(l, 44) + 1, sha256(l)),
    };
    h[36..44].copy_from_slice(&seq.to_le_bytes());
    h[44..52].copy_from_slice(&ts.to_le_bytes());
    h[52..84].copy_from_slice(&prev);
    h[116..148].copy_from_slice(&sha256(&payload));
    (h, payload)
}
