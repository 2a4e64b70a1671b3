//! Target 6, `sync_node`: `Node::handle` and `Node::tick` over arbitrary message
//! sequences from several peers (and the transport's calls: peers coming and going,
//! bans, follows, own appends, want outcomes).
//!
//! Invariants, checked after every step against [`crate::sync_model`]:
//! - nothing unverified is stored (the recording store panics on any block that is not
//!   a genuine next link), and only followed authors gain blocks;
//! - a refused message (any `Err`) changes no stored data, and a banned peer's message
//!   makes the node send nothing;
//! - everything sent is well formed, blocks and heads are the stored ones, fork proofs
//!   are real;
//! - tables stay within their bounds (peers, forks, stored notices);
//! - the follow set is the model's, a genuine block is never refused (its sender is
//!   never penalised), the genuine next block of a followed author is stored at once
//!   when there is room, and a conflicting genuine block records the fork.

use crate::bytes::{Cursor, Writer};
use crate::fixtures;
use crate::sync_model::{Author, RecStore, check_sent};
use glitter_core::chain::{Ed25519Check, ForkProof};
use glitter_core::sig::PublicKey;
use glitter_core::sync::message::{HEADS_MAX, HeadEntry};
use glitter_core::sync::node::STORED_NOTICES_MAX;
use glitter_core::sync::{Config, GossipMode, HandleError, Message, Node, WantEnd};
use glitter_host::outbox::VecOutbox;
use rand_core::SeedableRng;
use std::sync::OnceLock;

const PEERS: usize = 4;
const AUTHORS: usize = 4;
const FORKS: usize = 2;
type TestNode = Node<RecStore, Ed25519Check, PEERS, AUTHORS, 4, FORKS, 2>;

/// Fixture authors: 0 is the node itself, 3 forked at seq 4, 4 is not followed at
/// first.
fn authors() -> &'static [Author] {
    static A: OnceLock<Vec<Author>> = OnceLock::new();
    A.get_or_init(|| {
        let f = fixtures::posts(74, 7);
        let k = f.keys.public();
        let other = fixtures::sample_payloads(&k);
        let f2 = fixtures::extend_chain(&f, 3, &other[..3], glitter_tests::T0_MS + 5);
        [
            fixtures::posts(71, 4),
            fixtures::mixed_chain(72, 6),
            fixtures::posts(73, 20),
        ]
        .into_iter()
        .map(|c| Author { branches: vec![c] })
        .chain([
            Author {
                branches: vec![f, f2],
            },
            Author {
                branches: vec![fixtures::posts(75, 3)],
            },
        ])
        .collect()
    })
}

fn fork() -> &'static Vec<u8> {
    static F: OnceLock<Vec<u8>> = OnceLock::new();
    F.get_or_init(|| {
        let f = &authors()[3].branches;
        let p = ForkProof::new(f[0].headers[3], f[1].headers[3]).expect("a real fork");
        encode(&Message::Fork(p))
    })
}

fn encode(m: &Message<'_>) -> Vec<u8> {
    let mut b = vec![0u8; m.encoded_len()];
    let _ = m.emit(&mut b);
    b
}

