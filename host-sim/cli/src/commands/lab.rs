//! `glitter lab`: the network lab (glitter-lab) — run a scenario file against real
//! nodes in network namespaces, test the link emulator, clean up after a killed lab.

use anyhow::{Context, Result, bail, ensure};
use clap::Subcommand;
use glitter_lab::link::LinkSpec;
use glitter_lab::probe::{ProbePlan, probe};
use glitter_lab::run::{RunOptions, run as run_scenario};
use glitter_lab::scenario::Scenario;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// `glitter lab` subcommands.
#[derive(Subcommand, Debug)]
pub enum LabCommand {
    /// Run a scenario file (lab/*.toml) and write its JSON report. Each node runs this
    /// glitter binary in its own network namespace; the links between them are
    /// emulated in user space. Needs root. Ctrl-C stops it and cleans up.
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// Where to write the report [default: `lab-report-NAME.json`].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The glitter binary the nodes run [default: this one].
        #[arg(long)]
        glitter: Option<PathBuf>,
        /// Where the nodes' data directories go [default: the temp directory].
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Keep the nodes' data directories and logs (always kept when a step fails).
        #[arg(long)]
        keep: bool,
    },
    /// Send UDP packets between two namespaces through the link emulator and print
    /// what arrived beside the settings (JSON). Needs root.
    Probe {
        /// One-way delay, ms.
        #[arg(long, default_value_t = 50.0)]
        delay_ms: f64,
        /// Uniform jitter around the delay, ms.
        #[arg(long, default_value_t = 20.0)]
        jitter_ms: f64,
        /// Loss probability.
        #[arg(long, default_value_t = 0.10)]
        loss: f64,
        /// Duplication probability.
        #[arg(long, default_value_t = 0.01)]
        duplicate: f64,
        /// Reordering probability.
        #[arg(long, default_value_t = 0.05)]
        reorder: f64,
        /// Bandwidth, kbit/s (0: unlimited).
        #[arg(long, default_value_t = 0)]
        rate_kbit: u64,
        /// Packets to send.
        #[arg(long, default_value_t = 2000)]
        packets: u32,
        /// Gap between packets, µs.
        #[arg(long, default_value_t = 5000)]
        interval_us: u64,
        /// Bytes per packet.
        #[arg(long, default_value_t = 200)]
        size: usize,
    },
    /// Remove the namespaces, and stop the nodes, of labs that were killed.
    Clean,
}

/// Runs a `glitter lab` subcommand; progress goes to stderr as it happens.
///
/// # Errors
/// Not root, a bad scenario file, a failed set-up, or a failed step (the report is
/// written first).
pub fn run(cmd: LabCommand) -> Result<Vec<String>> {
    match cmd {
        LabCommand::Run {
            scenario,
            out,
            glitter,
            work_dir,
            keep,
        } => run_file(scenario, out, glitter, work_dir, keep),
        LabCommand::Probe {
            delay_ms,
            jitter_ms,
            loss,
            duplicate,
            reorder,
            rate_kbit,
            packets,
            interval_us,
            size,
        } => {
            let spec = LinkSpec {
                delay_ms,
                jitter_ms,
                loss,
                duplicate,
                reorder,
                rate_kbit,
                queue_ms: 0,
            };
            let report = probe(ProbePlan {
                spec,
                packets,
                size,
                interval_us,
                seed: 1,
            })?;
            Ok(vec![serde_json::to_string_pretty(&report)?])
        }
        LabCommand::Clean => {
            glitter_lab::netns::require_root()?;
            let gone = glitter_lab::netns::clean_stale()?;
            let mut lines: Vec<String> = gone.iter().map(|n| format!("removed {n}")).collect();
            if lines.is_empty() {
                lines.push("nothing to clean".into());
            }
            Ok(lines)
        }
    }
}

fn run_file(
    path: PathBuf,
    out: Option<PathBuf>,
    glitter: Option<PathBuf>,
    work_dir: Option<PathBuf>,
    keep: bool,
) -> Result<Vec<String>> {
    let s = Scenario::load(&path)?;
    let glitter = match glitter {
        Some(g) => g,
        None => std::env::current_exe().context("finding this glitter binary")?,
    };
    ensure!(glitter.is_file(), "{} is not a file", glitter.display());
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A second handler cannot be installed in one process; the first still works.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    eprintln!(
        "glitter lab: {} — {} nodes; every link: {}",
        s.name,
        s.nodes,
        describe(&s.link)
    );
    let opts = RunOptions {
        glitter,
        work_dir: work_dir.unwrap_or_else(std::env::temp_dir),
        keep,
    };
    let report = run_scenario(&s, &opts, &stop, &mut |line| eprintln!("  {line}"))?;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("lab-report-{}.json", s.name)));
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", out.display()))?;
    let mut lines = vec![format!("report written to {}", out.display())];
    if let Some(d) = &report.data_dir {
        lines.push(format!("node data and logs kept in {}", d.display()));
    }
    if let Some(e) = report.error {
        for l in lines {
            eprintln!("{l}");
        }
        bail!("{e}");
    }
    Ok(lines)
}

fn describe(l: &LinkSpec) -> String {
    if *l == LinkSpec::default() {
        return "perfect (no delay, loss or limit)".into();
    }
    let mut s = format!(
        "{} ± {} ms, {}% loss, {}% duplication, {}% reordering",
        l.delay_ms,
        l.jitter_ms,
        l.loss * 100.0,
        l.duplicate * 100.0,
        l.reorder * 100.0
    );
    if l.rate_kbit > 0 {
        s.push_str(&format!(", {} kbit/s", l.rate_kbit));
    }
    s
}
