//! `glitter sim ...`: run a simulator scenario, print a summary table, and optionally
//! write a JSON report and an SVG plot. Every run prints its seed and replay command.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use glitter_host::os;
use glitter_sim::reference::Graph;
use glitter_sim::report::{self, Line};
use glitter_sim::scenarios::{self, FaultPlan};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
pub use support::peak_rss_mib;
use support::{faults_batch, json_report, parse_graph, theory_rounds};

mod support;

/// Options every scenario shares.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Root seed: the same seed replays the same run exactly.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the full report as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write a plot of coverage over time as SVG to this file.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
}

/// Scenarios.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// The demo story (same as `glitter demo`).
    Demo,
    /// One new block at one node; rounds and messages until all n hold it, over trials,
    /// for push-pull and push, in the synchronous reference model.
    Gossip {
        /// Number of nodes.
        #[arg(long, default_value_t = 1000)]
        nodes: usize,
        /// Trials per mode.
        #[arg(long, default_value_t = 100)]
        trials: usize,
        /// Peer graph: `complete` or `regular:D`.
        #[arg(long, default_value = "complete")]
        graph: String,
        /// Check every signature for real instead of memoising identical bytes.
        #[arg(long)]
        no_memo: bool,
        /// Seed and report files.
        #[command(flatten)]
        common: Common,
    },
    /// 10,000+ users with Pareto (α = 2) follows and posts: latency, cost, coverage.
    Scale {
        /// Number of users.
        #[arg(long, default_value_t = 10_000)]
        nodes: usize,
        /// Pareto scale of posts per user (mean posts ≈ 2 × this).
        #[arg(long, default_value_t = 6.0)]
        post_scale: f64,
        /// Check every signature at every node for real (slow at scale).
        #[arg(long)]
        no_memo: bool,
        /// Turn off eager, interest-aware delivery: news spreads by gossip ticks alone
        /// (for comparison).
        #[arg(long)]
        no_eager: bool,
        /// Seed and report files.
        #[command(flatten)]
        common: Common,
    },
    /// Split the network in two, post on both sides, heal, measure convergence.
    Partition {
        /// Number of nodes.
        #[arg(long, default_value_t = 20)]
        nodes: usize,
        /// Link loss rate.
        #[arg(long, default_value_t = 0.1)]
        drop: f64,
        /// Link duplication rate.
        #[arg(long, default_value_t = 0.05)]
        dup: f64,
        /// Crash-restarts per node per minute.
        #[arg(long, default_value_t = 0.0)]
        crash_rate: f64,
        /// Repeat over this many seeds (seed, seed+1, ...) and summarise.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Seed and report files.
        #[command(flatten)]
        common: Common,
    },
    /// An author signs two blocks at one seq and sends them to different halves: how
    /// fast every honest node holds the fork proof; no honest node confirms a branch.
    Equivocate {
        /// Number of nodes.
        #[arg(long, default_value_t = 20)]
        nodes: usize,
        /// Link loss rate.
        #[arg(long, default_value_t = 0.1)]
        drop: f64,
        /// Repeat over this many seeds and summarise.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// Seed and report files.
        #[command(flatten)]
        common: Common,
    },
    /// Web-of-trust backup: restore success vs custodians online (k of n), restores
    /// with a stale device that must not fork, and bytes per custodian.
    Backup {
        /// Users with their own chain and custodians.
        #[arg(long, default_value_t = 20)]
        nodes: usize,
        /// Probability that a custodian is online during a restore.
        #[arg(long, default_value_t = 0.7)]
        p_online: f64,
        /// Restore attempts per (k, n).
        #[arg(long, default_value_t = 2000)]
        trials: usize,
        /// Restores in the no-fork run.
        #[arg(long, default_value_t = 1000)]
        restores: usize,
        /// Seed and report files.
        #[command(flatten)]
        common: Common,
    },
    /// The lab's `lossy6` in the simulator (6 nodes, 50 ± 20 ms, 10% loss, 1%
    /// duplication): a burst post's time to reach all, transfers per block, and the
    /// convergence after a 30 s partition heals, to put beside
    /// `glitter lab run lab/lossy6.toml`.
    Twin {
        /// Repeat over this many seeds (seed, seed+1, ...) and summarise.
        #[arg(long, default_value_t = 5)]
        seeds: u64,
        /// Root seed: the same seed replays the same run exactly.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Nodes crash and restart at a rate; measure convergence.
    Churn {
        /// Number of nodes.
        #[arg(long, default_value_t = 20)]
        nodes: usize,
        /// Crash-restarts per node per minute.
        #[arg(long, default_value_t = 2.0)]
        crash_rate: f64,
        /// Link loss rate.
        #[arg(long, default_value_t = 0.1)]
        drop: f64,
        /// Repeat over this many seeds and summarise.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Seed and report files.
        #[command(flatten)]
        common: Common,
    },
}

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    b.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b.set_message(what.to_string());
    b
}

