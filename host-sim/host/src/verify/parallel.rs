//! Spreading chunks of work over scoped threads, the calling thread included.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `lead` on the calling thread while up to `threads − 1` scoped threads take
/// chunks `0..chunks` in order from a shared counter; when `lead` is done, the calling
/// thread takes chunks too. Returns `lead`'s result and each chunk's output, by chunk.
///
/// `job` returns `None` for a chunk it decided to skip. A thread that cannot be started
/// is done without: the remaining threads take its share.
pub(crate) fn run<L, T, F>(
    threads: usize,
    chunks: usize,
    lead: impl FnOnce() -> L,
    job: F,
) -> (L, Vec<Option<T>>)
where
    T: Send,
    F: Fn(usize) -> Option<T> + Sync,
{
    let next = AtomicUsize::new(0);
    let take = || {
        let mut out = Vec::new();
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= chunks {
                return out;
            }
            if let Some(t) = job(c) {
                out.push((c, t));
            }
        }
    };
    let helpers = threads.max(1).min(chunks.max(1)) - 1;
    let (led, mut found) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..helpers)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, take).ok())
            .collect();
        let led = lead();
        let mut found = take();
        for h in handles {
            match h.join() {
                Ok(mut more) => found.append(&mut more),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        (led, found)
    });
    let mut out: Vec<Option<T>> = (0..chunks).map(|_| None).collect();
    for (c, t) in found.drain(..) {
        if let Some(slot) = out.get_mut(c) {
            *slot = Some(t);
        }
    }
    (led, out)
}
