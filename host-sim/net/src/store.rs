//! The node's block store: the data directory's flash image (`chain.img`, the same
//! [`HostLog`] the offline CLI uses), seen through the replication [`SyncStore`] trait.

use glitter_core::chain::Head;
use glitter_core::sig::PublicKey;
use glitter_core::store::BlockLog;
use glitter_core::sync::{StoreFull, SyncStore};
use glitter_core::wire::header::Header;
use glitter_host::datadir::HostLog;

/// What the node stores for other authors: a quota per author, and room reserved for
/// one's own chain, so that a flooding followed author can neither take all the space
/// nor stop one's own posts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Most blocks stored per author other than oneself.
    pub blocks_per_author: u64,
    /// Other authors' blocks are refused once less than 1/`reserve_divisor` of the
    /// flash, or of the index, is free: that room is one's own.
    pub reserve_divisor: u64,
}

impl Quota {
    /// Blocks per author by default: 16,384 (about half an 8 MiB image of typical
    /// posts).
    pub const BLOCKS_PER_AUTHOR_DEFAULT: u64 = 16_384;
    /// The share of the flash and of the index reserved for one's own chain: 1/8.
    pub const RESERVE_DIVISOR_DEFAULT: u64 = 8;
}

impl Default for Quota {
    fn default() -> Quota {
        Quota {
            blocks_per_author: Quota::BLOCKS_PER_AUTHOR_DEFAULT,
            reserve_divisor: Quota::RESERVE_DIVISOR_DEFAULT,
        }
    }
}

/// A [`HostLog`] that replication can use. With fsync on, the node's image is in group
/// commit: an append is staged, and durable only after [`FlashStore::commit`], which
/// the node calls before anything that acknowledges it leaves the process (see
/// `runtime::Runtime::settle`).
pub struct FlashStore {
    log: Box<HostLog>,
    /// Appends refused by the log (I/O error, full flash or index), for the status.
    pub append_errors: u64,
    /// The last append error, for the status and the log.
    pub last_error: Option<String>,
    /// The seq the own chain must reach before it is extended (committed blocks a
    /// repair could not keep; the image's session record names it).
    pub own_floor: Option<u64>,
    /// Blocks appended since the image's session record last recorded the heads.
    pub unrecorded: u64,
    /// When the heads were last recorded (ms on the node's clock).
    pub recorded_at_ms: u64,
    /// One's own key: its blocks are exempt from the quota and use the reserve.
    pub me: Option<PublicKey>,
    /// What is stored for other authors.
    pub quota: Quota,
    /// Other authors' blocks refused by the quota or the reserve.
    pub quota_refused: u64,
    /// Whether appends are recorded in `appended` (for live updates).
    pub watch_appends: bool,
    /// Blocks appended since the runtime last took them (author, seq, kind), at most
    /// [`APPENDED_MAX`]; the rest of a larger batch is not recorded.
    pub appended: Vec<(PublicKey, u64, glitter_core::wire::header::BlockKind)>,
}

/// Most appends recorded between two takes of [`FlashStore::appended`].
pub const APPENDED_MAX: usize = 4096;

impl FlashStore {
    /// Wraps a mounted log.
    pub fn new(log: Box<HostLog>) -> FlashStore {
        FlashStore {
            log,
            append_errors: 0,
            last_error: None,
            own_floor: None,
            unrecorded: 0,
            recorded_at_ms: 0,
            me: None,
            quota: Quota::default(),
            quota_refused: 0,
            watch_appends: false,
            appended: Vec::new(),
        }
    }

    /// The log, for reads that replication does not need (feeds, status).
    pub fn log(&mut self) -> &mut HostLog {
        &mut self.log
    }

    /// Gives the log back (at shutdown, to sync its flash).
    pub fn into_log(self) -> Box<HostLog> {
        self.log
    }

    /// The log, read-only.
    pub fn log_ref(&self) -> &HostLog {
        &self.log
    }

    /// True if appends are staged that no commit has made durable yet.
    pub fn has_staged(&self) -> bool {
        self.log.flash().has_staged()
    }

    /// Makes every staged append durable (one journal sync; nothing without group
    /// commit).
    ///
    /// # Errors
    /// The I/O error: the staged appends are then not known to be durable.
    pub fn commit(&mut self) -> std::io::Result<()> {
        self.log.flash().commit()
    }
}

impl FlashStore {
    /// Why `header` (another author's block) may not be stored, if it may not.
    fn over_quota(&self, header: &Header) -> Option<String> {
        if self.me == Some(header.author) {
            return None;
        }
        let q = self.quota;
        let held = self.log.head(&header.author).map_or(0, |h| h.seq);
        if held >= q.blocks_per_author {
            return Some(format!(
                "the author reached the quota of {} blocks",
                q.blocks_per_author
            ));
        }
        let u = self.log.usage();
        let div = q.reserve_divisor.max(1);
        let index_free = u.blocks_max.saturating_sub(u.blocks) as u64;
        // The record this block would take (head, payload, commit word and padding).
        let record =
            glitter_core::store::format::RECORD_HEAD_LEN as u64 + u64::from(header.payload_len) + 8;
        if u.flash_bytes_free.saturating_sub(record) < u.flash_bytes / div
            || index_free <= u.blocks_max as u64 / div
        {
            return Some(format!(
                "the last 1/{div} of the store is reserved for your own chain"
            ));
        }
        None
    }
}

