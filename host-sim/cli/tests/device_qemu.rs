//! The microcontroller on the network, end to end (issue 19): the device-node firmware
//! under QEMU (mps2-an386, Cortex-M4), bridged by a real `glitter node` to another.
//!
//! 1. Node A holds an author with 100 posts. Node B is connected to A over libp2p and
//!    to the firmware over QEMU's serial port on a TCP socket (`--device tcp:...`).
//! 2. The firmware follows the author (B tells it to), receives, verifies and stores
//!    the blocks in its flash log.
//! 3. In the middle of that, QEMU is killed (SIGKILL: a power cut; the flash image is
//!    a host file the firmware writes through semihosting). Started again on the same
//!    flash, the device mounts every block it reported as stored, and resumes.
//! 4. It stores all 100 and posts 3 blocks of its own, signed on the device, whenever
//!    its link has been idle for a second (on a slow host that can be before the
//!    cut); B verifies and stores them and A receives them over libp2p.
//!
//! Between B and QEMU sits a relay (in this test) that forwards the bytes both ways
//! and, at frame boundaries, slips garbage, oversized, truncated and corrupted frames
//! towards the device: the device drops and counts each one and keeps syncing.
//!
//! It needs the firmware and QEMU, so it is `#[ignore]`d in the workspace run;
//! `firmware-example/run-qemu.sh` builds the ELF, then `.ci/test-all.sh` runs it with
//! `GLITTER_DEVICE_ELF=... cargo test -p glitter --test device_qemu -- --ignored`.

mod net_common;

use glitter_core::sync::link::{self, FRAME_ENCODED_MAX};
use net_common::{NodeProc, wait_for};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const POSTS: u64 = 100;
const DEVICE_POSTS: u64 = 3;
/// The device is killed once it reported at least this many of the author's blocks.
const CUT_AT: u64 = 40;
/// Bound on each phase (QEMU counts instructions, so it runs slower than a board).
const PHASE: Duration = Duration::from_secs(240);
/// A frame boundary out of this many gets a hostile frame slipped in after it.
const INJECT_EVERY: u64 = 7;

/// One QEMU run of the device firmware, its console in a file.
struct Qemu {
    child: Child,
    console: PathBuf,
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Qemu {
    /// Starts the firmware with its serial port served on `port` (QEMU waits for the
    /// relay to connect before the firmware runs) and its flash in `flash`.
    fn start(elf: &Path, flash: &Path, port: u16, console: PathBuf) -> Qemu {
        let out = std::fs::File::create(&console).expect("console file");
        let child = Command::new("qemu-system-arm")
            .args(["-cpu", "cortex-m4", "-machine", "mps2-an386"])
            .args(["-nographic", "-monitor", "none", "-icount", "shift=0"])
            .arg("-semihosting-config")
            .arg(format!(
                "enable=on,target=native,arg={}",
                flash.to_str().expect("a UTF-8 path")
            ))
            .arg("-chardev")
            .arg(format!(
                "socket,id=dev,host=127.0.0.1,port={port},server=on,wait=on"
            ))
            .args(["-serial", "chardev:dev"])
            .arg("-kernel")
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone"))
            .stderr(out)
            .spawn()
            .expect("start qemu-system-arm");
        Qemu { child, console }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// The highest seq of `author` the device reported as stored.
    fn stored(&self, author: &str) -> u64 {
        let prefix = format!("stored {author} ");
        self.text()
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix)?.trim().parse().ok())
            .max()
            .unwrap_or(0)
    }

    /// The `device <key> up: ...` line's key and mounted block count.
    fn up(&self) -> Option<(String, u64)> {
        let text = self.text();
        let line = text.lines().find(|l| l.starts_with("device "))?;
        let mut w = line.split_whitespace();
        let key = w.nth(1)?.to_string();
        let blocks = line
            .split(", ")
            .find_map(|p| p.strip_suffix(" blocks mounted"))?
            .trim()
            .parse()
            .ok()?;
        Some((key, blocks))
    }

