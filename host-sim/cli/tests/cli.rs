//! The `glitter` CLI on real data directories: tampered chain files are rejected with
//! a one-line error and a non-zero exit, and never change stored data.

mod cli_common;

use cli_common::{fails, glitter, ok};
use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn tampering_any_block_fails_verify_and_import_without_touching_data() {
    let tmp = tempfile::tempdir().unwrap();
    let alice = tmp.path().join("alice");
    let bob = tmp.path().join("bob");
    ok(&alice, &["keygen", "--seed", &"11".repeat(32)]);
    ok(&alice, &["profile", "--name", "alice"]);
    for i in 0..4 {
        ok(&alice, &["post", &format!("post number {i}")]);
    }
    let file = tmp.path().join("alice.chain");
    ok(&alice, &["export", file.to_str().unwrap()]);
    let out = ok(&bob, &["verify", file.to_str().unwrap()]);
    assert!(out.contains("blocks: 5"), "{out}");

    // Bob holds an older copy of alice's chain plus his own.
    ok(&bob, &["keygen", "--seed", &"22".repeat(32)]);
    ok(&bob, &["post", "bob was here"]);
    let older = tmp.path().join("older.chain");
    let good = std::fs::read(&file).unwrap();
    ok(&bob, &["import", file.to_str().unwrap()]);
    let before = snapshot(&bob);

    // Flip every byte of every block (file header is 50 bytes; blocks follow).
    let mut binary_runs = 0;
    for pos in 50..good.len() {
        let mut bad = good.clone();
        bad[pos] ^= 0x40;
        std::fs::write(&older, &bad).unwrap();
        // In-process check for every position...
        let v = glitter_host::chainfile::ChainFile::parse(&bad).map(|f| f.verify().is_ok());
        assert!(!matches!(v, Ok(true)), "tampered byte {pos} verified");
        // ...and the real binary on a spread of positions (each field of each block).
        if pos % 23 == 0 {
            binary_runs += 1;
            for cmd in ["verify", "import"] {
                let o = glitter(&bob, &[cmd, older.to_str().unwrap()]);
                assert_eq!(o.status.code(), Some(1), "{cmd} byte {pos}");
                let err = String::from_utf8(o.stderr).unwrap();
                assert_eq!(err.lines().count(), 1, "{cmd} byte {pos}: {err}");
                assert!(
                    err.starts_with("error: ") && err.contains("older.chain"),
                    "{err}"
                );
                assert!(!err.contains("panicked"), "{err}");
            }
        }
    }
    assert!(binary_runs >= 20);
    assert_eq!(snapshot(&bob), before, "bob's data directory changed");

    // A truncated file and trailing garbage are refused too, naming the file.
    for bad in [
        good[..good.len() - 1].to_vec(),
        [good.clone(), vec![0]].concat(),
    ] {
        std::fs::write(&older, &bad).unwrap();
        let o = glitter(&bob, &["import", older.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr).contains("older.chain"));
    }
    assert_eq!(snapshot(&bob), before);

    // The feed shows both chains.
    let feed = ok(&bob, &["feed"]);
    assert!(
        feed.contains("alice") && feed.contains("post number 3") && feed.contains("bob was here"),
        "{feed}"
    );
}

