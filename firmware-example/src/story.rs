//! The demo story: glitter's core, step by step, on a microcontroller.
//!
//! Everything here is wiring: keys, blocks, chain validation, payloads and signature
//! verdicts all come from `glitter_core`. Each step prints what it did and records
//! checks; the run passes only if every check does.
//!
//! Lines that begin with `~` are measurements (instruction or cycle counts, memory).
//! They depend on the compiler and the core's code, so the golden-file diff leaves
//! them out and `run-qemu.sh` checks them against budgets instead.

use core::fmt::Write as _;

use glitter_core::chain::{ChainError, ChainState, Head};
use glitter_core::social::Payload;
use glitter_core::store::embedded_storage::nor_flash::ErrorType;
use glitter_core::store::{self, BlockLog, FlashLog, MountReport};
use glitter_core::wire::WireError;
use glitter_core::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use glitter_core::{BlockBuilder, KeyPair, PublicKey, sig};
use heapless::{String, Vec};

use crate::meter::{self, Meter};
use crate::platform::Flash;
use crate::{outln, stack, vectors};

/// Alice's demo seed: the device owner's identity. Fixed, so that every run (and the
/// golden file) sees the same keys, blocks and ids.
pub const ALICE_SEED: [u8; 32] = *b"glitter/demo/alice/seed/00000001";
/// Bob's demo seed: a second author whose chain Alice's device receives.
pub const BOB_SEED: [u8; 32] = *b"glitter/demo/bob/seed/0000000002";
/// Posts Alice appends (the issue asks for at least 20).
pub const ALICE_POSTS: u64 = 24;
/// Blocks in Bob's chain: a profile and posts.
pub const BOB_BLOCKS: usize = 8;
/// 2026-01-01T00:00:00Z: the demo's clock starts here; each block is a minute later.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
/// Largest payload the demo writes (bytes); the core's bound is 1 KiB.
pub const DEMO_PAYLOAD_MAX: usize = 96;
/// Authors the flash log's RAM index tracks (80 bytes each): Alice and Bob.
pub const LOG_AUTHORS: usize = 2;
/// Blocks the flash log's RAM index tracks (4 bytes each): the story stores 33. The
/// index is part of every `FlashLog` value, which the story moves across reboots, so
/// it is sized to the story rather than to the flash (which holds about 60 of its
/// blocks).
pub const LOG_BLOCKS: usize = 48;

/// The chain log: glitter's `FlashLog` on the machine's flash (a `RamNorFlash` under
/// QEMU, the NVMC on the board), with a RAM index of [`LOG_AUTHORS`] authors and
/// [`LOG_BLOCKS`] blocks. Alice's chain and the chains she receives share it.
pub type Log<'f> = FlashLog<&'f mut Flash, LOG_AUTHORS, LOG_BLOCKS>;
/// The log's typed error, over the flash driver's own.
pub type LogError = store::Error<<Flash as ErrorType>::Error>;

/// A received block: the header's bytes and the payload's, as they travel.
pub struct WireBlock {
    /// The canonical header bytes.
    pub header: [u8; HEADER_LEN],
    /// The payload bytes.
    pub payload: Vec<u8, DEMO_PAYLOAD_MAX>,
}

/// The buffers the story needs, lent by the caller so that they live in static RAM
/// and not on the stack.
pub struct Buffers {
    /// Bob's headers, from seq 1: the `HeaderSource` his builder (and a validator of
    /// a tampered copy) checks skip links against (a slice of headers from seq 1 is
    /// one). Alice's chains are checked against the flash log instead.
    pub verified: Vec<Header, BOB_BLOCKS>,
    /// Bob's chain as it arrives over the air.
    pub inbox: Vec<WireBlock, BOB_BLOCKS>,
    /// A payload read back from the flash log.
    pub payload: [u8; PAYLOAD_LEN_MAX],
}

