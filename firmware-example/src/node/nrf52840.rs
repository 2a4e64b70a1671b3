//! The node's board: an nRF52840-DK (no SoftDevice). UARTE0 on the DK's USB virtual
//! COM port (the J-Link OB's VCOM: TX P0.06, RX P0.08, RTS P0.05, CTS P0.07) at
//! 115,200 baud, the NVMC over the `LOG` region of `memory/nrf52840-node.x` (32 pages,
//! 128 KiB), an identity kept in the `IDENTITY` page, the DWT cycle meter and clock.
//!
//! Hardware flow control is on ([`FLOW_CONTROL`]): the node reads the UART between
//! messages, and verifying a block takes tens of milliseconds, in which 115,200 baud
//! bring several hundred bytes. With RTS/CTS the interface MCU holds them back instead
//! of overrunning the UARTE's receive FIFO.

use embedded_io::{Read as _, ReadReady as _, Write as _};
use glitter_core::KeyPair;
use glitter_core::store::embedded_storage::nor_flash::{NorFlash as _, ReadNorFlash as _};
use nrf52840_hal::gpio::{Level, p0};
use nrf52840_hal::nvmc::Nvmc;
use nrf52840_hal::pac;
use nrf52840_hal::rng::Rng;
use nrf52840_hal::uarte::{Baudrate, Parity, Pins, Uarte, UarteRx, UarteTx};

use super::Serial;
use crate::meter::Meter;
use crate::{outln, platform};

/// Cycles per millisecond of device time: the CPU's 64 MHz.
pub const UNITS_PER_MS: u64 = 64_000;
/// RTS/CTS on the VCOM pins (see the module docs). Off, a busy node may lose bytes
/// (counted as dropped frames, and fetched again).
pub const FLOW_CONTROL: bool = true;
/// Bytes per UARTE transmit (EasyDMA) transfer.
const TX_CHUNK: usize = 64;
/// The identity page's layout: the seed, its public key, then this mark, written last
/// (a page whose mark is missing or whose key does not match its seed is not used).
const ID_MARK: [u8; 4] = *b"GLID";
/// Where the mark is in the identity page.
const ID_MARK_AT: u32 = 64;
/// Bytes of the identity page in use.
const ID_LEN: usize = 68;

/// The chain log's flash: the NVMC over the `LOG` region.
pub type Flash = Nvmc<pac::NVMC>;

unsafe extern "C" {
    static mut __glitter_identity_start: u32;
    static __glitter_identity_end: u32;
    static mut __glitter_log_start: u32;
    static __glitter_log_end: u32;
}

/// The board's static memory: the UARTE's EasyDMA buffers.
pub struct Memory {
    tx: [u8; TX_CHUNK],
    rx: [u8; 1],
}

impl Memory {
    /// Zeroed memory (const, for a `static`).
    pub const fn new() -> Memory {
        Memory {
            tx: [0; TX_CHUNK],
            rx: [0; 1],
        }
    }
}

/// UARTE0, split into its two directions.
pub struct Uart {
    tx: UarteTx<pac::UARTE0>,
    rx: UarteRx<pac::UARTE0>,
}

