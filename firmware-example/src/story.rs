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

use glitter_core::chain::{ChainError, ChainState};
use glitter_core::social::Payload;
use glitter_core::wire::header::{HEADER_LEN, Header};
use glitter_core::{BlockBuilder, KeyPair, sig};
use heapless::{String, Vec};

use crate::meter::{self, Meter};
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
/// Capacity of a chain held in RAM (blocks).
pub const CHAIN_CAPACITY: usize = 32;
/// Largest payload the demo writes (bytes); the core's bound is 1 KiB.
pub const DEMO_PAYLOAD_MAX: usize = 96;

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
    /// Alice's chain, as stored on her device (headers and payloads).
    pub alice: Vec<WireBlock, CHAIN_CAPACITY>,
    /// Headers verified so far: the `HeaderSource` that skip links are checked
    /// against (a slice of headers from seq 1 is one).
    pub verified: Vec<Header, CHAIN_CAPACITY>,
    /// Bob's chain as it arrives over the air.
    pub inbox: Vec<WireBlock, BOB_BLOCKS>,
}

impl Buffers {
    /// Empty buffers (const, for a `static`).
    pub const fn new() -> Buffers {
        Buffers {
            alice: Vec::new(),
            verified: Vec::new(),
            inbox: Vec::new(),
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
    /// Mounting a flash log; `None` until the story has a flash store to mount.
    mount: Option<u64>,
}

/// Runs the whole story and returns the tally.
pub fn run(machine: &str, meter: &Meter, buffers: &mut Buffers) -> Checks {
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
    append_posts(&alice, meter, buffers, &mut checks, &mut costs);
    verify_chain(&alice, meter, buffers, &mut checks, &mut costs);
    receive(meter, buffers, &mut checks);
    pinned_vectors(&mut checks);
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

/// Step 2: Alice appends her posts.
fn append_posts(
    alice: &KeyPair,
    meter: &Meter,
    buffers: &mut Buffers,
    checks: &mut Checks,
    costs: &mut Costs,
) {
    outln!("== append");
    let Ok(state) = ChainState::new(alice.public()) else {
        checks.check(false, format_args!("alice's chain starts"));
        return;
    };
    let Ok(mut builder) = BlockBuilder::new(alice.clone(), state) else {
        checks.check(false, format_args!("alice's block builder starts"));
        return;
    };
    let mut failures = 0u32;
    for n in 1..=ALICE_POSTS {
        let mut text: String<64> = String::new();
        let _ = write!(text, "post {n} from a microcontroller");
        let Ok(post) = Payload::post(&text, None) else {
            failures += 1;
            continue;
        };
        let headers: &mut [Header] = &mut buffers.verified;
        let (built, cost) = meter.measure(|| {
            builder
                .next(&post, EPOCH_MS + n * 60_000, headers)
                .map(|(header, payload)| (header, Vec::from_slice(payload)))
        });
        costs.append = costs.append.max(cost);
        let Ok((header, Ok(payload))) = built else {
            failures += 1;
            continue;
        };
        let stored = buffers
            .alice
            .push(WireBlock {
                header: header.to_bytes(),
                payload,
            })
            .is_ok();
        if !stored || buffers.verified.push(header).is_err() {
            failures += 1;
        }
    }
    let head = builder.state().head();
    if let Some(head) = head {
        outln!("  head: seq {} id {:?}", head.seq, head.id);
    }
    checks.check(
        failures == 0 && head.map(|h| h.seq) == Some(ALICE_POSTS),
        format_args!("{ALICE_POSTS} posts appended and stored"),
    );

    // The cost of a bare signature over a header-sized message, for comparison with
    // the full append (payload encoding, hashing, signing, storing).
    let message = [0x5a_u8; 164];
    let (_, cost) = meter.measure(|| alice.sign(&message));
    costs.sign = cost;
}

/// Step 5: reads the whole chain back and verifies it from genesis.
fn verify_chain(
    alice: &KeyPair,
    meter: &Meter,
    buffers: &mut Buffers,
    checks: &mut Checks,
    costs: &mut Costs,
) {
    outln!("== verify");
    let Ok(mut state) = ChainState::new(alice.public()) else {
        checks.check(false, format_args!("a validator for alice's chain starts"));
        return;
    };
    buffers.verified.clear();
    let mut verified = 0u64;
    let mut first_error: Option<(u64, ChainError)> = None;
    for block in &buffers.alice {
        let headers: &mut [Header] = &mut buffers.verified;
        let (result, cost) =
            meter.measure(|| state.verify_next(&block.header, Some(&block.payload), headers));
        costs.verify = costs.verify.max(cost);
        match result {
            Ok(header) => {
                verified += 1;
                if buffers.verified.push(header).is_err() {
                    break;
                }
            }
            Err(e) => {
                first_error = Some((verified + 1, e));
                break;
            }
        }
    }
    if let Some((seq, e)) = first_error {
        outln!("  block {}: {:?} ({})", seq, e, e);
    }
    checks.check(
        first_error.is_none() && verified == ALICE_POSTS,
        format_args!("{verified} blocks verified from genesis with ChainState::verify_next"),
    );
}

/// Step 6: Bob's chain arrives; Alice's device verifies it, and rejects tampered or
/// out-of-order copies with typed errors.
fn receive(meter: &Meter, buffers: &mut Buffers, checks: &mut Checks) {
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

    // The genuine chain, in order.
    let Ok(mut state) = ChainState::new(bob.public()) else {
        checks.check(false, format_args!("a validator for bob's chain starts"));
        return;
    };
    buffers.verified.clear();
    let mut accepted = 0usize;
    for block in &buffers.inbox {
        let headers: &mut [Header] = &mut buffers.verified;
        let (result, _) =
            meter.measure(|| state.verify_next(&block.header, Some(&block.payload), headers));
        match result {
            Ok(header) if buffers.verified.push(header).is_ok() => accepted += 1,
            Ok(_) => break,
            Err(e) => {
                outln!("  block {}: {:?}", accepted + 1, e);
                break;
            }
        }
    }
    checks.check(
        accepted == BOB_BLOCKS,
        format_args!("bob's {accepted} blocks received and verified"),
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

/// Step 7: every pinned Ed25519 verdict, through the same `sig::verdict` the host
/// test calls.
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
    if let Some(mount) = costs.mount {
        outln!("  ~ mount                       {:>8} {unit}", mount);
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