impl Buffers {
    /// Empty buffers (const, for a `static`).
    pub const fn new() -> Buffers {
        Buffers {
            verified: Vec::new(),
            inbox: Vec::new(),
            payload: [0; PAYLOAD_LEN_MAX],
        }
    }
}

/// Pass/fail tally of the story's checks.
#[derive(Default)]
pub struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    /// Records one check and prints it.
    pub fn check(&mut self, ok: bool, what: core::fmt::Arguments<'_>) {
        if ok {
            self.passed += 1;
            outln!("  ok    {}", what);
        } else {
            self.failed += 1;
            outln!("  FAIL  {}", what);
        }
    }

    /// True if at least one check ran and none failed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0 && self.passed > 0
    }
}

/// Costs measured along the way, printed together at the end.
#[derive(Default)]
struct Costs {
    sign: u64,
    verify: u64,
    append: u64,
    /// Each remount of the log: blocks and authors found, cost.
    mounts: Vec<(usize, usize, u64), 2>,
}

/// Why one of Alice's posts did not make it to the log.
enum Failure {
    /// The payload did not encode, or a stored header did not decode.
    Wire(WireError),
    /// The chain refused to sign or accept it.
    Chain(ChainError),
    /// The log refused or failed to store it.
    Store(LogError),
}

impl core::fmt::Debug for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Failure::Wire(e) => write!(f, "{e:?}"),
            Failure::Chain(e) => write!(f, "{e:?}"),
            Failure::Store(e) => write!(f, "{e:?}"),
        }
    }
}

/// A step stopped early; its failed check is already recorded.
struct Stop;

/// `result`'s value; or, on error, a failed check naming `what` and the error.
fn must<T, E: core::fmt::Debug>(
    checks: &mut Checks,
    result: Result<T, E>,
    what: &str,
) -> Result<T, Stop> {
    result.map_err(|e| {
        checks.check(false, format_args!("{what}: {e:?}"));
        Stop
    })
}

/// Runs the whole story and returns the tally.
///
/// The steps are `#[inline(never)]`: each gets its own stack frame, live only while it
/// runs. Inlined into this one (LTO does it), their locals (several `FlashLog`s and
/// their mount results among them) would share a single frame of about 9 KB for the
/// whole run, and the peak stack figure would measure that rather than the core.
pub fn run(machine: &str, meter: &Meter, buffers: &mut Buffers, flash: &mut Flash) -> Checks {
    let mut checks = Checks::default();
    let mut costs = Costs::default();
    outln!(
        "glitter-firmware {} on {}",
        env!("CARGO_PKG_VERSION"),
        machine
    );

    let Some(alice) = identity(&mut checks) else {
        report(&checks, &costs);
        return checks;
    };
    // Steps 2 to 7 share Alice's flash log. A step that cannot go on records a failed
    // check and ends them (the run then fails).
    let _ = flash_story(&alice, meter, buffers, &mut *flash, &mut checks, &mut costs);
    #[cfg(feature = "qemu")]
    bad_flash(flash, buffers, &mut checks);
    pinned_vectors(&mut checks);
    // Only with feature `zk` (mps2-an386, nrf52840): on lm3s6965 the ZK step would need
    // ~33 KB of its 128 KiB flash budget (see zk_step).
    #[cfg(feature = "zk")]
    crate::zk_step::run(meter, &mut checks);
    report(&checks, &costs);
    checks
}

/// On a board: an identity from the hardware RNG, as a device creates its owner's on
/// first boot. Printed, not kept; the story itself uses the fixed seeds.
#[cfg(feature = "nrf52840")]
pub fn fresh_identity(seed: [u8; 32]) {
    match KeyPair::from_seed(seed) {
        Ok(keys) => outln!(
            "a fresh identity from the hardware RNG: {:?}",
            keys.public()
        ),
        Err(e) => outln!("the hardware RNG gave an unusable seed: {e}"),
    }
}

