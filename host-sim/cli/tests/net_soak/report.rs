//! The soak's measurements: samples of every honest node (VmRSS, anonymous memory,
//! CPU, status counters), the memory curve and its verdict, and small statistics.

use crate::net_common::NodeProc;
use glitter_net::Request;
use serde_json::{Value, json};
use std::time::Instant;

/// Slack on a node's VmRSS growth from the warm-up sample to the end of the run.
pub const GROWTH_SLACK_KIB: f64 = 8.0 * 1024.0;
/// How long libp2p-gossipsub keeps a delivery record of each message it received
/// (its peer scoring's `TIME_CACHE_DURATION`; the duplicate cache keeps ids 60 s).
pub const GOSSIP_CACHE_S: f64 = 120.0;
/// What those caches hold per received message, with a margin: measured 1.05–1.17 KiB
/// (docs/PERFORMANCE.md, "Soak").
pub const GOSSIP_KIB_PER_MSG: f64 = 1.5;

/// One honest node at one sample.
pub struct NodeSample {
    pub rss_kib: u64,
    pub anon_kib: u64,
    pub cpu_ms: f64,
    /// The status counters: core, net, connected peers, blocks stored.
    pub status: Value,
    /// (banned, core score) of each watched peer, if connected.
    pub watched: Vec<Option<(bool, i64)>>,
}

pub struct Sample {
    /// Seconds since the run started.
    pub t: f64,
    pub nodes: Vec<NodeSample>,
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `RssAnon:`).
fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// `v`, or a failure with the node's log (its process is gone).
fn alive<T>(n: &NodeProc, v: Option<T>) -> T {
    v.unwrap_or_else(|| panic!("{} is gone\n{}", n.name, n.logs()))
}

/// The `peers` row of `peer_id` on `node`: (banned, core score), if connected.
pub fn verdict(node: &NodeProc, peer_id: &str) -> Option<(bool, i64)> {
    let rows = node.ctl(Request::Peers).data;
    let row = rows.as_array()?.iter().find(|r| r["peer_id"] == peer_id)?;
    Some((row["banned"].as_bool()?, row["core_score"].as_i64()?))
}

/// Banned, or scored below zero.
pub fn below_zero(v: Option<(bool, i64)>) -> bool {
    v.is_some_and(|(banned, score)| banned || score < 0)
}

/// Every honest node's memory, CPU time, counters and view of the `watch`ed peers now.
pub fn sample(honest: &[NodeProc], t0: Instant, watch: &[String]) -> Sample {
    let t = t0.elapsed().as_secs_f64();
    let nodes = honest
        .iter()
        .map(|n| {
            let pid = alive(n, n.pid());
            let s = n.ctl(Request::Status).data;
            NodeSample {
                rss_kib: alive(n, proc_kib(pid, "VmRSS:")),
                anon_kib: alive(n, proc_kib(pid, "RssAnon:")),
                cpu_ms: alive(n, n.cpu_ms()),
                status: json!({"core": s["core"], "net": s["net"],
                    "connected": s["connected"], "blocks": s["blocks"]}),
                watched: watch.iter().map(|p| verdict(n, p)).collect(),
            }
        })
        .collect();
    Sample { t, nodes }
}

/// Gossip messages node `i` had received (accepted or rejected) by sample `s`.
fn gossip_received(s: &Sample, i: usize) -> f64 {
    let net = &s.nodes[i].status["net"];
    (net["gossip_accepted"].as_u64().unwrap_or(0) + net["gossip_rejected"].as_u64().unwrap_or(0))
        as f64
}

/// Gossip messages node `i` had received by time `t` (linear between samples).
fn gossip_received_at(samples: &[Sample], i: usize, t: f64) -> f64 {
    let Some(k) = samples.iter().position(|s| s.t >= t) else {
        return samples.last().map_or(0.0, |s| gossip_received(s, i));
    };
    if k == 0 {
        return gossip_received(&samples[0], i);
    }
    let (a, b) = (&samples[k - 1], &samples[k]);
    let f = (t - a.t) / (b.t - a.t);
    gossip_received(a, i) + f * (gossip_received(b, i) - gossip_received(a, i))
}

/// Messages node `i` received in the [`GOSSIP_CACHE_S`] before sample `k`: what
/// gossipsub's caches hold then.
fn gossip_cached(samples: &[Sample], i: usize, k: usize) -> f64 {
    let t = samples[k].t;
    gossip_received(&samples[k], i) - gossip_received_at(samples, i, t - GOSSIP_CACHE_S)
}

