//! The Arm CMSDK APB UART of QEMU's `mps2-an386`: UART0 at `0x4000_4000`, which QEMU
//! connects to its first `-serial` (for the node, a TCP socket to the host bridge).
//!
//! Polled, no interrupts. QEMU's model has a one-byte receive buffer and holds further
//! bytes back in the chardev while it is full, so a busy device loses nothing: the
//! host's bytes wait in the socket.

use super::Serial;

/// UART0's base address on mps2-an385/an386.
const UART0: usize = 0x4000_4000;
/// Data register: a read takes the received byte, a write sends one.
const DATA: usize = 0x00;
/// State register: [`TX_FULL`], [`RX_FULL`].
const STATE: usize = 0x04;
/// Control register: [`TX_ENABLE`], [`RX_ENABLE`].
const CTRL: usize = 0x08;
/// Baud rate divider: QEMU's model sends and receives only with a value of 16 or more.
const BAUDDIV: usize = 0x10;
/// STATE: the transmit buffer is full.
const TX_FULL: u32 = 1 << 0;
/// STATE: a received byte waits in DATA.
const RX_FULL: u32 = 1 << 1;
/// CTRL: transmitter on.
const TX_ENABLE: u32 = 1 << 0;
/// CTRL: receiver on.
const RX_ENABLE: u32 = 1 << 1;
/// The divider set at start-up (QEMU does not time the line; any value from 16 works).
const DIVIDER: u32 = 16;

/// UART0, polled.
pub struct CmsdkUart {
    base: usize,
}

impl CmsdkUart {
    /// Turns UART0's transmitter and receiver on. Call it once: the node owns UART0.
    pub fn uart0() -> CmsdkUart {
        let uart = CmsdkUart { base: UART0 };
        uart.write(BAUDDIV, DIVIDER);
        uart.write(CTRL, TX_ENABLE | RX_ENABLE);
        // QEMU's chardev stopped polling the socket while the receiver was off (from
        // reset), and enabling it does not tell the chardev: the host's first bytes
        // (already waiting, since QEMU waits for the connection before it starts the
        // CPU) would only be read at QEMU's next main-loop wake-up, about a second
        // later. A read of DATA does tell it. It would take a byte that arrived between
        // the STATE check and the read, but none can: nothing reads the socket until
        // this very read wakes the chardev (short of a coincident wake-up in those
        // two instructions).
        if uart.read(STATE) & RX_FULL == 0 {
            let _ = uart.read(DATA);
        }
        uart
    }

    /// Reads the register at `offset`.
    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `base + offset` is one of UART0's word-aligned registers (the
        // constants above), a device register that is always mapped on mps2-an386;
        // volatile, as the hardware changes it.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes the register at `offset`.
    fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`; writing these registers affects only UART0, which
        // this driver owns.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}

impl Serial for CmsdkUart {
    fn try_read(&mut self) -> Option<u8> {
        if self.read(STATE) & RX_FULL == 0 {
            return None;
        }
        Some(self.read(DATA) as u8)
    }

    fn write_all(&mut self, bytes: &[u8]) {
        for &b in bytes {
            while self.read(STATE) & TX_FULL != 0 {
                core::hint::spin_loop();
            }
            self.write(DATA, u32::from(b));
        }
    }
}
