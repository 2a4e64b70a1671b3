//! Plain-text console: semihosting stdout under QEMU, RTT channel 0 on the board.
//!
//! Text, not defmt: the QEMU output is diffed line by line against a committed golden
//! file, and plain text needs no host-side decoder (`defmt-print`) to be read in CI or
//! in a terminal. See the README for the trade-off.

/// Writes formatted text to the console, without a newline.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::console::write_fmt(format_args!($($arg)*))
    };
}

/// Writes formatted text and a newline to the console.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::console::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {{
        $crate::console::write_fmt(format_args!($($arg)*));
        $crate::console::write_fmt(format_args!("\n"));
    }};
}

/// Writes `args` to the console. Output is best effort: a console that is not there
/// (no debugger attached) must not stop the firmware.
pub fn write_fmt(args: core::fmt::Arguments<'_>) {
    #[cfg(feature = "qemu")]
    cortex_m_semihosting::export::hstdout_fmt(args);
    #[cfg(feature = "nrf52840")]
    rtt_target::print_impl::write_fmt(0, args);
}
