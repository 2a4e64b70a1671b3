//! Shared helpers for the `store_*` suites: a seeded RNG, a pre-signed workload, a
//! shared flash handle, and the model check every suite runs after a mount.
// Each suite uses a different subset of these helpers.
#![allow(dead_code)]

use embedded_storage::nor_flash::{ErrorType, NorFlash, ReadNorFlash};
use glitter_core::chain::ChainState;
use glitter_core::hash::Hash;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::Payload;
use glitter_core::store::{BlockLog, Error, FlashLog, RamFlashError, RamNorFlash};
use glitter_core::wire::header::{BlockKind, HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use std::cell::RefCell;
use std::rc::Rc;

/// SplitMix64: small, seedable, good enough to pick cut points and mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// The seed for a suite: `GLITTER_STORE_SEED` if set, else `default`. Printed so a
/// failure can be replayed.
pub fn seed(suite: &str, default: u64) -> u64 {
    let s = std::env::var("GLITTER_STORE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    eprintln!(
        "{suite}: seed {s} (replay: GLITTER_STORE_SEED={s} cargo test -p glitter-tests --test {suite})"
    );
    s
}

/// A number from the environment, or `default`.
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Runs `f` on a thread with a large stack: multi-megabyte flashes are built in place.
pub fn run_big<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// One pre-signed block of the workload.
#[derive(Clone, Debug)]
pub struct Block {
    pub author: usize,
    pub header: Header,
    pub bytes: [u8; HEADER_LEN],
    pub id: Hash,
    pub payload: Vec<u8>,
}

/// Authors and their blocks in append order.
#[derive(Clone, Debug)]
pub struct Workload {
    pub keys: Vec<PublicKey>,
    pub blocks: Vec<Block>,
}

/// Signs `blocks` blocks spread over `authors` authors (picked at random, so chains
/// interleave unevenly), with post payloads of 0 to `text_max` characters.
pub fn workload(seed: u64, authors: usize, blocks: usize, text_max: usize) -> Workload {
    let mut rng = Rng::new(seed);
    let pairs: Vec<KeyPair> = (0..authors)
        .map(|a| {
            let mut s = [0u8; 32];
            s[..8].copy_from_slice(&seed.to_le_bytes());
            s[8] = a as u8;
            s[9] = 0x5A;
            KeyPair::from_seed(s).expect("nonzero seed")
        })
        .collect();
    let mut states: Vec<ChainState> = pairs
        .iter()
        .map(|k| ChainState::new(k.public()).expect("valid key"))
        .collect();
    let mut past: Vec<Vec<Header>> = vec![Vec::new(); authors];
    let mut out = Vec::with_capacity(blocks);
    let mut ts = 1_700_000_000_000u64;
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    for i in 0..blocks {
        let a = rng.below_usize(authors);
        ts += rng.below(5_000);
        let len = rng.below_usize(text_max + 1);
        let text: String = (0..len)
            .map(|j| char::from(b'a' + ((i + j) % 26) as u8))
            .collect();
        let payload = Payload::post(&text, None)
            .expect("post")
            .encode(&mut buf)
            .expect("encode")
            .to_vec();
        let header = states[a]
            .append(
                &pairs[a],
                BlockKind::Post,
                ts,
                &payload,
                past[a].as_mut_slice(),
            )
            .expect("append");
        past[a].push(header);
        let bytes = header.to_bytes();
        out.push(Block {
            author: a,
            header,
            bytes,
            id: Hash::of(&bytes),
            payload,
        });
    }
    Workload {
        keys: pairs.iter().map(|k| k.public()).collect(),
        blocks: out,
    }
}

/// A shared handle on one boxed [`RamNorFlash`], so a [`FlashLog`] (and clones of it
/// taken before an append) can run over a flash the test also inspects and restores.
/// It records the length of every write and page erase, in order.
pub struct Shared<const P: usize> {
    pub flash: Rc<RefCell<Box<RamNorFlash<P>>>>,
    pub trace: Rc<RefCell<Vec<usize>>>,
}

impl<const P: usize> Clone for Shared<P> {
    fn clone(&self) -> Self {
        Shared {
            flash: Rc::clone(&self.flash),
            trace: Rc::clone(&self.trace),
        }
    }
}

impl<const P: usize> Shared<P> {
    /// A fresh, erased flash (build it on a [`run_big`] thread for large `P`).
    pub fn new() -> Self {
        Shared {
            flash: Rc::new(RefCell::new(Box::new(RamNorFlash::new()))),
            trace: Rc::new(RefCell::new(Vec::new())),
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut RamNorFlash<P>) -> T) -> T {
        f(&mut self.flash.borrow_mut())
    }

    /// Operations traced so far.
    pub fn ops(&self) -> usize {
        self.trace.borrow().len()
    }

    /// The length of traced operation `i`.
    pub fn op_len(&self, i: usize) -> usize {
        self.trace.borrow()[i]
    }

    /// Copies back from `base` every page whose erase or write count differs, and
    /// restores power: cheap when an operation touched only a few pages.
    pub fn restore_from(&self, base: &RamNorFlash<P>) {
        let mut f = self.flash.borrow_mut();
        for p in 0..P {
            if f.page_erases(p) != base.page_erases(p) || f.page_writes(p) != base.page_writes(p) {
                f.copy_page_from(base, p);
            }
        }
        f.power_on();
    }

    /// Copies into `base` every page that differs from it (the reverse of
    /// [`Shared::restore_from`]).
    pub fn save_to(&self, base: &mut RamNorFlash<P>) {
        let f = self.flash.borrow();
        for p in 0..P {
            if f.page_erases(p) != base.page_erases(p) || f.page_writes(p) != base.page_writes(p) {
                base.copy_page_from(&f, p);
            }
        }
    }
}

impl<const P: usize> ErrorType for Shared<P> {
    type Error = RamFlashError;
}

impl<const P: usize> ReadNorFlash for Shared<P> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), RamFlashError> {
        self.flash.borrow_mut().read(offset, bytes)
    }

    fn capacity(&self) -> usize {
        self.flash.borrow().capacity()
    }
}

