//! Shared harness of the multi-process network tests: `glitter node` processes on
//! 127.0.0.1 only, each in its own temporary data directory, killed (SIGKILL) when
//! the test ends however it ends.

#![allow(dead_code)]

pub mod restore;

use glitter_net::{Request, Response, control_request};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `glitter` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_glitter")
}

/// One node process and its data directory.
pub struct NodeProc {
    pub name: String,
    pub data: PathBuf,
    pub author: String,
    pub child: Option<Child>,
    /// The full listen multiaddr (with /p2p/) of the current run.
    pub addr: String,
    /// The TCP port, reused on restart so peers' dial lists stay valid.
    pub port: u16,
    pub peers: Vec<String>,
    pub extra: Vec<String>,
    runs: u32,
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Polls `f` every 50 ms until it returns `Some`, or fails the test after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl NodeProc {
    /// Creates the data directory and identity (seed = 32 × `seed_byte`).
    pub fn new(root: &Path, name: &str, seed_byte: u8) -> NodeProc {
        let data = root.join(name);
        let seed = hex_seed(seed_byte);
        let out = Command::new(bin())
            .args(["--data-dir"])
            .arg(&data)
            .args(["keygen", "--seed", &seed])
            .output()
            .expect("run glitter keygen");
        assert!(out.status.success(), "keygen: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let author = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("created identity "))
            .expect("keygen prints the identity")
            .trim()
            .to_string();
        NodeProc::adopt(data, name, &author)
    }

    /// A node for a data directory that already has an identity (a restored one).
    pub fn adopt(data: PathBuf, name: &str, author: &str) -> NodeProc {
        NodeProc {
            name: name.into(),
            data,
            author: author.into(),
            child: None,
            addr: String::new(),
            port: 0,
            peers: Vec::new(),
            extra: Vec::new(),
            runs: 0,
        }
    }

    /// The peer id the running node wrote to `node.json`.
    pub fn peer_id(&self) -> String {
        let text = std::fs::read_to_string(self.data.join("node.json")).expect("node.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("node.json is JSON");
        v["peer_id"].as_str().expect("peer_id").to_string()
    }

    /// Starts (or restarts) the node and waits until it listens and answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        // A node killed with SIGKILL leaves its address file behind.
        let _ = std::fs::remove_file(self.data.join("node.json"));
        self.runs += 1;
        let log = std::fs::File::create(self.data.join(format!("node-{}.log", self.runs)))
            .expect("create node log");
        let mut cmd = Command::new(bin());
        cmd.arg("--data-dir")
            .arg(&self.data)
            .arg("node")
            .arg("--listen")
            .arg(format!("/ip4/127.0.0.1/tcp/{}", self.port));
        for p in &self.peers {
            cmd.arg("--peer").arg(p);
        }
        cmd.args(&self.extra);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawn glitter node"));
        let info_path = self.data.join("node.json");
        let name = self.name.clone();
        let addr = wait_for(
            &format!("{name} to listen"),
            Duration::from_secs(15),
            || {
                let text = std::fs::read_to_string(&info_path).ok()?;
                let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                v["listen"][0].as_str().map(str::to_string)
            },
        );
        self.port = addr
            .split('/')
            .nth(4)
            .and_then(|p| p.parse().ok())
            .expect("a tcp port in the listen address");
        // The dial address without /p2p/ (the peer id is learned in the handshake).
        self.addr = format!("/ip4/127.0.0.1/tcp/{}", self.port);
        wait_for(
            &format!("{name} to answer"),
            Duration::from_secs(10),
            || control_request(&self.data, &Request::Status).ok(),
        );
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The OS process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends a control request; panics with the node's log on failure.
    pub fn ctl(&self, req: Request) -> Response {
        match control_request(&self.data, &req) {
            Ok(r) if r.ok => r,
            Ok(r) => panic!(
                "{}: {req:?} failed: {:?}\n{}",
                self.name,
                r.error,
                self.logs()
            ),
            Err(e) => panic!("{}: {req:?}: {e:#}\n{}", self.name, self.logs()),
        }
    }

    /// The stored head seq of `author` (0 if none, or if the node does not answer).
    pub fn head_of(&self, author: &str) -> u64 {
        control_request(
            &self.data,
            &Request::Head {
                author: author.into(),
                seq: None,
            },
        )
        .ok()
        .and_then(|r| r.data["head"].as_u64())
        .unwrap_or(0)
    }

    /// The id of block `seq` of `author`, if stored.
    pub fn id_of(&self, author: &str, seq: u64) -> Option<String> {
        let r = self.ctl(Request::Head {
            author: author.into(),
            seq: Some(seq),
        });
        r.data["id"].as_str().map(str::to_string)
    }

    pub fn follow(&self, author: &str) {
        self.ctl(Request::Follow {
            author: author.into(),
            force: false,
        });
    }

    /// As a custodian: holds `owner`'s backups from now on.
    pub fn accept_custody(&self, owner: &str) {
        self.ctl(Request::CustodyAccept {
            owner: owner.into(),
        });
    }

    /// The bytes of every file this node's data directory holds for `owner` in
    /// custody (0 if none).
    pub fn custody_bytes(&self, owner: &str) -> u64 {
        std::fs::read_dir(self.data.join("custody").join(owner)).map_or(0, |rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
    }

    /// Posts `text`; returns (seq, id).
    pub fn post(&self, text: &str) -> (u64, String) {
        let r = self.ctl(Request::Post {
            text: text.into(),
            reply_to: None,
            force: false,
        });
        (
            r.data["seq"].as_u64().expect("seq"),
            r.data["id"].as_str().expect("id").to_string(),
        )
    }

    /// Everything the node wrote to stdout and stderr, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for run in 1..=self.runs {
            let p = self.data.join(format!("node-{run}.log"));
            out.push_str(&format!("--- {} run {run} ---\n", self.name));
            out.push_str(&std::fs::read_to_string(p).unwrap_or_default());
        }
        out
    }

    /// User and system CPU time of the running process, in ms (Linux /proc).
    pub fn cpu_ms(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        // Fields after the command name (which is in parentheses and may hold spaces).
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = f.get(11)?.parse().ok()?;
        let stime: f64 = f.get(12)?.parse().ok()?;
        Some((utime + stime) * 1000.0 / clock_ticks_per_s())
    }
}

fn clock_ticks_per_s() -> f64 {
    // USER_HZ is 100 on every Linux architecture this runs on.
    100.0
}

/// Starts one node per name (seeds from `seed`, 200 ms ticks), each dialling those
/// before it; the node named `evil` runs in adversarial mode.
pub fn start_nodes(
    root: &std::path::Path,
    names: &[&str],
    seed: u8,
    evil: Option<&str>,
) -> Vec<NodeProc> {
    let mut nodes: Vec<NodeProc> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut p = NodeProc::new(root, name, seed + i as u8);
        p.extra = vec!["--tick-ms".into(), "200".into()];
        if evil == Some(*name) {
            p.extra.push("--evil".into());
        }
        p.peers = nodes.iter().map(|q| q.addr.clone()).collect();
        p.start();
        nodes.push(p);
    }
    nodes
}

/// Waits until `node` knows the author key of `n` peers (their `Hello` answers); on a
/// timeout the failure shows the node's peer table and log.
pub fn wait_authors_known(node: &NodeProc, n: usize) {
    let bound = Duration::from_secs(20);
    let start = Instant::now();
    loop {
        let r = node.ctl(Request::Peers);
        let known = r.data.as_array().map_or(0, |rows| {
            rows.iter().filter(|p| p["author"].is_string()).count()
        });
        if known >= n {
            return;
        }
        assert!(
            start.elapsed() < bound,
            "timed out after {bound:?} waiting for {} to know {n} peers' authors ({known} known)\npeers: {:#}\n{}",
            node.name,
            r.data,
            node.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn hex_seed(b: u8) -> String {
    format!("{b:02x}").repeat(32)
}
