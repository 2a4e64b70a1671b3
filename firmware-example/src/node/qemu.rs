//! The node's QEMU machine (`mps2-an386`): UART0 to the host, the SysTick meter (and
//! clock) under `-icount shift=0`, a [`FileFlash`] behind the chain log, and a fixed
//! test identity.

use glitter_core::KeyPair;

use super::cmsdk_uart::CmsdkUart;
use super::file_flash::{self, CMDLINE_MAX, FLASH_BYTES, FileFlash};
use crate::meter::Meter;
use crate::{outln, platform};

/// The device's seed under QEMU: fixed, so that a host test knows its key
/// (`edf5e245d489…`, printed in full in the `device … up:` line). A test identity only: anyone
/// can sign as it. On the board the seed comes from the hardware RNG.
pub const DEVICE_SEED: [u8; 32] = *b"glitter/device/qemu/test/seed/01";

/// The chain log's flash.
pub type Flash = FileFlash;

/// Instructions per millisecond of device time: QEMU's virtual clock under
/// `-icount shift=0` (1 instruction = 1 ns) sped up 4 times. See the node's module
/// docs: QEMU runs the polling loop at about 330 million instructions per second here,
/// so device time passes at about the speed of real time, and a block's bytes take
/// about as long to arrive through QEMU's UART as through the board's at 115,200 baud.
pub const UNITS_PER_MS: u64 = 250_000;

/// The machine's static memory.
pub struct Memory {
    /// The flash image (in `.bss`; erased at start-up).
    image: [u8; FLASH_BYTES],
    /// The semihosting command line.
    cmdline: [u8; CMDLINE_MAX],
}

impl Memory {
    /// Zeroed memory (const, for a `static`).
    pub const fn new() -> Memory {
        Memory {
            image: [0; FLASH_BYTES],
            cmdline: [0; CMDLINE_MAX],
        }
    }
}

/// What the node runs on.
pub struct Machine {
    /// The link to the host.
    pub serial: CmsdkUart,
    /// The chain log's flash.
    pub flash: Flash,
    /// The device's identity.
    pub keys: KeyPair,
    /// Instruction counter (and the clock's source).
    pub meter: Meter,
    /// Seed of the gossip draws.
    pub seed: u64,
}

/// Takes the peripherals, starts the meter and UART0, opens the flash file named on
/// the semihosting command line, and derives the identity.
pub fn init(memory: &'static mut Memory) -> Machine {
    let Memory { image, cmdline } = memory;
    let Some(core) = cortex_m::Peripherals::take() else {
        outln!("the core peripherals were taken twice");
        platform::exit(false)
    };
    let meter = Meter::new(core.SYST);
    let serial = CmsdkUart::uart0();
    let path = file_flash::cmdline_path(cmdline);
    let (flash, opened) = FileFlash::open(image, path);
    let shown = path.map_or("-", |p| core::str::from_utf8(p).unwrap_or("(not UTF-8)"));
    outln!("flash: {shown}: {opened}");
    let Ok(keys) = KeyPair::from_seed(DEVICE_SEED) else {
        outln!("the device seed is unusable");
        platform::exit(false)
    };
    let key = keys.public();
    let seed = u64::from_le_bytes([key.0[0], key.0[1], key.0[2], key.0[3], 0, 0, 0, 1]);
    Machine {
        serial,
        flash,
        keys,
        meter,
        seed,
    }
}
