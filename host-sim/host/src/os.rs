//! The one place on the host that reads the wall clock and OS randomness.
//!
//! Everything else takes time and randomness as arguments (the caller owns them), so
//! the simulator, which must never touch either, can use every other module of this
//! crate. A test that greps for `SystemTime`, `Instant::now` or `getrandom` outside
//! this module keeps it that way.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the host clock (0 if the clock is before
/// 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A monotonic instant, for measuring how long something took (progress, timeouts).
pub fn instant() -> std::time::Instant {
    std::time::Instant::now()
}

/// 32 bytes from the operating system's randomness source.
///
/// # Errors
/// If the OS has no randomness to give (then nothing that needs a secret can run).
pub fn random32() -> Result<[u8; 32], NoRandomness> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(NoRandomness)?;
    Ok(b)
}

/// The OS randomness source failed.
#[derive(Debug, thiserror::Error)]
#[error("no OS randomness: {0}")]
pub struct NoRandomness(pub getrandom::Error);

/// Milliseconds on a clock that starts at the wall clock and never goes back (a
/// node's clock: wall time for block stamps, monotonic so a clock step cannot
/// reorder its own events).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: std::time::Instant,
    wall0_ms: u64,
}

impl Clock {
    /// Starts the clock now.
    pub fn start() -> Clock {
        Clock {
            start: std::time::Instant::now(),
            wall0_ms: now_ms(),
        }
    }

    /// Milliseconds since the Unix epoch, never less than an earlier reading.
    pub fn now_ms(&self) -> u64 {
        self.wall0_ms
            .saturating_add(u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}
