//! Set claims on a chain: one-out-of-many proofs over a set named by its hash.
//!
//! A set claim ([`ClaimStatement::Member`], [`ClaimStatement::PostCountMember`])
//! carries a [`OneOfManyProof`] of "I know the secret key of one of these keys", but
//! not the keys: the set is named by a hash and its size, and the verifier supplies
//! the set ([`ClaimSet`]). The set is checked against the name **first**
//! ([`ZkError::SetMismatch`]), so a verifier holding a different set never gets a
//! "valid". [`Claim::verify`] and [`verify_claim_block`](super::verify_claim_block),
//! which take no outside data, answer [`ZkError::SetUnknown`] for a set claim.
//!
//! * [`set_hash`]: SHA-256 over `"glitter/claim-set/v1"`, `n` and the sorted keys.
//! * [`snapshot_hash`]: SHA-256 over `"glitter/claim-post-count/v1"`, the least post
//!   count, `n` and the sorted (author, id of the author's `min_posts`-th post) pairs.
//!   Which authors belong to a post-count snapshot is decided on the host from the
//!   publisher's chain (`glitter_host::claims`); core only names and checks it.
//!
//! The proof is bound like every claim's, to the context and to
//! [`claim_message`](super::claim_message)`(publisher, message)`.

use super::claim::ClaimStatement;
use super::oom::{LinkTag, OneOfMany, OneOfManyProof, check_members};
use super::{Binding, Dalek, Proof, Prover, Verifier, ZkError};
use crate::hash::Hash;
use crate::sig::{KeyPair, PublicKey};
use crate::social::claim::{CLAIM_SET_MEMBERS_MAX, Claim, ClaimBackend};
use crate::wire::header::Header;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

/// The name of a member set: SHA-256 over a domain tag, `n` (u64, little endian) and
/// the keys in the order given (a claim's set is sorted, strictly increasing).
pub fn set_hash(members: &[PublicKey]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"glitter/claim-set/v1");
    h.update((members.len() as u64).to_le_bytes());
    for key in members {
        h.update(key.0);
    }
    h.finalize().into()
}

/// The name of a post-count snapshot: SHA-256 over a domain tag, `min_posts` (u16),
/// `n` (u64) and each (author key, id of its `min_posts`-th post) pair in order.
///
/// # Errors
/// [`ZkError::SetMismatch`] if `members` and `post_ids` differ in length.
pub fn snapshot_hash(
    min_posts: u16,
    members: &[PublicKey],
    post_ids: &[Hash],
) -> Result<[u8; 32], ZkError> {
    if members.len() != post_ids.len() {
        return Err(ZkError::SetMismatch);
    }
    let mut h = Sha256::new();
    h.update(b"glitter/claim-post-count/v1");
    h.update(min_posts.to_le_bytes());
    h.update((members.len() as u64).to_le_bytes());
    for (key, id) in members.iter().zip(post_ids) {
        h.update(key.0);
        h.update(id.0);
    }
    Ok(h.finalize().into())
}

/// The set a verifier (or prover) holds for a set claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimSet<'a> {
    /// A set of keys, for [`ClaimStatement::Member`]: strictly increasing byte order.
    Members(&'a [PublicKey]),
    /// A post-count snapshot, for [`ClaimStatement::PostCountMember`]: the authors in
    /// strictly increasing byte order and, in the same order, the id of each one's
    /// `min_posts`-th post.
    PostCount {
        /// The least number of posts.
        min_posts: u16,
        /// The authors.
        members: &'a [PublicKey],
        /// The id of each author's `min_posts`-th post.
        post_ids: &'a [Hash],
    },
}

impl<'a> ClaimSet<'a> {
    /// The member keys.
    pub fn members(&self) -> &'a [PublicKey] {
        match self {
            ClaimSet::Members(members) | ClaimSet::PostCount { members, .. } => members,
        }
    }

    /// The statement a claim over this set carries.
    ///
    /// # Errors
    /// [`ZkError::RingSize`] for an empty set or one above [`CLAIM_SET_MEMBERS_MAX`],
    /// [`ZkError::MemberOrder`] or [`ZkError::DuplicateMember`] for an unsorted set,
    /// [`ZkError::SetMismatch`] for post ids that do not pair with the members.
    pub fn statement(&self, linkable: bool) -> Result<ClaimStatement, ZkError> {
        let members = self.members();
        let n = u32::try_from(members.len())
            .ok()
            .filter(|n| *n <= CLAIM_SET_MEMBERS_MAX)
            .ok_or(ZkError::RingSize {
                members: members.len(),
                max: CLAIM_SET_MEMBERS_MAX as usize,
            })?;
        check_members(members)?;
        Ok(match *self {
            ClaimSet::Members(members) => ClaimStatement::Member {
                set_hash: set_hash(members),
                n,
                linkable,
            },
            ClaimSet::PostCount {
                min_posts,
                members,
                post_ids,
            } => ClaimStatement::PostCountMember {
                min_posts,
                snapshot: snapshot_hash(min_posts, members, post_ids)?,
                n,
                linkable,
            },
        })
    }
}

