//! The node's block store: the data directory's flash image (`chain.img`, the same
//! [`HostLog`] the offline CLI uses), seen through the replication [`SyncStore`] trait.

use glitter_core::chain::Head;
use glitter_core::sig::PublicKey;
use glitter_core::store::BlockLog;
use glitter_core::sync::{StoreFull, SyncStore};
use glitter_core::wire::header::Header;
use glitter_host::datadir::HostLog;

/// A [`HostLog`] that replication can use. Appends are durable when they return (the
/// log writes the record, then its commit word; the file flash syncs each write).
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
}

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
        match BlockLog::append(&mut *self.log, header, payload) {
            Ok(()) => {
                self.unrecorded += 1;
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
