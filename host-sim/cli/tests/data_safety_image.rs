//! The flash image's data-safety rules through the real binary (issue 14): after any
//! single bit flip or truncation of a committed image, every read command (`fsck`,
//! `feed`, `whoami`, `export`) leaves the data directory byte-identical and either
//! shows every committed block or exits non-zero naming the image; `fsck --repair`
//! keeps a copy and names exactly the blocks it lost; read commands work in a
//! read-only directory; and `fsck` tells a clean shutdown from a crash.
//!
//! The expectations are independent of the code under test: the committed blocks are
//! the ones the test posted and imported, and the record layout is read from the
//! image with the format's own field positions (docs/STORAGE.md).

mod cli_common;
mod net_common;

use cli_common::{Rng, command, fails, glitter, is_root, ok, snapshot, snapshot_meta};
use glitter_core::store::format::{Geometry, RECORD_PREFIX_LEN, RecordHead, decode_record_head};
use glitter_core::wire::header::Header;
use std::path::{Path, PathBuf};

const PAGE: usize = 4096;
const SUITE: &str = "data_safety_image";
const BOB_POSTS: usize = 5;
const ALICE_POSTS: usize = 25;

/// One committed record, as laid out in the image.
#[derive(Clone, Debug)]
struct Record {
    start: usize,
    len: usize,
    author: String,
    seq: u64,
}

/// A data directory holding two authors' chains over several pages.
struct Fixture {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    alice: String,
    bob: String,
    /// A unique word of every post, as `feed` must show it.
    markers: Vec<String>,
    records: Vec<Record>,
    image: Vec<u8>,
}

impl Fixture {
    fn total(&self) -> usize {
        BOB_POSTS + ALICE_POSTS
    }

    fn image_path(&self) -> PathBuf {
        self.data.join("chain.img")
    }

    /// The byte just past the last record.
    fn end(&self) -> usize {
        self.records.last().map_or(0, |r| r.start + r.len)
    }

    fn pages_used(&self) -> usize {
        self.end().div_ceil(PAGE)
    }
}

fn keygen(dir: &Path, seed_byte: u8) -> String {
    let out = ok(
        dir,
        &["keygen", "--seed", &format!("{seed_byte:02x}").repeat(32)],
    );
    out.lines()
        .next()
        .and_then(|l| l.strip_prefix("created identity "))
        .expect("keygen prints the identity")
        .trim()
        .to_string()
}

/// The committed records of a host image (4 KiB pages, 4-byte writes), page by page.
fn layout(image: &[u8]) -> Vec<Record> {
    let geo = Geometry {
        page_size: PAGE as u32,
        pages: (image.len() / PAGE) as u32,
        align: 4,
    };
    let mut out = Vec::new();
    for (p, page) in image.chunks_exact(PAGE).enumerate() {
        let mut at = geo.data_start() as usize;
        while at + 224 <= PAGE {
            let RecordHead::Valid { payload_len, .. } = decode_record_head(&geo, &page[at..])
            else {
                break;
            };
            let h =
                Header::decode(&page[at + RECORD_PREFIX_LEN..at + 224]).expect("a block header");
            let len = geo.record_len(payload_len) as usize;
            out.push(Record {
                start: p * PAGE + at,
                len,
                author: h.author.to_string(),
                seq: h.seq,
            });
            at += len;
        }
    }
    out
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let bob_dir = tmp.path().join("bob");
    let data = tmp.path().join("alice");
    let bob = keygen(&bob_dir, 0x22);
    let mut markers = Vec::new();
    for i in 0..BOB_POSTS {
        markers.push(format!("bob-post-{i}"));
        ok(&bob_dir, &["post", &format!("bob-post-{i} hello")]);
    }
    let bob_file = tmp.path().join("bob.chain");
    ok(&bob_dir, &["export", bob_file.to_str().expect("utf-8")]);
    let alice = keygen(&data, 0x11);
    ok(&data, &["import", bob_file.to_str().expect("utf-8")]);
    for i in 0..ALICE_POSTS {
        markers.push(format!("alice-post-{i:02}"));
        let text = format!(
            "alice-post-{i:02} {}",
            "long enough to fill pages ".repeat(14)
        );
        ok(&data, &["post", &text]);
    }
    let image = std::fs::read(data.join("chain.img")).expect("image");
    let records = layout(&image);
    assert_eq!(
        records.len(),
        BOB_POSTS + ALICE_POSTS,
        "records in the image"
    );
    let fx = Fixture {
        _tmp: tmp,
        data,
        alice,
        bob,
        markers,
        records,
        image,
    };
    assert!(fx.pages_used() >= 4, "{} pages", fx.pages_used());
    fx
}