/// A message the fuzzer chose, and whether it is a genuine block (author index,
/// branch, index in the branch).
fn message(c: &mut Cursor<'_>) -> (Vec<u8>, Option<(usize, usize, usize)>) {
    let all = authors();
    match c.below(6) {
        0 | 1 => {
            let ai = c.below(all.len());
            let branches = &all[ai].branches;
            let bi = c.below(branches.len());
            let b = &branches[bi];
            let i = c.below(b.headers.len());
            let mut header = b.headers[i].to_bytes();
            let mut payload = Some(b.payloads[i].clone());
            let mut genuine = true;
            match c.below(8) {
                0 => payload = None,
                1 => {
                    let p = payload.get_or_insert_with(Vec::new);
                    if let Some(x) = p.first_mut() {
                        *x ^= 1;
                        genuine = false;
                    }
                }
                2 => {
                    let at = c.below(header.len());
                    header[at] ^= c.u8() | 1;
                    genuine = false;
                }
                _ => {}
            }
            let bytes = encode(&Message::block(&header, payload.as_deref()));
            (bytes, genuine.then_some((ai, bi, i)))
        }
        2 => {
            let reply = c.u8() & 1 == 1;
            let mut heads = heapless::Vec::<HeadEntry, HEADS_MAX>::new();
            for _ in 0..c.below(5) {
                let ai = c.below(all.len() + 1);
                let Some(a) = all.get(ai) else {
                    let _ = heads.push(HeadEntry {
                        author: PublicKey([c.u8(); 32]),
                        seq: u64::from(c.u8()),
                        id: glitter_core::Hash([c.u8(); 32]),
                        forked: false,
                    });
                    continue;
                };
                let b = &a.branches[c.below(a.branches.len())];
                let seq = c.below(b.headers.len() + 3);
                let id = match b.headers.get(seq.wrapping_sub(1)) {
                    Some(h) if c.below(4) != 0 => h.id(),
                    _ if seq == 0 => glitter_core::Hash::ZERO,
                    _ => glitter_core::Hash([c.u8() | 1; 32]),
                };
                let _ = heads.push(HeadEntry {
                    author: a.key(),
                    seq: seq as u64,
                    id,
                    forked: c.below(8) == 0,
                });
            }
            (encode(&Message::Heads { reply, heads }), None)
        }
        3 => {
            let author = all[c.below(all.len())].key();
            let (from_seq, count) = (u64::from(c.u8()), c.u8().clamp(1, 16));
            let m = Message::Want {
                author,
                from_seq,
                count,
            };
            (encode(&m), None)
        }
        4 => {
            let mut b = fork().clone();
            if c.below(4) == 0 {
                let at = c.below(b.len());
                b[at] ^= c.u8() | 1;
            }
            (b, None)
        }
        _ => (c.string(300).to_vec(), None),
    }
}

/// What the model expects of the node beyond the invariants of every step.
struct Model {
    follows: Vec<PublicKey>,
    now: u64,
    /// Want messages the node sent, with their peer, for `want_ended`.
    wants: Vec<(u32, Vec<u8>)>,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let all = authors();
    let mut c = Cursor::new(data);
    let capacity = [8, 20, 64][c.below(3)];
    let mode = if c.u8() & 1 == 0 {
        GossipMode::PushPull
    } else {
        GossipMode::Push
    };
    let me = all[0].branches[0].keys.clone();
    let store = RecStore::new(all.to_vec(), capacity);
    let config = Config {
        mode,
        ..Config::default()
    };
    let mut node = TestNode::new(me.public(), store, Ed25519Check, config);
    let mut m = Model {
        follows: vec![me.public()],
        now: 1_000_000,
        wants: Vec::new(),
    };
    for a in &all[1..4] {
        assert!(node.follow(a.key()));
        m.follows.push(a.key());
    }
    for _ in 0..48 {
        if c.is_empty() {
            break;
        }
        step(&mut c, &mut node, &mut m);
    }
}

