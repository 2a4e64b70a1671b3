//! An identity seed encrypted at rest under a passphrase (optional; the plain seed
//! file is the default).
//!
//! File format (`identity.seed`, two lines of text):
//!
//! ```text
//! glitter-seed-v2 argon2id m=65536 t=3 p=1 salt=<32 hex digits> nonce=<48 hex digits>
//! <96 hex digits: the 32-byte seed encrypted with XChaCha20-Poly1305, then its 16-byte tag>
//! ```
//!
//! The key is Argon2id (version 0x13) of the passphrase with the salt and the
//! parameters written in the header (memory `m` in KiB, `t` passes, `p` lanes); the
//! defaults are m = 64 MiB, t = 3, p = 1. The whole header line is the AEAD's
//! associated data, so changing any parameter, the salt or the nonce makes the file
//! fail to open, as does a changed ciphertext or a wrong passphrase (the two cannot
//! be told apart: "wrong passphrase or altered file").
//!
//! Test knob: with `GLITTER_ARGON2_TEST_COST=1` in the environment a *new* file uses
//! m = 64 KiB, t = 1 (fast, weak; for test suites only). Opening always uses the
//! parameters in the file.
//!
//! Where the passphrase comes from is the caller's business (the binary: a terminal
//! prompt, a file or a file descriptor): it installs a [`Provider`] with
//! [`set_provider`], which [`crate::datadir::DataDir::identity`] asks when it meets
//! an encrypted seed. An opened seed is kept for the life of the process, so one
//! command asks once.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use zeroize::Zeroizing;

/// The first word of an encrypted seed file.
pub const MAGIC: &str = "glitter-seed-v2";

/// Default Argon2id memory, KiB (64 MiB).
pub const M_KIB: u32 = 64 * 1024;
/// Default Argon2id passes.
pub const T_COST: u32 = 3;
/// Default Argon2id lanes.
pub const P_COST: u32 = 1;

/// Largest memory accepted from a file header (4 GiB), so a crafted file cannot ask
/// for more.
const M_KIB_MAX: u32 = 4 * 1024 * 1024;
/// Largest pass count accepted from a file header.
const T_MAX: u32 = 64;
/// Largest lane count accepted from a file header.
const P_MAX: u32 = 16;

/// A passphrase, wiped from memory when dropped.
pub type Passphrase = Zeroizing<String>;

/// Why an encrypted seed could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum PassphraseError {
    /// The file is an encrypted seed but its header or body is malformed.
    #[error("malformed encrypted seed file: {0}")]
    Malformed(&'static str),
    /// Authentication failed.
    #[error("wrong passphrase, or the encrypted seed file was altered; nothing changed")]
    WrongOrAltered,
    /// The seed is encrypted and nothing supplies a passphrase.
    #[error(
        "the seed is encrypted and no passphrase was given (use a terminal, \
         --passphrase-file FILE, --passphrase-fd N or GLITTER_PASSPHRASE_FILE)"
    )]
    NoProvider,
    /// The passphrase source failed (unreadable file, no terminal, …).
    #[error("cannot read the passphrase: {0}")]
    Source(String),
    /// An empty passphrase.
    #[error("the passphrase is empty")]
    Empty,
    /// Argon2 refused the parameters.
    #[error("argon2: {0}")]
    Kdf(String),
    /// No OS randomness for the salt and nonce.
    #[error(transparent)]
    Random(#[from] crate::os::NoRandomness),
}

/// What a passphrase is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To open an existing encrypted seed.
    Unlock,
    /// To encrypt a new seed (a prompt asks twice).
    Create,
}

/// Supplies a passphrase for the seed file at the path given.
pub type Provider =
    dyn Fn(&Path, Purpose) -> Result<Passphrase, PassphraseError> + Send + Sync + 'static;

static PROVIDER: OnceLock<Box<Provider>> = OnceLock::new();
static OPENED: Mutex<Vec<(PathBuf, Zeroizing<[u8; 32]>)>> = Mutex::new(Vec::new());

/// Installs the process's passphrase source (the first call wins).
pub fn set_provider(p: Box<Provider>) {
    let _ = PROVIDER.set(p);
}

/// Asks the installed provider.
///
/// # Errors
/// [`PassphraseError::NoProvider`] if none is installed, or the provider's error.
pub fn ask(path: &Path, purpose: Purpose) -> Result<Passphrase, PassphraseError> {
    let p = PROVIDER.get().ok_or(PassphraseError::NoProvider)?;
    let pass = p(path, purpose)?;
    if pass.is_empty() {
        return Err(PassphraseError::Empty);
    }
    Ok(pass)
}

/// Whether `text` is an encrypted seed file.
pub fn is_encrypted(text: &str) -> bool {
    text.starts_with(MAGIC)
}

fn params_for_new() -> (u32, u32, u32) {
    if std::env::var("GLITTER_ARGON2_TEST_COST").is_ok_and(|v| v == "1") {
        (64, 1, 1)
    } else {
        (M_KIB, T_COST, P_COST)
    }
}

fn kdf(
    pass: &str,
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> Result<Zeroizing<[u8; 32]>, PassphraseError> {
    let params = Params::new(m, t, p, Some(32)).map_err(|e| PassphraseError::Kdf(e.to_string()))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pass.as_bytes(), salt, &mut key[..])
        .map_err(|e| PassphraseError::Kdf(e.to_string()))?;
    Ok(key)
}

