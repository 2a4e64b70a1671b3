//! Replication messages and their strict wire format.
//!
//! Every message starts with a tag byte. Layouts (integers little-endian):
//!
//! | message | layout | size bound |
//! | --- | --- | --- |
//! | `Heads` | `0x01`, flags u8 (bit 0: reply wanted), count u8 ≤ 16, count × (author 32, seq 8, id 32) | 3 + 16·72 = 1,155 |
//! | `Want` | `0x02`, author 32, from_seq u64, count u8 in 1..=16 | 42 |
//! | `Block` | `0x03`, header 212, has_payload u8 (0 or 1), payload (`payload_len` bytes) | 1,238 |
//! | `Fork` | `0x04`, fork proof 424 | 425 |
//!
//! In a `Heads` entry the top bit of the seq word is the *forked* flag: the sender holds
//! a fork proof against that author (seqs stop far below it, at
//! [`SEQ_MAX`](crate::lipmaa::SEQ_MAX)); the other 63 bits are the seq.
//!
//! Decoding accepts only these layouts: unknown tags and flag bits, counts out of range,
//! truncation and trailing bytes are [`WireError`]s. Content is checked later (headers
//! by the chain validator, fork proofs by [`ForkProof::verify`]).

use crate::chain::{FORK_PROOF_LEN, ForkProof};
use crate::hash::Hash;
use crate::sig::PublicKey;
use crate::wire::WireError;
use crate::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use heapless::Vec;

/// Most heads in one `Heads` message.
pub const HEADS_MAX: usize = 16;
/// Most blocks one `Want` may ask for.
pub const WANT_COUNT_MAX: u8 = 16;
/// The largest encoded message.
pub const MESSAGE_LEN_MAX: usize = 1 + HEADER_LEN + 1 + PAYLOAD_LEN_MAX;

const TAG_HEADS: u8 = 1;
const TAG_WANT: u8 = 2;
const TAG_BLOCK: u8 = 3;
const TAG_FORK: u8 = 4;
const HEAD_ENTRY_LEN: usize = 72;

/// One advertised head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HeadEntry {
    /// Whose chain.
    pub author: PublicKey,
    /// Its head seq.
    pub seq: u64,
    /// Its head id.
    pub id: Hash,
    /// The sender holds a fork proof against this author (so nobody needs to send it
    /// one).
    pub forked: bool,
}

/// The forked flag in a head entry's seq word.
const FORKED_BIT: u64 = 1 << 63;

/// A replication message (borrowing its payload bytes from the receive buffer).
///
/// Variants differ in size (a `Heads` holds up to 16 entries inline); there is no
/// allocator to box the large ones, and messages live briefly on the stack.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message<'a> {
    /// "Here are heads I hold." With `reply` set, the receiver answers with its own
    /// heads where it is ahead (push-pull); without, only the receiver pulls (push).
    Heads {
        /// Whether the sender wants the receiver's newer heads back.
        reply: bool,
        /// The heads.
        heads: Vec<HeadEntry, HEADS_MAX>,
    },
    /// "Send me blocks `from_seq ..` of `author`, at most `count`."
    Want {
        /// Whose chain.
        author: PublicKey,
        /// First seq wanted.
        from_seq: u64,
        /// How many, 1..=16.
        count: u8,
    },
    /// One block: the encoded header and, unless pruned, the payload.
    Block {
        /// The 212 header bytes (validated by the receiver's chain state).
        header: &'a [u8; HEADER_LEN],
        /// The payload, if the sender has it.
        payload: Option<&'a [u8]>,
    },
    /// Evidence that an author forked.
    Fork(ForkProof),
}

fn take(b: &[u8], at: usize, n: usize) -> Result<&[u8], WireError> {
    let end = at.checked_add(n).ok_or(WireError::Malformed)?;
    b.get(at..end).ok_or(WireError::Truncated {
        needed: end,
        got: b.len(),
    })
}

fn arr<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], WireError> {
    let mut out = [0u8; N];
    out.copy_from_slice(take(b, at, N)?);
    Ok(out)
}

