//! The node's loop and its devices: link events, attaching a device at its hello,
//! its sync frames handed to the core, frames routed to it, its ban, its heads at
//! every tick, and its rows in `status`.

use super::io::{IoEvent, RETRY_MS};
use super::{Attached, DeviceEvent, device_peer_id, frame};
use crate::runtime::replicate::Held;
use crate::runtime::{OUTBOX_MAX, Runtime};
use glitter_core::sig::PublicKey;
use glitter_core::sync::link::{Body, Hello, encode_follow, parse_body};
use glitter_core::sync::{Message, PeerId as CorePeer, SyncStore, WantEnd};
use glitter_host::outbox::VecOutbox;

/// The first byte of an encoded `Heads` ([`Message::emit`]): its bytes are parsed
/// only then (a fork proof's parse checks two signatures).
const HEADS_TAG: u8 = 1;
/// The first byte of an encoded `Want`: sent at once, it acknowledges nothing.
const WANT_TAG: u8 = 2;

impl Runtime {
    /// Handles an event of device number `ev.index`'s link.
    pub(in crate::runtime) fn on_device_event(&mut self, ev: DeviceEvent) {
        let i = ev.index;
        let Some(d) = self.devices.list.get_mut(i) else {
            return;
        };
        let spec = d.spec.to_string();
        match ev.event {
            IoEvent::Up => {
                d.connected = true;
                d.announced = None;
                d.warned = false;
                d.stats.links += 1;
                self.out
                    .line(&format!("device {spec}: link up, hello sent"));
            }
            IoEvent::Down(why) => {
                d.connected = false;
                d.deframer.reset();
                self.detach(i);
                self.out.line(&format!(
                    "device {spec}: link down ({why}); reconnecting every {} ms",
                    RETRY_MS
                ));
            }
            IoEvent::Unreachable(why) => self.out.line(&format!(
                "device {spec}: cannot connect ({why}); retrying every {RETRY_MS} ms"
            )),
            IoEvent::Bytes(bytes) => self.device_bytes(i, &bytes),
        }
    }

    /// Frees the core registration of device `i` (its ban is remembered by the peer
    /// table, as for a libp2p peer that leaves).
    fn detach(&mut self, i: usize) {
        let Some(a) = self.devices.list.get_mut(i).and_then(|d| d.attached.take()) else {
            return;
        };
        self.peer_disconnected(&a.pid);
    }

    /// Received bytes of device `i`: each complete frame is handled in order.
    fn device_bytes(&mut self, i: usize, bytes: &[u8]) {
        let before = self.node.stats().blocks_stored;
        for &b in bytes {
            let body = match self.devices.list.get_mut(i).map(|d| d.deframer.feed(b)) {
                Some(Some(Ok(body))) => body.to_vec(),
                _ => continue,
            };
            self.device_body(i, &body);
        }
        // Blocks from the device were stored: ask for the next ones now (the window
        // of wants refilled from its last heads) rather than at its next announcement.
        if self.node.stats().blocks_stored > before {
            let attached = self.devices.list.get(i).and_then(|d| d.attached);
            if let Some(a) = attached
                && let Some(h) = self.last_heads.get(&a.id).cloned()
            {
                let now = self.now_ms();
                let mut out = VecOutbox::new(OUTBOX_MAX);
                let _ = self.node.handle(now, a.id, &h, &mut out);
                self.route(out, None);
            }
        }
        let _ = self.node.take_stored();
    }

    /// One frame body from device `i`.
    fn device_body(&mut self, i: usize, body: &[u8]) {
        let now = self.now_ms();
        let Some(d) = self.devices.list.get_mut(i) else {
            return;
        };
        if d.banned_until > now {
            d.stats.dropped_banned += 1;
            return;
        }
        let bytes = match parse_body(body) {
            Ok(Body::Hello(h)) => {
                d.stats.hellos += 1;
                self.device_hello(i, h);
                return;
            }
            Ok(Body::Sync(bytes)) => bytes,
            // `Follow` goes from the host to a device only.
            Ok(Body::Follow(_)) | Err(_) => {
                d.stats.bad_bodies += 1;
                return;
            }
        };
        let Some(a) = d.attached else {
            d.stats.before_hello += 1;
            return;
        };
        if bytes.first() == Some(&HEADS_TAG)
            && let Ok(Message::Heads { heads, .. }) = Message::parse(bytes)
        {
            // Kept to refill the window of wants after its blocks arrive; handled
            // again, it must not ask for our heads each time.
            let again = Message::Heads {
                reply: false,
                heads,
            };
            let mut buf = [0u8; glitter_core::sync::message::MESSAGE_LEN_MAX];
            if let Ok(b) = again.emit(&mut buf) {
                self.last_heads.insert(a.id, b.to_vec());
            }
        }
        let mut out = VecOutbox::new(OUTBOX_MAX);
        let _ = self.node.handle(now, a.id, bytes, &mut out);
        self.route(out, None);
        self.mirror_score(a.id);
        self.note_device_ban(i, now);
    }

