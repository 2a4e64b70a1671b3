//! How a custodian answers a flood of `Fetch` requests (issue 15): a per-peer rate
//! limit, and a budget of device codes shown to the operator, so a stranger can neither
//! make the node work nor bury the real device's code among its own.

use super::Runtime;
use glitter_core::sig::PublicKey;
use libp2p::PeerId;
use std::time::{Duration, Instant};

/// Most device codes remembered as shown (the same code is shown once).
const REPORTED_MAX: usize = 64;

/// The window over which `Fetch` requests and approval prompts are counted per peer.
pub const FETCH_WINDOW: Duration = Duration::from_secs(60);
/// Most `Fetch` requests a peer may make per [`FETCH_WINDOW`]; more are refused
/// without any work. A restoring device asks again about once a second while it waits
/// for approval (every 250 ms: 240 a minute), within this.
pub const FETCH_PER_WINDOW_MAX: u32 = 300;
/// Most distinct device codes a peer may have shown to the operator per
/// [`FETCH_WINDOW`]: a flood of codes cannot bury the real one.
pub const PROMPTS_PER_WINDOW_MAX: u32 = 2;
/// Most peers whose `Fetch` counts are kept (older windows are dropped first).
pub(super) const FETCH_PEERS_MAX: usize = 1024;

/// One peer's `Fetch` requests in its current window.
#[derive(Clone, Copy)]
pub(super) struct FetchCount {
    pub(super) since: Instant,
    pub(super) requests: u32,
    pub(super) prompts: u32,
    /// Whether the operator was told this peer's prompts are being suppressed.
    pub(super) told: bool,
}

impl Runtime {
    /// Counts a `Fetch` from `peer` in its current window and returns the count.
    pub(super) fn fetch_count(&mut self, peer: PeerId, now: Instant) -> FetchCount {
        let fetches = &mut self.backup.fetches;
        if fetches.len() >= FETCH_PEERS_MAX && !fetches.contains_key(&peer) {
            fetches.retain(|_, c| now.duration_since(c.since) < FETCH_WINDOW);
            if fetches.len() >= FETCH_PEERS_MAX {
                // Every entry is current: drop the oldest window.
                if let Some(oldest) = fetches.iter().min_by_key(|(_, c)| c.since).map(|(p, _)| *p) {
                    fetches.remove(&oldest);
                }
            }
        }
        let c = fetches.entry(peer).or_insert(FetchCount {
            since: now,
            requests: 0,
            prompts: 0,
            told: false,
        });
        if now.duration_since(c.since) >= FETCH_WINDOW {
            *c = FetchCount {
                since: now,
                requests: 0,
                prompts: 0,
                told: false,
            };
        }
        c.requests += 1;
        *c
    }

    /// Shows the operator a device code asking for `owner`'s backup, once per
    /// (owner, code), and at most [`PROMPTS_PER_WINDOW_MAX`] new codes per peer per
    /// window: a flood of codes is summarised in one line instead.
    pub(super) fn prompt(&mut self, peer: PeerId, owner: PublicKey, code: &str, now: Instant) {
        if self
            .backup
            .reported
            .iter()
            .any(|(o, c)| *o == owner && c == code)
        {
            return;
        }
        let Some(count) = self.backup.fetches.get_mut(&peer) else {
            return;
        };
        if now.duration_since(count.since) < FETCH_WINDOW && count.prompts >= PROMPTS_PER_WINDOW_MAX
        {
            self.backup.prompts_suppressed += 1;
            if !count.told {
                count.told = true;
                self.out.line(&format!(
                    "custody: peer {peer} keeps asking with new device codes; further codes \
                     from it are not shown for a minute (a flood, or someone guessing)"
                ));
            }
            return;
        }
        count.prompts += 1;
        if self.backup.reported.len() >= REPORTED_MAX {
            self.backup.reported.remove(0);
        }
        self.backup.reported.push((owner, code.to_string()));
        self.out.line(&format!(
            "custody: peer {peer} asks for the backup of {owner} with device code {code}. \
             If the owner confirms that code to you, run: glitter node release {owner} {code}"
        ));
    }
}