/// Step 1: an identity from the fixed demo seed.
fn identity(checks: &mut Checks) -> Option<KeyPair> {
    outln!("== identity");
    let Ok(alice) = KeyPair::from_seed(ALICE_SEED) else {
        checks.check(
            false,
            format_args!("alice's key pair derives from the demo seed"),
        );
        return None;
    };
    outln!("  alice is {:?} (from the fixed demo seed)", alice.public());
    checks.check(
        alice.public().validate().is_ok(),
        format_args!("alice's key passes the signature rule's key checks"),
    );
    Some(alice)
}

/// Steps 2 to 7: Alice's chain in the flash log. Returns early (its failed check
/// recorded) when a step cannot go on.
#[inline(never)]
fn flash_story(
    alice: &KeyPair,
    meter: &Meter,
    buffers: &mut Buffers,
    flash: &mut Flash,
    checks: &mut Checks,
    costs: &mut Costs,
) -> Result<(), Stop> {
    let mut log = open_log(flash, checks)?;
    append_posts(alice, meter, &mut log, checks, costs)?;
    let mut log = reboot(meter, log, checks, costs)?;
    #[cfg(feature = "qemu")]
    {
        // Signed here, not in `power_cut`, so that signing's deep stack does not sit
        // on top of that step's frame.
        let n = ALICE_POSTS + 1;
        let in_flight = must(checks, sign_post(alice, &mut log, n), "post signed")?;
        log = power_cut(alice, log, n, in_flight, checks)?;
    }
    verify_chain(alice, meter, &mut log, buffers, checks, costs);
    receive(meter, buffers, &mut log, checks);
    reboot(meter, log, checks, costs).map(|_| ())
}

/// Step 2: the device mounts its chain log; a blank flash is formatted.
#[inline(never)]
fn open_log<'f>(flash: &'f mut Flash, checks: &mut Checks) -> Result<Log<'f>, Stop> {
    outln!("== flash log");
    // A board's flash keeps what the previous run wrote: show it, then start afresh,
    // so that every run tells the same story.
    #[cfg(feature = "nrf52840")]
    let log = {
        match Log::mount(&mut *flash) {
            Ok(old) => {
                let u = old.usage();
                outln!(
                    "  the previous run left {} blocks of {} authors; formatting",
                    u.blocks,
                    u.authors
                );
            }
            Err(e) => outln!("  no log from a previous run ({e:?}); formatting"),
        }
        Log::format(flash)
    };
    #[cfg(feature = "qemu")]
    let log = Log::mount_or_format(flash);
    let log = must(checks, log, "the chain log mounts or formats")?;
    let geo = log.geometry();
    let usage = log.usage();
    outln!(
        "  FlashLog on {} pages of {} bytes; RAM index for {} authors and {} blocks ({} bytes)",
        geo.pages,
        geo.page_size,
        usage.authors_max,
        usage.blocks_max,
        usage.index_bytes
    );
    checks.check(
        usage.blocks == 0 && log.mount_report().records == 0,
        format_args!("blank flash formatted: an empty log"),
    );
    Ok(log)
}

/// Step 3: Alice appends her posts. Each is signed as the next block of the chain
/// stored in the log (`ChainState` resumed at the log's head, skip-link targets read
/// from flash), then appended: durable first, then visible.
#[inline(never)]
fn append_posts(
    alice: &KeyPair,
    meter: &Meter,
    log: &mut Log<'_>,
    checks: &mut Checks,
    costs: &mut Costs,
) -> Result<(), Stop> {
    outln!("== append");
    for n in 1..=ALICE_POSTS {
        let (stored, cost) = meter.measure(|| append_post(alice, log, n));
        costs.append = costs.append.max(cost);
        if let Err(e) = stored {
            checks.check(false, format_args!("post {n} appended: {e:?}"));
            return Err(Stop);
        }
    }
    let head = log.head(&alice.public());
    if let Some(head) = head {
        outln!("  head: seq {} id {:?}", head.seq, head.id);
    }
    let usage = log.usage();
    checks.check(
        head.map(|h| h.seq) == Some(ALICE_POSTS) && usage.blocks as u64 == ALICE_POSTS,
        format_args!(
            "{ALICE_POSTS} posts signed and appended to the flash log ({} flash bytes used)",
            usage.flash_bytes_used
        ),
    );

    // The cost of a bare signature over a header-sized message, for comparison with
    // the full append (payload encoding, hashing, signing, storing).
    let message = [0x5a_u8; 164];
    let (_, cost) = meter.measure(|| alice.sign(&message));
    costs.sign = cost;
    Ok(())
}

