//! The host bridge (`glitter node --device`): a real `glitter node` process and a fake
//! microcontroller, a TCP server speaking the device link with a real core `Node` on
//! an in-memory store (`net_device_fake`). Replication both ways, garbage on the
//! link, a device that sends forged blocks, and a link that goes down and comes back.

mod net_common;
mod net_device_fake;

use glitter_core::sig::PublicKey;
use glitter_core::sync::SyncStore;
use glitter_core::sync::link::{Deframer, FRAME_ENCODED_MAX, LinkStats};
use glitter_net::Request;
use net_common::{NodeProc, bin, wait_for};
use net_device_fake::{FakeDevice, frame};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(30);

fn key(s: &str) -> PublicKey {
    glitter_host::account::author_arg(s).expect("a key")
}

/// Runs the `glitter` CLI on `data`; returns its stdout.
fn glitter(data: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("run glitter");
    assert!(out.status.success(), "glitter {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A node (200 ms ticks) with the device attached over TCP and told to follow
/// `follow`; started, and waited for until the device is attached.
fn bridge(root: &Path, name: &str, seed: u8, dev: &mut FakeDevice, follow: &[&str]) -> NodeProc {
    let mut node = NodeProc::new(root, name, seed);
    start_bridge(&mut node, dev, follow);
    node
}

fn start_bridge(node: &mut NodeProc, dev: &mut FakeDevice, follow: &[&str]) {
    configure(node, dev, follow);
    node.start();
    wait_attached(node, dev);
}

/// Sets the node's options: 200 ms ticks, the device, the authors it is told to
/// follow ("self": the node's own key).
fn configure(node: &mut NodeProc, dev: &FakeDevice, follow: &[&str]) {
    node.extra = vec![
        "--tick-ms".into(),
        "200".into(),
        "--device".into(),
        dev.spec(),
    ];
    for f in follow {
        let f = if *f == "self" {
            node.author.clone()
        } else {
            (*f).to_string()
        };
        node.extra.extend(["--device-follow".into(), f]);
    }
}

fn wait_attached(node: &NodeProc, dev: &mut FakeDevice) {
    let started = Instant::now();
    dev.pump_until("the node to attach the device", BOUND, |_| {
        device_row(node)["attached"].as_bool() == Some(true)
    });
    println!(
        "{}: device attached {} ms after waiting began",
        node.name,
        started.elapsed().as_millis()
    );
}

/// The node's `status` row of its (only) device.
fn device_row(node: &NodeProc) -> serde_json::Value {
    node.ctl(Request::Status).data["devices"][0].clone()
}

fn count(v: &serde_json::Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v:#}"))
}

#[test]
fn device_and_node_replicate_both_ways() {
    const N: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    // An author's chain of N blocks, made and exported with the CLI, imported into
    // the bridge node's data directory before it starts.
    let author = NodeProc::new(dir.path(), "author", 0x41);
    for i in 1..=N {
        glitter(&author.data, &["post", &format!("author post {i}")]);
    }
    let file = dir.path().join("author.chain");
    glitter(&author.data, &["export", file.to_str().unwrap()]);
    let mut node = NodeProc::new(dir.path(), "bridge", 0x51);
    glitter(&node.data, &["import", file.to_str().unwrap()]);
    let mut dev = FakeDevice::new(0x61);
    let a = key(&author.author);

    let t0 = Instant::now();
    start_bridge(&mut node, &mut dev, &[author.author.as_str()]);
    assert!(
        node.logs().contains(&format!(
            "device {} attached over {}",
            dev.key(),
            dev.spec()
        )),
        "{}",
        node.logs()
    );
    // Node to device: the device follows the author (told by a Follow frame) and
    // fetches, verifies and stores all N blocks.
    dev.pump_until("the device to hold the author's chain", BOUND, |d| {
        d.head_of(&a) >= N
    });
    println!(
        "node -> device: {N} blocks in {} ms from the node's start",
        t0.elapsed().as_millis()
    );
    assert!(dev.seen.follows >= 1, "{:?}", dev.seen);
    for seq in [1, N / 2, N] {
        let on_device = dev.node.store().header(&a, seq).map(|h| h.id().to_string());
        assert_eq!(on_device, node.id_of(&author.author, seq), "block {seq}");
    }

    // Device to node: three posts of the device's own chain reach the node, which
    // stores them (checked with `glitter node head` and `feed`, the CLI).
    let t1 = Instant::now();
    for i in 1..=3 {
        dev.post(&format!("device post {i}"));
    }
    let me = dev.key();
    dev.pump_until("the node to store the device's 3 blocks", BOUND, |_| {
        node.head_of(&me) >= 3
    });
    println!(
        "device -> node: 3 blocks in {} ms",
        t1.elapsed().as_millis()
    );
    let head = glitter(&node.data, &["node", "head", &me]);
    assert!(head.contains("seq 3"), "{head}");
    let feed = glitter(&node.data, &["node", "feed"]);
    for i in 1..=3 {
        assert!(feed.contains(&format!("device post {i}")), "{feed}");
    }
    let row = device_row(&node);
    println!("status devices[0]: {row:#}");
    assert_eq!(row["key"].as_str(), Some(me.as_str()));
    assert_eq!(row["connected"].as_bool(), Some(true));
    assert_eq!(row["head"].as_u64(), Some(3));
    assert_eq!(row["core_score"].as_i64(), Some(0));
    assert_eq!(row["banned"].as_bool(), Some(false));
    assert_eq!(count(&row, "frames_dropped"), 0);
    assert_eq!(count(&row, "send_dropped"), 0);
    assert!(count(&row, "frames_received") >= 4);
    assert!(count(&row, "frames_sent") >= N);
    let status = glitter(&node.data, &["node", "status"]);
    assert!(
        status.contains(&format!("device   {} up", dev.spec())),
        "{status}"
    );
}

#[test]
fn garbage_on_the_link_is_counted_and_sync_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = FakeDevice::new(0x62);
    let node = bridge(dir.path(), "bridge", 0x52, &mut dev, &["self"]);
    let before = device_row(&node);

    // Random bytes, a frame longer than any (no delimiter for more than
    // FRAME_ENCODED_MAX bytes), a truncated frame and one with a flipped byte (its
    // CRC fails), then a delimiter. A local deframer fed the same bytes says what the
    // node must count.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut garbage = vec![0u8; 4096];
    rng.fill_bytes(&mut garbage);
    garbage.push(0);
    garbage.extend(std::iter::repeat_n(0x55u8, FRAME_ENCODED_MAX + 100));
    garbage.push(0);
    let good = frame(&[1, 0, 0]); // an empty Heads
    garbage.extend_from_slice(&good[..good.len() / 2]);
    garbage.push(0);
    let mut flipped = good.clone();
    flipped[1] ^= 0x40;
    garbage.extend_from_slice(&flipped);
    garbage.push(0);
    let mut local: Deframer<FRAME_ENCODED_MAX> = Deframer::new();
    for &b in &garbage {
        let _ = local.feed(b);
    }
    let expect: LinkStats = *local.stats();
    assert_eq!(expect.frames, 0, "the garbage holds no valid frame");
    assert!(expect.oversized >= 1 && expect.bad_crc + expect.bad_cobs >= 2);
    dev.write_raw(&garbage);

    let field_delta = |row: &serde_json::Value, f: &str| count(row, f) - count(&before, f);
    let after = wait_for("the node to count the garbage", BOUND, || {
        let row = device_row(&node);
        (field_delta(&row, "frames_dropped") >= expect.dropped()).then_some(row)
    });
    println!(
        "frames dropped: before {} after {} (oversized +{}, cobs +{}, crc +{}; expected {expect:?})",
        count(&before, "frames_dropped"),
        count(&after, "frames_dropped"),
        field_delta(&after, "dropped_oversized"),
        field_delta(&after, "dropped_cobs"),
        field_delta(&after, "dropped_crc"),
    );
    assert_eq!(field_delta(&after, "dropped_oversized"), expect.oversized);
    assert_eq!(field_delta(&after, "dropped_cobs"), expect.bad_cobs);
    assert_eq!(field_delta(&after, "dropped_crc"), expect.bad_crc);
    assert_eq!(after["connected"].as_bool(), Some(true));

    // Sync still completes, both ways.
    let t = Instant::now();
    for i in 1..=2 {
        dev.post(&format!("after garbage {i}"));
    }
    let (seq, _) = node.post("node post after garbage");
    let me = dev.key();
    let node_key = key(&node.author);
    dev.pump_until("sync both ways after the garbage", BOUND, |d| {
        d.head_of(&node_key) >= seq && node.head_of(&me) >= 2
    });
    println!("sync after the garbage: {} ms", t.elapsed().as_millis());
    let row = device_row(&node);
    assert_eq!(row["core_score"].as_i64(), Some(0), "{row:#}");
}

#[test]
fn a_device_that_sends_forged_blocks_is_banned() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = FakeDevice::new(0x63);
    let node = bridge(dir.path(), "bridge", 0x53, &mut dev, &["self"]);
    let score = |node: &NodeProc| device_row(node)["core_score"].as_i64();
    println!("score before: {:?}", score(&node));
    assert_eq!(score(&node), Some(0));

    // A correctly framed block of the device's chain with a flipped signature byte.
    let forged = dev.forged_next_block("forged 1");
    dev.send_body(&forged);
    dev.pump_until("the penalty", BOUND, |_| score(&node) == Some(-25));
    println!("score after one forged block: -25");
    assert_eq!(device_row(&node)["banned"].as_bool(), Some(false));
    let forged = dev.forged_next_block("forged 2");
    dev.send_body(&forged);
    dev.pump_until("the ban", BOUND, |_| {
        device_row(&node)["banned"].as_bool() == Some(true)
    });
    let row = device_row(&node);
    println!("after two forged blocks: {row:#}");
    assert!(row["core_score"].as_i64().unwrap() <= -50, "{row:#}");
    assert!(
        node.logs()
            .contains(&format!("device {} over {} banned", dev.key(), dev.spec())),
        "{}",
        node.logs()
    );
    assert_eq!(node.head_of(&dev.key()), 0, "nothing forged is stored");

    // While banned: its frames are dropped (its ticks keep sending heads), nothing is
    // sent to it, and the node runs on.
    let sent = count(&row, "frames_sent");
    let dropped = count(&row, "dropped_banned");
    let sync_in = dev.seen.sync_in;
    dev.post("while banned");
    dev.pump(Duration::from_secs(2));
    let row = device_row(&node);
    println!(
        "while banned, over 2 s: frames dropped {dropped} -> {}, frames sent {sent} -> {}",
        count(&row, "dropped_banned"),
        count(&row, "frames_sent")
    );
    assert!(count(&row, "dropped_banned") > dropped, "{row:#}");
    assert_eq!(count(&row, "frames_sent"), sent, "{row:#}");
    assert_eq!(dev.seen.sync_in, sync_in);
    assert_eq!(node.head_of(&dev.key()), 0);
    let (seq, _) = node.post("still running");
    assert!(seq >= 1);
    assert_eq!(row["connected"].as_bool(), Some(true));
}

