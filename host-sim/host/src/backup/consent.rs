//! A custodian's consent and quotas: which owners its operator agreed to hold backups
//! for, and how many bytes it holds for them.
//!
//! ```text
//! custody.accepted   in the data directory: one owner key (64 hex digits) a line
//! ```
//!
//! The file is written atomically (a new temporary file, synced, renamed over the old
//! one: [`crate::fsutil::write_atomic`]), read with a bound ([`read_regular`]: a
//! regular file of at most [`ACCEPTED_FILE_LEN_MAX`] bytes), and names at most
//! [`ACCEPTED_MAX`] owners. Blank lines and lines starting with `#` are comments.
//!
//! Whom a custodian holds backups for is one rule, [`CustodyPolicy::admits`]: an owner
//! the operator accepted (`glitter node custody accept OWNER`), or, only under
//! [`CustodyPolicy::Follows`], an author the node follows. How much it holds is
//! [`CustodyQuota::check`], against the bytes on disk ([`custody_usage`]) and those the
//! new version would take ([`stored_bytes`]), before anything is written.
//!
//! [`custody_usage`]: super::files::custody_usage
//! [`stored_bytes`]: super::files::stored_bytes

use super::files::CustodyUsage;
use crate::account::author_arg;
use crate::chainfile::read_regular;
use crate::error::{ConsentError, QuotaError};
use crate::fsutil::write_atomic;
use glitter_core::sig::PublicKey;
use std::path::{Path, PathBuf};

/// The consent file's name in the data directory.
pub const ACCEPTED_FILE: &str = "custody.accepted";
/// Most owners a custodian accepts (as many as a node keeps backups for).
pub const ACCEPTED_MAX: usize = 256;
/// The longest consent file read: a header line and [`ACCEPTED_MAX`] keys, with room
/// for comments.
pub const ACCEPTED_FILE_LEN_MAX: u64 = 64 * 1024;

const HEADER: &str = "# glitter custody consent v1: the owners this node holds backups for\n";

/// Whom a custodian holds backups for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CustodyPolicy {
    /// Only owners the operator accepted (`glitter node custody accept OWNER`). The
    /// default.
    #[default]
    Accepted,
    /// Accepted owners, and every author the node follows.
    Follows,
}

impl CustodyPolicy {
    /// The one admission rule: may `owner` hand this custodian a backup?
    pub fn admits(&self, accepted: &Accepted, follows: &[PublicKey], owner: &PublicKey) -> bool {
        accepted.contains(owner) || (*self == CustodyPolicy::Follows && follows.contains(owner))
    }

    /// The policy's name, as the `--custody-policy` flag spells it.
    pub fn name(&self) -> &'static str {
        match self {
            CustodyPolicy::Accepted => "accepted",
            CustodyPolicy::Follows => "follows",
        }
    }
}

/// The owners a custodian's operator accepted, as kept in [`ACCEPTED_FILE`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    owners: Vec<PublicKey>,
}

fn path_of(root: &Path) -> PathBuf {
    root.join(ACCEPTED_FILE)
}

