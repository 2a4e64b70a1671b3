//! # glitter-firmware
//!
//! glitter's core on a Cortex-M microcontroller: a story that creates an identity,
//! appends posts to a flash log, survives a reboot and a power cut, verifies its own
//! chain and a received one, refuses a corrupted flash, checks every pinned Ed25519
//! verdict, and exits with a status that CI can read.
//!
//! One source, three machines, chosen by cargo feature (see the README):
//!
//! | feature | machine | target |
//! | --- | --- | --- |
//! | `lm3s6965` (default) | QEMU lm3s6965evb, Cortex-M3 | `thumbv7m-none-eabi` |
//! | `mps2-an386` | QEMU mps2-an386, Cortex-M4F | `thumbv7em-none-eabihf` |
//! | `nrf52840` | nRF52840 board, via probe-rs | `thumbv7em-none-eabihf` |
//!
//! With feature `node` (on `mps2-an386` or `nrf52840`), `main` runs a device node
//! instead (`src/node/`): it replicates chains with a host over a serial link.
//!
//! The firmware holds no logic of its own: all of glitter is `glitter_core`. This
//! crate is the wiring (memory, console, clock, flash, exit status), the story and
//! the node's loop.
#![no_std]
#![no_main]

#[cfg(not(any(feature = "qemu", feature = "nrf52840")))]
compile_error!("select a machine feature: lm3s6965 (default), mps2-an386 or nrf52840");

// Linking needs cortex-m's critical-section implementation even where no code of
// this crate names it.
use cortex_m as _;

// The board's console: defmt's global logger over RTT.
#[cfg(feature = "nrf52840")]
use defmt_rtt as _;

mod console;
mod meter;
#[cfg(feature = "node")]
mod node;
mod platform;
mod stack;
#[cfg(not(feature = "node"))]
mod story;
#[cfg(not(feature = "node"))]
mod vectors;
#[cfg(all(feature = "zk", not(feature = "node")))]
mod zk_step;

use cortex_m_rt::{ExceptionFrame, entry, exception};

/// The device node (feature `node`): replicates chains over the serial link, forever.
#[cfg(feature = "node")]
#[entry]
fn main() -> ! {
    // The node's large state (its sync state, the link buffers and, under QEMU, the
    // flash image) in static RAM, lent to it (cortex-m-rt's `static mut` idiom).
    static mut MEMORY: node::Memory = node::Memory::new();
    node::run(MEMORY)
}

/// The story: every step, then exit with its verdict.
#[cfg(not(feature = "node"))]
#[entry]
fn main() -> ! {
    // Big buffers live in static RAM (`static mut` at the top of `#[entry]` is
    // cortex-m-rt's safe idiom: it becomes a `&'static mut`), so the stack figure
    // measures the core's own needs.
    static mut BUFFERS: story::Buffers = story::Buffers::new();

    #[allow(unused_mut, reason = "only the board's RNG and flash need it")]
    let mut board = platform::Board::init();
    #[cfg(feature = "nrf52840")]
    story::fresh_identity(platform::fresh_seed(&mut board));
    // The chain log's flash: a RamNorFlash under QEMU, the NVMC on the board.
    #[cfg(feature = "qemu")]
    let flash = &mut *board.flash;
    #[cfg(feature = "nrf52840")]
    let flash = &mut board.flash;
    let checks = story::run(platform::MACHINE, &board.meter, BUFFERS, flash);
    platform::exit(checks.all_passed())
}

/// A HardFault fails the run: say where, then exit with failure.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    outln!("HARDFAULT at pc {:#010x}", frame.pc());
    platform::exit(false)
}

/// A panic fails the run: print the message, then exit with failure.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    outln!("PANIC: {}", info);
    platform::exit(false)
}
