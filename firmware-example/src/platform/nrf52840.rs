//! The nRF52840 board: defmt console over RTT, DWT cycle meter, the NVMC as NOR flash
//! over the `LOG` region of `memory/nrf52840.x`, and the hardware RNG.
//!
//! The device node (feature `node`) wires its own board in `src/node/nrf52840.rs` and
//! uses only the exit status and the machine's name from here.
//!
//! Run it with probe-rs (`cargo flash-nrf`): probe-rs decodes and shows the defmt
//! records and ends when the firmware's semihosting exit request arrives.

use cortex_m_semihosting::debug;
#[cfg(not(feature = "node"))]
use nrf52840_hal::nvmc::Nvmc;
#[cfg(not(feature = "node"))]
use nrf52840_hal::pac;
#[cfg(not(feature = "node"))]
use nrf52840_hal::rng::Rng;

#[cfg(not(feature = "node"))]
use crate::meter::Meter;

/// What the story prints as the machine.
pub const MACHINE: &str = "nRF52840 (Cortex-M4F, 64 MHz)";

#[cfg(not(feature = "node"))]
unsafe extern "C" {
    static mut __glitter_log_start: u32;
    static __glitter_log_end: u32;
}

/// The chain log's flash: the NVMC over the `LOG` region.
#[cfg(not(feature = "node"))]
pub type Flash = Nvmc<pac::NVMC>;

/// The peripherals the story uses.
#[cfg(not(feature = "node"))]
pub struct Board {
    /// Cycle counter.
    pub meter: Meter,
    /// The chain log's flash: 4-byte writes, 4 KiB pages (embedded-storage 0.3), the
    /// `FlashLog`'s NorFlash.
    pub flash: Flash,
    /// The hardware random number generator.
    pub rng: Rng,
}

#[cfg(not(feature = "node"))]
impl Board {
    /// Starts the cycle counter, the NVMC over the log region and the RNG. (The defmt
    /// RTT logger needs no start: `defmt-rtt` sets its channel up on first use, and
    /// probe-rs switches it to blocking when it attaches.)
    ///
    /// # Panics
    /// If called twice (the peripherals are taken once).
    pub fn init() -> Board {
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
#[cfg(not(feature = "node"))]
pub fn fresh_seed(board: &mut Board) -> [u8; 32] {
    let mut seed = [0u8; 32];
    board.rng.random(&mut seed);
    seed
}

/// The flash pages reserved for the chain log by the linker script.
#[cfg(not(feature = "node"))]
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