impl Accepted {
    /// Reads the consent list of the data directory `root` (none yet: empty).
    ///
    /// # Errors
    /// If the file exists but cannot be read, is not a regular file, is longer than
    /// [`ACCEPTED_FILE_LEN_MAX`], has a line that is not a usable key, or names more than
    /// [`ACCEPTED_MAX`] owners.
    pub fn load(root: &Path) -> Result<Accepted, ConsentError> {
        let path = path_of(root);
        if std::fs::symlink_metadata(&path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            return Ok(Accepted::default());
        }
        let bytes = read_regular(&path, ACCEPTED_FILE_LEN_MAX).map_err(|e| ConsentError::File {
            path: path.clone(),
            what: "cannot read",
            source: Box::new(e),
        })?;
        let text = String::from_utf8(bytes).map_err(|e| ConsentError::File {
            path: path.clone(),
            what: "not UTF-8",
            source: Box::new(e),
        })?;
        let mut owners = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let owner = author_arg(line).map_err(|source| ConsentError::Line {
                path: path.clone(),
                line: i + 1,
                source,
            })?;
            if !owners.contains(&owner) {
                if owners.len() == ACCEPTED_MAX {
                    return Err(ConsentError::TooMany {
                        path,
                        max: ACCEPTED_MAX,
                    });
                }
                owners.push(owner);
            }
        }
        Ok(Accepted { owners })
    }

    /// Whether `owner` is accepted.
    pub fn contains(&self, owner: &PublicKey) -> bool {
        self.owners.contains(owner)
    }

    /// The accepted owners, in the order they were accepted.
    pub fn owners(&self) -> &[PublicKey] {
        &self.owners
    }

    /// Accepts `owner` for the custodian `me` of data directory `root`, and writes the
    /// list. Returns false if it was accepted already (nothing is written then).
    ///
    /// # Errors
    /// [`ConsentError::OwnKey`] for `me`, [`ConsentError::Full`] at [`ACCEPTED_MAX`], or
    /// the write's error (the list is then unchanged, on disk and here).
    pub fn accept(
        &mut self,
        root: &Path,
        me: &PublicKey,
        owner: PublicKey,
    ) -> Result<bool, ConsentError> {
        if owner == *me {
            return Err(ConsentError::OwnKey);
        }
        if self.contains(&owner) {
            return Ok(false);
        }
        if self.owners.len() >= ACCEPTED_MAX {
            return Err(ConsentError::Full { max: ACCEPTED_MAX });
        }
        let mut next = self.owners.clone();
        next.push(owner);
        save(root, &next)?;
        self.owners = next;
        Ok(true)
    }

    /// Withdraws the acceptance of `owner` and writes the list. Returns false if it was
    /// not accepted (nothing is written then). What is held for the owner is not
    /// touched here.
    ///
    /// # Errors
    /// The write's error (the list is then unchanged, on disk and here).
    pub fn revoke(&mut self, root: &Path, owner: &PublicKey) -> Result<bool, ConsentError> {
        if !self.contains(owner) {
            return Ok(false);
        }
        let next: Vec<PublicKey> = self
            .owners
            .iter()
            .filter(|o| *o != owner)
            .copied()
            .collect();
        save(root, &next)?;
        self.owners = next;
        Ok(true)
    }
}

fn save(root: &Path, owners: &[PublicKey]) -> Result<(), ConsentError> {
    let mut text = HEADER.to_string();
    for o in owners {
        text.push_str(&o.to_string());
        text.push('\n');
    }
    let path = path_of(root);
    write_atomic(&path, text.as_bytes(), false).map_err(|e| ConsentError::File {
        path,
        what: "cannot write",
        source: Box::new(e),
    })
}

/// How many bytes a custodian holds in custody, per owner and in total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CustodyQuota {
    /// Most bytes held for one owner (its manifest block, share and shard records).
    pub per_owner: u64,
    /// Most bytes held for every owner together.
    pub total: u64,
}

impl CustodyQuota {
    /// The default per-owner quota: 64 MiB, eight times the default 8 MiB flash image
    /// (a whole chain that fits one, at any threshold, with room for its growth).
    pub const PER_OWNER_DEFAULT: u64 = 64 << 20;
    /// The default total quota: 1 GiB (sixteen owners at the per-owner quota, or all
    /// 256 at 4 MiB each).
    pub const TOTAL_DEFAULT: u64 = 1 << 30;

    /// Checks that holding `bytes` for `owner` (the whole new version, which replaces
    /// what is held for it now) stays within both quotas, given what `usage` measured.
    ///
    /// # Errors
    /// [`QuotaError::Owner`] or [`QuotaError::Total`], naming the quota.
    pub fn check(
        &self,
        usage: &CustodyUsage,
        owner: &PublicKey,
        bytes: u64,
    ) -> Result<(), QuotaError> {
        if bytes > self.per_owner {
            return Err(QuotaError::Owner {
                owner: *owner,
                bytes,
                quota: self.per_owner,
            });
        }
        let total = usage
            .total
            .saturating_sub(usage.of(owner))
            .saturating_add(bytes);
        if total > self.total {
            return Err(QuotaError::Total {
                owner: *owner,
                bytes: total,
                quota: self.total,
            });
        }
        Ok(())
    }
}