/// Alice's post `n`, encoded and signed as the next block of the chain stored in
/// `log` (not stored yet).
fn sign_post(
    alice: &KeyPair,
    log: &mut Log<'_>,
    n: u64,
) -> Result<(Header, Vec<u8, DEMO_PAYLOAD_MAX>), Failure> {
    let mut text: String<64> = String::new();
    let _ = write!(text, "post {n} from a microcontroller");
    let post = Payload::post(&text, None).map_err(Failure::Wire)?;
    let mut payload: Vec<u8, DEMO_PAYLOAD_MAX> = Vec::new();
    let _ = payload.resize(DEMO_PAYLOAD_MAX, 0);
    let len = post.encode(&mut payload).map_err(Failure::Wire)?.len();
    payload.truncate(len);
    let author = alice.public();
    let mut state = log.chain_state(author).map_err(Failure::Chain)?;
    let header = state
        .append(
            alice,
            post.kind(),
            EPOCH_MS + n * 60_000,
            &payload,
            &mut log.source(author),
        )
        .map_err(Failure::Chain)?;
    Ok((header, payload))
}

/// Signs Alice's post `n` and appends it to the log.
fn append_post(alice: &KeyPair, log: &mut Log<'_>, n: u64) -> Result<Header, Failure> {
    let (header, payload) = sign_post(alice, log, n)?;
    log.append(&header, &payload).map_err(Failure::Store)?;
    Ok(header)
}

/// Steps 4 and 7: a reboot. The RAM index is lost and only the flash remains; mounting
/// it rebuilds the index from the records. Every author's head and every block must
/// survive.
#[inline(never)]
fn reboot<'f>(
    meter: &Meter,
    log: Log<'f>,
    checks: &mut Checks,
    costs: &mut Costs,
) -> Result<Log<'f>, Stop> {
    outln!("== reboot");
    let mut heads: Vec<(PublicKey, Option<Head>), LOG_AUTHORS> = Vec::new();
    for author in log.authors() {
        let _ = heads.push((author, log.head(&author)));
    }
    let blocks = log.usage().blocks;
    let flash = log.into_flash();
    let (mounted, cost) = meter.measure(|| Log::mount(flash));
    let log = must(checks, mounted, "the log mounts after the reboot")?;
    let report = log.mount_report();
    let _ = costs.mounts.push((report.records, report.authors, cost));
    print_report(&report);
    checks.check(
        report.records == blocks
            && report.authors == heads.len()
            && report.torn_tail.is_none()
            && heads.iter().all(|(author, head)| log.head(author) == *head),
        format_args!(
            "{blocks} blocks of {} author(s) and their heads survive the reboot",
            heads.len()
        ),
    );
    Ok(log)
}

/// Prints what a mount found.
fn print_report(report: &MountReport) {
    outln!(
        "  mounted: {} blocks of {} author(s) on {} page(s)",
        report.records,
        report.authors,
        report.pages_in_use
    );
    if let Some(torn) = report.torn_tail {
        outln!(
            "  torn tail at flash offset {} ({})",
            torn.offset,
            if torn.repaired {
                "repaired: the log goes on on the next page"
            } else {
                "no page left: read-only"
            }
        );
    }
}

