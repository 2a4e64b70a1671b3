//! The request pipeline (issue 16, item 2): a node keeps up to `Config::want_window`
//! wants in flight to a peer for one author, spreads an author's blocks over every peer
//! that announced them (disjoint ranges), hedges only the range that holds everything
//! up, and parks answers that arrive out of order, so each block crosses once.
//!
//! The holders are real `Node`s answering the follower's wants from their stores.

mod sync_common;

use glitter_core::Header;
use glitter_core::chain::{ChainState, HeaderSource};
use glitter_core::sync::message::WANT_COUNT_MAX;
use glitter_core::sync::{
    Config, HeadEntry, Message, Node, PeerId, SyncStore, WANT_HEDGE_MS, WANT_PEERS_MAX, WantEnd,
};
use sync_common::{Counting, Sent, Store, keys};

/// A node with room for a deep pipeline: 64 wants, 256 parked blocks (enough for a
/// window of 4 wants of 16 blocks to each of 4 peers).
type Deep = Node<Store, Counting, 64, 16, 64, 8, 256>;

const AUTHOR: u8 = 9;
const WINDOW: u8 = 4;

struct Headers<'a>(&'a [Header]);

impl HeaderSource for Headers<'_> {
    fn header_at(&mut self, seq: u64) -> Option<Header> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.0.get(i).copied()
    }
}

/// AUTHOR's chain of `n` posts, in a store.
fn chain(n: u64) -> Store {
    let author = keys(AUTHOR);
    let mut st = ChainState::new(author.public()).expect("chain state");
    let mut headers = Vec::new();
    let mut store = Store::default();
    for i in 1..=n {
        let post = glitter_core::social::Payload::post(&format!("post {i}"), None).expect("post");
        let mut buf = [0u8; glitter_core::wire::header::PAYLOAD_LEN_MAX];
        let payload = post.encode(&mut buf).expect("encode");
        let h = st
            .append(
                &author,
                post.kind(),
                1_000 + i,
                payload,
                &mut Headers(&headers),
            )
            .expect("append");
        headers.push(h);
        store.append(&h, Some(payload)).expect("store");
    }
    store
}

fn config() -> Config {
    Config {
        want_window: WINDOW,
        ..Config::default()
    }
}

/// A node (me = 1) following AUTHOR with `peers`, and holders with `n` blocks.
fn follower(peers: &[PeerId]) -> Deep {
    let mut n = Deep::new(
        keys(1).public(),
        Store::default(),
        Counting::default(),
        config(),
    );
    n.follow(keys(AUTHOR).public());
    for p in peers {
        n.add_peer(*p);
    }
    n
}

fn holder(n: u64) -> Deep {
    let mut h = Deep::new(keys(2).public(), chain(n), Counting::default(), config());
    h.follow(keys(AUTHOR).public());
    h.add_peer(1);
    h
}

fn heads(seq: u64, store: &mut Store) -> Vec<u8> {
    let author = keys(AUTHOR).public();
    let id = store.header(&author, seq).expect("held").id();
    let mut list = heapless::Vec::new();
    list.push(HeadEntry {
        author,
        seq,
        id,
        forked: false,
    })
    .expect("room");
    emit(&Message::Heads {
        reply: false,
        heads: list,
    })
}

fn emit(msg: &Message<'_>) -> Vec<u8> {
    let mut buf = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
    msg.emit(&mut buf).expect("emit").to_vec()
}

/// The (from, count) of the wants in `sent` to `to`, in order.
fn wants_to(sent: &Sent, to: PeerId) -> Vec<(u64, u8)> {
    sent.0
        .iter()
        .filter(|(p, _)| *p == to)
        .filter_map(|(_, b)| match Message::parse(b) {
            Ok(Message::Want {
                from_seq, count, ..
            }) => Some((from_seq, count)),
            _ => None,
        })
        .collect()
}

fn want_bytes(from_seq: u64, count: u8) -> Vec<u8> {
    emit(&Message::Want {
        author: keys(AUTHOR).public(),
        from_seq,
        count,
    })
}

/// `holder`'s answer to a want (the messages it sends back).
fn answer(holder: &mut Deep, want: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Sent::default();
    holder.handle(0, 1, want, &mut out).expect("a valid want");
    out.0.into_iter().map(|(_, b)| b).collect()
}

fn head(n: &mut Deep) -> u64 {
    n.store().head(&keys(AUTHOR).public()).map_or(0, |h| h.seq)
}

#[test]
fn one_announcement_fills_the_window_with_consecutive_ranges() {
    let mut h = holder(300);
    let mut f = follower(&[10]);
    let mut out = Sent::default();
    let msg = heads(300, h.store());
    f.handle(100, 10, &msg, &mut out).expect("heads");
    let expected: Vec<(u64, u8)> = (0..u64::from(WINDOW))
        .map(|i| (1 + i * u64::from(WANT_COUNT_MAX), WANT_COUNT_MAX))
        .collect();
    assert_eq!(wants_to(&out, 10), expected);
    // The same announcement again asks for nothing more: the window is full.
    let mut again = Sent::default();
    f.handle(150, 10, &msg, &mut again).expect("heads");
    assert!(wants_to(&again, 10).is_empty());
}

