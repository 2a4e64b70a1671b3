//! The link model: what happens to one IP packet on one directed link between two lab
//! nodes. Pure and seeded, so it is tested on its own; the switch
//! ([`crate::switch`]) applies it to real packets.
//!
//! In the order a packet meets them:
//! 1. **loss**: dropped with probability `loss`;
//! 2. **bandwidth**: with `rate_kbit > 0` the packet waits for the link to finish
//!    sending the packets before it, then takes `len × 8 / rate` to send; a packet
//!    that would wait longer than `queue_ms` is dropped (a tail-drop queue);
//! 3. **delay**: `delay_ms` plus a uniform draw in `[-jitter_ms, +jitter_ms]`;
//! 4. **order**: a packet normally arrives no earlier than the one before it on the
//!    link (a link does not reorder by itself, whatever the jitter); with probability
//!    `reorder` it skips that rule and may overtake the packets queued before it;
//! 5. **duplication**: with probability `duplicate` a second copy is sent, with its
//!    own delay draw and outside the order rule.

use glitter_sim::unit;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

/// The settings of one direction of a link (all zero: a perfect link).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way delay, in milliseconds.
    pub delay_ms: f64,
    /// Uniform jitter around the delay, in milliseconds (at most `delay_ms`).
    pub jitter_ms: f64,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a packet is sent twice.
    pub duplicate: f64,
    /// Probability that a packet may overtake those queued before it.
    pub reorder: f64,
    /// Bandwidth in kbit/s (0: unlimited).
    pub rate_kbit: u64,
    /// Longest wait in the send queue before a packet is dropped, in ms (0: 200 ms).
    pub queue_ms: u64,
}

impl LinkSpec {
    /// Checks that the settings make sense: probabilities in `[0, 1]`, jitter no
    /// larger than the delay, finite values.
    ///
    /// # Errors
    /// A message naming the first bad setting.
    pub fn check(&self) -> Result<(), String> {
        for (name, p) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} = {p} is not a probability in [0, 1]"));
            }
        }
        if !self.delay_ms.is_finite() || self.delay_ms < 0.0 || self.delay_ms > 60_000.0 {
            return Err(format!("delay_ms = {} is not in [0, 60000]", self.delay_ms));
        }
        if !self.jitter_ms.is_finite() || self.jitter_ms < 0.0 || self.jitter_ms > self.delay_ms {
            return Err(format!(
                "jitter_ms = {} is not in [0, delay_ms = {}]",
                self.jitter_ms, self.delay_ms
            ));
        }
        Ok(())
    }

    fn queue_us(&self) -> u64 {
        if self.queue_ms == 0 {
            200_000
        } else {
            self.queue_ms.saturating_mul(1000)
        }
    }
}

/// What one direction of a link did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkCounters {
    /// Packets offered to the link.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Dropped by the loss draw.
    pub lost: u64,
    /// Dropped because the send queue was full.
    pub queue_dropped: u64,
    /// Dropped because a partition separated the two ends.
    pub partitioned: u64,
    /// Extra copies sent.
    pub duplicated: u64,
    /// Packets allowed to overtake.
    pub reordered: u64,
}

/// At most two arrival times (µs on the lab clock) for one packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Arrivals {
    /// The packet's arrival, if it was not dropped.
    pub first: Option<u64>,
    /// The duplicate's arrival, if one was sent.
    pub copy: Option<u64>,
}

/// One direction of a link: its settings, its random stream and its queue state.
#[derive(Debug)]
pub struct Link {
    spec: LinkSpec,
    rng: ChaCha8Rng,
    /// When the sender finishes the packets already accepted (µs).
    busy_until: u64,
    /// The latest in-order arrival scheduled so far (µs).
    last_arrival: u64,
    /// What it did.
    pub counters: LinkCounters,
}

impl Link {
    /// A link with `spec`, drawing from a stream seeded by `seed`.
    pub fn new(spec: LinkSpec, seed: u64) -> Link {
        Link {
            spec,
            rng: ChaCha8Rng::seed_from_u64(seed),
            busy_until: 0,
            last_arrival: 0,
            counters: LinkCounters::default(),
        }
    }

    /// The link's settings.
    pub fn spec(&self) -> LinkSpec {
        self.spec
    }

    /// Changes the settings from now on (the queue and counters stay).
    pub fn set_spec(&mut self, spec: LinkSpec) {
        self.spec = spec;
    }

    fn delay_us(&mut self) -> u64 {
        let jitter = self.spec.jitter_ms * (2.0 * unit(&mut self.rng) - 1.0);
        ((self.spec.delay_ms + jitter).max(0.0) * 1000.0) as u64
    }

    fn draw(&mut self, p: f64) -> bool {
        p > 0.0 && unit(&mut self.rng) < p
    }

