//! The node's store and its own chain: the data directory's image opened for
//! replication, the follows its chain records, and appending its own blocks (also as
//! the [`OwnChain`] of the one owner-backup flow).

use super::CoreNode;
use crate::error::{BoxError, NodeError, RequestError};
use crate::store::{FlashStore, Quota};
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::sync::SyncStore;
use glitter_core::wire::header::PAYLOAD_LEN_MAX;
use glitter_host::backup::{Block, OwnChain};
use glitter_host::datadir::{DataDir, HostLog, chain_from_log};
use glitter_host::image_state::ImageState;
use glitter_host::{Sink, feed, os};

/// Mounts the data directory's image (`chain.img`) the one way a data directory does
/// ([`DataDir::log`]: created and formatted if missing, a torn tail repaired), and
/// reports a torn write it discarded to `out`.
///
/// The image is then mounted a second time, on the same file: with `fsync` on, in
/// group commit (blocks arriving together are made durable by one journal sync, see
/// [`glitter_host::flash_file`]); with `fsync` off, with syncing off. That remount is
/// the whole adapter: `DataDir` mounts with every write synced.
pub(super) fn open_store(
    data: &DataDir,
    me: &PublicKey,
    quota: Quota,
    fsync: bool,
    out: &mut dyn Sink,
) -> Result<FlashStore, NodeError> {
    let mut log = data.log().map_err(NodeError::host("flash image"))?;
    let path = log.flash().path().to_path_buf();
    if let Some(t) = log.mount_report().torn_tail {
        out.line(&format!(
            "glitter node: {}: discarded a torn write at offset {} (repaired: {})",
            path.display(),
            t.offset,
            t.repaired
        ));
    }
    let mut flash = log.into_flash();
    if fsync {
        flash
            .set_group_commit(true)
            .map_err(|source| NodeError::Commit {
                path: path.clone(),
                source,
            })?;
    } else {
        flash.set_sync_writes(false);
    }
    log = Box::new(HostLog::mount(flash).map_err(|e| NodeError::Mount {
        path,
        source: e.into(),
    })?);
    let mut store = FlashStore::new(log);
    store.me = Some(*me);
    store.quota = quota;
    store.own_floor = ImageState::read(data.root())
        .map_err(NodeError::host("session record"))?
        .and_then(|s| s.floor(me));
    Ok(store)
}

/// How often, at most, a running node records its heads in the image's session record
/// (only when blocks arrived): a crash then leaves at most this much of the node's
/// blocks outside the record's committed-blocks check.
pub(super) const CHECKPOINT_MS: u64 = 5_000;

/// Records the node's heads in the image's session record if blocks arrived and
/// [`CHECKPOINT_MS`] passed since the last record ([`DataDir::checkpoint`]).
pub(super) fn checkpoint(
    data_dir: &std::path::Path,
    node: &mut CoreNode,
    now_ms: u64,
) -> Result<(), NodeError> {
    let store = node.store();
    if store.unrecorded == 0 || now_ms < store.recorded_at_ms.saturating_add(CHECKPOINT_MS) {
        return Ok(());
    }
    DataDir::open_existing(data_dir)
        .and_then(|d| d.checkpoint(store.log_ref()))
        .map_err(NodeError::host("recording the heads"))?;
    store.unrecorded = 0;
    store.recorded_at_ms = now_ms;
    Ok(())
}

/// Replays the node's own Follow and Unfollow blocks into the core node, returning the
/// followed authors.
pub(super) fn replay_follows(
    node: &mut CoreNode,
    me: &PublicKey,
) -> Result<Vec<PublicKey>, NodeError> {
    let chain = chain_from_log(node.store().log(), me).map_err(NodeError::host("own chain"))?;
    let follows = feed::follows(&chain);
    for a in &follows {
        node.follow(*a);
    }
    Ok(follows)
}

/// Appends one of our own blocks, stamped with the wall clock but never earlier than
/// the head; returns it with its encoded payload. It is durable after the next
/// commit: the control loop commits before it answers (`Runtime::on_control_msg`).
pub(super) fn append_own(
    node: &mut CoreNode,
    keys: &KeyPair,
    payload: &Payload,
) -> Result<Block, RequestError> {
    let held = node.store().head(&keys.public()).map_or(0, |h| h.seq);
    if let Some(floor) = node.store_ref().own_floor.filter(|f| held < *f) {
        return Err(RequestError::OwnBlocksLost { held, floor });
    }
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let bytes = payload.encode(&mut buf).map_err(RequestError::Payload)?;
    let head_ts = node
        .store()
        .head(&keys.public())
        .map_or(0, |h| h.timestamp_ms);
    let now = os::now_ms().max(head_ts);
    let h = node
        .append_own(keys, payload.kind(), now, bytes)
        .map_err(|source| RequestError::Append {
            source,
            store: node.store_ref().last_error.clone(),
        })?;
    Ok((h, bytes.to_vec()))
}

/// The node's own chain, seq 1..=head, with payloads.
pub(super) fn own_blocks(node: &mut CoreNode, me: &PublicKey) -> Result<Vec<Block>, RequestError> {
    let chain = chain_from_log(node.store().log(), me).map_err(RequestError::host("own chain"))?;
    chain
        .headers
        .into_iter()
        .zip(chain.payloads)
        .map(|(h, p)| {
            p.map(|p| (h, p))
                .ok_or(RequestError::OwnPayloadMissing { seq: h.seq })
        })
        .collect()
}

/// The node's own chain as the owner-backup flow
/// ([`glitter_host::backup::start_backup`]) reads and extends it.
pub(super) struct NodeChain<'a> {
    /// The core node, whose store holds the chain.
    pub(super) node: &'a mut CoreNode,
    /// The node's keys.
    pub(super) keys: &'a KeyPair,
}

impl OwnChain for NodeChain<'_> {
    fn own_blocks(&mut self) -> Result<Vec<Block>, BoxError> {
        Ok(own_blocks(self.node, &self.keys.public())?)
    }

    /// Appends and commits: the backup flow sends what it appended on at once.
    fn append_own(&mut self, payload: &Payload) -> Result<Block, BoxError> {
        let block = append_own(self.node, self.keys, payload)?;
        self.node.store().commit()?;
        Ok(block)
    }
}
