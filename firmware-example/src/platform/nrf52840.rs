//! The nRF52840 board: RTT console, DWT cycle meter, the NVMC as NOR flash over the
//! `LOG` region of `memory/nrf52840.x`, and the hardware RNG.
//!
//! Run it with probe-rs (`cargo flash-nrf`): probe-rs shows the RTT text and ends
//! when the firmware's semihosting exit request arrives.

use cortex_m_semihosting::debug;
use nrf52840_hal::nvmc::Nvmc;
use nrf52840_hal::pac;
use nrf52840_hal::rng::Rng;

use crate::meter::Meter;

/// What the story prints as the machine.
pub const MACHINE: &str = "nRF52840 (Cortex-M4F, 64 MHz)";

unsafe extern "C" {
    static mut __glitter_log_start: u32;
    static __glitter_log_end: u32;
}

/// The chain log's flash: the NVMC over the `LOG` region.
pub type Flash = Nvmc<pac::NVMC>;

/// The peripherals the story uses.
pub struct Board {
    /// Cycle counter.
    pub meter: Meter,
    /// The chain log's flash: 4-byte writes, 4 KiB pages (embedded-storage 0.3), the
    /// `FlashLog`'s NorFlash.
    pub flash: Flash,
    /// The hardware random number generator.
    pub rng: Rng,
}

impl Board {
    /// Starts RTT, the cycle counter, the NVMC over the log region and the RNG.
    ///
    /// # Panics
    /// If called twice (the peripherals are taken once).
    pub fn init() -> Board {
        // Block rather than drop text when the host is slow to read: the firmware is
        // meant to run under probe-rs, which drains the channel.
        rtt_target::rtt_init_print!(rtt_target::ChannelMode::BlockIfFull, 1024);
        let core = cortex_m::Peripherals::take().expect("Board::init runs once");
        let device = pac::Peripherals::take().expect("Board::init runs once");
        Board {
            meter: Meter::new(core.DCB, core.DWT),
            flash: Nvmc::new(device.NVMC, log_region()),
            rng: Rng::new(device.RNG),
        }
    }
}

/// A fresh seed from the hardware RNG: what a real device does on first boot to
/// create its owner's identity.
pub fn fresh_seed(board: &mut Board) -> [u8; 32] {
    let mut seed = [0u8; 32];
    board.rng.random(&mut seed);
    seed
}

/// The flash pages reserved for the chain log by the linker script.
fn log_region() -> &'static mut [u8] {
    let start = core::ptr::addr_of_mut!(__glitter_log_start).cast::<u8>();
    let end = core::ptr::addr_of!(__glitter_log_end) as usize;
    let len = end - start as usize;
    // SAFETY: the linker script reserves [start, end) for the log and places no
    // section there; this is the only reference to it, taken once in `Board::init`.
    unsafe { core::slice::from_raw_parts_mut(start, len) }
}

/// Ends the run: probe-rs turns the semihosting exit request into its own exit
/// status (0 if `passed`, 1 otherwise).
pub fn exit(passed: bool) -> ! {
    crate::outln!("{}", if passed { "PASS" } else { "FAIL" });
    debug::exit(if passed {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfe();
    }
}
