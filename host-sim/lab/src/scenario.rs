//! A lab scenario: how many nodes, the link settings, and the steps to run, read from a
//! TOML file. See docs/LAB.md for the format; `lab/*.toml` are examples.
//!
//! ```toml
//! name = "lossy6"
//! nodes = 6
//! seed = 1
//! tick_ms = 200
//! fsync = true
//! [link]                 # every directed link (see LinkSpec)
//! delay_ms = 50.0
//! jitter_ms = 20.0
//! loss = 0.10
//! [[step]]
//! do = "start"           # all nodes; or nodes = [0, 1]
//! [[step]]
//! do = "follow_all"
//! [[step]]
//! do = "post"
//! node = 0
//! count = 20
//! interval_ms = 100
//! [[step]]
//! do = "converge"
//! timeout_s = 30
//! ```

use crate::error::LabError;
use crate::link::LinkSpec;
use crate::netns::NODES_MAX;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name (for the report).
    pub name: String,
    /// How many nodes (2 to 250).
    pub nodes: usize,
    /// Seed of the identities and the link draws.
    #[serde(default = "one")]
    pub seed: u64,
    /// The nodes' gossip interval.
    #[serde(default = "tick_default")]
    pub tick_ms: u64,
    /// fsync stored blocks (group commit, `glitter node`'s default).
    #[serde(default = "yes")]
    pub fsync: bool,
    /// Settings of every directed link at the start.
    #[serde(default)]
    pub link: LinkSpec,
    /// The steps, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

fn one() -> u64 {
    1
}
fn tick_default() -> u64 {
    200
}
fn yes() -> bool {
    true
}
fn timeout_default() -> u64 {
    60
}

/// One step of a scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Starts nodes (all when `nodes` is absent); each dials every node before it.
    Start {
        /// Which nodes.
        #[serde(default)]
        nodes: Option<Vec<usize>>,
    },
    /// Each listed node (all when absent) follows every other node of the scenario.
    FollowAll {
        /// Which nodes.
        #[serde(default)]
        nodes: Option<Vec<usize>>,
    },
    /// `node` posts `count` posts, `interval_ms` apart; each is acknowledged by its node
    /// (stored and durable) before the next.
    Post {
        /// The author.
        node: usize,
        /// How many posts.
        count: u32,
        /// Gap between posts.
        #[serde(default)]
        interval_ms: u64,
    },
    /// `node` appends `count` posts in one request (a chain to fetch).
    PostMany {
        /// The author.
        node: usize,
        /// How many posts.
        count: u32,
    },
    /// Waits until every listed running node (all running nodes when absent) holds
    /// every listed author's latest acknowledged block, and measures how long that
    /// took, each post's time to reach the others, and the transfers per block.
    Converge {
        /// Which nodes must hold the chains.
        #[serde(default)]
        nodes: Option<Vec<usize>>,
        /// Give up (and fail the run) after this long.
        #[serde(default = "timeout_default")]
        timeout_s: u64,
    },
    /// Splits the nodes into groups; packets between groups are dropped.
    Partition {
        /// The groups (nodes not listed form one more group).
        groups: Vec<Vec<usize>>,
    },
    /// Ends every partition.
    Heal,
    /// Changes every link's settings.
    Link {
        /// The new settings.
        spec: LinkSpec,
    },
    /// Waits.
    Sleep {
        /// Seconds.
        s: f64,
    },
    /// Kills a node with SIGKILL.
    Kill {
        /// Which.
        node: usize,
    },
    /// Starts a killed node again.
    Restart {
        /// Which.
        node: usize,
    },
    /// Checks that every running node holds the same head block (by id) of every
    /// author, and every acknowledged post.
    Check,
}

impl Step {
    /// The step's name in the file (`do = "…"`).
    pub fn name(&self) -> &'static str {
        match self {
            Step::Start { .. } => "start",
            Step::FollowAll { .. } => "follow_all",
            Step::Post { .. } => "post",
            Step::PostMany { .. } => "post_many",
            Step::Converge { .. } => "converge",
            Step::Partition { .. } => "partition",
            Step::Heal => "heal",
            Step::Link { .. } => "link",
            Step::Sleep { .. } => "sleep",
            Step::Kill { .. } => "kill",
            Step::Restart { .. } => "restart",
            Step::Check => "check",
        }
    }

    fn nodes(&self) -> Vec<usize> {
        match self {
            Step::Start { nodes } | Step::FollowAll { nodes } | Step::Converge { nodes, .. } => {
                nodes.clone().unwrap_or_default()
            }
            Step::Post { node, .. }
            | Step::PostMany { node, .. }
            | Step::Kill { node }
            | Step::Restart { node } => vec![*node],
            Step::Partition { groups } => groups.iter().flatten().copied().collect(),
            _ => Vec::new(),
        }
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    ///
    /// # Errors
    /// [`LabError::Scenario`] naming what is wrong.
    pub fn load(path: &Path) -> Result<Scenario, LabError> {
        let bad = |detail: String| LabError::Scenario {
            path: path.into(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let s: Scenario = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        s.check().map_err(bad)?;
        Ok(s)
    }

    /// Checks the node count, the link settings and every node a step names.
    ///
    /// # Errors
    /// What is wrong.
    pub fn check(&self) -> Result<(), String> {
        if !(2..=NODES_MAX).contains(&self.nodes) {
            return Err(format!("nodes = {} is not in [2, {NODES_MAX}]", self.nodes));
        }
        if self.tick_ms == 0 {
            return Err("tick_ms must be positive".into());
        }
        self.link.check().map_err(|e| format!("[link]: {e}"))?;
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(n) = step.nodes().into_iter().find(|n| *n >= self.nodes) {
                return Err(format!(
                    "step {i} ({}): node {n} does not exist (nodes are 0 to {})",
                    step.name(),
                    self.nodes - 1
                ));
            }
            if let Step::Link { spec } = step {
                spec.check().map_err(|e| format!("step {i} (link): {e}"))?;
            }
            if let Step::Sleep { s } = step
                && !(s.is_finite() && *s >= 0.0 && *s <= 3600.0)
            {
                return Err(format!("step {i} (sleep): s = {s} is not in [0, 3600]"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_files_parse_and_check() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lab");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 2, "{n} scenario files in {}", dir.display());
    }

    #[test]
    fn a_bad_scenario_is_named() {
        let s: Scenario =
            toml::from_str("name = 'x'\nnodes = 3\n[[step]]\ndo = 'kill'\nnode = 3\n").unwrap();
        let e = s.check().unwrap_err();
        assert!(e.contains("node 3 does not exist"), "{e}");
        let e = toml::from_str::<Scenario>("name = 'x'\nnodes = 3\n[[step]]\ndo = 'dance'\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dance"), "{e}");
    }
}