impl SyncStore for FlashStore {
    fn head(&mut self, author: &PublicKey) -> Option<Head> {
        self.log.head(author)
    }

    fn header(&mut self, author: &PublicKey, seq: u64) -> Option<Header> {
        self.log.header(author, seq).ok().flatten()
    }

    fn payload(&mut self, author: &PublicKey, seq: u64, buf: &mut [u8]) -> Option<usize> {
        self.log
            .payload(author, seq, buf)
            .ok()
            .flatten()
            .map(<[u8]>::len)
    }

    fn append(&mut self, header: &Header, payload: Option<&[u8]>) -> Result<(), StoreFull> {
        // The flash log keeps payloads with their headers; a pruned block cannot be
        // stored (honest peers always send payloads).
        let Some(payload) = payload else {
            self.append_errors += 1;
            self.last_error = Some(format!(
                "block {}:{} arrived without its payload",
                header.author, header.seq
            ));
            return Err(StoreFull);
        };
        if let Some(why) = self.over_quota(header) {
            self.append_errors += 1;
            self.quota_refused += 1;
            self.last_error = Some(format!(
                "block {}:{} not stored: {why}",
                header.author, header.seq
            ));
            return Err(StoreFull);
        }
        match BlockLog::append(&mut *self.log, header, payload) {
            Ok(()) => {
                self.unrecorded += 1;
                if self.watch_appends && self.appended.len() < APPENDED_MAX {
                    self.appended.push((header.author, header.seq, header.kind));
                }
                Ok(())
            }
            Err(e) => {
                self.append_errors += 1;
                self.last_error = Some(format!(
                    "storing block {}:{}: {e}",
                    header.author, header.seq
                ));
                Err(StoreFull)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glitter_core::BlockBuilder;
    use glitter_core::chain::ChainState;
    use glitter_core::sig::KeyPair;
    use glitter_core::social::Payload;
    use glitter_host::flash_file::FileFlash;

    /// Appends `author`'s next block (a post) through the store, as replication does.
    fn append_next(store: &mut FlashStore, keys: &KeyPair, n: u64) -> Result<(), StoreFull> {
        let me = keys.public();
        let head = store.log_ref().head(&me);
        let state = ChainState::resume(me, head).expect("resume");
        let mut b = BlockBuilder::new(keys.clone(), state).expect("builder");
        let payload = Payload::post(&format!("post {n} {}", "x".repeat(200)), None).expect("post");
        let (h, bytes) = {
            let mut src = BlockLog::source(store.log(), me);
            let (h, bytes) = b.next(&payload, n, &mut src).expect("next");
            (h, bytes.to_vec())
        };
        SyncStore::append(store, &h, Some(&bytes))
    }

    #[test]
    fn a_flooding_author_leaves_room_for_ones_own_chain() {
        // A mounted log is large: run on a thread with room for it.
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(|| {
                let dir = tempfile::tempdir().expect("tempdir");
                let flash =
                    FileFlash::create(dir.path().join("chain.img"), 64 * 4096).expect("image");
                let mut flash = flash;
                flash.set_sync_writes(false);
                let log = Box::new(HostLog::format(flash).expect("format"));
                let mut store = FlashStore::new(log);
                let me = KeyPair::from_seed([1; 32]).expect("me");
                let flooder = KeyPair::from_seed([2; 32]).expect("flooder");
                store.me = Some(me.public());
                let mut stored = 0u64;
                while append_next(&mut store, &flooder, stored).is_ok() {
                    stored += 1;
                }
                assert_eq!(store.quota_refused, 1, "{:?}", store.last_error);
                assert!(
                    store
                        .last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("reserved")),
                    "{:?}",
                    store.last_error
                );
                let u = store.log_ref().usage();
                assert!(u.flash_bytes_free >= u.flash_bytes / 8, "{u:?}");
                // One's own chain still has its room: about 1/8 of the image.
                let mut own = 0u64;
                while append_next(&mut store, &me, own).is_ok() {
                    own += 1;
                }
                // Figures (256 KiB image): the flooder stores 504 blocks, then the own
                // chain 72 more.
                assert!(own * 10 >= stored / 8, "own {own}, flooder {stored}");
                // A quota stops an author well before the reserve.
                let mut store2 = {
                    let flash =
                        FileFlash::create(dir.path().join("b.img"), 64 * 4096).expect("image");
                    FlashStore::new(Box::new(HostLog::format(flash).expect("format")))
                };
                store2.quota.blocks_per_author = 10;
                let mut n = 0;
                while append_next(&mut store2, &flooder, n).is_ok() {
                    n += 1;
                }
                assert_eq!(n, 10);
                assert!(
                    store2
                        .last_error
                        .as_deref()
                        .is_some_and(|e| e.contains("quota of 10"))
                );
            })
            .expect("spawn")
            .join()
            .expect("test thread");
    }
}
