//! Claims on stored chains: the sets a set claim names, proving claims, and checking
//! the claim blocks of stored chains with typed verdicts, double claims included.
//!
//! **The post-count snapshot rule.** A [`ClaimStatement::PostCountMember`] claim in
//! block `s` of chain `P` is about the authors `P` follows in blocks `1..s` (follows
//! minus unfollows, in order), and `P` itself, whose chain has a `min_posts`-th post;
//! the snapshot is the sorted list of (author, id of that author's `min_posts`-th
//! post). Chains only grow, so a verifier holding the same chains recomputes exactly
//! the same snapshot at any later time; a verifier missing a chain (or a post)
//! recomputes another snapshot and gets [`Verdict::SetUnknown`], never "valid".
//!
//! Proofs are made and checked with [`crate::zk_oom`] (members decoded once,
//! multiscalar multiplications); core names and checks the set
//! ([`ClaimSet`], [`zk::verify_claim_block_with`]).

use crate::chainfile::VerifiedChain;
use crate::datadir::{DataDir, chain_from_log};
use crate::error::DataDirError;
use crate::zk_oom::{self, PreparedMembers};
use glitter_core::hash::Hash;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::wire::header::{BlockKind, Header};
use glitter_core::zk::oom::LinkTag;
use glitter_core::zk::{self, CLAIM_SET_MEMBERS_MAX, Claim, ClaimSet, ClaimStatement, ZkError};
use rand_core::CryptoRng;
use std::collections::BTreeMap;

/// Why a claim could not be made or looked up.
#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    /// The data directory could not be read.
    #[error("data directory")]
    Data(#[from] DataDirError),
    /// The prover refused (not a member, a field too long, …).
    #[error("cannot prove the claim: {0}")]
    Prove(ZkError),
    /// A post count of 0 was asked for.
    #[error("--min-posts must be at least 1")]
    ZeroPosts,
    /// The prover's own key is not in the set.
    #[error("you are not in the set ({members} members): {why}")]
    NotInSet {
        /// The set's size.
        members: usize,
        /// Why, in words.
        why: &'static str,
    },
    /// The set has more members than a claim on a chain can name.
    #[error("the set has {members} members; a claim on a chain names at most {max}")]
    SetTooLarge {
        /// The set's size.
        members: usize,
        /// The bound.
        max: u32,
    },
    /// No such claim block is stored.
    #[error("no claim block {author}:{seq} is stored here")]
    NoSuchClaim {
        /// The author.
        author: PublicKey,
        /// The seq.
        seq: u64,
    },
}

/// A post-count snapshot: the authors with a `min_posts`-th post, sorted, and the id
/// of that post for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The least number of posts.
    pub min_posts: u16,
    /// The authors, strictly increasing.
    pub members: Vec<PublicKey>,
    /// The id of each author's `min_posts`-th post, in the same order.
    pub post_ids: Vec<Hash>,
}

impl Snapshot {
    /// The set as core names it.
    pub fn set(&self) -> ClaimSet<'_> {
        ClaimSet::PostCount {
            min_posts: self.min_posts,
            members: &self.members,
            post_ids: &self.post_ids,
        }
    }
}

/// The chains a verifier or prover holds, by author.
#[derive(Clone, Debug, Default)]
pub struct Chains {
    chains: BTreeMap<PublicKey, VerifiedChain>,
}

impl Chains {
    /// Every chain stored in `data` (one read of the image).
    ///
    /// # Errors
    /// If the image cannot be read.
    pub fn load(data: &DataDir) -> Result<Chains, DataDirError> {
        let mut chains = BTreeMap::new();
        if let Some(mut log) = data.read_log()? {
            for author in data.authors()? {
                chains.insert(author, chain_from_log(&mut log, &author)?);
            }
        }
        Ok(Chains { chains })
    }

    /// The given chains.
    pub fn from_chains(list: impl IntoIterator<Item = VerifiedChain>) -> Chains {
        Chains {
            chains: list.into_iter().map(|c| (c.author, c)).collect(),
        }
    }

    /// The chain of `author`, if held.
    pub fn get(&self, author: &PublicKey) -> Option<&VerifiedChain> {
        self.chains.get(author)
    }

