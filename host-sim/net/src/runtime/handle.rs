//! A handle on the running node for an in-process service (the web app, `--web`): it
//! sends the same [`Request`]s as the control socket, on the node's own runtime, and
//! hears of every block the node stores.

use super::Runtime;
use super::control::ControlMsg;
use crate::control::{Request, Response};
use crate::error::BoxError;
use crate::views::StoredBlock;
use glitter_host::os;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How many stored-block events wait for a slow subscriber before it misses the
/// oldest (it is told how many it missed, and can reload).
pub const BLOCK_EVENTS_QUEUE: usize = 1024;

/// Starts the web app on the node's tokio runtime (it may spawn tasks there) with a
/// handle on the node; returns the URL that logs a browser in, which the node prints
/// for its operator and writes to `node.json` (`web_url`). Called once, after the
/// control socket is up.
pub type ServiceStart = Box<dyn FnOnce(NodeHandle) -> Result<String, BoxError> + Send>;

/// A clonable handle on the running node.
#[derive(Clone)]
pub struct NodeHandle {
    control: mpsc::Sender<ControlMsg>,
    blocks: broadcast::Sender<StoredBlock>,
}

impl NodeHandle {
    pub(super) fn new(control: mpsc::Sender<ControlMsg>) -> NodeHandle {
        let (blocks, _) = broadcast::channel(BLOCK_EVENTS_QUEUE);
        NodeHandle { control, blocks }
    }

    /// Sends `req` to the node and waits for its answer (an error response once the
    /// node is shutting down).
    pub async fn request(&self, req: Request) -> Response {
        let (tx, rx) = oneshot::channel();
        if self.control.send((req, tx)).await.is_err() {
            return Response::err("the node is shutting down");
        }
        rx.await
            .unwrap_or_else(|_| Response::err("the node is shutting down"))
    }

    /// Every block the node stores from now on, once it is durable.
    pub fn subscribe(&self) -> broadcast::Receiver<StoredBlock> {
        self.blocks.subscribe()
    }
}

impl Runtime {
    /// Tells subscribers of the blocks stored (and committed) since the last call.
    pub(super) fn tell_stored(&mut self) {
        let Some(h) = &self.handle else {
            return;
        };
        let appended = std::mem::take(&mut self.node.store().appended);
        if appended.is_empty() || h.blocks.receiver_count() == 0 {
            return;
        }
        let now = os::now_ms();
        for (author, seq, kind) in appended {
            let _ = h.blocks.send(StoredBlock {
                author: author.to_string(),
                seq,
                kind: kind.name().to_string(),
                stored_ms: now,
            });
        }
    }
}
