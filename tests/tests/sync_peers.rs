//! The core replication node under peer churn and replayed fork proofs (issue 15):
//!
//! - a thousand throwaway peer ids do not push a banned peer out of the peer table
//!   (its ban holds), and peers that leave free their slots;
//! - a replayed fork proof costs a lookup, not two signature checks, and the replaying
//!   peer loses score until it is banned.
//!
//! Signature checks are counted through the node's [`SignatureCheck`] (a counting
//! wrapper around [`Ed25519Check`]); timings are printed for the report
//! (`cargo test -p glitter-tests --test sync_peers -- --nocapture`).

mod sync_common;

use glitter_core::chain::ChainState;
use glitter_core::sig::KeyPair;
use glitter_core::sync::{Message, PeerId};
use glitter_core::{BlockKind, ForkProof};
use std::time::Instant;
use sync_common::{NoHeaders, Sent, TestNode, keys, node};

/// Two blocks 1 of `author`: a fork, as proof bytes of a `Fork` message.
fn fork_message(author: &KeyPair) -> Vec<u8> {
    let block = |payload: &[u8]| {
        let mut st = ChainState::new(author.public()).expect("chain state");
        st.append(author, BlockKind::Post, 1_000, payload, &mut NoHeaders)
            .expect("block 1")
    };
    let proof = ForkProof::new(block(b"one"), block(b"two")).expect("a fork");
    let mut buf = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
    Message::Fork(proof).emit(&mut buf).expect("emit").to_vec()
}

/// A message no peer may send: a block whose signature does not verify.
fn forged_block(author: &KeyPair) -> Vec<u8> {
    let mut st = ChainState::new(author.public()).expect("chain state");
    let h = st
        .append(author, BlockKind::Post, 1_000, b"x", &mut NoHeaders)
        .expect("block 1");
    let mut header = h.to_bytes();
    if let Some(b) = header.last_mut() {
        *b ^= 1;
    }
    let mut buf = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
    Message::block(&header, Some(b"x"))
        .emit(&mut buf)
        .expect("emit")
        .to_vec()
}

#[test]
fn a_ban_survives_a_thousand_throwaway_peer_ids() {
    let (mut n, _) = node(1);
    let author = keys(2);
    assert!(n.follow(author.public()));
    let bad: PeerId = 7;
    assert!(n.add_peer(bad));
    let mut out = Sent::default();
    // The bad peer sends forged blocks until it is banned.
    let forged = forged_block(&author);
    for t in 0..3 {
        let _ = n.handle(10 + t, bad, &forged, &mut out);
    }
    assert!(n.is_banned(bad, 20), "banned after three forged blocks");
    // A thousand throwaway ids connect (and gossip) after it.
    for p in 1_000..2_000u32 {
        n.add_peer(p);
        let mut heads = [0u8; 3];
        heads[0] = 1;
        let _ = n.handle(30, p, &heads, &mut out);
    }
    assert!(
        n.is_banned(bad, 40),
        "still banned after 1,000 new peer ids"
    );
    assert_eq!(
        n.handle(40, bad, &forged, &mut out),
        Err(glitter_core::sync::HandleError::Banned)
    );
    // A later peer still gets a slot and can still be banned.
    let late: PeerId = 5_000;
    for t in 0..3 {
        let _ = n.handle(50 + t, late, &forged, &mut out);
    }
    assert!(
        n.is_banned(late, 60),
        "a peer added after the churn is banned too"
    );
    assert!(n.is_banned(bad, 60));
}

#[test]
fn peers_that_leave_free_their_slots() {
    let (mut n, _) = node(1);
    for p in 0..1_000u32 {
        assert!(n.add_peer(p), "peer {p} added");
        n.peer_gone(p);
    }
    assert_eq!(n.peer_score(999), None, "a peer that left is forgotten");
    // A banned peer that leaves keeps its ban while its slot is needed by nobody.
    let author = keys(2);
    let forged = forged_block(&author);
    let mut out = Sent::default();
    assert!(n.follow(author.public()));
    for t in 0..3 {
        let _ = n.handle(10 + t, 77, &forged, &mut out);
    }
    n.peer_gone(77);
    assert!(n.is_banned(77, 20), "leaving does not lift a ban");
}