/// Runs a scenario and returns the lines to print.
///
/// # Errors
/// Bad settings (one line naming the knob), or failing to write a report file.
pub fn run(cmd: SimCommand) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match cmd {
        SimCommand::Demo => return crate::commands::demo::run(),
        SimCommand::Gossip {
            nodes,
            trials,
            graph,
            no_memo,
            common,
        } => {
            let g = parse_graph(&graph)?;
            if nodes < 2 || trials == 0 {
                bail!("--nodes must be at least 2 and --trials at least 1");
            }
            out.push(format!(
                "seed {}; replay: glitter sim gossip --nodes {nodes} --trials {trials} --graph {graph} --seed {}{}",
                common.seed,
                common.seed,
                if no_memo { " --no-memo" } else { "" }
            ));
            let pb = bar(2 * trials as u64, "gossip trials");
            let start = os::instant();
            let res = scenarios::gossip(nodes, trials, g, common.seed, !no_memo, |d| {
                pb.set_position(d as u64)
            });
            pb.finish_and_clear();
            let theory = theory_rounds(nodes);
            let rows: Vec<Vec<String>> = res
                .iter()
                .map(|s| {
                    let t = if s.mode == "PushPull" {
                        theory.1
                    } else {
                        theory.0
                    };
                    vec![
                        s.mode.clone(),
                        format!("{:.2}", s.mean_rounds),
                        t.map_or("-".into(), |t| format!("{t:.1}")),
                        format!("{}..{}", s.min_rounds, s.max_rounds),
                        format!("{:.3}", s.block_transfers_per_node),
                        format!("{:.2}", s.heads_messages_per_node_round),
                        format!("{:.0}", s.heads_bytes_per_node_round),
                    ]
                })
                .collect();
            out.push(format!(
                "n = {nodes}, graph = {graph}, {trials} trials per mode, {:.1} s",
                start.elapsed().as_secs_f64()
            ));
            out.extend(report::table(
                &[
                    "mode",
                    "mean rounds",
                    "reference",
                    "range",
                    "block transfers/node",
                    "heads msgs/node/round",
                    "heads bytes/node/round",
                ],
                &rows,
            ));
            json_report(&mut out, &common, &res)?;
            if let Some(p) = &common.svg {
                let pts: Vec<Vec<(f64, f64)>> = res
                    .iter()
                    .map(|s| {
                        s.mean_coverage_by_round
                            .iter()
                            .enumerate()
                            .map(|(r, c)| (r as f64, *c))
                            .collect()
                    })
                    .collect();
                let lines: Vec<Line<'_>> = res
                    .iter()
                    .zip(&pts)
                    .map(|(s, p)| Line {
                        name: &s.mode,
                        points: p,
                    })
                    .collect();
                report::write_svg(
                    p,
                    &report::svg(
                        &format!("Gossip, n = {nodes}: mean coverage by round"),
                        "round",
                        &lines,
                    ),
                )?;
                out.push(format!("plot: {}", p.display()));
            }
        }
        SimCommand::Scale {
            nodes,
            post_scale,
            no_memo,
            no_eager,
            common,
        } => {
            out.push(format!(
                "seed {}; replay: glitter sim scale --nodes {nodes} --post-scale {post_scale} --seed {}{}{}",
                common.seed,
                common.seed,
                if no_memo { " --no-memo" } else { "" },
                if no_eager { " --no-eager" } else { "" }
            ));
            let pb = bar(1, "scale");
            let start = os::instant();
            let o = scenarios::scale(
                nodes,
                common.seed,
                !no_memo,
                !no_eager,
                post_scale,
                |what, done, total| {
                    pb.set_message(what.to_string());
                    pb.set_length(total.max(1));
                    pb.set_position(done.min(total));
                },
            )?;
            pb.finish_and_clear();
            if std::env::var_os("GLITTER_DEBUG_SCALE").is_some() && !o.lacking.is_empty() {
                eprintln!("{}", out[0]);
                for l in &o.lacking {
                    eprintln!("{l}");
                }
            }
            let wall = start.elapsed().as_secs_f64();
            out.extend(report::table(
                &["metric", "value"],
                &[
                    vec!["users".into(), o.users.to_string()],
                    vec!["follow edges".into(), o.follows.to_string()],
                    vec!["posts".into(), o.posts.to_string()],
                    vec![
                        "deliveries".into(),
                        format!(
                            "{} of {} ({:.4})",
                            o.deliveries, o.expected_deliveries, o.coverage
                        ),
                    ],
                    vec![
                        "latency p50/p90/p99/max (ms)".into(),
                        format!(
                            "{}/{}/{}/{}",
                            o.latency_ms_p50, o.latency_ms_p90, o.latency_ms_p99, o.latency_ms_max
                        ),
                    ],
                    vec![
                        "messages per delivery".into(),
                        format!("{:.2}", o.messages_per_delivery),
                    ],
                    vec![
                        "bytes per delivery".into(),
                        format!("{:.0}", o.bytes_per_delivery),
                    ],
                    vec![
                        "block transfers per delivery".into(),
                        format!("{:.3}", o.block_transfers_per_delivery),
                    ],
                    vec![
                        "heads msgs/bytes per node per tick".into(),
                        format!(
                            "{:.2} / {:.0}",
                            o.heads_messages_per_node_tick, o.heads_bytes_per_node_tick
                        ),
                    ],
                    vec!["events".into(), o.events.to_string()],
                    vec![
                        "simulated time (s)".into(),
                        format!("{:.0}", o.simulated_ms as f64 / 1000.0),
                    ],
                    vec!["wall time (s)".into(), format!("{wall:.1}")],
                    vec![
                        "events/s, deliveries/s (wall)".into(),
                        format!(
                            "{:.0}, {:.0}",
                            o.events as f64 / wall,
                            o.deliveries as f64 / wall
                        ),
                    ],
                    vec![
                        "signature checks".into(),
                        format!(
                            "{} real, {} key admissions real{}",
                            o.real_signature_checks,
                            o.real_key_admissions,
                            if o.memoised_signatures {
                                " (memoised across nodes: identical bytes checked once)"
                            } else {
                                " (every node checks every block and key)"
                            }
                        ),
                    ],
                    vec![
                        "eager delivery".into(),
                        if o.eager_push {
                            "on (heads pushed to peers that share the author)"
                        } else {
                            "off (gossip ticks alone)"
                        }
                        .into(),
                    ],
                    vec![
                        "peak RSS (MiB)".into(),
                        peak_rss_mib().map_or("n/a".into(), |m| format!("{m:.0}")),
                    ],
                    vec!["trace hash".into(), o.trace_hash.clone()],
                ],
            ));
            json_report(&mut out, &common, &o)?;
            if let Some(p) = &common.svg {
                let pts: Vec<(f64, f64)> = o
                    .series
                    .iter()
                    .map(|(t, c)| (*t as f64 / 1000.0, *c))
                    .collect();
                report::write_svg(
                    p,
                    &report::svg(
                        &format!("Scale, {nodes} users: deliveries over time"),
                        "seconds",
                        &[Line {
                            name: "deliveries / expected",
                            points: &pts,
                        }],
                    ),
                )?;
                out.push(format!("plot: {}", p.display()));
            }
        }
        SimCommand::Partition {
            nodes,
            drop,
            dup,
            crash_rate,
            seeds,
            common,
        } => {
            let plan = FaultPlan {
                nodes,
                drop_rate: drop,
                duplicate_rate: dup,
                partition: true,
                crash_rate_per_min: crash_rate,
                ..FaultPlan::default()
            };
            out.push(format!(
                "seed {}; replay: glitter sim partition --nodes {nodes} --drop {drop} --dup {dup} --crash-rate {crash_rate} --seeds {seeds} --seed {}",
                common.seed, common.seed
            ));
            faults_batch(&mut out, "partition", &plan, seeds, &common)?;
        }
        SimCommand::Equivocate {
            nodes,
            drop,
            seeds,
            common,
        } => {
            if nodes < 8 || seeds == 0 {
                bail!(
                    "--nodes must be at least 8 (4 are the author and its witnesses) and --seeds at least 1"
                );
            }
            out.push(format!(
                "seed {}; replay: glitter sim equivocate --nodes {nodes} --drop {drop} --seeds {seeds} --seed {}",
                common.seed, common.seed
            ));
            let pb = bar(seeds, "equivocate");
            let mut results = Vec::new();
            for k in 0..seeds {
                let seed = common.seed.wrapping_add(k);
                let o = glitter_sim::equivocate::run(seed, nodes, drop)?;
                if std::env::var_os("GLITTER_DEBUG_EQ").is_some() && !o.lagging.is_empty() {
                    eprintln!(
                        "seed {seed}; replay: glitter sim equivocate --nodes {nodes} --drop {drop} --seeds 1 --seed {seed}"
                    );
                    for l in &o.lagging {
                        eprintln!("{l}");
                    }
                }
                results.push(o);
                pb.inc(1);
            }
            pb.finish_and_clear();
            let mut dist = std::collections::BTreeMap::new();
            for o in &results {
                *dist
                    .entry(
                        o.rounds_to_all_proofs
                            .map_or("never".to_string(), |r| r.to_string()),
                    )
                    .or_insert(0) += 1;
            }
            let rounds: Vec<u64> = results
                .iter()
                .filter_map(|o| o.rounds_to_all_proofs)
                .collect();
            let mean = rounds.iter().sum::<u64>() as f64 / rounds.len().max(1) as f64;
            out.extend(report::table(
                &["metric", "value"],
                &[
                    vec!["runs".into(), seeds.to_string()],
                    vec![
                        "every honest node holds the proof".into(),
                        format!("{} of {seeds} runs", rounds.len()),
                    ],
                    vec![
                        "rounds until then: mean / max".into(),
                        format!("{mean:.2} / {}", rounds.iter().max().copied().unwrap_or(0)),
                    ],
                    vec![
                        "distribution (rounds: runs)".into(),
                        dist.iter()
                            .map(|(r, n)| format!("{r}: {n}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ],
                    vec![
                        "honest nodes confirming a branch".into(),
                        results
                            .iter()
                            .map(|o| o.honest_confirmations)
                            .sum::<u64>()
                            .to_string(),
                    ],
                    vec![
                        "honest block confirmed before the fork".into(),
                        format!(
                            "{} of {seeds} runs",
                            results.iter().filter(|o| o.confirmed_before_fork).count()
                        ),
                    ],
                    vec![
                        "fork-proof messages per run".into(),
                        format!(
                            "{:.0}",
                            results.iter().map(|o| o.fork_messages).sum::<u64>() as f64
                                / seeds as f64
                        ),
                    ],
                ],
            ));
            json_report(&mut out, &common, &results)?;
            if let Some(p) = &common.svg {
                let pts: Vec<(f64, f64)> = results[0]
                    .series
                    .iter()
                    .map(|(r, c)| (*r as f64, *c))
                    .collect();
                report::write_svg(
                    p,
                    &report::svg(
                        "Equivocation: honest nodes holding the fork proof",
                        "round",
                        &[Line {
                            name: "with proof",
                            points: &pts,
                        }],
                    ),
                )?;
                out.push(format!("plot: {}", p.display()));
            }
        }
        SimCommand::Backup {
            nodes,
            p_online,
            trials,
            restores,
            common,
        } => {
            use glitter_sim::backup::{self, BackupPlan, NoForkPlan};
            out.push(format!(
                "seed {}; replay: glitter sim backup --nodes {nodes} --p-online {p_online} --trials {trials} --restores {restores} --seed {}",
                common.seed, common.seed
            ));
            let plan = BackupPlan {
                users: nodes,
                p_online,
                trials,
                ..BackupPlan::default()
            };
            let forks = NoForkPlan {
                restores,
                p_online,
                ..NoForkPlan::default()
            };
            let pb = bar(1, "backup scenario");
            let start = os::instant();
            let r = backup::scenario(common.seed, &plan, &[(3, 5), (4, 7)], &forks)?;
            pb.finish_and_clear();
            let mut rows = Vec::new();
            for o in &r.success {
                rows.push(vec![
                    format!("({}, {})", o.plan.threshold, o.plan.custodians),
                    format!("{:.4}", o.success_rate),
                    format!("{:.4}", o.expected_rate),
                    format!("{:.2}", o.deviation_pp),
                    o.wrong_restores.to_string(),
                    format!("{:.0}", o.bytes_per_custodian),
                ]);
            }
            out.push(format!(
                "restore success at p = {p_online}, {trials} trials each ({:.1} s):",
                start.elapsed().as_secs_f64()
            ));
            out.extend(report::table(
                &[
                    "(k, n)",
                    "success",
                    "binomial",
                    "|diff| pp",
                    "wrong restores",
                    "bytes/custodian",
                ],
                &rows,
            ));
            let f = &r.no_forks;
            out.push(format!(
                "no forks: {} restores ({} with a stale device online): {} forks (appending right after decoding would have forked {} times)",
                f.restores, f.with_stale_device, f.forks, f.naive_forks
            ));
            for s in &r.storage {
                out.push(format!(
                    "storage: {} posts, k={} of n={}: chain {} bytes, {} bytes per custodian (ratio {:.3}, ideal 1/k = {:.3}, overhead {} bytes)",
                    s.posts,
                    s.threshold,
                    s.custodians,
                    s.chain_bytes,
                    s.bytes_per_custodian,
                    s.ratio,
                    s.ideal_ratio,
                    s.overhead_bytes
                ));
            }
            json_report(&mut out, &common, &r)?;
            if common.svg.is_some() {
                out.push("(no plot for this scenario)".into());
            }
        }
        SimCommand::Churn {
            nodes,
            crash_rate,
            drop,
            seeds,
            common,
        } => {
            let plan = FaultPlan {
                nodes,
                drop_rate: drop,
                duplicate_rate: 0.0,
                partition: false,
                crash_rate_per_min: crash_rate,
                ..FaultPlan::default()
            };
            out.push(format!(
                "seed {}; replay: glitter sim churn --nodes {nodes} --crash-rate {crash_rate} --drop {drop} --seeds {seeds} --seed {}",
                common.seed, common.seed
            ));
            faults_batch(&mut out, "churn", &plan, seeds, &common)?;
        }
        SimCommand::Twin { seeds, seed } => {
            out.push(format!(
                "seed {seed}; replay: glitter sim twin --seeds {seeds} --seed {seed}"
            ));
            support::twin_batch(&mut out, seeds, seed)?;
        }
    }
    Ok(out)
}