/// What one read command did with a damaged image.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It showed every committed block.
    All,
    /// It exited non-zero, naming the image.
    Refused,
}

/// Whether a read command's output shows every committed block.
type ShowsAll<'a> = dyn Fn(&str) -> bool + 'a;

/// Runs every read command on `fx`'s data directory as it now is. Each must leave the
/// directory exactly as it was and either show every committed block or exit non-zero
/// naming the image; `what` describes the damage for the failure message.
fn read_commands(fx: &Fixture, data: &Path, export_to: &Path, what: &str) -> Vec<Verdict> {
    let export = export_to.to_str().expect("utf-8");
    let checks: [(&[&str], &ShowsAll); 4] = [
        (&["fsck"], &|out| {
            out.contains(&format!("records: {} blocks", fx.total()))
        }),
        (&["feed"], &|out| fx.markers.iter().all(|m| out.contains(m))),
        (&["whoami"], &|out| {
            out.contains(&format!("chain: {ALICE_POSTS} blocks"))
        }),
        (&["export", export], &|out| {
            out.contains(&format!("exported {ALICE_POSTS} blocks"))
        }),
    ];
    let mut verdicts = Vec::new();
    for (args, shows_all) in checks {
        let before = snapshot_meta(data);
        let o = glitter(data, args);
        assert!(
            snapshot_meta(data) == before,
            "{what}: `glitter {}` changed the data directory",
            args.join(" ")
        );
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        if o.status.success() {
            assert!(
                shows_all(&out),
                "{what}: `glitter {}` exited 0 without every committed block:\n{out}",
                args.join(" ")
            );
            verdicts.push(Verdict::All);
        } else {
            assert!(
                err.contains("chain.img") && err.trim().lines().count() == 1,
                "{what}: `glitter {}` failed without one line naming the image: {err}",
                args.join(" ")
            );
            verdicts.push(Verdict::Refused);
        }
    }
    let _ = std::fs::remove_file(export_to);
    verdicts
}

/// Every bit of the page headers in use and of the page after; every bit of the first
/// and last records' heads and commit words, and a sample of their payload bits; every
/// commit word; and a seeded sample of all other bits.
fn bits_to_flip(fx: &Fixture, rng: &mut Rng) -> Vec<usize> {
    let mut bits = Vec::new();
    let all_bits = |from: usize, to: usize| (from * 8..to * 8).collect::<Vec<_>>();
    for p in 0..=fx.pages_used() {
        bits.extend(all_bits(p * PAGE, p * PAGE + 24));
    }
    let first = &fx.records[0];
    let last = fx.records.last().expect("records");
    for r in [first, last] {
        bits.extend(all_bits(r.start, r.start + 224));
        bits.extend(all_bits(r.start + r.len - 4, r.start + r.len));
        for _ in 0..64 {
            bits.push((r.start + 224 + rng.below(r.len - 228)) * 8 + rng.below(8));
        }
    }
    for r in &fx.records {
        bits.extend(all_bits(r.start + r.len - 4, r.start + r.len));
    }
    for _ in 0..400 {
        bits.push(rng.below(fx.end() * 8));
    }
    for _ in 0..100 {
        bits.push(rng.below(fx.image.len() * 8));
    }
    bits.sort_unstable();
    bits.dedup();
    bits
}

fn write_image(fx: &Fixture, bytes: &[u8]) {
    std::fs::write(fx.image_path(), bytes).expect("write image");
}

/// Flips each bit of `bits` in a copy of the fixture's data directory, runs every read
/// command, and flips it back. Returns how many runs showed every block and how many
/// refused.
fn flip_each(fx: &Fixture, bits: &[usize], worker: usize) -> (usize, usize) {
    let data = fx._tmp.path().join(format!("worker-{worker}"));
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    for e in std::fs::read_dir(&fx.data).expect("list") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, data.join(p.file_name().expect("name"))).expect("copy");
    }
    let image = data.join("chain.img");
    let export = fx._tmp.path().join(format!("export-{worker}.chain"));
    let (mut all, mut refused) = (0, 0);
    for &bit in bits {
        let mut img = fx.image.clone();
        img[bit / 8] ^= 1 << (bit % 8);
        std::fs::write(&image, &img).expect("write image");
        let what = format!("bit {bit} (byte {}) flipped", bit / 8);
        for v in read_commands(fx, &data, &export, &what) {
            match v {
                Verdict::All => all += 1,
                Verdict::Refused => refused += 1,
            }
        }
        assert!(
            std::fs::read(&image).expect("image") == img,
            "{what}: the image changed"
        );
    }
    (all, refused)
}

