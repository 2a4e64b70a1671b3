//! One out of 256 on the device: the pinned one-out-of-many vector
//! (`tests/vectors/zk/oom256.rs`, the file the host test checks against both
//! verifiers), verified here with the prepared-set verifier.
//!
//! The 256 member keys are validated and prepared once (what a device does when it
//! stores an author's genesis), metered; then the tagged proof is verified with
//! `PreparedSet::verify` (one multiscalar multiplication over the static scratch
//! buffer), metered, and must be accepted; with a flipped byte it must be rejected.
//! Under QEMU the streaming verifier's loop (what `Dalek.verify` runs: a key decoding
//! and a scalar multiplication per member) runs too, metered in chunks (the whole of it
//! would overrun one wrap of the meter), and must agree.

use glitter_core::sig::PublicKey;
use glitter_core::zk::oom::{
    OneOfMany, OneOfManyProof, PreparedMember, PreparedSet, ScalarDigits, prepare_members,
    scratch_len,
};
use glitter_core::zk::{Binding, Proof, ZkError};

use crate::meter::{self, Meter};
use crate::outln;
use crate::story::Checks;

mod oom256 {
    include!("../../../tests/vectors/zk/oom256.rs");
}
use oom256::{OOM256_CONTEXT, OOM256_KEYS, OOM256_MESSAGE, OOM256_PROOF};

/// Members in the pinned set.
const N: usize = 256;

/// Members prepared (and, for the streaming loop, verified) per metered chunk: one
/// measurement must stay within a wrap of the meter (2²⁴ SysTick ticks under QEMU,
/// about 670 M instructions on mps2-an386).
const CHUNK: usize = 64;

/// Executed-instruction budget (issue 21) for one verification of a one-out-of-256
/// proof on a Cortex-M4, checked under QEMU.
#[cfg(feature = "qemu")]
const BUDGET: u64 = 400_000_000;

/// The step's memory, lent from static RAM: the members (8 KB), the prepared members
/// (about 50 KB) and the verifier's scratch (about 13 KB).
pub struct Buffers {
    keys: [PublicKey; N],
    prepared: [PreparedMember; N],
    scratch: [ScalarDigits; scratch_len(N)],
}

impl Buffers {
    /// Empty buffers (const, for a `static`).
    pub const fn new() -> Buffers {
        Buffers {
            keys: [PublicKey([0; 32]); N],
            prepared: [PreparedMember::UNSET; N],
            scratch: [ScalarDigits::ZERO; scratch_len(N)],
        }
    }
}

/// A verdict's name, as the pinned tables spell them.
fn name(result: Result<(), ZkError>) -> &'static str {
    match result {
        Ok(()) => "accept",
        Err(e) => e.name(),
    }
}

/// Prepares the pinned set, verifies the pinned proof (and a tampered copy), and
/// prints the costs.
#[inline(never)]
pub fn run(meter: &Meter, buffers: &mut Buffers, checks: &mut Checks) {
    outln!("== one out of {N} (pinned vector, prepared members)");
    let unit = meter::UNIT;
    for (slot, chunk) in buffers.keys.iter_mut().zip(OOM256_KEYS.chunks_exact(32)) {
        slot.0.copy_from_slice(chunk);
    }
    let keys = &buffers.keys;
    let mut prepared_ok = OOM256_KEYS.len() == 32 * N;
    let mut prepare_cost = 0;
    for (members, out) in keys.chunks(CHUNK).zip(buffers.prepared.chunks_mut(CHUNK)) {
        let (result, cost) = meter.measure(|| prepare_members(members, out));
        prepared_ok &= result.is_ok();
        prepare_cost += cost;
    }
    checks.check(
        prepared_ok,
        format_args!("{N} member keys validated and prepared"),
    );

    let statement = OneOfMany {
        members: keys,
        linkable: true,
    };
    let binding = Binding::new(OOM256_CONTEXT, OOM256_MESSAGE);
    let set = PreparedSet::new(statement, &buffers.prepared);
    let scratch = &mut buffers.scratch;
    let mut fast = |proof: &[u8]| {
        let set = set?;
        set.verify(&OneOfManyProof::parse(proof)?, &binding, scratch)
    };
    let (verdict, verify_cost) = meter.measure(|| name(fast(OOM256_PROOF)));
    checks.check(
        verdict == "accept",
        format_args!("the pinned proof, prepared-set verifier: {verdict}"),
    );
    let mut tampered = [0u8; OneOfManyProof::ENCODED_LEN_MAX];
    let len = OOM256_PROOF.len().min(tampered.len());
    tampered[..len].copy_from_slice(&OOM256_PROOF[..len]);
    // The low bit of the last scalar, z: a canonical scalar, so the equation decides.
    tampered[len.saturating_sub(32)] ^= 1;
    let verdict = name(fast(&tampered[..len]));
    checks.check(
        verdict == "rejected",
        format_args!("the proof with a flipped byte, prepared-set verifier: {verdict}"),
    );
    #[cfg(feature = "qemu")]
    checks.check(
        verify_cost <= BUDGET,
        format_args!("one verification within the budget of 400 M instructions"),
    );

    // The streaming verifier: about a billion cycles (some 15 s at 64 MHz) on a board,
    // so only under QEMU.
    #[cfg(feature = "qemu")]
    let streaming_cost = {
        let (verdict, cost) = streaming(meter, &statement, &binding);
        checks.check(
            verdict == "accept",
            format_args!("the pinned proof, streaming verifier: {verdict}"),
        );
        cost
    };

    outln!("  ~ prepare {N} members (key checks) {prepare_cost:>10} {unit}");
    outln!("  ~ one-of-{N} verify (prepared)    {verify_cost:>10} {unit}");
    #[cfg(feature = "qemu")]
    outln!("  ~ one-of-{N} verify (streaming)   {streaming_cost:>10} {unit}");
}

/// The streaming verifier's computation (`Dalek.verify` for `OneOfMany`: decode each
/// member key, one variable-time scalar multiplication per member), metered in
/// chunks of [`CHUNK`] members. Returns the verdict and the total cost.
#[cfg(feature = "qemu")]
#[inline(never)]
fn streaming(
    meter: &Meter,
    statement: &OneOfMany<'_>,
    binding: &Binding<'_>,
) -> (&'static str, u64) {
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::Scalar;
    use glitter_core::zk::oom::{Verification, decode_member};

    let proof = match OneOfManyProof::parse(OOM256_PROOF) {
        Ok(proof) => proof,
        Err(e) => return (e.name(), 0),
    };
    let mut begun = Err(ZkError::Rejected);
    let ((), mut total) = meter.measure(|| begun = Verification::begin(statement, &proof, binding));
    let v = match &begun {
        Ok(v) => v,
        Err(e) => return (e.name(), total),
    };
    let (mut acc, cost) = meter.measure(|| v.fixed_sum());
    total += cost;
    let mut scalars = v.member_scalars();
    for (c, members) in statement.members.chunks(CHUNK).enumerate() {
        let (result, cost) = meter.measure(|| {
            for (i, (key, s)) in members.iter().zip(&mut scalars).enumerate() {
                let p = decode_member(key, c * CHUNK + i)?;
                acc += EdwardsPoint::vartime_double_scalar_mul_basepoint(&s, &p, &Scalar::ZERO);
            }
            Ok::<(), ZkError>(())
        });
        total += cost;
        if let Err(e) = result {
            return (e.name(), total);
        }
    }
    (name(v.check(&acc)), total)
}
