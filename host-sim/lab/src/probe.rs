//! The emulator's self-test: two namespaces joined by the switch, UDP packets sent
//! from one to the other, and what arrived compared with the link settings. Run by
//! the lab's tests and by `glitter-lab probe`.

use crate::clock::Clock;
use crate::error::LabError;
use crate::link::LinkSpec;
use crate::netns::{self, Namespaces, node_ip};
use crate::switch::{Switch, open_tun};
use serde::Serialize;
use std::net::{SocketAddrV4, UdpSocket};
use std::time::Duration;

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct ProbePlan {
    /// The link settings (both directions).
    pub spec: LinkSpec,
    /// Packets sent.
    pub packets: u32,
    /// Bytes per packet (at least 16).
    pub size: usize,
    /// Gap between sends, in µs (0: all at once).
    pub interval_us: u64,
    /// Seed of the link draws.
    pub seed: u64,
}

/// What arrived.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    /// The settings.
    pub spec: LinkSpec,
    /// Packets sent.
    pub sent: u32,
    /// Distinct packets received.
    pub received: u32,
    /// Extra copies received.
    pub duplicates: u32,
    /// Packets that arrived after a later-sent one.
    pub reordered: u32,
    /// 1 − received ÷ sent.
    pub loss: f64,
    /// duplicates ÷ received.
    pub duplicate_rate: f64,
    /// One-way delays of first copies, ms: minimum, median, mean, maximum.
    pub delay_ms: [f64; 4],
    /// The 99th percentile of those delays, ms (a single packet held by a scheduler
    /// stall on a busy machine moves the maximum, not this).
    pub delay_p99_ms: f64,
    /// Median gap between consecutive arrivals, ms.
    pub gap_ms: f64,
}

const PORT: u16 = 7_700;

/// Runs the calling thread in namespace `ns` from now on.
fn enter(ns: &str) -> Result<(), LabError> {
    let f = std::fs::File::open(format!("/run/netns/{ns}"))
        .map_err(LabError::io(format!("opening namespace {ns}")))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| LabError::Command {
        command: format!("setns {ns}"),
        detail: e.to_string(),
    })
}

/// Sends `plan` through a fresh two-node lab and reports what arrived.
///
/// # Errors
/// Not root, or setting up the namespaces, devices or sockets failed.
pub fn probe(plan: ProbePlan) -> Result<ProbeReport, LabError> {
    netns::require_root()?;
    plan.spec.check().map_err(|detail| LabError::Scenario {
        path: "probe".into(),
        detail,
    })?;
    let _ = netns::clean_stale();
    let clock = Clock::start();
    let mut spaces = Namespaces::new();
    let mut devices = Vec::new();
    for i in 0..2 {
        let ns = spaces.add(i)?;
        let name = spaces.tun_name(i);
        devices.push(open_tun(&name)?);
        netns::attach(&name, &ns, i)?;
    }
    let switch = Switch::start(clock, devices, plan.spec, plan.seed);
    let (ns0, ns1) = (spaces.names()[0].clone(), spaces.names()[1].clone());
    let recv_ns = ns1.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || -> Result<Vec<(u32, u64, u64)>, LabError> {
        enter(&recv_ns)?;
        let sock = UdpSocket::bind(SocketAddrV4::new(node_ip(1), PORT))
            .map_err(LabError::io("binding the probe receiver"))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(LabError::io("probe receiver timeout"))?;
        let _ = ready_tx.send(());
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        let mut idle_since = None;
        loop {
            match sock.recv(&mut buf) {
                Ok(len) if len >= 12 => {
                    idle_since = None;
                    let seq = u32::from_be_bytes(buf[..4].try_into().unwrap_or_default());
                    let sent = u64::from_be_bytes(buf[4..12].try_into().unwrap_or_default());
                    if seq == u32::MAX {
                        // The end marker: stop once the link has had time to drain.
                        idle_since = Some(clock.us());
                        continue;
                    }
                    got.push((seq, sent, clock.us()));
                }
                _ => {}
            }
            if let Some(t) = idle_since
                && clock.us() - t > 2_000_000
            {
                return Ok(got);
            }
            if got.is_empty() && clock.us() > 120_000_000 {
                return Ok(got);
            }
        }
    });
    let _ = ready_rx.recv_timeout(Duration::from_secs(10));
    let sender = std::thread::spawn(move || -> Result<(), LabError> {
        enter(&ns0)?;
        let sock = UdpSocket::bind(SocketAddrV4::new(node_ip(0), 0))
            .map_err(LabError::io("binding the probe sender"))?;
        let to = SocketAddrV4::new(node_ip(1), PORT);
        let mut pkt = vec![0u8; plan.size.max(16)];
        let start = clock.us();
        for seq in 0..plan.packets {
            let at = start + u64::from(seq) * plan.interval_us;
            std::thread::sleep(clock.until(at));
            pkt[..4].copy_from_slice(&seq.to_be_bytes());
            pkt[4..12].copy_from_slice(&clock.us().to_be_bytes());
            let _ = sock.send_to(&pkt, to);
        }
        // End markers, after the slowest packet could have arrived (sent several
        // times: they cross the same lossy link).
        std::thread::sleep(Duration::from_millis(
            (plan.spec.delay_ms + plan.spec.jitter_ms) as u64 + 300,
        ));
        pkt[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        for _ in 0..20 {
            let _ = sock.send_to(&pkt, to);
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    });
    let sent = sender.join().map_err(|_| LabError::Interrupted)?;
    let got = receiver.join().map_err(|_| LabError::Interrupted)??;
    sent?;
    drop(switch);
    drop(spaces);
    Ok(summarise(plan, &got))
}

fn summarise(plan: ProbePlan, got: &[(u32, u64, u64)]) -> ProbeReport {
    let mut seen = vec![false; plan.packets as usize];
    let (mut received, mut duplicates, mut reordered) = (0u32, 0u32, 0u32);
    let mut delays = Vec::new();
    let mut max_seq = None;
    for &(seq, sent, at) in got {
        let Some(s) = seen.get_mut(seq as usize) else {
            continue;
        };
        if *s {
            duplicates += 1;
            continue;
        }
        *s = true;
        received += 1;
        delays.push(at.saturating_sub(sent) as f64 / 1000.0);
        if max_seq.is_some_and(|m| seq < m) {
            reordered += 1;
        }
        max_seq = max_seq.max(Some(seq));
    }
    let mut gaps: Vec<f64> = got
        .windows(2)
        .map(|w| w[1].2.saturating_sub(w[0].2) as f64 / 1000.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let mean = delays.iter().sum::<f64>() / delays.len().max(1) as f64;
    delays.sort_by(f64::total_cmp);
    let pick = |v: &[f64], q: f64| v.get(((v.len() as f64 - 1.0) * q) as usize).copied();
    ProbeReport {
        spec: plan.spec,
        sent: plan.packets,
        received,
        duplicates,
        reordered,
        loss: 1.0 - f64::from(received) / f64::from(plan.packets.max(1)),
        duplicate_rate: f64::from(duplicates) / f64::from(received.max(1)),
        delay_ms: [
            pick(&delays, 0.0).unwrap_or(0.0),
            pick(&delays, 0.5).unwrap_or(0.0),
            mean,
            pick(&delays, 1.0).unwrap_or(0.0),
        ],
        delay_p99_ms: pick(&delays, 0.99).unwrap_or(0.0),
        gap_ms: pick(&gaps, 0.5).unwrap_or(0.0),
    }
}
