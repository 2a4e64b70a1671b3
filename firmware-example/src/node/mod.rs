//! The device node (feature `node`): a glitter sync [`Node`] on the microcontroller,
//! replicating chains with a host over a serial link, straight into a [`FlashLog`].
//!
//! ## The link
//!
//! The byte stream is a UART (QEMU: the CMSDK UART0 on `-serial`; the board: UARTE0
//! on the DK's USB virtual COM port). Frames are `glitter_core::sync::link` frames
//! (COBS + CRC-32, `0x00` delimiter), split with a [`Deframer`]; a dropped frame (bad
//! CRC or COBS, oversized) is counted and ignored.
//!
//! - At boot the device sends one `0x00` (flushing any half-sent frame at the host)
//!   and a [`Hello`] with its key, [`BODY_MAX`] and [`AUTHORS`].
//! - A host `Hello` (re)registers the host as core peer [`HOST`] and is answered with
//!   the device's `Hello` (the host never answers a device `Hello`: no ping-pong) and
//!   the device's heads (a gossip `Heads`, so the sync starts without waiting for a
//!   tick).
//! - `Follow(author)`: the node replicates `author` (so does each key of the build-time
//!   `GLITTER_FOLLOW` list), and announces its heads to the host at once.
//! - Any other body is a core sync message for [`Node::handle`]; what the node sends
//!   goes out as frames, written to the UART before the next byte is read.
//!
//! ## Time
//!
//! The node's clock ([`now_ms`]) is the meter's count divided by the machine's
//! `UNITS_PER_MS`: on the board, CPU cycles at 64 MHz (real time); under QEMU, executed
//! instructions (`-icount shift=0` makes them QEMU's virtual clock, 1 ns each), 250,000
//! per millisecond: the virtual clock sped up 4 times. QEMU runs the node's polling
//! loop at about 330 million instructions per second on the development machine, so
//! device time passes at about the speed of real time there (a [`TICK_MS`] gossip
//! period is ~0.4 s, [`IDLE_BEFORE_POST_MS`] ~0.8 s), and QEMU's UART, which takes
//! about 75 µs of real time per byte, is about as fast in device time as the board's at
//! 115,200 baud. Unscaled, the node would wait twice as long in real time for each
//! tick; scaled much further, the link would look slow to it (a window of wants would
//! outlast [`WANT_TIMEOUT_MS`] and be asked again). A verification, on the other hand,
//! looks faster than on the board (7 ms instead of ~30).
//!
//! ## Own posts
//!
//! Once the device holds a block of another author (stored now, or found at mount)
//! and no block was stored for [`IDLE_BEFORE_POST_MS`], it signs and appends a post,
//! until its own chain has [`OWN_POSTS`] blocks (what is already stored counts, so a
//! reboot does not post again). The store keeps a page of flash for them
//! ([`store::OWN_RESERVE_BYTES`]): other authors' blocks are refused before they fill
//! it.
//!
//! ## Console
//!
//! One line per event, parsed by the host test (keys in lowercase hex):
//! `device <key> up: …`, `stored <author> <seq>`, `posted <seq>`,
//! `link: frames <ok> dropped <n> (…)`, and every [`REPORT_EVERY`] stored blocks the
//! measurements `~ received …` and `~ peak stack …`.

#[cfg(feature = "qemu")]
mod cmsdk_uart;
#[cfg(feature = "qemu")]
mod file_flash;
#[cfg(feature = "nrf52840")]
mod nrf52840;
#[cfg(feature = "qemu")]
mod qemu;
mod store;

#[cfg(feature = "nrf52840")]
use nrf52840 as machine;
#[cfg(feature = "qemu")]
use qemu as machine;

use core::convert::Infallible;
use core::fmt::Write as _;
use core::mem::MaybeUninit;

