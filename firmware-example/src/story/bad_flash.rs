//! Step 8 (QEMU): flash the log cannot trust, refused with typed errors, and
//! recovered by an explicit format.

use glitter_core::store::embedded_storage::nor_flash::ErrorType;
use glitter_core::store::{self, MountReport};
use glitter_core::wire::header::Header;

use super::{Buffers, Checks, Failure, Log, print_report};
use crate::outln;
use crate::platform::Flash;

/// Step 8 (QEMU): flash the log cannot trust. A bit of a committed block rots, then
/// the whole flash holds garbage. Mount refuses each with a typed error (printed),
/// serves nothing from it and does not panic; `mount_or_format` does not format a
/// damaged log away; an explicit format recovers the flash, and the log works again.
#[inline(never)]
pub(super) fn bad_flash(flash: &mut Flash, buffers: &Buffers, checks: &mut Checks) {
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
