//! Backup and restore across `glitter node` processes on 127.0.0.1: the owner's node
//! sends packages to custodian nodes over `/glitter/backup/1` and checks their signed
//! receipts; after the owner's data directory is destroyed, `glitter restore` on a new
//! directory fetches shares from custodians that approved its device code, learns the
//! newer head from peers, and the restored node continues the chain without a fork.

mod net_common;

use glitter_net::backup_proto::device_code;
use glitter_net::{Request, control_request};
use net_common::restore::RestoreProc;
use net_common::{NodeProc, start_nodes, wait_authors_known, wait_for};
use std::time::{Duration, Instant};

const TICK_MS: &str = "200";
const BOUND: Duration = Duration::from_secs(20);

fn backup(owner: &NodeProc, custodians: &[&str], k: u8) -> glitter_net::Response {
    control_request(
        &owner.data,
        &Request::Backup {
            custodians: custodians.iter().map(|c| c.to_string()).collect(),
            threshold: k,
        },
    )
    .expect("the owner's node answers")
}

fn release(custodian: &NodeProc, owner: &str, code: &str) {
    custodian.ctl(Request::Release {
        owner: owner.into(),
        code: code.into(),
        valid_for_s: Some(120),
    });
}

#[test]
fn backup_to_custodian_nodes_and_restore_on_a_new_device() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_nodes(
        dir.path(),
        &["alice", "bob", "carol", "dave", "erin"],
        0x31,
        None,
    );
    let alice = nodes[0].author.clone();
    let (bob, carol, dave, erin) = (
        nodes[1].author.clone(),
        nodes[2].author.clone(),
        nodes[3].author.clone(),
        nodes[4].author.clone(),
    );
    // Bob, Carol and Dave follow Alice and hold her backups (their operators accepted
    // custody of them); Erin does neither.
    for f in &nodes[1..4] {
        f.follow(&alice);
        f.accept_custody(&alice);
    }
    for i in 0..5 {
        nodes[0].post(&format!("before the backup {i}"));
    }
    // Every node has proven its author key to Alice's node (Hello).
    wait_authors_known(&nodes[0], 4);

    // 1. Refusals before anything is appended: a bad threshold, an unknown custodian.
    let head0 = nodes[0].head_of(&alice);
    let r = backup(&nodes[0], &[&bob, &carol], 3);
    assert!(
        !r.ok && r.error.as_deref().unwrap_or("").contains("threshold"),
        "{r:?}"
    );
    let stranger = "5".repeat(64);
    let r = backup(&nodes[0], &[&bob, &stranger], 2);
    assert!(!r.ok, "{r:?}");
    assert_eq!(
        nodes[0].head_of(&alice),
        head0,
        "a refused backup appended blocks"
    );

    // 2. A custodian whose operator has not accepted the owner refuses the package;
    //    with fewer than k holders the owner is told so.
    let r = backup(&nodes[0], &[&bob, &erin], 2);
    let err = r.error.clone().unwrap_or_default();
    assert!(!r.ok && err.contains("has not accepted"), "{r:?}");
    assert!(err.contains("only 1 of 2"), "{r:?}");

    // 3. The real backup: 2 of Bob, Carol and Dave, each with a checked receipt.
    let r = nodes[0].ctl(Request::Backup {
        custodians: vec![bob.clone(), carol.clone(), dave.clone()],
        threshold: 2,
    });
    assert_eq!(r.data["held"].as_u64(), Some(3), "{r:?}");
    assert_eq!(r.data["version"].as_u64(), Some(2), "{r:?}");
    assert_eq!(
        r.lines
            .iter()
            .filter(|l| l.contains("signed receipt checked"))
            .count(),
        3,
        "{r:?}"
    );
    let listed = nodes[1].ctl(Request::Custody);
    assert!(
        listed
            .lines
            .iter()
            .any(|l| l.contains(&alice) && l.contains("version 2")),
        "{listed:?}"
    );
    assert!(
        nodes[1]
            .data
            .join("custody")
            .join(&alice)
            .join("share-v2.bin")
            .exists()
    );

    // 4. Alice posts after the backup; her followers replicate it; then her device
    //    is lost for good.
    let mut last = (0, String::new());
    for i in 0..3 {
        last = nodes[0].post(&format!("after the backup {i}"));
    }
    for f in &nodes[1..4] {
        wait_for(&format!("{} to replicate alice", f.name), BOUND, || {
            (f.head_of(&alice) >= last.0).then_some(())
        });
    }
    let old_peer_id = nodes[0].peer_id();
    nodes[0].kill9();
    std::fs::remove_dir_all(&nodes[0].data).unwrap();

    // 5. A new device restores from the custodians' nodes, by address.
    let new_dir = dir.path().join("alice-new");
    let mut device = RestoreProc::spawn(
        &new_dir,
        &alice,
        &[&nodes[1], &nodes[2], &nodes[3]],
        &[&nodes[4]],
    );
    let code = device.code.clone();
    // Dave approves some other device's code, and Bob the right one: one share is
    // not enough, so the device keeps waiting.
    release(&nodes[3], &alice, &device_code(&[0x77; 32]));
    release(&nodes[1], &alice, &code);
    std::thread::sleep(Duration::from_millis(3_000));
    assert!(device.running(), "restored with fewer than k approvals");
    // Carol approves: two shares, the restore completes.
    release(&nodes[2], &alice, &code);
    let (ok, text) = device.finish();
    assert!(ok, "restore failed: {text}");
    assert!(text.contains("released its share"), "{text}");
    assert!(text.contains("recovered the identity"), "{text}");
    assert!(
        text.contains(&format!("head is block {}", last.0)),
        "the device did not learn the newest head {}: {text}",
        last.0
    );
    // Dave never released (the approved code was not this device's).
    let dave_log = nodes[3].logs();
    assert!(!dave_log.contains("released the share"), "{dave_log}");

    // 6. The restored node has the same identity and peer id, every block, and its
    //    next post continues the chain: followers take it, and nothing forked.
    let mut restored = NodeProc::adopt(new_dir, "alice-new", &alice);
    restored.extra = vec!["--tick-ms".into(), TICK_MS.into()];
    restored.peers = nodes[1..].iter().map(|q| q.addr.clone()).collect();
    restored.start();
    assert_eq!(restored.peer_id(), old_peer_id);
    assert_eq!(restored.head_of(&alice), last.0);
    assert_eq!(
        restored.id_of(&alice, last.0).as_deref(),
        Some(last.1.as_str())
    );
    let (next, next_id) = restored.post("back on a new device");
    assert_eq!(next, last.0 + 1);
    for f in &nodes[1..4] {
        wait_for(&format!("{} to get the new post", f.name), BOUND, || {
            (f.head_of(&alice) >= next).then_some(())
        });
        assert_eq!(f.id_of(&alice, next).as_deref(), Some(next_id.as_str()));
        let feed = f.ctl(Request::Feed);
        assert!(!feed.lines.iter().any(|l| l.contains("FORKED")), "{feed:?}");
    }
    println!("{text}");
    println!("network backup test took {} ms", t0.elapsed().as_millis());
}