    /// The post-count snapshot for a claim that would be block `seq` of `publisher`'s
    /// chain (the rule in the module docs).
    ///
    /// # Errors
    /// [`ClaimsError::ZeroPosts`] for `min_posts` 0.
    pub fn post_count_snapshot(
        &self,
        publisher: &PublicKey,
        seq: u64,
        min_posts: u16,
    ) -> Result<Snapshot, ClaimsError> {
        if min_posts == 0 {
            return Err(ClaimsError::ZeroPosts);
        }
        let before = usize::try_from(seq.saturating_sub(1)).unwrap_or(usize::MAX);
        let mut candidates = std::collections::BTreeSet::new();
        candidates.insert(*publisher);
        if let Some(chain) = self.get(publisher) {
            for (h, p) in chain.headers.iter().zip(&chain.payloads).take(before) {
                match p.as_deref().map(|p| Payload::decode(h.kind, p)) {
                    Some(Ok(Payload::Follow(f))) => {
                        candidates.insert(PublicKey(f.author));
                    }
                    Some(Ok(Payload::Unfollow(f))) if f.author != publisher.0 => {
                        candidates.remove(&PublicKey(f.author));
                    }
                    _ => {}
                }
            }
        }
        let mut snapshot = Snapshot {
            min_posts,
            members: Vec::new(),
            post_ids: Vec::new(),
        };
        for author in candidates {
            let Some(chain) = self.get(&author) else {
                continue;
            };
            // The publisher's own posts count only before the claim block.
            let limit = if author == *publisher {
                before
            } else {
                usize::MAX
            };
            let nth = chain
                .headers
                .iter()
                .take(limit)
                .filter(|h| h.kind == BlockKind::Post)
                .nth(usize::from(min_posts) - 1);
            if let Some(h) = nth {
                snapshot.members.push(author);
                snapshot.post_ids.push(h.id());
            }
        }
        Ok(snapshot)
    }
}

/// Proves a set claim over `set` for `keys`, to be published on `publisher`'s chain,
/// with the host's prover (rng from the caller).
///
/// # Errors
/// [`ClaimsError::NotInSet`], [`ClaimsError::SetTooLarge`] or the prover's error.
pub fn prove_set<R: CryptoRng + ?Sized>(
    set: &ClaimSet<'_>,
    linkable: bool,
    publisher: &PublicKey,
    keys: &KeyPair,
    context: &[u8],
    message: &[u8],
    rng: &mut R,
) -> Result<Claim, ClaimsError> {
    let members = set.members();
    if members.len() > CLAIM_SET_MEMBERS_MAX as usize {
        return Err(ClaimsError::SetTooLarge {
            members: members.len(),
            max: CLAIM_SET_MEMBERS_MAX,
        });
    }
    if members.binary_search(&keys.public()).is_err() {
        return Err(ClaimsError::NotInSet {
            members: members.len(),
            why: "your key is not one of the members",
        });
    }
    let prepared = PreparedMembers::new(members).map_err(ClaimsError::Prove)?;
    Claim::set_member_with(set, linkable, publisher, context, message, |st, binding| {
        zk_oom::prove(&prepared, st.linkable, keys, binding, rng)
    })
    .map_err(ClaimsError::Prove)
}

/// Proves "I am one of the authors whose chain has at least `min_posts` posts" with
/// `keys`, for a claim published as the next block of `publisher`'s chain, over the
/// snapshot `chains` give for that block. Returns the claim and the snapshot.
///
/// The publisher's chain is public, so a claim published on one's own chain says who
/// published it: to stay hidden among the set, publish from a pseudonymous chain that
/// follows the candidates and prove with your real key (`publisher` ≠ `keys`).
///
/// # Errors
/// [`ClaimsError::NotInSet`] if the proving key's chain has fewer posts or is not in
/// the publisher's snapshot, else as [`prove_set`].
#[allow(clippy::too_many_arguments)]
pub fn prove_post_count<R: CryptoRng + ?Sized>(
    chains: &Chains,
    publisher: &PublicKey,
    keys: &KeyPair,
    min_posts: u16,
    linkable: bool,
    context: &[u8],
    message: &[u8],
    rng: &mut R,
) -> Result<(Claim, Snapshot), ClaimsError> {
    let me = keys.public();
    let next = chains.get(publisher).map_or(0, |c| c.headers.len() as u64) + 1;
    let snapshot = chains.post_count_snapshot(publisher, next, min_posts)?;
    if snapshot.members.binary_search(&me).is_err() {
        return Err(ClaimsError::NotInSet {
            members: snapshot.members.len(),
            why: if *publisher == me {
                "your chain has fewer posts than that"
            } else {
                "the proving key's chain has fewer posts than that, or the publisher does not follow it"
            },
        });
    }
    let claim = prove_set(
        &snapshot.set(),
        linkable,
        publisher,
        keys,
        context,
        message,
        rng,
    )?;
    Ok((claim, snapshot))
}

