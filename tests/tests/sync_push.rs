//! Eager, interest-aware delivery and fork-proof gossip in the core node (issue 18):
//!
//! - a stored block's head is pushed at once to the peers known to replicate its
//!   author, never to peers that do not, nor back to the peer that sent it;
//! - a peer learns interests from heads and wants, and an introduction tells every
//!   peer this node's interests once;
//! - a new fork proof is pushed to a few peers, not flooded to all; a peer that lists
//!   the author without the forked mark gets the proof back; one that shows the mark
//!   never does.

mod sync_common;

use glitter_core::chain::ChainState;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::sync::message::{HEADS_MAX, HeadEntry, MESSAGE_LEN_MAX};
use glitter_core::sync::{FORK_PUSH_FANOUT, Message, PeerId, QUIET_TICKS};
use glitter_core::{BlockKind, Hash};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use sync_common::{NoHeaders, Sent, keys, node};

fn emit(m: &Message<'_>) -> Vec<u8> {
    let mut buf = [0u8; MESSAGE_LEN_MAX];
    m.emit(&mut buf).expect("emit").to_vec()
}

/// A `Heads` message with one entry.
fn heads(author: PublicKey, seq: u64, id: Hash, forked: bool) -> Vec<u8> {
    let mut list: heapless::Vec<HeadEntry, HEADS_MAX> = heapless::Vec::new();
    list.push(HeadEntry {
        author,
        seq,
        id,
        forked,
    })
    .expect("room");
    emit(&Message::Heads {
        reply: false,
        heads: list,
    })
}

/// Block 1 of `author` with `text`, as a `Block` message, and its id.
fn block_one(author: &KeyPair, text: &str) -> (Vec<u8>, Hash) {
    let mut buf = [0u8; glitter_core::PAYLOAD_LEN_MAX];
    let payload = Payload::post(text, None)
        .expect("post")
        .encode(&mut buf)
        .expect("encode")
        .to_vec();
    let mut st = ChainState::new(author.public()).expect("chain state");
    let h = st
        .append(author, BlockKind::Post, 1_000, &payload, &mut NoHeaders)
        .expect("block 1");
    (emit(&Message::block(&h.to_bytes(), Some(&payload))), h.id())
}

/// The peers `sent` addresses a message of kind `tag` to.
fn to_of(sent: &Sent, tag: u8) -> Vec<PeerId> {
    let mut v: Vec<PeerId> = sent
        .0
        .iter()
        .filter(|(_, b)| b.first() == Some(&tag))
        .map(|(p, _)| *p)
        .collect();
    v.sort_unstable();
    v
}

const HEADS: u8 = 1;
const FORK: u8 = 4;

#[test]
fn a_stored_block_is_pushed_to_sharing_peers_only() {
    let (mut n, _) = node(1);
    let author = keys(2);
    assert!(n.follow(author.public()));
    for p in 10..16 {
        assert!(n.add_peer(p));
    }
    let mut out = Sent::default();
    // Peers 11 and 12 replicate the author (their heads list it; 12 by a want), 13
    // lists an author this node does not follow.
    n.handle(
        0,
        11,
        &heads(author.public(), 0, Hash::ZERO, false),
        &mut out,
    )
    .expect("heads");
    n.handle(
        0,
        12,
        &heads(author.public(), 0, Hash::ZERO, false),
        &mut out,
    )
    .expect("heads");
    n.handle(
        0,
        13,
        &heads(keys(3).public(), 0, Hash::ZERO, false),
        &mut out,
    )
    .expect("heads");
    out.0.clear();
    // Peer 10 sends block 1: stored, and its head goes to 11 and 12 at once, not to
    // 10 (the sender), 13 or the others.
    let (blk, id) = block_one(&author, "hello");
    n.handle(10, 10, &blk, &mut out).expect("block");
    assert_eq!(to_of(&out, HEADS), vec![11, 12], "{:?}", out.0);
    let pushed = out.0.iter().find(|(_, b)| b.first() == Some(&HEADS));
    match Message::parse(&pushed.expect("a push").1) {
        Ok(Message::Heads { reply, heads }) => {
            assert!(!reply);
            assert_eq!(heads.len(), 1);
            assert_eq!(
                (heads[0].author, heads[0].seq, heads[0].id),
                (author.public(), 1, id)
            );
        }
        other => panic!("not heads: {other:?}"),
    }
    assert_eq!(n.stats().pushes, 2);
}

