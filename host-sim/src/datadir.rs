//! A local data directory: one's identity and the chains one holds.
//!
//! Layout (format 1, simple files):
//!
//! ```text
//! <data-dir>/identity.seed         the 32-byte identity seed, hex, mode 0600
//! <data-dir>/chains/<author>.chain one chain file per author (own and imported)
//! ```
//!
//! Every write goes to a temporary file that is synced and then renamed over the old
//! one, so a crash leaves either the old or the new file, never a torn one; an invalid
//! import never touches the directory.

use crate::chainfile::{ChainFile, VerifiedChain, read_verified};
use anyhow::{Context, Result, bail};
use glitter_core::chain::{ChainState, ForkProof, Head};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::wire::header::Header;
use std::io::Write;
use std::path::{Path, PathBuf};

/// An opened data directory.
#[derive(Debug)]
pub struct DataDir {
    root: PathBuf,
}

/// What an import did.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new author's chain was stored.
    New {
        /// Blocks stored.
        blocks: usize,
    },
    /// An existing chain was extended.
    Extended {
        /// Blocks added.
        added: usize,
    },
    /// The file held nothing new.
    UpToDate,
}

impl DataDir {
    /// Opens (creating if needed) the directory at `root`.
    ///
    /// # Errors
    /// If the directory cannot be created.
    pub fn open(root: &Path) -> Result<DataDir> {
        std::fs::create_dir_all(root.join("chains"))
            .with_context(|| format!("{}: cannot create data directory", root.display()))?;
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    /// The directory path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn seed_path(&self) -> PathBuf {
        self.root.join("identity.seed")
    }

    fn chain_path(&self, author: &PublicKey) -> PathBuf {
        self.root.join("chains").join(format!("{author}.chain"))
    }

    fn fork_path(&self, author: &PublicKey) -> PathBuf {
        self.root.join("forks").join(format!("{author}.fork"))
    }

