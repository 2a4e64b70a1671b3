//! Runs a [`Scenario`] against real nodes and writes its [`Report`].
//!
//! Setup: one namespace, TUN device and `glitter node` per scenario node, the switch
//! between the devices. Everything is torn down on return, on error and on drop
//! (nodes killed, switch stopped, namespaces deleted), in that order.

use crate::clock::Clock;
use crate::error::LabError;
use crate::measure::{Observer, StepMetrics};
use crate::netns::{self, Namespaces};
use crate::nodes::{LabNode, NodeOptions};
use crate::scenario::{Scenario, Step};
use crate::switch::{Switch, SwitchCounters, open_tun};
use glitter_net::Request;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `glitter` binary the nodes run.
    pub glitter: PathBuf,
    /// Where the nodes' data directories go (a fresh directory inside it).
    pub work_dir: PathBuf,
    /// Keep the data directories (and logs) afterwards.
    pub keep: bool,
}

/// One step's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Its index in the file.
    pub index: usize,
    /// Its `do`.
    pub step: String,
    /// When it started, ms after the lab started.
    pub started_ms: f64,
    /// How long it took, ms.
    pub elapsed_ms: f64,
    /// What it measured (converge steps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<StepMetrics>,
}

/// A run's report (the JSON `glitter-lab run` writes).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario as read.
    pub scenario: Scenario,
    /// Whether every step finished.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// The steps that ran.
    pub steps: Vec<StepReport>,
    /// The switch's counters at the end.
    pub switch: SwitchCounters,
    /// Each node's core counters at the end (`glitter node status`), if it answered.
    pub nodes: Vec<serde_json::Value>,
    /// Where the nodes' data directories and logs are, when kept.
    pub data_dir: Option<PathBuf>,
    /// The lab's process id (its namespaces are `glab-<pid>-…`).
    pub pid: u32,
}

/// A running lab. Field order is drop order: nodes, then switch, then namespaces.
struct Lab {
    nodes: Vec<LabNode>,
    switch: Switch,
    _spaces: Namespaces,
    opts: NodeOptions,
    observer: Observer,
}

/// Runs `scenario`, calling `progress` with one line per step; stops early when `stop`
/// is set (SIGINT). The report is returned even when a step failed (`ok` false).
///
/// # Errors
/// Only when the lab could not be set up at all (not root, `ip` missing, no TUN).
pub fn run(
    scenario: &Scenario,
    opts: &RunOptions,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, LabError> {
    netns::require_root()?;
    let _ = netns::clean_stale();
    let root = tempfile::Builder::new()
        .prefix(&format!("glitter-lab-{}-", scenario.name))
        .tempdir_in(&opts.work_dir)
        .map_err(LabError::io("making the lab's data directory"))?;
    let clock = Clock::start();
    let mut lab = setup(scenario, opts, clock, root.path())?;
    let mut report = Report {
        scenario: scenario.clone(),
        ok: true,
        error: None,
        steps: Vec::new(),
        switch: SwitchCounters::default(),
        nodes: Vec::new(),
        data_dir: None,
        pid: std::process::id(),
    };
    for (index, step) in scenario.steps.iter().enumerate() {
        let started = clock.us();
        let result = if stop.load(Ordering::SeqCst) {
            Err(LabError::Interrupted)
        } else {
            lab.step(index, step, stop)
        };
        let elapsed_ms = (clock.us() - started) as f64 / 1000.0;
        match result {
            Ok(metrics) => {
                progress(&format!(
                    "step {index} {}: {elapsed_ms:.0} ms{}",
                    step.name(),
                    metrics
                        .as_ref()
                        .map(|m| format!(" — {}", m.summary()))
                        .unwrap_or_default()
                ));
                report.steps.push(StepReport {
                    index,
                    step: step.name().into(),
                    started_ms: started as f64 / 1000.0,
                    elapsed_ms,
                    metrics,
                });
            }
            Err(e) => {
                progress(&format!("step {index} {}: FAILED: {e}", step.name()));
                report.ok = false;
                report.error = Some(format!("step {index} ({}): {e}", step.name()));
                break;
            }
        }
    }
    report.switch = lab.switch.counters();
    report.nodes = lab
        .nodes
        .iter()
        .map(|n| {
            n.ctl(&Request::Status)
                .map(|r| r.data["core"].clone())
                .unwrap_or(serde_json::Value::Null)
        })
        .collect();
    drop(lab);
    if opts.keep || !report.ok {
        report.data_dir = Some(root.keep());
    }
    Ok(report)
}

fn setup(
    s: &Scenario,
    opts: &RunOptions,
    clock: Clock,
    root: &std::path::Path,
) -> Result<Lab, LabError> {
    let mut spaces = Namespaces::new();
    let mut devices = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..s.nodes {
        let ns = spaces.add(i)?;
        let dev = spaces.tun_name(i);
        devices.push(open_tun(&dev)?);
        netns::attach(&dev, &ns, i)?;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&glitter_sim::stream_seed(s.seed, i as u64).to_le_bytes());
        seed[8] = 1;
        nodes.push(LabNode::create(root, i, &ns, seed, &opts.glitter)?);
    }
    let switch = Switch::start(clock, devices, s.link, s.seed);
    Ok(Lab {
        observer: Observer::new(clock, nodes.len()),
        nodes,
        switch,
        _spaces: spaces,
        opts: NodeOptions {
            glitter: opts.glitter.clone(),
            tick_ms: s.tick_ms,
            fsync: s.fsync,
            extra: Vec::new(),
        },
    })
}

