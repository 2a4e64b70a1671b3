//! A running `glitter restore` (a new device), read line by line: the backup and the
//! web app's restore tests share it.

use super::{NodeProc, bin, wait_for};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(30);

/// One `glitter restore` process, killed when dropped.
pub struct RestoreProc {
    child: std::process::Child,
    rx: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    out: Vec<String>,
    /// The device code it printed.
    pub code: String,
}

impl Drop for RestoreProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RestoreProc {
    /// Starts `glitter restore` of `owner` into `new_dir` from `custodians` (and
    /// `peers` for the newest head) and waits for its device code.
    pub fn spawn(
        new_dir: &std::path::Path,
        owner: &str,
        custodians: &[&NodeProc],
        peers: &[&NodeProc],
    ) -> RestoreProc {
        let mut cmd = Command::new(bin());
        cmd.arg("--data-dir")
            .arg(new_dir)
            .args(["restore", "--owner", owner, "--wait", "60"]);
        for c in custodians {
            cmd.args(["--custodian", &c.addr]);
        }
        for p in peers {
            cmd.args(["--peer", &p.addr]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn glitter restore");
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let mut out: Vec<String> = Vec::new();
        let code = loop {
            let line = rx.recv_timeout(BOUND).unwrap_or_else(|e| {
                panic!("the restoring device printed no code ({e}); so far: {out:?}")
            });
            out.push(line.clone());
            if let Some(c) = line.strip_prefix("device code: ") {
                break c.trim().to_string();
            }
        };
        RestoreProc {
            child,
            rx,
            reader: Some(reader),
            out,
            code,
        }
    }

    /// Still waiting (not exited).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the exit; returns success and everything printed.
    pub fn finish(mut self) -> (bool, String) {
        let status = wait_for("the restore to finish", BOUND, || {
            self.child.try_wait().ok().flatten()
        });
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.out.extend(self.rx.try_iter());
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        (status.success(), format!("{}\n{err}", self.out.join("\n")))
    }
}
