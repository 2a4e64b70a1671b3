//! The `backup` scenario: restore success under custodian churn, restores that never
//! fork, and storage per custodian.
//!
//! Three reproducible runs, each with its seed in the report:
//!
//! - [`backup`]: N users each back up to n custodians chosen from their trusted set;
//!   in each trial one user loses the device and every custodian is online with
//!   probability p. A trial succeeds when the seed *and* the whole chain come back
//!   verified. The rate is compared with the binomial P(at least k of n online).
//! - [`no_forks`]: full restore flows on a small gossip network of real core
//!   [`Node`](glitter_core::sync::Node)s: the owner posts, backs up, posts more (those
//!   blocks are only at peers), loses the device; a new device restores from the
//!   custodians, **learns the head from a quorum of peers** (while a stale device with
//!   an older copy of the chain is online and announcing its older head), and only
//!   then appends. Forks are counted three ways: any node holding a fork proof, any
//!   two stores disagreeing at one seq, and the appended seq not being past the true
//!   head. For contrast it also counts how many restores would have forked had the
//!   device appended right after decoding the backup.
//! - [`storage`]: bytes each custodian stores for a chain of a given length.
//!
//! The no-fork run drives its nodes in lock-step rounds rather than through
//! [`super::Sim`], because a restore needs two devices with one key (the stale one and
//! the new one) and a store that starts from the decoded backup; [`super::Sim`] keeps
//! one node per key. Messages still go through the real wire encoding and the real
//! `Node::handle`/`Node::tick`, with seeded loss.

use super::sigcache::SigCache;
use super::store::MemStore;
use super::{BuildError, SimNode, VecOutbox, stream_seed, unit};
use glitter_host::backup::{self, Block, Custody, Response};
use glitter_core::backup::seal::{RequesterKey, SealedShare};
use glitter_core::chain::ChainState;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::{Payload, Trust, TrustRole};
use glitter_core::sync::{Config, Message, SyncStore};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

/// P(at least `k` of `n` independent custodians are online), each with probability `p`.
pub fn binomial_at_least(k: u8, n: u8, p: f64) -> f64 {
    let n = u32::from(n);
    (u32::from(k)..=n)
        .map(|i| {
            let mut c = 1.0f64;
            for j in 0..i {
                c = c * f64::from(n - j) / f64::from(j + 1);
            }
            c * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32)
        })
        .sum()
}

fn fresh_keys(rng: &mut ChaCha8Rng) -> KeyPair {
    loop {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        if let Ok(k) = KeyPair::from_seed(seed)
            && k.public().validate().is_ok()
        {
            return k;
        }
    }
}

fn random32(rng: &mut ChaCha8Rng) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b
}

/// A chain under construction (the owner's own, with payloads).
struct OwnChain {
    keys: KeyPair,
    state: ChainState,
    blocks: Vec<Block>,
}

impl OwnChain {
    fn new(keys: KeyPair) -> Result<OwnChain, BuildError> {
        let state = ChainState::new(keys.public()).map_err(|e| BuildError(e.to_string()))?;
        Ok(OwnChain {
            keys,
            state,
            blocks: Vec::new(),
        })
    }

    fn push(&mut self, p: &Payload, now_ms: u64) -> Result<(), BuildError> {
        let mut buf = [0u8; 1024];
        let bytes = p
            .encode(&mut buf)
            .map_err(|e| BuildError(e.to_string()))?
            .to_vec();
        let mut headers: Vec<_> = self.blocks.iter().map(|(h, _)| *h).collect();
        let h = self
            .state
            .append(&self.keys, p.kind(), now_ms, &bytes, headers.as_mut_slice())
            .map_err(|e| BuildError(e.to_string()))?;
        self.blocks.push((h, bytes));
        Ok(())
    }

    fn post(&mut self, text: &str, now_ms: u64) -> Result<(), BuildError> {
        let p = Payload::post(text, None).map_err(|e| BuildError(e.to_string()))?;
        self.push(&p, now_ms)
    }

