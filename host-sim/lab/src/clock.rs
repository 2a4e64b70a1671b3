//! The lab's one clock: microseconds since the lab started. The switch stamps packets
//! with it and the scenario measures with it, so their times compare.

use std::time::{Duration, Instant};

/// Microseconds since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Clock {
        Clock {
            start: glitter_host::os::instant(),
        }
    }

    /// Microseconds since the start.
    pub fn us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Milliseconds since the start, as a float.
    pub fn ms(&self) -> f64 {
        self.us() as f64 / 1000.0
    }

    /// How long until `at_us` (zero if it has passed).
    pub fn until(&self, at_us: u64) -> Duration {
        Duration::from_micros(at_us.saturating_sub(self.us()))
    }
}
