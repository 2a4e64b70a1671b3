//! What the lab measures, by polling every running node's status (its stored heads and
//! core counters) every [`POLL_MS`]:
//!
//! - **reach**: for each post timed in a window, when each other node first held it,
//!   from the moment its author's node acknowledged it (so a figure includes up to one
//!   poll interval of measuring error);
//! - **convergence**: how long until every member holds every author's latest
//!   acknowledged block;
//! - **transfers per block**: blocks a node received in the window (stored, duplicate,
//!   out of order or unsolicited) per block it stored.

use crate::clock::Clock;
use crate::error::LabError;
use crate::nodes::LabNode;
use glitter_net::{Request, Response};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The polling interval.
pub const POLL_MS: u64 = 25;

/// A node's replication counters (from `status`'s `core`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counters {
    /// Blocks verified and stored.
    pub blocks_stored: u64,
    /// Blocks received again.
    pub duplicates: u64,
    /// Blocks received before their predecessor and dropped (a parked one is counted
    /// when it is applied, as stored or duplicate).
    pub out_of_order: u64,
    /// Blocks nobody asked for.
    pub unsolicited: u64,
    /// Wants sent.
    pub wants_sent: u64,
}

impl Counters {
    fn of(status: &serde_json::Value) -> Counters {
        let c = &status["core"];
        let get = |k: &str| c[k].as_u64().unwrap_or(0);
        Counters {
            blocks_stored: get("blocks_stored"),
            duplicates: get("duplicates"),
            out_of_order: get("out_of_order"),
            unsolicited: get("unsolicited"),
            wants_sent: get("wants_sent"),
        }
    }

    fn received(&self) -> u64 {
        self.blocks_stored + self.duplicates + self.out_of_order + self.unsolicited
    }
}

/// One node's share of a window.
#[derive(Debug, Clone, Serialize)]
pub struct NodeTransfers {
    /// The node.
    pub node: usize,
    /// Blocks it stored in the window.
    pub stored: u64,
    /// Blocks it received in the window (stored + duplicate + out of order +
    /// unsolicited).
    pub received: u64,
    /// Wants it sent.
    pub wants: u64,
}

/// What a converge step measured.
#[derive(Debug, Clone, Serialize)]
pub struct StepMetrics {
    /// From the step's start until every member held every chain, ms.
    pub converged_ms: f64,
    /// From the step's start until every member was connected to every other running
    /// node, ms (`None`: not before it converged).
    pub connected_ms: Option<f64>,
    /// From the window's start (its first post) until then, ms.
    pub since_window_ms: f64,
    /// Posts timed.
    pub posts_timed: usize,
    /// Each timed post's time to reach every other member, ms: median, p90, max.
    pub reach_all_ms: Option<[f64; 3]>,
    /// Blocks received per block stored, over all members.
    pub transfers_per_block: Option<f64>,
    /// Per member.
    pub per_node: Vec<NodeTransfers>,
}

impl StepMetrics {
    /// One line for the progress output.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "converged in {:.0} ms ({:.0} ms since the window opened)",
            self.converged_ms, self.since_window_ms
        );
        if let Some(c) = self.connected_ms {
            s.push_str(&format!("; fully connected after {c:.0} ms"));
        }
        if let Some([m, p90, max]) = self.reach_all_ms {
            s.push_str(&format!(
                "; {} posts reached all in median {m:.0} / p90 {p90:.0} / max {max:.0} ms",
                self.posts_timed
            ));
        }
        if let Some(t) = self.transfers_per_block {
            s.push_str(&format!("; {t:.2} transfers per block"));
        }
        s
    }
}

struct Timed {
    author: usize,
    seq: u64,
    at_us: u64,
    reached: Vec<Option<u64>>,
}

/// Tracks acknowledged blocks and times their spread.
pub struct Observer {
    clock: Clock,
    /// Latest acknowledged seq per author.
    target: Vec<u64>,
    posts: Vec<Timed>,
    baseline: Option<Vec<Counters>>,
    window_us: u64,
}

/// What one poll saw of a running node: its stored heads (author hex → seq), its
/// counters and how many peers it is connected to.
struct Seen {
    heads: HashMap<String, u64>,
    counters: Counters,
    connected: u64,
}

/// What one poll saw of each node (`None`: not running or not answering).
type Snapshot = Vec<Option<Seen>>;

