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

pub mod backup_proto;
pub mod codec;
pub mod control;
pub mod error;
pub mod restore_net;
pub mod runtime;
pub mod store;
pub mod transport;

use std::path::Path;

pub use control::{Request, Response, control_call, control_request, node_running};
pub use error::{ControlError, NodeError, NodeRunning, RequestError, RestoreError, SwarmError};

/// Fails if a node is running on `data_dir` (it holds `<data-dir>/node.lock`). Offline
/// commands that open the flash image should call this first: the running node owns
/// the image, and a second writer (or a mount that repairs what looks like a torn
/// tail while the node is mid-append) could damage it.
///
/// # Errors
/// [`NodeRunning`]: "a glitter node is running on …" naming the directory.
pub fn check_no_node(data_dir: &Path) -> Result<(), NodeRunning> {
    let path = data_dir.join(runtime::LOCK_NAME);
    let Ok(f) = std::fs::File::open(&path) else {
        return Ok(()); // never ran a node here
    };
    match f.try_lock_shared() {
        Ok(()) | Err(std::fs::TryLockError::Error(_)) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(NodeRunning {
            data_dir: data_dir.to_path_buf(),
        }),
    }
}