#[test]
fn each_answer_refills_the_window_and_every_block_crosses_once() {
    let n = 300;
    let mut h = holder(n);
    let mut f = follower(&[10]);
    let msg = heads(n, h.store());
    let mut out = Sent::default();
    f.handle(100, 10, &msg, &mut out).expect("heads");
    let mut queue: Vec<(u64, u8)> = wants_to(&out, 10);
    let (mut received, mut rounds, mut now) = (0u64, 0u32, 100u64);
    let mut most_in_flight = queue.len();
    while !queue.is_empty() {
        rounds += 1;
        now += 50; // well inside the hedge and want timeouts
        let (from, count) = queue.remove(0);
        let want = want_bytes(from, count);
        let mut out = Sent::default();
        for b in answer(&mut h, &want) {
            received += 1;
            f.handle(now, 10, &b, &mut out).expect("a genuine block");
        }
        assert!(!f.want_ended(now, 10, &want, WantEnd::Answered, true));
        // The transport hands the peer's heads in again after an answer.
        f.handle(now, 10, &msg, &mut out).expect("heads");
        queue.extend(wants_to(&out, 10));
        most_in_flight = most_in_flight.max(queue.len());
        assert!(rounds < 100, "the fetch does not end");
    }
    assert_eq!(head(&mut f), n);
    assert_eq!(received, n, "every block crossed exactly once");
    assert_eq!(most_in_flight, usize::from(WINDOW));
}

#[test]
fn blocks_are_spread_over_the_peers_that_announced_them() {
    let n = 40 * u64::from(WANT_COUNT_MAX);
    let mut h = holder(n);
    let peers: Vec<PeerId> = (10..10 + WANT_PEERS_MAX as PeerId + 1).collect();
    let mut f = follower(&peers);
    let msg = heads(n, h.store());
    let mut out = Sent::default();
    for p in &peers {
        f.handle(100, *p, &msg, &mut out).expect("heads");
    }
    let mut asked: Vec<(u64, u8)> = Vec::new();
    for (i, p) in peers.iter().enumerate() {
        let w = wants_to(&out, *p);
        if i < WANT_PEERS_MAX {
            assert_eq!(w.len(), usize::from(WINDOW), "peer {p} gets a full window");
        } else {
            assert!(
                w.is_empty(),
                "only {WANT_PEERS_MAX} peers are asked at once"
            );
        }
        asked.extend(w);
    }
    // Disjoint, consecutive: every block from 1 on is asked for exactly once.
    asked.sort_unstable();
    let mut next = 1;
    for (from, count) in asked {
        assert_eq!(from, next);
        next += u64::from(count);
    }
    assert_eq!(next, 1 + WANT_PEERS_MAX as u64 * u64::from(WINDOW) * 16);
}

#[test]
fn only_the_late_range_that_holds_everything_up_is_asked_again() {
    let n = 300;
    let mut h = holder(n);
    let (slow, other) = (10, 11);
    let mut f = follower(&[slow, other]);
    let msg = heads(n, h.store());
    let mut out = Sent::default();
    f.handle(100, slow, &msg, &mut out).expect("heads");
    assert_eq!(wants_to(&out, slow).len(), usize::from(WINDOW));
    // The other peer announces the same head once the slow one's wants are late: it is
    // asked for the first range again (the hedge), and then for blocks nobody was
    // asked for; none of the slow peer's later ranges is asked twice.
    let late = 100 + WANT_HEDGE_MS;
    let mut out = Sent::default();
    f.handle(late, other, &msg, &mut out).expect("heads");
    let w = wants_to(&out, other);
    let beyond = 1 + u64::from(WINDOW) * u64::from(WANT_COUNT_MAX);
    assert_eq!(w.first(), Some(&(1, WANT_COUNT_MAX)));
    assert_eq!(w.get(1), Some(&(beyond, WANT_COUNT_MAX)));
    assert_eq!(w.len(), usize::from(WINDOW));
    // Before the hedge time, the other peer gets only blocks nobody was asked for.
    let mut f = follower(&[slow, other]);
    let mut out = Sent::default();
    f.handle(100, slow, &msg, &mut out).expect("heads");
    f.handle(100 + WANT_HEDGE_MS - 1, other, &msg, &mut out)
        .expect("heads");
    assert_eq!(
        wants_to(&out, other).first(),
        Some(&(beyond, WANT_COUNT_MAX))
    );
}

#[test]
fn answers_that_arrive_out_of_order_are_parked_not_fetched_again() {
    let n = 4 * u64::from(WANT_COUNT_MAX);
    let mut h = holder(n);
    let mut f = follower(&[10]);
    let msg = heads(n, h.store());
    let mut out = Sent::default();
    f.handle(100, 10, &msg, &mut out).expect("heads");
    let mut wants = wants_to(&out, 10);
    assert_eq!(wants.len(), 4);
    // Answers come back last first.
    wants.reverse();
    let mut received = 0;
    for (from, count) in wants {
        let want = want_bytes(from, count);
        let mut out = Sent::default();
        for b in answer(&mut h, &want) {
            received += 1;
            f.handle(200, 10, &b, &mut out).expect("a genuine block");
        }
        assert!(!f.want_ended(200, 10, &want, WantEnd::Answered, true));
    }
    assert_eq!(
        head(&mut f),
        n,
        "parked blocks were stored once the gap filled"
    );
    assert_eq!(received, n);
    assert_eq!(f.stats().unbacked, 0, "no peer was blamed for the order");
}
