//! Target 1, `header_roundtrip`: block header decoding, then re-encoding.
//!
//! Invariants: never panics; decodes exactly the inputs the header table allows
//! (212 bytes, version 1, a known kind, `payload_len` ≤ 1024); a decoded header's
//! fields are the bytes at their documented offsets, it re-encodes to the very input,
//! and its id is SHA-256 of the input.

use crate::chain_model::{DOMAIN, HEADER, sha256};
use glitter_core::sync::Message;
use glitter_core::wire::header::{Header, HeaderView};

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let decoded = Header::decode(data);
    let valid = data.len() == HEADER
        && data[0] == 1
        && (1..=8).contains(&data[1])
        && u16::from_le_bytes([data[2], data[3]]) <= 1024;
    assert_eq!(decoded.is_ok(), valid, "{decoded:?}");
    if let Ok(view) = HeaderView::new_checked(data) {
        // Every accessor of a checked view is total.
        let _ = (
            view.version(),
            view.kind_code(),
            view.payload_len(),
            view.seq(),
        );
        assert_eq!(view.signed_bytes(), &data[..148]);
        let arr: &[u8; HEADER] = view.bytes();
        assert_eq!(Message::block_header(arr), decoded);
    }
    let Ok(h) = decoded else { return };
    assert_eq!(h.kind as u8, data[1]);
    assert_eq!(h.payload_len, u16::from_le_bytes([data[2], data[3]]));
    assert_eq!(&h.author.0[..], &data[4..36]);
    assert_eq!(h.seq, le64(data, 36));
    assert_eq!(h.timestamp_ms, le64(data, 44));
    assert_eq!(&h.prev.0[..], &data[52..84]);
    assert_eq!(&h.skip.0[..], &data[84..116]);
    assert_eq!(&h.payload_hash.0[..], &data[116..148]);
    assert_eq!(&h.signature[..], &data[148..212]);
    assert_eq!(&h.to_bytes()[..], data, "re-encoding differs");
    assert_eq!(h.id().0, sha256(data));
    let msg = h.signing_message();
    assert_eq!(&msg[..DOMAIN.len()], DOMAIN);
    assert_eq!(&msg[DOMAIN.len()..], &data[..148]);
    // Checking the signature of arbitrary bytes is total too.
    let _ = h.verify_signature();
}

/// Seeds: the headers of a chain of every payload kind, and a few broken ones.
pub fn seeds() -> Vec<Vec<u8>> {
    let chain = crate::fixtures::mixed_chain(61, 12);
    let mut out: Vec<Vec<u8>> = chain
        .headers
        .iter()
        .map(|h| h.to_bytes().to_vec())
        .collect();
    let mut bad = out[0].clone();
    bad[0] = 2;
    out.push(bad);
    out.push(out[1][..211].to_vec());
    out
}