/// The verdict on one claim block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The claim verifies.
    Valid {
        /// The claim.
        claim: Claim,
        /// For a set claim, the set's size.
        set_size: Option<usize>,
        /// Whether the set was recomputed from stored chains (a post-count snapshot)
        /// rather than given by the verifier.
        recomputed: bool,
    },
    /// The block or its proof is invalid.
    Invalid(ZkError),
    /// A set claim whose set this verifier does not have: none was given, or the one
    /// it recomputes is another set (it lacks a chain or a post).
    SetUnknown {
        /// The claim.
        claim: Claim,
        /// The size of the set this verifier has, if any.
        here: Option<usize>,
    },
    /// A valid linkable claim whose tag an earlier claim in the same context and set
    /// already carries: the same member claimed twice.
    DoubleClaim {
        /// The claim.
        claim: Claim,
        /// The earlier claim block, as (author, seq).
        first: (PublicKey, u64),
    },
}

impl Verdict {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Valid {
                set_size: Some(n),
                recomputed,
                ..
            } => format!(
                "valid (a set of {n}, {})",
                if *recomputed {
                    "recomputed from stored chains"
                } else {
                    "as given"
                }
            ),
            Verdict::Valid { .. } => "valid".into(),
            Verdict::Invalid(e) => format!("invalid ({e})"),
            Verdict::SetUnknown { claim, here } => format!(
                "set unknown: the claim names a set of {}, {}",
                claimed_size(claim).unwrap_or(0),
                match here {
                    Some(n) => format!("the set recomputed here ({n}) is another"),
                    None => "and no set was given".into(),
                }
            ),
            Verdict::DoubleClaim { first, .. } => {
                format!("double claim: {}:{} claimed first", first.0, first.1)
            }
        }
    }
}

fn claimed_size(claim: &Claim) -> Option<u32> {
    match claim.statement {
        ClaimStatement::Member { n, .. } | ClaimStatement::PostCountMember { n, .. } => Some(n),
        _ => None,
    }
}

/// The set's name in a set claim (its hash).
fn set_name(claim: &Claim) -> Option<[u8; 32]> {
    match claim.statement {
        ClaimStatement::Member { set_hash, .. } => Some(set_hash),
        ClaimStatement::PostCountMember { snapshot, .. } => Some(snapshot),
        _ => None,
    }
}

/// The tags seen in one (context, set), each with the claim block that carried it first.
type TagsSeen = BTreeMap<LinkTag, (PublicKey, u64)>;

/// Checks claim blocks one after another and keeps the tags of valid linkable claims
/// per (context, set), so that a second claim by the same member is a
/// [`Verdict::DoubleClaim`].
#[derive(Debug, Default)]
pub struct ClaimVerifier {
    members: Option<Vec<PublicKey>>,
    prepared: BTreeMap<[u8; 32], PreparedMembers>,
    tags: BTreeMap<(Vec<u8>, [u8; 32]), TagsSeen>,
}

impl ClaimVerifier {
    /// A verifier with no set of its own (member claims are [`Verdict::SetUnknown`]).
    pub fn new() -> ClaimVerifier {
        ClaimVerifier::default()
    }

    /// A verifier that checks member claims against `members` (sorted here).
    pub fn with_members(mut members: Vec<PublicKey>) -> ClaimVerifier {
        members.sort();
        members.dedup();
        ClaimVerifier {
            members: Some(members),
            ..ClaimVerifier::default()
        }
    }

