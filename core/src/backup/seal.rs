//! Key derivation and sealing: X25519 from Ed25519 keys, a one-step KDF, and
//! ChaCha20-Poly1305.
//!
//! - **KDF.** NIST SP 800-56C Rev. 2 §4.1, option 1 (one-step, H = SHA-256, one
//!   block): `K = SHA-256(00 00 00 01 ‖ Z ‖ FixedInfo)`, where `Z` is the shared
//!   secret (a DH output, or the seed for chain keys) and `FixedInfo` is a domain
//!   label followed by fixed-length context fields, so no two contexts share bytes.
//! - **X25519** (RFC 7748) keys come from Ed25519 keys by the birational map
//!   (ed25519-compact's `x25519` module): a custodian needs no second key.
//! - **AEAD.** ChaCha20-Poly1305 (RFC 8439), detached and in place. Every key here
//!   encrypts exactly one plaintext, so the nonce is the constant zero: a key is
//!   derived from a context that names the one message it protects, and the same
//!   context always carries the same plaintext (see each function), so a (key, nonce)
//!   pair never meets two different plaintexts, by construction.

use crate::hash::Hash;
use crate::sig::PublicKey;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use ed25519_compact as ed;
use ed25519_compact::x25519;
use sha2::{Digest, Sha256};

/// Bytes of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes of the per-backup salt.
pub const SALT_LEN: usize = 16;
/// Bytes of a share commitment in the manifest (truncated SHA-256; see [`commit_share`]).
pub const COMMIT_LEN: usize = 16;
/// The format byte of bindings and sealed records.
pub const FORMAT: u8 = 1;

/// Why sealing or opening failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SealError {
    /// A public key has no usable X25519 form (small order or not a point).
    BadPublicKey,
    /// The seed is all zero.
    ZeroSeed,
    /// The DH output is all zero (a small-order peer key).
    WeakSharedSecret,
    /// Authentication failed: the bytes were altered, or are for another key.
    Forged,
    /// The record's bytes are malformed (length or format byte).
    Malformed,
    /// The AEAD refused the buffer (longer than ChaCha20-Poly1305 allows).
    TooLong,
}

impl core::fmt::Display for SealError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SealError::BadPublicKey => "public key has no usable X25519 form",
            SealError::ZeroSeed => "all-zero seed",
            SealError::WeakSharedSecret => "X25519 shared secret is zero (small-order key)",
            SealError::Forged => "authentication failed: altered or not for this key",
            SealError::Malformed => "malformed sealed record",
            SealError::TooLong => "buffer too long for the AEAD",
        })
    }
}

impl core::error::Error for SealError {}

/// SP 800-56C one-step KDF with SHA-256 (see the module docs).
pub fn kdf(label: &[u8], z: &[u8], context: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(1u32.to_be_bytes());
    h.update(z);
    h.update(label);
    for c in context {
        h.update(c);
    }
    h.finalize().into()
}

/// The X25519 secret key of the Ed25519 identity with `seed`.
///
/// # Errors
/// [`SealError::ZeroSeed`].
pub fn x25519_secret(seed: &[u8; 32]) -> Result<x25519::SecretKey, SealError> {
    let kp = ed::KeyPair::try_from_seed(ed::Seed::new(*seed)).map_err(|_| SealError::ZeroSeed)?;
    x25519::SecretKey::from_ed25519(&kp.sk).map_err(|_| SealError::ZeroSeed)
}

/// The X25519 public key of an Ed25519 public key.
///
/// # Errors
/// [`SealError::BadPublicKey`] for keys that are not points or have small order.
pub fn x25519_public(key: &PublicKey) -> Result<x25519::PublicKey, SealError> {
    key.validate().map_err(|_| SealError::BadPublicKey)?;
    x25519::PublicKey::from_ed25519(&ed::PublicKey::new(key.0)).map_err(|_| SealError::BadPublicKey)
}

/// X25519 between `secret` and `public`.
///
/// # Errors
/// [`SealError::WeakSharedSecret`] if the result is zero.
pub fn dh(secret: &x25519::SecretKey, public: &x25519::PublicKey) -> Result<[u8; 32], SealError> {
    let out = public.dh(secret).map_err(|_| SealError::WeakSharedSecret)?;
    Ok(*out)
}

