//! The placeholder backend: **sound, but not zero-knowledge**.
//!
//! Each proof carries or reveals its witness, and the verifier checks that witness for
//! real; nothing here ever accepts without checking.
//!
//! | statement | proof | what it reveals |
//! |---|---|---|
//! | [`KnowsKey`] | an Ed25519 signature by the key over the transcript digest | a signature anyone can show to anyone else (transferable evidence that the key holder answered this context and message) |
//! | [`RingMember`] | the signer's index in the ring and its signature | **which member proved**: no anonymity at all |
//! | [`PostCount`] | the N signed post headers, and the author's signature | the headers: seqs, timestamps, payload hashes of N posts |
//!
//! The signed message is `"glitter/zk/v1/placeholder" ‖ D`, where `D` is a 64-byte
//! SHA-512 transcript digest that binds the statement, the binding (context and
//! message) and, for post counts, the ids of the headers shown. The domain prefix keeps
//! these signatures apart from block signatures (`"glitter/block/v1"`).

use super::transcript::Transcript;
use super::{
    Binding, KnowsKey, POST_COUNT_MAX, PostCount, Proof, Prover, RING_MEMBERS_MAX, RingMember,
    Statement, Verifier, ZkError, check_witness, emit_with, fixed_len,
};
use crate::lipmaa::lipmaa;
use crate::sig::{self, KeyPair, PublicKey, SIGNATURE_LEN, Signature};
use crate::wire::header::{BlockKind, HEADER_LEN, Header};
use heapless::Vec;
use rand_core::CryptoRng;

/// The placeholder backend. See the module docs: it reveals its witnesses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Placeholder;

/// Prefix of every message the placeholder signs.
const SIGN_DOMAIN: &[u8] = b"glitter/zk/v1/placeholder";

/// The message actually signed: the domain prefix and the transcript digest.
fn signed_message(digest: &[u8; 64]) -> [u8; SIGN_DOMAIN.len() + 64] {
    let mut out = [0u8; SIGN_DOMAIN.len() + 64];
    for (o, b) in out.iter_mut().zip(SIGN_DOMAIN.iter().chain(digest.iter())) {
        *o = *b;
    }
    out
}

fn bound(mut t: Transcript, binding: &Binding<'_>) -> [u8; 64] {
    t.append(b"context", binding.context);
    t.append(b"message", binding.message);
    t.finish_bytes(b"placeholder")
}

fn knows_key_digest(statement: &KnowsKey, binding: &Binding<'_>) -> [u8; 64] {
    let mut t = Transcript::new(KnowsKey::NAME);
    t.append(b"key", &statement.key.0);
    bound(t, binding)
}

fn ring_digest(statement: &RingMember<'_>, binding: &Binding<'_>) -> [u8; 64] {
    let mut t = Transcript::new(RingMember::NAME);
    t.append_u64(b"members", statement.members.len() as u64);
    for key in statement.members {
        t.append(b"key", &key.0);
    }
    bound(t, binding)
}

fn post_count_digest(statement: &PostCount, headers: &[Header], binding: &Binding<'_>) -> [u8; 64] {
    let mut t = Transcript::new(PostCount::NAME);
    t.append(b"author", &statement.author.0);
    t.append_u64(b"posts", u64::from(statement.posts));
    t.append_u64(b"headers", headers.len() as u64);
    for h in headers {
        t.append(b"header-id", &h.id().0);
    }
    bound(t, binding)
}

/// The placeholder's signature by `keys` over `digest` (see [`signed_message`]).
fn sign(keys: &KeyPair, digest: &[u8; 64]) -> Signature {
    keys.sign(&signed_message(digest))
}

fn check_signature(
    key: &PublicKey,
    digest: &[u8; 64],
    signature: &Signature,
) -> Result<(), ZkError> {
    sig::verify(&key.0, &signed_message(digest), signature).map_err(|_| ZkError::Rejected)
}