    /// A packet of `len` bytes enters the link at `now_us`: when does it arrive, and
    /// does a copy?
    pub fn admit(&mut self, now_us: u64, len: usize) -> Arrivals {
        self.counters.packets += 1;
        self.counters.bytes += len as u64;
        if self.draw(self.spec.loss) {
            self.counters.lost += 1;
            return Arrivals::default();
        }
        let mut depart = now_us;
        if self.spec.rate_kbit > 0 {
            let start = self.busy_until.max(now_us);
            if start - now_us > self.spec.queue_us() {
                self.counters.queue_dropped += 1;
                return Arrivals::default();
            }
            // len × 8 bits at rate_kbit × 1000 bit/s, in µs.
            let send_us = (len as u64 * 8 * 1000).div_ceil(self.spec.rate_kbit);
            self.busy_until = start + send_us;
            depart = self.busy_until;
        }
        let mut first = depart + self.delay_us();
        if self.draw(self.spec.reorder) {
            if first < self.last_arrival {
                self.counters.reordered += 1;
            }
        } else {
            first = first.max(self.last_arrival);
            self.last_arrival = first;
        }
        let copy = if self.draw(self.spec.duplicate) {
            self.counters.duplicated += 1;
            Some(depart + self.delay_us())
        } else {
            None
        };
        Arrivals {
            first: Some(first),
            copy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lossy() -> LinkSpec {
        LinkSpec {
            delay_ms: 50.0,
            jitter_ms: 20.0,
            loss: 0.10,
            duplicate: 0.01,
            reorder: 0.05,
            ..LinkSpec::default()
        }
    }

    /// 200,000 packets 100 ms apart (no queueing, no order effects): the loss and
    /// duplication rates match the settings within 4.5 standard deviations of the
    /// binomial, the delays stay in [delay − jitter, delay + jitter] with the mean
    /// within 0.2 ms of the delay.
    #[test]
    fn sparse_packets_see_the_configured_loss_duplication_and_delay() {
        let spec = lossy();
        let mut link = Link::new(spec, 7);
        let n = 200_000u64;
        let (mut got, mut sum, mut lo, mut hi) = (0u64, 0f64, u64::MAX, 0u64);
        for i in 0..n {
            let now = i * 100_000;
            let a = link.admit(now, 1200);
            if let Some(t) = a.first {
                got += 1;
                let d = t - now;
                sum += d as f64;
                lo = lo.min(d);
                hi = hi.max(d);
            }
        }
        let c = link.counters;
        let sd = |p: f64| (p * (1.0 - p) * n as f64).sqrt();
        assert!(
            (c.lost as f64 - 0.10 * n as f64).abs() < 4.5 * sd(0.10),
            "{c:?}"
        );
        assert!(
            (c.duplicated as f64 - 0.01 * 0.9 * n as f64).abs() < 4.5 * sd(0.009),
            "{c:?}"
        );
        assert_eq!(got, n - c.lost);
        let mean_ms = sum / got as f64 / 1000.0;
        assert!((mean_ms - 50.0).abs() < 0.2, "mean {mean_ms}");
        assert!(lo >= 30_000 && hi <= 70_000, "{lo}..{hi}");
        assert_eq!(c.reordered, 0, "sparse packets cannot overtake");
    }

    /// Back-to-back packets: without the reorder draw none arrives before the one
    /// sent before it, whatever the jitter; with it, some overtake, at most the
    /// configured share.
    #[test]
    fn a_link_keeps_order_except_for_the_reorder_share() {
        let mut keep = Link::new(
            LinkSpec {
                reorder: 0.0,
                ..lossy()
            },
            1,
        );
        let mut last = 0;
        for i in 0..50_000u64 {
            if let Some(t) = keep.admit(i * 100, 100).first {
                assert!(t >= last, "packet {i} overtook");
                last = t;
            }
        }
        let mut mixed = Link::new(lossy(), 2);
        for i in 0..50_000u64 {
            mixed.admit(i * 100, 100);
        }
        let share = mixed.counters.reordered as f64 / 45_000.0;
        assert!(share > 0.01 && share <= 0.05 + 0.005, "{share}");
    }

    /// 1,000 packets of 1,250 bytes offered at once to a 1,000 kbit/s link: each takes
    /// 10 ms to send, so a 200 ms queue holds 20 of them and the rest are dropped; the
    /// ones sent leave 10 ms apart.
    #[test]
    fn bandwidth_spaces_packets_and_a_full_queue_drops() {
        let spec = LinkSpec {
            rate_kbit: 1000,
            ..LinkSpec::default()
        };
        let mut link = Link::new(spec, 3);
        let times: Vec<u64> = (0..1000)
            .filter_map(|_| link.admit(0, 1250).first)
            .collect();
        assert_eq!(times.len(), 21, "{:?}", link.counters);
        assert_eq!(link.counters.queue_dropped, 979);
        for (i, t) in times.iter().enumerate() {
            assert_eq!(*t, (i as u64 + 1) * 10_000);
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let e = LinkSpec {
            loss: 1.5,
            ..LinkSpec::default()
        }
        .check()
        .unwrap_err();
        assert!(e.contains("loss"), "{e}");
        let e = LinkSpec {
            delay_ms: 5.0,
            jitter_ms: 9.0,
            ..LinkSpec::default()
        }
        .check()
        .unwrap_err();
        assert!(e.contains("jitter_ms"), "{e}");
        assert!(lossy().check().is_ok());
    }
}