/// Encrypts `buf` in place under `key` (nonce zero: one message per key) with `aad`.
///
/// # Errors
/// [`SealError::TooLong`].
pub fn encrypt(key: &[u8; 32], aad: &[u8], buf: &mut [u8]) -> Result<[u8; TAG_LEN], SealError> {
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    let nonce = Nonce::from([0u8; 12]);
    let tag = cipher
        .encrypt_inout_detached(&nonce, aad, buf.into())
        .map_err(|_| SealError::TooLong)?;
    Ok(tag.into())
}

/// Decrypts `buf` in place; on failure `buf` is left as ciphertext.
///
/// # Errors
/// [`SealError::Forged`].
pub fn decrypt(
    key: &[u8; 32],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), SealError> {
    let cipher = ChaCha20Poly1305::new(&Key::from(*key));
    let nonce = Nonce::from([0u8; 12]);
    cipher
        .decrypt_inout_detached(&nonce, aad, buf.into(), &Tag::from(*tag))
        .map_err(|_| SealError::Forged)
}

/// What a share is bound to: whose seed, which backup, which point, which custodian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ShareBinding {
    /// The owner whose seed is shared.
    pub owner: PublicKey,
    /// The custodian who holds this share.
    pub custodian: PublicKey,
    /// The backup version (from the manifest).
    pub version: u64,
    /// The share index `x`, 1..=n.
    pub index: u8,
    /// The threshold k.
    pub threshold: u8,
    /// The number of shares n.
    pub count: u8,
    /// The backup's salt (from the manifest).
    pub salt: [u8; SALT_LEN],
}

impl ShareBinding {
    /// Encoded length: format ‖ owner ‖ custodian ‖ version (LE) ‖ index ‖ k ‖ n ‖ salt.
    pub const LEN: usize = 1 + 32 + 32 + 8 + 1 + 1 + 1 + SALT_LEN;

    /// The fixed-layout bytes (also the AEAD's associated data).
    pub fn to_bytes(&self) -> [u8; ShareBinding::LEN] {
        let mut out = [0u8; ShareBinding::LEN];
        let mut w = Writer::new(&mut out);
        w.put(&[FORMAT]);
        w.put(&self.owner.0);
        w.put(&self.custodian.0);
        w.put(&self.version.to_le_bytes());
        w.put(&[self.index, self.threshold, self.count]);
        w.put(&self.salt);
        out
    }

    /// Parses the fixed layout.
    ///
    /// # Errors
    /// [`SealError::Malformed`] for a wrong length or format byte.
    pub fn parse(bytes: &[u8]) -> Result<ShareBinding, SealError> {
        let mut r = Reader::new(bytes);
        if r.arr::<1>()? != [FORMAT] {
            return Err(SealError::Malformed);
        }
        let owner = PublicKey(r.arr()?);
        let custodian = PublicKey(r.arr()?);
        let version = u64::from_le_bytes(r.arr()?);
        let [index, threshold, count] = r.arr()?;
        let salt = r.arr()?;
        r.end()?;
        Ok(ShareBinding {
            owner,
            custodian,
            version,
            index,
            threshold,
            count,
            salt,
        })
    }
}

/// The manifest's commitment to one share: the first [`COMMIT_LEN`] bytes of
/// `SHA-256("glitter/backup/v1/commit" ‖ binding ‖ share)`.
///
/// 16 bytes suffice: the owner computes the commitment, and a custodian who wants a
/// different share to pass must find a second preimage of a fixed 128-bit value.
/// It reveals nothing about the seed beyond what the public key already does: with
/// k − 1 shares, checking a guessed seed against it is no easier than checking the
/// guess against the public key, and the seed has 256 bits.
pub fn commit_share(binding: &ShareBinding, share: &[u8; 32]) -> [u8; COMMIT_LEN] {
    let h = Hash::of_parts(&[b"glitter/backup/v1/commit", &binding.to_bytes(), share]);
    let mut out = [0u8; COMMIT_LEN];
    for (o, b) in out.iter_mut().zip(h.0.iter()) {
        *o = *b;
    }
    out
}

/// A share sealed by its owner to its custodian, as the custodian stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SealedShare {
    /// What the share is bound to (the AEAD's associated data).
    pub binding: ShareBinding,
    /// The encrypted share value.
    pub ciphertext: [u8; 32],
    /// The Poly1305 tag.
    pub tag: [u8; TAG_LEN],
}

impl SealedShare {
    /// Encoded length: binding ‖ ciphertext ‖ tag.
    pub const LEN: usize = ShareBinding::LEN + 32 + TAG_LEN;