/// Encrypts `seed` under `pass`: the file's text.
///
/// # Errors
/// No OS randomness, or Argon2 refuses.
pub fn seal(seed: &[u8; 32], pass: &str) -> Result<String, PassphraseError> {
    seal_with(seed, pass, params_for_new())
}

fn seal_with(
    seed: &[u8; 32],
    pass: &str,
    (m, t, p): (u32, u32, u32),
) -> Result<String, PassphraseError> {
    let r = crate::os::random32()?;
    let n = crate::os::random32()?;
    let (salt, nonce) = (&r[..16], &n[..24]);
    let header = format!(
        "{MAGIC} argon2id m={m} t={t} p={p} salt={} nonce={}",
        hex::encode(salt),
        hex::encode(nonce)
    );
    let key = kdf(pass, salt, m, t, p)?;
    let mut buf = Zeroizing::new(*seed);
    let tag = XChaCha20Poly1305::new(&(*key).into())
        .encrypt_inout_detached(
            &XNonce::try_from(nonce).map_err(|_| PassphraseError::Malformed("nonce"))?,
            header.as_bytes(),
            (&mut buf[..]).into(),
        )
        .map_err(|_| PassphraseError::Malformed("seed too long"))?;
    let mut body = buf.to_vec();
    body.extend_from_slice(&tag);
    Ok(format!("{header}\n{}\n", hex::encode(body)))
}

fn field<'a>(words: &mut std::str::SplitWhitespace<'a>, name: &str) -> Option<&'a str> {
    words.next()?.strip_prefix(name)?.strip_prefix('=')
}

/// Decrypts an encrypted seed file's `text` under `pass`.
///
/// # Errors
/// Malformed text, or [`PassphraseError::WrongOrAltered`].
pub fn open(text: &str, pass: &str) -> Result<Zeroizing<[u8; 32]>, PassphraseError> {
    use PassphraseError::Malformed;
    let mut lines = text.lines();
    let header = lines.next().ok_or(Malformed("empty"))?;
    let body = lines.next().ok_or(Malformed("no ciphertext line"))?;
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(Malformed("trailing lines"));
    }
    let mut w = header.split_whitespace();
    if w.next() != Some(MAGIC) {
        return Err(Malformed("not glitter-seed-v2"));
    }
    if w.next() != Some("argon2id") {
        return Err(Malformed("unknown key derivation (expected argon2id)"));
    }
    let num = |s: Option<&str>, max: u32, what| {
        s.and_then(|v| v.parse::<u32>().ok())
            .filter(|v| (1..=max).contains(v))
            .ok_or(Malformed(what))
    };
    let m = num(field(&mut w, "m"), M_KIB_MAX, "argon2 memory m")?;
    let t = num(field(&mut w, "t"), T_MAX, "argon2 passes t")?;
    let p = num(field(&mut w, "p"), P_MAX, "argon2 lanes p")?;
    let salt = field(&mut w, "salt")
        .and_then(|s| hex::decode(s).ok())
        .filter(|s| s.len() == 16)
        .ok_or(Malformed("salt (16 bytes hex)"))?;
    let nonce = field(&mut w, "nonce")
        .and_then(|s| hex::decode(s).ok())
        .filter(|s| s.len() == 24)
        .ok_or(Malformed("nonce (24 bytes hex)"))?;
    if w.next().is_some() {
        return Err(Malformed("extra header fields"));
    }
    let body = hex::decode(body.trim()).map_err(|_| Malformed("ciphertext is not hex"))?;
    if body.len() != 48 {
        return Err(Malformed("ciphertext is not 48 bytes"));
    }
    let key = kdf(pass, &salt, m, t, p)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&body[..32]);
    let tag = Tag::try_from(&body[32..]).map_err(|_| Malformed("tag"))?;
    let nonce = XNonce::try_from(&nonce[..]).map_err(|_| Malformed("nonce"))?;
    XChaCha20Poly1305::new(&(*key).into())
        .decrypt_inout_detached(&nonce, header.as_bytes(), (&mut seed[..]).into(), &tag)
        .map_err(|_| PassphraseError::WrongOrAltered)?;
    Ok(seed)
}

/// Opens the encrypted seed at `path` (text `text`), asking the provider once per
/// process and path.
///
/// # Errors
/// As [`ask`] and [`open`].
pub fn unlock(path: &Path, text: &str) -> Result<Zeroizing<[u8; 32]>, PassphraseError> {
    let opened = OPENED
        .lock()
        .map_err(|_| PassphraseError::Source("poisoned".into()))?;
    if let Some((_, s)) = opened.iter().find(|(p, _)| p == path) {
        return Ok(s.clone());
    }
    drop(opened);
    let pass = ask(path, Purpose::Unlock)?;
    let seed = open(text, &pass)?;
    if let Ok(mut o) = OPENED.lock() {
        o.push((path.to_path_buf(), seed.clone()));
    }
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let text = seal_with(&[7u8; 32], "pw", (64, 1, 1)).unwrap();
        assert_eq!(*open(&text, "pw").unwrap(), [7u8; 32]);
        assert!(matches!(
            open(&text, "px"),
            Err(PassphraseError::WrongOrAltered)
        ));
        let flip = |i: usize| {
            let mut b = text.clone().into_bytes();
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            String::from_utf8(b).unwrap()
        };
        let body_at = text.find('\n').unwrap() + 3;
        let salt_at = text.find("salt=").unwrap() + 7;
        assert!(open(&flip(body_at), "pw").is_err());
        assert!(open(&flip(salt_at), "pw").is_err());
    }
}
