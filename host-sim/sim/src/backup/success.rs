//! The success-rate run ([`backup`]) and the storage measurement ([`storage`]).

use super::{back_up, backed_up_bytes, custody_bytes, fresh_keys, own_chain, post, random32};
use crate::{SimError, stream_seed, unit};
use glitter_core::backup::seal::RequesterKey;
use glitter_core::sig::KeyPair;
use glitter_host::backup::{self, Response};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

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

/// The success-rate run (see the [module docs](super)).
///
/// # Errors
/// [`SimError::BadKnob`] for bad knobs, or a failure of the host's backup engine.
pub fn backup(seed: u64, plan: &BackupPlan) -> Result<BackupOutcome, SimError> {
    let (k, n) = (plan.threshold, plan.custodians);
    if k < 2 || k > n || n > 16 || plan.users < usize::from(n) + 1 {
        return Err(SimError::bad_knob(
            "threshold",
            format!(
                "threshold {k} of {n} with {} users (need 2 <= k <= n <= 16, users > n)",
                plan.users
            ),
        ));
    }
    if !(0.0..=1.0).contains(&plan.p_online) || plan.trials == 0 {
        return Err(SimError::bad_knob(
            "p_online",
            "p_online in [0, 1] and trials > 0",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 20));
    let users: Vec<KeyPair> = (0..plan.users).map(|_| fresh_keys(&mut rng)).collect();
    let mut chains = Vec::new();
    let mut custody = Vec::new();
    let mut custodians_of = Vec::new();
    let mut stored = 0usize;
    let mut chain_bytes = 0usize;
    for (u, keys) in users.iter().enumerate() {
        let mut c = own_chain(keys.clone())?;
        for i in 0..plan.posts {
            post(&mut c, &format!("post {i} by user {u}"), 1_000 + i as u64)?;
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
        let cust = back_up(&mut c, &ckeys, k, None, random32(&mut rng), 50_000)?;
        stored += cust.iter().map(custody_bytes).sum::<usize>();
        chain_bytes += backed_up_bytes(c.blocks());
        chains.push(c);
        custody.push(cust);
        custodians_of.push(ckeys);
    }
    let mut trial_rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 21));
    let (mut successes, mut k_online, mut wrong, mut refused) = (0, 0, 0, 0);
    for t in 0..plan.trials {
        let u = t % plan.users;
        let owner = users[u].public();
        let requester =
            RequesterKey::new(random32(&mut trial_rng)).map_err(SimError::RequesterKey)?;
        let mut responses: Vec<Response> = Vec::new();
        for (c, ck) in custody[u].iter().zip(&custodians_of[u]) {
            if unit(&mut trial_rng) < plan.p_online {
                responses.push(
                    c.respond(ck, &requester.public())
                        .map_err(SimError::backup("custodian responds"))?,
                );
            }
        }
        if responses.len() >= usize::from(k) {
            k_online += 1;
        }
        match backup::restore(owner, &requester, &responses) {
            Ok(r) => {
                refused += r.rejected.len();
                let original = chains[u].blocks();
                let same = r.keys.public() == owner
                    && r.chain.len() == original.len()
                    && r.chain
                        .iter()
                        .zip(original)
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
    let expected = super::binomial_at_least(k, n, plan.p_online);
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
/// A bad `k` or `n` (from the host's backup plan check), or another failure of the
/// host's backup engine.
pub fn storage(seed: u64, posts: usize, k: u8, n: u8) -> Result<StorageOutcome, SimError> {
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, 22));
    let owner = fresh_keys(&mut rng);
    let custodians: Vec<KeyPair> = (0..n).map(|_| fresh_keys(&mut rng)).collect();
    let mut c = own_chain(owner)?;
    for i in 0..posts {
        post(
            &mut c,
            &format!("post number {i:04}: a typical short status update of sixty bytes"),
            i as u64,
        )?;
    }
    let cust = back_up(
        &mut c,
        &custodians,
        k,
        None,
        random32(&mut rng),
        posts as u64,
    )?;
    let chain_bytes = backed_up_bytes(c.blocks());
    let per = cust.iter().map(custody_bytes).max().unwrap_or(0);
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