    /// Device `i` (re)started or answered our hello: register it afresh under its
    /// key, replicate its chain, tell it whom to follow and send it our heads.
    fn device_hello(&mut self, i: usize, h: Hello) {
        let me = self.keys.public();
        let Some(d) = self.devices.list.get_mut(i) else {
            return;
        };
        let spec = d.spec.to_string();
        let pid = device_peer_id(&h.key);
        let Some(pid) = pid.filter(|_| h.key != me) else {
            d.stats.bad_bodies += 1;
            if !d.warned {
                d.warned = true;
                let why = if h.key == me {
                    "this node's own key"
                } else {
                    "not a usable Ed25519 key"
                };
                self.out.line(&format!(
                    "device {spec}: hello with {why} ({}); not attached",
                    h.key
                ));
            }
            return;
        };
        let taken = self.peers.id(&pid).is_some() && d.attached.map(|a| a.pid) != Some(pid);
        if taken || self.devices.key_in_use(&h.key, i, true) {
            if let Some(d) = self.devices.list.get_mut(i) {
                d.stats.bad_bodies += 1;
                if !d.warned {
                    d.warned = true;
                    self.out.line(&format!(
                        "device {spec}: key {} is already attached elsewhere; not attached",
                        h.key
                    ));
                }
            }
            return;
        }
        self.detach(i);
        let old = self.devices.list.get(i).and_then(|d| d.key);
        if let Some(old) = old.filter(|o| *o != h.key) {
            self.release_interest(i, &old);
        }
        self.peer_connected(pid);
        let Some(id) = self.peers.id(&pid) else {
            self.out.line(&format!(
                "device {spec}: the peer table is full; not attached"
            ));
            return;
        };
        let follows = self.node.follow(h.key);
        let Some(d) = self.devices.list.get_mut(i) else {
            return;
        };
        d.key = Some(h.key);
        d.body_max = h.body_max;
        d.authors_max = h.authors_max;
        d.attached = Some(Attached { pid, id });
        if d.announced != Some(h.key) {
            d.announced = Some(h.key);
            self.out
                .line(&format!("device {} attached over {spec}", h.key));
            if !follows {
                self.out.line(&format!(
                    "device {}: its chain is not replicated here: the follow table is full",
                    h.key
                ));
            }
        }
        let now = self.now_ms();
        self.note_device_ban(i, now);
        self.greet_device(i, now);
    }

    /// Stops replicating `key`, the former key of device `i`, unless this node needs
    /// it otherwise (its own, followed, a `--device-follow` author, another device's).
    fn release_interest(&mut self, i: usize, key: &PublicKey) {
        let needed = *key == self.keys.public()
            || self.follows.contains(key)
            || self.devices.follow.contains(key)
            || self.devices.key_in_use(key, i, false);
        if !needed {
            self.node.unfollow(key);
        }
    }

    /// Tells attached device `i` whom to follow and sends it our heads (not while it
    /// is banned).
    fn greet_device(&mut self, i: usize, now: u64) {
        let Some(d) = self.devices.list.get(i) else {
            return;
        };
        let Some(a) = d.attached else {
            return;
        };
        if d.banned_until > now {
            return;
        }
        for author in self.devices.follow.clone() {
            self.device_send(i, a.id, &encode_follow(&author));
        }
        let mut out = VecOutbox::new(OUTBOX_MAX);
        self.node.gossip_to(now, a.id, &mut out);
        self.route(out, None);
    }

    /// Notes a ban the core gave device `i` (one line when it starts).
    fn note_device_ban(&mut self, i: usize, now: u64) {
        let Some(d) = self.devices.list.get_mut(i) else {
            return;
        };
        let Some(a) = d.attached else {
            return;
        };
        let Some(until) = self.node.banned_until(a.id).filter(|t| *t > now) else {
            return;
        };
        if d.banned_until >= until {
            return;
        }
        d.banned_until = until;
        let who = d.key.map_or_else(|| "?".to_string(), |k| k.to_string());
        let line = format!(
            "device {who} over {} banned for {} s (core score {}): its frames are dropped",
            d.spec,
            until.saturating_sub(now).div_ceil(1000),
            self.node
                .peer_score(a.id)
                .map_or_else(|| "-".to_string(), |s| s.to_string())
        );
        self.out.line(&line);
    }

