//! The no-fork run ([`no_forks`]): restores on a small gossip network, with a stale
//! device online, must never fork the owner's chain.
//!
//! The run drives its nodes in lock-step rounds rather than through [`crate::Sim`],
//! because a restore needs two devices with one key (the stale one and the new one)
//! and a store that starts from the decoded backup; [`crate::Sim`] keeps one node per
//! key. Messages still go through the real wire encoding and the real
//! `Node::handle`/`Node::tick`, with seeded loss.

use super::{back_up, fresh_keys, own_chain, post, random32};
use crate::sigcache::SigCache;
use crate::store::MemStore;
use crate::{SimError, SimNode, VecOutbox, append_payload, stream_seed, unit};
use glitter_core::backup::seal::RequesterKey;
use glitter_core::chain::ChainError;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::sync::{Config, Message, SyncStore};
use glitter_host::backup::catch_up::{HeadReport, may_append};
use glitter_host::backup::{self, Block, Response};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// Knobs of the no-fork run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NoForkPlan {
    /// Successful restores to perform.
    pub restores: usize,
    /// Peers replicating the owner (the first `custodians` of them are custodians).
    pub peers: usize,
    /// Custodians n.
    pub custodians: u8,
    /// Threshold k.
    pub threshold: u8,
    /// Probability that a peer (and custodian) is online during a restore.
    pub p_online: f64,
    /// Fraction of restores with a stale device online, holding an older copy.
    pub stale_rate: f64,
    /// Link loss.
    pub drop_rate: f64,
    /// Distinct peers whose head reports the new device needs before appending.
    pub quorum: usize,
    /// Rounds to wait for the quorum before the offline peers come back.
    pub wait_rounds: u32,
}

impl Default for NoForkPlan {
    fn default() -> NoForkPlan {
        NoForkPlan {
            restores: 1_000,
            peers: 6,
            custodians: 5,
            threshold: 3,
            p_online: 0.7,
            stale_rate: 0.5,
            drop_rate: 0.1,
            quorum: 3,
            wait_rounds: 40,
        }
    }
}

/// Outcome of the no-fork run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NoForkOutcome {
    /// The seed.
    pub seed: u64,
    /// The knobs.
    pub plan: NoForkPlan,
    /// Restores completed (seed and chain back, head learned, one block appended).
    pub restores: usize,
    /// Attempts where fewer than k custodians answered (retried with a new attempt).
    pub custodian_shortfalls: usize,
    /// Restores with a stale device online.
    pub with_stale_device: usize,
    /// Restores that had to wait for offline peers to come back before appending.
    pub waited_for_peers: usize,
    /// Restores whose new block forked the chain (must be 0).
    pub forks: usize,
    /// Restores that would have forked had the device appended straight after decoding.
    pub naive_forks: usize,
    /// Mean rounds from joining the network to appending.
    pub mean_rounds_to_append: f64,
    /// Most rounds any restore needed.
    pub max_rounds_to_append: u32,
}

/// A lock-step network of core nodes (see the module docs).
struct Net {
    nodes: Vec<SimNode>,
    up: Vec<bool>,
    inbox: Vec<(u32, u32, Vec<u8>)>,
    rng: ChaCha8Rng,
    drop_rate: f64,
    now_ms: u64,
}

impl Net {
    fn connect(&mut self, a: usize, b: usize) {
        self.nodes[a].add_peer(b as u32);
        self.nodes[b].add_peer(a as u32);
    }

    /// One round: deliver what was sent last round, then every up node ticks.
    /// `observe(to, from, bytes)` sees every delivered message.
    fn round(&mut self, mut observe: impl FnMut(usize, usize, &[u8])) {
        self.now_ms += 1_000;
        let now = self.now_ms;
        let inbox = std::mem::take(&mut self.inbox);
        let mut next = Vec::new();
        for (to, from, bytes) in inbox {
            let (t, f) = (to as usize, from as usize);
            if t >= self.nodes.len() || !self.up[t] || !self.up[f] {
                continue;
            }
            if self.drop_rate > 0.0 && unit(&mut self.rng) < self.drop_rate {
                continue;
            }
            observe(t, f, &bytes);
            let mut out = VecOutbox::new(256);
            let _ = self.nodes[t].handle(now, from, &bytes, &mut out);
            let _ = self.nodes[t].take_stored();
            next.extend(out.messages.into_iter().map(|(d, b)| (d, to, b)));
        }
        for i in 0..self.nodes.len() {
            if !self.up[i] {
                continue;
            }
            let mut out = VecOutbox::new(256);
            self.nodes[i].tick(now, &mut self.rng, &mut out);
            next.extend(out.messages.into_iter().map(|(d, b)| (d, i as u32, b)));
        }
        self.inbox = next;
    }
}

