//! Issue 14 on the real binary: output is safe (a post is one escaped line, offline and
//! through a node), input is bounded (`/dev/zero`, a FIFO without a writer), only
//! meaningful blocks are appended, and `node stop` returns after the node let go.

mod cli_common;
mod net_common;

use cli_common::{bin, fails, ok};
use net_common::{start_nodes, wait_for};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A post that tries to look like two posts, recolour and retitle the terminal, and
/// reverse the text.
const EVIL: &str = "hello\n2026-01-01T00:00:00Z  alice (deadbeef) #9  posted: fake\r\x1b[31mred\x1b]0;title\x07 \u{202e}desrever\u{2066}x\u{2069}\u{200f}\u{061c}\u{85}\u{7f}\tend";

/// The output has no control or bidi character but the line breaks, and the evil post
/// is exactly one line, escaped.
fn assert_one_safe_line(out: &str) {
    for c in out.chars() {
        assert!(
            c == '\n' || !glitter_host::feed::is_unsafe_char(c),
            "raw {c:?} in output:\n{out}"
        );
    }
    let posts: Vec<&str> = out.lines().filter(|l| l.contains("posted:")).collect();
    assert_eq!(posts.len(), 1, "one post line expected:\n{out}");
    let l = posts[0];
    for want in [
        "hello\\n2026",
        "\\r\\u{1b}[31mred",
        "\\u{1b}]0;title\\u{7}",
        "\\u{202e}",
        "\\tend",
    ] {
        assert!(l.contains(want), "{want} missing from {l}");
    }
}

fn blocks(dir: &Path) -> usize {
    let out = ok(dir, &["whoami"]);
    out.lines()
        .find_map(|l| l.strip_prefix("chain: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("whoami shows the chain length")
}

#[test]
fn a_post_with_controls_renders_as_one_escaped_line_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("alice");
    ok(&a, &["keygen", "--seed", &"11".repeat(32)]);
    ok(
        &a,
        &[
            "profile",
            "--name",
            "al\x1b[2Jice\n",
            "--about",
            "\u{202e}x",
        ],
    );
    ok(&a, &["post", EVIL]);
    let out = ok(&a, &["feed"]);
    assert_one_safe_line(&out);
    assert!(out.contains("al\\u{1b}[2Jice\\n"), "{out}");
    let who = ok(&a, &["whoami"]);
    assert!(!who.contains('\x1b'), "{who}");
}

#[test]
fn a_post_with_controls_renders_as_one_escaped_line_through_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let nodes = start_nodes(tmp.path(), &["alice", "bob"], 0x31, None);
    let (a, b) = (&nodes[0], &nodes[1]);
    ok(&b.data, &["node", "follow", &a.author]);
    ok(&a.data, &["node", "post", EVIL]);
    let out = wait_for("bob to hold alice's post", Duration::from_secs(30), || {
        let out = ok(&b.data, &["node", "feed"]);
        out.contains("posted:").then_some(out)
    });
    assert_one_safe_line(&out);
    assert_one_safe_line(&ok(&a.data, &["node", "feed"]));
}

/// How long a bounded command may run.
const TIME_LIMIT: Duration = Duration::from_secs(5);
/// How much more memory than the baseline a bounded command may use at its peak.
const PEAK_ABOVE_BASELINE_KIB: u64 = 64 * 1024;

/// A finished command: its output, how long it ran, and its peak resident set size.
struct Measured {
    out: Output,
    elapsed: Duration,
    /// The kernel's high-water mark of the child (`ru_maxrss` from `wait4`), in KiB.
    /// Exact, not sampled; it also counts what the child held between fork and exec,
    /// so it is never below the resident size of this test process at the spawn.
    peak_kib: u64,
}

/// Runs `glitter args…` to the end and measures it exactly: the peak RSS is the one
/// `wait4` reports when reaping the child. Stdout and stderr are drained in threads so
/// the child never blocks on a full pipe; a watchdog kills it after [`TIME_LIMIT`], and
/// then the test fails.
fn measured(dir: &Path, args: &[&str]) -> Measured {
    use nix::sys::signal::{Signal, kill};
    use nix::sys::wait::{Id, WaitPidFlag, waitid};
    use nix::unistd::Pid;
    use std::io::Read;
    use std::sync::{Arc, Condvar, Mutex};
    use wait4::Wait4;

    let started = Instant::now();
    let mut child = Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn glitter");
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits an i32"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).expect("read the child's output");
            v
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    // `exited` turns true (under its lock) once the child has exited but before it is
    // reaped: until then its pid cannot be reused, so the watchdog, which kills only
    // while holding the lock and seeing `false`, never signals another process.
    let exited = Arc::new((Mutex::new(false), Condvar::new()));
    let watchdog = {
        let exited = Arc::clone(&exited);
        std::thread::spawn(move || {
            let (lock, cv) = &*exited;
            let done = lock.lock().expect("watchdog lock");
            let (done, _) = cv
                .wait_timeout_while(done, TIME_LIMIT, |done| !*done)
                .expect("watchdog wait");
            let kill_it = !*done;
            if kill_it {
                kill(pid, Signal::SIGKILL).expect("kill the child");
            }
            kill_it
        })
    };
    loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => panic!("waitid {pid}: {e}"),
        }
    }
    let elapsed = started.elapsed();
    {
        let (lock, cv) = &*exited;
        *lock.lock().expect("exit lock") = true;
        cv.notify_all();
    }
    let killed = watchdog.join().expect("watchdog");
    let usage = child.wait4().expect("wait4");
    let out = Output {
        status: usage.status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    };
    assert!(
        !killed,
        "{args:?} still running after {TIME_LIMIT:?}: killed ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    Measured {
        out,
        elapsed,
        peak_kib: usage.rusage.maxrss / 1024,
    }
}

