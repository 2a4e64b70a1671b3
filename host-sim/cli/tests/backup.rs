//! The `backup` scenario's acceptance checks: restore success matches the binomial,
//! restores never fork, storage is about 1/k, and the CLI round trip works.

use glitter::commands::backup::{BackupCommand, RestoreArgs, run_backup, run_restore};
use glitter_host::datadir::DataDir;
use glitter_sim::backup::{BackupPlan, NoForkPlan, backup, binomial_at_least, no_forks, storage};

fn replay(seed: u64, what: &str) -> String {
    format!("seed {seed}; replay: cargo test -p glitter-sim --test backup {what}")
}

#[test]
fn binomial_reference_values() {
    assert!((binomial_at_least(3, 5, 0.7) - 0.83692).abs() < 1e-4);
    assert!((binomial_at_least(4, 7, 0.7) - 0.87396).abs() < 1e-4);
    assert!((binomial_at_least(2, 2, 1.0) - 1.0).abs() < 1e-12);
}

#[test]
fn success_rate_matches_binomial_3_of_5_and_4_of_7() {
    for (k, n, seed) in [(3u8, 5u8, 7u64), (4, 7, 8)] {
        let plan = BackupPlan {
            users: 12,
            custodians: n,
            threshold: k,
            p_online: 0.7,
            trials: 2_000,
            posts: 5,
        };
        let o = backup(seed, &plan).unwrap();
        eprintln!(
            "({k},{n}) p=0.7: {} / {} = {:.4}, expected {:.4}, deviation {:.2} pp",
            o.successes, plan.trials, o.success_rate, o.expected_rate, o.deviation_pp
        );
        assert_eq!(o.wrong_restores, 0, "{}", replay(seed, "success_rate"));
        assert_eq!(
            o.refused,
            0,
            "honest custodians refused: {}",
            replay(seed, "success_rate")
        );
        // Every trial with k online restores; none with fewer does.
        assert_eq!(o.successes, o.k_online, "{}", replay(seed, "success_rate"));
        assert!(
            o.deviation_pp <= 3.0,
            "{:?} {}",
            o,
            replay(seed, "success_rate")
        );
    }
}

#[test]
fn a_thousand_restores_never_fork() {
    let seed = 11;
    let plan = NoForkPlan::default();
    let o = no_forks(seed, &plan).unwrap();
    eprintln!("{}", serde_json::to_string(&o).unwrap());
    assert_eq!(o.restores, 1_000, "{}", replay(seed, "never_fork"));
    assert_eq!(o.forks, 0, "{}", replay(seed, "never_fork"));
    assert!(o.with_stale_device >= 300, "{}", replay(seed, "never_fork"));
    // The check has teeth: appending right after decoding would have forked often.
    assert!(o.naive_forks > 100, "{:?}", o);
}

#[test]
fn storage_per_custodian_is_about_one_kth() {
    for (k, n) in [(2u8, 3u8), (3, 5), (4, 7)] {
        let s = storage(5, 1_000, k, n).unwrap();
        eprintln!(
            "1000 posts, ({k},{n}): chain {} B, per custodian {} B, ratio {:.4} (1/k = {:.4}), overhead {} B",
            s.chain_bytes, s.bytes_per_custodian, s.ratio, s.ideal_ratio, s.overhead_bytes
        );
        // Overhead: sealed share 140 B, shard header 96 B, table 32·n B, tag and padding.
        let bound = 140 + 96 + 32 * i64::from(n) + 16 + i64::from(k);
        assert!(s.overhead_bytes > 0 && s.overhead_bytes <= bound, "{s:?}");
        assert!((s.ratio - s.ideal_ratio).abs() < 0.01);
    }
}