use glitter_core::chain::Ed25519Check;
use glitter_core::social::Payload;
use glitter_core::store::{BlockLog, FlashLog};
use glitter_core::sync::link::{
    BODY_MAX, Body, Deframer, FRAME_ENCODED_MAX, Hello, LINK_VERSION, LinkStats, encode_frame,
    parse_body,
};
use glitter_core::sync::message::MESSAGE_LEN_MAX;
use glitter_core::sync::{Config, Message, Node, Outbox, OutboxFull, PeerId, Stored, SyncStore};
use glitter_core::{ChainError, KeyPair, PublicKey};
use heapless::String;

use crate::meter::{self, Clock, Meter};
use crate::{outln, platform, stack};
use store::DeviceStore;

/// Own posts the device writes, its chain's length at most (counting what is stored).
pub const OWN_POSTS: u64 = 3;
/// How long no block may have been stored before the device posts.
pub const IDLE_BEFORE_POST_MS: u64 = 1_000;
/// Gossip period: [`Node::tick`] runs this often.
pub const TICK_MS: u64 = 500;
/// Authors replicated, its own included (the `Hello`'s `authors_max`).
pub const AUTHORS: usize = 8;
/// Blocks the flash log's RAM index holds (4 bytes each): more than the flash holds
/// (about 450 short posts on 32 pages).
pub const LOG_BLOCKS: usize = 512;
/// Peers: the host, and room for it to come back under the same id.
pub const PEERS: usize = 2;
/// Wants in flight, over every author.
pub const WANTS: usize = 16;
/// Fork proofs kept.
pub const FORKS: usize = 4;
/// Blocks kept when they arrive ahead of a missing one (after a dropped frame), about
/// 1.3 KB each. With one peer a want window is limited to `PARKED / 16` wants, so 32
/// allows [`WANT_WINDOW`].
pub const PARKED: usize = 32;
/// `Want`s in flight per author: two of 16 blocks each keep the link busy while the
/// device verifies (it is the slower side).
pub const WANT_WINDOW: u8 = 2;
/// How long a want may stay unanswered: the default 2 s, raised. On the board a window
/// of 32 blocks takes about 2 s to arrive and be verified (115,200 baud, ~30 ms of
/// verification per block at 64 MHz), and a want that expired before its blocks were
/// stored would be sent again (and its blocks sent twice).
pub const WANT_TIMEOUT_MS: u64 = 5_000;
/// The `~ received` report comes every this many stored blocks.
pub const REPORT_EVERY: u64 = 25;
/// The host's core peer id.
pub const HOST: PeerId = 0;
/// Authors to follow, from the build environment: comma-separated 64-hex-digit keys.
const BUILT_IN_FOLLOWS: Option<&str> = option_env!("GLITTER_FOLLOW");
/// Bytes read from the UART before the timers are looked at again.
const READ_BURST: usize = 256;
/// The first byte of a core `Block` message.
const TAG_BLOCK: u8 = 3;
/// 2026-01-01T00:00:00Z: own posts' timestamps start here until a received block tells
/// the device the time.
const EPOCH_MS: u64 = 1_767_225_600_000;

/// The chain log on the machine's flash.
pub type Log = FlashLog<machine::Flash, AUTHORS, LOG_BLOCKS>;
/// The node, with the capacities above, on the log (keeping room for its own chain).
pub type DeviceNode = Node<DeviceStore, Ed25519Check, PEERS, AUTHORS, WANTS, FORKS, PARKED>;

/// A byte stream to the host.
pub trait Serial {
    /// The next received byte, if one is waiting (never blocks).
    fn try_read(&mut self) -> Option<u8>;
    /// Sends `bytes` (blocks until they are handed to the hardware).
    fn write_all(&mut self, bytes: &[u8]);
}

/// The node's static memory, lent by `main`.
pub struct Memory {
    node: MaybeUninit<DeviceNode>,
    deframer: Deframer<FRAME_ENCODED_MAX>,
    wire: Wire,
    machine: machine::Memory,
}

impl Memory {
    /// Zeroed memory (const, for a `static`: it lands in `.bss`).
    pub const fn new() -> Memory {
        Memory {
            node: MaybeUninit::uninit(),
            deframer: Deframer::new(),
            wire: Wire {
                body: [0; MESSAGE_LEN_MAX],
                frame: [0; FRAME_ENCODED_MAX],
            },
            machine: machine::Memory::new(),
        }
    }
}