fn step(c: &mut Cursor<'_>, node: &mut TestNode, m: &mut Model) {
    let all = authors();
    let before = node.store_ref().lengths();
    let mut out = VecOutbox::new(24);
    let mut refused: Option<Vec<u8>> = None;
    let mut banned = false;
    match c.below(10) {
        0..=3 => {
            let peer = c.below(6) as u32;
            let (bytes, genuine) = message(c);
            let was_banned = node.is_banned(peer, m.now);
            let fork_before = node.forked_at(&all[3].key());
            let r = node.handle(m.now, peer, &bytes, &mut out);
            banned = r == Err(HandleError::Banned);
            assert_eq!(banned, was_banned, "{r:?}");
            if r.is_err() {
                refused = Some(bytes.clone());
            }
            if let Some(g) = genuine.filter(|_| !was_banned) {
                genuine_block(node, m, g, r, fork_before);
            }
            if let (Ok(Message::Want { .. }), false) = (Message::parse(&bytes), was_banned) {
                answered_want(node, peer, &bytes, &out);
            }
        }
        4 => {
            m.now += u64::from(c.u16() % 3000);
            let mut rng = rand_chacha::ChaCha8Rng::from_seed([c.u8(); 32]);
            node.tick(m.now, &mut rng, &mut out);
        }
        5 => {
            let peer = c.below(6) as u32;
            match c.below(3) {
                0 => assert!(node.add_peer(peer)),
                1 => node.peer_gone(peer),
                _ => node.ban_peer(peer, m.now + u64::from(c.u16())),
            }
        }
        6 => {
            let a = all[c.below(all.len())].key();
            let expect = m.follows.contains(&a) || m.follows.len() < AUTHORS;
            assert_eq!(node.follow(a), expect);
            if expect && !m.follows.contains(&a) {
                m.follows.push(a);
            }
        }
        7 => {
            let a = all[c.below(all.len())].key();
            node.unfollow(&a);
            if a != node.me() {
                m.follows.retain(|x| *x != a);
            }
        }
        8 => append_own(node),
        _ => {
            if !m.wants.is_empty() {
                let (peer, want) = m.wants[c.below(m.wants.len())].clone();
                let end = if c.u8() & 1 == 0 {
                    WantEnd::Answered
                } else {
                    WantEnd::Failed
                };
                let score = node.peer_score(peer);
                if node.want_ended(m.now, peer, &want, end, c.u8() & 1 == 1) {
                    assert!(node.peer_score(peer) < score.or(Some(i32::MAX)));
                }
            }
        }
    }
    check(node, m, &before, &out, refused, banned);
}

/// A genuine block (author, branch, index in the branch) from a peer not banned.
fn genuine_block(
    node: &mut TestNode,
    m: &Model,
    (ai, bi, i): (usize, usize, usize),
    r: Result<(), HandleError>,
    fork_before: Option<u64>,
) {
    let a = &authors()[ai];
    let key = a.key();
    let stored = node.store_ref().chain(&key).to_vec();
    let branch = &a.branches[bi];
    // Whether the stored chain and the block's branch agree below the block.
    let agree = stored
        .iter()
        .zip(&branch.headers[..i])
        .all(|((h, _), g)| h == g);
    // A genuine block is never refused, except the next seq of another branch of a
    // forked author: it does not link to the stored chain (`PrevMismatch`).
    if agree || stored.len() != i {
        assert_eq!(r, Ok(()), "a genuine block was refused");
    }
    if !m.follows.contains(&key) {
        return;
    }
    let prefix_ok = agree && stored.len() >= i;
    if prefix_ok && stored.len() == i {
        // It is the next link and was not stored: only a full store excuses that.
        assert!(
            node.store_ref().total() >= node.store_ref().capacity,
            "the genuine next block of a followed author was not stored"
        );
    }
    if prefix_ok && stored.get(i).is_some_and(|(h, _)| *h != branch.headers[i]) {
        // A block conflicting with a stored one records the fork (the first stays).
        assert_eq!(
            node.forked_at(&key),
            fork_before.or(Some(i as u64 + 1)),
            "a conflicting genuine block did not record the fork"
        );
    }
}

/// A `Want` from a peer not banned is answered with exactly the stored blocks it asks
/// for, in order, up to the first one not stored (whoever their author is).
fn answered_want(node: &TestNode, peer: u32, want: &[u8], out: &VecOutbox) {
    let Ok(Message::Want {
        author,
        from_seq,
        count,
    }) = Message::parse(want)
    else {
        return;
    };
    let chain = node.store_ref().chain(&author);
    let expected: Vec<(u32, Vec<u8>)> = (from_seq..from_seq.saturating_add(u64::from(count)))
        .map_while(|seq| chain.get((seq as usize).wrapping_sub(1)))
        .map(|(h, p)| (peer, encode(&Message::block(&h.to_bytes(), p.as_deref()))))
        .collect();
    assert_eq!(
        out.messages, expected,
        "a want was not answered with the stored blocks"
    );
}

fn append_own(node: &mut TestNode) {
    let own = &authors()[0].branches[0];
    let held = node.store_ref().chain(&own.keys.public()).len();
    let (Some(h), Some(p)) = (own.headers.get(held), own.payloads.get(held)) else {
        return;
    };
    let room = node.store_ref().total() < node.store_ref().capacity;
    let r = node.append_own(&own.keys, h.kind, h.timestamp_ms, p);
    match r {
        Ok(got) => assert_eq!(got, *h, "own append differs from the genuine block"),
        Err(e) => assert!(!room, "own append refused with room: {e:?}"),
    }
}