    /// Backs up to `custodians` (trusting them first) and appends the manifest.
    /// Returns each custodian's custody.
    fn back_up(
        &mut self,
        custodians: &[KeyPair],
        k: u8,
        prev: Option<&[Custody]>,
        entropy: [u8; 32],
        now_ms: u64,
    ) -> Result<Vec<Custody>, BuildError> {
        let err = |e: anyhow::Error| BuildError(format!("backup: {e:#}"));
        if prev.is_none() {
            for c in custodians {
                self.push(
                    &Payload::Trust(Trust {
                        subject: c.public().0,
                        role: TrustRole::Custodian,
                        threshold: 0,
                    }),
                    now_ms,
                )?;
            }
        }
        let pubs: Vec<PublicKey> = custodians.iter().map(KeyPair::public).collect();
        let prev_manifest = prev.and_then(|p| p.first()).map(|c| &c.manifest);
        let prep =
            backup::prepare_backup(&self.keys, &self.blocks, prev_manifest, &pubs, k, entropy)
                .map_err(err)?;
        self.push(&Payload::BackupManifest(prep.manifest.clone()), now_ms)?;
        let mblock = self
            .blocks
            .last()
            .cloned()
            .ok_or_else(|| BuildError("no manifest block".into()))?;
        let mut out = Vec::new();
        for (i, c) in custodians.iter().enumerate() {
            let old = prev.and_then(|p| p.get(i));
            out.push(
                Custody::receive(
                    c,
                    self.keys.public(),
                    mblock.clone(),
                    prep.shares[i],
                    prep.new_records[i].clone(),
                    old,
                )
                .map_err(err)?,
            );
        }
        Ok(out)
    }
}

/// Knobs of the success-rate run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackupPlan {
    /// Users, each with their own chain and custodians.
    pub users: usize,
    /// Custodians per user, n.
    pub custodians: u8,
    /// Threshold, k.
    pub threshold: u8,
    /// Probability that a custodian answers.
    pub p_online: f64,
    /// Restore attempts.
    pub trials: usize,
    /// Posts on each user's chain before the backup.
    pub posts: usize,
}

impl Default for BackupPlan {
    fn default() -> BackupPlan {
        BackupPlan {
            users: 20,
            custodians: 5,
            threshold: 3,
            p_online: 0.7,
            trials: 2_000,
            posts: 10,
        }
    }
}

/// Outcome of the success-rate run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackupOutcome {
    /// The seed.
    pub seed: u64,
    /// The knobs.
    pub plan: BackupPlan,
    /// Restores that brought back the seed and the whole verified chain.
    pub successes: usize,
    /// Trials where at least k custodians were online.
    pub k_online: usize,
    /// successes / trials.
    pub success_rate: f64,
    /// The binomial P(at least k of n online).
    pub expected_rate: f64,
    /// |success_rate − expected_rate| in percentage points.
    pub deviation_pp: f64,
    /// Restores that returned a wrong identity or chain (must be 0).
    pub wrong_restores: usize,
    /// Shares or shards refused in the run (0: every custodian here is honest).
    pub refused: usize,
    /// Mean bytes each custodian stores (share + shard records).
    pub bytes_per_custodian: f64,
    /// Mean size of the backed-up chain export.
    pub chain_bytes: f64,
}

/// The success-rate run (see the module docs).
///
/// # Errors
/// A [`BuildError`] for bad knobs.
pub fn backup(seed: u64, plan: &BackupPlan) -> Result<BackupOutcome, BuildError> {
    let (k, n) = (plan.threshold, plan.custodians);
    if k < 2 || k > n || n > 16 || plan.users < usize::from(n) + 1 {
        return Err(BuildError(format!(
            "threshold {k} of {n} with {} users (need 2 <= k <= n <= 16, users > n)",
            plan.users
        )));
    }
    if !(0.0..=1.0).contains(&plan.p_online) || plan.trials == 0 {
        return Err(BuildError("p_online in [0, 1] and trials > 0".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 20));
    let users: Vec<KeyPair> = (0..plan.users).map(|_| fresh_keys(&mut rng)).collect();
    let mut chains = Vec::new();
    let mut custody = Vec::new();
    let mut custodians_of = Vec::new();
    let mut stored = 0usize;
    let mut chain_bytes = 0usize;
    for (u, keys) in users.iter().enumerate() {
        let mut c = OwnChain::new(keys.clone())?;
        for i in 0..plan.posts {
            c.post(&format!("post {i} by user {u}"), 1_000 + i as u64)?;
        }
        // The trusted set: n distinct other users, at random.
        let mut set: Vec<usize> = Vec::new();
        while set.len() < usize::from(n) {
            let j = (rng.next_u64() % plan.users as u64) as usize;
            if j != u && !set.contains(&j) {
                set.push(j);
            }
        }
        let ckeys: Vec<KeyPair> = set.iter().map(|j| users[*j].clone()).collect();
        let cust = c.back_up(&ckeys, k, None, random32(&mut rng), 50_000)?;
        stored += cust
            .iter()
            .map(|c| SealedShare::LEN + c.records.iter().map(Vec::len).sum::<usize>())
            .sum::<usize>();
        chain_bytes += c.blocks[..c.blocks.len() - 1]
            .iter()
            .map(|(_, p)| 212 + p.len())
            .sum::<usize>();
        chains.push(c.blocks);
        custody.push(cust);
        custodians_of.push(ckeys);
    }
    let mut trial_rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 21));
    let (mut successes, mut k_online, mut wrong, mut refused) = (0, 0, 0, 0);
    for t in 0..plan.trials {
        let u = t % plan.users;
        let owner = users[u].public();
        let requester =
            RequesterKey::new(random32(&mut trial_rng)).map_err(|e| BuildError(e.to_string()))?;
        let mut responses: Vec<Response> = Vec::new();
        for (c, ck) in custody[u].iter().zip(&custodians_of[u]) {
            if unit(&mut trial_rng) < plan.p_online {
                responses.push(
                    c.respond(ck, &requester.public())
                        .map_err(|e| BuildError(e.to_string()))?,
                );
            }
        }
        if responses.len() >= usize::from(k) {
            k_online += 1;
        }
        match backup::restore(owner, &requester, &responses) {
            Ok(r) => {
                refused += r.rejected.len();
                let same = r.keys.public() == owner
                    && r.chain.len() == chains[u].len()
                    && r.chain
                        .iter()
                        .zip(&chains[u])
                        .all(|(a, b)| a.0.id() == b.0.id());
                if same {
                    successes += 1;
                } else {
                    wrong += 1;
                }
            }
            Err(f) => refused += f.rejected.len(),
        }
    }
    let rate = successes as f64 / plan.trials as f64;
    let expected = binomial_at_least(k, n, plan.p_online);
    Ok(BackupOutcome {
        seed,
        plan: plan.clone(),
        successes,
        k_online,
        success_rate: rate,
        expected_rate: expected,
        deviation_pp: (rate - expected).abs() * 100.0,
        wrong_restores: wrong,
        refused,
        bytes_per_custodian: stored as f64 / (plan.users * usize::from(n)) as f64,
        chain_bytes: chain_bytes as f64 / plan.users as f64,
    })
}

