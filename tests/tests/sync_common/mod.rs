//! The harness shared by the core replication tests (`sync_peers`, `sync_wants`): an
//! in-memory store, a signature check that counts, an outbox that collects, and a node
//! built from them.

#![allow(dead_code)]

use glitter_core::Header;
use glitter_core::chain::{Ed25519Check, HeaderSource, SignatureCheck};
use glitter_core::sig::{KeyPair, PublicKey, SigError};
use glitter_core::sync::{Config, Message, Node, Outbox, OutboxFull, PeerId, StoreFull, SyncStore};
use std::cell::Cell;
use std::rc::Rc;

/// One author's stored blocks, in seq order.
pub type Chain = Vec<(Header, Option<Vec<u8>>)>;

/// An in-memory store: every author's headers and payloads, in seq order.
#[derive(Default)]
pub struct Store {
    pub chains: Vec<(PublicKey, Chain)>,
}

impl Store {
    pub fn chain(&self, author: &PublicKey) -> Option<&Chain> {
        self.chains
            .iter()
            .find(|(a, _)| a == author)
            .map(|(_, c)| c)
    }
}

impl SyncStore for Store {
    fn head(&mut self, author: &PublicKey) -> Option<glitter_core::chain::Head> {
        self.chain(author)
            .and_then(|c| c.last())
            .map(|(h, _)| glitter_core::chain::Head {
                seq: h.seq,
                id: h.id(),
                timestamp_ms: h.timestamp_ms,
            })
    }
    fn header(&mut self, author: &PublicKey, seq: u64) -> Option<Header> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.chain(author).and_then(|c| c.get(i)).map(|(h, _)| *h)
    }
    fn payload(&mut self, author: &PublicKey, seq: u64, buf: &mut [u8]) -> Option<usize> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        let p = self.chain(author)?.get(i)?.1.as_ref()?;
        buf.get_mut(..p.len())?.copy_from_slice(p);
        Some(p.len())
    }
    fn append(&mut self, header: &Header, payload: Option<&[u8]>) -> Result<(), StoreFull> {
        let entry = (*header, payload.map(<[u8]>::to_vec));
        match self.chains.iter_mut().find(|(a, _)| *a == header.author) {
            Some((_, c)) => c.push(entry),
            None => self.chains.push((header.author, vec![entry])),
        }
        Ok(())
    }
}

/// Counts signature checks, then does the real one.
#[derive(Clone, Default)]
pub struct Counting(pub Rc<Cell<u64>>);

impl SignatureCheck for Counting {
    fn check(&mut self, h: &Header) -> Result<(), SigError> {
        self.0.set(self.0.get() + 1);
        Ed25519Check.check(h)
    }
}

/// Collects what the node sends.
#[derive(Default)]
pub struct Sent(pub Vec<(PeerId, Vec<u8>)>);

impl Outbox for Sent {
    fn send(&mut self, to: PeerId, msg: &Message<'_>) -> Result<(), OutboxFull> {
        let mut buf = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
        let b = msg.emit(&mut buf).map_err(|_| OutboxFull)?;
        self.0.push((to, b.to_vec()));
        Ok(())
    }
}

pub type TestNode = Node<Store, Counting, 64, 16, 16, 8, 4>;

pub fn keys(n: u8) -> KeyPair {
    KeyPair::from_seed([n; 32]).expect("non-zero seed")
}

pub fn node(me: u8) -> (TestNode, Rc<Cell<u64>>) {
    let checks = Counting::default();
    let count = checks.0.clone();
    let cfg = Config::default();
    (
        TestNode::new(keys(me).public(), Store::default(), checks, cfg),
        count,
    )
}

pub struct NoHeaders;

impl HeaderSource for NoHeaders {
    fn header_at(&mut self, _seq: u64) -> Option<Header> {
        None
    }
}
