//! File-system primitives with the safety rules in one place: atomic replacement
//! (temporary file, sync, rename, sync the directory) and private files for secrets.

use crate::error::DataDirError;
use std::io::Write;
use std::path::Path;

type Result<T, E = DataDirError> = std::result::Result<T, E>;

fn io(path: &Path, what: &'static str) -> impl FnOnce(std::io::Error) -> DataDirError {
    let path = path.to_path_buf();
    move |source| DataDirError::Io { path, what, source }
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
///
/// # Errors
/// On I/O failure; `path` is then unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    let dir = path.parent().ok_or_else(|| DataDirError::NoParent {
        path: path.to_path_buf(),
    })?;
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
        let mut f = opts.open(&tmp).map_err(io(&tmp, "cannot write"))?;
        f.write_all(bytes).map_err(io(&tmp, "cannot write"))?;
        f.sync_all().map_err(io(&tmp, "cannot sync"))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path, "cannot replace"))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
