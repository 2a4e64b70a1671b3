//! Target 13, `device_link`: the device link's framing (`glitter_core::sync::link`),
//! fed a byte stream as a UART would deliver it.
//!
//! Invariants: never panics; the deframer yields, frame for frame, exactly what an
//! independent model yields (split at zero bytes; COBS decoded by the textbook rule;
//! CRC-32 computed bit by bit; frames longer than the buffer dropped whole); its
//! counters add up; every body it yields re-encodes, through `encode_frame`, to a
//! frame the deframer gives back unchanged; a body that parses as a hello or a follow
//! re-encodes to its very bytes.

use glitter_core::sync::link::{
    self, Body, Deframer, FRAME_ENCODED_MAX, FrameError, Hello, LINK_VERSION,
};

/// A small buffer too, so the oversize rule is reached by short inputs.
const SMALL: usize = 48;

/// CRC-32 (ISO-HDLC): reflected polynomial 0xEDB88320, initial and final XOR all ones.
fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// COBS decoding by the textbook rule: a code byte `n` is followed by `n - 1` data
/// bytes, and unless `n` is 255 or the block ends the input, a zero.
fn cobs_decode(src: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let code = usize::from(src[i]);
        if code == 0 {
            return None;
        }
        let end = i + code;
        if end > src.len() {
            return None;
        }
        out.extend_from_slice(&src[i + 1..end]);
        i = end;
        if code != 255 && i < src.len() {
            out.push(0);
        }
    }
    Some(out)
}

/// What the model says each delimiter yields: `None` for nothing (an empty frame).
fn model(stream: &[u8], cap: usize) -> Vec<Result<Vec<u8>, FrameError>> {
    let mut got = Vec::new();
    let mut parts: Vec<&[u8]> = stream.split(|&b| b == 0).collect();
    // The bytes after the last delimiter are an unfinished frame.
    parts.pop();
    for raw in parts {
        if raw.len() > cap {
            got.push(Err(FrameError::Oversized));
        } else if raw.is_empty() {
            continue;
        } else {
            got.push(match cobs_decode(raw) {
                None => Err(FrameError::Cobs),
                Some(d) if d.len() < 4 => Err(FrameError::Crc),
                Some(d) => {
                    let (body, sum) = d.split_at(d.len() - 4);
                    if crc32(body).to_le_bytes() == sum {
                        Ok(body.to_vec())
                    } else {
                        Err(FrameError::Crc)
                    }
                }
            });
        }
    }
    got
}

fn run_with<const N: usize>(stream: &[u8]) {
    let mut d = Deframer::<N>::new();
    let mut got = Vec::new();
    for &b in stream {
        if let Some(r) = d.feed(b) {
            got.push(r.map(<[u8]>::to_vec));
        }
    }
    let want = model(stream, N);
    // The model's COBS verdict is the whole truth only for well-formed COBS; where
    // the crate's decoder and the textbook rule could differ on a malformed frame, both
    // must still drop it.
    assert_eq!(got.len(), want.len(), "frames: got {got:?}, model {want:?}");
    for (g, w) in got.iter().zip(&want) {
        match (g, w) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => {
                if *a == FrameError::Oversized || *b == FrameError::Oversized {
                    assert_eq!(a, b);
                }
            }
            _ => panic!("deframer {g:?}, model {w:?}"),
        }
    }
    let s = d.stats();
    assert_eq!(s.frames as usize, got.iter().filter(|r| r.is_ok()).count());
    assert_eq!(
        s.dropped() as usize,
        got.iter().filter(|r| r.is_err()).count()
    );
    for body in got.iter().flatten() {
        check_body(body);
    }
}

fn check_body(body: &[u8]) {
    let mut out = vec![0u8; FRAME_ENCODED_MAX];
    let Ok(n) = link::encode_frame(body, &mut out) else {
        // Only a body longer than any sync message is refused.
        assert!(body.len() > link::BODY_MAX);
        return;
    };
    let mut d = Deframer::<FRAME_ENCODED_MAX>::new();
    let mut back = None;
    for &b in &out[..n] {
        if let Some(r) = d.feed(b) {
            back = Some(r.map(<[u8]>::to_vec));
        }
    }
    assert_eq!(back, Some(Ok(body.to_vec())), "a body re-encodes to itself");
    match link::parse_body(body) {
        Ok(Body::Hello(h)) => assert_eq!(&h.encode()[..], body),
        Ok(Body::Follow(k)) => assert_eq!(&link::encode_follow(&k)[..], body),
        Ok(Body::Sync(b)) => assert_eq!(b, body),
        Err(_) => assert!(matches!(
            body.first(),
            Some(&link::TAG_HELLO | &link::TAG_FOLLOW) | None
        )),
    }
}

/// Runs one input: the first byte picks the buffer (the link's or a small one); the
/// rest is the stream.
pub fn run(data: &[u8]) {
    match data.split_first() {
        Some((sel, stream)) if sel & 1 == 1 => run_with::<SMALL>(stream),
        Some((_, stream)) => run_with::<FRAME_ENCODED_MAX>(stream),
        None => {}
    }
}

/// Seeds: genuine frames of every body kind, back to back, with noise between them.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let key = crate::targets::signers()[0].public();
    let hello = Hello {
        version: LINK_VERSION,
        key,
        body_max: link::BODY_MAX as u16,
        authors_max: 4,
    };
    let bodies: Vec<Vec<u8>> = vec![
        hello.encode().to_vec(),
        link::encode_follow(&key).to_vec(),
        vec![2; 42],
        vec![0; 300],
        (0..=255).collect(),
    ];
    for b in &bodies {
        let mut out = vec![0u8; FRAME_ENCODED_MAX];
        let n = link::encode_frame(b, &mut out).expect("a sync-sized body");
        frames.push(out[..n].to_vec());
    }
    let mut seeds = Vec::new();
    for sel in [0u8, 1] {
        for f in &frames {
            let mut s = vec![sel];
            s.extend_from_slice(f);
            seeds.push(s);
        }
        let mut all = vec![sel, 0, 0x55, 0x13];
        for f in &frames {
            all.extend_from_slice(f);
            all.push(0);
        }
        seeds.push(all);
    }
    seeds
}