    /// Fork proofs held: (author, forked seq), verified on load (invalid files skipped).
    ///
    /// # Errors
    /// On I/O failure.
    pub fn forks(&self) -> Result<Vec<(PublicKey, u64)>> {
        let dir = self.root.join("forks");
        let mut out = Vec::new();
        if !dir.exists() {
            return Ok(out);
        }
        for e in std::fs::read_dir(dir)? {
            let bytes = std::fs::read(e?.path())?;
            if let Ok(p) = ForkProof::decode(&bytes) {
                out.push((p.author(), p.seq()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Creates the identity from `seed`.
    ///
    /// # Errors
    /// If an identity already exists (it is never overwritten), or on I/O failure.
    pub fn create_identity(&self, seed: [u8; 32]) -> Result<KeyPair> {
        let path = self.seed_path();
        if path.exists() {
            bail!(
                "{}: an identity already exists; refusing to overwrite it",
                path.display()
            );
        }
        let keys = KeyPair::from_seed(seed).map_err(|e| anyhow::anyhow!("{e}"))?;
        keys.public()
            .validate()
            .map_err(|e| anyhow::anyhow!("seed gives an unusable key: {e}"))?;
        write_atomic(&path, hex::encode(seed).as_bytes(), true)?;
        Ok(keys)
    }

    /// Loads the identity.
    ///
    /// # Errors
    /// If there is none (run `glitter keygen`), or the file is malformed.
    pub fn identity(&self) -> Result<KeyPair> {
        let path = self.seed_path();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: no identity here; run `glitter keygen` first",
                path.display()
            )
        })?;
        let seed: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|v| v.try_into().ok())
            .with_context(|| format!("{}: not a 64-hex-digit seed", path.display()))?;
        KeyPair::from_seed(seed).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The authors whose chains are stored, sorted.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn authors(&self) -> Result<Vec<PublicKey>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.root.join("chains"))? {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if let Some(hexname) = name.strip_suffix(".chain")
                && let Some(pk) = parse_author(hexname)
            {
                out.push(pk);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The verified chain of `author` (empty if none is stored).
    ///
    /// # Errors
    /// If the stored file does not verify (it was damaged outside glitter).
    pub fn chain(&self, author: &PublicKey) -> Result<VerifiedChain> {
        let path = self.chain_path(author);
        if !path.exists() {
            return Ok(VerifiedChain {
                author: *author,
                headers: Vec::new(),
                payloads: Vec::new(),
            });
        }
        read_verified(&path)
    }

    /// Appends a block with `payload` to one's own chain, stamped `now_ms`.
    ///
    /// # Errors
    /// Without an identity, or if the payload is invalid, or on I/O failure.
    pub fn append_own(&self, payload: &Payload, now_ms: u64) -> Result<Header> {
        let keys = self.identity()?;
        let mut chain = self.chain(&keys.public())?;
        let head = chain.head().map(|h| Head {
            seq: h.seq,
            id: h.id(),
            timestamp_ms: h.timestamp_ms,
        });
        let mut state = ChainState::resume(keys.public(), head)
            .map_err(|e| anyhow::anyhow!("own chain: {e}"))?;
        let mut buf = [0u8; glitter_core::PAYLOAD_LEN_MAX];
        let bytes = payload
            .encode(&mut buf)
            .map_err(|e| anyhow::anyhow!("payload: {e}"))?;
        let h = state
            .append(
                &keys,
                payload.kind(),
                now_ms,
                bytes,
                chain.headers.as_mut_slice(),
            )
            .map_err(|e| anyhow::anyhow!("append: {e}"))?;
        chain.headers.push(h);
        chain.payloads.push(Some(bytes.to_vec()));
        self.write_chain(&chain)?;
        Ok(h)
    }

    fn write_chain(&self, chain: &VerifiedChain) -> Result<()> {
        write_atomic(
            &self.chain_path(&chain.author),
            &ChainFile::from_chain(chain).to_bytes(),
            false,
        )
    }

    /// Stores a verified chain, if it extends what is held.
    ///
    /// # Errors
    /// If the chain conflicts with the stored one (a fork: the file names the seq),
    /// or on I/O failure. Nothing is written on error.
    pub fn import(&self, incoming: &VerifiedChain) -> Result<ImportOutcome> {
        let held = self.chain(&incoming.author)?;
        for (a, b) in held.headers.iter().zip(&incoming.headers) {
            if a.id() != b.id() {
                // Two valid signed blocks at one seq: keep the transferable proof and
                // mark the author as forked; the stored chain is left as it was.
                let proof = ForkProof::new(*a, *b).map_err(|e| {
                    anyhow::anyhow!("conflicting block {} is not a valid fork: {e}", a.seq)
                })?;
                std::fs::create_dir_all(self.root.join("forks"))?;
                let path = self.fork_path(&incoming.author);
                write_atomic(&path, &proof.to_bytes(), false)?;
                bail!(
                    "author {} FORKED at seq {}: fork proof saved to {}; nothing imported",
                    incoming.author,
                    a.seq,
                    path.display()
                );
            }
        }
        if incoming.headers.len() <= held.headers.len() {
            return Ok(ImportOutcome::UpToDate);
        }
        self.write_chain(incoming)?;
        Ok(if held.headers.is_empty() {
            ImportOutcome::New {
                blocks: incoming.headers.len(),
            }
        } else {
            ImportOutcome::Extended {
                added: incoming.headers.len() - held.headers.len(),
            }
        })
    }
}

/// Parses a 64-hex-digit author key.
pub fn parse_author(s: &str) -> Option<PublicKey> {
    let v: [u8; 32] = hex::decode(s.trim()).ok()?.try_into().ok()?;
    Some(PublicKey(v))
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
///
/// # Errors
/// On I/O failure; `path` is then unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    let dir = path.parent().context("path has no parent")?;
    let tmp = path.with_extension("tmp");
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = secret;
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("{}: cannot write", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot replace", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