/// Step 5 (QEMU): the power fails in the middle of appending `header` (Alice's post
/// `n`, signed as the next block of her chain). The flash is armed to
/// complete the record's first write (its head) and cut the second (the payload)
/// after 8 bytes, with a half-programmed byte; then the device powers up and mounts.
/// The head must be the old one or the block in flight, nothing committed may be
/// lost, and the torn tail must be reported and never served.
#[cfg(feature = "qemu")]
#[inline(never)]
fn power_cut<'f>(
    alice: &KeyPair,
    log: Log<'f>,
    n: u64,
    (header, payload): (Header, Vec<u8, DEMO_PAYLOAD_MAX>),
    checks: &mut Checks,
) -> Result<Log<'f>, Stop> {
    use glitter_core::store::PowerCut;

    outln!("== power cut");
    let author = alice.public();
    let before = log.head(&author);
    let blocks = log.usage().blocks;
    // Arm the cut on the flash itself (the log hands its flash back, and mounts it
    // again: a mount without a torn tail writes nothing).
    let flash = log.into_flash();
    // Op 0 of the append is the record (head, payload, padding) in one write: cut
    // it 8 bytes in, leaving a half-programmed byte.
    flash.schedule_power_cut(PowerCut {
        after_ops: 0,
        after_bytes: 8,
        torn_mask: 0x0f,
    });
    let mut log = must(checks, Log::mount(flash), "the log mounts")?;
    let cut = log.append(&header, &payload);
    if let Err(e) = &cut {
        outln!("  post {n}: append fails: {e:?}");
    }
    checks.check(
        matches!(cut, Err(store::Error::Flash(_))),
        format_args!("the power fails in the middle of post {n}'s append"),
    );

    // Power comes back: reboot and mount.
    let flash = log.into_flash();
    flash.power_on();
    let mut log = must(checks, Log::mount(flash), "the log mounts after the cut")?;
    let report = log.mount_report();
    print_report(&report);
    let head = log.head(&author);
    let landed = head.map(|h| h.id) == Some(header.id());
    let kept = head == before || landed;
    checks.check(
        kept && report.records >= blocks,
        format_args!(
            "after the cut the head is {} and all {blocks} committed blocks are kept",
            if landed {
                "the block in flight"
            } else {
                "the old head"
            }
        ),
    );
    checks.check(
        report.torn_tail.is_some_and(|t| t.repaired),
        format_args!("the torn tail is reported and the log goes on on a fresh page"),
    );
    if !landed {
        let stored = log.append(&header, &payload);
        checks.check(
            stored.is_ok() && log.head(&author).map(|h| h.id) == Some(header.id()),
            format_args!("post {n}, signed before the cut, appended after it"),
        );
    }
    Ok(log)
}

/// Step 6: reads Alice's whole chain back from flash and verifies it from genesis,
/// with the log as the source of skip-link targets.
#[inline(never)]
fn verify_chain(
    alice: &KeyPair,
    meter: &Meter,
    log: &mut Log<'_>,
    buffers: &mut Buffers,
    checks: &mut Checks,
    costs: &mut Costs,
) {
    outln!("== verify");
    let author = alice.public();
    let Ok(mut state) = ChainState::new(author) else {
        checks.check(false, format_args!("a validator for alice's chain starts"));
        return;
    };
    let last = log.head(&author).map_or(0, |h| h.seq);
    let mut verified = 0u64;
    for seq in 1..=last {
        let (header, payload) = match log.block(&author, seq, &mut buffers.payload) {
            Ok(Some(block)) => block,
            Ok(None) => {
                outln!("  block {seq}: not in the log");
                break;
            }
            Err(e) => {
                outln!("  block {seq}: {e:?}");
                break;
            }
        };
        let bytes = header.to_bytes();
        let (result, cost) =
            meter.measure(|| state.verify_next(&bytes, Some(payload), &mut log.source(author)));
        costs.verify = costs.verify.max(cost);
        if let Err(e) = result {
            outln!("  block {seq}: {e:?} ({e})");
            break;
        }
        verified += 1;
    }
    checks.check(
        verified == last && last >= ALICE_POSTS && state.head() == log.head(&author),
        format_args!(
            "{verified} blocks read back from flash and verified from genesis with ChainState::verify_next"
        ),
    );
}

