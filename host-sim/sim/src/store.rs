//! Block store for simulated nodes: chains in RAM, optionally persisted in a simulated
//! NOR flash (`FlashLog` over `RamNorFlash`) so that a crash can tear a write and a
//! restart recovers from flash alone.
//!
//! The bytes of a block are kept once per simulation, in a [`BlockPool`] that every
//! node's store shares: a store holds a pointer per block, so a block that ten
//! thousand followers store costs its bytes once and 8 bytes per follower. The pool is
//! read-only storage: each store still decides alone what it holds (its chains, in
//! order, after its own node verified every block).

use glitter_core::chain::Head;
use glitter_core::sig::PublicKey;
use glitter_core::store::{BlockLog, FlashLog, RamFlashError, RamNorFlash, ram_flash::PowerCut};
use glitter_core::sync::{StoreFull, SyncStore};
use glitter_core::wire::header::Header;
use rustc_hash::FxHashMap as HashMap;
use std::cell::RefCell;
use std::rc::Rc;

/// One block's bytes, shared by the stores that hold it.
#[derive(Debug)]
struct Block {
    header: Header,
    id: glitter_core::Hash,
    payload: Option<Box<[u8]>>,
}

/// The blocks of one simulation by id, shared read-only by every node's store (see the
/// module docs). Cloning shares the pool.
#[derive(Clone, Debug, Default)]
pub struct BlockPool {
    blocks: Rc<RefCell<HashMap<glitter_core::Hash, Rc<Block>>>>,
}

impl BlockPool {
    /// Distinct blocks held.
    pub fn len(&self) -> usize {
        self.blocks.borrow().len()
    }

    /// True if no block is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shared copy of a block (made on first sight). A block stored without its
    /// payload (pruned) and one with it are different entries' worth of bytes, so a
    /// payload that does not match the pooled one gets a copy of its own.
    fn intern(&self, header: &Header, payload: Option<&[u8]>) -> Rc<Block> {
        let id = header.id();
        let mut map = self.blocks.borrow_mut();
        if let Some(b) = map.get(&id)
            && b.payload.as_deref() == payload
        {
            return Rc::clone(b);
        }
        let b = Rc::new(Block {
            header: *header,
            id,
            payload: payload.map(Box::from),
        });
        map.entry(id).or_insert_with(|| Rc::clone(&b));
        b
    }
}

/// One author's stored chain: pointers into the pool, in seq order, and its head
/// (kept here: gossip reads heads far more often than blocks).
#[derive(Clone, Debug, Default)]
struct Chain {
    blocks: Vec<Rc<Block>>,
    head: Option<Head>,
}

/// Simulated flash per node: 64 pages of 4 KiB (256 KiB, about 900 typical blocks).
pub const FLASH_PAGES: usize = 64;

/// The flash log a simulated node persists to.
pub type FlashMirror = FlashLog<RamNorFlash<FLASH_PAGES>, 64, 4096>;

/// An error of the flash log over the simulated flash.
pub type LogError = glitter_core::store::Error<RamFlashError>;

/// Why a simulated flash could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// Formatting a fresh flash failed.
    #[error("flash did not format")]
    Format(#[source] LogError),
    /// Mounting after a restart failed.
    #[error("flash did not mount after restart")]
    Mount(#[source] LogError),
    /// A block the mounted log lists could not be read.
    #[error("block {seq} of {author} unreadable after mount")]
    Read {
        /// Whose chain.
        author: PublicKey,
        /// Which block.
        seq: u64,
        /// The log's error.
        #[source]
        source: LogError,
    },
    /// A block the mounted log lists is not there.
    #[error("block {seq} of {author} missing after mount")]
    Missing {
        /// Whose chain.
        author: PublicKey,
        /// Which block.
        seq: u64,
    },
}

impl Chain {
    fn push(&mut self, b: Rc<Block>) {
        self.head = Some(Head {
            seq: b.header.seq,
            id: b.id,
            timestamp_ms: b.header.timestamp_ms,
        });
        self.blocks.push(b);
    }
}

/// A `SyncStore`: chains by author in RAM, and optionally in a simulated flash.
///
/// Without flash, the simulator keeps the RAM copy across a crash (as if it were
/// durable). With flash, every block is appended to the flash log first and made
/// visible only once that append is durable; a restart rebuilds the RAM copy from the
/// flash alone ([`MemStore::recover`]), so a torn append is lost, never served.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    chains: HashMap<PublicKey, Chain>,
    blocks: u64,
    flash: Option<Box<FlashMirror>>,
    pool: BlockPool,
}

impl MemStore {
    /// An empty store whose block bytes live in `pool` (shared with other stores).
    pub fn in_pool(pool: &BlockPool) -> MemStore {
        MemStore {
            pool: pool.clone(),
            ..MemStore::default()
        }
    }

