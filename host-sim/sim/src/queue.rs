//! The event queue: events come out in (time, insertion order), exactly as from a
//! binary heap, but from a timing wheel, which costs O(1) per event instead of a
//! heap's O(log n) cache-missing sift (the heap was the simulator's single hottest
//! function at 10,000 nodes).
//!
//! The wheel has one slot per millisecond over a window longer than any delay the
//! simulator schedules (a gossip tick, a link latency). While the window starts at the
//! earliest pending time, every slot holds events of a single time, pushed in
//! insertion order, so each slot is already sorted. An event beyond the window (never
//! scheduled by the simulator, but allowed) waits in a small heap, and every pop
//! compares the two.

use super::link::Event;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A timing wheel of events (see the module docs).
pub(crate) struct EventQueue {
    slots: Vec<VecDeque<Event>>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: u64,
    /// No event in the slots is earlier than this.
    cursor: u64,
    /// Events in the slots.
    in_slots: usize,
    /// Events at or beyond `cursor + slots.len()` when pushed.
    far: BinaryHeap<Reverse<Event>>,
}

impl EventQueue {
    /// A queue whose window covers at least `horizon_ms` ahead of the earliest event.
    pub(crate) fn new(horizon_ms: u64) -> EventQueue {
        let len = horizon_ms.saturating_add(2).next_power_of_two().max(64);
        EventQueue {
            slots: (0..len).map(|_| VecDeque::new()).collect(),
            mask: len - 1,
            cursor: 0,
            in_slots: 0,
            far: BinaryHeap::new(),
        }
    }

    fn window(&self) -> u64 {
        self.mask + 1
    }

    /// Queues `ev`. Its `order` must exceed every earlier event's.
    pub(crate) fn push(&mut self, ev: Event) {
        if self.in_slots == 0 {
            // No event in the slots: the window may start at this one.
            self.cursor = ev.at_ms;
        }
        if ev.at_ms < self.cursor || ev.at_ms - self.cursor >= self.window() {
            self.far.push(Reverse(ev));
            return;
        }
        let i = (ev.at_ms & self.mask) as usize;
        self.slots[i].push_back(ev);
        self.in_slots += 1;
    }

    /// Moves the cursor to the earliest non-empty slot; returns its index.
    fn next_slot(&mut self) -> Option<usize> {
        if self.in_slots == 0 {
            return None;
        }
        // Bounded by the window: some slot is non-empty.
        for _ in 0..self.window() {
            let i = (self.cursor & self.mask) as usize;
            if !self.slots[i].is_empty() {
                return Some(i);
            }
            self.cursor += 1;
        }
        None
    }

    /// True if the far heap's earliest event comes before the slots' earliest.
    fn far_first(&mut self) -> bool {
        let Some(Reverse(f)) = self.far.peek() else {
            return false;
        };
        let (at, order) = (f.at_ms, f.order);
        match self.next_slot().and_then(|i| self.slots[i].front()) {
            Some(s) => (at, order) < (s.at_ms, s.order),
            None => true,
        }
    }

    /// Takes the earliest event.
    pub(crate) fn pop(&mut self) -> Option<Event> {
        if self.far_first() {
            return self.far.pop().map(|Reverse(e)| e);
        }
        let i = self.next_slot()?;
        let ev = self.slots[i].pop_front()?;
        self.in_slots -= 1;
        Some(ev)
    }

    /// The time of the earliest event.
    pub(crate) fn peek_time(&mut self) -> Option<u64> {
        if self.far_first() {
            return self.far.peek().map(|Reverse(e)| e.at_ms);
        }
        let i = self.next_slot()?;
        self.slots[i].front().map(|e| e.at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::EventKind;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    /// Against a binary heap (the reference): random pushes within and beyond the
    /// window, interleaved with pops, come out in the same order.
    #[test]
    fn pops_in_the_order_of_a_heap() {
        for seed in 0..20u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut wheel = EventQueue::new(100);
            let mut heap: BinaryHeap<Reverse<Event>> = BinaryHeap::new();
            let (mut now, mut order) = (0u64, 0u64);
            for _ in 0..5_000 {
                if rng.next_u32() % 3 != 0 {
                    order += 1;
                    let ahead = if rng.next_u32() % 50 == 0 {
                        u64::from(rng.next_u32() % 1_000)
                    } else {
                        u64::from(rng.next_u32() % 120)
                    };
                    let ev = |o| Event {
                        at_ms: now + ahead,
                        order: o,
                        kind: EventKind::Tick { node: 0 },
                    };
                    wheel.push(ev(order));
                    heap.push(Reverse(ev(order)));
                } else {
                    let want = heap.pop().map(|Reverse(e)| (e.at_ms, e.order));
                    assert_eq!(wheel.peek_time(), want.map(|w| w.0), "seed {seed}");
                    let got = wheel.pop().map(|e| (e.at_ms, e.order));
                    assert_eq!(got, want, "seed {seed}");
                    if let Some((t, _)) = got {
                        now = t;
                    }
                }
            }
            while let Some(Reverse(e)) = heap.pop() {
                assert_eq!(
                    wheel.pop().map(|e| (e.at_ms, e.order)),
                    Some((e.at_ms, e.order))
                );
            }
            assert!(wheel.pop().is_none());
        }
    }
}