/// Step 7: Bob's chain arrives; Alice's device verifies it and stores it in her log
/// beside her own chain, and rejects tampered or out-of-order copies with typed errors.
#[inline(never)]
fn receive(meter: &Meter, buffers: &mut Buffers, log: &mut Log<'_>, checks: &mut Checks) {
    outln!("== receive");
    let Ok(bob) = KeyPair::from_seed(BOB_SEED) else {
        checks.check(false, format_args!("bob's key pair derives from his seed"));
        return;
    };
    outln!("  bob is {:?} (second fixed seed)", bob.public());
    if !send_bob_chain(&bob, buffers) {
        checks.check(false, format_args!("bob builds {BOB_BLOCKS} blocks"));
        return;
    }

    // Tampered and reordered copies first, against a fresh validator each.
    let tampered = [
        ("payload byte flipped in block 3", 2, Tamper::Payload),
        ("signature byte flipped in block 3", 2, Tamper::Signature),
        ("block 3 delivered before block 2", 2, Tamper::SkipAhead),
    ];
    for (what, index, tamper) in tampered {
        let result = replay_with(&bob, buffers, index, tamper);
        let expected = match tamper {
            Tamper::Payload => matches!(result, Err(ChainError::PayloadHashMismatch)),
            Tamper::Signature => matches!(result, Err(ChainError::BadSignature(_))),
            Tamper::SkipAhead => matches!(result, Err(ChainError::SeqGap { .. })),
        };
        match result {
            Err(e) => checks.check(expected, format_args!("{what}: rejected, {e:?}")),
            Ok(()) => checks.check(false, format_args!("{what}: accepted")),
        }
    }

    // The genuine chain, in order: each block is verified (skip-link targets read from
    // the log), then stored in Alice's log.
    let author = bob.public();
    let Ok(mut state) = log.chain_state(author) else {
        checks.check(false, format_args!("a validator for bob's chain starts"));
        return;
    };
    let mut accepted = 0usize;
    for block in &buffers.inbox {
        let (result, _) = meter.measure(|| {
            state.verify_next(&block.header, Some(&block.payload), &mut log.source(author))
        });
        let stored = match result {
            Ok(header) => log.append(&header, &block.payload),
            Err(e) => {
                outln!("  block {}: {:?}", accepted + 1, e);
                break;
            }
        };
        if let Err(e) = stored {
            outln!("  block {}: {:?}", accepted + 1, e);
            break;
        }
        accepted += 1;
    }
    checks.check(
        accepted == BOB_BLOCKS && log.head(&author).map(|h| h.seq) == Some(BOB_BLOCKS as u64),
        format_args!("bob's {accepted} blocks received, verified and stored in the log"),
    );
    let usage = log.usage();
    checks.check(
        usage.authors == 2,
        format_args!(
            "one log, {} authors: {} blocks, {} of {} flash bytes used",
            usage.authors, usage.blocks, usage.flash_bytes_used, usage.flash_bytes
        ),
    );
}

/// How [`replay_with`] damages the delivery.
#[derive(Clone, Copy)]
enum Tamper {
    /// Flip a payload byte of the block at the index.
    Payload,
    /// Flip a signature byte of the block at the index.
    Signature,
    /// Skip the block before the index.
    SkipAhead,
}

/// Delivers Bob's blocks up to and including `index` to a fresh validator, damaged as
/// `tamper` says; returns the first error.
#[inline(never)]
fn replay_with(
    bob: &KeyPair,
    buffers: &mut Buffers,
    index: usize,
    tamper: Tamper,
) -> Result<(), ChainError> {
    let mut state = ChainState::new(bob.public())?;
    buffers.verified.clear();
    for (i, block) in buffers.inbox.iter().enumerate().take(index + 1) {
        let mut header = block.header;
        let mut payload = block.payload.clone();
        if i == index {
            match tamper {
                Tamper::Payload => {
                    if let Some(b) = payload.last_mut() {
                        *b ^= 0x01;
                    }
                }
                Tamper::Signature => header[HEADER_LEN - 1] ^= 0x01,
                Tamper::SkipAhead => {}
            }
        } else if i + 1 == index && matches!(tamper, Tamper::SkipAhead) {
            continue;
        }
        let headers: &mut [Header] = &mut buffers.verified;
        let h = state.verify_next(&header, Some(&payload), headers)?;
        let _ = buffers.verified.push(h);
    }
    Ok(())
}

