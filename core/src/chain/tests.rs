//! What the chain validator checks of a claim block: its structure, never its proof.
//! These tests run with and without the `zk` feature and must pass the same way.

use super::*;
use crate::social::{Claim, ClaimBackend, ClaimStatement};
use heapless::Vec;

fn claim(proof: &[u8]) -> Claim {
    Claim {
        backend: ClaimBackend::Dalek,
        statement: ClaimStatement::KnowsKey { key: [7; 32] },
        context: Vec::from_slice(b"glitter/test").unwrap(),
        message: Vec::from_slice(b"hello").unwrap(),
        proof: Vec::from_slice(proof).unwrap(),
    }
}

/// Appends `payload` as a claim block to a fresh chain and verifies it on another
/// validator of the same chain.
fn verify_claim_payload(payload: &[u8]) -> Result<Header, ChainError> {
    let keys = KeyPair::from_seed([1; 32]).unwrap();
    let mut writer = ChainState::new(keys.public()).unwrap();
    let h = writer
        .append(&keys, BlockKind::Claim, 1_000, payload, &mut NoHeaders)
        .unwrap();
    let mut reader = ChainState::new(keys.public()).unwrap();
    reader.verify_next(&h.to_bytes(), Some(payload), &mut NoHeaders)
}

#[test]
fn a_claim_with_a_bogus_proof_is_a_valid_block() {
    // 64 bytes of nothing: no verifier would accept this proof, and the chain does not
    // ask one.
    let payload = Payload::Claim(claim(&[0xA5; 64]));
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let bytes = payload.encode(&mut buf).unwrap();
    let h = verify_claim_payload(bytes).unwrap();
    assert_eq!(h.kind, BlockKind::Claim);
    assert_eq!(Payload::decode(BlockKind::Claim, bytes).unwrap(), payload);
}

#[test]
fn a_claim_payload_must_decode_canonically() {
    let payload = Payload::Claim(claim(&[1; 3]));
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let bytes = payload.encode(&mut buf).unwrap();
    // One byte short: the proof's declared length runs past the end.
    let short = &bytes[..bytes.len() - 1];
    assert!(matches!(
        verify_claim_payload(short),
        Err(ChainError::PayloadMalformed(_))
    ));
    // An unknown backend tag (2).
    let mut bad = [0u8; PAYLOAD_LEN_MAX];
    bad[..bytes.len()].copy_from_slice(bytes);
    bad[0] = 2;
    assert!(matches!(
        verify_claim_payload(&bad[..bytes.len()]),
        Err(ChainError::PayloadMalformed(_))
    ));
    // A trailing byte.
    bad[0] = bytes[0];
    bad[bytes.len()] = 0;
    assert!(matches!(
        verify_claim_payload(&bad[..=bytes.len()]),
        Err(ChainError::PayloadMalformed(WireError::TrailingBytes {
            extra: 1
        }))
    ));
    // A proof one byte over the payload layer's bound, whatever the zk layer could
    // prove: the length prefix says 913 (varint 0x91 0x07) where 912 is the most.
    let max = crate::social::CLAIM_PROOF_LEN_MAX;
    assert_eq!(max, 912);
    let full = Payload::Claim(claim(&[3; 912]));
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let len = full.encode(&mut buf).unwrap().len();
    assert_eq!(buf[len - max - 2..len - max], [0x90, 0x07]);
    buf[len - max - 2] = 0x91;
    assert!(matches!(
        verify_claim_payload(&buf[..=len]),
        Err(ChainError::PayloadMalformed(WireError::Malformed))
    ));
}
