//! Cost of an operation: executed instructions under QEMU, CPU cycles on hardware.
//!
//! QEMU does not emulate the DWT cycle counter. The runner starts QEMU with
//! `-icount shift=0`, which makes the virtual clock advance exactly 1 ns per executed
//! instruction; SysTick, clocked from that virtual clock, then counts instructions at
//! a fixed (machine-specific) ratio. [`Meter::new`] measures the ratio once on a loop
//! of a known number of instructions, so the reported figures are instruction counts
//! on every QEMU machine, deterministic from run to run. Their resolution is one
//! SysTick tick (about 80 instructions on lm3s6965evb, 40 on mps2-an386), far below
//! the thousands they are printed in.
//!
//! On the nRF52840 the DWT cycle counter is real, and the figures are cycles.

#[cfg(feature = "qemu")]
use cortex_m::peripheral::SYST;

/// What the meter counts.
#[cfg(feature = "qemu")]
pub const UNIT: &str = "instructions";
/// What the meter counts.
#[cfg(feature = "nrf52840")]
pub const UNIT: &str = "cycles";

/// Iterations of the calibration loop: two instructions each (`subs`, `bne`).
#[cfg(feature = "qemu")]
const CALIBRATION_LOOPS: u32 = 1_000_000;

/// A started meter (SysTick under QEMU, DWT CYCCNT on hardware).
pub struct Meter {
    /// Instructions per 2^16 SysTick ticks (QEMU); unused on hardware.
    #[cfg(feature = "qemu")]
    instructions_per_64ki_ticks: u64,
}

impl Meter {
    /// Starts SysTick as a free-running 24-bit down-counter on the core clock and
    /// calibrates it against a loop of 2,000,000 instructions.
    #[cfg(feature = "qemu")]
    pub fn new(mut syst: SYST) -> Meter {
        use cortex_m::peripheral::syst::SystClkSource;
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00ff_ffff);
        syst.clear_current();
        syst.disable_interrupt();
        syst.enable_counter();
        let start = now();
        spin(CALIBRATION_LOOPS);
        let ticks = u64::from(elapsed(start)).max(1);
        let instructions = 2 * u64::from(CALIBRATION_LOOPS);
        Meter {
            instructions_per_64ki_ticks: (instructions << 16) / ticks,
        }
    }

    /// Starts the DWT cycle counter.
    #[cfg(feature = "nrf52840")]
    pub fn new(mut dcb: cortex_m::peripheral::DCB, mut dwt: cortex_m::peripheral::DWT) -> Meter {
        dcb.enable_trace();
        dwt.enable_cycle_counter();
        Meter {}
    }

    /// Runs `f` and returns its result and its cost in [`UNIT`].
    ///
    /// Operations must finish within one wrap of the counter: 2^24 SysTick ticks under
    /// QEMU (over 600 million instructions) or 2^32 cycles on hardware (67 s at 64 MHz).
    pub fn measure<T>(&self, f: impl FnOnce() -> T) -> (T, u64) {
        let start = now();
        let result = f();
        let raw = u64::from(elapsed(start));
        (result, self.units(raw))
    }

    /// `raw` counter ticks in [`UNIT`].
    fn units(&self, raw: u64) -> u64 {
        #[cfg(feature = "qemu")]
        {
            // In two halves, so that no product overflows however long the total.
            let r = self.instructions_per_64ki_ticks;
            (raw >> 16) * r + (((raw & 0xffff) * r) >> 16)
        }
        #[cfg(feature = "nrf52840")]
        raw
    }
}

/// A monotonic clock in [`UNIT`]s since it started, for the device node: the meter's
/// counter (SysTick under QEMU, CYCCNT on the board), accumulated into 64 bits.
///
/// [`Clock::units`] must be called at least once per counter wrap, 2^24 SysTick ticks
/// (over 600 million instructions) under QEMU or 2^32 cycles (67 s at 64 MHz) on the
/// board; the node's loop reads it after every message, and no step of it comes near
/// (the costliest, a block's verification or an own append, takes a few million).
#[cfg(feature = "node")]
pub struct Clock {
    /// The raw counter at the last reading.
    last: u32,
    /// Raw ticks accumulated since the start.
    ticks: u64,
}

#[cfg(feature = "node")]
impl Clock {
    /// A clock at zero, from now.
    pub fn start() -> Clock {
        Clock {
            last: now(),
            ticks: 0,
        }
    }

    /// [`UNIT`]s since [`Clock::start`].
    pub fn units(&mut self, meter: &Meter) -> u64 {
        let raw = now();
        self.ticks += u64::from(between(self.last, raw));
        self.last = raw;
        meter.units(self.ticks)
    }
}

/// The raw counter now.
#[cfg(feature = "qemu")]
fn now() -> u32 {
    SYST::get_current()
}

/// Ticks since `start` (SysTick counts down and wraps at 24 bits).
#[cfg(feature = "qemu")]
fn elapsed(start: u32) -> u32 {
    between(start, now())
}

/// Ticks from reading `start` to reading `end` (within one wrap).
#[cfg(feature = "qemu")]
fn between(start: u32, end: u32) -> u32 {
    start.wrapping_sub(end) & 0x00ff_ffff
}

/// The raw counter now.
#[cfg(feature = "nrf52840")]
fn now() -> u32 {
    cortex_m::peripheral::DWT::cycle_count()
}

/// Cycles since `start` (CYCCNT counts up and wraps at 32 bits).
#[cfg(feature = "nrf52840")]
fn elapsed(start: u32) -> u32 {
    between(start, now())
}

/// Cycles from reading `start` to reading `end` (within one wrap).
#[cfg(feature = "nrf52840")]
fn between(start: u32, end: u32) -> u32 {
    end.wrapping_sub(start)
}

/// Executes exactly `2 * loops` instructions.
#[cfg(feature = "qemu")]
fn spin(loops: u32) {
    // SAFETY: a register-only countdown loop; it touches no memory and no flags that
    // the compiler relies on across the block.
    unsafe {
        core::arch::asm!(
            "1:",
            "subs {n}, #1",
            "bne 1b",
            n = inout(reg) loops => _,
            options(nomem, nostack),
        );
    }
}
