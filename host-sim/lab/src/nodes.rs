//! The lab's `glitter node` processes: one per namespace, listening on its lab address,
//! dialling the nodes before it, driven over its control socket.

use crate::error::LabError;
use crate::netns::node_ip;
use glitter_net::{Request, Response, control_request};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The TCP port every lab node listens on (each has its own address).
pub const PORT: u16 = 4_000;

/// How a lab node runs.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The `glitter` binary.
    pub glitter: PathBuf,
    /// Gossip interval.
    pub tick_ms: u64,
    /// fsync stored blocks (group commit, the default of `glitter node`).
    pub fsync: bool,
    /// More flags for `glitter node`.
    pub extra: Vec<String>,
}

/// One lab node.
#[derive(Debug)]
pub struct LabNode {
    /// Its index.
    pub index: usize,
    /// Its namespace.
    pub ns: String,
    /// Its data directory.
    pub data: PathBuf,
    /// Its author key (hex).
    pub author: String,
    child: Option<Child>,
    runs: u32,
}

/// The multiaddr node `i` listens on.
pub fn node_addr(i: usize) -> String {
    format!("/ip4/{}/tcp/{PORT}", node_ip(i))
}

impl LabNode {
    /// Makes node `i`'s data directory under `root` and its identity from `seed`.
    ///
    /// # Errors
    /// `glitter keygen` failed.
    pub fn create(
        root: &Path,
        i: usize,
        ns: &str,
        seed: [u8; 32],
        glitter: &Path,
    ) -> Result<LabNode, LabError> {
        let data = root.join(format!("node{i}"));
        let out = Command::new(glitter)
            .arg("--data-dir")
            .arg(&data)
            .args(["keygen", "--seed", &hex(&seed)])
            .output()
            .map_err(LabError::io(format!("running {}", glitter.display())))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let author = text
            .lines()
            .find_map(|l| l.strip_prefix("created identity "))
            .map(|a| a.trim().to_string())
            .ok_or_else(|| LabError::Node {
                node: i,
                detail: format!(
                    "keygen: {} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })?;
        Ok(LabNode {
            index: i,
            ns: ns.into(),
            data,
            author,
            child: None,
            runs: 0,
        })
    }

    /// Whether the node process runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the node in its namespace, dialling `peers` (node indices), and waits
    /// until it answers on its control socket.
    ///
    /// # Errors
    /// It did not start or answer within 20 s.
    pub fn start(&mut self, opts: &NodeOptions, peers: &[usize]) -> Result<(), LabError> {
        if self.child.is_some() {
            return Ok(());
        }
        let _ = std::fs::remove_file(self.data.join("node.json"));
        self.runs += 1;
        let log_path = self.data.join(format!("node-{}.log", self.runs));
        let log = std::fs::File::create(&log_path)
            .map_err(LabError::io(format!("creating {}", log_path.display())))?;
        let err = log
            .try_clone()
            .map_err(LabError::io("cloning the log file"))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(&opts.glitter)
            .arg("--data-dir")
            .arg(&self.data)
            .args(["node", "--listen", &node_addr(self.index)])
            .args(["--tick-ms", &opts.tick_ms.to_string()]);
        for p in peers {
            cmd.args(["--peer", &node_addr(*p)]);
        }
        if !opts.fsync {
            cmd.arg("--no-fsync");
        }
        cmd.args(&opts.extra)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        self.child = Some(
            cmd.spawn()
                .map_err(LabError::io("spawning ip netns exec"))?,
        );
        let start = glitter_host::os::instant();
        loop {
            if control_request(&self.data, &Request::Status).is_ok_and(|r| r.ok) {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return Err(self.failed(format!("exited with {status}")));
            }
            if start.elapsed() > Duration::from_secs(20) {
                return Err(self.failed("did not answer within 20 s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn failed(&self, what: String) -> LabError {
        LabError::Node {
            node: self.index,
            detail: format!("{what}; log: {}", self.log_tail()),
        }
    }

    /// The last lines of the node's current log.
    pub fn log_tail(&self) -> String {
        let path = self.data.join(format!("node-{}.log", self.runs));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join(" | ")
    }

    /// Kills the node with SIGKILL (no clean shutdown: a crash or power cut).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `ip netns exec` execs the node, so the child is the node itself.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// One control request; a node that does not answer is an error.
    ///
    /// # Errors
    /// The socket failed, or the node refused the request.
    pub fn ctl(&self, req: &Request) -> Result<Response, LabError> {
        let r = control_request(&self.data, req).map_err(|e| LabError::Node {
            node: self.index,
            detail: e.to_string(),
        })?;
        if r.ok {
            Ok(r)
        } else {
            Err(LabError::Node {
                node: self.index,
                detail: r.error.unwrap_or_default(),
            })
        }
    }
}

impl Drop for LabNode {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
