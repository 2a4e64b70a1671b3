//! The model side of target `sync_node`: the genuine chains a run may store, a
//! recording store that refuses (by panicking) anything a node must never store, and
//! the checks of what a node sends.
//!
//! The model states the replication rules of the README ("Replication protocol"):
//! every stored block was verified (so it is a block its author really signed, the
//! next link of the stored chain, with its own payload if any); only followed authors
//! are replicated; a `Block` answers with stored data only; a `Heads` names the stored
//! heads; a fork proof names two blocks its author really signed at one seq.

use glitter_core::chain::Head;
use glitter_core::sig::PublicKey;
use glitter_core::sync::message::HEADS_MAX;
use glitter_core::sync::{Message, StoreFull, SyncStore};
use glitter_core::wire::header::Header;
use glitter_tests::TestChain;

/// One author of the fixture: its branches (more than one if it forked).
#[derive(Clone, Debug)]
pub struct Author {
    /// The branches; every branch starts at seq 1.
    pub branches: Vec<TestChain>,
}

impl Author {
    /// The author's key.
    pub fn key(&self) -> PublicKey {
        self.branches[0].keys.public()
    }

    /// True if `chain` (seq 1 first) is a prefix of one of the branches, payloads
    /// included where stored.
    pub fn holds_prefix(&self, chain: &[(Header, Option<Vec<u8>>)]) -> bool {
        self.branches.iter().any(|b| {
            chain.len() <= b.headers.len()
                && chain.iter().enumerate().all(|(i, (h, p))| {
                    *h == b.headers[i] && p.as_ref().is_none_or(|p| *p == b.payloads[i])
                })
        })
    }
}

/// One author's stored chain: headers and payloads (`None`: pruned), seq 1 first.
pub type Chain = Vec<(Header, Option<Vec<u8>>)>;

/// An in-memory store that records each author's chain, holds at most `capacity`
/// blocks, and panics if the node stores a block that is not a genuine next link.
#[derive(Clone, Debug)]
pub struct RecStore {
    /// Each author's stored chain.
    pub chains: Vec<(PublicKey, Chain)>,
    /// Most blocks held.
    pub capacity: usize,
    /// The genuine chains.
    pub authors: Vec<Author>,
}

impl RecStore {
    /// An empty store for the fixture `authors`.
    pub fn new(authors: Vec<Author>, capacity: usize) -> RecStore {
        RecStore {
            chains: Vec::new(),
            capacity,
            authors,
        }
    }

    /// `author`'s stored chain.
    pub fn chain(&self, author: &PublicKey) -> &[(Header, Option<Vec<u8>>)] {
        self.chains
            .iter()
            .find(|(a, _)| a == author)
            .map_or(&[][..], |(_, c)| c.as_slice())
    }

    /// Blocks stored, all authors.
    pub fn total(&self) -> usize {
        self.chains.iter().map(|(_, c)| c.len()).sum()
    }

    /// How many blocks of each fixture author are stored.
    pub fn lengths(&self) -> Vec<usize> {
        self.authors
            .iter()
            .map(|a| self.chain(&a.key()).len())
            .collect()
    }
}

impl SyncStore for RecStore {
    fn head(&mut self, author: &PublicKey) -> Option<Head> {
        self.chain(author).last().map(|(h, _)| Head {
            seq: h.seq,
            id: h.id(),
            timestamp_ms: h.timestamp_ms,
        })
    }

    fn header(&mut self, author: &PublicKey, seq: u64) -> Option<Header> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.chain(author).get(i).map(|(h, _)| *h)
    }

    fn payload(&mut self, author: &PublicKey, seq: u64, buf: &mut [u8]) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        let p = self.chain(author).get(i)?.1.as_ref()?;
        buf.get_mut(..p.len())?.copy_from_slice(p);
        Some(p.len())
    }

    fn append(&mut self, header: &Header, payload: Option<&[u8]>) -> Result<(), StoreFull> {
        if self.total() >= self.capacity {
            return Err(StoreFull);
        }
        let mut next = self.chain(&header.author).to_vec();
        next.push((*header, payload.map(<[u8]>::to_vec)));
        let genuine = self
            .authors
            .iter()
            .any(|a| a.key() == header.author && a.holds_prefix(&next));
        assert!(
            genuine,
            "the node stored a block that is not the genuine next link: {header:?}"
        );
        match self.chains.iter_mut().find(|(a, _)| *a == header.author) {
            Some((_, c)) => *c = next,
            None => self.chains.push((header.author, next)),
        }
        Ok(())
    }
}

/// Checks one message a node sent, against the store it holds and whom it follows.
pub fn check_sent(bytes: &[u8], store: &RecStore, follows: impl Fn(&PublicKey) -> bool) {
    let msg = Message::parse(bytes).expect("a node sends only well-formed messages");
    match msg {
        Message::Block { header, payload } => {
            let h = Header::decode(header).expect("a sent header decodes");
            let i = (h.seq as usize).wrapping_sub(1);
            let stored = store.chain(&h.author).get(i);
            let (sh, sp) = stored.expect("a node sends only stored blocks");
            assert_eq!(*sh, h, "a sent block differs from the stored one");
            assert_eq!(
                sp.as_deref(),
                payload,
                "a sent payload differs from the stored one"
            );
        }
        Message::Heads { heads, .. } => {
            assert!(heads.len() <= HEADS_MAX);
            for e in &heads {
                let head = store.chain(&e.author).last();
                let (seq, id) = head.map_or((0, [0; 32]), |(h, _)| (h.seq, h.id().0));
                assert_eq!(
                    (e.seq, e.id.0),
                    (seq, id),
                    "an announced head is not stored"
                );
            }
        }
        Message::Want { author, .. } => {
            assert!(follows(&author), "a want for an author not followed");
        }
        Message::Fork(p) => {
            assert!(p.verify().is_ok());
            let (a, b) = p.headers();
            let forked = store
                .authors
                .iter()
                .find(|x| x.key() == a.author)
                .expect("a fork proof about a fixture author");
            let signed = |h: &Header| {
                forked
                    .branches
                    .iter()
                    .any(|br| br.headers.get(h.seq as usize - 1) == Some(h))
            };
            assert!(
                signed(a) && signed(b),
                "a fork proof of blocks nobody signed"
            );
        }
    }
}