impl Claim {
    /// A set claim over `set` whose one-out-of-many proof `prove` makes (the host
    /// passes its accelerated prover; [`Claim::set_member`] uses core's), to be
    /// published on `publisher`'s chain.
    ///
    /// # Errors
    /// [`ClaimSet::statement`]'s errors, [`ZkError::ClaimFieldTooLong`], or the
    /// prover's error.
    pub fn set_member_with(
        set: &ClaimSet<'_>,
        linkable: bool,
        publisher: &PublicKey,
        context: &[u8],
        message: &[u8],
        prove: impl FnOnce(&OneOfMany<'_>, &Binding<'_>) -> Result<OneOfManyProof, ZkError>,
    ) -> Result<Claim, ZkError> {
        let statement = set.statement(linkable)?;
        let oom = OneOfMany {
            members: set.members(),
            linkable,
        };
        Claim::proven(
            ClaimBackend::Dalek,
            statement,
            publisher,
            context,
            message,
            |binding| super::claim::proof_bytes(&prove(&oom, binding)?),
        )
    }

    /// A set claim that `keys` is one of `set`, proven by core's streaming prover
    /// (one scalar multiplication per member and bit; the host has a faster one).
    ///
    /// # Errors
    /// As [`Claim::set_member_with`]; [`ZkError::NotAMember`] if `keys` is not in the
    /// set.
    pub fn set_member<R: CryptoRng + ?Sized>(
        set: &ClaimSet<'_>,
        linkable: bool,
        publisher: &PublicKey,
        keys: &KeyPair,
        context: &[u8],
        message: &[u8],
        rng: &mut R,
    ) -> Result<Claim, ZkError> {
        Claim::set_member_with(set, linkable, publisher, context, message, |st, b| {
            Dalek.prove(st, keys, b, rng)
        })
    }

    /// Whether this is a set claim (its verifier needs the set).
    pub fn is_set_claim(&self) -> bool {
        matches!(
            self.statement,
            ClaimStatement::Member { .. } | ClaimStatement::PostCountMember { .. }
        )
    }

    /// The linkable tag of a set claim's proof, if it carries one (meaningful once
    /// the claim verifies).
    pub fn link_tag(&self) -> Option<LinkTag> {
        if !self.is_set_claim() {
            return None;
        }
        OneOfManyProof::parse(&self.proof).ok()?.tag()
    }

    /// Verifies a set claim published on `publisher`'s chain against `set`: first
    /// that `set` is the set the claim names, then the proof with `verify` (the host
    /// passes its accelerated verifier over the same keys). Returns the tag.
    ///
    /// # Errors
    /// [`ZkError::Unsupported`] for a claim that is not a set claim or not made with
    /// the real backend, [`ZkError::SetMismatch`] if `set` is not the named set,
    /// [`ClaimSet::statement`]'s errors, or the proof's.
    pub fn verify_set_with(
        &self,
        publisher: &PublicKey,
        set: &ClaimSet<'_>,
        verify: impl FnOnce(&OneOfMany<'_>, &OneOfManyProof, &Binding<'_>) -> Result<(), ZkError>,
    ) -> Result<Option<LinkTag>, ZkError> {
        let linkable = match self.statement {
            ClaimStatement::Member { linkable, .. }
            | ClaimStatement::PostCountMember { linkable, .. } => linkable,
            _ => return Err(ZkError::Unsupported),
        };
        if self.backend != ClaimBackend::Dalek {
            return Err(ZkError::Unsupported);
        }
        let kinds_match = matches!(
            (&self.statement, set),
            (ClaimStatement::Member { .. }, ClaimSet::Members(_))
                | (
                    ClaimStatement::PostCountMember { .. },
                    ClaimSet::PostCount { .. }
                )
        );
        if !kinds_match || set.statement(linkable)? != self.statement {
            return Err(ZkError::SetMismatch);
        }
        let statement = OneOfMany {
            members: set.members(),
            linkable,
        };
        let proof = OneOfManyProof::parse(&self.proof)?;
        let bound = super::claim_message(publisher, &self.message);
        verify(&statement, &proof, &Binding::new(&self.context, &bound))?;
        Ok(proof.tag())
    }

