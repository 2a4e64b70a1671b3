//! Issue 14 on the real binary: output is safe (a post is one escaped line, offline and
//! through a node), input is bounded (`/dev/zero`, a FIFO without a writer), only
//! meaningful blocks are appended, and `node stop` returns after the node let go.

mod net_common;

use net_common::{bin, start_nodes, wait_for};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A post that tries to look like two posts, recolour and retitle the terminal, and
/// reverse the text.
const EVIL: &str = "hello\n2026-01-01T00:00:00Z  alice (deadbeef) #9  posted: fake\r\x1b[31mred\x1b]0;title\x07 \u{202e}desrever\u{2066}x\u{2069}\u{200f}\u{061c}\u{85}\u{7f}\tend";

fn glitter(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .expect("run glitter")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let o = glitter(dir, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 output")
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let o = glitter(dir, args);
    assert!(!o.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

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

/// Runs `glitter args…`, polling its peak RSS; returns (output, elapsed, peak KiB).
fn measured(dir: &Path, args: &[&str]) -> (Output, Duration, u64) {
    let started = Instant::now();
    let child = Command::new(bin())
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn glitter");
    let status = format!("/proc/{}/status", child.id());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let mut peak = 0;
    let out = loop {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(kib) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib);
        }
        if let Ok(o) = rx.recv_timeout(Duration::from_millis(5)) {
            break o.expect("glitter output");
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} still running after 5 s"
        );
    };
    (out, started.elapsed(), peak)
}

#[test]
fn imports_and_verifies_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    ok(&a, &["keygen", "--seed", &"11".repeat(32)]);
    let (o, t, kib) = measured(&a, &["import", "/dev/zero"]);
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("import /dev/zero: {t:?}, peak {kib} KiB: {err}");
    assert!(!o.status.success());
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
    assert!(kib < 64 * 1024, "peak RSS {kib} KiB");

    let fifo = tmp.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let (o, t, kib) = measured(&a, &["verify", fifo.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("verify FIFO: {t:?}, peak {kib} KiB: {err}");
    assert!(!o.status.success());
    assert!(err.contains("a FIFO"), "{err}");
    assert!(kib < 64 * 1024, "peak RSS {kib} KiB");

    // A regular file with a valid header is read no further than its count allows.
    let file = tmp.path().join("a.chain");
    ok(&a, &["post", "one"]);
    ok(&a, &["export", file.to_str().unwrap()]);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend(std::iter::repeat_n(0u8, 4 << 20));
    std::fs::write(&file, &bytes).unwrap();
    let err = fails(&a, &["verify", file.to_str().unwrap()]);
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
