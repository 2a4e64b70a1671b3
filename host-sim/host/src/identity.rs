//! The identity in a data directory: the seed file, how it is created and loaded.
//!
//! The seed file is created 0600 (never through a symlink, never over an existing
//! file) and refused when group or others may read or write it, as ssh refuses a
//! private key. It holds the seed in hex, or, made with a passphrase, the seed
//! encrypted under it ([`crate::passphrase`]).

use crate::datadir::DataDir;
use crate::error::DataDirError;
use crate::fsutil::{check_private_file, write_new_atomic};
use crate::passphrase;
use glitter_core::sig::KeyPair;
use std::path::PathBuf;

type Result<T, E = DataDirError> = std::result::Result<T, E>;

/// The seed file's name inside a data directory.
pub const SEED_FILE: &str = "identity.seed";

impl DataDir {
    fn seed_path(&self) -> PathBuf {
        self.root().join(SEED_FILE)
    }

    /// Creates the identity from `seed`, in a plain (mode 0600) seed file.
    ///
    /// # Errors
    /// If an identity already exists (it is never overwritten), or on I/O failure.
    pub fn create_identity(&self, seed: [u8; 32]) -> Result<KeyPair> {
        self.create_identity_with(seed, None)
    }

    /// Creates the identity from `seed`; with a passphrase the seed is stored
    /// encrypted under it.
    ///
    /// # Errors
    /// If an identity already exists (it is never overwritten), or on I/O failure.
    pub fn create_identity_with(&self, seed: [u8; 32], pass: Option<&str>) -> Result<KeyPair> {
        let path = self.seed_path();
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(DataDirError::IdentityExists { path });
        }
        let keys = KeyPair::from_seed(seed).map_err(|source| DataDirError::ZeroSeed {
            path: path.clone(),
            source,
        })?;
        keys.public()
            .validate()
            .map_err(DataDirError::UnusableKey)?;
        let text = match pass {
            None => zeroize::Zeroizing::new(hex::encode(seed)),
            Some(p) => zeroize::Zeroizing::new(passphrase::seal(&seed, p).map_err(|source| {
                DataDirError::Locked {
                    path: path.clone(),
                    source,
                }
            })?),
        };
        write_new_atomic(&path, text.as_bytes(), true).map_err(|e| match e {
            DataDirError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                DataDirError::IdentityExists { path: path.clone() }
            }
            e => e,
        })?;
        Ok(keys)
    }

    /// Loads the identity (asking for the passphrase if the seed is encrypted).
    ///
    /// # Errors
    /// If there is none (run `glitter keygen`), it cannot be read (the OS error), it
    /// is readable by others, the passphrase is wrong, or the file is malformed.
    pub fn identity(&self) -> Result<KeyPair> {
        let path = self.seed_path();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => zeroize::Zeroizing::new(t),
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataDirError::NoIdentity { path, source });
            }
            Err(source) => return Err(DataDirError::Unreadable { path, source }),
        };
        check_private_file(&path)?;
        if passphrase::is_encrypted(&text) {
            let seed = passphrase::unlock(&path, &text).map_err(|source| DataDirError::Locked {
                path: path.clone(),
                source,
            })?;
            return KeyPair::from_seed(*seed)
                .map_err(|source| DataDirError::ZeroSeed { path, source });
        }
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| DataDirError::BadSeed { path: path.clone() })?;
        KeyPair::from_seed(seed).map_err(|source| DataDirError::ZeroSeed { path, source })
    }
}