    fn measurements(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.trim_start().starts_with('~'))
            .map(str::to_string)
            .collect()
    }
}

/// The highest seq of the device's own posts in a console text (`posted <seq>`), 0 if
/// none. A post is durable once printed, so the device's own chain is at least the
/// highest over both runs: a slow host can leave the link idle long enough in phase 1
/// for the device to post before the cut.
fn posted_in(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("posted ")?.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

/// The device's last reported count of dropped frames in a console text (`link:
/// frames N dropped D (...)`), 0 if it never dropped one.
fn dropped_in(text: &str) -> u64 {
    text.lines()
        .rev()
        .find(|l| l.starts_with("link: frames "))
        .and_then(|l| l.split_whitespace().nth(4)?.parse().ok())
        .unwrap_or(0)
}

/// A hostile frame of kind `n % 4`: noise, oversized, truncated, bad CRC. Each ends
/// with a delimiter, so exactly one frame is dropped for it.
fn hostile(n: u64) -> Vec<u8> {
    let mut genuine = [0u8; FRAME_ENCODED_MAX];
    let len = link::encode_frame(&[2; 41], &mut genuine).expect("a small body");
    let genuine = &genuine[..len];
    match n % 4 {
        0 => {
            let mut v: Vec<u8> = (0..37u8).map(|i| i.wrapping_mul(73) | 1).collect();
            v.push(0);
            v
        }
        1 => {
            let mut v = vec![0x5A; FRAME_ENCODED_MAX + 100];
            v.push(0);
            v
        }
        2 => {
            let mut v = genuine[..len / 2].to_vec();
            v.push(0);
            v
        }
        _ => {
            let mut v = genuine.to_vec();
            v[5] ^= 0x40;
            v
        }
    }
}

/// Relays bytes between B (which dials `listen`) and QEMU's socket on `qemu_port`,
/// slipping a hostile frame towards the device after every `INJECT_EVERY`th frame
/// delimiter (wherever it falls in a read) while `on` is set, counting them in `injected`: one count per connection
/// to QEMU (one per QEMU run).
fn relay(
    listen: TcpListener,
    qemu_port: u16,
    injected: Arc<Mutex<Vec<u64>>>,
    on: Arc<Mutex<bool>>,
) {
    std::thread::spawn(move || {
        // One B connection per QEMU run; B reconnects after each power cut.
        for b in listen.incoming() {
            let Ok(b) = b else { continue };
            let Ok(q) = TcpStream::connect(("127.0.0.1", qemu_port)) else {
                continue;
            };
            let run = {
                let mut v = injected.lock().expect("lock");
                v.push(0);
                v.len() - 1
            };
            let (mut b_rx, mut q_tx) =
                (b.try_clone().expect("clone"), q.try_clone().expect("clone"));
            let (mut q_rx, mut b_tx) = (q, b);
            let up = std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = q_rx.read(&mut buf) {
                    if n == 0 || b_tx.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = b_tx.shutdown(std::net::Shutdown::Both);
            });
            let mut buf = [0u8; 4096];
            let mut boundaries = 0u64;
            // Every delimiter in the stream is a frame boundary, wherever the reads
            // happen to split it, so the count of hostile frames does not depend on
            // how the kernel batches B's frames (a busy machine batches many).
            'relay: while let Ok(n) = b_rx.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut from = 0;
                for at in 0..n {
                    if buf[at] != 0 {
                        continue;
                    }
                    boundaries += 1;
                    if *on.lock().expect("lock") && boundaries.is_multiple_of(INJECT_EVERY) {
                        let k = {
                            let mut v = injected.lock().expect("lock");
                            v[run] += 1;
                            v.iter().sum::<u64>()
                        };
                        if q_tx.write_all(&buf[from..=at]).is_err()
                            || q_tx.write_all(&hostile(k)).is_err()
                        {
                            break 'relay;
                        }
                        from = at + 1;
                    }
                }
                if q_tx.write_all(&buf[from..n]).is_err() {
                    break;
                }
            }
            let _ = q_tx.shutdown(std::net::Shutdown::Both);
            let _ = up.join();
        }
    });
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
#[ignore = "needs the device firmware and QEMU: .ci/test-all.sh runs it after run-qemu.sh builds the firmware"]
fn a_qemu_device_replicates_through_a_bridge_and_survives_a_power_cut() {
    let elf = PathBuf::from(
        std::env::var("GLITTER_DEVICE_ELF")
            .expect("GLITTER_DEVICE_ELF: the mps2-an386 node firmware (.ci/test-all.sh sets it)"),
    );
    assert!(elf.is_file(), "no firmware at {}", elf.display());
    let dir = tempfile::tempdir().expect("tempdir");
    let flash = dir.path().join("device-flash.bin");

    // Node A: the author, 100 posts.
    let mut a = NodeProc::new(dir.path(), "a", 0x41);
    a.extra = vec!["--tick-ms".into(), "200".into()];
    a.start();
    let author = a.author.clone();
    for i in 1..=POSTS {
        let (seq, _) = a.post(&format!("post {i} for the device"));
        assert_eq!(seq, i);
    }

    // QEMU, its serial port on a socket; a relay in front of it for B.
    let qemu_port = free_port();
    let relay_listener = TcpListener::bind("127.0.0.1:0").expect("relay port");
    let relay_port = relay_listener.local_addr().expect("addr").port();
    let injected = Arc::new(Mutex::new(Vec::new()));
    let inject_on = Arc::new(Mutex::new(true));
    let mut qemu = Some(Qemu::start(
        &elf,
        &flash,
        qemu_port,
        dir.path().join("console-1.txt"),
    ));
    std::thread::sleep(Duration::from_millis(300));
    relay(
        relay_listener,
        qemu_port,
        injected.clone(),
        inject_on.clone(),
    );

    // Node B: dials A, bridges the device, tells it to follow the author.
    let mut b = NodeProc::new(dir.path(), "b", 0x42);
    b.extra = vec![
        "--tick-ms".into(),
        "200".into(),
        "--device".into(),
        format!("tcp:127.0.0.1:{relay_port}"),
        "--device-follow".into(),
        author.clone(),
    ];
    b.peers = vec![a.addr.clone()];
    b.start();
    b.follow(&author);
    let logs = |q: &Option<Qemu>| {
        format!(
            "{}{}\n--- device ---\n{}",
            a.logs(),
            b.logs(),
            q.as_ref().map(Qemu::text).unwrap_or_default()
        )
    };
    wait_for("B to hold the author's chain", PHASE, || {
        (b.head_of(&author) >= POSTS).then_some(())
    });

    // Phase 1: the device receives until the cut (timed from its first stored block).
    let device = wait_for("the device to come up", PHASE, || {
        qemu.as_ref().and_then(Qemu::up)
    })
    .0;
    a.follow(&device);
    wait_for("the device's first block", PHASE, || {
        (qemu.as_ref().map_or(0, |q| q.stored(&author)) >= 1).then_some(())
    });
    let t1 = Instant::now();
    let mut last = 0;
    let start = Instant::now();
    while last < CUT_AT {
        last = qemu.as_ref().map_or(0, |q| q.stored(&author));
        assert!(
            start.elapsed() < PHASE,
            "the device stored {last} of {CUT_AT} blocks in {PHASE:?}\n{}",
            logs(&qemu)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = qemu.take().expect("running");
    // The cut: SIGKILL. The last line it printed before dying is a lower bound of what
    // it committed.
    drop(first);
    let before = std::fs::read_to_string(dir.path().join("console-1.txt")).unwrap_or_default();
    let reported = before
        .lines()
        .filter_map(|l| {
            l.strip_prefix(&format!("stored {author} "))?
                .trim()
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    let phase1 = t1.elapsed();
    let rate1 = (reported.max(1) - 1) as f64 / phase1.as_secs_f64();

    // Phase 2: power back on, same flash.
    let t2 = Instant::now();
    qemu = Some(Qemu::start(
        &elf,
        &flash,
        qemu_port,
        dir.path().join("console-2.txt"),
    ));
    let (again, mounted) = wait_for("the device to come up again", PHASE, || {
        qemu.as_ref().and_then(Qemu::up)
    });
    assert_eq!(again, device, "the same identity after the power cut");
    assert!(
        mounted >= reported,
        "nothing committed is lost: {reported} blocks reported stored, {mounted} mounted\n{}",
        logs(&qemu)
    );
    let start = Instant::now();
    let q = qemu.as_ref().expect("running");
    loop {
        let got = q.stored(&author);
        if got >= POSTS {
            break;
        }
        assert!(
            start.elapsed() < PHASE,
            "after the cut the device reached {got} of {POSTS}\n{}",
            logs(&qemu)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let phase2 = t2.elapsed();
    *inject_on.lock().expect("lock") = false;

    // The device posts its own blocks; B stores them, A gets them over libp2p.
    wait_for("the device to post", PHASE, || {
        (posted_in(&before).max(posted_in(&q.text())) >= DEVICE_POSTS).then_some(())
    });
    wait_for("B to store the device's posts", PHASE, || {
        (b.head_of(&device) >= DEVICE_POSTS).then_some(())
    });
    wait_for("A to receive the device's posts over libp2p", PHASE, || {
        (a.head_of(&device) >= DEVICE_POSTS).then_some(())
    });
    assert_eq!(
        b.id_of(&device, DEVICE_POSTS),
        a.id_of(&device, DEVICE_POSTS)
    );

    // Every hostile frame of the second run was dropped and counted; of the first, those still in flight at
    // the power cut never reached the device. None of them stopped the sync.
    let per_run = injected.lock().expect("lock").clone();
    let (sent1, sent2) = (
        per_run.first().copied().unwrap_or(0),
        per_run.last().copied().unwrap_or(0),
    );
    let sent: u64 = per_run.iter().sum();
    // The device reports its drop count on its next tick after a drop: wait for the
    // report of the last hostile frames (it may still be due if it posted before the cut).
    let dropped2 = wait_for(
        "the device to report every hostile frame of run 2",
        Duration::from_secs(30),
        || {
            let n = dropped_in(&q.text());
            (n >= sent2).then_some(n)
        },
    );
    let dropped1 = dropped_in(&before);
    assert_eq!(
        per_run.len(),
        2,
        "one relayed connection per QEMU run: {per_run:?}"
    );
    assert!(sent >= 4, "the relay slipped in only {sent} hostile frames");
    assert!(
        dropped2 == sent2 && dropped1 <= sent1,
        "hostile frames sent {per_run:?} per run, dropped by the device {dropped1} and {dropped2}\n{}",
        logs(&qemu)
    );

    // `mounted` counts the device's own posts too; the author's blocks left after the
    // cut are at most those it had not reported.
    let left = POSTS.saturating_sub(reported);
    let own_before = posted_in(&before);
    println!(
        "device {device}: {reported} blocks reported before the cut, {mounted} mounted after it \
         ({own_before} of them its own posts); \
         phase 1: blocks 2..={reported} in {:.2} s = {rate1:.1} blocks/s; \
         phase 2 (boot, mount, reconnect, {left} blocks) {:.1} s = {:.1} blocks/s; \
         hostile frames {sent1} + {sent2} sent, {dropped1} + {dropped2} dropped (all of run 2; run 1 cut by the power cut)",
        phase1.as_secs_f64(),
        phase2.as_secs_f64(),
        left as f64 / phase2.as_secs_f64()
    );
    for m in q.measurements() {
        println!("{m}");
    }
}