/// The allowed VmRSS growth of node `i` from sample `warm` to sample `end`, in KiB:
/// [`GROWTH_SLACK_KIB`] plus what gossipsub's caches may have grown by in between.
pub fn growth_bound_kib(samples: &[Sample], i: usize, warm: usize, end: usize) -> f64 {
    let cache = gossip_cached(samples, i, end) - gossip_cached(samples, i, warm);
    GROWTH_SLACK_KIB + GOSSIP_KIB_PER_MSG * cache.max(0.0)
}

/// The memory verdict: a summary per node (JSON) and the nodes that grew too much.
pub struct Memory {
    pub summary: Vec<Value>,
    pub too_much: Vec<String>,
}

/// Prints the VmRSS curve of every honest node and the summary (start, warm, end,
/// max, growth against the bound, slope after the warm-up, anonymous memory, CPU
/// share), and judges each node's growth from sample `warm` to the last sample.
pub fn memory(samples: &[Sample], warm: usize) -> Memory {
    let nodes = samples[0].nodes.len();
    println!("\nVmRSS (MiB) of the honest nodes:");
    let header: String = (0..nodes)
        .map(|i| format!("{:>7}", format!("h{i}")))
        .collect();
    println!("{:>7} {header}", "t (s)");
    for s in samples {
        let row: String = s
            .nodes
            .iter()
            .map(|n| format!("{:>7.1}", mib(n.rss_kib)))
            .collect();
        println!("{:>7.1} {row}", s.t);
    }
    let end = samples.len() - 1;
    println!(
        "\nwarm-up sample at {:.0} s, end at {:.0} s\nnode  start   warm    end    max (MiB)  \
         end-warm  bound   slope after warm-up   anon warm/end   cpu",
        samples[warm].t, samples[end].t
    );
    let mut out = Memory {
        summary: Vec::new(),
        too_much: Vec::new(),
    };
    for i in 0..nodes {
        let rss = |k: usize| samples[k].nodes[i].rss_kib;
        let anon = |k: usize| samples[k].nodes[i].anon_kib;
        let max = samples
            .iter()
            .map(|s| s.nodes[i].rss_kib)
            .max()
            .unwrap_or(0);
        let pts: Vec<(f64, f64)> = samples[warm..]
            .iter()
            .map(|s| (s.t, s.nodes[i].rss_kib as f64))
            .collect();
        let slope = slope_per_min(&pts);
        let bound = growth_bound_kib(samples, i, warm, end);
        let growth = rss(end) as f64 - rss(warm) as f64;
        let cpu = (samples[end].nodes[i].cpu_ms - samples[0].nodes[i].cpu_ms)
            / (1e3 * (samples[end].t - samples[0].t));
        println!(
            "h{i}   {:>6.1} {:>6.1} {:>6.1} {:>6.1}      {:>+7.1} {:>6.1}  {:>+7.0} KiB/min  \
             {:>7.1}/{:<7.1} {:>3.0}%",
            mib(rss(0)),
            mib(rss(warm)),
            mib(rss(end)),
            mib(max),
            growth / 1024.0,
            bound / 1024.0,
            slope,
            mib(anon(warm)),
            mib(anon(end)),
            cpu * 100.0
        );
        if growth > bound {
            out.too_much.push(format!(
                "h{i}: VmRSS {:.1} MiB at {:.0} s, {:.1} MiB at {:.0} s (bound +{:.1} MiB)",
                mib(rss(end)),
                samples[end].t,
                mib(rss(warm)),
                samples[warm].t,
                bound / 1024.0
            ));
        }
        out.summary.push(json!({
            "node": format!("h{i}"), "start_kib": rss(0), "warm_kib": rss(warm),
            "end_kib": rss(end), "max_kib": max, "bound_kib": bound,
            "slope_kib_per_min": slope, "anon_warm_kib": anon(warm),
            "anon_end_kib": anon(end), "cpu_share": cpu,
        }));
    }
    out
}

/// The samples as JSON: time, VmRSS, anonymous memory, CPU time and counters.
pub fn samples_json(samples: &[Sample]) -> Vec<Value> {
    samples
        .iter()
        .map(|s| {
            json!({
                "t": s.t,
                "rss_kib": s.nodes.iter().map(|n| n.rss_kib).collect::<Vec<_>>(),
                "anon_kib": s.nodes.iter().map(|n| n.anon_kib).collect::<Vec<_>>(),
                "cpu_ms": s.nodes.iter().map(|n| n.cpu_ms).collect::<Vec<_>>(),
                "status": s.nodes.iter().map(|n| n.status.clone()).collect::<Vec<_>>(),
                "watched": s.nodes.iter().map(|n| n.watched.clone()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Least-squares slope of `(t s, y)` per minute.
fn slope_per_min(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mt = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mt) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mt).powi(2)).sum();
    if var == 0.0 { 0.0 } else { cov / var * 60.0 }
}

/// The `q` quantile of sorted values (NaN if none).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