/// This test process's own peak RSS in KiB (`VmHWM`), for reading the figures: a
/// child's `ru_maxrss` counts what it inherited before its exec.
fn own_peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A bounded command fails, within [`TIME_LIMIT`] (checked by [`measured`]), and
/// peaks at most [`PEAK_ABOVE_BASELINE_KIB`] above `baseline`; returns its stderr.
fn bounded(dir: &Path, args: &[&str], baseline: u64) -> String {
    let m = measured(dir, args);
    let err = String::from_utf8_lossy(&m.out.stderr).into_owned();
    println!(
        "{args:?}: {:?}, peak {} KiB (baseline {baseline} KiB, test process {} KiB): {}",
        m.elapsed,
        m.peak_kib,
        own_peak_kib(),
        err.trim_end()
    );
    assert!(!m.out.status.success(), "{args:?} succeeded");
    assert!(
        m.peak_kib <= baseline + PEAK_ABOVE_BASELINE_KIB,
        "{args:?}: peak RSS {} KiB, more than {PEAK_ABOVE_BASELINE_KIB} KiB above the \
         baseline {baseline} KiB",
        m.peak_kib
    );
    err
}

#[test]
fn imports_and_verifies_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    ok(&a, &["keygen", "--seed", &"11".repeat(32)]);
    ok(&a, &["post", "one"]);
    let file = tmp.path().join("a.chain");
    ok(&a, &["export", file.to_str().unwrap()]);

    // The baseline: verifying a small valid chain file, measured the same way.
    let m = measured(&a, &["verify", file.to_str().unwrap()]);
    assert!(m.out.status.success(), "{:?}", m.out);
    let baseline = m.peak_kib;
    println!(
        "baseline verify of a valid file: {:?}, peak {baseline} KiB (test process {} KiB)",
        m.elapsed,
        own_peak_kib()
    );

    let err = bounded(&a, &["import", "/dev/zero"], baseline);
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );

    let fifo = tmp.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let err = bounded(&a, &["verify", fifo.to_str().unwrap()], baseline);
    assert!(err.contains("a FIFO"), "{err}");

    // A regular file with a valid header is read no further than its count allows.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend(std::iter::repeat_n(0u8, 4 << 20));
    std::fs::write(&file, &bytes).unwrap();
    let err = bounded(&a, &["verify", file.to_str().unwrap()], baseline);
    assert!(err.contains("longer than its block count allows"), "{err}");
}

#[test]
fn only_meaningful_blocks_are_appended() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let me = ok(&a, &["keygen", "--seed", &"11".repeat(32)]);
    let me = me
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("created identity "))
        .unwrap()
        .trim()
        .to_string();
    let bob = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let n = blocks(&a);

    let err = fails(&a, &["follow", &me]);
    assert!(err.contains("cannot follow yourself"), "{err}");
    let err = fails(&a, &["follow", &me, "--force"]);
    assert!(err.contains("cannot follow yourself"), "{err}");
    let err = fails(&a, &["unfollow", bob]);
    assert!(err.contains("not following"), "{err}");
    let err = fails(&a, &["post", ""]);
    assert!(err.contains("empty"), "{err}");
    let err = fails(&a, &["post", " \t\n "]);
    assert!(err.contains("empty"), "{err}");
    assert_eq!(blocks(&a), n, "a refusal appended a block");

    ok(&a, &["follow", bob]);
    let err = fails(&a, &["follow", bob]);
    assert!(err.contains("already following"), "{err}");
    assert_eq!(blocks(&a), n + 1);
    ok(&a, &["follow", bob, "--force"]);
    ok(&a, &["unfollow", bob]);
    ok(&a, &["unfollow", bob, "--force"]);
    ok(&a, &["post", "  ", "--force"]);
    assert_eq!(blocks(&a), n + 5);
}

#[test]
fn node_refuses_meaningless_blocks_and_stop_waits_for_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = start_nodes(tmp.path(), &["alice"], 0x41, None);
    let a = &mut nodes[0];
    let bob = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let err = fails(&a.data, &["node", "follow", &a.author.clone()]);
    assert!(err.contains("cannot follow yourself"), "{err}");
    let err = fails(&a.data, &["node", "unfollow", bob]);
    assert!(err.contains("not following"), "{err}");
    let err = fails(&a.data, &["node", "post", " "]);
    assert!(err.contains("empty"), "{err}");
    ok(&a.data, &["node", "follow", bob]);
    let err = fails(&a.data, &["node", "follow", bob]);
    assert!(err.contains("already following"), "{err}");
    ok(&a.data, &["node", "post", " ", "--force"]);
    let out = ok(&a.data, &["node", "post-many", "0"]);
    assert!(out.contains("nothing posted"), "{out}");
    let head = a.head_of(&a.author.clone());
    assert_eq!(head, 2, "follow and the forced post only");

    let out = ok(&a.data, &["node", "stop"]);
    assert!(out.contains("stopped"), "{out}");
    // Right after stop returns the lock is free: the node has let go of the directory.
    let lock = std::fs::File::open(a.data.join("node.lock")).expect("lock file");
    lock.try_lock().expect("the lock is free once stop returns");
    drop(lock);
    std::fs::remove_dir_all(&a.data).expect("rm -rf right after stop");
}
