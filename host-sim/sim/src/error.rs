//! The simulator's one error type.
//!
//! [`SimError::BadKnob`] means nothing ran: a setting is out of range. Every other
//! variant is a failure during a run, and keeps what caused it as its
//! [`source`](std::error::Error::source), so a caller that prints the chain (the
//! binary's `{:#}`, or [`chain`]) reads one line: "what: why".
//!
//! Failures that do not stop a run (a simulated flash that does not mount after a
//! restart, a node that never learns of a fork) are not errors: scenarios return them
//! in their outcomes, next to the seed, for the caller to print with its replay
//! command.

use crate::store::FlashError;
use glitter_core::backup::seal::SealError;
use glitter_core::chain::ChainError;
use std::error::Error;
use std::path::PathBuf;

/// A boxed error from the host crate (its backup engine and own chains), whatever
/// its concrete type.
pub type HostError = Box<dyn Error + Send + Sync + 'static>;

/// Why a simulation could not be set up or did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A knob is out of range; nothing ran.
    #[error("invalid simulator setting: {detail}")]
    BadKnob {
        /// The knob's name, as in [`crate::Builder`] or a scenario's plan.
        knob: &'static str,
        /// The value given and the rule it breaks.
        detail: String,
    },
    /// A node the caller addressed is down (crashed and not restarted).
    #[error("node {node} is down")]
    NodeDown {
        /// The node's index.
        node: usize,
    },
    /// A block could not be built or appended.
    #[error("{who}: block not appended")]
    Chain {
        /// Whose chain ("node 3", "the restored device", …).
        who: String,
        /// The chain rule that refused.
        #[source]
        source: ChainError,
    },
    /// A node's simulated flash failed (to format when built, or to mount when the
    /// node restarts).
    #[error("node {node}")]
    Flash {
        /// The node's index.
        node: usize,
        /// What the flash did.
        #[source]
        source: FlashError,
    },
    /// A simulated person's own chain (the host's in-memory chain) refused a block.
    #[error("own chain")]
    OwnChain(#[source] HostError),
    /// A step of the host's backup engine failed.
    #[error("backup ({step})")]
    Backup {
        /// The step: "start", "custodian receives", "custodian responds".
        step: &'static str,
        /// The engine's error.
        #[source]
        source: HostError,
    },
    /// A restoring device's one-time key could not be made.
    #[error("requester key")]
    RequesterKey(#[source] SealError),
    /// A restored device never learned its chain's head from peers.
    #[error("seed {seed}: restore never learned the head (heard {heard}, head {head})")]
    HeadNeverLearned {
        /// The run's seed.
        seed: u64,
        /// Distinct peers heard from.
        heard: usize,
        /// The head the device held.
        head: u64,
    },
    /// A report could not be written.
    #[error("{}: cannot write", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A report could not be serialised.
    #[error("report not serialisable")]
    Json(#[source] serde_json::Error),
}

impl SimError {
    /// A [`SimError::BadKnob`].
    pub(crate) fn bad_knob(knob: &'static str, detail: impl Into<String>) -> SimError {
        SimError::BadKnob {
            knob,
            detail: detail.into(),
        }
    }

    /// A [`SimError::Chain`] for `who`'s chain.
    pub(crate) fn chain(who: impl Into<String>) -> impl FnOnce(ChainError) -> SimError {
        let who = who.into();
        move |source| SimError::Chain { who, source }
    }

    /// A [`SimError::OwnChain`] from whatever error the host's chain returns.
    pub(crate) fn own_chain(e: impl Into<HostError>) -> SimError {
        SimError::OwnChain(e.into())
    }

    /// A [`SimError::Backup`] at `step`, from whatever error the host's engine returns.
    pub(crate) fn backup<E: Into<HostError>>(step: &'static str) -> impl FnOnce(E) -> SimError {
        move |e| SimError::Backup {
            step,
            source: e.into(),
        }
    }
}

/// `e` and its sources on one line, joined by ": " (what the binary's `{:#}` prints).
pub fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}