#[test]
fn the_node_reconnects_and_sync_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut dev = FakeDevice::new(0x64);
    // Nobody listens yet: the node retries every second and says so once.
    dev.close();
    let mut node = NodeProc::new(dir.path(), "bridge", 0x54);
    configure(&mut node, &dev, &["self"]);
    node.start();
    std::thread::sleep(Duration::from_millis(2_500));
    let row = device_row(&node);
    assert_eq!(row["connected"].as_bool(), Some(false), "{row:#}");
    assert!(row["key"].is_null(), "no key before a hello: {row:#}");
    dev.listen_again();
    wait_attached(&node, &mut dev);
    let me = dev.key();
    let node_key = key(&node.author);
    dev.post("before the drop");
    dev.pump_until("the node to store the first post", BOUND, |_| {
        node.head_of(&me) >= 1
    });

    // The device's socket goes away for 3 s: the node retries every second; the
    // line that the link is down covers the retries.
    dev.close();
    let closed = Instant::now();
    wait_for("the node to see the link down", BOUND, || {
        (device_row(&node)["connected"].as_bool() == Some(false)).then_some(())
    });
    std::thread::sleep(Duration::from_secs(3));
    let row = device_row(&node);
    assert_eq!(row["attached"].as_bool(), Some(false), "{row:#}");
    dev.listen_again();
    let back = Instant::now();
    let hellos = dev.seen.host_hellos;
    dev.pump_until("the node to reconnect and attach again", BOUND, |d| {
        d.seen.host_hellos > hellos && device_row(&node)["attached"].as_bool() == Some(true)
    });
    println!(
        "reattached {} ms after the device listened again ({} ms after it closed)",
        back.elapsed().as_millis(),
        closed.elapsed().as_millis()
    );
    let logs = node.logs();
    let lines = |needle: &str| logs.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(
        lines("cannot connect"),
        1,
        "one line for the retries:\n{logs}"
    );
    assert_eq!(lines("link down"), 1, "{logs}");
    assert_eq!(lines("link up"), 2, "{logs}");
    assert_eq!(lines("attached over"), 2, "{logs}");
    assert_eq!(count(&device_row(&node), "links"), 2);

    // Sync resumes both ways.
    let t = Instant::now();
    dev.post("after the drop 1");
    dev.post("after the drop 2");
    let (seq, _) = node.post("node post after the drop");
    dev.pump_until("sync both ways after the reconnect", BOUND, |d| {
        node.head_of(&me) >= 3 && d.head_of(&node_key) >= seq
    });
    println!("sync after the reconnect: {} ms", t.elapsed().as_millis());
}

