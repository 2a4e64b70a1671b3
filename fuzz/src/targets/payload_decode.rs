//! Target 2, `payload_decode`: every payload kind's strict decoding.
//!
//! The first byte picks the kind, the rest is the payload. Invariants: never panics;
//! `Payload::decode` accepts exactly what the independent model
//! ([`crate::payload_model`]) calls the canonical encoding of that kind; what it
//! accepts re-encodes to the very bytes, as a payload of that kind; a claim decodes
//! the same through `zk::Claim::decode`; a manifest's structural check is total.

use glitter_core::social::Payload;
use glitter_core::wire::header::BlockKind;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&k, bytes)) = data.split_first() else {
        return;
    };
    let kind = BlockKind::ALL[usize::from(k) % BlockKind::ALL.len()];
    let got = Payload::decode(kind, bytes);
    let model = crate::payload_model::canonical(kind as u8, bytes);
    assert_eq!(
        got.is_ok(),
        model,
        "kind {kind:?}: decoder {got:?}, model {model}"
    );
    if kind == BlockKind::Claim {
        let claim = glitter_core::zk::Claim::decode(bytes);
        assert_eq!(claim.is_ok(), got.is_ok());
    }
    let Ok(p) = got else { return };
    assert_eq!(p.kind(), kind);
    let mut buf = [0u8; 1024];
    let again = p.encode(&mut buf).expect("a decoded payload encodes");
    assert_eq!(again, bytes, "re-encoding differs");
    if let Payload::BackupManifest(m) = &p {
        let _ = m.validate();
        let _ = (m.count(), m.last_seq());
    }
}

/// Seeds: every sample payload, each prefixed by its kind code.
pub fn seeds() -> Vec<Vec<u8>> {
    let k = crate::fixtures::keys(61);
    crate::fixtures::sample_payloads(&k.public())
        .iter()
        .map(|p| {
            let mut buf = [0u8; 1024];
            let b = p.encode(&mut buf).map(<[u8]>::to_vec).unwrap_or_default();
            // Kind codes are 1..=8; the target maps the byte modulo 8 onto BlockKind::ALL.
            let mut out = vec![p.kind() as u8 - 1];
            out.extend_from_slice(&b);
            out
        })
        .collect()
}
