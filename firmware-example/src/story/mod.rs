//! The demo story: glitter's core, step by step, on a microcontroller.
//!
//! Everything here is wiring: keys, blocks, chain validation, payloads and signature
//! verdicts all come from `glitter_core`. Each step prints what it did and records
//! checks; the run passes only if every check does.
//!
//! Lines that begin with `~` are measurements (instruction or cycle counts, memory).
//! They depend on the compiler and the core's code, so the golden-file diff leaves
//! them out and `run-qemu.sh` checks them against budgets instead.
//!
//! This file holds the shared state, step 1 (identity), step 9 (pinned vectors) and
//! the report; the other steps are in `flash_log` (2 to 6: Alice's chain in the flash
//! log), `receive` (7: Bob's chain arrives) and `bad_flash` (8, QEMU only).

#[cfg(feature = "qemu")]
mod bad_flash;
mod flash_log;
mod receive;

use glitter_core::chain::ChainError;
use glitter_core::store::embedded_storage::nor_flash::ErrorType;
use glitter_core::store::{self, FlashLog, MountReport};
use glitter_core::wire::WireError;
use glitter_core::wire::header::{HEADER_LEN, Header, PAYLOAD_LEN_MAX};
use glitter_core::{KeyPair, sig};
use heapless::Vec;

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
    /// The one-out-of-256 step's members, prepared members and scratch (~71 KB).
    #[cfg(feature = "zk")]
    pub zk: crate::zk_step::Buffers,
}

impl Buffers {
    /// Empty buffers (const, for a `static`).
    pub const fn new() -> Buffers {
        Buffers {
            verified: Vec::new(),
            inbox: Vec::new(),
            payload: [0; PAYLOAD_LEN_MAX],
            #[cfg(feature = "zk")]
            zk: crate::zk_step::Buffers::new(),
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
    let _ = flash_log::flash_story(&alice, meter, buffers, &mut *flash, &mut checks, &mut costs);
    #[cfg(feature = "qemu")]
    bad_flash::bad_flash(flash, buffers, &mut checks);
    pinned_vectors(&mut checks);
    // Only with feature `zk` (mps2-an386, nrf52840): on lm3s6965 the ZK step would need
    // ~33 KB of its 128 KiB flash budget (see zk_step).
    #[cfg(feature = "zk")]
    crate::zk_step::run(meter, &mut buffers.zk, &mut checks);
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