/// Buffers for one outgoing message: its body, then its frame.
struct Wire {
    body: [u8; MESSAGE_LEN_MAX],
    frame: [u8; FRAME_ENCODED_MAX],
}

/// The node's [`Outbox`]: each message is framed and written to the UART at once.
struct Link<'a, S: Serial> {
    serial: &'a mut S,
    wire: &'a mut Wire,
}

impl<S: Serial> Link<'_, S> {
    /// Frames `body` and writes it.
    fn send_body(&mut self, body: &[u8]) -> Result<(), OutboxFull> {
        let n = encode_frame(body, &mut self.wire.frame).map_err(|_| OutboxFull)?;
        let frame = self.wire.frame.get(..n).ok_or(OutboxFull)?;
        self.serial.write_all(frame);
        Ok(())
    }

    /// Sends the device's `Hello`.
    fn hello(&mut self, me: PublicKey) {
        let hello = Hello {
            version: LINK_VERSION,
            key: me,
            body_max: BODY_MAX as u16,
            authors_max: AUTHORS as u16,
        };
        let _ = self.send_body(&hello.encode());
    }
}

impl<S: Serial> Outbox for Link<'_, S> {
    fn send(&mut self, to: PeerId, msg: &Message<'_>) -> Result<(), OutboxFull> {
        if to != HOST {
            return Ok(()); // no other peer: dropped
        }
        let len = msg.emit(&mut self.wire.body).map_err(|_| OutboxFull)?.len();
        let Wire { body, frame } = &mut *self.wire;
        let body = body.get(..len).ok_or(OutboxFull)?;
        let n = encode_frame(body, frame).map_err(|_| OutboxFull)?;
        self.serial.write_all(frame.get(..n).ok_or(OutboxFull)?);
        Ok(())
    }
}

/// The gossip draws (xorshift64): only which peer to gossip to, and there is one.
struct Draws(u64);

impl rand_core::TryRng for Draws {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        Ok(x)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let x = self.try_next_u64()?.to_le_bytes();
            for (d, b) in chunk.iter_mut().zip(x) {
                *d = b;
            }
        }
        Ok(())
    }
}

/// What the loop keeps between events.
struct Session {
    /// The device holds a block of another author.
    foreign: bool,
    /// When a block was last stored (or the device booted, or last posted).
    last_store_ms: u64,
    /// Own posts are still to be written (a failed one ends them for the session).
    posting: bool,
    /// When the next gossip tick is due.
    next_tick_ms: u64,
    /// Blocks stored this session.
    stored: u64,
    /// Meter units spent in `handle` on `Block` messages that stored blocks, and how
    /// many blocks they stored.
    block_units: u64,
    block_count: u64,
    /// The dropped-frame count last printed.
    dropped: u64,
    /// The node's count of blocks the log refused, last printed.
    refused: u64,
    /// The latest block timestamp seen and the device time it was seen at: the
    /// device's estimate of the wall clock for its own posts.
    wall: (u64, u64),
}

/// The device's time in milliseconds since boot.
fn now_ms(clock: &mut Clock, meter: &Meter) -> u64 {
    clock.units(meter) / machine::UNITS_PER_MS
}

/// The node's configuration: the core's defaults (push-pull gossip, eager pushes)
/// with [`WANT_WINDOW`] and [`WANT_TIMEOUT_MS`].
fn config() -> Config {
    Config {
        want_window: WANT_WINDOW,
        want_timeout_ms: WANT_TIMEOUT_MS,
        ..Config::default()
    }
}

