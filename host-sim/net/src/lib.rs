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
//! [`Node`]: glitter_core::sync::Node

pub mod backup_proto;
pub mod codec;
pub mod control;
pub mod restore_net;
pub mod runtime;
pub mod store;
pub mod transport;

use anyhow::Result;
use std::path::Path;

pub use control::{Request, Response, control_call, control_request, node_running};

/// Fails if a node is running on `data_dir` (it holds `<data-dir>/node.lock`). Offline
/// commands that open the flash image should call this first: the running node owns
/// the image, and a second writer (or a mount that repairs what looks like a torn
/// tail while the node is mid-append) could damage it.
///
/// # Errors
/// "a glitter node is running on …" naming the directory.
pub fn check_no_node(data_dir: &Path) -> Result<()> {
    let path = data_dir.join(runtime::LOCK_NAME);
    let Ok(f) = std::fs::File::open(&path) else {
        return Ok(()); // never ran a node here
    };
    match f.try_lock_shared() {
        Ok(()) | Err(std::fs::TryLockError::Error(_)) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "{}: a glitter node is running on this data directory; use `glitter node post`, \
             `glitter node follow`, `glitter node feed` …, or stop it with `glitter node stop`",
            data_dir.display()
        ),
    }
}

