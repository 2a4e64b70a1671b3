//! Wants in flight (so a block is fetched about once however many peers announce
//! it), and blocks parked until their predecessor arrives.

use super::{Node, Outbox, PeerId, REFUSED_RETRY_MS, SyncStore};
use crate::chain::SignatureCheck;
use crate::sig::PublicKey;
use crate::sync::message::{Message, WANT_COUNT_MAX};
use crate::wire::header::PAYLOAD_LEN_MAX;
use heapless::Vec;

/// A `Want` in flight: blocks `from..end` of `author`, requested at `sent_ms`.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingWant {
    pub(super) author: PublicKey,
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

/// How far ahead of the head a block may be and still be parked.
pub(super) const PARK_AHEAD_MAX: u64 = 32;

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

    /// The end of the run of blocks of `author` already requested from `from` on (so
    /// a new want starts there), or `from` if none is.
    fn requested_until(&self, author: &PublicKey, from: u64) -> u64 {
        self.wants
            .iter()
            .filter(|w| w.author == *author && w.from <= from && w.end > from)
            .map(|w| w.end)
            .max()
            .unwrap_or(from)
    }

    /// Asks `to` for `count` blocks of `author` from `from_seq`, minus those already
    /// requested, and remembers the want.
    pub(super) fn send_want<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        to: PeerId,
        author: PublicKey,
        from_seq: u64,
        count: u8,
        out: &mut O,
    ) {
        self.expire_wants(now_ms);
        let end = from_seq.saturating_add(u64::from(count));
        let from_seq = self.requested_until(&author, from_seq);
        if from_seq >= end {
            return; // all already requested
        }
        let count = (end - from_seq).min(u64::from(WANT_COUNT_MAX)) as u8;
        let msg = Message::Want {
            author,
            from_seq,
            count,
        };
        if out.send(to, &msg).is_err() {
            self.stats.outbox_full += 1;
            return;
        }
        self.stats.wants_sent += 1;
        let w = PendingWant {
            author,
            from: from_seq,
            end,
            sent_ms: now_ms,
        };
        if self.wants.push(w).is_err() {
            // Table full: forget the oldest, so the newest want is remembered.
            if !self.wants.is_empty() {
                self.wants.remove(0);
            }
            let _ = self.wants.push(w);
        }
    }

    /// Keeps a block that arrived before its predecessor (oldest evicted when full).
    pub(super) fn park(
        &mut self,
        from: PeerId,
        author: PublicKey,
        seq: u64,
        header: &[u8; crate::wire::header::HEADER_LEN],
        payload: Option<&[u8]>,
    ) {
        if PARKED == 0
            || self
                .parked
                .iter()
                .any(|p| p.author == author && p.seq == seq)
        {
            return;
        }
        let payload = match payload {
            Some(p) => match Vec::from_slice(p) {
                Ok(v) => Some(v),
                Err(_) => return,
            },
            None => None,
        };
        if self.parked.is_full() {
            self.parked.remove(0);
        }
        let _ = self.parked.push(Parked {
            from,
            author,
            seq,
            header: *header,
            payload,
        });
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
        // Bounded by AUTHORS; when full (every followed author refused at once) the
        // extra one is simply fetched again later.
        let _ = self
            .refused
            .push((author, now_ms.saturating_add(REFUSED_RETRY_MS)));
    }
}