    /// A store in `pool`, persisted in a freshly formatted simulated flash.
    ///
    /// # Errors
    /// [`FlashError::Format`] (never on a healthy simulated flash).
    pub fn with_flash(pool: &BlockPool) -> Result<MemStore, FlashError> {
        let log = FlashMirror::format(RamNorFlash::new()).map_err(FlashError::Format)?;
        Ok(MemStore {
            flash: Some(Box::new(log)),
            ..MemStore::in_pool(pool)
        })
    }

    /// True if this store persists to flash.
    pub fn has_flash(&self) -> bool {
        self.flash.is_some()
    }

    /// Arms a power cut inside the next flash operation (after `after_bytes` bytes of
    /// it, with `torn_mask` deciding the bits of the byte at the cut). Returns false
    /// without flash.
    pub fn arm_tear(&mut self, after_bytes: usize, torn_mask: u8) -> bool {
        let Some(log) = self.flash.as_mut() else {
            return false;
        };
        log.flash_mut_for_fault_injection()
            .schedule_power_cut(PowerCut {
                after_ops: 0,
                after_bytes,
                torn_mask,
            });
        true
    }

    /// True once an armed power cut has happened (the node must crash now).
    pub fn power_lost(&self) -> bool {
        self.flash.as_ref().is_some_and(|l| !l.flash().is_powered())
    }

    /// A restart: power returns, the flash log is mounted (a torn tail is discarded)
    /// and the RAM copy is rebuilt from flash alone. Without flash, the store is kept.
    ///
    /// # Errors
    /// If the flash does not mount or a listed block cannot be read back (never
    /// expected: reported, not hidden).
    pub fn recover(self) -> Result<MemStore, FlashError> {
        let Some(log) = self.flash else {
            return Ok(self);
        };
        let mut f = log.into_flash();
        let cut = !f.is_powered();
        f.power_on();
        let mut log = FlashMirror::mount(f).map_err(FlashError::Mount)?;
        if cut {
            // The power failed during a write: a word it touched may read erased.
            log.start_on_fresh_page();
        }
        let mut out = MemStore::in_pool(&self.pool);
        let authors: Vec<PublicKey> = (0..log.author_count())
            .filter_map(|i| log.author_at(i))
            .collect();
        let mut buf = [0u8; glitter_core::PAYLOAD_LEN_MAX];
        for a in authors {
            let head = log.head(&a).map_or(0, |h| h.seq);
            let c = out.chains.entry(a).or_default();
            for seq in 1..=head {
                let (h, p) = log
                    .block(&a, seq, &mut buf)
                    .map_err(|source| FlashError::Read {
                        author: a,
                        seq,
                        source,
                    })?
                    .ok_or(FlashError::Missing { author: a, seq })?;
                c.push(out.pool.intern(&h, Some(p)));
                out.blocks += 1;
            }
        }
        out.flash = Some(Box::new(log));
        Ok(out)
    }

    /// Total blocks stored.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The seq of `author`'s head, 0 if none.
    pub fn head_seq(&self, author: &PublicKey) -> u64 {
        self.chains.get(author).map_or(0, |c| c.blocks.len() as u64)
    }

    /// All stored headers of `author` (a copy).
    pub fn headers(&self, author: &PublicKey) -> Vec<Header> {
        self.chains
            .get(author)
            .map_or_else(Vec::new, |c| c.blocks.iter().map(|b| b.header).collect())
    }

    /// The stored payload of (`author`, `seq`), if kept.
    pub fn payload_ref(&self, author: &PublicKey, seq: u64) -> Option<&[u8]> {
        self.block(author, seq)?.payload.as_deref()
    }

    fn block(&self, author: &PublicKey, seq: u64) -> Option<&Rc<Block>> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.chains.get(author)?.blocks.get(i)
    }

    /// Authors with at least one block.
    pub fn authors(&self) -> impl Iterator<Item = &PublicKey> {
        self.chains.keys()
    }
}

impl SyncStore for MemStore {
    fn head(&mut self, author: &PublicKey) -> Option<Head> {
        self.chains.get(author)?.head
    }

    fn header(&mut self, author: &PublicKey, seq: u64) -> Option<Header> {
        self.block(author, seq).map(|b| b.header)
    }

    fn payload(&mut self, author: &PublicKey, seq: u64, buf: &mut [u8]) -> Option<usize> {
        let p = self.block(author, seq)?.payload.as_deref()?;
        buf.get_mut(..p.len())?.copy_from_slice(p);
        Some(p.len())
    }

    fn append(&mut self, header: &Header, payload: Option<&[u8]>) -> Result<(), StoreFull> {
        let expected = self
            .chains
            .get(&header.author)
            .map_or(0, |c| c.blocks.len()) as u64
            + 1;
        if header.seq != expected {
            return Err(StoreFull);
        }
        if let Some(log) = self.flash.as_mut() {
            // Durable first: only a block the flash log committed becomes visible.
            let p = payload.ok_or(StoreFull)?;
            log.append(header, p).map_err(|_| StoreFull)?;
        }
        let b = self.pool.intern(header, payload);
        self.chains.entry(header.author).or_default().push(b);
        self.blocks += 1;
        Ok(())
    }
}
