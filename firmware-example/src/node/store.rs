//! The node's store: the flash log, keeping room for the device's own chain.
//!
//! Replication fills the log with other authors' blocks; on a small flash it could
//! fill it to the last byte and leave no room for the device's own posts (nor a page
//! for the repair of a torn tail at the next mount). [`DeviceStore`] refuses another
//! author's block once less than [`OWN_RESERVE_BYTES`] would be left after it: the
//! node counts it as a full store (`NodeStats::store_full`) and does not fetch that
//! author again for a minute (`REFUSED_RETRY_MS`). The device's own blocks may use
//! the reserve.

use glitter_core::PublicKey;
use glitter_core::chain::Head;
use glitter_core::store::format::RECORD_HEAD_LEN;
use glitter_core::sync::{StoreFull, SyncStore};
use glitter_core::wire::header::Header;

use super::Log;

/// Flash bytes kept for the device's own blocks: one 4 KiB page (a dozen short posts,
/// or the fresh page a torn-tail repair moves to).
pub const OWN_RESERVE_BYTES: u64 = 4096;
/// A record's bytes besides its header and payload, at most (commit word, padding).
const RECORD_EXTRA_MAX: u64 = 64;

/// The flash log, with [`OWN_RESERVE_BYTES`] kept for `me`.
pub struct DeviceStore {
    log: Log,
    me: PublicKey,
}

impl DeviceStore {
    /// The store over `log`, for the device `me`.
    pub fn new(log: Log, me: PublicKey) -> DeviceStore {
        DeviceStore { log, me }
    }
}

impl SyncStore for DeviceStore {
    fn head(&mut self, author: &PublicKey) -> Option<Head> {
        SyncStore::head(&mut self.log, author)
    }

    fn header(&mut self, author: &PublicKey, seq: u64) -> Option<Header> {
        SyncStore::header(&mut self.log, author, seq)
    }

    fn payload(&mut self, author: &PublicKey, seq: u64, buf: &mut [u8]) -> Option<usize> {
        SyncStore::payload(&mut self.log, author, seq, buf)
    }

    fn append(&mut self, header: &Header, payload: Option<&[u8]>) -> Result<(), StoreFull> {
        if header.author != self.me {
            let record = RECORD_HEAD_LEN as u64 + u64::from(header.payload_len) + RECORD_EXTRA_MAX;
            if self.log.usage().flash_bytes_free < record + OWN_RESERVE_BYTES {
                return Err(StoreFull);
            }
        }
        SyncStore::append(&mut self.log, header, payload)
    }
}