    /// The fixed-layout bytes.
    pub fn to_bytes(&self) -> [u8; SealedShare::LEN] {
        record_bytes(&self.binding.to_bytes(), &self.ciphertext, &self.tag)
    }

    /// Parses the fixed layout.
    ///
    /// # Errors
    /// [`SealError::Malformed`].
    pub fn parse(bytes: &[u8]) -> Result<SealedShare, SealError> {
        let (aad, (ciphertext, tag)) = split_record(bytes, ShareBinding::LEN)?;
        Ok(SealedShare {
            binding: ShareBinding::parse(aad)?,
            ciphertext,
            tag,
        })
    }
}

/// A sealed record's bytes: its associated data (for a share, the binding; for a
/// release, the binding and the requester), the ciphertext, the tag. `N` is the
/// record's length, `aad.len() + 32 + TAG_LEN`.
fn record_bytes<const N: usize>(aad: &[u8], ciphertext: &[u8; 32], tag: &[u8; TAG_LEN]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut w = Writer::new(&mut out);
    w.put(aad);
    w.put(ciphertext);
    w.put(tag);
    out
}

/// The ciphertext and the tag that end every sealed record.
type Sealed = ([u8; 32], [u8; TAG_LEN]);

/// Splits a sealed record of [`record_bytes`]' layout, whose associated data is
/// `aad_len` bytes, into associated data and (ciphertext, tag).
fn split_record(bytes: &[u8], aad_len: usize) -> Result<(&[u8], Sealed), SealError> {
    let mut r = Reader::new(bytes);
    let aad = r.take(aad_len)?;
    let sealed = (r.arr()?, r.arr()?);
    r.end()?;
    Ok((aad, sealed))
}

fn share_key(shared: &[u8; 32], binding: &ShareBinding) -> [u8; 32] {
    kdf(b"glitter/backup/v1/share", shared, &[&binding.to_bytes()])
}

/// Seals `share` from the owner (whose seed is `owner_seed`) to `binding.custodian`:
/// static-static X25519, the KDF over the DH output and the binding, then
/// ChaCha20-Poly1305 with the binding as associated data.
///
/// One binding names one share of one backup (the salt is fresh per backup and the
/// share values are a function of the seed, the version and that salt), so each key
/// seals one plaintext.
///
/// # Errors
/// [`SealError::ZeroSeed`], [`SealError::BadPublicKey`] or
/// [`SealError::WeakSharedSecret`].
pub fn seal_share(
    owner_seed: &[u8; 32],
    binding: &ShareBinding,
    share: &[u8; 32],
) -> Result<SealedShare, SealError> {
    let shared = dh(
        &x25519_secret(owner_seed)?,
        &x25519_public(&binding.custodian)?,
    )?;
    let mut ciphertext = *share;
    let tag = encrypt(
        &share_key(&shared, binding),
        &binding.to_bytes(),
        &mut ciphertext,
    )?;
    Ok(SealedShare {
        binding: *binding,
        ciphertext,
        tag,
    })
}

/// Opens a sealed share with the custodian's seed.
///
/// # Errors
/// [`SealError::Forged`] if it was altered or is not for this custodian, or a key
/// error as [`seal_share`].
pub fn open_share(custodian_seed: &[u8; 32], sealed: &SealedShare) -> Result<[u8; 32], SealError> {
    let shared = dh(
        &x25519_secret(custodian_seed)?,
        &x25519_public(&sealed.binding.owner)?,
    )?;
    let mut value = sealed.ciphertext;
    decrypt(
        &share_key(&shared, &sealed.binding),
        &sealed.binding.to_bytes(),
        &mut value,
        &sealed.tag,
    )?;
    Ok(value)
}

/// A restoring device's one-time X25519 key pair, from 32 random bytes the caller
/// draws (the device has no identity yet).
#[derive(Clone, Debug)]
pub struct RequesterKey {
    secret: x25519::SecretKey,
    public: [u8; 32],
}

impl RequesterKey {
    /// The key pair for `random` (use fresh randomness for every restore attempt).
    ///
    /// # Errors
    /// [`SealError::WeakSharedSecret`] for the (negligible) bytes that give no key.
    pub fn new(random: [u8; 32]) -> Result<RequesterKey, SealError> {
        let secret = x25519::SecretKey::new(random);
        let public = *secret
            .recover_public_key()
            .map_err(|_| SealError::WeakSharedSecret)?;
        Ok(RequesterKey { secret, public })
    }