/// An Ed25519 signature over the transcript digest: the placeholder's proof of
/// [`KnowsKey`]. 64 bytes. Not zero-knowledge: it is transferable evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SignatureProof {
    /// The signature.
    pub signature: Signature,
}

impl Proof for SignatureProof {
    const ENCODED_LEN_MAX: usize = SIGNATURE_LEN;

    fn encoded_len(&self) -> usize {
        SIGNATURE_LEN
    }

    fn emit(&self, out: &mut [u8]) -> Result<usize, ZkError> {
        emit_with(out, SIGNATURE_LEN, |dst| {
            dst.copy_from_slice(&self.signature);
        })
    }

    fn parse(bytes: &[u8]) -> Result<SignatureProof, ZkError> {
        Ok(SignatureProof {
            signature: fixed_len(bytes)?,
        })
    }
}

/// The placeholder's proof of [`RingMember`]: **the index of the member who proved**
/// and its signature over the transcript digest. 65 bytes. Reveals the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MemberSignatureProof {
    /// The prover's position in the ring (revealed).
    pub index: u8,
    /// The prover's signature.
    pub signature: Signature,
}

impl MemberSignatureProof {
    /// The encoded length: always 65 bytes.
    pub const LEN: usize = 1 + SIGNATURE_LEN;
}

impl Proof for MemberSignatureProof {
    const ENCODED_LEN_MAX: usize = MemberSignatureProof::LEN;

    fn encoded_len(&self) -> usize {
        MemberSignatureProof::LEN
    }

    fn emit(&self, out: &mut [u8]) -> Result<usize, ZkError> {
        emit_with(out, MemberSignatureProof::LEN, |dst| {
            let (index, signature) = dst.split_at_mut(1);
            index.copy_from_slice(&[self.index]);
            signature.copy_from_slice(&self.signature);
        })
    }

    fn parse(bytes: &[u8]) -> Result<MemberSignatureProof, ZkError> {
        let length = ZkError::ProofLength {
            len: bytes.len(),
            expected: MemberSignatureProof::LEN,
        };
        let (index, signature) = bytes.split_first().ok_or(length)?;
        let signature: Signature = signature.try_into().map_err(|_| length)?;
        if usize::from(*index) >= RING_MEMBERS_MAX {
            return Err(ZkError::RingSize {
                members: usize::from(*index) + 1,
                max: RING_MEMBERS_MAX,
            });
        }
        Ok(MemberSignatureProof {
            index: *index,
            signature,
        })
    }
}

/// The placeholder's proof of [`PostCount`]: the author's signature over the
/// transcript digest, then the N post headers in increasing seq order.
/// `64 + 212·N` bytes. Reveals the headers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PostCountProof {
    /// The author's signature over the digest (which binds the header ids).
    pub signature: Signature,
    /// The post headers shown, seqs strictly increasing.
    pub headers: Vec<Header, POST_COUNT_MAX>,
}

impl PostCountProof {
    /// The encoded length of a proof that shows `headers` headers.
    pub const fn len_for(headers: usize) -> usize {
        SIGNATURE_LEN + HEADER_LEN * headers
    }
}

impl Proof for PostCountProof {
    const ENCODED_LEN_MAX: usize = PostCountProof::len_for(POST_COUNT_MAX);

    fn encoded_len(&self) -> usize {
        PostCountProof::len_for(self.headers.len())
    }

    fn emit(&self, out: &mut [u8]) -> Result<usize, ZkError> {
        emit_with(out, self.encoded_len(), |dst| {
            let (signature, rest) = dst.split_at_mut(SIGNATURE_LEN);
            signature.copy_from_slice(&self.signature);
            for (chunk, h) in rest.chunks_exact_mut(HEADER_LEN).zip(&self.headers) {
                chunk.copy_from_slice(&h.to_bytes());
            }
        })
    }

