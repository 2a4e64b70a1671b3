//! Replication straight into the flash log: [`SyncStore`] for [`FlashLog`].
//!
//! The store layer knows nothing of replication; the impl lives here, one layer up, so
//! that a [`Node`](super::Node) on a microcontroller can use the
//! [`FlashLog`] it mounted as its store.

use super::{StoreFull, SyncStore};
use crate::chain::Head;
use crate::sig::PublicKey;
use crate::store::FlashLog;
use crate::wire::header::Header;
use embedded_storage::nor_flash::NorFlash;

/// Replication stores blocks straight into the flash log. A block whose payload was
/// pruned cannot be stored here (the log keeps whole chains), and neither can a block
/// the log refuses: both are reported as [`StoreFull`], so the node
/// counts them and moves on.
impl<F: NorFlash, const AUTHORS: usize, const BLOCKS: usize> SyncStore
    for FlashLog<F, AUTHORS, BLOCKS>
{
    fn head(&mut self, author: &PublicKey) -> Option<Head> {
        FlashLog::head(self, author)
    }

    fn header(&mut self, author: &PublicKey, seq: u64) -> Option<Header> {
        FlashLog::header(self, author, seq).ok().flatten()
    }

    fn payload(&mut self, author: &PublicKey, seq: u64, buf: &mut [u8]) -> Option<usize> {
        FlashLog::payload(self, author, seq, buf)
            .ok()
            .flatten()
            .map(<[u8]>::len)
    }

    fn append(&mut self, header: &Header, payload: Option<&[u8]>) -> Result<(), StoreFull> {
        let payload = payload.ok_or(StoreFull)?;
        FlashLog::append(self, header, payload).map_err(|_| StoreFull)
    }
}