/// Runs the node: mount, greet the host, then serve the link forever.
pub fn run(memory: &'static mut Memory) -> ! {
    let Memory {
        node,
        deframer,
        wire,
        machine,
    } = memory;
    outln!(
        "glitter-firmware {} node on {}",
        env!("CARGO_PKG_VERSION"),
        platform::MACHINE
    );
    outln!(
        "~ static RAM {} bytes, stack room {} bytes",
        stack::static_bytes(),
        stack::stack_room_bytes()
    );
    let mut m = machine::init(machine);
    let me = m.keys.public();
    let (mounted, mount_units) = m.meter.measure(|| Log::mount_or_format(m.flash));
    let log = match mounted {
        Ok(log) => log,
        Err(e) => {
            outln!("device {me} flash log unusable: {e:?}");
            platform::exit(false)
        }
    };
    let report = log.mount_report();
    outln!(
        "device {me} up: {} authors, {} blocks mounted, torn tail {}",
        report.authors,
        report.records,
        if report.torn_tail.is_some() {
            "yes"
        } else {
            "no"
        }
    );
    let usage = log.usage();
    outln!(
        "~ log: {} blocks, {} of {} flash bytes used, mounted in {mount_units} {}",
        usage.blocks,
        usage.flash_bytes_used,
        usage.flash_bytes,
        meter::UNIT
    );
    let foreign = log.authors().any(|a| a != me);
    let wall = log
        .authors()
        .filter_map(|a| log.head(&a))
        .map(|h| h.timestamp_ms)
        .max()
        .unwrap_or(EPOCH_MS);
    let store = DeviceStore::new(log, me);
    let node = node.write(DeviceNode::new(me, store, Ed25519Check, config()));
    built_in_follows(node);
    let mut link = Link {
        serial: &mut m.serial,
        wire,
    };
    // A lone delimiter ends whatever the host's deframer holds, then the hello.
    link.serial.write_all(&[0]);
    link.hello(me);

    let mut clock = Clock::start();
    let mut draws = Draws(m.seed | 1);
    let mut s = Session {
        foreign,
        last_store_ms: 0,
        posting: true,
        next_tick_ms: TICK_MS,
        stored: 0,
        block_units: 0,
        block_count: 0,
        dropped: 0,
        refused: 0,
        wall: (wall, 0),
    };
    loop {
        let mut input = false;
        for _ in 0..READ_BURST {
            let Some(byte) = link.serial.try_read() else {
                break;
            };
            let Some(frame) = deframer.feed(byte) else {
                continue;
            };
            if let Ok(body) = frame {
                let now = now_ms(&mut clock, &m.meter);
                on_body(body, now, node, &mut link, &m.meter, &mut s);
                input = true;
            }
            report_drops(deframer.stats(), &mut s);
        }
        let now = now_ms(&mut clock, &m.meter);
        if input {
            node.flush(now, &mut link);
        }
        if now >= s.next_tick_ms {
            node.tick(now, &mut draws, &mut link);
            s.next_tick_ms = now + TICK_MS;
            notices(node, now, &mut s);
        }
        let own = node.store().head(&me).map_or(0, |h| h.seq);
        if s.posting
            && s.foreign
            && own < OWN_POSTS
            && now.saturating_sub(s.last_store_ms) >= IDLE_BEFORE_POST_MS
        {
            post(node, &m.keys, own + 1, now, &mut s);
            node.flush(now, &mut link);
        }
    }
}

/// One received frame body.
fn on_body<S: Serial>(
    body: &[u8],
    now: u64,
    node: &mut DeviceNode,
    link: &mut Link<'_, S>,
    meter: &Meter,
    s: &mut Session,
) {
    match parse_body(body) {
        Ok(Body::Hello(hello)) => {
            node.peer_gone(HOST);
            let _ = node.add_peer(HOST);
            link.hello(node.me());
            outln!(
                "host {} hello (body_max {}, authors_max {})",
                hello.key,
                hello.body_max,
                hello.authors_max
            );
            // Announce the heads at once rather than at the next tick: the host answers
            // with what it holds of the followed authors.
            node.gossip_to(now, HOST, link);
        }
        Ok(Body::Follow(author)) => {
            if node.follow(author) {
                outln!("follow {author}");
                // Announce the new interest now: the host answers with what it holds.
                node.gossip_to(now, HOST, link);
            } else {
                outln!("follow {author} refused: {AUTHORS} authors already");
            }
        }
        Ok(Body::Sync(bytes)) => {
            let block = bytes.first() == Some(&TAG_BLOCK);
            let (result, units) = meter.measure(|| node.handle(now, HOST, bytes, link));
            if let Err(e) = result {
                outln!("sync: refused a message: {e:?}");
            }
            let stored = notices(node, now, s);
            if block && stored > 0 {
                s.block_units += units;
                s.block_count += stored;
            }
        }
        Err(e) => outln!("link: bad body: {e:?}"),
    }
}