impl Serial for Uart {
    fn try_read(&mut self) -> Option<u8> {
        // `read_ready` starts a one-byte EasyDMA reception if none is running, and says
        // whether it ended; only then does `read` return at once.
        if !self.rx.read_ready().unwrap_or(false) {
            return None;
        }
        let mut b = [0u8; 1];
        match self.rx.read(&mut b) {
            Ok(1) => Some(b[0]),
            _ => None,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) {
        // A failed transfer loses the frame: the deframer at the host drops it.
        let _ = self.tx.write_all(bytes);
        let _ = self.tx.flush();
    }
}

/// What the node runs on.
pub struct Machine {
    /// The link to the host.
    pub serial: Uart,
    /// The chain log's flash.
    pub flash: Flash,
    /// The device's identity.
    pub keys: KeyPair,
    /// Cycle counter (and the clock's source).
    pub meter: Meter,
    /// Seed of the gossip draws (from the hardware RNG).
    pub seed: u64,
}

/// Takes the peripherals; starts the meter, the RNG and UARTE0; reads (or creates) the
/// identity; hands the NVMC to the chain log.
pub fn init(memory: &'static mut Memory) -> Machine {
    let Memory { tx, rx } = memory;
    let (Some(core), Some(p)) = (cortex_m::Peripherals::take(), pac::Peripherals::take()) else {
        outln!("the peripherals were taken twice");
        platform::exit(false)
    };
    let meter = Meter::new(core.DCB, core.DWT);
    let mut rng = Rng::new(p.RNG);
    let mut nvmc = Nvmc::new(
        p.NVMC,
        region(
            &raw mut __glitter_identity_start,
            &raw const __glitter_identity_end,
        ),
    );
    let keys = identity(&mut nvmc, &mut rng);
    let (nvmc, _) = nvmc.free();
    let flash = Nvmc::new(
        nvmc,
        region(&raw mut __glitter_log_start, &raw const __glitter_log_end),
    );

    let port0 = p0::Parts::new(p.P0);
    let pins = Pins {
        txd: port0.p0_06.into_push_pull_output(Level::High).degrade(),
        rxd: port0.p0_08.into_floating_input().degrade(),
        cts: FLOW_CONTROL.then(|| port0.p0_07.into_floating_input().degrade()),
        rts: FLOW_CONTROL.then(|| port0.p0_05.into_push_pull_output(Level::High).degrade()),
    };
    let uarte = Uarte::new(p.UARTE0, pins, Parity::EXCLUDED, Baudrate::BAUD115200);
    let Ok((tx, rx)) = uarte.split(tx, rx) else {
        outln!("the UARTE refused its buffers");
        platform::exit(false)
    };
    Machine {
        serial: Uart { tx, rx },
        flash,
        keys,
        meter,
        seed: rng.random_u64(),
    }
}

/// The device's identity: the one kept in the identity page, or, on first boot (or if
/// the page does not hold a whole one), a new one from the hardware RNG, written there.
fn identity(nvmc: &mut Flash, rng: &mut Rng) -> KeyPair {
    let mut page = [0u8; ID_LEN];
    if nvmc.read(0, &mut page).is_ok()
        && let Some(keys) = kept_identity(&page)
    {
        outln!("identity: kept in flash");
        return keys;
    }
    loop {
        let mut seed = [0u8; 32];
        rng.random(&mut seed);
        // Only the all-zero seed is refused: draw again.
        let Ok(keys) = KeyPair::from_seed(seed) else {
            continue;
        };
        let mut record = [0u8; ID_MARK_AT as usize];
        let (s, k) = record.split_at_mut(32);
        s.copy_from_slice(&seed);
        k.copy_from_slice(keys.public().as_bytes());
        let kept = nvmc.erase(0, 4096).is_ok()
            && nvmc.write(0, &record).is_ok()
            && nvmc.write(ID_MARK_AT, &ID_MARK).is_ok();
        if kept {
            outln!("identity: created from the hardware RNG, kept in flash");
        } else {
            outln!("identity: created from the hardware RNG; the flash refused it (not kept)");
        }
        return keys;
    }
}

/// The identity in an identity page, if it holds a whole one.
fn kept_identity(page: &[u8; ID_LEN]) -> Option<KeyPair> {
    let (seed, rest) = page.split_first_chunk::<32>()?;
    let (key, rest) = rest.split_first_chunk::<32>()?;
    let (mark, _) = rest.split_first_chunk::<4>()?;
    if *mark != ID_MARK {
        return None;
    }
    let keys = KeyPair::from_seed(*seed).ok()?;
    (keys.public().as_bytes() == key).then_some(keys)
}

/// The flash between two linker symbols, for an `Nvmc`.
fn region(start: *mut u32, end: *const u32) -> &'static mut [u8] {
    let len = end as usize - start as usize;
    // SAFETY: `memory/nrf52840-node.x` reserves [start, end) (the identity page or the
    // log) and places no section there; `init` makes one slice of each region, once.
    unsafe { core::slice::from_raw_parts_mut(start.cast::<u8>(), len) }
}
