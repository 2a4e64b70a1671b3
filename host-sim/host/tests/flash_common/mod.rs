//! Signed blocks for the flash tests (`file_flash`, `group_commit`).

use glitter_core::KeyPair;
use glitter_core::chain::ChainState;
use glitter_core::social::Payload;
use glitter_core::wire::header::{BlockKind, Header, PAYLOAD_LEN_MAX};

/// `n` signed posts by the authors of `seeds`, chains interleaved: block `i` is by the
/// author `pick(i)` returns, with the text it returns, stamped `i` ms.
pub fn blocks(
    seeds: &[[u8; 32]],
    n: usize,
    pick: impl Fn(usize) -> (usize, String),
) -> Vec<(Header, Vec<u8>)> {
    let keys: Vec<KeyPair> = seeds
        .iter()
        .map(|s| KeyPair::from_seed(*s).expect("seed"))
        .collect();
    let mut states: Vec<ChainState> = keys
        .iter()
        .map(|k| ChainState::new(k.public()).expect("key"))
        .collect();
    let mut past: Vec<Vec<Header>> = vec![Vec::new(); keys.len()];
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    (0..n)
        .map(|i| {
            let (a, text) = pick(i);
            let payload = Payload::post(&text, None)
                .expect("post")
                .encode(&mut buf)
                .expect("encode")
                .to_vec();
            let h = states[a]
                .append(
                    &keys[a],
                    BlockKind::Post,
                    i as u64,
                    &payload,
                    past[a].as_mut_slice(),
                )
                .expect("sign");
            past[a].push(h);
            (h, payload)
        })
        .collect()
}
