//! Wants in flight, and blocks parked until their predecessor arrives.
//!
//! Wants are tracked per (author, peer): a want to one peer never holds back a want
//! to another peer that announced the same author, so a peer that announces heads it
//! cannot back (and never answers) delays nobody. At most [`WANT_PEERS_MAX`] peers are
//! asked for one author at once (a block is fetched at most about that many times
//! however many peers announce it), and a peer not penalised takes the place of one
//! that is. The transport reports how each want ended ([`Node::want_ended`]); a peer
//! that announced blocks and did not deliver them loses score.

use super::{Node, Outbox, PeerId, REFUSED_RETRY_MS, SyncStore};
use crate::chain::SignatureCheck;
use crate::sig::PublicKey;
use crate::sync::message::{Message, WANT_COUNT_MAX};
use crate::wire::header::PAYLOAD_LEN_MAX;
use heapless::Vec;

/// A `Want` in flight: blocks `from..end` of `author`, requested from `peer` at
/// `sent_ms`.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingWant {
    pub(super) author: PublicKey,
    pub(super) peer: PeerId,
    pub(super) from: u64,
    pub(super) end: u64,
    pub(super) sent_ms: u64,
}

/// A block that arrived ahead of its predecessor, kept until the gap fills.
#[derive(Clone, Debug)]
pub(super) struct Parked {
    from: PeerId,
    author: PublicKey,
    seq: u64,
    header: [u8; crate::wire::header::HEADER_LEN],
    payload: Option<Vec<u8, PAYLOAD_LEN_MAX>>,
}

/// How far ahead of the head a block may always be parked (further when `PARKED`
/// is larger).
pub(super) const PARK_AHEAD_MIN: u64 = 32;

/// How many peers are asked for one author's blocks at once. Their ranges do not
/// overlap (a late range aside, see [`WANT_HEDGE_MS`]), so a long chain is fetched from
/// up to this many peers at once, each block about once.
pub const WANT_PEERS_MAX: usize = 4;

/// How long a want may stay unanswered before another peer is asked for the same
/// blocks too, when they hold everything up (the first missing block is theirs): a
/// peer that answers in time is the only one asked for its range, so a block is
/// downloaded once; one that holds its want back delays the author by this much.
pub const WANT_HEDGE_MS: u64 = 250;

/// How a `Want` this node sent ended, as the transport saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WantEnd {
    /// The peer answered (its blocks, if any, were handed to [`Node::handle`] first).
    Answered,
    /// No answer: the request timed out, the connection closed, or the stream failed.
    Failed,
}

impl<
    S,
    C,
    const PEERS: usize,
    const AUTHORS: usize,
    const WANTS: usize,
    const FORKS: usize,
    const PARKED: usize,