fn poll(nodes: &[LabNode]) -> Snapshot {
    nodes
        .iter()
        .map(|n| {
            if !n.running() {
                return None;
            }
            let r = n.ctl(&Request::Status).ok()?;
            let heads = r.data["heads"]
                .as_object()?
                .iter()
                .filter_map(|(a, s)| Some((a.clone(), s.as_u64()?)))
                .collect();
            Some(Seen {
                heads,
                counters: Counters::of(&r.data),
                connected: r.data["connected"].as_u64().unwrap_or(0),
            })
        })
        .collect()
}

fn quantiles(mut v: Vec<f64>) -> Option<[f64; 3]> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    Some([q(0.5), q(0.9), q(1.0)])
}

impl Observer {
    /// An observer of `n` nodes.
    pub fn new(clock: Clock, n: usize) -> Observer {
        Observer {
            clock,
            target: vec![0; n],
            posts: Vec::new(),
            baseline: None,
            window_us: 0,
        }
    }

    /// Records an append `node` acknowledged (its response carries the seq); `timed`
    /// posts are timed until every other node holds them.
    pub fn acked(&mut self, node: usize, r: &Response, timed: bool) {
        let Some(seq) = r.data["seq"].as_u64() else {
            return;
        };
        if let Some(t) = self.target.get_mut(node) {
            *t = (*t).max(seq);
        }
        if timed {
            self.posts.push(Timed {
                author: node,
                seq,
                at_us: self.clock.us(),
                reached: vec![None; self.target.len()],
            });
        }
    }

    /// Starts a measuring window (unless one is open): counters from now on count.
    pub fn open_window(&mut self, nodes: &[LabNode]) {
        if self.baseline.is_none() {
            self.baseline = Some(
                poll(nodes)
                    .into_iter()
                    .map(|s| s.map(|s| s.counters).unwrap_or_default())
                    .collect(),
            );
            self.window_us = self.clock.us();
        }
    }

    fn observe(&mut self, nodes: &[LabNode]) -> Snapshot {
        let snap = poll(nodes);
        let now = self.clock.us();
        for p in &mut self.posts {
            let Some(author) = nodes.get(p.author).map(|n| n.author.as_str()) else {
                continue;
            };
            for (m, s) in snap.iter().enumerate() {
                if let (Some(seen), Some(slot)) = (s, p.reached.get_mut(m))
                    && slot.is_none()
                    && seen.heads.get(author).is_some_and(|h| *h >= p.seq)
                {
                    *slot = Some(now);
                }
            }
        }
        snap
    }