impl<const P: usize> NorFlash for Shared<P> {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), RamFlashError> {
        let mut t = self.trace.borrow_mut();
        for _ in (from..to).step_by(4096) {
            t.push(4096);
        }
        drop(t);
        self.flash.borrow_mut().erase(from, to)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), RamFlashError> {
        self.trace.borrow_mut().push(bytes.len());
        self.flash.borrow_mut().write(offset, bytes)
    }
}

/// What the log must hold: for each author, the workload indices of its committed
/// blocks, in seq order.
#[derive(Clone, Debug)]
pub struct Model {
    pub chains: Vec<Vec<usize>>,
}

impl Model {
    pub fn new(authors: usize) -> Model {
        Model {
            chains: vec![Vec::new(); authors],
        }
    }

    pub fn commit(&mut self, w: &Workload, i: usize) {
        self.chains[w.blocks[i].author].push(i);
    }

    pub fn blocks(&self) -> usize {
        self.chains.iter().map(Vec::len).sum()
    }
}

/// How much of the stored chains [`check`] reads back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBack {
    /// Every block's header and payload.
    All,
    /// The heads (whose ids, hash-linked by `prev` and checked at mount, pin every
    /// header below them) and the last `n` blocks of each chain in full.
    Last(u64),
}

/// Checks a mounted log against the model: every committed block is there and reads
/// back intact; each head is the model's head, or the `in_flight` block (which may or
/// may not have landed). Returns whether the in-flight block landed.
pub fn check<L>(
    log: &mut L,
    w: &Workload,
    model: &Model,
    in_flight: Option<usize>,
    read_back: ReadBack,
) -> Result<bool, String>
where
    L: BlockLog<Error = Error<RamFlashError>>,
{
    let mut landed = false;
    let mut authors_expected = 0;
    for (a, chain) in model.chains.iter().enumerate() {
        let key = w.keys[a];
        let mut want: Vec<usize> = chain.clone();
        if let Some(f) = in_flight
            && w.blocks[f].author == a
        {
            let head = log.head(&key);
            if head.map(|h| h.seq) == Some(chain.len() as u64 + 1) {
                want.push(f);
                landed = true;
            }
        }
        if !want.is_empty() {
            authors_expected += 1;
        }
        let head = log.head(&key);
        match (want.last(), head) {
            (None, None) => {}
            (Some(&i), Some(h)) => {
                let b = &w.blocks[i];
                if h.seq != b.header.seq || h.id != b.id || h.timestamp_ms != b.header.timestamp_ms
                {
                    return Err(format!(
                        "author {a}: head {h:?}, model head seq {} id {:?}",
                        b.header.seq, b.id
                    ));
                }
            }
            (w_last, h) => {
                return Err(format!(
                    "author {a}: head {h:?}, model has {} blocks",
                    w_last.map_or(0, |_| want.len())
                ));
            }
        }
        let n = want.len() as u64;
        let from = match read_back {
            ReadBack::All => 1,
            ReadBack::Last(k) => n.saturating_sub(k) + 1,
        };
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        for seq in from..=n {
            let b = &w.blocks[want[(seq - 1) as usize]];
            let h = log
                .header(&key, seq)
                .map_err(|e| format!("author {a} seq {seq}: header read: {e}"))?
                .ok_or_else(|| format!("author {a} seq {seq}: header missing"))?;
            if h.to_bytes() != b.bytes {
                return Err(format!("author {a} seq {seq}: header differs"));
            }
            let p = log
                .payload(&key, seq, &mut buf)
                .map_err(|e| format!("author {a} seq {seq}: payload read: {e}"))?
                .ok_or_else(|| format!("author {a} seq {seq}: payload missing"))?;
            if p != b.payload.as_slice() {
                return Err(format!("author {a} seq {seq}: payload differs"));
            }
        }
        if log
            .header(&key, n + 1)
            .map_err(|e| format!("author {a}: {e}"))?
            .is_some()
        {
            return Err(format!("author {a}: a block beyond the head"));
        }
    }
    if log.author_count() != authors_expected {
        return Err(format!(
            "{} authors stored, model has {authors_expected}",
            log.author_count()
        ));
    }
    Ok(landed)
}

