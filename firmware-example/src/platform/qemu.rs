//! QEMU machines: semihosting console and exit status, SysTick meter under
//! `-icount`, and a RAM-backed NOR flash (QEMU emulates no flash writes).

use cortex_m_semihosting::debug;

use crate::meter::Meter;

/// What the story prints as the machine.
#[cfg(feature = "lm3s6965")]
pub const MACHINE: &str = "QEMU lm3s6965evb (Cortex-M3)";
/// What the story prints as the machine.
#[cfg(feature = "mps2-an386")]
pub const MACHINE: &str = "QEMU mps2-an386 (Cortex-M4F)";

/// The peripherals the story uses.
pub struct Board {
    /// Instruction counter.
    pub meter: Meter,
}

impl Board {
    /// Takes the core peripherals and starts the meter.
    ///
    /// # Panics
    /// If called twice (the peripherals are taken once).
    pub fn init() -> Board {
        let core = cortex_m::Peripherals::take().expect("Board::init runs once");
        Board {
            meter: Meter::new(core.SYST),
        }
    }
}

/// Ends the QEMU run: exit status 0 if `passed`, 1 otherwise.
pub fn exit(passed: bool) -> ! {
    debug::exit(if passed {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached if the host ignores the exit request.
    loop {
        cortex_m::asm::nop();
    }
}
