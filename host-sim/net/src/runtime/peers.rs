//! Which libp2p peer each core peer id stands for.
//!
//! Only **connected** peers have a core id: one is given when a peer's first connection
//! is established and freed when its last one closes (the core node is told with
//! `Node::peer_gone`). Gossip publishers never get one: a `Heads` is handled as coming
//! from its publisher if that publisher is connected, otherwise from the connected peer
//! that forwarded it. So however many keys publish, the table holds at most
//! [`PEER_TABLE_MAX`] entries, and every core id names a live connection.
//!
//! Core ids are not reused while the counter has fresh ones (a `u32`), so a message in
//! flight for a peer that left is never delivered to a newcomer. A peer's core ban
//! would end with its id, so the bans of peers that leave are kept here, by libp2p peer
//! id (at most [`BANS_MAX`], the ban ending first dropped first), and handed back to the
//! core when the peer reconnects.

use glitter_core::sync::PeerId as CorePeer;
use libp2p::PeerId;
use std::collections::HashMap;

/// Most peers connected at once with a core id; a peer beyond it is disconnected.
pub(super) const PEER_TABLE_MAX: usize = 4096;
/// Most bans remembered for peers that left.
pub(super) const BANS_MAX: usize = 1024;

/// Connected peers and their core ids, and the bans of peers that left.
#[derive(Default)]
pub(super) struct PeerTable {
    ids: HashMap<PeerId, CorePeer>,
    of: HashMap<CorePeer, PeerId>,
    next: CorePeer,
    bans: HashMap<PeerId, u64>,
}

impl PeerTable {
    /// The core id of a newly connected `peer` (its existing one if it is already
    /// connected); `None` when [`PEER_TABLE_MAX`] peers are connected.
    pub(super) fn connect(&mut self, peer: PeerId) -> Option<CorePeer> {
        if let Some(id) = self.ids.get(&peer) {
            return Some(*id);
        }
        if self.ids.len() >= PEER_TABLE_MAX {
            return None;
        }
        // Bounded: at most PEER_TABLE_MAX ids are taken, so a free one is found within
        // PEER_TABLE_MAX + 1 steps.
        for _ in 0..=PEER_TABLE_MAX {
            let id = self.next;
            self.next = self.next.wrapping_add(1);
            if !self.of.contains_key(&id) {
                self.ids.insert(peer, id);
                self.of.insert(id, peer);
                return Some(id);
            }
        }
        None
    }

    /// `peer`'s last connection closed: frees its core id and returns it.
    pub(super) fn disconnect(&mut self, peer: &PeerId) -> Option<CorePeer> {
        let id = self.ids.remove(peer)?;
        self.of.remove(&id);
        Some(id)
    }

    /// The core id of a connected peer.
    pub(super) fn id(&self, peer: &PeerId) -> Option<CorePeer> {
        self.ids.get(peer).copied()
    }

    /// The connected peer with core id `id`.
    pub(super) fn peer(&self, id: CorePeer) -> Option<PeerId> {
        self.of.get(&id).copied()
    }

    /// Every connected peer and its core id, in core-id order.
    pub(super) fn connected(&self) -> Vec<(PeerId, CorePeer)> {
        let mut v: Vec<(PeerId, CorePeer)> = self.ids.iter().map(|(p, i)| (*p, *i)).collect();
        v.sort_by_key(|(_, i)| *i);
        v
    }

    /// How many peers have a core id.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Remembers that `peer`, which is leaving, is banned until `until_ms`.
    pub(super) fn remember_ban(&mut self, peer: PeerId, until_ms: u64, now_ms: u64) {
        self.bans.retain(|_, until| *until > now_ms);
        if self.bans.len() >= BANS_MAX && !self.bans.contains_key(&peer) {
            let first = self.bans.iter().min_by_key(|(_, u)| **u).map(|(p, _)| *p);
            match first {
                Some(p) if self.bans.get(&p).is_some_and(|u| *u < until_ms) => {
                    self.bans.remove(&p);
                }
                _ => return,
            }
        }
        self.bans.insert(peer, until_ms);
    }

    /// When `peer`'s remembered ban ends, if it is still banned at `now_ms` (the entry
    /// is consumed: the core holds the ban while the peer is connected).
    pub(super) fn take_ban(&mut self, peer: &PeerId, now_ms: u64) -> Option<u64> {
        self.bans.remove(peer).filter(|until| *until > now_ms)
    }

    /// How many bans of peers that left are remembered.
    #[cfg(test)]
    fn bans(&self) -> usize {
        self.bans.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_given_on_connect_and_freed_on_disconnect() {
        let mut t = PeerTable::default();
        let a = PeerId::random();
        let id = t.connect(a).expect("room");
        assert_eq!(t.connect(a), Some(id), "a second connection keeps the id");
        assert_eq!(t.peer(id), Some(a));
        assert_eq!(t.disconnect(&a), Some(id));
        assert_eq!(t.peer(id), None);
        assert_eq!(t.len(), 0);
        let b = PeerId::random();
        assert_ne!(
            t.connect(b),
            Some(id),
            "a freed id is not handed out again at once"
        );
    }

    #[test]
    fn churn_never_fills_the_table() {
        let mut t = PeerTable::default();
        for _ in 0..(3 * PEER_TABLE_MAX) {
            let p = PeerId::random();
            assert!(t.connect(p).is_some());
            t.disconnect(&p);
        }
        assert_eq!(t.len(), 0);
        let honest = PeerId::random();
        assert!(t.connect(honest).is_some());
    }

    #[test]
    fn the_table_is_bounded_by_connected_peers() {
        let mut t = PeerTable::default();
        for _ in 0..PEER_TABLE_MAX {
            assert!(t.connect(PeerId::random()).is_some());
        }
        assert_eq!(t.connect(PeerId::random()), None);
    }

    #[test]
    fn bans_outlive_the_connection_and_are_bounded() {
        let mut t = PeerTable::default();
        let bad = PeerId::random();
        t.remember_ban(bad, 1_000, 0);
        for i in 0..(2 * BANS_MAX as u64) {
            t.remember_ban(PeerId::random(), 10 + i % 500, 0);
        }
        assert!(t.bans() <= BANS_MAX);
        assert_eq!(
            t.take_ban(&bad, 500),
            Some(1_000),
            "the longest ban is kept"
        );
        assert_eq!(t.take_ban(&bad, 500), None, "taken once");
        t.remember_ban(bad, 1_000, 0);
        assert_eq!(
            t.take_ban(&bad, 2_000),
            None,
            "an ended ban is not handed back"
        );
    }
}