/// Checks that a mounted log is internally consistent (for images with no model): every
/// stored chain runs from seq 1 to its head, each header names its author and seq, each
/// `prev` is the id of the block before, the head id is the last block's id, and each
/// payload reads back with its declared length. Returns the number of blocks.
pub fn check_consistent<F, const A: usize, const B: usize>(
    log: &mut FlashLog<F, A, B>,
) -> Result<usize, String>
where
    F: NorFlash,
{
    let authors: Vec<PublicKey> = log.authors().collect();
    let mut total = 0usize;
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    for key in authors {
        let head = log.head(&key).ok_or("listed author without head")?;
        let mut prev = Hash::ZERO;
        let mut prev_ts = 0u64;
        for seq in 1..=head.seq {
            let h = log
                .header(&key, seq)
                .map_err(|e| format!("{key:?} seq {seq}: {e}"))?
                .ok_or_else(|| format!("{key:?} seq {seq}: missing"))?;
            if h.author != key || h.seq != seq || h.prev != prev || h.timestamp_ms < prev_ts {
                return Err(format!("{key:?} seq {seq}: broken chain"));
            }
            let p = log
                .payload(&key, seq, &mut buf)
                .map_err(|e| format!("{key:?} seq {seq}: {e}"))?
                .ok_or_else(|| format!("{key:?} seq {seq}: payload missing"))?;
            if p.len() != usize::from(h.payload_len) {
                return Err(format!("{key:?} seq {seq}: payload length"));
            }
            prev = h.id();
            prev_ts = h.timestamp_ms;
            total += 1;
        }
        if prev != head.id || prev_ts != head.timestamp_ms {
            return Err(format!("{key:?}: head differs from last block"));
        }
    }
    if total != log.usage().blocks {
        return Err(format!(
            "{total} blocks walked, {} indexed",
            log.usage().blocks
        ));
    }
    Ok(total)
}
