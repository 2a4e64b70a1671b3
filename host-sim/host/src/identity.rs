//! The identity in a data directory: the seed file, how it is created and loaded.

use crate::datadir::{DataDir, write_atomic};
use crate::error::DataDirError;
use glitter_core::sig::KeyPair;
use std::path::PathBuf;

type Result<T, E = DataDirError> = std::result::Result<T, E>;

/// The seed file's name inside a data directory.
pub const SEED_FILE: &str = "identity.seed";

impl DataDir {
    fn seed_path(&self) -> PathBuf {
        self.root().join(SEED_FILE)
    }

    /// Creates the identity from `seed`.
    ///
    /// # Errors
    /// If an identity already exists (it is never overwritten), or on I/O failure.
    pub fn create_identity(&self, seed: [u8; 32]) -> Result<KeyPair> {
        let path = self.seed_path();
        if path.exists() {
            return Err(DataDirError::IdentityExists { path });
        }
        let keys = KeyPair::from_seed(seed).map_err(|source| DataDirError::ZeroSeed {
            path: path.clone(),
            source,
        })?;
        keys.public()
            .validate()
            .map_err(DataDirError::UnusableKey)?;
        write_atomic(&path, hex::encode(seed).as_bytes(), true)?;
        Ok(keys)
    }

    /// Loads the identity.
    ///
    /// # Errors
    /// If there is none (run `glitter keygen`), or the file is malformed.
    pub fn identity(&self) -> Result<KeyPair> {
        let path = self.seed_path();
        let text = std::fs::read_to_string(&path).map_err(|source| DataDirError::NoIdentity {
            path: path.clone(),
            source,
        })?;
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| DataDirError::BadSeed { path: path.clone() })?;
        KeyPair::from_seed(seed).map_err(|source| DataDirError::ZeroSeed { path, source })
    }
}