/// Sends the same valid fork proof `replays` times from `peers` (round robin), and
/// returns the signature checks and the time per message.
fn replay(follow: bool, peers: &[PeerId], replays: u32) -> (u64, f64, TestNode) {
    let (mut n, checks) = node(1);
    let author = keys(3);
    if follow {
        assert!(n.follow(author.public()));
    }
    for p in peers {
        n.add_peer(*p);
    }
    let msg = fork_message(&author);
    let mut out = Sent::default();
    let start = Instant::now();
    for i in 0..replays {
        let from = peers[i as usize % peers.len()];
        let _ = n.handle(100 + u64::from(i), from, &msg, &mut out);
    }
    let per_msg_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(replays);
    (checks.get(), per_msg_us, n)
}

#[test]
fn replayed_fork_proofs_cost_no_signature_checks() {
    // A followed author: the first copy is verified (2 checks), the rest are known.
    let (checks, us, n) = replay(true, &[9], 1_000);
    eprintln!("followed author, one peer: {checks} signature checks, {us:.2} µs per message");
    assert_eq!(
        n.forked_at(&keys(3).public()),
        Some(1),
        "the fork is learned"
    );
    assert_eq!(
        checks, 2,
        "one proof verified once, through the node's checker"
    );
    assert!(n.is_banned(9, 2_000), "the replaying peer is banned");

    // An author nobody here follows: nothing is verified.
    let (checks, us, n) = replay(false, &[9], 1_000);
    eprintln!("unfollowed author, one peer: {checks} signature checks, {us:.2} µs per message");
    assert_eq!(checks, 0);
    assert!(n.forks().is_empty());
    assert!(
        n.is_banned(9, 2_000),
        "replaying an unsolicited proof costs score"
    );

    // The same proof relayed by 1,000 different peers: verified once in all.
    let peers: Vec<PeerId> = (100..1_100).collect();
    let (checks, us, _) = replay(true, &peers, 1_000);
    eprintln!("followed author, 1,000 peers: {checks} signature checks, {us:.2} µs per message");
    assert!(checks <= 10, "{checks} signature checks");
}

#[test]
fn an_honest_resend_of_a_fork_proof_costs_nothing() {
    // An honest peer resends each proof at most once per resend interval (5 s); the
    // copies may arrive a little closer together.
    let (mut n, checks) = node(1);
    let author = keys(3);
    assert!(n.follow(author.public()));
    let msg = fork_message(&author);
    let mut out = Sent::default();
    let mut t = 1_000;
    for i in 0..40u64 {
        assert_eq!(n.handle(t, 9, &msg, &mut out), Ok(()));
        t += 5_000 - (i % 3) * 400;
    }
    assert_eq!(n.peer_score(9), Some(0), "no penalty for honest resends");
    assert_eq!(checks.get(), 2, "verified once");
    assert_eq!(n.forked_at(&author.public()), Some(1));
}

#[test]
fn a_forged_fork_proof_is_checked_once_and_its_copies_cost_score() {
    let author = keys(3);
    // A proof whose second signature is broken (a variant whose ids stay in canonical
    // order, so it reaches the signature check).
    let mut found = None;
    for v in 0..64u8 {
        let block = |payload: &[u8]| {
            let mut st = ChainState::new(author.public()).expect("chain state");
            st.append(&author, BlockKind::Post, 1_000, payload, &mut NoHeaders)
                .expect("block 1")
        };
        let proof = ForkProof::new(block(&[v, 1]), block(&[v, 2])).expect("a fork");
        let mut buf = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
        let mut msg = Message::Fork(proof).emit(&mut buf).expect("emit").to_vec();
        if let Some(b) = msg.last_mut() {
            *b ^= 1;
        }
        let (mut n, checks) = node(1);
        assert!(n.follow(author.public()));
        let mut out = Sent::default();
        if let Err(glitter_core::sync::HandleError::Invalid(_)) = n.handle(10, 9, &msg, &mut out) {
            found = Some((n, checks, msg));
            break;
        }
    }
    let (mut n, checks, msg) = found.expect("a forged proof that reaches the signature check");
    assert!(checks.get() <= 2);
    let mut out = Sent::default();
    // The same forged proof from other peers, well apart: no new check, a penalty each.
    for p in 20..30u32 {
        let r = n.handle(10_000 + u64::from(p) * 10_000, p, &msg, &mut out);
        assert!(r.is_err(), "refused");
        assert_eq!(n.peer_score(p), Some(-25));
    }
    assert!(checks.get() <= 2, "{} signature checks", checks.get());
    assert!(n.forks().is_empty());
}