impl Default for CustodyQuota {
    fn default() -> Self {
        CustodyQuota {
            per_owner: CustodyQuota::PER_OWNER_DEFAULT,
            total: CustodyQuota::TOTAL_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glitter_core::sig::KeyPair;

    fn key(i: u16) -> PublicKey {
        let mut seed = [7u8; 32];
        seed[..2].copy_from_slice(&i.to_le_bytes());
        KeyPair::from_seed(seed).expect("a non-zero seed").public()
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("glitter-consent-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn acceptance_persists_and_revocation_too() {
        let d = tmp("persist");
        let (me, a, b) = (key(1), key(2), key(3));
        let mut acc = Accepted::load(&d).unwrap();
        assert!(acc.owners().is_empty());
        assert!(matches!(acc.accept(&d, &me, me), Err(ConsentError::OwnKey)));
        assert!(acc.accept(&d, &me, a).unwrap());
        assert!(!acc.accept(&d, &me, a).unwrap());
        assert!(acc.accept(&d, &me, b).unwrap());
        assert_eq!(Accepted::load(&d).unwrap().owners(), &[a, b]);
        assert!(acc.revoke(&d, &a).unwrap());
        assert!(!acc.revoke(&d, &a).unwrap());
        let back = Accepted::load(&d).unwrap();
        assert_eq!(back.owners(), &[b]);
        assert!(CustodyPolicy::Accepted.admits(&back, &[a], &b));
        assert!(!CustodyPolicy::Accepted.admits(&back, &[a], &a));
        assert!(CustodyPolicy::Follows.admits(&back, &[a], &a));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_bad_or_oversized_list_is_refused_and_the_table_is_bounded() {
        let d = tmp("bad");
        std::fs::write(d.join(ACCEPTED_FILE), "# c\n\nnot-a-key\n").unwrap();
        assert!(matches!(
            Accepted::load(&d),
            Err(ConsentError::Line { line: 3, .. })
        ));
        // Duplicates count once: 300 lines naming 250 owners load.
        let keys: String = (0..300u16).map(|i| format!("{}\n", key(i % 250))).collect();
        std::fs::write(d.join(ACCEPTED_FILE), &keys).unwrap();
        assert_eq!(Accepted::load(&d).unwrap().owners().len(), 250);
        let keys: String = (0..=ACCEPTED_MAX as u16)
            .map(|i| format!("{}\n", key(i)))
            .collect();
        std::fs::write(d.join(ACCEPTED_FILE), &keys).unwrap();
        assert!(matches!(
            Accepted::load(&d),
            Err(ConsentError::TooMany {
                max: ACCEPTED_MAX,
                ..
            })
        ));
        std::fs::write(d.join(ACCEPTED_FILE), vec![b'#'; 70_000]).unwrap();
        assert!(matches!(Accepted::load(&d), Err(ConsentError::File { .. })));
        let mut full = Accepted {
            owners: (0..ACCEPTED_MAX as u16).map(|i| key(i + 10)).collect(),
        };
        assert!(matches!(
            full.accept(&d, &key(1), key(2)),
            Err(ConsentError::Full { max: ACCEPTED_MAX })
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn quotas_count_the_new_version_instead_of_the_old() {
        let (a, b) = (key(2), key(3));
        let q = CustodyQuota {
            per_owner: 100,
            total: 150,
        };
        let usage = CustodyUsage {
            owners: vec![(a, 80), (b, 50)],
            total: 130,
        };
        // A's new version replaces its 80 bytes: 90 fits both quotas (50 + 90 = 140).
        assert!(q.check(&usage, &a, 90).is_ok());
        assert!(matches!(
            q.check(&usage, &a, 101),
            Err(QuotaError::Owner { quota: 100, .. })
        ));
        // B's 100 would bring the total to 180.
        assert!(matches!(
            q.check(&usage, &b, 100),
            Err(QuotaError::Total {
                bytes: 180,
                quota: 150,
                ..
            })
        ));
    }
}
