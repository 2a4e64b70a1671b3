//! Step: zero-knowledge proofs on the device. Every pinned proof vector
//! (`tests/vectors/zk/pinned.rs`, the very table the host test checks) is verified
//! through the same `glitter_core::zk::verdict`, and the cost of a Schnorr verify and
//! a ring-8 verify is measured. Then the pinned one-out-of-256 proof
//! (`tests/vectors/zk/oom256.rs`) is verified with the prepared-set verifier
//! (`glitter_core::zk::oom::PreparedSet`), metered, and (under QEMU) with the
//! streaming verifier's loop for comparison.
//!
//! **Only with feature `zk`**, which also turns on `glitter-core`'s `zk` feature
//! (the firmware depends on the core with `default-features = false`). The step costs
//! about 33 KB of flash (19 KB of curve25519-dalek and proof code, 14 KB of vectors;
//! the one-out-of-256 step adds about 26 KB more, see the README), which would leave
//! the lm3s6965 image 0.6 KB under its 128 KiB budget, so `lm3s6965` leaves it off
//! and builds no curve25519-dalek at all; `mps2-an386` (Cortex-M4) and `nrf52840`
//! turn it on. To measure on the Cortex-M3 anyway, run
//! `cargo qemu-m3 --features zk`: all verdicts agree there too (docs/PERFORMANCE.md
//! has the figures).

use glitter_core::zk;
use heapless::Vec;

use crate::meter::{self, Meter};
use crate::outln;
use crate::story::Checks;

mod pinned {
    include!("../../tests/vectors/zk/pinned.rs");
}
use pinned::ZK_PINNED;

mod one_of_many;
pub use one_of_many::Buffers;

/// The vectors whose verification cost is reported (`~` lines, outside the golden diff).
const MEASURED: [(&str, &str); 3] = [
    ("schnorr/valid", "schnorr verify               "),
    ("ring-8/valid", "ring-8 verify                "),
    ("ring-32/valid", "ring-32 verify               "),
];

/// Checks every pinned verdict, tallies them, and prints the measured costs; then the
/// one-out-of-256 step ([`one_of_many`]) in `buffers`.
pub fn run(meter: &Meter, buffers: &mut Buffers, checks: &mut Checks) {
    pinned_verdicts(meter, checks);
    one_of_many::run(meter, buffers, checks);
}

/// Every pinned verdict through `zk::verdict`.
#[inline(never)]
fn pinned_verdicts(meter: &Meter, checks: &mut Checks) {
    outln!("== zero-knowledge proofs (pinned vectors)");
    let mut tally: Vec<(&str, u32), 12> = Vec::new();
    let mut mismatches = 0u32;
    let mut costs: [Option<u64>; MEASURED.len()] = [None; MEASURED.len()];
    for (name, scheme, keys, context, message, proof, pinned) in ZK_PINNED {
        let (got, cost) = meter.measure(|| zk::verdict(scheme, keys, context, message, proof));
        if let Some(i) = MEASURED.iter().position(|(n, _)| n == name) {
            costs[i] = Some(cost);
        }
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
        outln!("  {verdict:<22} {n:>3}");
    }
    checks.check(
        mismatches == 0 && !ZK_PINNED.is_empty(),
        format_args!(
            "{} of {} proof verdicts equal the pinned ones",
            ZK_PINNED.len() as u32 - mismatches,
            ZK_PINNED.len()
        ),
    );
    let unit = meter::UNIT;
    for ((_, label), cost) in MEASURED.iter().zip(costs) {
        if let Some(cost) = cost {
            outln!("  ~ {label} {cost:>9} {unit}");
        }
    }
}