/// Bob writes a profile and posts; they land in Alice's inbox as bytes.
#[inline(never)]
fn send_bob_chain(bob: &KeyPair, buffers: &mut Buffers) -> bool {
    buffers.inbox.clear();
    buffers.verified.clear();
    let Ok(state) = ChainState::new(bob.public()) else {
        return false;
    };
    let Ok(mut builder) = BlockBuilder::new(bob.clone(), state) else {
        return false;
    };
    for n in 0..BOB_BLOCKS {
        let mut text: String<64> = String::new();
        let _ = write!(text, "bob's post {n}");
        let payload = if n == 0 {
            Payload::profile("bob", "a second author")
        } else {
            Payload::post(&text, None)
        };
        let Ok(payload) = payload else {
            return false;
        };
        let ts = EPOCH_MS + 30_000 + (n as u64) * 60_000;
        let headers: &mut [Header] = &mut buffers.verified;
        let Ok((header, bytes)) = builder.next(&payload, ts, headers) else {
            return false;
        };
        let Ok(bytes) = Vec::from_slice(bytes) else {
            return false;
        };
        let sent = buffers.inbox.push(WireBlock {
            header: header.to_bytes(),
            payload: bytes,
        });
        if sent.is_err() || buffers.verified.push(header).is_err() {
            return false;
        }
    }
    true
}

/// Step 8 (QEMU): flash the log cannot trust. A bit of a committed block rots, then
/// the whole flash holds garbage. Mount refuses each with a typed error (printed),
/// serves nothing from it and does not panic; `mount_or_format` does not format a
/// damaged log away; an explicit format recovers the flash, and the log works again.
#[cfg(feature = "qemu")]
#[inline(never)]
fn bad_flash(flash: &mut Flash, buffers: &Buffers, checks: &mut Checks) {
    use glitter_core::store::Geometry;
    use glitter_core::store::embedded_storage::nor_flash::NorFlash;
    use glitter_core::store::format::RECORD_HEAD_LEN;

    outln!("== bad flash");
    // Bit rot: the first word of block 1's payload (page 0, long since full) decays
    // to zeros. NOR bits only go 1 -> 0; multi-write mode lets a word be written again.
    let Some(geo) = Geometry::of(&*flash) else {
        checks.check(false, format_args!("the flash's geometry"));
        return;
    };
    flash.set_multiwrite(true);
    let rot = flash.write(geo.data_start() + RECORD_HEAD_LEN as u32, &[0; 4]);
    flash.set_multiwrite(false);
    let mounted = Log::mount(&mut *flash).map(|_| ());
    if let Err(e) = &mounted {
        outln!("  block 1's payload rots; mount: {e:?}");
    }
    let refused = Log::mount_or_format(&mut *flash).map(|_| ());
    checks.check(
        rot.is_ok() && matches!(mounted, Err(store::Error::Corrupted { .. })) && refused == mounted,
        format_args!("rotten log refused, typed; mount_or_format does not format it away"),
    );

    // Garbage: a deterministic pseudo-random pattern over the whole flash.
    let filled = fill_with_garbage(flash);
    let mounted = Log::mount(&mut *flash).map(|_| ());
    if let Err(e) = &mounted {
        outln!("  garbage on every page; mount: {e:?}");
    }
    checks.check(
        filled.is_ok() && matches!(mounted, Err(store::Error::NotFormatted)),
        format_args!("garbage flash refused with a typed error, no panic"),
    );

    // Recovery: format, store Bob's (already verified) chain again, reboot.
    match restore(flash, buffers) {
        Ok(report) => {
            print_report(&report);
            checks.check(
                report.records == buffers.inbox.len() && report.authors == 1,
                format_args!(
                    "formatted, the log works again: {} blocks stored and remounted",
                    report.records
                ),
            );
        }
        Err(e) => checks.check(false, format_args!("the log works after a format: {e:?}")),
    }
}