    /// [`Claim::verify_set_with`] with core's streaming verifier.
    ///
    /// # Errors
    /// As [`Claim::verify_set_with`].
    pub fn verify_with_set(
        &self,
        publisher: &PublicKey,
        set: &ClaimSet<'_>,
    ) -> Result<Option<LinkTag>, ZkError> {
        self.verify_set_with(publisher, set, |st, proof, b| Dalek.verify(st, proof, b))
    }
}

/// Verifies a claim block as it travels, with the set a set claim names: the header's
/// signature and the payload as [`verify_claim_block`](super::verify_claim_block)
/// does, then, for a set claim, [`Claim::verify_set_with`] with `verify` (a claim
/// that needs no set is verified as [`Claim::verify`] does, and `set` is unused).
///
/// # Errors
/// As [`verify_claim_block`](super::verify_claim_block) and
/// [`Claim::verify_set_with`].
pub fn verify_claim_block_with(
    header: &Header,
    payload: &[u8],
    set: &ClaimSet<'_>,
    verify: impl FnOnce(&OneOfMany<'_>, &OneOfManyProof, &Binding<'_>) -> Result<(), ZkError>,
) -> Result<Claim, ZkError> {
    let claim = super::claim::signed_claim(header, payload)?;
    if claim.is_set_claim() {
        claim.verify_set_with(&header.author, set, verify)?;
    } else {
        claim.verify(&header.author)?;
    }
    Ok(claim)
}