#[test]
fn an_own_post_is_pushed_on_flush_and_interests_are_introduced_once() {
    let (mut n, _) = node(1);
    let me = keys(1);
    for p in 20..23 {
        assert!(n.add_peer(p));
    }
    let mut out = Sent::default();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // The first tick introduces this node to every peer (one heads message each); later
    // ticks introduce nobody, and with nothing new the node gossips only every
    // QUIET_TICKS-th tick.
    n.tick(0, &mut rng, &mut out);
    let first = to_of(&out, HEADS);
    for p in 20..23 {
        assert!(first.contains(&p), "{p} not introduced: {first:?}");
    }
    out.0.clear();
    for t in 1..=u64::from(QUIET_TICKS) {
        n.tick(t * 1_000, &mut rng, &mut out);
    }
    assert_eq!(to_of(&out, HEADS).len(), 1, "one gossip: {:?}", out.0);
    out.0.clear();
    // Peer 21 wants this node's chain: it shares it. An own append is pushed there on
    // flush, and nowhere else.
    let want = emit(&Message::Want {
        author: me.public(),
        from_seq: 1,
        count: 1,
    });
    n.handle(1_100, 21, &want, &mut out).expect("want");
    out.0.clear();
    n.append_own(&me, BlockKind::Post, 1_200, b"mine")
        .expect("append");
    assert!(out.0.is_empty());
    n.flush(1_200, &mut out);
    assert_eq!(to_of(&out, HEADS), vec![21]);
}

#[test]
fn a_fork_proof_is_pushed_to_a_few_peers_then_pulled_by_those_lacking_it() {
    let (mut n, checks) = node(1);
    let author = keys(2);
    assert!(n.follow(author.public()));
    for p in 100..140 {
        assert!(n.add_peer(p));
    }
    let mut out = Sent::default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    n.tick(0, &mut rng, &mut out); // introductions done before the fork
    for _ in 0..5 {
        n.tick(0, &mut rng, &mut out);
    }
    out.0.clear();
    // Two different blocks 1 from peer 100: the node holds a fork proof.
    let (a, _) = block_one(&author, "one");
    let (b, id_b) = block_one(&author, "two");
    n.handle(10, 100, &a, &mut out).expect("a");
    let _ = n.handle(10, 100, &b, &mut out);
    assert_eq!(n.forked_at(&author.public()), Some(1));
    let checks_at_fork = checks.get();
    out.0.clear();
    // The next tick pushes it to FORK_PUSH_FANOUT peers, not to all 40.
    n.tick(1_000, &mut rng, &mut out);
    let pushed = to_of(&out, FORK);
    assert!(
        !pushed.is_empty() && pushed.len() <= FORK_PUSH_FANOUT,
        "{pushed:?}"
    );
    // Its heads mark the author forked.
    let marked = out.0.iter().any(|(_, bytes)| match Message::parse(bytes) {
        Ok(Message::Heads { heads, .. }) => heads
            .iter()
            .any(|e| e.author == author.public() && e.forked),
        _ => false,
    });
    assert!(marked, "no forked mark in {:?}", out.0);
    // A peer that was not pushed to lists the author without the mark: it gets the
    // proof back. One that shows the mark does not, ever.
    let lacking = (101..140).find(|p| !pushed.contains(p)).expect("a peer");
    let holder = (101..140)
        .find(|p| !pushed.contains(p) && *p != lacking)
        .expect("another");
    out.0.clear();
    n.handle(
        1_100,
        lacking,
        &heads(author.public(), 1, id_b, false),
        &mut out,
    )
    .expect("heads");
    assert_eq!(to_of(&out, FORK), vec![lacking]);
    out.0.clear();
    for t in 0..5 {
        n.handle(
            2_000 + t * 10_000,
            holder,
            &heads(author.public(), 1, id_b, true),
            &mut out,
        )
        .expect("heads");
    }
    assert!(to_of(&out, FORK).is_empty(), "{:?}", out.0);
    // Later ticks send no proof on their own: messages stay O(fanout + askers).
    out.0.clear();
    for t in 0..30 {
        n.tick(60_000 + t * 1_000, &mut rng, &mut out);
    }
    assert!(to_of(&out, FORK).is_empty());
    // Spreading the proof costs no signature check.
    assert_eq!(checks.get(), checks_at_fork);
}
