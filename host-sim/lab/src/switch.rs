//! The switch: one TUN device per lab node, a reader thread per device and one
//! delivery thread. A packet read from node `i`'s device and addressed to node `j`
//! passes the directed link `i → j` ([`crate::link`]) and is written into `j`'s
//! device when the link says it arrives. Partitions drop packets between groups.
//!
//! Bounds: the delivery queue holds at most [`QUEUE_MAX`] packets (more are dropped
//! and counted), each at most [`PACKET_MAX`] bytes.

use crate::clock::Clock;
use crate::error::LabError;
use crate::link::{Link, LinkCounters, LinkSpec};
use crate::netns::node_index;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Largest packet the switch carries (the devices' MTU is 1,500).
pub const PACKET_MAX: usize = 2048;
/// Most packets in flight in the switch at once.
pub const QUEUE_MAX: usize = 200_000;

/// A packet waiting for its arrival time.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    at_us: u64,
    order: u64,
    to: usize,
    bytes: Vec<u8>,
}

/// The links' state: one [`Link`] per ordered pair, and each node's partition group.
#[derive(Debug)]
struct Links {
    n: usize,
    links: Vec<Link>,
    group: Vec<u32>,
}

impl Links {
    fn link(&mut self, from: usize, to: usize) -> Option<&mut Link> {
        self.links.get_mut(from * self.n + to)
    }
}

struct Shared {
    clock: Clock,
    devices: Vec<tun::Device>,
    links: Mutex<Links>,
    queue: Mutex<BinaryHeap<Reverse<Pending>>>,
    wake: Condvar,
    stop: AtomicBool,
    order: AtomicU64,
    /// Packets dropped because the queue was full, or malformed, or for no node.
    overflow: AtomicU64,
    stray: AtomicU64,
    delivered: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running switch; stopped (threads joined) on drop.
pub struct Switch {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// What the switch did, for the report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SwitchCounters {
    /// Per directed link `from → to` (only links that carried packets).
    pub links: Vec<(usize, usize, LinkCounters)>,
    /// Packets written into a destination device.
    pub delivered: u64,
    /// Packets dropped because the switch's queue was full.
    pub overflow: u64,
    /// Packets not for another lab node (or not IPv4).
    pub stray: u64,
}

/// Opens a TUN device named `name` in this namespace (not yet moved or addressed).
///
/// # Errors
/// [`LabError::Tun`].
pub fn open_tun(name: &str) -> Result<tun::Device, LabError> {
    let mut cfg = tun::Configuration::default();
    cfg.tun_name(name).mtu(1500);
    tun::create(&cfg).map_err(|e| LabError::Tun {
        name: name.into(),
        detail: e.to_string(),
    })
}

impl Switch {
    /// Starts switching between `devices` (device `i` belongs to node `i`), every
    /// link set to `spec`, link `i → j` drawing from a stream derived from `seed`.
    pub fn start(clock: Clock, devices: Vec<tun::Device>, spec: LinkSpec, seed: u64) -> Switch {
        let n = devices.len();
        let links = (0..n * n)
            .map(|k| Link::new(spec, glitter_sim::stream_seed(seed, 10_000 + k as u64)))
            .collect();
        let shared = Arc::new(Shared {
            clock,
            devices,
            links: Mutex::new(Links {
                n,
                links,
                group: vec![0; n],
            }),
            queue: Mutex::new(BinaryHeap::new()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            order: AtomicU64::new(0),
            overflow: AtomicU64::new(0),
            stray: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
        });
        let mut threads = Vec::new();
        for i in 0..n {
            let s = shared.clone();
            threads.push(std::thread::spawn(move || read_loop(&s, i)));
        }
        let s = shared.clone();
        threads.push(std::thread::spawn(move || deliver_loop(&s)));
        Switch { shared, threads }
    }

    /// Puts node `i` in partition group `group[i]`: packets between different groups
    /// are dropped from now on. All zero heals every partition.
    pub fn set_groups(&self, group: &[u32]) {
        let mut links = lock(&self.shared.links);
        for (g, new) in links.group.iter_mut().zip(group) {
            *g = *new;
        }
    }

    /// Sets every link to `spec` from now on.
    pub fn set_spec(&self, spec: LinkSpec) {
        for l in &mut lock(&self.shared.links).links {
            l.set_spec(spec);
        }
    }

    /// What the switch did so far.
    pub fn counters(&self) -> SwitchCounters {
        let links = lock(&self.shared.links);
        let n = links.n;
        SwitchCounters {
            links: links
                .links
                .iter()
                .enumerate()
                .filter(|(_, l)| l.counters.packets > 0)
                .map(|(k, l)| (k / n, k % n, l.counters))
                .collect(),
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            overflow: self.shared.overflow.load(Ordering::Relaxed),
            stray: self.shared.stray.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The destination node of an IPv4 packet.
fn destination(packet: &[u8]) -> Option<usize> {
    if packet.first()? >> 4 != 4 {
        return None;
    }
    let dst: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
    node_index(dst)
}

fn read_loop(s: &Shared, from: usize) {
    let Some(dev) = s.devices.get(from) else {
        return;
    };
    let mut buf = vec![0u8; PACKET_MAX];
    while !s.stop.load(Ordering::Relaxed) {
        let len = match dev.recv_timeout(&mut buf, Duration::from_millis(100)) {
            Ok(len) => len,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Some(packet) = buf.get(..len) else {
            continue;
        };
        let now = s.clock.us();
        let to = match destination(packet) {
            Some(to) if to != from && to < s.devices.len() => to,
            _ => {
                s.stray.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let arrivals = {
            let mut links = lock(&s.links);
            let apart = links.group.get(from) != links.group.get(to);
            let Some(link) = links.link(from, to) else {
                continue;
            };
            if apart {
                link.counters.packets += 1;
                link.counters.bytes += len as u64;
                link.counters.partitioned += 1;
                continue;
            }
            link.admit(now, len)
        };
        let mut queue = lock(&s.queue);
        for at_us in [arrivals.first, arrivals.copy].into_iter().flatten() {
            if queue.len() >= QUEUE_MAX {
                s.overflow.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            queue.push(Reverse(Pending {
                at_us,
                order: s.order.fetch_add(1, Ordering::Relaxed),
                to,
                bytes: packet.to_vec(),
            }));
        }
        drop(queue);
        s.wake.notify_one();
    }
}

fn deliver_loop(s: &Shared) {
    let mut queue = lock(&s.queue);
    while !s.stop.load(Ordering::Relaxed) {
        let now = s.clock.us();
        let due = queue.peek().map(|Reverse(p)| p.at_us);
        match due {
            Some(at) if at <= now => {
                if let Some(Reverse(p)) = queue.pop() {
                    drop(queue);
                    if let Some(dev) = s.devices.get(p.to)
                        && dev.send(&p.bytes).is_ok()
                    {
                        s.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    queue = lock(&s.queue);
                }
            }
            Some(at) => {
                let wait = Duration::from_micros(at - now).min(Duration::from_millis(50));
                queue = s
                    .wake
                    .wait_timeout(queue, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            None => {
                queue = s
                    .wake
                    .wait_timeout(queue, Duration::from_millis(50))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }
}