/// Prints the blocks the node stored since the last call, and every
/// [`REPORT_EVERY`] blocks the measurements. Returns how many it printed.
fn notices(node: &mut DeviceNode, now: u64, s: &mut Session) -> u64 {
    let stored = node.take_stored();
    for Stored {
        author,
        seq,
        timestamp_ms,
    } in &stored
    {
        outln!("stored {author} {seq}");
        if *author != node.me() {
            s.foreign = true;
        }
        if *timestamp_ms >= s.wall.0 {
            s.wall = (*timestamp_ms, now);
        }
    }
    let refused = node.stats().store_full;
    if refused != s.refused {
        s.refused = refused;
        outln!("log: full, {refused} blocks not stored");
    }
    let n = stored.len() as u64;
    if n > 0 {
        let before = s.stored;
        s.stored += n;
        s.last_store_ms = now;
        if s.stored / REPORT_EVERY > before / REPORT_EVERY {
            let per_block = s.block_units / s.block_count.max(1);
            outln!(
                "~ received {} blocks, {per_block} {} per block (verify + store)",
                s.stored,
                meter::UNIT
            );
            outln!("~ peak stack {} bytes", stack::peak_bytes());
        }
    }
    n
}

/// Prints the link counters when the dropped count changed.
fn report_drops(stats: &LinkStats, s: &mut Session) {
    let dropped = stats.dropped();
    if dropped != s.dropped {
        s.dropped = dropped;
        outln!(
            "link: frames {} dropped {dropped} (oversized {}, cobs {}, crc {})",
            stats.frames,
            stats.oversized,
            stats.bad_cobs,
            stats.bad_crc
        );
    }
}

/// Signs and appends the device's post number `seq` ("device post N").
fn post(node: &mut DeviceNode, keys: &KeyPair, seq: u64, now: u64, s: &mut Session) {
    // Whatever happens, the next try waits for another idle period.
    s.last_store_ms = now;
    let timestamp = s.wall.0 + now.saturating_sub(s.wall.1);
    let mut text: String<32> = String::new();
    let _ = write!(text, "device post {seq}");
    let mut buf = [0u8; 64];
    let appended = Payload::post(&text, None)
        .and_then(|p| Ok((p.kind(), p.encode(&mut buf)?.len())))
        .map_err(ChainError::from)
        .and_then(|(kind, len)| {
            let payload = buf.get(..len).unwrap_or_default();
            node.append_own(keys, kind, timestamp, payload)
        });
    match appended {
        Ok(header) => outln!("posted {}", header.seq),
        Err(e) => {
            s.posting = false;
            outln!("post {seq} failed: {e:?}; no more posts until a reboot");
        }
    }
}

/// Follows the build-time `GLITTER_FOLLOW` keys; entries that are not 64 hex digits
/// are reported and skipped.
fn built_in_follows(node: &mut DeviceNode) {
    let Some(list) = BUILT_IN_FOLLOWS else {
        return;
    };
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match parse_key(entry) {
            Some(author) if node.follow(author) => outln!("follow {author} (built in)"),
            Some(author) => outln!("follow {author} refused: {AUTHORS} authors already"),
            None => outln!("follow: skipped {entry:?} (GLITTER_FOLLOW): not a 64-hex-digit key"),
        }
    }
}

/// A key from 64 hex digits (either case).
fn parse_key(hex: &str) -> Option<PublicKey> {
    let digits = hex.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let mut key = [0u8; 32];
    for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (nibble(*hi)?, nibble(*lo)?),
            _ => return None,
        };
        *byte = hi << 4 | lo;
    }
    Some(PublicKey(key))
}

/// One hex digit's value.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
