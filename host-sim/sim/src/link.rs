//! The event queue and the link model: scheduling, delivery with loss, latency,
//! duplication and partitions, and the step loop (see the crate docs).

use super::{Sim, VecOutbox, range, unit};

/// What happens at an event.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EventKind {
    /// A node's gossip tick.
    Tick { node: u32 },
    /// A message arrives.
    Deliver { to: u32, from: u32, bytes: Vec<u8> },
}

/// A queued event, ordered by (time, insertion order).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Event {
    pub(crate) at_ms: u64,
    pub(crate) order: u64,
    pub(crate) kind: EventKind,
}

impl Sim {
    pub(crate) fn schedule(&mut self, at_ms: u64, kind: EventKind) {
        self.order += 1;
        self.queue.push(Event {
            at_ms,
            order: self.order,
            kind,
        });
    }

    /// Injects raw bytes from `from` to `to` now, as a (possibly hostile) peer would.
    pub fn inject(&mut self, from: usize, to: usize, bytes: Vec<u8>) {
        let at = self.now_ms;
        self.schedule(
            at,
            EventKind::Deliver {
                to: to as u32,
                from: from as u32,
                bytes,
            },
        );
    }

    pub(crate) fn send_all(&mut self, from: u32, out: VecOutbox) {
        // Messages one step sends to one destination travel together (one latency
        // draw, order kept), as a burst on one connection would; separate steps and
        // duplicates draw their own latency, so the link still reorders.
        let mut burst_latency: Vec<(u32, u64)> = Vec::new();
        for (to, bytes) in out.messages {
            let t = match bytes.first() {
                Some(1) => &mut self.stats.heads,
                Some(2) => &mut self.stats.wants,
                Some(3) => &mut self.stats.blocks,
                _ => &mut self.stats.forks,
            };
            t.messages += 1;
            t.bytes += bytes.len() as u64;
            let to_i = to as usize;
            if to_i >= self.nodes.len() || self.group[from as usize] != self.group[to_i] {
                self.stats.dropped += 1;
                continue;
            }
            if self.cfg.drop_rate > 0.0 && unit(&mut self.net) < self.cfg.drop_rate {
                self.stats.dropped += 1;
                continue;
            }
            let copies =
                if self.cfg.duplicate_rate > 0.0 && unit(&mut self.net) < self.cfg.duplicate_rate {
                    self.stats.duplicated += 1;
                    2
                } else {
                    1
                };
            let mut bytes = Some(bytes);
            for c in 0..copies {
                let lat = match burst_latency.iter().find(|(d, _)| *d == to) {
                    Some((_, l)) if c == 0 => *l,
                    _ => {
                        let l = range(
                            &mut self.net,
                            self.cfg.latency_ms_min,
                            self.cfg.latency_ms_max,
                        );
                        if c == 0 {
                            burst_latency.push((to, l));
                        }
                        l
                    }
                };
                let at = self.now_ms + lat;
                // The last copy takes the bytes; an earlier one (a duplicate) clones.
                let copy = if c + 1 == copies {
                    bytes.take()
                } else {
                    bytes.clone()
                };
                let Some(copy) = copy else { break };
                self.schedule(
                    at,
                    EventKind::Deliver {
                        to,
                        from,
                        bytes: copy,
                    },
                );
            }
        }
    }

    /// Runs the earliest event. Returns false when the queue is empty.
    pub fn step(&mut self) -> bool {
        let Some(ev) = self.queue.pop() else {
            return false;
        };
        self.now_ms = ev.at_ms;
        self.stats.events += 1;
        let mut out = VecOutbox::new(self.cfg.outbox_max);
        match ev.kind {
            EventKind::Tick { node } => {
                self.fold(&[1, ev.at_ms, u64::from(node)]);
                let i = node as usize;
                if let Some(n) = self.nodes[i].as_mut() {
                    n.tick(ev.at_ms, &mut self.node_rngs[i], &mut out);
                }
                let next = ev.at_ms + self.cfg.tick_interval_ms;
                self.schedule(next, EventKind::Tick { node });
                self.send_all(node, out);
                self.reap(i);
            }
            EventKind::Deliver { to, from, bytes } => {
                let head = bytes.iter().take(48).fold(bytes.len() as u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
                });
                self.fold(&[2, ev.at_ms, u64::from(to), u64::from(from), head]);
                let i = to as usize;
                let Some(n) = self.nodes[i].as_mut() else {
                    self.stats.dropped += 1;
                    return true;
                };
                // A connection is kept open: a peer evicted from a full table (the
                // least recently heard makes room) is back in it as soon as it speaks,
                // as the libp2p node re-adds a connected peer.
                if self.peers_of[i].contains(&from) {
                    n.add_peer(from);
                }
                if n.handle(ev.at_ms, from, &bytes, &mut out).is_err() {
                    self.stats.refused += 1;
                }
                for s in n.take_stored() {
                    self.stats.deliveries += 1;
                    self.stats
                        .latencies_ms
                        .push(ev.at_ms.saturating_sub(s.timestamp_ms));
                }
                self.send_all(to, out);
                self.reap(i);
            }
        }
        true
    }

    /// Runs events until simulated time `until_ms` (events at later times stay queued),
    /// calling `progress(now_ms)` every so often. Bounded by the event count.
    pub fn run_until(&mut self, until_ms: u64, mut progress: impl FnMut(u64)) {
        let mut n = 0u64;
        while let Some(at_ms) = self.queue.peek_time() {
            if at_ms > until_ms {
                break;
            }
            self.step();
            n += 1;
            if n.is_multiple_of(65_536) {
                progress(self.now_ms);
            }
        }
        self.now_ms = self.now_ms.max(until_ms);
        progress(self.now_ms);
    }
}
