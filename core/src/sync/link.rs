//! The device link: sync messages over a byte stream (a UART, USB CDC-ACM, or QEMU's
//! serial port on a socket).
//!
//! ## Framing
//!
//! A frame's body is followed by its CRC-32 (ISO-HDLC, little-endian), the whole is
//! COBS-encoded, and a `0x00` byte ends it. COBS output holds no zero byte, so a
//! receiver that joins mid-stream, or meets line noise, loses at most the frame it is
//! in: the next `0x00` resynchronises it. Empty frames (two delimiters in a row) are
//! ignored, so a sender may lead with a delimiter to flush a half-sent frame.
//!
//! ## Bodies
//!
//! A body is one core sync [`Message`](super::Message), byte for byte as
//! [`Message::emit`](super::Message::emit) writes it (tags 1 to 4), or one of two link
//! bodies whose tags no sync message uses:
//!
//! - [`Hello`] (tag `0x80`): the sender's public key and limits. Each side sends one
//!   when the link comes up; receiving one means the other side (re)started, so the
//!   receiver forgets what it knew of it.
//! - `Follow` (tag `0x81`, host to device): "replicate this author".
//!
//! ## Bounds
//!
//! A [`Deframer`] holds at most `N` encoded bytes; a longer frame is dropped whole and
//! counted as [`FrameError::Oversized`], and so is a frame with broken COBS or a wrong
//! CRC. Nothing here panics or allocates. [`FRAME_ENCODED_MAX`] fits the largest sync
//! message.

use crate::sig::PublicKey;
use crate::sync::message::MESSAGE_LEN_MAX;
use crate::wire::WireError;

/// The link protocol version in [`Hello`].
pub const LINK_VERSION: u8 = 1;
/// Tag of a [`Hello`] body.
pub const TAG_HELLO: u8 = 0x80;
/// Tag of a `Follow` body.
pub const TAG_FOLLOW: u8 = 0x81;
/// Length of an encoded [`Hello`] body.
pub const HELLO_LEN: usize = 1 + 1 + 32 + 2 + 2;
/// Length of an encoded `Follow` body.
pub const FOLLOW_LEN: usize = 1 + 32;
/// The CRC's length.
pub const CRC_LEN: usize = 4;
/// The largest body: the largest sync message.
pub const BODY_MAX: usize = MESSAGE_LEN_MAX;
/// The most bytes a frame of `body` bytes takes on the wire: COBS adds one byte per
/// 254 and one more, then the delimiter.
pub const fn encoded_len_max(body: usize) -> usize {
    let n = body + CRC_LEN;
    n + n / 254 + 1 + 1
}
/// The longest frame on the wire (delimiter included): size a [`Deframer`] with it.
pub const FRAME_ENCODED_MAX: usize = encoded_len_max(BODY_MAX);

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Why a frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FrameError {
    /// More bytes than the buffer holds before the delimiter.
    Oversized,
    /// The bytes are not valid COBS.
    Cobs,
    /// Too short to hold a CRC, or the CRC does not match.
    Crc,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::Oversized => "frame longer than the receive buffer",
            FrameError::Cobs => "frame is not valid COBS",
            FrameError::Crc => "frame CRC mismatch",
        })
    }
}

/// Frames received and dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LinkStats {
    /// Frames whose CRC matched.
    pub frames: u64,
    /// Frames dropped for length.
    pub oversized: u64,
    /// Frames dropped for broken COBS.
    pub bad_cobs: u64,
    /// Frames dropped for a wrong CRC (or too short for one).
    pub bad_crc: u64,
}

impl LinkStats {
    /// Every dropped frame.
    pub fn dropped(&self) -> u64 {
        self.oversized + self.bad_cobs + self.bad_crc
    }
}

/// Splits a byte stream into checked frame bodies, in a buffer of `N` bytes.
pub struct Deframer<const N: usize> {
    buf: [u8; N],
    len: usize,
    /// The current frame overflowed: skip to the next delimiter.
    overflow: bool,
    stats: LinkStats,
}

impl<const N: usize> Default for Deframer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Deframer<N> {
    /// An empty deframer.
    pub const fn new() -> Self {
        Deframer {
            buf: [0; N],
            len: 0,
            overflow: false,
            stats: LinkStats {
                frames: 0,
                oversized: 0,
                bad_cobs: 0,
                bad_crc: 0,
            },
        }
    }

