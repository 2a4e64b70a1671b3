//! The lab's errors.

use std::path::PathBuf;

/// Why the lab could not set up or run a scenario.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A system command (`ip …`) failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and stderr, or the spawn error.
        detail: String,
    },
    /// The lab needs root (network namespaces and TUN devices).
    #[error("the lab needs root for network namespaces and TUN devices (running as uid {0})")]
    NotRoot(u32),
    /// A TUN device could not be opened.
    #[error("TUN device {name}: {detail}")]
    Tun {
        /// The device name.
        name: String,
        /// The error.
        detail: String,
    },
    /// A scenario file is missing or malformed.
    #[error("scenario {path}: {detail}")]
    Scenario {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A lab node did not start or answer.
    #[error("node {node}: {detail}")]
    Node {
        /// The node's index.
        node: usize,
        /// What went wrong.
        detail: String,
    },
    /// A step of the scenario did not finish in time.
    #[error("step {step} ({what}) did not finish within {timeout_s} s: {detail}")]
    Timeout {
        /// The step's index.
        step: usize,
        /// The step.
        what: String,
        /// Its bound.
        timeout_s: u64,
        /// What was still missing.
        detail: String,
    },
    /// A check step found nodes that disagree or lack acknowledged blocks.
    #[error("check failed: {0}")]
    Check(String),
    /// The run was interrupted (SIGINT or SIGTERM).
    #[error("interrupted")]
    Interrupted,
    /// An I/O error.
    #[error("{what}: {source}")]
    Io {
        /// What the lab was doing.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl LabError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
        let what = what.into();
        move |source| LabError::Io { what, source }
    }
}
