//! Console: plain text on semihosting stdout under QEMU; defmt over RTT on the board.
//!
//! Under QEMU the output is diffed line by line against a committed golden file (the
//! story) or parsed by a host test (the node), and plain text needs no host-side
//! decoder. On the board the firmware logs with defmt over RTT (`defmt-rtt`, read with
//! probe-rs), as the embedded ecosystem expects: each text line is formatted on the
//! device into a bounded buffer and sent as one `defmt::println!("{=str}", line)`. See
//! the README for the trade-off.

/// Writes formatted text to the console, without a newline. On the board a defmt
/// record is one line: text without a newline is sent as a line of its own.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::console::write_fmt(format_args!($($arg)*))
    };
}

/// Writes formatted text and a newline to the console (one console write: on the
/// board, one defmt record).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::console::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes `args` to the console. Output is best effort: a console that is not there
/// (no debugger attached) must not stop the firmware.
#[cfg(feature = "qemu")]
pub fn write_fmt(args: core::fmt::Arguments<'_>) {
    cortex_m_semihosting::export::hstdout_fmt(args);
}

/// Longest line sent as one defmt record; a longer one is split.
#[cfg(feature = "nrf52840")]
const LINE_MAX: usize = 160;

/// Writes `args` to the console: each line (split at `\n`, or at [`LINE_MAX`] bytes)
/// becomes one `defmt::println!` record carrying the text.
#[cfg(feature = "nrf52840")]
pub fn write_fmt(args: core::fmt::Arguments<'_>) {
    use core::fmt::Write as _;
    let mut lines = Lines {
        line: heapless::String::new(),
    };
    let _ = lines.write_fmt(args);
    lines.flush();
}

/// Collects text and sends it a line at a time.
#[cfg(feature = "nrf52840")]
struct Lines {
    line: heapless::String<LINE_MAX>,
}

#[cfg(feature = "nrf52840")]
impl Lines {
    /// Sends the collected text as one record.
    fn emit(&mut self) {
        defmt::println!("{=str}", self.line.as_str());
        self.line.clear();
    }

    /// Sends the collected text, if any, as one record.
    fn flush(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
    }
}

#[cfg(feature = "nrf52840")]
impl core::fmt::Write for Lines {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            if c == '\n' {
                self.emit();
            } else if self.line.push(c).is_err() {
                self.flush();
                let _ = self.line.push(c);
            }
        }
        Ok(())
    }
}
