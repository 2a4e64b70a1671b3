//! Target 5, `sync_message`: sync `Message` decoding, and the `/glitter/sync/1`
//! request and response framing around it.
//!
//! Invariants: never panics; `Message::parse` accepts exactly the layouts of the
//! independent model ([`crate::wire_model`]) with the same fields, and a fork proof
//! only when it really is one; an accepted message re-encodes to the very input; the
//! framing reads only frames within its bounds and re-encodes what it read.

use crate::wire_model::{self, Shape};
use glitter_core::sync::Message;
use glitter_core::sync::message::MESSAGE_LEN_MAX;
use glitter_net::codec::{RESPONSE_MESSAGES_MAX, SYNC_PROTOCOL, SyncCodec, encode_response};
use libp2p::request_response::Codec;

/// Runs one input.
pub fn run(data: &[u8]) {
    let got = Message::parse(data);
    let model = wire_model::shape(data).filter(|s| match s {
        Shape::Fork { first, second } => {
            wire_model::fork_valid(first, second, &crate::targets::signers())
        }
        _ => true,
    });
    assert_eq!(
        got.is_ok(),
        model.is_some(),
        "parser {got:?}, model {model:?}"
    );
    if let (Ok(m), Some(s)) = (&got, &model) {
        match (m, s) {
            (Message::Heads { reply, heads }, Shape::Heads { reply: r, entries }) => {
                assert_eq!(reply, r);
                // The model keeps the raw seq word: its top bit is the forked mark.
                let mine: Vec<_> = heads
                    .iter()
                    .map(|e| (e.author.0, e.seq | (u64::from(e.forked) << 63), e.id.0))
                    .collect();
                assert_eq!(&mine, entries);
            }
            (
                Message::Want {
                    author,
                    from_seq,
                    count,
                },
                Shape::Want {
                    author: a,
                    from,
                    count: n,
                },
            ) => assert_eq!((author.0, *from_seq, *count), (*a, *from, *n)),
            (
                Message::Block { header, payload },
                Shape::Block {
                    header: h,
                    payload: p,
                },
            ) => {
                assert_eq!(&header[..], &h[..]);
                assert_eq!(payload.map(<[u8]>::to_vec), *p);
            }
            (Message::Fork(proof), Shape::Fork { first, .. }) => {
                assert_eq!(&proof.headers().0.to_bytes()[..], &first[..]);
            }
            _ => panic!("parser and model disagree on the kind: {m:?} / {s:?}"),
        }
        let mut buf = [0u8; MESSAGE_LEN_MAX];
        let again = m.emit(&mut buf).expect("a parsed message encodes");
        assert_eq!(again, data, "re-encoding differs");
        assert_eq!(m.encoded_len(), data.len());
    }
    framing(data);
}

/// The input read as a request frame and as a response frame.
fn framing(data: &[u8]) {
    let mut codec = SyncCodec;
    if let Ok(req) = futures::executor::block_on(codec.read_request(&SYNC_PROTOCOL, &mut &data[..]))
    {
        let len = usize::from(u16::from_le_bytes([data[0], data[1]]));
        assert!((1..=MESSAGE_LEN_MAX).contains(&len));
        assert_eq!(&req[..], &data[2..2 + len]);
    }
    if let Ok(msgs) =
        futures::executor::block_on(codec.read_response(&SYNC_PROTOCOL, &mut &data[..]))
    {
        assert!(msgs.len() <= RESPONSE_MESSAGES_MAX);
        let frame = encode_response(&msgs).expect("what was read encodes");
        assert_eq!(&frame[..], &data[..frame.len()]);
    }
}

/// Seeds: one message of each kind (a genuine fork proof among them), and a framed
/// request and response.
pub fn seeds() -> Vec<Vec<u8>> {
    crate::targets::sample_messages()
}