#[test]
fn keygen_refuses_to_overwrite_and_errors_are_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(d, &["keygen"]);
    let seed = std::fs::read(d.join("identity.seed")).unwrap();
    let o = glitter(d, &["keygen"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(d.join("identity.seed")).unwrap(), seed);
    let o = glitter(d, &["follow", "nothex"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
    let o = glitter(d, &["post", &"x".repeat(600)]);
    assert_eq!(o.status.code(), Some(1));
    let o = glitter(d, &["verify", "/nonexistent/file.chain"]);
    assert_eq!(o.status.code(), Some(1));
    let who = ok(d, &["whoami"]);
    assert!(who.contains("chain: 0 blocks"), "{who}");
}

#[test]
fn demo_tells_its_story() {
    let out = glitter::commands::demo::run().unwrap();
    let text = out.join("\n");
    for needle in [
        "alice posts block 1",
        "bob has verified and stored it",
        "charlie has verified and stored it",
        "0 invalid blocks stored: true",
        "alice    8a88e3dd",
        "bob verified 4 blocks of alice",
        "posted: Hello, glitter! My first block.",
        "rejected:",
        "alice's data directory is gone",
        "alice (new device) posts block",
        "no fork",
        "bob verifies it without learning which member: valid",
        "a tampered proof: rejected",
        "checked from the chain: valid",
        "alice proves \"I am one of the 3 authors whose chain has at least 2 posts\"",
        "publishes it as block 4 of anon's chain",
        "valid (a set of 3, recomputed from stored chains) (one of alice, bob, charlie",
        "bob rejects it as a double claim",
        "demo complete",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn format1_directories_migrate_and_fsck_reports_a_torn_tail() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    ok(&a, &["keygen", "--seed", &"33".repeat(32)]);
    for i in 0..3 {
        ok(&a, &["post", &format!("old format post {i}")]);
    }
    let file = tmp.path().join("a.chain");
    ok(&a, &["export", file.to_str().unwrap()]);
    // A format-1 directory: identity plus chains/<author>.chain, no image.
    let old = tmp.path().join("old");
    std::fs::create_dir_all(old.join("chains")).unwrap();
    std::fs::copy(a.join("identity.seed"), old.join("identity.seed")).unwrap();
    let who = ok(&a, &["whoami"]);
    let key = who.split_whitespace().next().unwrap().to_string();
    std::fs::copy(&file, old.join("chains").join(format!("{key}.chain"))).unwrap();
    let feed = ok(&old, &["feed"]);
    assert!(feed.contains("old format post 2"), "{feed}");
    assert!(old.join("chain.img").exists() && old.join("chains.migrated").is_dir());
    ok(&old, &["post", "after migration"]);
    let report = ok(&old, &["fsck"]);
    assert!(
        report.contains("records: 4 blocks by 1 authors") && report.contains("torn tail: none"),
        "{report}"
    );

    // Tear the last append: clear its commit word by overwriting the image's last
    // written bytes with erased flash (0xFF) as a power cut mid-append would leave.
    let img = old.join("chain.img");
    let mut bytes = std::fs::read(&img).unwrap();
    let end = bytes.iter().rposition(|b| *b != 0xff).unwrap();
    for b in &mut bytes[end - 3..=end] {
        *b = 0xff;
    }
    std::fs::write(&img, &bytes).unwrap();
    // The session record says the `post` session ended cleanly with seq 4: a block lost
    // since is damage, not a torn append.
    let o = glitter(&old, &["fsck"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("only up to seq 3 but seq 4 was committed"),
        "{err}"
    );
    // What a power cut during that `post` leaves: the record its session opened with.
    std::fs::write(
        old.join("chain.img.state"),
        format!("glitter image state 1\nsession open\nhead {key} 3\n"),
    )
    .unwrap();
    let report = ok(&old, &["fsck"]);
    assert!(
        report.contains("records: 3 blocks")
            && report.contains("was discarded")
            && report.contains("did NOT end cleanly"),
        "{report}"
    );
    // Nothing committed earlier is lost, and the chain goes on from the repaired head.
    let feed = ok(&old, &["feed"]);
    assert!(
        feed.contains("old format post 2") && !feed.contains("after migration"),
        "{feed}"
    );
    ok(&old, &["post", "again"]);
    let out = ok(
        &old,
        &["export", tmp.path().join("b.chain").to_str().unwrap()],
    );
    assert!(out.contains("exported 4 blocks"), "{out}");
    ok(
        &old,
        &["verify", tmp.path().join("b.chain").to_str().unwrap()],
    );
}

/// `glitter claim` and `glitter verify-claim`: a post-count claim verified by another
/// holder of the same chains, a verifier missing a chain (set unknown), a double
/// claim, a key claim and a member claim.
#[test]
fn claims_are_published_and_verified_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let [alice, bob, carol] = ["alice", "bob", "carol"].map(|n| tmp.path().join(n));
    let key = |d: &Path, seed: &str| {
        ok(d, &["keygen", "--seed", &seed.repeat(32)]);
        ok(d, &["whoami"])
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let a = key(&alice, "11");
    let b = key(&bob, "22");
    key(&carol, "33");
    for d in [&alice, &bob] {
        ok(d, &["post", "one"]);
        ok(d, &["post", "two"]);
    }
    ok(&alice, &["follow", &b]);
    let share = |from: &Path, author: &str, to: &[&Path]| {
        let file = tmp.path().join(format!("{author}.chain"));
        ok(
            from,
            &["export", file.to_str().unwrap(), "--author", author],
        );
        for d in to {
            ok(d, &["import", file.to_str().unwrap()]);
        }
    };
    share(&bob, &b, &[&alice]);
    let out = ok(
        &alice,
        &[
            "claim",
            "post-count",
            "--min-posts",
            "2",
            "--context",
            "poll",
            "--message",
            "yes",
        ],
    );
    assert!(
        out.contains(
            "claimed one of the 2 authors whose chain has at least 2 posts, linkable as block 4"
        ),
        "{out}"
    );
    assert!(out.contains("(320-byte proof, a set of 2)"), "{out}");
    let refused = fails(
        &alice,
        &[
            "claim",
            "post-count",
            "--min-posts",
            "3",
            "--context",
            "poll",
        ],
    );
    assert!(refused.contains("fewer posts"), "{refused}");

    share(&alice, &a, &[&bob, &carol]);
    let block = format!("{a}:4");
    let out = ok(&bob, &["verify-claim", &block]);
    assert!(
        out.contains("valid (a set of 2, recomputed from stored chains)"),
        "{out}"
    );
    assert!(out.contains("context \"poll\", message \"yes\""), "{out}");
    // Carol lacks bob's chain: she recomputes another set.
    let err = fails(&carol, &["verify-claim", &block]);
    assert!(err.contains("set unknown"), "{err}");

    // A second claim in the same context is a double claim; another context is not.
    ok(
        &alice,
        &[
            "claim",
            "post-count",
            "--min-posts",
            "2",
            "--context",
            "poll",
        ],
    );
    ok(
        &alice,
        &[
            "claim",
            "post-count",
            "--min-posts",
            "1",
            "--context",
            "other",
        ],
    );
    share(&alice, &a, &[&bob]);
    let err = fails(&bob, &["verify-claim", &format!("{a}:5")]);
    assert!(
        err.contains(&format!("double claim: {a}:4 claimed first")),
        "{err}"
    );
    ok(&bob, &["verify-claim", &format!("{a}:6")]);

    // A pseudonym publishes what alice proves with her own key: the set is the
    // authors the pseudonym follows, and the block's author is the pseudonym.
    let anon = tmp.path().join("anon");
    let n = key(&anon, "44");
    ok(&anon, &["follow", &a]);
    ok(&anon, &["follow", &b]);
    share(&alice, &a, &[&anon]);
    share(&bob, &b, &[&anon]);
    let out = ok(
        &anon,
        &[
            "claim",
            "post-count",
            "--min-posts",
            "2",
            "--context",
            "anon poll",
            "--prove-with",
            alice.to_str().unwrap(),
        ],
    );
    assert!(out.contains("as block 3"), "{out}");
    share(&anon, &n, &[&bob]);
    let out = ok(&bob, &["verify-claim", &format!("{n}:3")]);
    assert!(
        out.contains("valid (a set of 2, recomputed from stored chains)"),
        "{out}"
    );
    // Carol's key is not in the pseudonym's set: refused before anything is appended.
    let err = fails(
        &anon,
        &[
            "claim",
            "post-count",
            "--min-posts",
            "1",
            "--context",
            "c",
            "--prove-with",
            carol.to_str().unwrap(),
        ],
    );
    assert!(err.contains("the publisher does not follow it"), "{err}");

    // A key claim and a member claim.
    let out = ok(&bob, &["claim", "key", "--context", "login"]);
    assert!(
        out.contains("claimed control of its key as block 3"),
        "{out}"
    );
    ok(&bob, &["verify-claim", &format!("{b}:3")]);
    let out = ok(
        &bob,
        &[
            "claim",
            "member",
            "--member",
            &a,
            "--member",
            &b,
            "--context",
            "club",
        ],
    );
    assert!(
        out.contains("one of a set of 2 keys, linkable as block 4"),
        "{out}"
    );
    let err = fails(&bob, &["verify-claim", &format!("{b}:4")]);
    assert!(err.contains("no set was given"), "{err}");
    ok(
        &bob,
        &[
            "verify-claim",
            &format!("{b}:4"),
            "--member",
            &b,
            "--member",
            &a,
        ],
    );
    let err = fails(&bob, &["verify-claim", &format!("{b}:4"), "--member", &b]);
    assert!(err.contains("set unknown"), "{err}");
    let err = fails(&bob, &["verify-claim", &format!("{b}:1")]);
    assert!(err.contains("no claim block"), "{err}");
    let err = fails(
        &carol,
        &["claim", "member", "--member", &a, "--context", "x"],
    );
    assert!(err.contains("not in the set"), "{err}");
}
