//! Issue 15 item 8 against real `glitter node` processes on 127.0.0.1: a custodian
//! holds backups only for owners its operator accepted (`glitter node custody accept`,
//! kept across restarts) or, under `--custody-policy follows`, the authors it follows;
//! a revoked owner's new versions are refused while the held copy stays until
//! `--delete`; and the per-owner and total custody quotas refuse an oversize package
//! before anything is written.

mod net_common;

use glitter_net::{Request, Response, control_request};
use net_common::{NodeProc, wait_authors_known, wait_for};
use std::path::Path;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(20);

/// Starts one node per (name, extra flags), seeds from `seed`, 200 ms ticks, each
/// dialling those before it.
fn start(root: &Path, nodes: &[(&str, &[&str])], seed: u8) -> Vec<NodeProc> {
    let mut out: Vec<NodeProc> = Vec::new();
    for (i, (name, flags)) in nodes.iter().enumerate() {
        let mut p = NodeProc::new(root, name, seed + i as u8);
        p.extra = vec!["--tick-ms".into(), "200".into()];
        p.extra.extend(flags.iter().map(|f| f.to_string()));
        p.peers = out.iter().map(|q| q.addr.clone()).collect();
        p.start();
        out.push(p);
    }
    out
}

/// `glitter node backup` on `owner`'s node, answered or not.
fn backup(owner: &NodeProc, custodians: &[&NodeProc], k: u8) -> Response {
    control_request(
        &owner.data,
        &Request::Backup {
            custodians: custodians.iter().map(|c| c.author.clone()).collect(),
            threshold: k,
        },
    )
    .expect("the owner's node answers")
}

fn custody_dir(custodian: &NodeProc, owner: &NodeProc) -> std::path::PathBuf {
    custodian.data.join("custody").join(&owner.author)
}

fn accepted(custodian: &NodeProc) -> Vec<String> {
    let listed = custodian.ctl(Request::Custody);
    listed.data["accepted"]
        .as_array()
        .expect("an accepted list")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The backup version `custodian` lists for `owner`, if it holds one.
fn held_version(custodian: &NodeProc, owner: &NodeProc) -> Option<u64> {
    let listed = custodian.ctl(Request::Custody);
    listed.data["held"]
        .as_array()?
        .iter()
        .find(|r| r["owner"].as_str() == Some(owner.author.as_str()))
        .and_then(|r| r["version"].as_u64())
}

#[test]
fn custody_is_refused_until_accepted_survives_a_restart_and_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    // Bob runs the default policy; Carol holds backups for the authors she follows.
    let mut nodes = start(
        dir.path(),
        &[
            ("alice", &[]),
            ("bob", &[]),
            ("carol", &["--custody-policy", "follows"]),
        ],
        0x81,
    );
    let (alice, carol) = (&nodes[0], &nodes[2]);
    let bob = &nodes[1];
    // Both follow Alice: under the default policy that is not consent.
    bob.follow(&alice.author);
    carol.follow(&alice.author);
    wait_authors_known(alice, 2);

    // (a) A small package (read in full) from an owner Bob never accepted: refused,
    //     and Bob holds nothing. Carol's policy admits the authors she follows.
    alice.post("a small chain");
    let r = backup(alice, &[bob, carol], 2);
    let err = r.error.clone().unwrap_or_default();
    assert!(!r.ok, "{r:?}");
    assert!(
        err.contains("has not accepted") && err.contains("custody accept"),
        "{r:?}"
    );
    assert!(err.contains("only 1 of 2"), "{r:?}");
    assert!(
        !custody_dir(bob, alice).exists(),
        "bob wrote a refused package"
    );
    assert!(custody_dir(carol, alice).join("manifest.block").exists());
    assert!(
        bob.logs()
            .lines()
            .any(|l| l.contains("refused a backup package from") && l.contains("has not accepted")),
        "{}",
        bob.logs()
    );
    // A large package (300 posts, far above 4 KiB) is discarded unread.
    alice.ctl(Request::PostMany { count: 300 });
    let r = backup(alice, &[bob, carol], 2);
    let err = r.error.clone().unwrap_or_default();
    assert!(!r.ok && err.contains("has not accepted"), "{r:?}");
    assert!(
        bob.logs()
            .lines()
            .any(|l| l.contains("unread") && l.contains("has not accepted")),
        "{}",
        bob.logs()
    );
    assert!(
        !custody_dir(bob, alice).exists(),
        "bob wrote a refused package"
    );
    let listed = bob.ctl(Request::Custody);
    assert!(
        listed.lines.iter().any(|l| l.contains("keeps no backups")),
        "{listed:?}"
    );
    assert!(accepted(bob).is_empty());

    // (b) Bob's operator accepts Alice: the same backup succeeds.
    let r = bob.ctl(Request::CustodyAccept {
        owner: alice.author.clone(),
    });
    assert!(r.lines[0].contains("accepted custody of"), "{r:?}");
    assert_eq!(accepted(bob), vec![alice.author.clone()]);
    let listed = bob.ctl(Request::Custody);
    assert!(
        listed.lines.iter().any(|l| l.contains("nothing held yet")),
        "{listed:?}"
    );
    // The custodians in another order: a full backup (an incremental one would carry
    // only the newest range, and Bob holds none of the earlier ones).
    let r = backup(alice, &[carol, bob], 2);
    assert!(r.ok, "{r:?}\n{}", bob.logs());
    assert_eq!(r.data["held"].as_u64(), Some(2), "{r:?}");
    let v1 = held_version(bob, alice).expect("bob holds alice's backup");

    // Acceptance survives a restart (here a SIGKILL).
    nodes[1].kill9();
    nodes[1].start();
    let (alice, bob, carol) = (&nodes[0], &nodes[1], &nodes[2]);
    assert_eq!(accepted(bob), vec![alice.author.clone()]);
    assert_eq!(held_version(bob, alice), Some(v1));
    let r = wait_for("bob to be back for alice's backup", BOUND, || {
        let r = backup(alice, &[carol, bob], 2);
        let err = r.error.clone().unwrap_or_default();
        (!err.contains("is not connected")).then_some(r)
    });
    assert!(r.ok, "{r:?}\n{}", bob.logs());
    let v2 = held_version(bob, alice).expect("bob holds alice's backup");
    assert!(v2 > v1, "{v2} after {v1}");

    // (d) Revoked: new versions are refused, the held copy stays (a restore can
    //     still use it) until `--delete`.
    let r = bob.ctl(Request::CustodyRevoke {
        owner: alice.author.clone(),
        delete: false,
    });
    assert!(r.lines.iter().any(|l| l.contains("is kept")), "{r:?}");
    assert!(accepted(bob).is_empty());
    let held = bob.custody_bytes(&alice.author);
    let r = backup(alice, &[carol, bob], 2);
    assert!(
        !r.ok
            && r.error
                .as_deref()
                .unwrap_or("")
                .contains("has not accepted"),
        "{r:?}"
    );
    assert_eq!(held_version(bob, alice), Some(v2));
    assert_eq!(bob.custody_bytes(&alice.author), held);
    let listed = bob.ctl(Request::Custody);
    assert!(
        listed
            .lines
            .iter()
            .any(|l| l.contains(&alice.author) && l.contains("not accepted")),
        "{listed:?}"
    );
    let r = bob.ctl(Request::CustodyRevoke {
        owner: alice.author.clone(),
        delete: true,
    });
    assert!(r.data["deleted"].as_bool() == Some(true), "{r:?}");
    assert!(!custody_dir(bob, alice).exists());
    assert_eq!(held_version(bob, alice), None);
    // Nothing left to revoke.
    let r = control_request(
        &bob.data,
        &Request::CustodyRevoke {
            owner: alice.author.clone(),
            delete: false,
        },
    )
    .unwrap();
    assert!(
        !r.ok
            && r.error
                .as_deref()
                .unwrap_or("")
                .contains("not accepted here"),
        "{r:?}"
    );
}