#[test]
fn cli_create_status_restore_with_a_tampered_custodian() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let now = 1_700_000_000_000u64;
    // Owner and four custodians.
    let (owner, alice, custodians) =
        owner_and_custodians(tmp.path(), &["bob", "carol", "dave", "erin"]);
    for i in 0..5 {
        post(&owner, &format!("hello {i}"), now + i);
    }
    let out = run_backup(
        &dir("alice"),
        BackupCommand::Create {
            custodians: custodians.clone(),
            threshold: 3,
        },
        now + 10,
    )
    .unwrap();
    assert!(out.last().unwrap().contains("version 1 (full)"), "{out:?}");
    // Two more posts and an incremental backup.
    for i in 5..7 {
        post(&owner, &format!("hello {i}"), now + 20 + i);
    }
    let out = run_backup(
        &dir("alice"),
        BackupCommand::Create {
            custodians: custodians.clone(),
            threshold: 3,
        },
        now + 40,
    )
    .unwrap();
    assert!(
        out.last().unwrap().contains("version 2 (incremental)"),
        "{out:?}"
    );
    let status = run_backup(&dir("alice"), BackupCommand::Status, now + 50).unwrap();
    assert!(status[0].contains("backup version 2"), "{status:?}");
    assert_eq!(status.iter().filter(|l| l.contains("range seq")).count(), 2);
    // Erin's share gets corrupted on disk.
    let share = dir("erin")
        .join("custody")
        .join(alice.to_string())
        .join("share-v2.bin");
    let mut b = std::fs::read(&share).unwrap();
    b[100] ^= 1;
    std::fs::write(&share, b).unwrap();
    // A peer holds the full chain (Bob imported it).
    let full = owner.chain(&alice).unwrap();
    DataDir::open(&dir("bob")).unwrap().import(&full).unwrap();
    let out = restore_dirs(&dir("new-phone"), &alice, &custodians, &[dir("bob")]).unwrap();
    let text = out.join("\n");
    assert!(text.contains("no answer"), "{text}");
    assert!(text.contains("recovered the identity"), "{text}");
    let restored = DataDir::open(&dir("new-phone")).unwrap();
    assert_eq!(restored.identity().unwrap().public(), alice);
    assert_eq!(
        restored.chain(&alice).unwrap().headers.len(),
        full.headers.len()
    );
    // Restoring again into a directory with an identity is refused.
    assert!(restore_dirs(&dir("new-phone"), &alice, &custodians, &[]).is_err());
}

/// An owner `alice` (seed 1…1) and custodians `names` (seeds 2…2, 3…3, …), each a
/// data directory under `root` with an identity.
fn owner_and_custodians(
    root: &std::path::Path,
    names: &[&str],
) -> (
    DataDir,
    glitter_core::sig::PublicKey,
    Vec<std::path::PathBuf>,
) {
    let owner = DataDir::open(&root.join("alice")).unwrap();
    let alice = owner.create_identity([1; 32]).unwrap().public();
    let mut custodians = Vec::new();
    for (i, c) in names.iter().enumerate() {
        let d = root.join(c);
        DataDir::open(&d)
            .unwrap()
            .create_identity([i as u8 + 2; 32])
            .unwrap();
        custodians.push(d);
    }
    (owner, alice, custodians)
}

/// Appends a post of `text` to the owner's chain, stamped `at`.
fn post(owner: &DataDir, text: &str, at: u64) -> glitter_core::wire::header::Header {
    owner
        .append_own(
            &glitter_core::social::Payload::post(text, None).unwrap(),
            at,
        )
        .unwrap()
}

/// `glitter restore` from custodian and peer directories.
fn restore_dirs(
    to: &std::path::Path,
    owner: &glitter_core::sig::PublicKey,
    custodians: &[std::path::PathBuf],
    peers: &[std::path::PathBuf],
) -> anyhow::Result<Vec<String>> {
    let arg = |p: &std::path::PathBuf| p.display().to_string();
    run_restore(
        to,
        RestoreArgs {
            owner: owner.to_string(),
            custodians: custodians.iter().map(arg).collect(),
            peers: peers.iter().map(arg).collect(),
            wait: 0,
        },
    )
}

