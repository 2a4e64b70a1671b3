//! Helpers of `glitter sim`: the fault-scenario batch, JSON reports, argument parsing
//! and reference figures.

use super::*;
use anyhow::Context;

pub(super) fn faults_batch(
    out: &mut Vec<String>,
    name: &str,
    plan: &FaultPlan,
    seeds: u64,
    common: &Common,
) -> Result<()> {
    if seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let pb = bar(seeds, name);
    let mut results = Vec::new();
    for k in 0..seeds {
        let seed = common.seed.wrapping_add(k);
        let o = scenarios::faults(seed, plan)?;
        if !o.converged || o.invalid_stored > 0 || !o.failures.is_empty() {
            pb.finish_and_clear();
            bail!(
                "seed {seed} failed (converged: {}, invalid stored: {}{}); replay: glitter sim {name} --nodes {} --seed {seed}",
                o.converged,
                o.invalid_stored,
                o.failures
                    .iter()
                    .map(|f| format!(", {f}"))
                    .collect::<String>(),
                plan.nodes
            );
        }
        results.push(o);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut times: Vec<u64> = results
        .iter()
        .filter_map(|o| o.converge_ms_after_heal)
        .collect();
    times.sort_unstable();
    let p = |q: f64| {
        times
            .get(((times.len().saturating_sub(1)) as f64 * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    let sum = |f: fn(&scenarios::FaultOutcome) -> u64| results.iter().map(f).sum::<u64>();
    out.extend(report::table(
        &["metric", "value"],
        &[
            vec!["runs (seeds)".into(), seeds.to_string()],
            vec![
                "converged".into(),
                format!(
                    "{} of {seeds}",
                    results.iter().filter(|o| o.converged).count()
                ),
            ],
            vec![
                "invalid blocks stored".into(),
                sum(|o| o.invalid_stored).to_string(),
            ],
            vec![
                format!(
                    "convergence after {} (ms) p50/p90/max",
                    if plan.partition { "heal" } else { "last post" }
                ),
                format!("{}/{}/{}", p(0.5), p(0.9), p(1.0)),
            ],
            vec![
                "posts / deliveries".into(),
                format!("{} / {}", sum(|o| o.posts), sum(|o| o.deliveries)),
            ],
            vec![
                "dropped / duplicated messages".into(),
                format!("{} / {}", sum(|o| o.dropped), sum(|o| o.duplicated)),
            ],
            vec!["crashes".into(), sum(|o| o.crashes).to_string()],
        ],
    ));
    json_report(out, common, &results)?;
    if let Some(path) = &common.svg {
        let first = &results[0];
        let pts: Vec<(f64, f64)> = first
            .series
            .iter()
            .map(|(t, c)| (*t as f64 / 1000.0, *c))
            .collect();
        report::write_svg(
            path,
            &report::svg(
                &format!("{name}, seed {}: coverage over time", first.seed),
                "seconds",
                &[Line {
                    name: "coverage",
                    points: &pts,
                }],
            ),
        )?;
        out.push(format!("plot: {}", path.display()));
    }
    Ok(())
}

/// Writes `value` as the JSON report if `--json` was given, and says where.
pub(super) fn json_report<T: serde::Serialize>(
    out: &mut Vec<String>,
    common: &Common,
    value: &T,
) -> Result<()> {
    if let Some(p) = &common.json {
        report::write_json(p, value)?;
        out.push(format!("report: {}", p.display()));
    }
    Ok(())
}

pub(super) fn parse_graph(s: &str) -> Result<Graph> {
    if s == "complete" {
        return Ok(Graph::Complete);
    }
    if let Some(d) = s.strip_prefix("regular:")
        && let Ok(d) = d.parse::<usize>()
        && d >= 2
    {
        return Ok(Graph::RandomRegular(d));
    }
    bail!("--graph must be `complete` or `regular:D` with D ≥ 2, not {s:?}")
}

/// Reference means from the design brief (200 trials, complete graph): (push, push-pull).
pub(super) fn theory_rounds(n: usize) -> (Option<f64>, Option<f64>) {
    match n {
        100 => (Some(12.2), Some(6.5)),
        1000 => (Some(17.9), Some(9.2)),
        10000 => (Some(23.8), Some(11.6)),
        _ => (None, None),
    }
}

/// Peak resident set size of this process (Linux), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs the simulator's twin of the lab's `lossy6` over `seeds` seeds from `seed` and
/// adds one row per seed and a summary to `out`.
pub fn twin_batch(out: &mut Vec<String>, seeds: u64, seed: u64) -> Result<()> {
    let mut rows = Vec::new();
    let mut heal = Vec::new();
    let mut tpb = Vec::new();
    for s in seed..seed.saturating_add(seeds) {
        let o = glitter_sim::twin::lossy6(s)
            .with_context(|| format!("seed {s}; replay: glitter sim twin --seeds 1 --seed {s}"))?;
        if let Some(h) = o.heal_converge_ms {
            heal.push(h);
        }
        tpb.push(o.transfers_per_block);
        rows.push(vec![
            s.to_string(),
            format!("{} / {}", o.reach_all_median_ms, o.reach_all_max_ms),
            format!("{:.2}", o.transfers_per_block),
            o.heal_converge_ms
                .map_or_else(|| "not within 60 s".into(), |h| h.to_string()),
        ]);
    }
    out.extend(report::table(
        &[
            "seed",
            "burst post reaches all: median / max (ms)",
            "transfers per block",
            "converged after heal (ms)",
        ],
        &rows,
    ));
    heal.sort_unstable();
    let mean = tpb.iter().sum::<f64>() / tpb.len().max(1) as f64;
    out.push(format!(
        "heal: median {} ms, max {} ms over {} of {seeds} runs; transfers per block: mean {mean:.2}",
        heal.get(heal.len() / 2).copied().unwrap_or(0),
        heal.last().copied().unwrap_or(0),
        heal.len()
    ));
    Ok(())
}