#[test]
fn a_device_on_a_serial_port_syncs() {
    let dir = tempfile::tempdir().unwrap();
    // A pty stands in for the serial port: the node opens its slave side with the
    // serialport crate, as it would /dev/ttyACM0.
    let mut dev = FakeDevice::new(0x65).on_pty();
    let node = bridge(dir.path(), "bridge", 0x55, &mut dev, &["self"]);
    let me = dev.key();
    let node_key = key(&node.author);
    let t = Instant::now();
    for i in 1..=3 {
        dev.post(&format!("serial post {i}"));
    }
    let (seq, _) = node.post("to the serial device");
    dev.pump_until("sync both ways over the serial port", BOUND, |d| {
        node.head_of(&me) >= 3 && d.head_of(&node_key) >= seq
    });
    println!("serial: sync both ways in {} ms", t.elapsed().as_millis());
    let row = device_row(&node);
    assert!(
        row["spec"].as_str().unwrap().starts_with("serial:/dev/"),
        "{row:#}"
    );
    assert_eq!(count(&row, "frames_dropped"), 0, "{row:#}");
}

#[test]
fn a_libp2p_peer_gets_the_devices_chain_through_the_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = NodeProc::new(dir.path(), "a", 0x46);
    a.extra = vec!["--tick-ms".into(), "200".into()];
    a.start();
    let mut dev = FakeDevice::new(0x66);
    let mut b = NodeProc::new(dir.path(), "bridge", 0x56);
    b.peers = vec![a.addr.clone()];
    // The device follows A, whom the bridge replicates for it.
    start_bridge(&mut b, &mut dev, &[a.author.as_str()]);
    let me = dev.key();
    let a_key = key(&a.author);
    a.follow(&me);
    let t = Instant::now();
    for i in 1..=3 {
        dev.post(&format!("device post {i} for A"));
    }
    let (seq, _) = a.post("from A to the device");
    dev.pump_until("A to get the device's posts, the device A's", BOUND, |d| {
        a.head_of(&me) >= 3 && d.head_of(&a_key) >= seq
    });
    println!(
        "device <-> bridge <-> libp2p peer: both ways in {} ms",
        t.elapsed().as_millis()
    );
    assert_eq!(a.id_of(&me, 3), b.id_of(&me, 3));
}

