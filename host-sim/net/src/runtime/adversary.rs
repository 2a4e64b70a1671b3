//! TEST ONLY: the adversaries behind the hidden `glitter node --evil`,
//! `--equivocate` and `--fake-heads` flags, which the bad-peer, fork-detection,
//! fake-heads and network-backup tests run against honest nodes.
//!
//! An honest node has no [`Adversary`]. When one is set, the event loop gives it three
//! chances to misbehave, and nothing else changes:
//!
//! - [`Adversary::gossip`] after every gossip tick: messages to publish as well;
//! - [`Adversary::response`] before a sync response leaves: it may replace the blocks;
//! - [`Adversary::withhold`] before that: it may keep the request unanswered
//!   ([`Adversary::hold`] keeps its channel open until the requester gives up);
//! - [`Adversary::release`] before a custodian checks a device's approval: a forged
//!   release sent at once.

use super::CoreNode;
use crate::backup_proto::BackupResponse;
use crate::codec::RESPONSE_MESSAGES_MAX;
use glitter_core::chain::{ChainState, Head};
use glitter_core::hash::Hash;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::store::BlockLog;
use glitter_core::sync::message::{HEADS_MAX, MESSAGE_LEN_MAX};
use glitter_core::sync::{HeadEntry, Message, PeerId as CorePeer, SyncStore};
use glitter_core::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use glitter_host::backup::{self, Custody};
use libp2p::request_response::ResponseChannel;
use std::collections::VecDeque;

/// How a test node misbehaves.
#[derive(Debug, Default)]
pub(super) struct Adversary {
    /// `--evil`: malformed and inflated heads, forged blocks, corrupted releases.
    evil: bool,
    /// `--equivocate`: a validly signed twin of the head block for peers with an odd
    /// core id, so the chain forks.
    equivocate: bool,
    /// `--fake-heads`: heads beyond the truth at every tick, wants never answered.
    fake_heads: bool,
    /// Gossip ticks so far.
    ticks: u64,
    /// Response channels of the wants left unanswered (at most [`HELD_MAX`], oldest
    /// dropped).
    held: VecDeque<ResponseChannel<Vec<Vec<u8>>>>,
}

/// How many unanswered requests `--fake-heads` keeps open at once.
const HELD_MAX: usize = 256;

impl Adversary {
    /// The adversary the flags ask for; `None` for an honest node.
    pub(super) fn from_flags(evil: bool, equivocate: bool, fake_heads: bool) -> Option<Adversary> {
        (evil || equivocate || fake_heads).then(|| Adversary {
            evil,
            equivocate,
            fake_heads,
            ticks: 0,
            held: VecDeque::new(),
        })
    }

    /// Whether the sync `request` goes unanswered: with `--fake-heads`, every `Want`.
    pub(super) fn withhold(&self, request: &[u8]) -> bool {
        self.fake_heads && matches!(Message::parse(request), Ok(Message::Want { .. }))
    }

    /// Keeps a withheld request's channel open (the requester waits until its
    /// timeout); beyond [`HELD_MAX`] the oldest is dropped.
    pub(super) fn hold(&mut self, channel: ResponseChannel<Vec<Vec<u8>>>) {
        if self.held.len() >= HELD_MAX {
            self.held.pop_front();
        }
        self.held.push_back(channel);
    }

    /// After a gossip tick: with `--evil`, a malformed announcement every other tick,
    /// and heads three blocks beyond the truth for every followed author; with
    /// `--fake-heads`, only the inflated heads (a distinct message at every tick).
    pub(super) fn gossip(&mut self, node: &mut CoreNode, follows: &[PublicKey]) -> Vec<Vec<u8>> {
        self.ticks += 1;
        let mut out = Vec::new();
        if !self.evil && !self.fake_heads {
            return out;
        }
        if self.evil && self.ticks.is_multiple_of(2) {
            out.push(vec![0xEE; 7]);
        }
        let mut heads = heapless::Vec::<HeadEntry, HEADS_MAX>::new();
        for a in follows.iter().take(HEADS_MAX) {
            let seq = node.store().head(a).map_or(0, |h| h.seq) + 3;
            // A fresh id at every tick, so gossipsub does not drop it as a duplicate.
            let mut id = [0x42; 32];
            id[..8].copy_from_slice(&self.ticks.to_le_bytes());
            let _ = heads.push(HeadEntry {
                author: *a,
                seq,
                id: Hash(id),
                forked: false,
            });
        }
        if heads.is_empty() {
            return out;
        }
        let mut buf = [0u8; MESSAGE_LEN_MAX];
        if let Ok(b) = (Message::Heads {
            reply: false,
            heads,
        })
        .emit(&mut buf)
        {
            out.push(b.to_vec());
        }
        out
    }

