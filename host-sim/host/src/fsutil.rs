//! File-system primitives with the safety rules in one place: atomic replacement
//! (a fresh temporary file, sync, rename, sync the directory), private directories
//! for data, and private files for secrets.
//!
//! The rules, as OpenSSH and gpg keep them:
//! - a temporary file is always new: a unique name (`.<name>.<pid>.<counter>.tmp`),
//!   created with `O_CREAT|O_EXCL|O_NOFOLLOW`, so a file, directory or symlink planted
//!   under that name is never reused nor written through;
//! - a secret file has mode 0600 from the moment it exists (not chmod'ed later);
//! - a data directory is created 0700, and one owned by another user is refused.

use crate::error::DataDirError;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

type Result<T, E = DataDirError> = std::result::Result<T, E>;

fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> DataDirError {
    let path = path.to_path_buf();
    move |source| DataDirError::Io { path, what, source }
}

/// Temporary files made by this process so far (part of each temporary name).
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: a new temporary file next to it (mode 0600
/// when `secret`), fsync, rename over `path`, fsync the directory. A stale or planted
/// temporary file is never reused and a symlink is never followed.
///
/// # Errors
/// On I/O failure; `path` is then unchanged and the temporary file removed.
pub fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    let dir = path.parent().ok_or_else(|| DataDirError::NoParent {
        path: path.to_path_buf(),
    })?;
    let tmp = write_temp(path, bytes, secret)?;
    if let Err(source) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataDirError::Io {
            path: path.to_path_buf(),
            what: "cannot replace",
            source,
        });
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to the new file `path` atomically: a new temporary file as in
/// [`write_atomic`], then hard-linked to `path`, which fails if anything (a file, a
/// directory, a symlink) is already there, so nothing is ever replaced.
///
/// # Errors
/// On I/O failure (`AlreadyExists` if `path` exists); `path` is then unchanged.
pub fn write_new_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    let dir = path.parent().ok_or_else(|| DataDirError::NoParent {
        path: path.to_path_buf(),
    })?;
    let tmp = write_temp(path, bytes, secret)?;
    let linked = std::fs::hard_link(&tmp, path).map_err(io(path, "cannot create"));
    let _ = std::fs::remove_file(&tmp);
    linked?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Attempts at a fresh temporary name before giving up.
const TMP_TRIES: u32 = 1000;

/// Writes `bytes` to a new temporary file next to `path`, named
/// `.<name>.<pid>.<counter>.tmp`; a name already taken (a stale or planted file,
/// directory or symlink) is skipped, never reused nor removed. Returns its path.
fn write_temp(path: &Path, bytes: &[u8], secret: bool) -> Result<std::path::PathBuf> {
    let dir = path.parent().ok_or_else(|| DataDirError::NoParent {
        path: path.to_path_buf(),
    })?;
    let name = path.file_name().ok_or_else(|| DataDirError::NoParent {
        path: path.to_path_buf(),
    })?;
    let mut tries = 0;
    loop {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}.{n}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        match write_new(&tmp, bytes, secret) {
            Err(DataDirError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists && tries < TMP_TRIES =>
            {
                tries += 1;
            }
            r => return r.map(|()| tmp),
        }
    }
}

/// Creates `path` (which must not exist; a symlink there is not followed) and writes
/// `bytes` to it, synced.
fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // create_new is O_CREAT|O_EXCL, which already refuses a symlink; O_NOFOLLOW
        // says so twice.
        opts.custom_flags(nofollow());
        if secret {
            opts.mode(0o600);
        }
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = opts
        .open(path)
        .map_err(io(path, "cannot create a new temporary file"))?;
    let written = f
        .write_all(bytes)
        .map_err(io(path, "cannot write"))
        .and_then(|()| f.sync_all().map_err(io(path, "cannot sync")));
    if written.is_err() {
        // Ours (we just created it): remove it.
        let _ = std::fs::remove_file(path);
    }
    written
}

#[cfg(target_os = "linux")]
const fn nofollow() -> i32 {
    0o400_000
}

#[cfg(all(unix, not(target_os = "linux")))]
const fn nofollow() -> i32 {
    0x100
}

/// Creates the directory `root` (and missing parents) with mode 0700 set at
/// creation, then checks that an existing one is owned by the current user.
///
/// # Errors
/// If it cannot be created, is not a directory, or belongs to another user.
pub fn create_private_dir(root: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(root)
        .map_err(io(root, "cannot create data directory"))?;
    check_owner(root)
}

/// Refuses a directory owned by another user than the one running (root may use
/// its own directories only, like everyone else).
///
/// # Errors
/// [`DataDirError::NotOwner`] naming both uids, or the OS error of `stat`.
pub fn check_owner(root: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(root).map_err(io(root, "cannot stat data directory"))?;
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != me {
            return Err(DataDirError::NotOwner {
                path: root.to_path_buf(),
                owner: meta.uid(),
                me,
            });
        }
    }
    Ok(())
}

/// Refuses a secret file that group or others may read or write, as ssh does.
///
/// # Errors
/// [`DataDirError::TooOpen`] with the mode, or the OS error of `stat`.
pub fn check_private_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| DataDirError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(DataDirError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