/// Bytes per custodian for one chain.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StorageOutcome {
    /// Posts on the chain (plus n Trust blocks before the backup).
    pub posts: usize,
    /// Threshold k.
    pub threshold: u8,
    /// Custodians n.
    pub custodians: u8,
    /// Bytes of the chain as backed up (headers and payloads).
    pub chain_bytes: usize,
    /// Bytes one custodian stores (sealed share and shard record).
    pub bytes_per_custodian: usize,
    /// bytes_per_custodian / chain_bytes.
    pub ratio: f64,
    /// 1 / k.
    pub ideal_ratio: f64,
    /// bytes_per_custodian − chain_bytes / k.
    pub overhead_bytes: i64,
}

/// Measures storage per custodian for a chain of `posts` posts of ~60 bytes.
///
/// # Errors
/// A [`BuildError`] for bad knobs.
pub fn storage(seed: u64, posts: usize, k: u8, n: u8) -> Result<StorageOutcome, BuildError> {
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 22));
    let owner = fresh_keys(&mut rng);
    let custodians: Vec<KeyPair> = (0..n).map(|_| fresh_keys(&mut rng)).collect();
    let mut c = OwnChain::new(owner)?;
    for i in 0..posts {
        c.post(
            &format!("post number {i:04}: a typical short status update of sixty bytes"),
            i as u64,
        )?;
    }
    let cust = c.back_up(&custodians, k, None, random32(&mut rng), posts as u64)?;
    let chain_bytes: usize = c.blocks[..c.blocks.len() - 1]
        .iter()
        .map(|(_, p)| 212 + p.len())
        .sum();
    let per = cust
        .iter()
        .map(|c| SealedShare::LEN + c.records.iter().map(Vec::len).sum::<usize>())
        .max()
        .unwrap_or(0);
    Ok(StorageOutcome {
        posts,
        threshold: k,
        custodians: n,
        chain_bytes,
        bytes_per_custodian: per,
        ratio: per as f64 / chain_bytes as f64,
        ideal_ratio: 1.0 / f64::from(k),
        overhead_bytes: per as i64 - (chain_bytes as f64 / f64::from(k)).round() as i64,
    })
}

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
            let mut out = VecOutbox {
                messages: Vec::new(),
                max: 256,
            };
            let _ = self.nodes[t].handle(now, from, &bytes, &mut out);
            let _ = self.nodes[t].take_stored();
            next.extend(out.messages.into_iter().map(|(d, b)| (d, to, b)));
        }
        for i in 0..self.nodes.len() {
            if !self.up[i] {
                continue;
            }
            let mut out = VecOutbox {
                messages: Vec::new(),
                max: 256,
            };
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

/// The no-fork run (see the module docs).
///
/// # Errors
/// A [`BuildError`] for bad knobs.
pub fn no_forks(seed: u64, plan: &NoForkPlan) -> Result<NoForkOutcome, BuildError> {
    let (k, n) = (plan.threshold, plan.custodians);
    if k < 2 || k > n || usize::from(n) > plan.peers || plan.quorum == 0 || plan.quorum > plan.peers
    {
        return Err(BuildError(
            "need 2 <= k <= n <= peers and 1 <= quorum <= peers".into(),
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
        let mut chain = OwnChain::new(owner.clone())?;
        let mut t = 1_000u64;
        for i in 0..(2 + rng.next_u64() % 6) {
            chain.post(&format!("before backup {i}"), t)?;
            t += 10;
        }
        let mut custody = chain.back_up(custodians, k, None, random32(&mut rng), t)?;
        if rng.next_u64() % 2 == 0 {
            for i in 0..(1 + rng.next_u64() % 3) {
                chain.post(&format!("between backups {i}"), t)?;
                t += 10;
            }
            custody = chain.back_up(custodians, k, Some(&custody), random32(&mut rng), t)?;
        }
        let stale_len = 1 + (rng.next_u64() % chain.blocks.len() as u64) as usize;
        for i in 0..(rng.next_u64() % 5) {
            chain.post(&format!("after backup {i}"), t)?;
            t += 10;
        }
        let true_head = chain.blocks.len() as u64;

        // Custodians answer the new device (each online with p_online).
        let requester =
            RequesterKey::new(random32(&mut rng)).map_err(|e| BuildError(e.to_string()))?;
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
            .map_err(|e| BuildError(e.to_string()))?;
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
            .map(|p| node_with(o, p.public(), &chain.blocks, &sigs))
            .collect();
        let device = nodes.len();
        nodes.push(node_with(o, o, &restored.chain, &sigs));
        let stale = rng.next_u64() as f64 / u64::MAX as f64 <= plan.stale_rate;
        let stale_index = nodes.len();
        nodes.push(node_with(o, o, &chain.blocks[..stale_len], &sigs));
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
        // Learn the head: wait for `quorum` distinct peers' reports, a head at least as
        // high as every report and the manifest, and no change for two rounds.
        let mut reports: Vec<Option<u64>> = vec![None; stale_index + 1];
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
                {
                    let r = &mut reports[from];
                    *r = Some(r.map_or(e.seq, |s| s.max(e.seq)));
                }
            });
            let head = net.nodes[device].store().head(&o).map_or(0, |h| h.seq);
            stable = if head == last_head { stable + 1 } else { 0 };
            last_head = head;
            let heard = reports.iter().filter(|r| r.is_some()).count();
            let max_report = reports.iter().flatten().copied().max().unwrap_or(0);
            if heard >= plan.quorum
                && head >= max_report
                && head >= restored.manifest_seq
                && stable >= 2
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
                return Err(BuildError(format!(
                    "seed {seed}: restore never learned the head (heard {heard}, head {head})"
                )));
            }
        }
        if waited {
            outcome.waited_for_peers += 1;
        }
        // Only now append, then let it spread.
        let mut buf = [0u8; 1024];
        let p = Payload::post("back after restore", None).map_err(|e| BuildError(e.to_string()))?;
        let bytes = p
            .encode(&mut buf)
            .map_err(|e| BuildError(e.to_string()))?
            .to_vec();
        let now = net.now_ms;
        let h = net.nodes[device]
            .append_own(&restored.keys, p.kind(), now, &bytes)
            .map_err(|e| BuildError(e.to_string()))?;
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

/// Everything the `glitter sim backup` command reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BackupScenario {
    /// Restore success rate for each (k, n) asked for.
    pub success: Vec<BackupOutcome>,
    /// The no-fork run.
    pub no_forks: NoForkOutcome,
    /// Storage per custodian for a 1,000-post chain, for each (k, n).
    pub storage: Vec<StorageOutcome>,
}

/// The whole `backup` scenario: success rates for `(k, n)` in `configs` at `plan`'s
/// other knobs, the no-fork run, and storage for a 1,000-post chain.
///
/// # Errors
/// A [`BuildError`] for bad knobs.
pub fn scenario(
    seed: u64,
    plan: &BackupPlan,
    configs: &[(u8, u8)],
    forks: &NoForkPlan,
) -> Result<BackupScenario, BuildError> {
    let mut success = Vec::new();
    let mut store = Vec::new();
    for (i, &(k, n)) in configs.iter().enumerate() {
        let p = BackupPlan {
            threshold: k,
            custodians: n,
            ..plan.clone()
        };
        success.push(backup(stream_seed(seed, 100 + i as u64), &p)?);
        store.push(storage(seed, 1_000, k, n)?);
    }
    Ok(BackupScenario {
        success,
        no_forks: no_forks(seed, forks)?,
        storage: store,
    })
}