#[test]
fn two_devices_share_a_chain_through_the_bridge() {
    let dir = tempfile::tempdir().unwrap();
    let mut d1 = FakeDevice::new(0x67);
    let mut d2 = FakeDevice::new(0x68);
    let k1 = d1.keys.public();
    let mut node = NodeProc::new(dir.path(), "bridge", 0x57);
    configure(&mut node, &d1, &[]);
    // Both devices are told to follow the first one's chain.
    node.extra.extend([
        "--device".into(),
        d2.spec(),
        "--device-follow".into(),
        d1.key(),
    ]);
    node.start();
    for i in 1..=3 {
        d1.post(&format!("from the first device {i}"));
    }
    let t = Instant::now();
    wait_for(
        "the second device to get the first one's posts",
        BOUND,
        || {
            d1.pump(Duration::from_millis(10));
            d2.pump(Duration::from_millis(10));
            (d2.head_of(&k1) >= 3).then_some(())
        },
    );
    println!(
        "device -> bridge -> device: 3 blocks in {} ms",
        t.elapsed().as_millis()
    );
    let rows = node.ctl(Request::Status).data["devices"].clone();
    assert_eq!(rows.as_array().map(Vec::len), Some(2), "{rows:#}");
    for (row, dev) in rows.as_array().unwrap().iter().zip([&d1, &d2]) {
        assert_eq!(row["key"].as_str(), Some(dev.key().as_str()), "{rows:#}");
        assert_eq!(row["spec"].as_str(), Some(dev.spec().as_str()));
    }
}