    /// A core message for attached device `i` (core id `to`): heads and blocks wait
    /// for the commit of what was stored before them (they tell what this node
    /// holds); wants go at once.
    pub(in crate::runtime) fn route_to_device(&mut self, i: usize, to: CorePeer, bytes: Vec<u8>) {
        if bytes.first() != Some(&WANT_TAG) && self.holding() {
            self.held.push(Held::Device(to, bytes));
            return;
        }
        self.device_send(i, to, &bytes);
    }

    /// Sends a held message to the device it was for, if it is still attached as `to`.
    pub(in crate::runtime) fn release_to_device(&mut self, to: CorePeer, bytes: &[u8]) {
        if let Some(i) = self.devices.of(to) {
            self.device_send(i, to, bytes);
        }
    }

    /// Frames `body` for device `i` (attached as `to`) and queues it, unless the
    /// device is banned. A want that is not queued is ended at once (the core asks
    /// again later).
    fn device_send(&mut self, i: usize, to: CorePeer, body: &[u8]) {
        let now = self.now_ms();
        let Some(d) = self.devices.list.get_mut(i) else {
            return;
        };
        if d.banned_until > now {
            return;
        }
        let fits = body.len() <= usize::from(d.body_max);
        let queued = match frame(body).filter(|_| fits) {
            Some(f) => d.queue(f),
            None => {
                d.stats.send_dropped += 1;
                false
            }
        };
        if !queued && body.first() == Some(&WANT_TAG) {
            self.node.want_ended(now, to, body, WantEnd::Failed, false);
        }
    }

    /// At every tick (and after a local append): each attached device that is not
    /// banned gets our heads (the core's tick picks one peer; gossipsub reaches libp2p
    /// peers, not devices), and a device whose ban ended is greeted again (sent our
    /// hello if its own was dropped during the ban, so that it attaches).
    pub(in crate::runtime) fn device_tick(&mut self) {
        let now = self.now_ms();
        for i in 0..self.devices.list.len() {
            let Some(d) = self.devices.list.get_mut(i) else {
                continue;
            };
            if d.banned_until > now {
                continue;
            }
            if d.banned_until != 0 {
                d.banned_until = 0;
                let line = format!(
                    "device {} over {}: ban ended",
                    d.key.map_or_else(|| "?".to_string(), |k| k.to_string()),
                    d.spec
                );
                if d.attached.is_none() && d.connected {
                    d.queue(self.devices.greeting.clone());
                }
                self.out.line(&line);
                self.greet_device(i, now);
                continue;
            }
            let Some(a) = d.attached else {
                continue;
            };
            let mut out = VecOutbox::new(OUTBOX_MAX);
            self.node.gossip_to(now, a.id, &mut out);
            self.route(out, None);
        }
    }

    /// The `devices` rows of `status`, and one line each.
    pub(in crate::runtime) fn devices_status(&mut self) -> (Vec<String>, serde_json::Value) {
        let now = self.now_ms();
        let mut lines = Vec::new();
        let mut rows = Vec::new();
        for i in 0..self.devices.list.len() {
            let Some(d) = self.devices.list.get(i) else {
                continue;
            };
            let (key, attached) = (d.key, d.attached);
            let head = key.map(|k| self.node.store().head(&k).map_or(0, |h| h.seq));
            let score = attached.and_then(|a| self.node.peer_score(a.id));
            let Some(d) = self.devices.list.get(i) else {
                continue;
            };
            let banned = d.banned_until > now;
            let rx = *d.deframer.stats();
            lines.push(format!(
                "device   {} {}{}: key {}, head {}, score {}; {} frames in ({} dropped), {} out ({} dropped)",
                d.spec,
                if d.connected { "up" } else { "down" },
                if banned { " BANNED" } else { "" },
                key.map_or_else(|| "-".to_string(), |k| k.to_string()),
                head.map_or_else(|| "-".to_string(), |h| h.to_string()),
                score.map_or_else(|| "-".to_string(), |s| s.to_string()),
                rx.frames,
                rx.dropped() + d.stats.dropped_banned,
                d.stats.frames_sent,
                d.stats.send_dropped
            ));
            rows.push(d.status(head, score, banned));
        }
        (lines, serde_json::Value::Array(rows))
    }
}