/// Copies a directory tree (custody directories are flat, one level).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A custodian crash part-way through storing a new version leaves the previous
/// version whole; the first layout (unversioned names) still reads and is replaced by
/// the next write; and when the newest version has fewer than k holders, a restore
/// falls back to the previous version, whose holders still have it.
#[test]
fn custody_survives_partial_writes_and_restore_falls_back_a_version() {
    use glitter_host::backup::read_custody;
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let now = 1_700_000_000_000u64;
    let (owner, alice, custodians) = owner_and_custodians(tmp.path(), &["bob", "carol", "dave"]);
    let post = |i: u64| {
        post(&owner, &format!("post {i}"), now + i);
    };
    (0..4).for_each(post);
    let create = |t: u64| {
        run_backup(
            &dir("alice"),
            BackupCommand::Create {
                custodians: custodians.clone(),
                threshold: 2,
            },
            now + t,
        )
        .unwrap()
    };
    create(10);
    let cdir = |c: &str| dir(c).join("custody").join(alice.to_string());
    let v1 = read_custody(&dir("carol"), &alice).unwrap().unwrap();
    assert_eq!(v1.manifest.version, 1);
    // Save Carol's and Dave's version 1.
    copy_dir(&cdir("carol"), &dir("carol-v1"));
    copy_dir(&cdir("dave"), &dir("dave-v1"));
    (20..23).for_each(post);
    create(30);

    // (a) A crash after the new share and shard were written, before the manifest:
    // version 1's manifest with version 2's extra files beside it still reads as v1.
    copy_dir(&cdir("carol"), &dir("carol-v2"));
    copy_dir(&dir("carol-v1"), &cdir("carol"));
    for e in std::fs::read_dir(dir("carol-v2")).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "manifest.block" {
            std::fs::copy(e.path(), cdir("carol").join(e.file_name())).unwrap();
        }
    }
    let back = read_custody(&dir("carol"), &alice).unwrap().unwrap();
    assert_eq!(back.manifest.version, 1);
    assert_eq!(back.share, v1.share);
    assert_eq!(back.records, v1.records);

    // (b) The first layout: unversioned names still read.
    let legacy = dir("legacy");
    copy_dir(
        &dir("dave-v1"),
        &legacy.join("custody").join(alice.to_string()),
    );
    let ldir = legacy.join("custody").join(alice.to_string());
    for e in std::fs::read_dir(&ldir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".bin").or(name.strip_suffix(".shard")) {
            let (base, _) = stem.rsplit_once("-v").unwrap();
            let ext = if name.ends_with(".bin") {
                "bin"
            } else {
                "shard"
            };
            std::fs::rename(ldir.join(&name), ldir.join(format!("{base}.{ext}"))).unwrap();
        }
    }
    assert!(ldir.join("share.bin").exists());
    let old = read_custody(&legacy, &alice).unwrap().unwrap();
    assert_eq!(old.manifest.version, 1);
    glitter_host::backup::write_custody(&legacy, &old).unwrap();
    assert!(
        !ldir.join("share.bin").exists(),
        "the first layout's files stay behind"
    );
    assert_eq!(
        read_custody(&legacy, &alice).unwrap().unwrap().share,
        old.share
    );

    // (c) Version 2 reached only Bob (Carol and Dave hold version 1): the restore
    // falls back to version 1. Bob's verified version-2 manifest still proves the chain
    // reached its seq, so without a peer to supply the blocks up to it, nothing is
    // written: appending after version 1's blocks would fork the chain (issue 15
    // item 10).
    copy_dir(&dir("dave-v1"), &cdir("dave"));
    let v2_seq = read_custody(&dir("bob"), &alice)
        .unwrap()
        .unwrap()
        .manifest_block
        .0
        .seq;
    let err = restore_dirs(&dir("phone-without-peers"), &alice, &custodians, &[])
        .expect_err("a fallback without peers is refused");
    assert!(
        format!("{err:#}").contains(&format!("the manifest is block {v2_seq}")),
        "{err:#}"
    );
    assert!(
        !dir("phone-without-peers").join("identity.seed").exists(),
        "nothing written"
    );
    // With a peer holding the chain, the restore takes the rest from it.
    let full = owner.chain(&alice).unwrap();
    DataDir::open(&dir("bob")).unwrap().import(&full).unwrap();
    let out = restore_dirs(&dir("new-phone"), &alice, &custodians, &[dir("bob")]).unwrap();
    let text = out.join("\n");
    assert!(text.contains("used an older version"), "{text}");
    assert!(text.contains("from backup version 1"), "{text}");
    let restored = DataDir::open(&dir("new-phone")).unwrap();
    assert_eq!(restored.identity().unwrap().public(), alice);
    assert_eq!(
        restored.chain(&alice).unwrap().headers.len(),
        full.headers.len()
    );
}

