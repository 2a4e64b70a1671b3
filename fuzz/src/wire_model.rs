//! The model of the replication wire format (targets `sync_message` and
//! `heads_validator`), restated from the README's "Wire format" table: tag byte, then
//! the fixed layout of each message, exact lengths, no trailing bytes.

use crate::chain_model::{HEADER, expected_signature, sha256};
use glitter_core::sig::KeyPair;

/// The largest message: a block with the largest payload.
pub const MESSAGE_MAX: usize = 1 + HEADER + 1 + 1024;

/// One head entry: author, seq, id.
pub type Entry = ([u8; 32], u64, [u8; 32]);

/// A message's layout, as the table describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `0x01`, flags (bit 0: reply wanted), count ≤ 16, count × (author, seq word, id);
    /// the seq word's top bit is the forked mark, the rest the seq.
    Heads {
        /// Reply wanted.
        reply: bool,
        /// The entries.
        entries: Vec<Entry>,
    },
    /// `0x02`, author, from_seq, count 1..=16.
    Want {
        /// Whose chain.
        author: [u8; 32],
        /// First seq.
        from: u64,
        /// How many.
        count: u8,
    },
    /// `0x03`, header, has_payload 0/1, payload of the header's `payload_len`.
    Block {
        /// The header bytes.
        header: Vec<u8>,
        /// The payload, if present.
        payload: Option<Vec<u8>>,
    },
    /// `0x04`, two headers (the fork proof; its validity is [`fork_valid`]).
    Fork {
        /// The first header.
        first: Vec<u8>,
        /// The second header.
        second: Vec<u8>,
    },
}

fn arr32(b: &[u8]) -> [u8; 32] {
    let mut x = [0u8; 32];
    x.copy_from_slice(&b[..32]);
    x
}

fn le64(b: &[u8]) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[..8]);
    u64::from_le_bytes(x)
}

/// The layout of `b`, or `None` if it is not a message.
pub fn shape(b: &[u8]) -> Option<Shape> {
    if b.len() > MESSAGE_MAX {
        return None;
    }
    match *b.first()? {
        1 => {
            let (flags, count) = (*b.get(1)?, usize::from(*b.get(2)?));
            if flags > 1 || count > 16 || b.len() != 3 + 72 * count {
                return None;
            }
            let entries = b[3..]
                .chunks_exact(72)
                .map(|e| (arr32(e), le64(&e[32..]), arr32(&e[40..])))
                .collect();
            Some(Shape::Heads {
                reply: flags == 1,
                entries,
            })
        }
        2 => {
            let count = *b.get(41)?;
            (b.len() == 42 && (1..=16).contains(&count)).then(|| Shape::Want {
                author: arr32(&b[1..]),
                from: le64(&b[33..]),
                count,
            })
        }
        3 => {
            let header = b.get(1..1 + HEADER)?.to_vec();
            let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
            match *b.get(1 + HEADER)? {
                0 if b.len() == 2 + HEADER => Some(Shape::Block {
                    header,
                    payload: None,
                }),
                1 if len <= 1024 && b.len() == 2 + HEADER + len => Some(Shape::Block {
                    header,
                    payload: Some(b[2 + HEADER..].to_vec()),
                }),
                _ => None,
            }
        }
        4 => (b.len() == 1 + 2 * HEADER).then(|| Shape::Fork {
            first: b[1..1 + HEADER].to_vec(),
            second: b[1 + HEADER..].to_vec(),
        }),
        _ => None,
    }
}

/// A header that decodes: version 1, a known kind, `payload_len` ≤ 1024.
pub fn header_decodes(h: &[u8]) -> bool {
    h.len() == HEADER
        && h[0] == 1
        && (1..=8).contains(&h[1])
        && u16::from_le_bytes([h[2], h[3]]) <= 1024
}

/// Whether two headers are a fork proof (README, witness consensus: "two valid blocks
/// at one seq"; the proof lists the smaller id first). A signature is valid only if it
/// is the deterministic signature of one of `signers` whose key is the author (nobody
/// else can sign for those keys, and no other key has a known secret).
pub fn fork_valid(first: &[u8], second: &[u8], signers: &[KeyPair]) -> bool {
    if !header_decodes(first) || !header_decodes(second) {
        return false;
    }
    let seq = le64(&first[36..]);
    let signed = |h: &[u8]| {
        signers
            .iter()
            .any(|k| k.public().0[..] == h[4..36] && h[148..] == expected_signature(k, h)[..])
    };
    first[4..36] == second[4..36]
        && seq == le64(&second[36..])
        && (1..=1u64 << 52).contains(&seq)
        && sha256(first) < sha256(second)
        && signed(first)
        && signed(second)
}
