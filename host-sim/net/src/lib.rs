//! A real networked glitter node (`glitter node`), the same core replication [`Node`] behind
//! rust-libp2p (`docs/NETWORK.md`).
//!
//! - **Transport:** TCP + noise + yamux, with identify and ping.
//! - **Heads** (`Heads` messages) are published on the gossipsub topic
//!   [`runtime::HEADS_TOPIC`], with peer scoring on; glitter's check is the gossipsub
//!   validator, so malformed or invalid announcements are rejected and never forwarded.
//! - **Blocks** move over request-response (`/glitter/sync/1`, [`codec`]): a request is
//!   one encoded message (a `Want`), the response the `Block`s it asked for.
//! - **Storage** is core's `FlashLog` on the data directory's flash image
//!   `<data-dir>/chain.img` ([`glitter_host::datadir::HostLog`], the very image the offline
//!   CLI uses): a block is durable before it is visible, and a write torn by a crash
//!   is discarded at the next start.
//! - **Control:** CLI commands drive a running node over a Unix socket in the data
//!   directory ([`control`]).
//!
//! Library code here never prints: the node's lines for its operator go to the
//! [`glitter_host::Sink`] its caller passes. Errors are typed ([`error`]).
//!
//! [`Node`]: glitter_core::sync::Node

pub mod backup_codec;
pub mod backup_proto;
pub mod codec;
pub mod control;
pub mod error;
pub mod restore_net;
pub mod runtime;
pub mod store;
pub mod transport;
pub mod views;

use std::path::Path;

pub use control::{Request, Response, control_call, control_request, node_running};
pub use error::{ControlError, NodeError, NodeRunning, RequestError, RestoreError, SwarmError};
pub use runtime::check_heads;

/// Fails if a node is running on `data_dir` (it holds `<data-dir>/node.lock`). Offline
/// commands that open the flash image should call this first: the running node owns
/// the image, and a second writer (or a mount that repairs what looks like a torn
/// tail while the node is mid-append) could damage it.
///
/// # Errors
/// [`NodeRunning::Running`]: "a glitter node is running on …" naming the directory;
/// [`NodeRunning::Unchecked`] when the lock file exists but cannot be opened or locked
/// (it fails closed: a node might be running).
pub fn check_no_node(data_dir: &Path) -> Result<(), NodeRunning> {
    let path = data_dir.join(runtime::LOCK_NAME);
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()), // never ran a node here
        Err(source) => return Err(NodeRunning::Unchecked { path, source }),
    };
    match f.try_lock_shared() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(NodeRunning::Running {
            data_dir: data_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(NodeRunning::Unchecked { path, source }),
    }
}

/// How long [`stop_node`] waits for the node to exit.
pub const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Asks the node running on `data_dir` to stop and returns only once it has released
/// `<data-dir>/node.lock` (it releases the lock last, after its final flash sync), so
/// the directory may be removed or reused right away. Waits at most `wait`.
///
/// # Errors
/// As [`control_call`], [`ControlError::StopTimeout`] if the lock is still held after
/// `wait`, or [`ControlError::Lock`] if the lock file cannot be checked.
pub fn stop_node(data_dir: &Path, wait: std::time::Duration) -> Result<Response, ControlError> {
    let mut r = control_call(data_dir, &Request::Stop)?;
    let path = data_dir.join(runtime::LOCK_NAME);
    let started = glitter_host::os::instant();
    loop {
        let f = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(source) => return Err(ControlError::Lock { path, source }),
        };
        match f.try_lock_shared() {
            Ok(()) => break,
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(ControlError::Lock { path, source });
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
        }
        if started.elapsed() >= wait {
            return Err(ControlError::StopTimeout {
                path,
                waited_s: wait.as_secs(),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    r.lines = vec![format!(
        "stopped: the node has exited and released {}",
        path.display()
    )];
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_lock_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        // No lock file: no node ever ran here.
        assert!(check_no_node(dir.path()).is_ok());
        // A lock file that cannot be opened (a symlink loop; root can open any mode):
        // a node might be running, so offline commands refuse.
        let lock = dir.path().join(runtime::LOCK_NAME);
        std::os::unix::fs::symlink(&lock, &lock).unwrap();
        let e = check_no_node(dir.path()).unwrap_err();
        assert!(matches!(e, NodeRunning::Unchecked { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("cannot tell whether a glitter node is running")
        );
        // An ordinary, unlocked lock file: no node runs.
        std::fs::remove_file(&lock).unwrap();
        std::fs::write(&lock, b"").unwrap();
        assert!(check_no_node(dir.path()).is_ok());
    }
}