fn check(
    node: &mut TestNode,
    m: &mut Model,
    before: &[usize],
    out: &VecOutbox,
    refused: Option<Vec<u8>>,
    banned: bool,
) {
    let all = authors();
    let after = node.store_ref().lengths();
    for ((a, b), x) in before.iter().zip(&after).zip(all) {
        assert!(b >= a, "a stored block went away");
        if b > a {
            assert!(
                node.follows(&x.key()),
                "an author not followed gained blocks"
            );
        }
    }
    if let Some(bytes) = refused {
        match Message::parse(&bytes) {
            // A refused block is not stored (parked blocks it let through may be, even
            // a valid copy of its header).
            Ok(Message::Block { header, payload }) => {
                if let Ok(h) = glitter_core::Header::decode(header) {
                    let stored = node.store_ref().chain(&h.author);
                    let i = (h.seq as usize).wrapping_sub(1);
                    let sent = (h, payload.map(<[u8]>::to_vec));
                    let kept = stored.get(i) == Some(&sent);
                    let had = all
                        .iter()
                        .position(|x| x.key() == h.author)
                        .is_some_and(|ai| before[ai] > i);
                    assert!(!kept || had, "a refused block was stored");
                }
            }
            // Any other refused message changes no stored data.
            _ => assert_eq!(before, &after[..], "a refused message changed stored data"),
        }
    }
    if banned {
        assert!(out.messages.is_empty(), "the node answered a banned peer");
    }
    let follows = |a: &PublicKey| node.follows(a);
    for (to, bytes) in &out.messages {
        check_sent(bytes, node.store_ref(), follows);
        if bytes.first() == Some(&2) {
            m.wants.push((*to, bytes.clone()));
        }
    }
    if m.wants.len() > 16 {
        m.wants.drain(..m.wants.len() - 16);
    }
    for a in all {
        assert_eq!(node.follows(&a.key()), m.follows.contains(&a.key()));
        if a.branches.len() == 1 {
            assert_eq!(node.forked_at(&a.key()), None, "a fork of an honest author");
        }
    }
    assert!(node.peer_count() <= PEERS);
    assert!(node.forks().len() <= FORKS);
    for p in node.forks() {
        assert!(p.verify().is_ok());
    }
    let notices = node.take_stored();
    assert!(notices.len() <= STORED_NOTICES_MAX);
    for n in &notices {
        let chain = node.store_ref().chain(&n.author);
        let h = chain.get(n.seq as usize - 1).map(|(h, _)| h);
        assert_eq!(h.map(|h| h.timestamp_ms), Some(n.timestamp_ms));
    }
}

/// Seeds: the blocks of each author in order from one peer, then heads, wants, a fork
/// proof, ticks and peer churn.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (capacity, mode) in [(2u8, 0u8), (0, 1)] {
        let mut w = Writer::new();
        w.u8(capacity).u8(mode);
        // Blocks 1..=6 of authors 1 and 3 (main branch), from peer 1.
        for ai in [1u8, 3] {
            for i in 0..6u8 {
                w.u8(0).u8(1).u8(0).u8(ai).u8(0).u8(i).u8(7);
            }
        }
        // The other branch of author 3 at seq 4: a fork.
        w.u8(0).u8(2).u8(0).u8(3).u8(1).u8(3).u8(7);
        // Heads of author 2 at seq 20 from peer 0, a tick, a want, the fork proof.
        w.u8(1).u8(0).u8(2).u8(1).u8(1).u8(2).u8(0).u8(20).u8(1);
        w.u8(4).u16(500).u8(9);
        w.u8(2).u8(3).u8(3).u8(2).u8(1).u8(16);
        w.u8(3).u8(2).u8(4).u8(1);
        w.u8(8).u8(8);
        w.u8(5).u8(4).u8(2).u16(5000);
        w.u8(6).u8(4).u8(7).u8(2).u8(6).u8(4);
        w.u8(4).u16(2500).u8(1);
        w.u8(9).u8(0).u8(1).u8(1);
        out.push(w.finish());
    }
    out
}