#[test]
fn bad_device_options_are_refused_at_parse_time() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |args: &[&str]| {
        let out = Command::new(bin())
            .arg("--data-dir")
            .arg(dir.path())
            .arg("node")
            .args(args)
            .output()
            .expect("run glitter");
        assert!(!out.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = refused(&["--device", "udp:127.0.0.1:5555"]);
    assert!(e.contains("tcp:HOST:PORT or serial:PATH[@BAUD]"), "{e}");
    let e = refused(&["--device", "tcp:127.0.0.1:0"]);
    assert!(
        e.contains("the port must be a number from 1 to 65535"),
        "{e}"
    );
    let e = refused(&["--device", "serial:/dev/ttyACM0@fast"]);
    assert!(e.contains("the baud rate must be a positive number"), "{e}");
    let e = refused(&["--device-follow", "abc"]);
    assert!(e.contains("--device-follow"), "{e}");
    let help = glitter(dir.path(), &["node", "--help"]);
    for needle in [
        "--device <SPEC>",
        "serial:PATH[@BAUD]",
        "--device-follow <AUTHOR>",
    ] {
        assert!(help.contains(needle), "{needle} in:\n{help}");
    }
    // More devices than a node takes: refused when the node starts.
    let node = NodeProc::new(dir.path(), "many", 0x58);
    let mut args: Vec<String> = vec!["--data-dir".into(), node.data.display().to_string()];
    args.push("node".into());
    for port in 1..=17 {
        args.extend(["--device".into(), format!("tcp:127.0.0.1:{port}")]);
    }
    let out = Command::new(bin())
        .args(&args)
        .output()
        .expect("run glitter");
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("17 devices given: a node takes at most 16"),
        "{e}"
    );
}