    /// Polls for `d`, or until `stop` is set.
    ///
    /// # Errors
    /// [`LabError::Interrupted`].
    pub fn watch(
        &mut self,
        nodes: &[LabNode],
        d: Duration,
        stop: &AtomicBool,
    ) -> Result<(), LabError> {
        let end = self.clock.us() + d.as_micros() as u64;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err(LabError::Interrupted);
            }
            self.observe(nodes);
            if self.clock.us() >= end {
                return Ok(());
            }
            std::thread::sleep(self.clock.until(end).min(Duration::from_millis(POLL_MS)));
        }
    }

    /// What member `m` still lacks in `snap`, if anything.
    fn missing(&self, nodes: &[LabNode], snap: &Snapshot, m: usize) -> Option<String> {
        let Some(Some(Seen { heads, .. })) = snap.get(m) else {
            return Some(format!("node {m} does not answer"));
        };
        for (a, t) in self.target.iter().enumerate() {
            let Some(key) = nodes.get(a).map(|n| n.author.as_str()) else {
                continue;
            };
            if a == m || *t == 0 {
                continue;
            }
            if let Some(h) = heads.get(key)
                && *h < *t
            {
                return Some(format!("node {m} holds node {a}'s chain up to {h} of {t}"));
            }
        }
        None
    }

    /// Waits until every member holds every followed author's latest acknowledged
    /// block, then closes the window and reports it.
    ///
    /// # Errors
    /// `Ok(what is missing)` after `timeout_s`; `Err` when interrupted.
    pub fn converge(
        &mut self,
        nodes: &[LabNode],
        members: &[usize],
        timeout_s: u64,
        stop: &AtomicBool,
    ) -> Result<StepMetrics, Result<String, LabError>> {
        let start = self.clock.us();
        // Blocks appended without the lab (none today) still count: each author's own
        // head is a target too.
        for (a, s) in poll(nodes).iter().enumerate() {
            if let (Some(seen), Some(n)) = (s, nodes.get(a))
                && let Some(h) = seen.heads.get(&n.author)
            {
                self.target[a] = self.target[a].max(*h);
            }
        }
        let running = nodes.iter().filter(|n| n.running()).count() as u64;
        let mut meshed_at = None;
        let snap = loop {
            if stop.load(Ordering::SeqCst) {
                return Err(Err(LabError::Interrupted));
            }
            let snap = self.observe(nodes);
            let meshed = members.iter().all(|m| {
                snap.get(*m)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| s.connected + 1 >= running)
            });
            if meshed && meshed_at.is_none() {
                meshed_at = Some(self.clock.us());
            }
            let missing = members.iter().find_map(|m| self.missing(nodes, &snap, *m));
            match missing {
                None => break snap,
                Some(what) if self.clock.us() - start > timeout_s * 1_000_000 => {
                    return Err(Ok(what));
                }
                Some(_) => std::thread::sleep(Duration::from_millis(POLL_MS)),
            }
        };
        let now = self.clock.us();
        let base = self.baseline.take();
        let window = if base.is_some() {
            self.window_us
        } else {
            start
        };
        let mut per_node = Vec::new();
        for m in members {
            let (Some(Some(Seen { counters: c, .. })), b) = (
                snap.get(*m),
                base.as_ref()
                    .and_then(|b| b.get(*m))
                    .copied()
                    .unwrap_or_default(),
            ) else {
                continue;
            };
            per_node.push(NodeTransfers {
                node: *m,
                stored: c.blocks_stored.saturating_sub(b.blocks_stored),
                received: c.received().saturating_sub(b.received()),
                wants: c.wants_sent.saturating_sub(b.wants_sent),
            });
        }
        let stored: u64 = per_node.iter().map(|p| p.stored).sum();
        let received: u64 = per_node.iter().map(|p| p.received).sum();
        let reach: Vec<f64> = self
            .posts
            .iter()
            .filter_map(|p| {
                let mut last = p.at_us;
                for m in members.iter().filter(|m| **m != p.author) {
                    last = last.max((*p.reached.get(*m)?)?);
                }
                Some((last - p.at_us) as f64 / 1000.0)
            })
            .collect();
        let posts_timed = self.posts.len();
        self.posts.clear();
        Ok(StepMetrics {
            converged_ms: (now - start) as f64 / 1000.0,
            connected_ms: meshed_at.map(|t| (t - start) as f64 / 1000.0),
            since_window_ms: (now - window) as f64 / 1000.0,
            posts_timed,
            reach_all_ms: quantiles(reach),
            transfers_per_block: (stored > 0).then(|| received as f64 / stored as f64),
            per_node,
        })
    }

    /// Checks that every running node that holds an author's chain holds the same head
    /// block, at or past the latest acknowledged one.
    ///
    /// # Errors
    /// [`LabError::Check`] naming the first difference.
    pub fn check(&self, nodes: &[LabNode]) -> Result<(), LabError> {
        for (a, t) in self.target.iter().enumerate() {
            let Some(author) = nodes.get(a).map(|n| n.author.clone()) else {
                continue;
            };
            let mut seen: Option<(usize, u64, String)> = None;
            for n in nodes.iter().filter(|n| n.running()) {
                let r = n.ctl(&Request::Head {
                    author: author.clone(),
                    seq: None,
                })?;
                let (Some(seq), Some(id)) = (r.data["seq"].as_u64(), r.data["id"].as_str()) else {
                    continue;
                };
                if seq < *t {
                    return Err(LabError::Check(format!(
                        "node {} holds node {a}'s chain up to {seq}, but {t} was acknowledged",
                        n.index
                    )));
                }
                match &seen {
                    Some((other, s, i)) if *s != seq || i != id => {
                        return Err(LabError::Check(format!(
                            "nodes {other} and {} differ on node {a}'s head: {s} {i} vs {seq} {id}",
                            n.index
                        )));
                    }
                    Some(_) => {}
                    None => seen = Some((n.index, seq, id.to_string())),
                }
            }
        }
        Ok(())
    }
}