#[test]
fn every_bit_flip_shows_every_block_or_fails_and_changes_nothing() {
    let fx = fixture();
    let mut rng = Rng::for_suite(SUITE, "every_bit_flip", 0xB1F1);
    let bits = bits_to_flip(&fx, &mut rng);
    // Two workers, each on its own copy of the data directory.
    let (all, refused) = std::thread::scope(|scope| {
        let workers: Vec<_> = bits
            .chunks(bits.len().div_ceil(2))
            .enumerate()
            .map(|(w, chunk)| {
                let fx = &fx;
                scope.spawn(move || flip_each(fx, chunk, w))
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .fold((0, 0), |(a, r), (a2, r2)| (a + a2, r + r2))
    });
    write_image(&fx, &fx.image);
    println!(
        "{SUITE}: {} bit flips x 4 read commands: {all} showed every block, {refused} \
         refused, 0 silent losses",
        bits.len()
    );
    assert!(all > 0 && refused > 0, "both outcomes occur");
    // The flip the store alone cannot tell from a cut append: a 0 -> 1 flip in the last
    // record's commit word. Committed in a clean session, it is damage.
    let last = fx.records.last().expect("records");
    let mut img = fx.image.clone();
    let byte = last.start + last.len - 4;
    let bit = (0..8)
        .find(|b| img[byte] & (1 << b) == 0)
        .expect("a zero bit");
    img[byte] ^= 1 << bit;
    write_image(&fx, &img);
    let err = fails(&fx.data, &["fsck"]);
    assert!(
        err.contains(&format!(
            "holds {} only up to seq {} but seq {} was committed",
            fx.alice,
            ALICE_POSTS - 1,
            ALICE_POSTS
        )),
        "{err}"
    );
}

#[test]
fn truncation_at_every_page_boundary_and_random_offsets_is_refused() {
    let fx = fixture();
    let mut rng = Rng::for_suite(SUITE, "truncation", 0x7A11);
    let mut lens: Vec<usize> = (0..=fx.pages_used() + 1).map(|p| p * PAGE).collect();
    lens.extend((0..10).map(|_| rng.below(fx.image.len())));
    let export = fx._tmp.path().join("export.chain");
    let size_file = fx.data.join("chain.img.size");
    let size_text = std::fs::read(&size_file).expect("size file");
    let state_file = fx.data.join("chain.img.state");
    let state_text = std::fs::read(&state_file).expect("state file");
    // Each piece of evidence alone catches every truncation that loses a block: the
    // recorded size, then the session record with the size record gone.
    for evidence in ["size", "session"] {
        match evidence {
            "size" => std::fs::remove_file(&state_file).expect("rm state"),
            _ => {
                std::fs::write(&state_file, &state_text).expect("state");
                std::fs::remove_file(&size_file).expect("rm size");
            }
        }
        for &len in &lens {
            write_image(&fx, &fx.image[..len]);
            let what = format!("truncated to {len} bytes, evidence: {evidence}");
            let v = read_commands(&fx, &fx.data, &export, &what);
            if evidence == "size" {
                assert!(v.iter().all(|v| *v == Verdict::Refused), "{what}: {v:?}");
            }
        }
    }
    std::fs::write(&size_file, &size_text).expect("size");
    write_image(&fx, &fx.image);
    ok(&fx.data, &["fsck"]);
    println!(
        "{SUITE}: {} truncations x 2 kinds of evidence: every one refused or whole",
        lens.len()
    );
}

#[test]
fn repair_keeps_a_copy_and_names_exactly_the_lost_blocks() {
    let fx = fixture();
    let copy = fx._tmp.path().join("alice-copy.chain");
    ok(&fx.data, &["export", copy.to_str().expect("utf-8")]);
    // Wipe page 2 (zeros): its records are gone and alice's later blocks no longer link.
    let mut img = fx.image.clone();
    img[2 * PAGE..3 * PAGE].fill(0);
    write_image(&fx, &img);
    let lost_from = fx
        .records
        .iter()
        .find(|r| r.start >= 2 * PAGE)
        .expect("a record on page 2");
    assert_eq!(lost_from.author, fx.alice, "page 2 holds alice's blocks");
    let err = fails(&fx.data, &["fsck"]);
    assert!(err.contains("chain.img"), "{err}");
    let out = ok(&fx.data, &["fsck", "--repair"]);
    let backup = fx.data.join("chain.img.damaged-1");
    assert!(
        std::fs::read(&backup).expect("backup") == img,
        "the copy is the damaged image"
    );
    let kept_alice = lost_from.seq - 1;
    for line in [
        format!("kept {}: seq 1..={BOB_POSTS}", fx.bob),
        format!("kept {}: seq 1..={kept_alice}", fx.alice),
        format!("LOST {}: seq {}..={ALICE_POSTS}", fx.alice, lost_from.seq),
    ] {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
    assert_eq!(out.matches("LOST").count(), 1, "{out}");
    assert!(
        out.contains("your own chain"),
        "warns about the own chain:\n{out}"
    );
    let after = ok(&fx.data, &["fsck"]);
    assert!(
        after.contains(&format!(
            "records: {} blocks",
            BOB_POSTS as u64 + kept_alice
        )) && after.contains("last session: ended cleanly"),
        "{after}"
    );

    // Posting now would fork alice's chain: refused until the lost blocks are back.
    let err = fails(&fx.data, &["post", "too early"]);
    assert!(
        err.contains(&format!(
            "holds blocks up to seq {kept_alice}, but blocks up to seq {ALICE_POSTS} were committed"
        )),
        "{err}"
    );
    // A node on it refuses own posts the same way (and still starts).
    let mut node = net_common::NodeProc::adopt(fx.data.clone(), "alice", &fx.alice);
    node.start();
    let r = glitter_net::control_request(
        &fx.data,
        &glitter_net::Request::Post {
            text: "through the node".into(),
            reply_to: None,
            force: false,
        },
    )
    .expect("the node answers");
    assert!(
        !r.ok
            && r.error
                .as_deref()
                .is_some_and(|e| e.contains("were committed and then lost")),
        "{r:?}"
    );
    ok(&fx.data, &["node", "stop"]);
    node.child.take().map(|mut c| c.wait());
    ok(&fx.data, &["import", copy.to_str().expect("utf-8")]);
    ok(&fx.data, &["post", "back in one piece"]);
    let after = ok(&fx.data, &["whoami"]);
    assert!(
        after.contains(&format!("chain: {} blocks", ALICE_POSTS + 1)),
        "{after}"
    );

    // A committed last block whose commit word rotted leaves no intact record: the
    // session record still names it.
    let fx = fixture();
    let last = fx.records.last().expect("records");
    let mut img = fx.image.clone();
    img[last.start + last.len - 1] ^= 0x80;
    write_image(&fx, &img);
    let out = ok(&fx.data, &["fsck", "--repair"]);
    assert!(
        out.contains(&format!(
            "LOST {}: seq {ALICE_POSTS}..={ALICE_POSTS}",
            fx.alice
        )),
        "{out}"
    );
}

#[test]
fn read_commands_work_in_a_read_only_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let fx = fixture();
    let export = fx._tmp.path().join("ro-export.chain");
    let mut paths = vec![fx.data.clone()];
    for e in std::fs::read_dir(&fx.data).expect("list") {
        paths.push(e.expect("entry").path());
    }
    // As root, permissions do not bind: run the commands as `nobody` on a directory it
    // owns but cannot write.
    let nobody = 65534;
    for p in &paths {
        if is_root() {
            std::os::unix::fs::chown(p, Some(nobody), Some(nobody)).expect("chown");
        }
        let mode = if p.is_dir() { 0o500 } else { 0o400 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    if is_root() {
        std::fs::set_permissions(fx._tmp.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod tmp");
    }
    let before = snapshot(&fx.data);
    let export_arg = export.to_str().expect("utf-8");
    for (args, expect) in [
        (vec!["fsck"], format!("records: {} blocks", fx.total())),
        (vec!["feed"], "alice-post-24".to_string()),
        (vec!["whoami"], format!("chain: {ALICE_POSTS} blocks")),
        (
            vec!["export", export_arg],
            format!("exported {ALICE_POSTS} blocks"),
        ),
    ] {
        let mut c = command(&fx.data, &args);
        if is_root() {
            c.uid(nobody).gid(nobody);
        }
        let o = c.output().expect("run glitter");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && out.contains(&expect),
            "{args:?} in a read-only directory: {out} {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    assert!(
        snapshot(&fx.data) == before,
        "a read command changed the directory"
    );
    // A writing command is refused with the OS error, and changes nothing either.
    let mut c = command(&fx.data, &["post", "cannot write"]);
    if is_root() {
        c.uid(nobody).gid(nobody);
    }
    let o = c.output().expect("run glitter");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ermission denied"), "{err}");
    assert!(
        snapshot(&fx.data) == before,
        "a refused post changed the directory"
    );
}

#[test]
fn fsck_tells_a_clean_shutdown_from_a_crash() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut node = net_common::NodeProc::new(tmp.path(), "n", 0x33);
    let d = node.data.clone();
    ok(&d, &["post", "offline"]);
    assert!(ok(&d, &["fsck"]).contains("last session: ended cleanly"));
    node.start();
    node.post("online");
    // While a node runs, it owns the image: fsck says so rather than guessing.
    let running = fails(&d, &["fsck"]);
    assert!(running.contains("a glitter node is running"), "{running}");
    ok(&d, &["node", "stop"]);
    assert!(ok(&d, &["fsck"]).contains("last session: ended cleanly"));
    node.child.take().map(|mut c| c.wait());
    node.start();
    node.post("then killed");
    // A running node records its heads every few seconds when blocks arrived.
    let state = d.join("chain.img.state");
    net_common::wait_for(
        "the node to record its head",
        std::time::Duration::from_secs(15),
        || {
            let text = std::fs::read_to_string(&state).ok()?;
            (text.contains("session open") && text.contains(&format!("{} 3", node.author)))
                .then_some(())
        },
    );
    node.kill9();
    let crashed = ok(&d, &["fsck"]);
    assert!(
        crashed.contains("last session: did NOT end cleanly"),
        "{crashed}"
    );
    assert!(crashed.contains("records: 3 blocks"), "{crashed}");
    // The node committed through its group-commit journal, which a crash leaves
    // behind (the next open replays it). Rot there fails the record's CRC, so the
    // image's own bytes are what a mount reads.
    let journal_path = d.join("chain.img.journal");
    let mut journal = std::fs::read(&journal_path).expect("the node's journal");
    assert_eq!(&journal[..4], b"GLJR", "a journal record");
    journal[60] ^= 1;
    std::fs::write(&journal_path, &journal).expect("write");
    // So the block the node stored is covered after its crash too: its commit word
    // rotting is damage, not a torn append.
    let img_path = d.join("chain.img");
    let image = std::fs::read(&img_path).expect("image");
    let last = layout(&image).pop().expect("records");
    let mut img = image.clone();
    let byte = last.start + last.len - 4;
    let bit = (0..8)
        .find(|b| img[byte] & (1 << b) == 0)
        .expect("a zero bit");
    img[byte] ^= 1 << bit;
    std::fs::write(&img_path, &img).expect("write");
    let err = fails(&d, &["fsck"]);
    assert!(
        err.contains("only up to seq 2 but seq 3 was committed"),
        "{err}"
    );
    std::fs::write(&img_path, &image).expect("write");
    // The next writer moves on; its clean close is recorded.
    ok(&d, &["post", "after the crash"]);
    let after = ok(&d, &["fsck"]);
    assert!(
        after.contains("last session: ended cleanly") && after.contains("records: 4 blocks"),
        "{after}"
    );
}

#[test]
fn a_damaged_first_page_is_named_damage_and_the_node_refuses_a_damaged_image() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path().join("one-page");
    keygen(&d, 0x44);
    ok(&d, &["post", "the only post"]);
    let img_path = d.join("chain.img");
    let image = std::fs::read(&img_path).expect("image");
    // One bit of page 0's header: with no other page in use, the store alone sees no
    // glitter log at all ("not formatted"); the directory knows it made one.
    let mut img = image.clone();
    img[8] ^= 1;
    std::fs::write(&img_path, &img).expect("write");
    for args in [&["feed"][..], &["fsck"], &["whoami"], &["post", "x"]] {
        let err = fails(&d, args);
        assert!(
            err.contains("damaged flash image: no valid glitter page header")
                && !err.contains("not formatted"),
            "{args:?}: {err}"
        );
    }
    assert!(
        std::fs::read(&img_path).expect("image") == img,
        "nothing wrote"
    );
    // The node refuses to start on it, with the same one-line error.
    let o = command(&d, &["node", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .output()
        .expect("run glitter node");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("damaged flash image"),
        "{err}"
    );
    assert!(
        std::fs::read(&img_path).expect("image") == img,
        "the node wrote"
    );
}