fn all_or(nodes: &Option<Vec<usize>>, n: usize) -> Vec<usize> {
    nodes.clone().unwrap_or_else(|| (0..n).collect())
}

impl Lab {
    fn node(&mut self, i: usize) -> Result<&mut LabNode, LabError> {
        self.nodes.get_mut(i).ok_or(LabError::Node {
            node: i,
            detail: "no such node".into(),
        })
    }

    fn step(
        &mut self,
        index: usize,
        step: &Step,
        stop: &AtomicBool,
    ) -> Result<Option<StepMetrics>, LabError> {
        let n = self.nodes.len();
        match step {
            Step::Start { nodes } => {
                for i in all_or(nodes, n) {
                    let peers: Vec<usize> = (0..i).collect();
                    let opts = self.opts.clone();
                    self.node(i)?.start(&opts, &peers)?;
                }
            }
            Step::Restart { node } => {
                let peers: Vec<usize> = (0..n).filter(|p| p != node).collect();
                let opts = self.opts.clone();
                self.node(*node)?.start(&opts, &peers)?;
            }
            Step::Kill { node } => self.node(*node)?.kill9(),
            Step::FollowAll { nodes } => {
                for i in all_or(nodes, n) {
                    for j in (0..n).filter(|j| *j != i) {
                        let author = self.nodes[j].author.clone();
                        let r = self.node(i)?.ctl(&Request::Follow {
                            author,
                            force: false,
                        })?;
                        self.observer.acked(i, &r, false);
                    }
                }
            }
            Step::Post {
                node,
                count,
                interval_ms,
            } => {
                self.observer.open_window(&self.nodes);
                for k in 0..*count {
                    let r = self.node(*node)?.ctl(&Request::Post {
                        text: format!("lab post {k} by node {node}"),
                        reply_to: None,
                        force: false,
                    })?;
                    self.observer.acked(*node, &r, true);
                    let until = Duration::from_millis(*interval_ms);
                    self.observer.watch(&self.nodes, until, stop)?;
                }
            }
            Step::PostMany { node, count } => {
                self.observer.open_window(&self.nodes);
                let r = self
                    .node(*node)?
                    .ctl(&Request::PostMany { count: *count })?;
                self.observer.acked(*node, &r, false);
            }
            Step::Converge { nodes, timeout_s } => {
                let members: Vec<usize> = all_or(nodes, n)
                    .into_iter()
                    .filter(|i| self.nodes[*i].running())
                    .collect();
                let m = self
                    .observer
                    .converge(&self.nodes, &members, *timeout_s, stop)
                    .map_err(|detail| match detail {
                        Ok(missing) => LabError::Timeout {
                            step: index,
                            what: "converge".into(),
                            timeout_s: *timeout_s,
                            detail: missing,
                        },
                        Err(e) => e,
                    })?;
                return Ok(Some(m));
            }
            Step::Partition { groups } => {
                let mut g = vec![0u32; n];
                for (k, members) in groups.iter().enumerate() {
                    for i in members {
                        g[*i] = k as u32 + 1;
                    }
                }
                self.switch.set_groups(&g);
            }
            Step::Heal => self.switch.set_groups(&vec![0; n]),
            Step::Link { spec } => self.switch.set_spec(*spec),
            Step::Sleep { s } => {
                self.observer
                    .watch(&self.nodes, Duration::from_secs_f64(*s), stop)?;
            }
            Step::Check => self.observer.check(&self.nodes)?,
        }
        Ok(None)
    }
}
