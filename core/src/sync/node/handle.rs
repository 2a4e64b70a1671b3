//! Handling a received message: heads (want what is missing, answer with newer
//! heads), wants (send the blocks), blocks (verify, then store, park or record a
//! fork) and fork proofs.

use super::wants::PARK_AHEAD_MIN;
use super::{AuthorSource, HandleError, Node, Outbox, PeerId, Stored, SyncStore};
use crate::chain::{ChainError, ChainState, ForkProof, SignatureCheck};
use crate::sig::PublicKey;
use crate::sync::message::{HEADS_MAX, HeadEntry, Message};
use crate::wire::header::{Header, PAYLOAD_LEN_MAX};
use heapless::Vec;

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
    /// Processes one received message from `from`.
    ///
    /// # Errors
    /// [`HandleError`] when the message is refused; the node's stored data is never
    /// affected by a refused message.
    pub fn handle<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        from: PeerId,
        bytes: &[u8],
        out: &mut O,
    ) -> Result<(), HandleError> {
        self.now_ms = self.now_ms.max(now_ms);
        // One look-up of the sender serves the ban check and its age.
        let seen = self.now_ms;
        if let Some(p) = self.peer_index(from).and_then(|i| self.peers.get_mut(i)) {
            if p.banned_until_ms > now_ms {
                self.stats.from_banned += 1;
                return Err(HandleError::Banned);
            }
            p.last_seen_ms = seen;
        }
        // Fork proofs come back unverified: `on_fork` checks their signatures only if
        // it needs them.
        let msg = match Message::parse_unverified(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_malformed, now_ms);
                return Err(HandleError::Malformed(e));
            }
        };
        match msg {
            Message::Heads { reply, heads } => {
                self.on_heads(now_ms, from, reply, &heads, out);
                self.send_pushes(now_ms, true, out);
                Ok(())
            }
            Message::Want {
                author,
                from_seq,
                count,
            } => {
                self.on_want(from, author, from_seq, count, out);
                Ok(())
            }
            Message::Block { header, payload } => {
                // Parked blocks that an own append made ready go first, so that this
                // block finds its predecessor stored instead of competing for a place
                // in the parking table.
                self.drain_parked(now_ms);
                let r = self.on_block(now_ms, from, header, payload);
                self.drain_parked(now_ms);
                self.send_pushes(now_ms, true, out);
                r
            }
            Message::Fork(proof) => self.on_fork(now_ms, from, bytes, proof),
        }
    }

    fn on_heads<O: Outbox + ?Sized>(
        &mut self,
        now_ms: u64,
        from: PeerId,
        reply: bool,
        heads: &[HeadEntry],
        out: &mut O,
    ) {
        let mut answer: Vec<HeadEntry, HEADS_MAX> = Vec::new();
        let pi = self.peer_index(from);
        for e in heads {
            let follows = self.follows(&e.author);
            if follows {
                self.note_interest(pi, &e.author);
            }
            if e.forked {
                self.mark_fork_known(from, &e.author);
            }
            let mine = self.store.head(&e.author);
            let my_seq = mine.map_or(0, |h| h.seq);
            if follows {
                if e.seq > my_seq && !self.is_refused(&e.author, now_ms) {
                    // Everything missing; `send_want` asks for what fits the window.
                    self.send_want(now_ms, from, e.author, my_seq + 1, e.seq - my_seq, out);
                } else if e.seq > 0 {
                    // Same or older seq: a different id there means a fork; fetch it.
                    let stored = self.store.header(&e.author, e.seq).map(|h| h.id());
                    if stored.is_some_and(|id| id != e.id) {
                        self.send_want(now_ms, from, e.author, e.seq, 1, out);
                    }
                }
            }
            if reply
                && let Some(h) = mine
                && h.seq > e.seq
            {
                let forked = self.forked_at(&e.author).is_some();
                let _ = answer.push(HeadEntry {
                    author: e.author,
                    seq: h.seq,
                    id: h.id,
                    forked,
                });
            }
        }
        if !answer.is_empty()
            && out
                .send(
                    from,
                    &Message::Heads {
                        reply: false,
                        heads: answer,
                    },
                )
                .is_err()
        {
            self.stats.outbox_full += 1;
        }
        // The pull half of fork gossip: a peer that lists a forked author without the
        // mark lacks the proof.
        self.send_forks(now_ms, from, heads, out);
    }

    fn on_want<O: Outbox + ?Sized>(
        &mut self,
        to: PeerId,
        author: PublicKey,
        from_seq: u64,
        count: u8,
        out: &mut O,
    ) {
        if self.follows(&author) {
            self.note_interest(self.peer_index(to), &author);
        }
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        for seq in from_seq..from_seq.saturating_add(u64::from(count)) {
            let Some(h) = self.store.header(&author, seq) else {
                break;
            };
            let len = self.store.payload(&author, seq, &mut buf);
            let bytes = h.to_bytes();
            let payload = len.and_then(|l| buf.get(..l));
            if out.send(to, &Message::block(&bytes, payload)).is_err() {
                self.stats.outbox_full += 1;
                break;
            }
        }
    }

    /// Verifies one block and stores it (or counts it a duplicate, parks it, records
    /// a fork, or penalises the sender).
    pub(super) fn on_block(
        &mut self,
        now_ms: u64,
        from: PeerId,
        header: &[u8; crate::wire::header::HEADER_LEN],
        payload: Option<&[u8]>,
    ) -> Result<(), HandleError> {
        let author = match Header::decode(header) {
            Ok(h) => h.author,
            Err(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_invalid, now_ms);
                return Err(HandleError::Invalid(ChainError::from(e)));
            }
        };
        if !self.follows(&author) {
            self.stats.unsolicited += 1;
            return Ok(());
        }
        let head = self.store.head(&author);
        let mut state = match ChainState::resume_with(author, head, &mut self.sigs) {
            Ok(s) => s,
            Err(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_invalid, now_ms);
                return Err(HandleError::Invalid(e));
            }
        };
        let verdict = {
            let mut src = AuthorSource {
                store: &mut self.store,
                author,
            };
            state.verify_next_with(header, payload, &mut src, &mut self.sigs)
        };
        match verdict {
            Ok(h) => {
                // A want is done once its last block arrived.
                self.wants
                    .retain(|w| !(w.author == author && h.seq.saturating_add(1) >= w.end));
                if self.store.append(&h, payload).is_err() {
                    self.stats.store_full += 1;
                    self.note_refused(author, now_ms);
                } else {
                    self.stats.blocks_stored += 1;
                    self.mark_recent(author);
                    self.queue_push(author, Some(from));
                    if self.stored.is_full() {
                        self.stored.remove(0);
                    }
                    let _ = self.stored.push(Stored {
                        author,
                        seq: h.seq,
                        timestamp_ms: h.timestamp_ms,
                    });
                }
                Ok(())
            }
            Err(ChainError::SeqReplay { .. }) => {
                self.stats.duplicates += 1;
                Ok(())
            }
            Err(ChainError::SeqGap { expected, got }) => {
                // Parked only if it is within reach: at most as far ahead as the table
                // holds blocks (or a short run on small tables).
                if got - expected < (PARKED as u64).max(PARK_AHEAD_MIN)
                    && self.park(from, author, got, header, payload)
                {
                    self.stats.parked += 1;
                } else {
                    self.stats.out_of_order += 1;
                }
                Ok(())
            }
            Err(ChainError::SkipUnavailable { .. } | ChainError::StoredUnavailable { .. }) => {
                self.stats.out_of_order += 1;
                Ok(())
            }
            Err(ChainError::Forked { seq }) => {
                let theirs = Header::decode(header).ok();
                let ours = self.store.header(&author, seq);
                if let (Some(a), Some(b)) = (ours, theirs)
                    && let Ok(p) = ForkProof::new(a, b)
                {
                    self.remember_fork(p);
                }
                Ok(())
            }
            Err(e) => {
                self.stats.invalid += 1;
                self.penalise(from, self.config.penalty_invalid, now_ms);
                Err(HandleError::Invalid(e))
            }
        }
    }

    pub(super) fn remember_fork(&mut self, p: ForkProof) {
        if self.forks.iter().any(|f| f.author() == p.author()) {
            return;
        }
        if self.forks.push(p).is_ok() {
            self.stats.forks += 1;
            let _ = self.fork_push.push(self.forks.len() - 1);
        }
    }
}
