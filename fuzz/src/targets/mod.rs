//! The targets, one module each: `run` checks one input, `seeds` builds the seed
//! corpus from valid objects. `fuzz_targets/<name>.rs` only calls `run`.

pub mod backup_custody;
pub mod backup_restore;
pub mod chain_verify;
pub mod chainfile_import;
pub mod control_request;
pub mod device_link;
pub mod flash_log;
pub mod header_roundtrip;
pub mod heads_validator;
pub mod payload_decode;
pub mod sync_message;
pub mod sync_node;
pub mod zk_claim;

use glitter_core::chain::ForkProof;
use glitter_core::sig::KeyPair;
use glitter_core::sync::Message;
use glitter_core::sync::message::HeadEntry;

/// A target's seed builder.
pub type Seeds = fn() -> Vec<Vec<u8>>;

/// Every target's name and its seed builder, in the order of the list.
pub const ALL: [(&str, Seeds); 13] = [
    ("header_roundtrip", header_roundtrip::seeds),
    ("payload_decode", payload_decode::seeds),
    ("chain_verify", chain_verify::seeds),
    ("chainfile_import", chainfile_import::seeds),
    ("sync_message", sync_message::seeds),
    ("sync_node", sync_node::seeds),
    ("backup_custody", backup_custody::seeds),
    ("backup_restore", backup_restore::seeds),
    ("control_request", control_request::seeds),
    ("flash_log", flash_log::seeds),
    ("zk_claim", zk_claim::seeds),
    ("heads_validator", heads_validator::seeds),
    ("device_link", device_link::seeds),
];

/// The keys whose secrets the fixtures sign with (the wire model's signers).
pub fn signers() -> Vec<KeyPair> {
    [61u8, 62]
        .iter()
        .map(|s| crate::fixtures::keys(*s))
        .collect()
}

/// A genuine fork proof: the author of seed 61 signed two blocks at seq 6.
pub fn fork_proof() -> ForkProof {
    let chain = crate::fixtures::mixed_chain(61, 6);
    let samples = crate::fixtures::sample_payloads(&chain.keys.public());
    let fork = crate::fixtures::extend_chain(&chain, 5, &samples[7..8], glitter_tests::T0_MS + 9);
    ForkProof::new(chain.headers[5], fork.headers[5]).expect("a real fork")
}

/// One encoded message of each kind, and the `/glitter/sync/1` frames of two.
pub fn sample_messages() -> Vec<Vec<u8>> {
    let chain = crate::fixtures::mixed_chain(61, 3);
    let mut heads = heapless::Vec::new();
    for h in &chain.headers[..2] {
        let _ = heads.push(HeadEntry {
            author: h.author,
            seq: h.seq,
            id: h.id(),
            forked: false,
        });
    }
    let header = chain.headers[1].to_bytes();
    let msgs = [
        Message::Heads { reply: true, heads },
        Message::Want {
            author: chain.keys.public(),
            from_seq: 2,
            count: 16,
        },
        Message::block(&header, Some(&chain.payloads[1])),
        Message::block(&header, None),
        Message::Fork(fork_proof()),
    ];
    let mut out: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| {
            let mut b = vec![0u8; m.encoded_len()];
            let _ = m.emit(&mut b);
            b
        })
        .collect();
    let want = out[1].clone();
    let mut request = (want.len() as u16).to_le_bytes().to_vec();
    request.extend_from_slice(&want);
    out.push(request);
    out.push(
        glitter_net::codec::encode_response(&[out[2].clone(), out[3].clone()]).unwrap_or_default(),
    );
    out
}