/// Timing figures for docs/PERFORMANCE.md (ignored by default; run with
/// `cargo test --release -p glitter --test backup perf_figures -- --ignored --nocapture`).
#[test]
#[ignore]
fn perf_figures() {
    use glitter_core::backup::{erasure, seal, share_seed};
    use glitter_core::sig::KeyPair;
    use std::time::Instant;
    let owner = KeyPair::from_seed([1; 32]).unwrap();
    let custs: Vec<_> = (0..16u8)
        .map(|i| KeyPair::from_seed([i + 2; 32]).unwrap().public())
        .collect();
    let reps = 50;
    for (k, n) in [(3u8, 5usize), (4, 7), (11, 16)] {
        let t = Instant::now();
        for r in 0..reps {
            share_seed(&owner.seed(), 1, k, &custs[..n], &[r as u8; 32]).unwrap();
        }
        eprintln!(
            "share_seed ({k},{n}): {:.2} ms",
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        );
    }
    let data = vec![0xabu8; 277_000];
    for (k, n) in [(3u8, 5u8), (4, 7), (11, 16)] {
        let l = erasure::shard_len(data.len(), k);
        let mut shards = vec![vec![0u8; l]; n as usize];
        let t = Instant::now();
        for (i, s) in shards.iter_mut().enumerate() {
            erasure::encode_shard(&data, k, n, i as u8, s).unwrap();
        }
        let enc = t.elapsed();
        let set: Vec<(u8, &[u8])> = (n - k..n)
            .map(|i| (i, shards[i as usize].as_slice()))
            .collect();
        let mut out = vec![0u8; data.len()];
        let t = Instant::now();
        erasure::decode(&set, k, n, data.len(), &mut out).unwrap();
        let dec = t.elapsed();
        assert_eq!(out, data);
        eprintln!(
            "erasure 277 KB ({k},{n}): encode all shards {:.1} ms, decode from the last k {:.1} ms",
            enc.as_secs_f64() * 1e3,
            dec.as_secs_f64() * 1e3
        );
    }
    let mut buf = data.clone();
    buf.extend_from_slice(&[0; 16]);
    let t = Instant::now();
    glitter_core::backup::shard::seal_range(
        &owner.seed(),
        &owner.public(),
        1,
        1,
        1000,
        &mut buf,
        data.len(),
    )
    .unwrap();
    eprintln!(
        "ChaCha20-Poly1305 277 KB: {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let dev = seal::RequesterKey::new([7; 32]).unwrap();
    let c = KeyPair::from_seed([2; 32]).unwrap();
    let s = share_seed(&owner.seed(), 1, 2, &custs[..3], &[0; 32]).unwrap();
    let t = Instant::now();
    for _ in 0..reps {
        let r = seal::release_share(&c.seed(), &s.sealed[0], &dev.public()).unwrap();
        seal::open_release(&dev, &r).unwrap();
    }
    eprintln!(
        "custodian release + device open: {:.3} ms",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
    let t = Instant::now();
    let st = storage(5, 1_000, 3, 5).unwrap();
    eprintln!(
        "backup of a 1000-post chain (3,5), incl. building the chain: {:.0} ms ({} B per custodian)",
        t.elapsed().as_secs_f64() * 1e3,
        st.bytes_per_custodian
    );
}

/// Issue 15 item 6: a peer directory whose copy of the owner's chain carries a forged
/// block (valid CRCs and links in its image, content not signed by the owner) is not
/// adopted: the restore names the block and keeps only what verifies.
#[test]
fn restore_refuses_a_forged_block_from_a_peer_directory() {
    use glitter_host::datadir::HostLog;
    use glitter_host::flash_file::FileFlash;
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let now = 1_700_000_000_000u64;
    let (owner, alice, custodians) = owner_and_custodians(tmp.path(), &["bob", "carol", "dave"]);
    let post = |i: u64| post(&owner, &format!("hello {i}"), now + i);
    (0..5).for_each(|i| {
        post(i);
    });
    run_backup(
        &dir("alice"),
        BackupCommand::Create {
            custodians: custodians.clone(),
            threshold: 2,
        },
        now + 10,
    )
    .unwrap();
    let backed_up = owner.chain(&alice).unwrap().headers.len();
    let forged_seq = post(20).seq;
    post(21);
    // Mallory's copy: the owner's chain, with the first block past the backup changed
    // ("hello 20" -> "HACKD 20", same length), written straight into an image, so its
    // CRCs and links check.
    let mut chain = owner.chain(&alice).unwrap();
    let i = usize::try_from(forged_seq - 1).unwrap();
    let p = chain.payloads[i].as_mut().unwrap();
    let at = p.windows(5).position(|w| w == b"hello").unwrap();
    p[at..at + 5].copy_from_slice(b"HACKD");
    std::fs::create_dir_all(dir("mallory")).unwrap();
    let image = dir("mallory").join("chain.img");
    // A mounted log is large: build it on a thread with room for it.
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            let flash = FileFlash::create(image, 1 << 20).unwrap();
            let mut log = HostLog::format(flash).unwrap();
            for (h, p) in chain.headers.iter().zip(&chain.payloads) {
                glitter_core::store::BlockLog::append(&mut log, h, p.as_deref().unwrap()).unwrap();
            }
        })
        .unwrap()
        .join()
        .unwrap();
    let out = restore_dirs(&dir("new-phone"), &alice, &custodians, &[dir("mallory")]).unwrap();
    let text = out.join("\n");
    assert!(
        text.contains(&format!("block {forged_seq} does not verify")),
        "{text}"
    );
    let restored = DataDir::open(&dir("new-phone"))
        .unwrap()
        .chain(&alice)
        .unwrap();
    let honest = owner.chain(&alice).unwrap();
    assert_eq!(restored.headers.len(), backed_up, "{text}");
    for (r, h) in restored.headers.iter().zip(&honest.headers) {
        assert_eq!(r.id(), h.id(), "restored block {} is the owner's", r.seq);
    }
    assert!(
        restored
            .payloads
            .iter()
            .all(|p| !p.as_deref().unwrap().windows(5).any(|w| w == b"HACKD")),
        "a forged post was adopted"
    );
}
