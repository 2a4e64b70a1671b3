//! QEMU machines: semihosting console and exit status, SysTick meter under
//! `-icount`, and the story's RAM-backed NOR flash (QEMU emulates no flash writes).
//! The device node (feature `node`) wires its own machine in `src/node/qemu.rs` and
//! uses only the exit status and the machine's name from here.

#[cfg(not(feature = "node"))]
use core::mem::MaybeUninit;

use cortex_m_semihosting::debug;
#[cfg(not(feature = "node"))]
use glitter_core::store::RamNorFlash;

#[cfg(not(feature = "node"))]
use crate::meter::Meter;

/// Pages (4 KiB each) of the RAM-backed NOR flash the chain log lives on. Each costs
/// 4,232 bytes of static RAM (data plus the "written" bitmap); four hold the story's
/// two chains with room to spare, inside lm3s6965evb's 48 KiB RAM budget.
#[cfg(not(feature = "node"))]
pub const FLASH_PAGES: usize = 4;

/// The chain log's flash: strict NOR rules and power-cut injection, in RAM (QEMU
/// emulates no flash writes).
#[cfg(not(feature = "node"))]
pub type Flash = RamNorFlash<FLASH_PAGES>;

/// What the story prints as the machine.
#[cfg(feature = "lm3s6965")]
pub const MACHINE: &str = "QEMU lm3s6965evb (Cortex-M3)";
/// What the story prints as the machine.
#[cfg(feature = "mps2-an386")]
pub const MACHINE: &str = "QEMU mps2-an386 (Cortex-M4F)";

/// The peripherals the story uses.
#[cfg(not(feature = "node"))]
pub struct Board {
    /// Instruction counter.
    pub meter: Meter,
    /// The chain log's flash.
    pub flash: &'static mut Flash,
}

#[cfg(not(feature = "node"))]
impl Board {
    /// Takes the core peripherals and starts the meter.
    ///
    /// # Panics
    /// If called twice (the peripherals are taken once).
    pub fn init() -> Board {
        let core = cortex_m::Peripherals::take().expect("Board::init runs once");
        Board {
            meter: Meter::new(core.SYST),
            // Only after the peripherals were taken: a second call panics above first.
            flash: erased_flash(),
        }
    }
}

/// The RAM flash, erased. It lives in `.uninit` and is written at run time: as a
/// `static` with an initializer it would land in `.data`, whose 17 KB of initial
/// `0xFF` bytes would be copied from (and count against) the flash image. The write
/// builds the erased pages in a stack temporary first (about 16 KB, here at the
/// bottom of the call stack; the peak stack figure includes it), since
/// `RamNorFlash::new` has no in-place form.
///
/// Call it once: it hands out a `&'static mut`.
#[cfg(not(feature = "node"))]
fn erased_flash() -> &'static mut Flash {
    #[unsafe(link_section = ".uninit.glitter_flash")]
    static mut FLASH: MaybeUninit<Flash> = MaybeUninit::uninit();
    let p = core::ptr::addr_of_mut!(FLASH).cast::<Flash>();
    // SAFETY: `Board::init` calls this once, so this is the only reference to FLASH;
    // the write initializes it before the reference is made.
    unsafe {
        p.write(Flash::new());
        &mut *p
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