/// Carol's quotas: 2,000 bytes per owner and 2,500 in total. A first backup of a
/// 5-post chain takes about 1,420 bytes (manifest block, share and shard), a second one
/// of the same owner with 5 more posts about 2,350 (a few bytes vary with the clock).
#[test]
fn custody_quotas_refuse_an_oversize_package_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = start(
        dir.path(),
        &[
            ("alice", &[]),
            ("dave", &[]),
            ("bob", &[]),
            (
                "carol",
                &[
                    "--custody-owner-quota",
                    "2000",
                    "--custody-total-quota",
                    "2500",
                ],
            ),
        ],
        0x91,
    );
    let (alice, dave, bob, carol) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    for c in [bob, carol] {
        c.accept_custody(&alice.author);
        c.accept_custody(&dave.author);
    }
    wait_authors_known(alice, 3);
    wait_authors_known(dave, 3);
    for i in 0..5 {
        alice.post(&format!("alice {i}"));
        dave.post(&format!("dave {i}"));
    }
    // Alice's first backup fits both quotas.
    let r = backup(alice, &[bob, carol], 2);
    assert!(r.ok, "{r:?}\n{}", carol.logs());
    let alice_held = carol.custody_bytes(&alice.author);
    assert!(alice_held > 500 && alice_held <= 2000, "{alice_held}");
    let v1 = held_version(carol, alice).expect("carol holds alice's backup");

    // Dave's fits the per-owner quota, but with Alice's it would exceed the total.
    let r = backup(dave, &[bob, carol], 2);
    let err = r.error.clone().unwrap_or_default();
    assert!(
        !r.ok && err.contains("total custody quota of 2500 bytes"),
        "{r:?}"
    );
    assert!(
        !custody_dir(carol, dave).exists(),
        "carol wrote a refused package"
    );

    // Alice's incremental second version: a small package, but with the shard Carol
    // holds it would take more than 2,000 bytes for Alice. Counted from what is on
    // disk, refused after reading, before writing: Carol keeps version 1 whole.
    for i in 0..5 {
        alice.post(&format!("alice more {i}"));
    }
    let r = backup(alice, &[bob, carol], 2);
    let err = r.error.clone().unwrap_or_default();
    assert!(
        !r.ok && err.contains("per-owner custody quota of 2000 bytes"),
        "{r:?}"
    );
    let logs = carol.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("refused a backup package from") && l.contains("per-owner")),
        "{logs}"
    );
    assert_eq!(held_version(carol, alice), Some(v1));
    assert_eq!(carol.custody_bytes(&alice.author), alice_held);
    assert!(bob.custody_bytes(&alice.author) > alice_held, "bob took v2");

    // A package frame larger than the per-owner quota is not even read.
    dave.ctl(Request::PostMany { count: 300 });
    let r = backup(dave, &[bob, carol], 2);
    let err = r.error.clone().unwrap_or_default();
    assert!(
        !r.ok && err.contains("exceeds the custodian's per-owner custody quota of 2000 bytes"),
        "{r:?}"
    );
    let logs = carol.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("unread") && l.contains("per-owner")),
        "{logs}"
    );
    assert!(
        !custody_dir(carol, dave).exists(),
        "carol wrote a refused package"
    );

    let listed = carol.ctl(Request::Custody);
    assert_eq!(
        listed.data["bytes"].as_u64(),
        Some(alice_held),
        "{listed:?}"
    );
    assert_eq!(
        listed.data["quota_total"].as_u64(),
        Some(2500),
        "{listed:?}"
    );
}