    /// The verdict on the claim block `header`/`payload`, with post-count sets
    /// recomputed from `chains`.
    pub fn check(&mut self, chains: &Chains, header: &Header, payload: &[u8]) -> Verdict {
        let claim = match Claim::decode(payload) {
            Ok(c) if c.is_set_claim() => c,
            // Claims that need no set, and payloads that do not decode: core's verdict.
            _ => {
                return match zk::verify_claim_block(header, payload) {
                    Ok(claim) => Verdict::Valid {
                        claim,
                        set_size: None,
                        recomputed: false,
                    },
                    Err(e) => Verdict::Invalid(e),
                };
            }
        };
        let snapshot;
        let (set, recomputed) = match claim.statement {
            ClaimStatement::PostCountMember { min_posts, .. } => {
                match chains.post_count_snapshot(&header.author, header.seq, min_posts) {
                    Ok(s) => snapshot = s,
                    Err(_) => return Verdict::Invalid(ZkError::SetMismatch),
                }
                (snapshot.set(), true)
            }
            _ => match &self.members {
                Some(m) => (ClaimSet::Members(m), false),
                None => return Verdict::SetUnknown { claim, here: None },
            },
        };
        let here = set.members().len();
        let name = match set.statement(false) {
            Ok(ClaimStatement::Member { set_hash, .. }) => set_hash,
            Ok(ClaimStatement::PostCountMember { snapshot, .. }) => snapshot,
            _ => {
                return Verdict::SetUnknown {
                    claim,
                    here: Some(here),
                };
            }
        };
        if Some(name) != set_name(&claim) {
            // The set is checked before anything else, in core too; this only saves
            // decoding the members of a set that cannot match.
            return match zk::verify_claim_block_with(header, payload, &set, |_, _, _| {
                Err(ZkError::SetMismatch)
            }) {
                Err(ZkError::SetMismatch) => Verdict::SetUnknown {
                    claim,
                    here: Some(here),
                },
                Err(e) => Verdict::Invalid(e),
                Ok(_) => Verdict::Invalid(ZkError::SetMismatch),
            };
        }
        let prepared = match self.prepared.entry(name) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                match PreparedMembers::new(set.members()) {
                    Ok(p) => e.insert(p),
                    Err(err) => return Verdict::Invalid(err),
                }
            }
        };
        let verified = zk::verify_claim_block_with(header, payload, &set, |st, proof, b| {
            zk_oom::verify(prepared, st.linkable, proof, b)
        });
        match verified {
            Ok(claim) => {
                if let Some(tag) = claim.link_tag() {
                    let seen = self.tags.entry((claim.context.to_vec(), name)).or_default();
                    match seen.get(&tag) {
                        Some(first) if *first != (header.author, header.seq) => {
                            return Verdict::DoubleClaim {
                                claim,
                                first: *first,
                            };
                        }
                        _ => {
                            seen.insert(tag, (header.author, header.seq));
                        }
                    }
                }
                Verdict::Valid {
                    claim,
                    set_size: Some(here),
                    recomputed,
                }
            }
            Err(ZkError::SetMismatch) => Verdict::SetUnknown {
                claim,
                here: Some(here),
            },
            Err(e) => Verdict::Invalid(e),
        }
    }

    /// The verdicts on every claim block of `chains`, in (timestamp, author, seq)
    /// order, so that the first of two claims with one tag is the valid one.
    pub fn check_all(&mut self, chains: &Chains) -> Vec<((PublicKey, u64), Verdict)> {
        let mut blocks: Vec<(&Header, &[u8])> = Vec::new();
        for chain in chains.chains.values() {
            for (h, p) in chain.headers.iter().zip(&chain.payloads) {
                if h.kind == BlockKind::Claim {
                    blocks.push((h, p.as_deref().unwrap_or(&[])));
                }
            }
        }
        blocks.sort_by_key(|(h, _)| (h.timestamp_ms, h.author, h.seq));
        blocks
            .into_iter()
            .map(|(h, p)| ((h.author, h.seq), self.check(chains, h, p)))
            .collect()
    }
}

/// The verdict on the stored claim block `author:seq`, with every stored claim before
/// it checked first (so a second claim of one member is a double claim).
///
/// # Errors
/// [`ClaimsError::NoSuchClaim`] if no such claim block is stored.
pub fn verify_stored(
    chains: &Chains,
    verifier: &mut ClaimVerifier,
    author: &PublicKey,
    seq: u64,
) -> Result<Verdict, ClaimsError> {
    let none = || ClaimsError::NoSuchClaim {
        author: *author,
        seq,
    };
    let h = chains
        .get(author)
        .and_then(|c| c.headers.get(usize::try_from(seq).ok()?.checked_sub(1)?))
        .filter(|h| h.kind == BlockKind::Claim)
        .ok_or_else(none)?;
    let key = (h.author, h.seq);
    verifier
        .check_all(chains)
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
        .ok_or_else(none)
}