    /// The public half, sent to custodians with the request.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }
}

/// A share released by its custodian to a restoring device, sealed to the device's
/// one-time key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SealedRelease {
    /// The share's binding, as the custodian holds it.
    pub binding: ShareBinding,
    /// The requester's one-time X25519 public key.
    pub requester: [u8; 32],
    /// The encrypted share value.
    pub ciphertext: [u8; 32],
    /// The Poly1305 tag.
    pub tag: [u8; TAG_LEN],
}

impl SealedRelease {
    /// Encoded length: binding ‖ requester ‖ ciphertext ‖ tag.
    pub const LEN: usize = ShareBinding::LEN + 32 + 32 + TAG_LEN;

    /// The fixed-layout bytes.
    pub fn to_bytes(&self) -> [u8; SealedRelease::LEN] {
        record_bytes(&self.aad(), &self.ciphertext, &self.tag)
    }

    /// Parses the fixed layout.
    ///
    /// # Errors
    /// [`SealError::Malformed`].
    pub fn parse(bytes: &[u8]) -> Result<SealedRelease, SealError> {
        let (aad, (ciphertext, tag)) = split_record(bytes, ShareBinding::LEN + 32)?;
        let (binding, requester) = aad
            .split_at_checked(ShareBinding::LEN)
            .ok_or(SealError::Malformed)?;
        Ok(SealedRelease {
            binding: ShareBinding::parse(binding)?,
            requester: requester.try_into().map_err(|_| SealError::Malformed)?,
            ciphertext,
            tag,
        })
    }

    fn aad(&self) -> [u8; ShareBinding::LEN + 32] {
        let mut out = [0u8; ShareBinding::LEN + 32];
        let mut w = Writer::new(&mut out);
        w.put(&self.binding.to_bytes());
        w.put(&self.requester);
        out
    }
}

fn release_key(shared: &[u8; 32], aad: &[u8]) -> [u8; 32] {
    kdf(b"glitter/backup/v1/release", shared, &[aad])
}

/// The custodian opens its sealed share and re-seals it to a restoring device's
/// one-time key (static-ephemeral X25519): only that device can read it, and only this
/// custodian (or the owner) could have made it. One key per (one-time key, binding),
/// and a binding has one share value, so each key seals one plaintext.
///
/// # Errors
/// As [`open_share`], or [`SealError::BadPublicKey`] for a bad requester key.
pub fn release_share(
    custodian_seed: &[u8; 32],
    sealed: &SealedShare,
    requester: &[u8; 32],
) -> Result<SealedRelease, SealError> {
    let value = open_share(custodian_seed, sealed)?;
    let shared = dh(
        &x25519_secret(custodian_seed)?,
        &x25519::PublicKey::new(*requester),
    )?;
    let mut out = SealedRelease {
        binding: sealed.binding,
        requester: *requester,
        ciphertext: value,
        tag: [0; TAG_LEN],
    };
    let aad = out.aad();
    out.tag = encrypt(&release_key(&shared, &aad), &aad, &mut out.ciphertext)?;
    Ok(out)
}

/// The restoring device opens a release: the share value, authenticated as coming
/// from `release.binding.custodian`.
///
/// # Errors
/// [`SealError::Forged`] if altered, not for this requester, or not from the named
/// custodian; [`SealError::BadPublicKey`] for an unusable custodian key.
pub fn open_release(
    requester: &RequesterKey,
    release: &SealedRelease,
) -> Result<[u8; 32], SealError> {
    if release.requester != requester.public {
        return Err(SealError::Forged);
    }
    let shared = dh(
        &requester.secret,
        &x25519_public(&release.binding.custodian)?,
    )?;
    let aad = release.aad();
    let mut value = release.ciphertext;
    decrypt(&release_key(&shared, &aad), &aad, &mut value, &release.tag)?;
    Ok(value)
}

/// The key that encrypts the chain export of seqs `first..=last` in backup `version`.
///
/// Derived from the seed, so a restored seed yields it, and from the range: the
/// plaintext of a range is the canonical export of those blocks, which a chain that
/// never forks fixes once and for all, so one key only ever meets one plaintext.
pub fn chain_key(
    seed: &[u8; 32],
    owner: &PublicKey,
    version: u64,
    first: u64,
    last: u64,
) -> [u8; 32] {
    kdf(
        b"glitter/backup/v1/chain",
        seed,
        &[
            &owner.0,
            &version.to_le_bytes(),
            &first.to_le_bytes(),
            &last.to_le_bytes(),
        ],
    )
}

