//! Harness of the browser tests of the web app (docs/WEB.md): `glitter node --web`
//! processes (through `net_common`), headless chromium sessions (`browser`), a raw
//! HTTP client (`http`), the test context that names
//! the failing step and shows the nodes' log tails, and the JSON report.

#![allow(dead_code)]

pub mod app;
pub mod browser;
pub mod http;
pub mod security;
pub mod selftest;

use crate::net_common::{NodeProc, wait_for};
use browser::{Browser, tail};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Node ticks in these tests (as the network tests).
pub const TICK_MS: &str = "200";

/// Browser tests at once in one test process (each has its own chromium and nodes; the
/// machine may have 2 cores). `GLITTER_WEB_TESTS_PARALLEL` overrides.
fn parallel_limit() -> usize {
    std::env::var("GLITTER_WEB_TESTS_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

static RUNNING: Mutex<usize> = Mutex::new(0);
static SLOT_FREE: Condvar = Condvar::new();

struct Slot;

impl Slot {
    fn take() -> Slot {
        let limit = parallel_limit();
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= limit {
            n = SLOT_FREE.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        SLOT_FREE.notify_one();
    }
}

/// One test: its temporary directory, the step it is at, and the nodes whose logs a
/// failure shows. Declare it first in a test so it drops last (after the browsers and
/// nodes), when the logs are complete.
pub struct Ctx {
    pub test: &'static str,
    step: RefCell<(usize, String)>,
    nodes: RefCell<Vec<(String, PathBuf)>>,
    t0: Instant,
    dir: tempfile::TempDir,
    _slot: Slot,
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let (n, step) = self.step.borrow().clone();
        eprintln!(
            "\n==== {} FAILED at step {n}: {step} ({} ms in) ====",
            self.test,
            self.t0.elapsed().as_millis()
        );
        for (name, data) in self.nodes.borrow().iter() {
            let mut logs: Vec<PathBuf> = std::fs::read_dir(data)
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| {
                            p.file_name()
                                .and_then(|f| f.to_str())
                                .is_some_and(|f| f.starts_with("node-") && f.ends_with(".log"))
                        })
                        .collect()
                })
                .unwrap_or_default();
            logs.sort();
            for p in logs {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                eprintln!(
                    "---- tail of {name}'s {} ----\n{}",
                    p.file_name().and_then(|f| f.to_str()).unwrap_or("?"),
                    tail(&text, 40)
                );
            }
        }
    }
}

impl Ctx {
    pub fn new(test: &'static str) -> Ctx {
        let slot = Slot::take();
        Ctx {
            test,
            step: RefCell::new((0, "setting up".into())),
            nodes: RefCell::new(Vec::new()),
            t0: Instant::now(),
            dir: tempfile::tempdir().expect("a temporary directory"),
            _slot: slot,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Enters the next step (printed, and named if the test fails).
    pub fn step(&self, what: &str) {
        let mut s = self.step.borrow_mut();
        s.0 += 1;
        s.1 = what.to_string();
        println!(
            "[{} +{} ms] step {}: {what}",
            self.test,
            self.t0.elapsed().as_millis(),
            s.0
        );
    }

    pub fn elapsed(&self) -> Duration {
        self.t0.elapsed()
    }

    /// A node with an identity (seed = 32 × `seed`), registered for failure logs, not
    /// started; it will serve the web app on a free loopback port.
    pub fn node(&self, name: &str, seed: u8) -> NodeProc {
        let mut p = NodeProc::new(self.root(), name, seed);
        p.extra = vec![
            "--tick-ms".into(),
            TICK_MS.into(),
            "--web".into(),
            "127.0.0.1:0".into(),
        ];
        self.watch(&p);
        p
    }

    /// Registers a node's data directory for the failure logs.
    pub fn watch(&self, p: &NodeProc) {
        self.nodes
            .borrow_mut()
            .push((p.name.clone(), p.data.clone()));
    }

    /// Started web nodes, each dialling those before it.
    pub fn start_web_nodes(&self, names: &[&str], seed: u8) -> Vec<NodeProc> {
        let mut nodes: Vec<NodeProc> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut p = self.node(name, seed + i as u8);
            p.peers = nodes.iter().map(|q| q.addr.clone()).collect();
            p.start();
            nodes.push(p);
        }
        nodes
    }

    /// A browser logged in to `node`'s web app.
    pub fn browser(&self, label: &str, node: &NodeProc) -> Browser {
        let mut b = Browser::open(label, self.root(), &artifacts_dir());
        b.login(&web_url(node));
        b
    }
}

/// Where the screenshots of every run go (`target/tmp/web-screenshots`).
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots")
}

/// The login link a running web node wrote to `node.json` (`"web_url"`).
pub fn web_url(node: &NodeProc) -> String {
    let path = node.data.join("node.json");
    let url = wait_for(
        &format!("{} to write web_url to node.json", node.name),
        Duration::from_secs(10),
        || {
            let text = std::fs::read_to_string(&path).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v["web_url"].as_str().map(str::to_string)
        },
    );
    assert!(
        url.starts_with("http://127.0.0.1:") && url.contains("/?token="),
        "{}: unexpected web_url {url}",
        node.name
    );
    let printed = format!("web: {url}");
    assert!(
        node.logs().contains(&printed),
        "{} did not print {printed:?}:\n{}",
        node.name,
        node.logs()
    );
    url
}

/// The socket address and the token of a web node's app.
pub fn web_addr_and_token(node: &NodeProc) -> (SocketAddr, String) {
    let url = web_url(node);
    let rest = url.strip_prefix("http://").expect("http URL");
    let (hostport, query) = rest.split_once("/?token=").expect("a token in the URL");
    (
        hostport.parse().expect("an IP:port in web_url"),
        query.to_string(),
    )
}

/// How the app must show text from a chain: control and bidi characters as visible
/// escapes (docs/WEB.md, "Content"), as the CLI shows them.
pub fn shown(text: &str) -> String {
    glitter_host::feed::safe_text(text).into_owned()
}

/// The report every test adds its figures to (`target/web-report.json`).
pub fn report_path() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is under the target directory")
        .join("web-report.json")
}

static REPORT: Mutex<()> = Mutex::new(());

/// Merges `section` into the report under `key` (with the time it was measured) and
/// prints it.
pub fn report(key: &str, mut section: serde_json::Value) {
    let _g = REPORT.lock().unwrap_or_else(|e| e.into_inner());
    let path = report_path();
    let mut all: serde_json::Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    section["measured_at_unix_ms"] = serde_json::json!(unix_ms);
    println!("web report {key}: {section}");
    all[key] = section;
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&all).expect("JSON") + "\n",
    )
    .expect("write the web report");
    println!("web report written to {}", path.display());
}