    /// What was received and dropped so far.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Forgets a partly received frame (the link went down), keeping the counters.
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Takes one byte. At a delimiter that ends a non-empty frame, returns its body
    /// (CRC checked and removed) or why it was dropped.
    pub fn feed(&mut self, byte: u8) -> Option<Result<&[u8], FrameError>> {
        if byte != 0 {
            if self.overflow {
                return None;
            }
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = byte;
                    self.len += 1;
                }
                None => self.overflow = true,
            }
            return None;
        }
        let len = core::mem::replace(&mut self.len, 0);
        if core::mem::replace(&mut self.overflow, false) {
            self.stats.oversized += 1;
            return Some(Err(FrameError::Oversized));
        }
        if len == 0 {
            return None;
        }
        let raw = self.buf.get_mut(..len)?;
        let n = match cobs::decode_in_place(raw) {
            Ok(n) => n,
            Err(_) => {
                self.stats.bad_cobs += 1;
                return Some(Err(FrameError::Cobs));
            }
        };
        let Some(body_len) = n.checked_sub(CRC_LEN) else {
            self.stats.bad_crc += 1;
            return Some(Err(FrameError::Crc));
        };
        let (body, rest) = self.buf.split_at(body_len);
        let mut sum = [0u8; CRC_LEN];
        match rest.get(..CRC_LEN) {
            Some(c) => sum.copy_from_slice(c),
            None => {
                self.stats.bad_crc += 1;
                return Some(Err(FrameError::Crc));
            }
        }
        if CRC.checksum(body) != u32::from_le_bytes(sum) {
            self.stats.bad_crc += 1;
            return Some(Err(FrameError::Crc));
        }
        self.stats.frames += 1;
        Some(Ok(body))
    }
}

/// Encodes `body` as one frame (delimiter included) into `out`, returning its length.
///
/// # Errors
/// [`WireError::Oversize`] if `body` exceeds [`BODY_MAX`];
/// [`WireError::BufferTooSmall`] if `out` is shorter than
/// [`encoded_len_max`]`(body.len())`.
pub fn encode_frame(body: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    if body.len() > BODY_MAX {
        return Err(WireError::Oversize {
            len: body.len(),
            max: BODY_MAX,
        });
    }
    let needed = encoded_len_max(body.len());
    if out.len() < needed {
        return Err(WireError::BufferTooSmall { needed });
    }
    let sum = CRC.checksum(body).to_le_bytes();
    let (cobs_out, _) = out.split_at_mut(needed - 1);
    let mut enc = cobs::CobsEncoder::new(cobs_out);
    enc.push(body)
        .and_then(|()| enc.push(&sum))
        .map_err(|_| WireError::BufferTooSmall { needed })?;
    let n = enc.finalize();
    match out.get_mut(n) {
        Some(d) => *d = 0,
        None => return Err(WireError::BufferTooSmall { needed: n + 1 }),
    }
    Ok(n + 1)
}

/// A side's introduction, sent when the link comes up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Hello {
    /// [`LINK_VERSION`] of the sender.
    pub version: u8,
    /// The sender's identity.
    pub key: PublicKey,
    /// The longest frame body the sender accepts.
    pub body_max: u16,
    /// How many authors the sender can replicate (its own included).
    pub authors_max: u16,
}

impl Hello {
    /// Encodes the hello body.
    pub fn encode(&self) -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        let (head, rest) = b.split_at_mut(2);
        head.copy_from_slice(&[TAG_HELLO, self.version]);
        let (key, rest) = rest.split_at_mut(32);
        key.copy_from_slice(self.key.as_bytes());
        let (body_max, authors_max) = rest.split_at_mut(2);
        body_max.copy_from_slice(&self.body_max.to_le_bytes());
        authors_max.copy_from_slice(&self.authors_max.to_le_bytes());
        b
    }
}

/// Encodes a `Follow` body for `author`.
pub fn encode_follow(author: &PublicKey) -> [u8; FOLLOW_LEN] {
    let mut b = [0u8; FOLLOW_LEN];
    let (tag, key) = b.split_at_mut(1);
    tag.copy_from_slice(&[TAG_FOLLOW]);
    key.copy_from_slice(author.as_bytes());
    b
}

/// A received body, parsed as far as the link is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// A sync message's bytes, for [`Node::handle`](super::Node::handle) (which parses
    /// them strictly and penalises the sender if they are malformed).
    Sync(&'a [u8]),
    /// The other side (re)started.
    Hello(Hello),
    /// Replicate this author.
    Follow(PublicKey),
}

fn key_at(b: &[u8], at: usize) -> Result<PublicKey, WireError> {
    let mut k = [0u8; 32];
    let src = b.get(at..at + 32).ok_or(WireError::Truncated {
        needed: at + 32,
        got: b.len(),
    })?;
    k.copy_from_slice(src);
    Ok(PublicKey(k))
}

fn exact_len(b: &[u8], len: usize) -> Result<(), WireError> {
    if b.len() > len {
        Err(WireError::TrailingBytes {
            extra: b.len() - len,
        })
    } else if b.len() < len {
        Err(WireError::Truncated {
            needed: len,
            got: b.len(),
        })
    } else {
        Ok(())
    }
}

