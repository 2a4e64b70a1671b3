//! Target 12, `heads_validator`: the gossipsub validator of head announcements
//! (`glitter_net::check_heads`).
//!
//! Invariants: never panics; it accepts exactly what the independent model accepts: a
//! well-formed `Heads` message ([`crate::wire_model`]) whose every author is an
//! admissible key ([`crate::key_model`], curve arithmetic rather than glitter's byte
//! rules) and whose every entry has seq 0 exactly when its id is zero.

use crate::wire_model::{self, Shape};

/// Runs one input.
pub fn run(data: &[u8]) {
    let got = glitter_net::check_heads(data);
    let model = match wire_model::shape(data) {
        Some(Shape::Heads { entries, .. }) => entries.iter().all(|(author, seq, id)| {
            crate::key_model::admitted(author) && (*seq & !(1 << 63) == 0) == (*id == [0; 32])
        }),
        _ => false,
    };
    assert_eq!(got.is_ok(), model, "validator {got:?}, model {model}");
}

/// Seeds: heads of fixture chains (valid, with an unusable key, with seq and id
/// disagreeing), and the other message kinds.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = crate::targets::sample_messages();
    let heads = |entries: &[([u8; 32], u64, [u8; 32])]| {
        let mut b = vec![1u8, 0, entries.len() as u8];
        for (a, s, i) in entries {
            b.extend_from_slice(a);
            b.extend_from_slice(&s.to_le_bytes());
            b.extend_from_slice(i);
        }
        b
    };
    let k = crate::fixtures::keys(61).public().0;
    let mut identity = [0u8; 32];
    identity[0] = 1;
    out.push(heads(&[(k, 0, [0; 32])]));
    out.push(heads(&[(k, 3, [9; 32]), (k, 0, [0; 32])]));
    out.push(heads(&[(identity, 1, [9; 32])]));
    out.push(heads(&[(k, 1, [0; 32])]));
    out
}