/// Fills the whole flash with a deterministic pseudo-random pattern (xorshift32),
/// through the `NorFlash` API: erase everything, then program every word.
#[cfg(feature = "qemu")]
fn fill_with_garbage(flash: &mut Flash) -> Result<(), <Flash as ErrorType>::Error> {
    use glitter_core::store::embedded_storage::nor_flash::NorFlash;

    let capacity = Flash::CAPACITY as u32;
    flash.erase(0, capacity)?;
    let mut x: u32 = 0x2545_f491;
    let mut chunk = [0u8; 256];
    for offset in (0..capacity).step_by(chunk.len()) {
        for word in chunk.chunks_exact_mut(4) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            word.copy_from_slice(&x.to_le_bytes());
        }
        flash.write(offset, &chunk)?;
    }
    Ok(())
}

/// Formats the flash, stores Bob's received blocks in it, and mounts it again.
#[cfg(feature = "qemu")]
fn restore(flash: &mut Flash, buffers: &Buffers) -> Result<MountReport, Failure> {
    let mut log = Log::format(flash).map_err(Failure::Store)?;
    for block in &buffers.inbox {
        let header = Header::decode(&block.header).map_err(Failure::Wire)?;
        log.append(&header, &block.payload)
            .map_err(Failure::Store)?;
    }
    let log = Log::mount(log.into_flash()).map_err(Failure::Store)?;
    Ok(log.mount_report())
}

/// Step 9: every pinned Ed25519 verdict, through the same `sig::verdict` the host
/// test calls.
#[inline(never)]
fn pinned_vectors(checks: &mut Checks) {
    outln!("== signature rule (pinned vectors)");
    let mut tally: Vec<(&str, u32), 8> = Vec::new();
    let mut mismatches = 0u32;
    for (name, key, msg, signature, pinned) in vectors::PINNED {
        let got = sig::verdict(key, msg, signature);
        if got != *pinned {
            mismatches += 1;
            if mismatches <= 5 {
                outln!("  {name}: pinned {pinned}, firmware says {got}");
            }
        }
        match tally.iter_mut().find(|(v, _)| *v == got) {
            Some((_, n)) => *n += 1,
            None => {
                let _ = tally.push((got, 1));
            }
        }
    }
    for (verdict, n) in &tally {
        outln!("  {verdict:<18} {n:>3}");
    }
    checks.check(
        mismatches == 0 && !vectors::PINNED.is_empty(),
        format_args!(
            "{} of {} verdicts equal the pinned ones",
            vectors::PINNED.len() as u32 - mismatches,
            vectors::PINNED.len()
        ),
    );
}

/// Costs and memory: the `~` lines the golden diff skips.
fn report(checks: &Checks, costs: &Costs) {
    outln!("== costs and memory");
    let unit = meter::UNIT;
    outln!("  ~ sign (164-byte message)     {:>8} {unit}", costs.sign);
    outln!("  ~ verify_next (max per block) {:>8} {unit}", costs.verify);
    outln!("  ~ append (max per post)       {:>8} {unit}", costs.append);
    for (blocks, authors, cost) in &costs.mounts {
        outln!("  ~ mount ({blocks} blocks, {authors} author(s)) {cost:>8} {unit}");
    }
    outln!("  ~ static RAM {} bytes", stack::static_bytes());
    outln!(
        "  ~ peak stack {} bytes (of {} available)",
        stack::peak_bytes(),
        stack::stack_room_bytes()
    );
    outln!("== summary");
    outln!("{} passed, {} failed", checks.passed, checks.failed);
}
