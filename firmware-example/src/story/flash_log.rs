//! Steps 2 to 6 (and the reboot of step 7): Alice's chain in the flash log. The log
//! is formatted, takes her posts, survives reboots and (under QEMU) a power cut, and
//! her chain is read back and verified from genesis.

use core::fmt::Write as _;

use glitter_core::chain::{ChainState, Head};
use glitter_core::social::Payload;
#[cfg(feature = "qemu")]
use glitter_core::store;
use glitter_core::store::BlockLog;
use glitter_core::wire::header::Header;
use glitter_core::{KeyPair, PublicKey};
use heapless::{String, Vec};

use super::{
    ALICE_POSTS, Buffers, Checks, Costs, DEMO_PAYLOAD_MAX, EPOCH_MS, Failure, LOG_AUTHORS, Log,
    Stop, must, print_report,
};
use crate::meter::Meter;
use crate::outln;
use crate::platform::Flash;

/// Steps 2 to 7: Alice's chain in the flash log. Returns early (its failed check
/// recorded) when a step cannot go on.
#[inline(never)]
pub(super) fn flash_story(
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
    super::receive::receive(meter, buffers, &mut log, checks);
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