/// A custodian that answers every device at once with a corrupted share and corrupted
/// shards is named and refused; the restore waits for honest approvals and succeeds.
#[test]
fn a_custodian_answering_garbage_is_refused_and_the_restore_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = start_nodes(
        dir.path(),
        &["alice", "bob", "carol", "mallory"],
        0x41,
        Some("mallory"),
    );
    let alice = nodes[0].author.clone();
    for f in &nodes[1..] {
        f.follow(&alice);
        f.accept_custody(&alice);
    }
    let (last, _) = nodes[0].post("a post to back up");
    wait_authors_known(&nodes[0], 3);
    let custodians: Vec<String> = nodes[1..].iter().map(|n| n.author.clone()).collect();
    let r = nodes[0].ctl(Request::Backup {
        custodians,
        threshold: 2,
    });
    assert_eq!(r.data["held"].as_u64(), Some(3), "{r:?}");
    let manifest_seq = r.data["seq"].as_u64().unwrap();
    assert!(manifest_seq > last);
    wait_for("bob to replicate the manifest block", BOUND, || {
        (nodes[1].head_of(&alice) >= manifest_seq).then_some(())
    });
    nodes[0].kill9();
    std::fs::remove_dir_all(&nodes[0].data).unwrap();

    let new_dir = dir.path().join("alice-new");
    let mut device = RestoreProc::spawn(&new_dir, &alice, &[&nodes[1], &nodes[2], &nodes[3]], &[]);
    let code = device.code.clone();
    // Mallory answers at once; with Bob's share that is still one good share.
    release(&nodes[1], &alice, &code);
    std::thread::sleep(Duration::from_millis(3_000));
    assert!(
        device.running(),
        "restored from one honest share and garbage"
    );
    release(&nodes[2], &alice, &code);
    let (ok, text) = device.finish();
    assert!(ok, "restore failed: {text}");
    let mallory = &nodes[3].author;
    assert!(
        text.lines()
            .any(|l| l.starts_with("refused:") && l.contains(mallory.as_str())),
        "mallory's garbage was not named: {text}"
    );
    assert!(
        text.contains(&format!("head is block {manifest_seq}")),
        "{text}"
    );
}