fn exact(b: &[u8], len: usize) -> Result<(), WireError> {
    if b.len() > len {
        return Err(WireError::TrailingBytes {
            extra: b.len() - len,
        });
    }
    if b.len() < len {
        return Err(WireError::Truncated {
            needed: len,
            got: b.len(),
        });
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// Parses one message, strictly.
    ///
    /// # Errors
    /// A [`WireError`] naming the first problem; fork proofs that do not verify are
    /// [`WireError::Malformed`].
    pub fn parse(b: &'a [u8]) -> Result<Message<'a>, WireError> {
        Message::parse_inner(b, true)
    }

    /// As [`Message::parse`], but a fork proof's signatures are not checked: the
    /// replication node checks them itself, and only for a proof it needs, so a
    /// replayed or irrelevant proof costs no signature check. A `Fork` from here must
    /// go through [`ForkProof::verify_with`] before it is trusted.
    pub(crate) fn parse_unverified(b: &'a [u8]) -> Result<Message<'a>, WireError> {
        Message::parse_inner(b, false)
    }

    fn parse_inner(b: &'a [u8], verify_forks: bool) -> Result<Message<'a>, WireError> {
        if b.len() > MESSAGE_LEN_MAX {
            return Err(WireError::Oversize {
                len: b.len(),
                max: MESSAGE_LEN_MAX,
            });
        }
        let tag = *b
            .first()
            .ok_or(WireError::Truncated { needed: 1, got: 0 })?;
        match tag {
            TAG_HEADS => {
                let [flags, count] = arr::<2>(b, 1)?;
                if flags > 1 {
                    return Err(WireError::Malformed);
                }
                let count = usize::from(count);
                if count > HEADS_MAX {
                    return Err(WireError::Oversize {
                        len: count,
                        max: HEADS_MAX,
                    });
                }
                exact(b, 3 + count * HEAD_ENTRY_LEN)?;
                let mut heads = Vec::new();
                for i in 0..count {
                    let at = 3 + i * HEAD_ENTRY_LEN;
                    let word = u64::from_le_bytes(arr(b, at + 32)?);
                    let e = HeadEntry {
                        author: PublicKey(arr(b, at)?),
                        seq: word & !FORKED_BIT,
                        id: Hash(arr(b, at + 40)?),
                        forked: word & FORKED_BIT != 0,
                    };
                    heads.push(e).map_err(|_| WireError::Malformed)?;
                }
                Ok(Message::Heads {
                    reply: flags == 1,
                    heads,
                })
            }
            TAG_WANT => {
                exact(b, 42)?;
                let count = *take(b, 41, 1)?.first().ok_or(WireError::Malformed)?;
                if count == 0 || count > WANT_COUNT_MAX {
                    return Err(WireError::Malformed);
                }
                Ok(Message::Want {
                    author: PublicKey(arr(b, 1)?),
                    from_seq: u64::from_le_bytes(arr(b, 33)?),
                    count,
                })
            }
            TAG_BLOCK => {
                let header: &[u8; HEADER_LEN] = take(b, 1, HEADER_LEN)?
                    .try_into()
                    .map_err(|_| WireError::Malformed)?;
                let has = *take(b, 1 + HEADER_LEN, 1)?
                    .first()
                    .ok_or(WireError::Malformed)?;
                let len = usize::from(u16::from_le_bytes(arr(header, 2)?));
                match has {
                    0 => {
                        exact(b, 2 + HEADER_LEN)?;
                        Ok(Message::Block {
                            header,
                            payload: None,
                        })
                    }
                    1 => {
                        if len > PAYLOAD_LEN_MAX {
                            return Err(WireError::Oversize {
                                len,
                                max: PAYLOAD_LEN_MAX,
                            });
                        }
                        exact(b, 2 + HEADER_LEN + len)?;
                        Ok(Message::Block {
                            header,
                            payload: Some(take(b, 2 + HEADER_LEN, len)?),
                        })
                    }
                    _ => Err(WireError::Malformed),
                }
            }
            TAG_FORK => {
                exact(b, 1 + FORK_PROOF_LEN)?;
                let bytes = take(b, 1, FORK_PROOF_LEN)?;
                let p = if verify_forks {
                    ForkProof::decode(bytes)
                } else {
                    ForkProof::decode_unverified(bytes)
                }
                .map_err(|_| WireError::Malformed)?;
                Ok(Message::Fork(p))
            }
            _ => Err(WireError::Malformed),
        }
    }

    /// The encoded length.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::Heads { heads, .. } => 3 + heads.len() * HEAD_ENTRY_LEN,
            Message::Want { .. } => 42,
            Message::Block { payload, .. } => 2 + HEADER_LEN + payload.map_or(0, |p| p.len()),
            Message::Fork(_) => 1 + FORK_PROOF_LEN,
        }
    }

    /// Writes the message into `out`, returning the used prefix.
    ///
    /// # Errors
    /// [`WireError::BufferTooSmall`] if `out` is shorter than [`Message::encoded_len`].
    pub fn emit<'b>(&self, out: &'b mut [u8]) -> Result<&'b [u8], WireError> {
        let len = self.encoded_len();
        let buf = out
            .get_mut(..len)
            .ok_or(WireError::BufferTooSmall { needed: len })?;
        let mut w = Writer { buf, at: 0 };
        match self {
            Message::Heads { reply, heads } => {
                w.put(&[TAG_HEADS, u8::from(*reply), heads.len() as u8]);
                for h in heads {
                    w.put(&h.author.0);
                    let forked = if h.forked { FORKED_BIT } else { 0 };
                    w.put(&((h.seq & !FORKED_BIT) | forked).to_le_bytes());
                    w.put(&h.id.0);
                }
            }
            Message::Want {
                author,
                from_seq,
                count,
            } => {
                w.put(&[TAG_WANT]);
                w.put(&author.0);
                w.put(&from_seq.to_le_bytes());
                w.put(&[*count]);
            }
            Message::Block { header, payload } => {
                w.put(&[TAG_BLOCK]);
                w.put(&header[..]);
                match payload {
                    Some(p) => {
                        w.put(&[1]);
                        w.put(p);
                    }
                    None => w.put(&[0]),
                }
            }
            Message::Fork(p) => {
                w.put(&[TAG_FORK]);
                w.put(&p.to_bytes());
            }
        }
        let used = w.at;
        Ok(out.get(..used).unwrap_or_default())
    }

    /// A `Block` message for a decoded header (helper for senders).
    pub fn block(header: &'a [u8; HEADER_LEN], payload: Option<&'a [u8]>) -> Message<'a> {
        Message::Block { header, payload }
    }

    /// Decodes the header of a `Block` message.
    ///
    /// # Errors
    /// As [`Header::decode`].
    pub fn block_header(header: &[u8; HEADER_LEN]) -> Result<Header, WireError> {
        Header::decode(header)
    }
}

struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, src: &[u8]) {
        let end = self.at.saturating_add(src.len());
        if let Some(dst) = self.buf.get_mut(self.at..end) {
            dst.copy_from_slice(src);
            self.at = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_strictness() {
        let mut heads = Vec::new();
        for i in 0..3u8 {
            heads
                .push(HeadEntry {
                    author: PublicKey([i; 32]),
                    seq: i as u64 * 7,
                    id: Hash([i + 1; 32]),
                    forked: i == 1,
                })
                .unwrap();
        }
        let hdr = [5u8; HEADER_LEN];
        let msgs = [
            Message::Heads { reply: true, heads },
            Message::Want {
                author: PublicKey([9; 32]),
                from_seq: 3,
                count: 16,
            },
            Message::Block {
                header: &hdr,
                payload: None,
            },
        ];
        for m in msgs {
            let mut buf = [0u8; MESSAGE_LEN_MAX];
            let b = m.emit(&mut buf).unwrap().to_vec();
            assert_eq!(b.len(), m.encoded_len());
            assert_eq!(Message::parse(&b).unwrap(), m);
            for cut in 0..b.len() {
                assert!(Message::parse(&b[..cut]).is_err(), "cut {cut}");
            }
            let mut long = b.clone();
            long.push(0);
            assert!(Message::parse(&long).is_err());
        }
        assert!(Message::parse(&[9]).is_err());
        assert!(Message::parse(&[1, 2, 0]).is_err());
        assert!(Message::parse(&[1, 0, 17]).is_err());
    }
}
