//! The view requests ([`crate::views`]): the timeline, one post, the account, one
//! author, the claims on stored chains, and publishing a claim. They read the node's
//! store; only `claim` appends.

use super::Runtime;
use super::own::append_own;
use crate::control::{ClaimKind, Response};
use crate::error::RequestError;
use crate::views::{
    AccountData, AuthorData, ClaimData, FollowData, ForkData, PostData, TimelineData,
};
use glitter_core::attest::{self, WitnessSet};
use glitter_core::sig::PublicKey;
use glitter_core::social::{ClaimBackend, Payload};
use glitter_core::store::BlockLog;
use glitter_core::sync::SyncStore;
use glitter_core::wire::header::BlockKind;
use glitter_core::zk;
use glitter_host::account::author_arg;
use glitter_host::chainfile::ChainFile;
use glitter_host::claims::{Chains, ClaimVerifier, Verdict};
use glitter_host::datadir::{HostLog, chain_from_log};
use glitter_host::timeline::{self, Cursor, PostView};
use glitter_host::{feed, os};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::collections::HashMap;

/// Top-level posts on a timeline page unless the request says otherwise.
pub const TIMELINE_PAGE_DEFAULT: u32 = 50;

/// What the views remember between requests: each author's latest profile, and how
/// far their chain was scanned for it (so a page costs no full-chain scan).
#[derive(Default)]
pub(super) struct ViewCache {
    profiles: HashMap<PublicKey, (u64, Option<(String, String)>)>,
    /// The timeline's posts without texts (read once; a page reads its texts only).
    timeline: timeline::Index,
}

impl ViewCache {
    /// The latest (name, about) of `author`, scanning only blocks stored since the
    /// last call. Bounded: one entry per author the log holds (it holds at most 256).
    fn profile(&mut self, log: &mut HostLog, author: &PublicKey) -> Option<(String, String)> {
        let head = log.head(author).map_or(0, |h| h.seq);
        if self.profiles.len() > 2 * super::AUTHORS_MAX {
            self.profiles.clear();
        }
        let entry = self.profiles.entry(*author).or_insert((0, None));
        if head < entry.0 {
            *entry = (0, None);
        }
        let mut buf = [0u8; glitter_core::PAYLOAD_LEN_MAX];
        for seq in entry.0 + 1..=head {
            let Ok(Some(h)) = log.header(author, seq) else {
                continue;
            };
            if h.kind != BlockKind::Profile {
                continue;
            }
            if let Ok(Some((h, p))) = log.block(author, seq, &mut buf)
                && let Ok(Payload::Profile(pr)) = Payload::decode(h.kind, p)
            {
                entry.1 = Some((pr.name.as_str().to_string(), pr.about.as_str().to_string()));
            }
        }
        entry.0 = head;
        entry.1.clone()
    }

    fn name(&mut self, log: &mut HostLog, author: &PublicKey) -> Option<String> {
        self.profile(log, author)
            .map(|(n, _)| n)
            .filter(|n| !n.is_empty())
    }
}

fn data<T: serde::Serialize>(lines: Vec<String>, value: &T) -> Response {
    match serde_json::to_value(value) {
        Ok(v) => Response::ok(lines, v),
        Err(e) => Response::err(format!("cannot encode the answer: {e}")),
    }
}

impl Runtime {
    /// The authors of the timeline: oneself and whom one follows.
    fn timeline_authors(&self) -> Vec<PublicKey> {
        let mut a = vec![self.keys.public()];
        a.extend(self.follows.iter().copied());
        a
    }

    fn post_data(&mut self, p: PostView) -> PostData {
        let name = self.views.name(self.node.store().log(), &p.author);
        PostData {
            author: p.author.to_string(),
            name,
            seq: p.seq,
            timestamp_ms: p.timestamp_ms,
            text: p.text,
            reply_to: p.reply_to.map(|(a, s)| (a.to_string(), s)),
            replies: p.replies.into_iter().map(|r| self.post_data(r)).collect(),
        }
    }