    fn parse(bytes: &[u8]) -> Result<PostCountProof, ZkError> {
        let len = bytes.len();
        let count = len.saturating_sub(SIGNATURE_LEN) / HEADER_LEN;
        if len < PostCountProof::len_for(1)
            || len > PostCountProof::ENCODED_LEN_MAX
            || PostCountProof::len_for(count) != len
        {
            return Err(ZkError::ProofLength {
                len,
                expected: PostCountProof::len_for(count.clamp(1, POST_COUNT_MAX)),
            });
        }
        let (signature, rest) = bytes.split_at(SIGNATURE_LEN);
        let signature: Signature = signature.try_into().map_err(|_| ZkError::ProofLength {
            len,
            expected: PostCountProof::len_for(count),
        })?;
        let mut headers = Vec::new();
        for chunk in rest.chunks_exact(HEADER_LEN) {
            let h = Header::decode(chunk)?;
            headers.push(h).map_err(|_| ZkError::ProofLength {
                len,
                expected: PostCountProof::ENCODED_LEN_MAX,
            })?;
        }
        Ok(PostCountProof { signature, headers })
    }
}

/// The witness for a [`PostCount`]: the author's keys and their post headers.
#[derive(Clone, Debug)]
pub struct PostCountWitness {
    keys: KeyPair,
    posts: Vec<Header, POST_COUNT_MAX>,
}

impl PostCountWitness {
    /// Picks, from `headers`, the author's post headers in increasing seq order (one
    /// per seq, at most [`POST_COUNT_MAX`]). Other authors' headers and other kinds are
    /// skipped; nothing is verified here (the verifier does that).
    pub fn new(keys: KeyPair, headers: &[Header]) -> PostCountWitness {
        let author = keys.public();
        let mut posts: Vec<Header, POST_COUNT_MAX> = Vec::new();
        let mut last_seq = 0u64;
        // Selection by repeated minimum: at most POST_COUNT_MAX passes over `headers`,
        // each picking the lowest seq above the last one taken.
        for _ in 0..POST_COUNT_MAX {
            let next = headers
                .iter()
                .filter(|h| h.author == author && h.kind == BlockKind::Post && h.seq > last_seq)
                .min_by_key(|h| h.seq);
            let Some(h) = next else { break };
            last_seq = h.seq;
            if posts.push(*h).is_err() {
                break;
            }
        }
        PostCountWitness { keys, posts }
    }

    /// The author: the key pair's public key.
    pub fn author(&self) -> PublicKey {
        self.keys.public()
    }

    /// The number of posts this witness can show.
    pub fn posts(&self) -> usize {
        self.posts.len()
    }
}

impl Prover<KnowsKey> for Placeholder {
    type Witness = KeyPair;
    type Proof = SignatureProof;

    fn prove<R: CryptoRng + ?Sized>(
        &self,
        statement: &KnowsKey,
        witness: &KeyPair,
        binding: &Binding<'_>,
        _rng: &mut R,
    ) -> Result<SignatureProof, ZkError> {
        check_witness(statement, &statement.key, witness)?;
        Ok(SignatureProof {
            signature: sign(witness, &knows_key_digest(statement, binding)),
        })
    }
}

impl Verifier<KnowsKey> for Placeholder {
    type Proof = SignatureProof;

    fn verify(
        &self,
        statement: &KnowsKey,
        proof: &SignatureProof,
        binding: &Binding<'_>,
    ) -> Result<(), ZkError> {
        statement.validate()?;
        let digest = knows_key_digest(statement, binding);
        check_signature(&statement.key, &digest, &proof.signature)
    }
}