    /// Before the response to `request` from peer `from` leaves: with `--evil`, forged
    /// blocks instead of the honest ones; with `--equivocate` and an odd `from`, the
    /// head block replaced by its twin.
    pub(super) fn response(
        &self,
        node: &mut CoreNode,
        keys: &KeyPair,
        from: CorePeer,
        request: &[u8],
        honest: Vec<Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let mut response = if self.evil {
            forged_blocks(node, request)
        } else {
            honest
        };
        if self.equivocate && from % 2 == 1 {
            equivocate(node, keys, &mut response);
        }
        response
    }

    /// Before a custodian checks a device's approval: with `--evil`, a release to
    /// every device at once, without approval, whose sealed share and shard records
    /// are corrupted (one bit each).
    pub(super) fn release(
        &self,
        custody: &Custody,
        keys: &KeyPair,
        device: &[u8; 32],
    ) -> Option<BackupResponse> {
        if !self.evil {
            return None;
        }
        let Ok(r) = custody.respond(keys, device) else {
            return Some(BackupResponse::Nothing);
        };
        let mut release = r.release.to_bytes().to_vec();
        if let Some(b) = release.last_mut() {
            *b ^= 1;
        }
        let records = r
            .records
            .into_iter()
            .map(|mut rec| {
                if let Some(b) = rec.last_mut() {
                    *b ^= 1;
                }
                rec
            })
            .collect();
        Some(BackupResponse::Release {
            manifest_block: backup::block_bytes(&r.manifest_block),
            release,
            records,
        })
    }
}

/// Answers a `Want` with forged blocks (real ones with a flipped signature byte, or
/// the head re-numbered past the truth).
fn forged_blocks(node: &mut CoreNode, request: &[u8]) -> Vec<Vec<u8>> {
    let Ok(Message::Want {
        author,
        from_seq,
        count,
    }) = Message::parse(request)
    else {
        return Vec::new();
    };
    let head = node.store().head(&author);
    let mut out = Vec::new();
    let mut pbuf = [0u8; PAYLOAD_LEN_MAX];
    for seq in from_seq..from_seq.saturating_add(u64::from(count)) {
        let base = match node.store().header(&author, seq) {
            Some(h) => Some((h, seq)),
            None => head.and_then(|h| node.store().header(&author, h.seq).map(|hh| (hh, h.seq))),
        };
        let Some((mut h, stored_seq)) = base else {
            // Nothing to forge from: send junk that is a well-formed Block message.
            let mut m = vec![3u8];
            m.extend_from_slice(&[0x5A; HEADER_LEN]);
            m.push(0);
            out.push(m);
            continue;
        };
        h.seq = seq;
        let mut hb = h.to_bytes();
        if let Some(b) = hb.last_mut() {
            *b ^= 1;
        }
        let len = node.store().payload(&author, stored_seq, &mut pbuf);
        let p = len.and_then(|l| pbuf.get(..l));
        let mut mbuf = [0u8; MESSAGE_LEN_MAX];
        if let Ok(b) = Message::block(&hb, p).emit(&mut mbuf) {
            out.push(b.to_vec());
        }
        if out.len() >= RESPONSE_MESSAGES_MAX {
            break;
        }
    }
    out
}

/// Replaces our head block in `response` by a twin: the same seq and links, another
/// payload, validly signed. Peers that get it hold a different chain from the others,
/// which is a fork only gossip can reveal.
fn equivocate(node: &mut CoreNode, keys: &KeyPair, response: &mut [Vec<u8>]) {
    let me = keys.public();
    let Some(head) = node.store().head(&me) else {
        return;
    };
    for msg in response.iter_mut() {
        let Ok(Message::Block { header, .. }) = Message::parse(msg) else {
            continue;
        };
        let Ok(h) = Header::decode(header) else {
            continue;
        };
        if h.author != me || h.seq != head.seq {
            continue;
        }
        let before = if h.seq > 1 {
            node.store().header(&me, h.seq - 1).map(|p| Head {
                seq: p.seq,
                id: p.id(),
                timestamp_ms: p.timestamp_ms,
            })
        } else {
            None
        };
        let Ok(mut state) = ChainState::resume(me, before) else {
            continue;
        };
        let Ok(twin) = Payload::post("an equivocating twin", None) else {
            continue;
        };
        let mut pbuf = [0u8; PAYLOAD_LEN_MAX];
        let Ok(bytes) = twin.encode(&mut pbuf) else {
            continue;
        };
        let log = node.store().log();
        let mut src = BlockLog::source(log, me);
        let Ok(alt) = state.append(keys, twin.kind(), h.timestamp_ms, bytes, &mut src) else {
            continue;
        };
        let mut mbuf = [0u8; MESSAGE_LEN_MAX];
        if let Ok(b) = Message::block(&alt.to_bytes(), Some(bytes)).emit(&mut mbuf) {
            *msg = b.to_vec();
        }
    }
}