> Node<S, C, PEERS, AUTHORS, WANTS, FORKS, PARKED>
where
    S: SyncStore,
    C: SignatureCheck,
{
    /// Forgets wants older than the want timeout.
    pub(super) fn expire_wants(&mut self, now_ms: u64) {
        let timeout = self.config.want_timeout_ms;
        self.wants
            .retain(|w| now_ms.saturating_sub(w.sent_ms) < timeout);
    }

    /// The first block from `from` on that `to` should be asked for: ranges already
    /// requested from `to` are skipped, and so are ranges in flight to other peers that
    /// are on time (sent less than [`WANT_HEDGE_MS`] ago) or not yet in the way (past
    /// the first missing block `next`). What is left to ask `to` for is a late range
    /// that holds everything up (the hedge) or a range nobody was asked for (spreading
    /// an author's blocks over every peer that has them). Blocks parked (they arrived
    /// ahead of a missing one; `parked` lists their seqs, sorted) are skipped too. Wants
    /// that follow each other are chained
    /// (at most `WANTS + PARKED` steps): with [1, 4) and [4, 5) in flight, a want from 2
    /// starts at 5.
    fn unrequested_from(
        &self,
        author: &PublicKey,
        to: PeerId,
        (from, next): (u64, u64),
        parked: &[u64],
        now_ms: u64,
    ) -> u64 {
        let mut at = from;
        for _ in 0..WANTS + PARKED {
            if parked.binary_search(&at).is_ok() {
                at += 1; // it arrived out of order and waits for its predecessor
                continue;
            }
            let skip = self
                .wants
                .iter()
                .filter(|w| w.author == *author && w.from <= at && w.end > at)
                .filter(|w| {
                    w.peer == to
                        || now_ms.saturating_sub(w.sent_ms) < WANT_HEDGE_MS
                        || w.from > next
                })
                .map(|w| w.end)
                .max();
            match skip {
                Some(end) => at = end,
                None => break,
            }
        }
        at
    }

    /// The peers with a want for `author` in flight, each once (at most one more than
    /// [`WANT_PEERS_MAX`]: more are not kept that way, and are not counted).
    fn peers_asked(&self, author: &PublicKey) -> Vec<PeerId, { WANT_PEERS_MAX + 1 }> {
        let mut asked: Vec<PeerId, { WANT_PEERS_MAX + 1 }> = Vec::new();
        for w in self.wants.iter().filter(|w| w.author == *author) {
            if !asked.contains(&w.peer) && asked.push(w.peer).is_err() {
                break;
            }
        }
        asked
    }

    /// Whether `to` may be asked for `author` now: it already is, or fewer than
    /// [`WANT_PEERS_MAX`] other peers are. When as many are, a peer scored below `to`
    /// and below zero gives up its place (its wants for `author` are forgotten).
    fn want_slot(&mut self, author: &PublicKey, to: PeerId) -> bool {
        let asked = self.peers_asked(author);
        if asked.contains(&to) || asked.len() < WANT_PEERS_MAX {
            return true;
        }
        let mine = self.peer_score(to).unwrap_or(0);
        let worst = asked
            .iter()
            .map(|p| (*p, self.peer_score(*p).unwrap_or(0)))
            .min_by_key(|(_, s)| *s);
        match worst {
            Some((p, s)) if s < 0 && s < mine => {
                self.wants.retain(|w| !(w.author == *author && w.peer == p));
                true
            }
            _ => false,
        }
    }

    /// The transport reports how a request this node sent to `peer` ended; `request`
    /// is the message it carried (anything but a `Want` is ignored). Call it after
    /// handing the answer's blocks to [`Node::handle`].
    ///
    /// The want is no longer in flight. `claimed` says whether `peer` announced the
    /// heads the want was for itself (a relay that forwarded another peer's heads need
    /// not hold the blocks). A claimed want that failed, or whose blocks are still not
    /// stored after the answer although nothing before them is missing, means `peer`
    /// announced blocks it does not back: it loses `penalty_unbacked` (banned at the ban
    /// score). A want fully answered earns a peer
    /// below zero one point back. Returns true if `peer` was penalised.
    pub fn want_ended(
        &mut self,
        now_ms: u64,
        peer: PeerId,
        request: &[u8],
        end: WantEnd,
        claimed: bool,
    ) -> bool {
        self.now_ms = self.now_ms.max(now_ms);
        let Ok(Message::Want {
            author,
            from_seq,
            count,
        }) = Message::parse(request)
        else {
            return false;
        };
        self.wants
            .retain(|w| !(w.author == author && w.peer == peer && w.from == from_seq));
        if !claimed
            || count == 0
            || self.is_banned(peer, now_ms)
            || !self.follows(&author)
            || self.is_refused(&author, now_ms)
        {
            return false;
        }
        let last = from_seq.saturating_add(u64::from(count) - 1);
        let head = self.store.head(&author).map_or(0, |h| h.seq);
        if end == WantEnd::Answered {
            if head >= last {
                self.credit(peer);
                return false;
            }
            // Blocks before `from_seq` are still missing (an earlier want, to this peer
            // or another, is unanswered: answers on separate streams arrive in any
            // order on a lossy link), so this answer's blocks could not be stored yet
            // (they are parked or dropped as out of order). Nothing says the peer did
            // not send them: neither penalty nor credit.
            if head.saturating_add(1) < from_seq {
                return false;
            }
        }
        self.stats.unbacked += 1;
        self.penalise(peer, self.config.penalty_unbacked, now_ms);
        true
    }

    /// Asks `to` for the blocks of `author` in `from_seq..from_seq + count` that are not
    /// in flight already (see `unrequested_from`), in `Want`s of at most
    /// [`WANT_COUNT_MAX`] blocks, keeping at most [`Config::want_window`] of them in
    /// flight to `to` for `author`, and remembers each. Nothing is asked for beyond
    /// what the parking table can hold ahead of the head (`PARKED` blocks, at least
    /// 32), and that reach is shared by the peers asked for `author`.
    ///
    /// [`Config::want_window`]: super::Config::want_window
    pub(super) fn send_want<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        to: PeerId,
        author: PublicKey,
        from_seq: u64,
        count: u64,
        out: &mut O,
    ) {
        self.expire_wants(now_ms);
        if !self.want_slot(&author, to) {
            return; // enough peers asked already
        }
        let next = self
            .store
            .head(&author)
            .map_or(0, |h| h.seq)
            .saturating_add(1);
        // Never further ahead than the parking table reaches: a block further ahead
        // that arrives before its predecessors would be dropped and fetched again.
        let reach = (PARKED as u64).max(PARK_AHEAD_MIN);
        let end = from_seq
            .saturating_add(count)
            .min(next.saturating_add(reach));
        // The reach is shared by the peers asked, so that every one of them gets ranges.
        let asked = self.peers_asked(&author);
        let peers = asked.len() + usize::from(!asked.contains(&to));
        let share = reach / u64::from(WANT_COUNT_MAX) / peers as u64;
        let window = usize::from(self.config.want_window.max(1)).min(share.max(1) as usize);
        let in_flight = self
            .wants
            .iter()
            .filter(|w| w.author == author && w.peer == to)
            .count();
        let mut parked: Vec<u64, PARKED> = self
            .parked
            .iter()
            .filter(|p| p.author == author)
            .map(|p| p.seq)
            .collect();
        parked.sort_unstable();
        let mut at = from_seq;
        for _ in in_flight..window {
            at = self.unrequested_from(&author, to, (at, next), &parked, now_ms);
            if at >= end {
                return; // all already requested
            }
            let n = (end - at).min(u64::from(WANT_COUNT_MAX)) as u8;
            let msg = Message::Want {
                author,
                from_seq: at,
                count: n,
            };
            if out.send(to, &msg).is_err() {
                self.stats.outbox_full += 1;
                return;
            }
            self.stats.wants_sent += 1;
            let w = PendingWant {
                author,
                peer: to,
                from: at,
                end: at + u64::from(n),
                sent_ms: now_ms,
            };
            if self.wants.push(w).is_err() {
                // Table full: forget the oldest, so the newest want is remembered.
                if !self.wants.is_empty() {
                    self.wants.remove(0);
                }
                let _ = self.wants.push(w);
            }
            at = w.end;
        }
    }

    /// Keeps a block that arrived before its predecessor; returns whether it is kept.
    /// When the table is full, the block farthest ahead of its author's head makes room
    /// for a nearer one (the nearer one is stored sooner), or the new block is dropped
    /// (and fetched again).
    pub(super) fn park(
        &mut self,
        from: PeerId,
        author: PublicKey,
        seq: u64,
        header: &[u8; crate::wire::header::HEADER_LEN],
        payload: Option<&[u8]>,
    ) -> bool {
        if PARKED == 0 {
            return false;
        }
        if self
            .parked
            .iter()
            .any(|p| p.author == author && p.seq == seq)
        {
            return true; // a copy is parked already
        }
        let payload = match payload {
            Some(p) => match Vec::from_slice(p) {
                Ok(v) => Some(v),
                Err(_) => return false,
            },
            None => None,
        };
        if self.parked.is_full() {
            let ahead = |store: &mut S, a: &PublicKey, s: u64| {
                s.saturating_sub(store.head(a).map_or(0, |h| h.seq))
            };
            let mine = ahead(&mut self.store, &author, seq);
            let mut farthest: Option<(usize, u64)> = None;
            for (i, p) in self.parked.iter().enumerate() {
                let d = ahead(&mut self.store, &p.author, p.seq);
                if farthest.is_none_or(|(_, f)| d > f) {
                    farthest = Some((i, d));
                }
            }
            match farthest {
                Some((i, d)) if d > mine => {
                    self.parked.swap_remove(i);
                    self.stats.out_of_order += 1; // dropped after all
                }
                _ => return false,
            }
        }
        self.parked
            .push(Parked {
                from,
                author,
                seq,
                header: *header,
                payload,
            })
            .is_ok()
    }

    /// Applies parked blocks whose predecessor is now stored. Bounded: each pass
    /// removes one parked block, and there are at most `PARKED`.
    pub(super) fn drain_parked(&mut self, now_ms: u64) {
        for _ in 0..PARKED {
            let ready = self.parked.iter().position(|p| {
                let head = self.store.head(&p.author).map_or(0, |h| h.seq);
                p.seq <= head.saturating_add(1)
            });
            let Some(i) = ready else {
                return;
            };
            let p = self.parked.remove(i);
            let _ = self.on_block(now_ms, p.from, &p.header, p.payload.as_deref());
        }
    }

    /// Whether `author`'s blocks are not fetched now: the store refused one less than
    /// [`REFUSED_RETRY_MS`] ago.
    pub(super) fn is_refused(&self, author: &PublicKey, now_ms: u64) -> bool {
        self.refused
            .iter()
            .any(|(a, until)| a == author && now_ms < *until)
    }

    /// Notes that the store refused a block of `author`: it is not fetched again for
    /// [`REFUSED_RETRY_MS`] (then once more, in case room was made).
    pub(super) fn note_refused(&mut self, author: PublicKey, now_ms: u64) {
        self.refused
            .retain(|(a, until)| *a != author && now_ms < *until);
        // Bounded by REFUSED_MAX; when full, the entry that ends first makes room (that
        // author is simply fetched again sooner).
        if self.refused.is_full()
            && let Some(i) = self
                .refused
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, until))| *until)
                .map(|(i, _)| i)
        {
            self.refused.swap_remove(i);
        }
        let _ = self
            .refused
            .push((author, now_ms.saturating_add(REFUSED_RETRY_MS)));
    }
}