/// [`verify_claim_block_with`] with core's streaming verifier.
///
/// # Errors
/// As [`verify_claim_block_with`].
pub fn verify_claim_block_with_set(
    header: &Header,
    payload: &[u8],
    set: &ClaimSet<'_>,
) -> Result<Claim, ZkError> {
    verify_claim_block_with(header, payload, set, |st, proof, b| {
        Dalek.verify(st, proof, b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{ChainState, NoHeaders};
    use crate::social::Payload;
    use crate::wire::header::BlockKind;
    use crate::wire::header::PAYLOAD_LEN_MAX;
    use heapless::Vec;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const N: usize = 5;

    /// `N` key pairs, sorted by public key.
    fn people() -> [KeyPair; N] {
        let mut keys: [KeyPair; N] =
            core::array::from_fn(|i| KeyPair::from_seed([i as u8 + 1; 32]).unwrap());
        keys.sort_by_key(|k| k.public().0);
        keys
    }

    fn publics(keys: &[KeyPair; N]) -> [PublicKey; N] {
        core::array::from_fn(|i| keys[i].public())
    }

    fn ids() -> [Hash; N] {
        core::array::from_fn(|i| Hash::of(&[i as u8]))
    }

    #[test]
    fn set_claims_verify_with_their_set_only() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let keys = people();
        let members = publics(&keys);
        let ids = ids();
        let publisher = keys[2].public();
        let sets = [
            ClaimSet::Members(&members),
            ClaimSet::PostCount {
                min_posts: 3,
                members: &members,
                post_ids: &ids,
            },
        ];
        for set in sets {
            for linkable in [false, true] {
                let claim = Claim::set_member(
                    &set, linkable, &publisher, &keys[2], b"ctx", b"msg", &mut rng,
                )
                .unwrap();
                let tag = claim.verify_with_set(&publisher, &set).unwrap();
                assert_eq!(tag.is_some(), linkable);
                assert_eq!(claim.link_tag(), tag);
                // Without the set: unknown, never valid.
                assert_eq!(claim.verify(&publisher), Err(ZkError::SetUnknown));

                // A modified set, a smaller set, another kind of set, another snapshot.
                let mut other = members;
                other[4] = KeyPair::from_seed([99; 32]).unwrap().public();
                other.sort_by_key(|k| k.0);
                let mut other_ids = ids;
                other_ids[1] = Hash::of(b"another post");
                let wrong: [ClaimSet<'_>; 6] = [
                    ClaimSet::Members(&other),
                    ClaimSet::Members(&members[..4]),
                    ClaimSet::PostCount {
                        min_posts: 3,
                        members: &other,
                        post_ids: &ids,
                    },
                    ClaimSet::PostCount {
                        min_posts: 3,
                        members: &members,
                        post_ids: &other_ids,
                    },
                    ClaimSet::PostCount {
                        min_posts: 4,
                        members: &members,
                        post_ids: &ids,
                    },
                    match set {
                        ClaimSet::Members(_) => ClaimSet::PostCount {
                            min_posts: 3,
                            members: &members,
                            post_ids: &ids,
                        },
                        ClaimSet::PostCount { .. } => ClaimSet::Members(&members),
                    },
                ];
                for w in wrong {
                    if w == set {
                        continue;
                    }
                    assert_eq!(
                        claim.verify_with_set(&publisher, &w),
                        Err(ZkError::SetMismatch),
                        "{w:?}"
                    );
                }
                // Copied to another chain, or another context or message: rejected.
                let elsewhere = keys[0].public();
                assert_eq!(
                    claim.verify_with_set(&elsewhere, &set),
                    Err(ZkError::Rejected)
                );
                let mut swapped = claim.clone();
                swapped.context = Vec::from_slice(b"msg").unwrap();
                swapped.message = Vec::from_slice(b"ctx").unwrap();
                assert!(swapped.verify_with_set(&publisher, &set).is_err());
                let mut flipped = claim.clone();
                flipped.statement = match flipped.statement {
                    ClaimStatement::Member { set_hash, n, .. } => ClaimStatement::Member {
                        set_hash,
                        n,
                        linkable: !linkable,
                    },
                    ClaimStatement::PostCountMember {
                        min_posts,
                        snapshot,
                        n,
                        ..
                    } => ClaimStatement::PostCountMember {
                        min_posts,
                        snapshot,
                        n,
                        linkable: !linkable,
                    },
                    other => other,
                };
                assert!(flipped.verify_with_set(&publisher, &set).is_err());
            }
        }
    }

    #[test]
    fn a_member_has_one_tag_per_context() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let keys = people();
        let members = publics(&keys);
        let set = ClaimSet::Members(&members);
        let p = keys[0].public();
        let claim = |k: &KeyPair, ctx: &[u8], msg: &[u8], rng: &mut ChaCha20Rng| {
            let c = Claim::set_member(&set, true, &p, k, ctx, msg, rng).unwrap();
            c.verify_with_set(&p, &set).unwrap().unwrap()
        };
        let first = claim(&keys[1], b"poll", b"yes", &mut rng);
        assert_eq!(first, claim(&keys[1], b"poll", b"no", &mut rng));
        assert_ne!(first, claim(&keys[3], b"poll", b"yes", &mut rng));
        assert_ne!(first, claim(&keys[1], b"other poll", b"yes", &mut rng));
    }

    #[test]
    fn set_claims_on_a_chain() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let keys = people();
        let members = publics(&keys);
        let set = ClaimSet::Members(&members);
        let publisher = &keys[4];
        let claim = Claim::set_member(
            &set,
            true,
            &publisher.public(),
            &keys[1],
            b"c",
            b"m",
            &mut rng,
        )
        .unwrap();
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        let payload = Payload::Claim(claim.clone()).encode(&mut buf).unwrap();
        let header = ChainState::new(publisher.public())
            .unwrap()
            .append(publisher, BlockKind::Claim, 0, payload, &mut NoHeaders)
            .unwrap();
        assert_eq!(
            verify_claim_block_with_set(&header, payload, &set),
            Ok(claim)
        );
        assert_eq!(
            super::super::verify_claim_block(&header, payload),
            Err(ZkError::SetUnknown)
        );
        assert_eq!(
            verify_claim_block_with_set(&header, payload, &ClaimSet::Members(&members[1..])),
            Err(ZkError::SetMismatch)
        );
        // The same payload on another chain does not verify.
        let other = &keys[0];
        let copied = ChainState::new(other.public())
            .unwrap()
            .append(other, BlockKind::Claim, 0, payload, &mut NoHeaders)
            .unwrap();
        assert_eq!(
            verify_claim_block_with_set(&copied, payload, &set),
            Err(ZkError::Rejected)
        );
    }

    /// The largest set claim, with the longest context and message and a tagged proof
    /// over 1,024 members (896 bytes), fits the 1 KiB payload bound.
    #[test]
    fn the_largest_set_claim_fits_a_payload() {
        let proof_len = OneOfManyProof::len_for(CLAIM_SET_MEMBERS_MAX as usize, true);
        assert_eq!(proof_len, 896);
        let statements = [
            ClaimStatement::Member {
                set_hash: [0xff; 32],
                n: CLAIM_SET_MEMBERS_MAX,
                linkable: true,
            },
            ClaimStatement::PostCountMember {
                min_posts: u16::MAX,
                snapshot: [0xff; 32],
                n: CLAIM_SET_MEMBERS_MAX,
                linkable: true,
            },
        ];
        let mut sizes = [0usize; 2];
        for (size, statement) in sizes.iter_mut().zip(statements) {
            let mut proof = Vec::new();
            proof.resize(proof_len, 0xff).unwrap();
            let claim = Claim {
                backend: ClaimBackend::Dalek,
                statement,
                context: Vec::from_slice(&[b'c'; 32]).unwrap(),
                message: Vec::from_slice(&[b'm'; 32]).unwrap(),
                proof,
            };
            let mut buf = [0u8; PAYLOAD_LEN_MAX];
            *size = Payload::Claim(claim).encode(&mut buf).unwrap().len();
        }
        assert_eq!(sizes, [1001, 1004]);
    }
}