fn node_with(owner: PublicKey, me: PublicKey, blocks: &[Block], sigs: &SigCache) -> SimNode {
    let mut store = MemStore::default();
    for (h, p) in blocks {
        // Blocks come from a verified chain in seq order, so append cannot refuse them.
        let _ = store.append(h, Some(p));
    }
    let mut n = SimNode::new(
        me,
        store,
        sigs.clone(),
        Config {
            want_timeout_ms: 2_000,
            ..Config::default()
        },
    );
    n.follow(owner);
    n
}

/// The no-fork run (see the [module docs](super)).
///
/// # Errors
/// [`SimError::BadKnob`] for bad knobs, [`SimError::HeadNeverLearned`] if a restore
/// never learns the head, or a failure of the host's backup engine.
pub fn no_forks(seed: u64, plan: &NoForkPlan) -> Result<NoForkOutcome, SimError> {
    let (k, n) = (plan.threshold, plan.custodians);
    if k < 2 || k > n || usize::from(n) > plan.peers || plan.quorum == 0 || plan.quorum > plan.peers
    {
        return Err(SimError::bad_knob(
            "threshold",
            "need 2 <= k <= n <= peers and 1 <= quorum <= peers",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 30));
    let sigs = SigCache::new(true);
    let mut outcome = NoForkOutcome {
        seed,
        plan: plan.clone(),
        restores: 0,
        custodian_shortfalls: 0,
        with_stale_device: 0,
        waited_for_peers: 0,
        forks: 0,
        naive_forks: 0,
        mean_rounds_to_append: 0.0,
        max_rounds_to_append: 0,
    };
    let mut rounds_sum = 0u64;
    let attempts_max = plan.restores.saturating_mul(4).max(16);
    for _attempt in 0..attempts_max {
        if outcome.restores >= plan.restores {
            break;
        }
        // The owner's story: posts, a backup, sometimes a second (incremental) one,
        // then more posts that only peers hold.
        let owner = fresh_keys(&mut rng);
        let peers: Vec<KeyPair> = (0..plan.peers).map(|_| fresh_keys(&mut rng)).collect();
        let custodians = &peers[..usize::from(n)];
        let mut chain = own_chain(owner.clone())?;
        let mut t = 1_000u64;
        for i in 0..(2 + rng.next_u64() % 6) {
            post(&mut chain, &format!("before backup {i}"), t)?;
            t += 10;
        }
        let mut custody = back_up(&mut chain, custodians, k, None, random32(&mut rng), t)?;
        if rng.next_u64() % 2 == 0 {
            for i in 0..(1 + rng.next_u64() % 3) {
                post(&mut chain, &format!("between backups {i}"), t)?;
                t += 10;
            }
            custody = back_up(
                &mut chain,
                custodians,
                k,
                Some(&custody),
                random32(&mut rng),
                t,
            )?;
        }
        let stale_len = 1 + (rng.next_u64() % chain.blocks().len() as u64) as usize;
        for i in 0..(rng.next_u64() % 5) {
            post(&mut chain, &format!("after backup {i}"), t)?;
            t += 10;
        }
        let blocks = chain.blocks();
        let true_head = blocks.len() as u64;

        // Custodians answer the new device (each online with p_online).
        let requester = RequesterKey::new(random32(&mut rng)).map_err(SimError::RequesterKey)?;
        let mut online: Vec<bool> = (0..plan.peers)
            .map(|_| unit(&mut rng) < plan.p_online)
            .collect();
        let responses: Vec<Response> = custody
            .iter()
            .zip(custodians)
            .enumerate()
            .filter(|(i, _)| online[*i])
            .map(|(_, (c, ck))| c.respond(ck, &requester.public()))
            .collect::<Result<_, _>>()
            .map_err(SimError::backup("custodian responds"))?;
        let restored = match backup::restore(owner.public(), &requester, &responses) {
            Ok(r) => r,
            Err(_) => {
                outcome.custodian_shortfalls += 1;
                continue;
            }
        };
        if (restored.chain.len() as u64) < true_head {
            // Appending now would reuse a seq that already exists.
            outcome.naive_forks += 1;
        }

        // The network: peers hold the whole chain (they replicated it before the loss),
        // the new device holds what it restored, a stale device holds an old prefix.
        let o = owner.public();
        let mut nodes: Vec<SimNode> = peers
            .iter()
            .map(|p| node_with(o, p.public(), blocks, &sigs))
            .collect();
        let device = nodes.len();
        nodes.push(node_with(o, o, &restored.chain, &sigs));
        let stale = rng.next_u64() as f64 / u64::MAX as f64 <= plan.stale_rate;
        let stale_index = nodes.len();
        nodes.push(node_with(o, o, &blocks[..stale_len], &sigs));
        online.push(true); // the device
        online.push(stale);
        if stale {
            outcome.with_stale_device += 1;
        }
        let mut net = Net {
            up: online,
            nodes,
            inbox: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(rng.next_u64()),
            drop_rate: plan.drop_rate,
            now_ms: t + 60_000,
        };
        for a in 0..net.nodes.len() {
            for b in (a + 1)..net.nodes.len() {
                net.connect(a, b);
            }
        }
        // Learn the head: the host's rule (`may_append`: the manifest block held,
        // `quorum` distinct peers heard, none of them ahead), and no change for two
        // rounds. Each peer's highest report counts.
        let mut reports: Vec<Option<HeadReport<usize>>> = vec![None; stale_index + 1];
        let mut stable = 0u32;
        let mut last_head = 0u64;
        let mut rounds = 0u32;
        let mut waited = false;
        loop {
            rounds += 1;
            net.round(|to, from, bytes| {
                if to == device
                    && let Ok(Message::Heads { heads, .. }) = Message::parse(bytes)
                    && let Some(e) = heads.iter().find(|e| e.author == o)
                    && reports[from].is_none_or(|r| e.seq > r.seq)
                {
                    reports[from] = Some(HeadReport {
                        from,
                        seq: e.seq,
                        id: e.id,
                    });
                }
            });
            let held = net.nodes[device].store_ref().headers(&o);
            let head = held.len() as u64;
            stable = if head == last_head { stable + 1 } else { 0 };
            last_head = head;
            let heard: Vec<HeadReport<usize>> = reports.iter().flatten().copied().collect();
            if may_append(&held, restored.manifest_seq, &heard, plan.quorum).is_ok() && stable >= 2
            {
                break;
            }
            if rounds == plan.wait_rounds {
                // The offline peers come back (the device keeps waiting, never guesses).
                waited = true;
                for (i, u) in net.up.iter_mut().enumerate() {
                    if i < plan.peers {
                        *u = true;
                    }
                }
            }
            if rounds > plan.wait_rounds * 10 {
                return Err(SimError::HeadNeverLearned {
                    seed,
                    heard: heard.len(),
                    head,
                });
            }
        }
        if waited {
            outcome.waited_for_peers += 1;
        }
        // Only now append, then let it spread.
        let who = "the restored device";
        let p = Payload::post("back after restore", None)
            .map_err(ChainError::from)
            .map_err(SimError::chain(who))?;
        let now = net.now_ms;
        let h = append_payload(&mut net.nodes[device], &restored.keys, &p, now)
            .map_err(SimError::chain(who))?;
        for _ in 0..6 {
            net.round(|_, _, _| {});
        }
        let mut forked = h.seq <= true_head;
        let reference: Vec<_> = {
            let s = net.nodes[device].store_ref();
            s.headers(&o).iter().map(|h| h.id()).collect()
        };
        for node in &net.nodes {
            if node.forked_at(&o).is_some() {
                forked = true;
            }
            let theirs = node.store_ref().headers(&o);
            if theirs.iter().zip(&reference).any(|(a, b)| a.id() != *b) {
                forked = true;
            }
        }
        if forked {
            outcome.forks += 1;
        }
        outcome.restores += 1;
        rounds_sum += u64::from(rounds);
        outcome.max_rounds_to_append = outcome.max_rounds_to_append.max(rounds);
    }
    outcome.mean_rounds_to_append = rounds_sum as f64 / outcome.restores.max(1) as f64;
    Ok(outcome)
}