impl Prover<RingMember<'_>> for Placeholder {
    type Witness = KeyPair;
    type Proof = MemberSignatureProof;

    fn prove<R: CryptoRng + ?Sized>(
        &self,
        statement: &RingMember<'_>,
        witness: &KeyPair,
        binding: &Binding<'_>,
        _rng: &mut R,
    ) -> Result<MemberSignatureProof, ZkError> {
        statement.validate()?;
        let me = witness.public();
        let index = statement
            .members
            .iter()
            .position(|k| *k == me)
            .ok_or(ZkError::NotAMember)?;
        let index = u8::try_from(index).map_err(|_| ZkError::NotAMember)?;
        Ok(MemberSignatureProof {
            index,
            signature: sign(witness, &ring_digest(statement, binding)),
        })
    }
}

impl Verifier<RingMember<'_>> for Placeholder {
    type Proof = MemberSignatureProof;

    fn verify(
        &self,
        statement: &RingMember<'_>,
        proof: &MemberSignatureProof,
        binding: &Binding<'_>,
    ) -> Result<(), ZkError> {
        statement.validate()?;
        let key = statement
            .members
            .get(usize::from(proof.index))
            .ok_or(ZkError::Rejected)?;
        let digest = ring_digest(statement, binding);
        check_signature(key, &digest, &proof.signature)
    }
}

impl Prover<PostCount> for Placeholder {
    type Witness = PostCountWitness;
    type Proof = PostCountProof;

    fn prove<R: CryptoRng + ?Sized>(
        &self,
        statement: &PostCount,
        witness: &PostCountWitness,
        binding: &Binding<'_>,
        _rng: &mut R,
    ) -> Result<PostCountProof, ZkError> {
        check_witness(statement, &statement.author, &witness.keys)?;
        let needed = usize::from(statement.posts);
        let shown = witness.posts.get(..needed).ok_or(ZkError::TooFewHeaders {
            needed,
            got: witness.posts.len(),
        })?;
        let headers = Vec::from_slice(shown).map_err(|_| ZkError::PostCountRange {
            posts: statement.posts,
            max: POST_COUNT_MAX,
        })?;
        Ok(PostCountProof {
            signature: sign(&witness.keys, &post_count_digest(statement, shown, binding)),
            headers,
        })
    }
}

impl Verifier<PostCount> for Placeholder {
    type Proof = PostCountProof;

    fn verify(
        &self,
        statement: &PostCount,
        proof: &PostCountProof,
        binding: &Binding<'_>,
    ) -> Result<(), ZkError> {
        statement.validate()?;
        let needed = usize::from(statement.posts);
        if proof.headers.len() < needed {
            return Err(ZkError::TooFewHeaders {
                needed,
                got: proof.headers.len(),
            });
        }
        let mut last_seq = 0u64;
        for (index, h) in proof.headers.iter().enumerate() {
            if h.author != statement.author {
                return Err(ZkError::ForeignAuthor { index });
            }
            if h.kind != BlockKind::Post {
                return Err(ZkError::NotAPost { index });
            }
            if h.seq <= last_seq {
                return Err(ZkError::SeqOrder { index });
            }
            last_seq = h.seq;
            h.verify_signature()
                .map_err(|reason| ZkError::BadHeaderSignature { index, reason })?;
            check_links(h, proof.headers.get(..index).unwrap_or(&[]))
                .map_err(|()| ZkError::BrokenLink { index })?;
        }
        let digest = post_count_digest(statement, &proof.headers, binding);
        check_signature(&statement.author, &digest, &proof.signature)
    }
}

/// `h`'s `prev` and `skip` against the earlier headers shown: where the proof shows
/// the block a link points to, the link must name exactly that block.
fn check_links(h: &Header, earlier: &[Header]) -> Result<(), ()> {
    if h.seq == 1 {
        return if h.prev.is_zero() && h.skip.is_zero() {
            Ok(())
        } else {
            Err(())
        };
    }
    let skip_seq = lipmaa(h.seq);
    for e in earlier {
        if e.seq + 1 == h.seq && e.id() != h.prev {
            return Err(());
        }
        if e.seq == skip_seq && e.id() != h.skip {
            return Err(());
        }
    }
    Ok(())
}
