//! Counters of a whole simulation, and whole-network checks over every node's store.

use super::Sim;

/// Message counters by kind.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Traffic {
    /// Messages sent.
    pub messages: u64,
    /// Bytes sent.
    pub bytes: u64,
}

/// Whole-simulation counters.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SimStats {
    /// Head announcements (`Heads`).
    pub heads: Traffic,
    /// `Want` requests.
    pub wants: Traffic,
    /// `Block` transfers.
    pub blocks: Traffic,
    /// Fork proofs.
    pub forks: Traffic,
    /// Messages lost to drop or partition.
    pub dropped: u64,
    /// Messages duplicated by the link.
    pub duplicated: u64,
    /// Events processed.
    pub events: u64,
    /// Blocks stored at followers (a delivery).
    pub deliveries: u64,
    /// Posts created.
    pub posts: u64,
    /// Messages refused by receivers (malformed or invalid).
    pub refused: u64,
    /// Delivery latencies in ms (post creation to storage at a follower).
    #[serde(skip)]
    pub latencies_ms: Vec<u64>,
}

impl Sim {
    /// Fraction of (node, followed author) pairs where the node holds the author's
    /// whole chain as its author has it. Crashed nodes count with what their store has.
    pub fn coverage(&self) -> f64 {
        let mut want = 0u64;
        let mut have = 0u64;
        for i in 0..self.nodes.len() {
            for a in &self.follows_of[i] {
                let Some(j) = self.index_of(a) else { continue };
                let full = self.head_seq(j, a);
                want += full;
                have += self.head_seq(i, a).min(full);
            }
        }
        if want == 0 {
            1.0
        } else {
            have as f64 / want as f64
        }
    }

    /// True if every node holds every block of every author it follows.
    pub fn converged(&self) -> bool {
        (0..self.nodes.len()).all(|i| {
            self.follows_of[i].iter().all(|a| {
                self.index_of(a)
                    .is_none_or(|j| self.head_seq(i, a) >= self.head_seq(j, a))
            })
        })
    }

    /// Invalid blocks stored anywhere: re-verifies every stored chain from scratch.
    pub fn invalid_blocks_stored(&self) -> u64 {
        let mut bad = 0;
        for i in 0..self.nodes.len() {
            let Some(store) = self.store_of(i) else {
                continue;
            };
            for a in store.authors() {
                let headers = store.headers(a);
                let Ok(mut st) = glitter_core::ChainState::new(*a) else {
                    bad += headers.len() as u64;
                    continue;
                };
                for (k, h) in headers.iter().enumerate() {
                    let mut src = headers[..k].to_vec();
                    if st.verify_next(&h.to_bytes(), None, &mut src[..]).is_err() {
                        bad += 1;
                    }
                }
            }
        }
        bad
    }
}