/// Writes fixed-layout records; callers size the buffer exactly.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, pos: 0 }
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

/// Reads fixed-layout records strictly.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], SealError> {
        let end = self.pos.checked_add(n).ok_or(SealError::Malformed)?;
        let s = self.bytes.get(self.pos..end).ok_or(SealError::Malformed)?;
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn arr<const N: usize>(&mut self) -> Result<[u8; N], SealError> {
        self.take(N)?.try_into().map_err(|_| SealError::Malformed)
    }

    pub(crate) fn end(&self) -> Result<(), SealError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(SealError::Malformed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sig::KeyPair;

    fn binding(owner: PublicKey, custodian: PublicKey) -> ShareBinding {
        ShareBinding {
            owner,
            custodian,
            version: 3,
            index: 2,
            threshold: 2,
            count: 3,
            salt: [9; SALT_LEN],
        }
    }

    #[test]
    fn rfc7748_x25519_vector() {
        // RFC 7748 §6.1: Alice's private key, Bob's public key, shared secret K.
        let a: [u8; 32] =
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap()
                .try_into()
                .unwrap();
        let b: [u8; 32] =
            hex::decode("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
                .unwrap()
                .try_into()
                .unwrap();
        let k = dh(&x25519::SecretKey::new(a), &x25519::PublicKey::new(b)).unwrap();
        assert_eq!(
            hex::encode(k),
            "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
        );
    }

    #[test]
    fn rfc8439_aead_vector() {
        // RFC 8439 §2.8.2, with its nonce: checks the crate, then our zero-nonce wrapper
        // only round-trips.
        let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
        let nonce: [u8; 12] = [7, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47];
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let mut msg = *b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let cipher = ChaCha20Poly1305::new(&Key::from(key));
        let tag = cipher
            .encrypt_inout_detached(&Nonce::from(nonce), &aad, (&mut msg[..]).into())
            .unwrap();
        assert_eq!(hex::encode(&msg[..16]), "d31a8d34648e60db7b86afbc53ef7ec2");
        assert_eq!(hex::encode(tag), "1ae10b594f09e26a7e902ecbd0600691");
        let mut buf = *b"hello";
        let t = encrypt(&key, b"ad", &mut buf).unwrap();
        assert_ne!(&buf, b"hello");
        assert_eq!(decrypt(&key, b"ad", &mut buf, &t), Ok(()));
        assert_eq!(&buf, b"hello");
    }

    #[test]
    fn share_roundtrip_and_forgery() {
        let owner = KeyPair::from_seed([1; 32]).unwrap();
        let cust = KeyPair::from_seed([2; 32]).unwrap();
        let other = KeyPair::from_seed([3; 32]).unwrap();
        let b = binding(owner.public(), cust.public());
        let share = [0x42; 32];
        let s = seal_share(&owner.seed(), &b, &share).unwrap();
        assert_eq!(SealedShare::parse(&s.to_bytes()), Ok(s));
        assert_eq!(open_share(&cust.seed(), &s), Ok(share));
        assert_eq!(open_share(&other.seed(), &s), Err(SealError::Forged));
        let bytes = s.to_bytes();
        for i in 0..bytes.len() {
            let mut t = bytes;
            t[i] ^= 1;
            match SealedShare::parse(&t) {
                Ok(p) => assert!(open_share(&cust.seed(), &p).is_err(), "bit at {i}"),
                Err(e) => assert_eq!(e, SealError::Malformed),
            }
        }
        // Release to a device.
        let dev = RequesterKey::new([5; 32]).unwrap();
        let r = release_share(&cust.seed(), &s, &dev.public()).unwrap();
        assert_eq!(SealedRelease::parse(&r.to_bytes()), Ok(r));
        assert_eq!(open_release(&dev, &r), Ok(share));
        let dev2 = RequesterKey::new([6; 32]).unwrap();
        assert_eq!(open_release(&dev2, &r), Err(SealError::Forged));
        let mut lie = r;
        lie.binding.custodian = other.public();
        assert_eq!(open_release(&dev, &lie), Err(SealError::Forged));
        assert_eq!(SealedShare::parse(&bytes[..10]), Err(SealError::Malformed));
    }
}