    /// `timeline`: a page of posts.
    pub(super) fn timeline(
        &mut self,
        before: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Response, RequestError> {
        let before = match before {
            Some(c) => Some(
                c.parse::<Cursor>()
                    .map_err(RequestError::argument("timeline"))?,
            ),
            None => None,
        };
        let authors = self.timeline_authors();
        let limit = limit.unwrap_or(TIMELINE_PAGE_DEFAULT) as usize;
        let page = self
            .views
            .timeline
            .page(self.node.store().log(), &authors, before, limit)
            .map_err(RequestError::host("timeline"))?;
        let posts = page.posts.into_iter().map(|p| self.post_data(p)).collect();
        let t = TimelineData {
            posts,
            next: page.next.map(|c| c.to_string()),
            total_posts: page.total_posts,
        };
        Ok(data(vec![format!("{} posts", t.total_posts)], &t))
    }

    /// `show_post`: one post.
    pub(super) fn show_post(&mut self, author: &str, seq: u64) -> Result<Response, RequestError> {
        let a = author_arg(author).map_err(RequestError::argument("show_post"))?;
        let p = timeline::post(self.node.store().log(), &a, seq)
            .map_err(RequestError::host("show_post"))?
            .ok_or(RequestError::NoSuchPost { author: a, seq })?;
        let p = self.post_data(p);
        Ok(data(vec![feed::safe_text(&p.text).into_owned()], &p))
    }

    /// `account`: own key, profile, follows.
    pub(super) fn account(&mut self) -> Response {
        let me = self.keys.public();
        let log = self.node.store().log();
        let (name, about) = self.views.profile(log, &me).unwrap_or_default();
        let blocks = log.head(&me).map_or(0, |h| h.seq);
        let mut follows = Vec::new();
        for f in self.follows.clone() {
            let log = self.node.store().log();
            follows.push(FollowData {
                author: f.to_string(),
                name: self.views.name(log, &f),
                blocks: log.head(&f).map_or(0, |h| h.seq),
            });
        }
        let a = AccountData {
            author: me.to_string(),
            name,
            about,
            blocks,
            follows,
        };
        data(vec![format!("{me}: {blocks} blocks")], &a)
    }

    /// `author`: one author's chain, verified again now, forks and witnesses.
    pub(super) fn author(&mut self, author: &str) -> Result<Response, RequestError> {
        let a = author_arg(author).map_err(RequestError::argument("author"))?;
        let log = self.node.store().log();
        let profile = self.views.profile(log, &a);
        let head = log.head(&a);
        let chain = chain_from_log(log, &a).map_err(RequestError::host("author"))?;
        let started = os::instant();
        let verification = match ChainFile::from_chain(&chain).verify() {
            Ok(c) => Ok(format!(
                "verified now: {} blocks, every signature and hash link checked ({} ms)",
                c.headers.len(),
                started.elapsed().as_millis()
            )),
            Err(e) => Err(e.to_string()),
        };
        let forks: Vec<ForkData> = self
            .node
            .forks()
            .iter()
            .filter(|f| f.author() == a)
            .map(|f| {
                let (x, y) = f.headers();
                let mut proof = x.to_bytes().to_vec();
                proof.extend_from_slice(&y.to_bytes());
                ForkData {
                    seq: f.seq(),
                    ids: [x.id().to_string(), y.id().to_string()],
                    proof_hex: hex::encode(proof),
                }
            })
            .collect();
        let mut set = WitnessSet::new();
        for (h, p) in chain.headers.iter().zip(&chain.payloads) {
            if h.kind == BlockKind::Trust
                && let Some(p) = p
                && let Ok(payload) = Payload::decode(h.kind, p)
            {
                let _ = set.apply(&payload);
            }
        }
        let head_confirmation = match head {
            None => "no blocks held".to_string(),
            Some(head) => {
                let records = self.attestations_of(&set);
                let forked_at = forks.iter().map(|f| f.seq).min();
                let mut headers = chain.headers.clone();
                match attest::status(
                    &set,
                    &a,
                    head.seq,
                    &records,
                    headers.as_mut_slice(),
                    forked_at,
                ) {
                    attest::Status::Confirmed { level } => {
                        format!("head confirmed by {level} witnesses")
                    }
                    attest::Status::Pending { attested, needed } => {
                        format!("head pending: {attested} of {needed} witnesses attested")
                    }
                    attest::Status::Forked { at } => {
                        format!("never confirmed: the author forked at seq {at}")
                    }
                    attest::Status::Unknown => "head not held".to_string(),
                    attest::Status::NoWitnesses => "no witnesses designated".to_string(),
                }
            }
        };
        let d = AuthorData {
            author: a.to_string(),
            name: profile
                .as_ref()
                .map(|p| p.0.clone())
                .filter(|n| !n.is_empty()),
            about: profile.map(|p| p.1).filter(|s| !s.is_empty()),
            following: a == self.keys.public() || self.follows.contains(&a),
            chain_length: head.map_or(0, |h| h.seq),
            head_id: head.map(|h| h.id.to_string()),
            head_timestamp_ms: head.map(|h| h.timestamp_ms),
            verification,
            forks,
            witnesses: set.witnesses().iter().map(|w| w.to_string()).collect(),
            witness_threshold: set.threshold(),
            head_confirmation,
        };
        Ok(data(vec![format!("{a}: {} blocks", d.chain_length)], &d))
    }

    /// The attestations by `set`'s witnesses on the chains this node holds.
    fn attestations_of(&mut self, set: &WitnessSet) -> Vec<attest::AttestationRecord> {
        let mut out = Vec::new();
        let mut buf = [0u8; glitter_core::PAYLOAD_LEN_MAX];
        let log = self.node.store().log();
        for w in set.witnesses() {
            let head = log.head(w).map_or(0, |h| h.seq);
            for seq in 1..=head {
                if let Ok(Some((h, p))) = log.block(w, seq, &mut buf)
                    && h.kind == BlockKind::Attestation
                    && let Ok(records) = attest::records_of(&h, p)
                {
                    out.extend(records);
                }
            }
        }
        out
    }

    /// `claims`: every claim on a stored chain, verified from the chain (set claims
    /// with the set recomputed from the stored chains, double claims found).
    pub(super) fn claims(&mut self) -> Response {
        let authors: Vec<PublicKey> = self.node.store_ref().log_ref().authors().collect();
        let mut buf = [0u8; glitter_core::PAYLOAD_LEN_MAX];
        let mut found = Vec::new();
        for a in &authors {
            let log = self.node.store().log();
            let head = log.head(a).map_or(0, |h| h.seq);
            for seq in 1..=head {
                let Ok(Some(h)) = log.header(a, seq) else {
                    continue;
                };
                if h.kind != BlockKind::Claim {
                    continue;
                }
                if let Ok(Some((h, p))) = log.block(a, seq, &mut buf) {
                    found.push((h, p.to_vec()));
                }
            }
        }
        // Set claims need the chains their sets are computed from: read them only then.
        let needs_sets = found
            .iter()
            .any(|(_, p)| zk::Claim::decode(p).is_ok_and(|c| c.is_set_claim()));
        let chains = if needs_sets {
            let log = self.node.store().log();
            Chains::from_chains(authors.iter().filter_map(|a| chain_from_log(log, a).ok()))
        } else {
            Chains::default()
        };
        // Oldest first, so the first of two claims with one tag is the valid one.
        let mut order: Vec<usize> = (0..found.len()).collect();
        order.sort_by_key(|&i| {
            let h = &found[i].0;
            (h.timestamp_ms, h.author, h.seq)
        });
        let mut verifier = ClaimVerifier::new();
        let mut verdicts: HashMap<(PublicKey, u64), Verdict> = HashMap::new();
        for i in order {
            let (h, p) = &found[i];
            verdicts.insert((h.author, h.seq), verifier.check(&chains, h, p));
        }
        let mut rows = Vec::new();
        for (h, p) in found {
            let name = self.views.name(self.node.store().log(), &h.author);
            let verdict = match verdicts.remove(&(h.author, h.seq)) {
                Some(Verdict::Valid { .. }) => Ok(()),
                // "invalid (…)", "set unknown: …", "double claim: …".
                Some(other) => Err(other.describe()),
                None => Err("not checked".to_string()),
            };
            let (context, message) = match Payload::decode(h.kind, &p) {
                Ok(Payload::Claim(c)) => (
                    String::from_utf8_lossy(&c.context).into_owned(),
                    String::from_utf8_lossy(&c.message).into_owned(),
                ),
                _ => (String::new(), String::new()),
            };
            rows.push(ClaimData {
                author: h.author.to_string(),
                name,
                seq: h.seq,
                statement: feed::describe(&h, Some(&p), &Default::default()),
                context,
                message,
                verdict,
            });
        }
        let lines = rows
            .iter()
            .map(|r| {
                format!(
                    "{}#{} {}: {}",
                    r.author,
                    r.seq,
                    r.statement,
                    match &r.verdict {
                        Ok(()) => "valid".to_string(),
                        Err(e) => e.clone(),
                    }
                )
            })
            .collect();
        data(lines, &rows)
    }

    /// `claim`: proves and publishes a claim on the node's own chain.
    pub(super) fn publish_claim(
        &mut self,
        kind: ClaimKind,
        members: &[String],
        context: &str,
        message: &str,
    ) -> Result<Response, RequestError> {
        let seed = os::random32().map_err(RequestError::host("claim"))?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let me = self.keys.public();
        let claim = match kind {
            ClaimKind::Key => zk::Claim::knows_key(
                ClaimBackend::Dalek,
                &me,
                &self.keys,
                context.as_bytes(),
                message.as_bytes(),
                &mut rng,
            ),
            ClaimKind::Ring => {
                let mut ring = Vec::new();
                for m in members {
                    ring.push(author_arg(m).map_err(RequestError::argument("claim"))?);
                }
                if !ring.contains(&me) {
                    ring.push(me);
                }
                zk::Claim::ring_member(
                    ClaimBackend::Dalek,
                    &me,
                    &ring,
                    &self.keys,
                    context.as_bytes(),
                    message.as_bytes(),
                    &mut rng,
                )
            }
        }
        .map_err(RequestError::Claim)?;
        let h = append_own(&mut self.node, &self.keys, &Payload::Claim(claim))?.0;
        self.announce();
        Ok(Response::ok(
            vec![format!("published claim as block {}", h.seq)],
            serde_json::json!({"seq": h.seq}),
        ))
    }
}