/// Parses a frame body.
///
/// # Errors
/// [`WireError`] for a link body (hello, follow) of the wrong length or an unknown
/// version. Sync bodies are not parsed here.
pub fn parse_body(b: &[u8]) -> Result<Body<'_>, WireError> {
    match b.first() {
        Some(&TAG_HELLO) => {
            exact_len(b, HELLO_LEN)?;
            let version = b.get(1).copied().ok_or(WireError::Malformed)?;
            if version != LINK_VERSION {
                return Err(WireError::UnsupportedVersion(version));
            }
            let u16_at = |at: usize| -> Result<u16, WireError> {
                match b.get(at..at + 2) {
                    Some(&[lo, hi]) => Ok(u16::from_le_bytes([lo, hi])),
                    _ => Err(WireError::Malformed),
                }
            };
            Ok(Body::Hello(Hello {
                version,
                key: key_at(b, 2)?,
                body_max: u16_at(34)?,
                authors_max: u16_at(36)?,
            }))
        }
        Some(&TAG_FOLLOW) => {
            exact_len(b, FOLLOW_LEN)?;
            Ok(Body::Follow(key_at(b, 1)?))
        }
        Some(_) => Ok(Body::Sync(b)),
        None => Err(WireError::Truncated { needed: 1, got: 0 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type D = Deframer<FRAME_ENCODED_MAX>;

    fn frame(body: &[u8]) -> heapless::Vec<u8, FRAME_ENCODED_MAX> {
        let mut out = [0u8; FRAME_ENCODED_MAX];
        let n = encode_frame(body, &mut out).unwrap();
        heapless::Vec::from_slice(&out[..n]).unwrap()
    }

    fn feed_all(d: &mut D, bytes: &[u8]) -> std::vec::Vec<Result<std::vec::Vec<u8>, FrameError>> {
        let mut got = std::vec::Vec::new();
        for &b in bytes {
            if let Some(r) = d.feed(b) {
                got.push(r.map(|s| s.to_vec()));
            }
        }
        got
    }

    extern crate std;

    #[test]
    fn frames_round_trip_at_every_length_and_byte_pattern() {
        let mut d = D::new();
        for len in [
            0usize, 1, 2, 3, 253, 254, 255, 256, 508, 509, 1000, BODY_MAX,
        ] {
            for fill in [0u8, 1, 0xFF] {
                let body: std::vec::Vec<u8> = (0..len)
                    .map(|i| if fill == 1 { i as u8 } else { fill })
                    .collect();
                let f = frame(&body);
                assert!(f.len() <= encoded_len_max(len));
                assert_eq!(f.iter().filter(|&&b| b == 0).count(), 1, "one delimiter");
                let got = feed_all(&mut d, &f);
                assert_eq!(got, std::vec![Ok(body.clone())], "len {len} fill {fill}");
            }
        }
        assert_eq!(d.stats().dropped(), 0);
    }

    #[test]
    fn garbage_oversize_and_truncation_are_dropped_and_counted() {
        let mut d = D::new();
        let good = frame(b"\x01hello");
        // Truncated frame followed by a delimiter: bad CRC or bad COBS, never a panic.
        let mut stream = std::vec::Vec::new();
        stream.extend_from_slice(&good[..good.len() / 2]);
        stream.push(0);
        // Oversized: a run of non-zero bytes longer than the buffer.
        stream.extend(core::iter::repeat_n(0x55u8, FRAME_ENCODED_MAX + 10));
        stream.push(0);
        // A flipped bit.
        let mut flipped = good.clone();
        flipped[2] ^= 0x10;
        stream.extend_from_slice(&flipped);
        stream.extend_from_slice(&good);
        let got = feed_all(&mut d, &stream);
        assert_eq!(got.len(), 4);
        assert!(got[0].is_err());
        assert_eq!(got[1], Err(FrameError::Oversized));
        assert!(got[2].is_err());
        assert_eq!(got[3], Ok(b"\x01hello".to_vec()));
        assert_eq!(d.stats().frames, 1);
        assert_eq!(d.stats().dropped(), 3);
    }

    #[test]
    fn hello_and_follow_round_trip_and_reject_bad_lengths() {
        let key = PublicKey([7; 32]);
        let h = Hello {
            version: LINK_VERSION,
            key,
            body_max: BODY_MAX as u16,
            authors_max: 4,
        };
        assert_eq!(parse_body(&h.encode()), Ok(Body::Hello(h)));
        assert_eq!(parse_body(&encode_follow(&key)), Ok(Body::Follow(key)));
        assert!(parse_body(&h.encode()[..HELLO_LEN - 1]).is_err());
        let mut v2 = h.encode();
        v2[1] = 2;
        assert_eq!(parse_body(&v2), Err(WireError::UnsupportedVersion(2)));
        assert!(parse_body(&[]).is_err());
        assert_eq!(parse_body(&[3, 1, 2]), Ok(Body::Sync(&[3, 1, 2])));
    }

    #[test]
    fn encode_refuses_small_buffers_and_large_bodies() {
        let mut small = [0u8; 8];
        assert!(matches!(
            encode_frame(&[1; 16], &mut small),
            Err(WireError::BufferTooSmall { .. })
        ));
        let mut out = [0u8; FRAME_ENCODED_MAX + 8];
        assert!(matches!(
            encode_frame(&[1; BODY_MAX + 1], &mut out),
            Err(WireError::Oversize { .. })
        ));
    }
}
