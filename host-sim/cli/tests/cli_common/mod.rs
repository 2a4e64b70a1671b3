//! Shared helpers of the CLI tests: run the real `glitter` binary on a data directory,
//! a seeded generator whose seed each suite prints with its replay command, and a
//! snapshot of a directory's files.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::SystemTime;

/// The `glitter` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_glitter")
}

/// `glitter --data-dir DIR args…`, with no stdin, a 1 MiB image for new data
/// directories, the fast Argon2 test cost, and no passphrase file from the caller's
/// environment.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.env("GLITTER_IMAGE_MIB", "1")
        .env("GLITTER_ARGON2_TEST_COST", "1")
        .env_remove("GLITTER_PASSPHRASE_FILE")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null());
    c
}

/// Runs `glitter --data-dir DIR args…` (see [`command`]).
pub fn glitter(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("run glitter")
}

/// Runs it and returns stdout; fails the test on a non-zero exit.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let o = glitter(dir, args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 stdout")
}

/// Runs it and returns stderr; fails the test on a zero exit.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let o = glitter(dir, args);
    assert!(
        !o.status.success(),
        "{args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr).expect("utf-8 stderr")
}

/// A file's state as a test compares it: bytes, length, mode and modification time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileState {
    /// The contents.
    pub bytes: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
    /// Last modification.
    pub modified: Option<SystemTime>,
}

/// Every file and directory under `dir` (relative names), with contents, mode and
/// modification time (directories have no bytes).
pub fn snapshot(dir: &Path) -> BTreeMap<String, FileState> {
    snapshot_with(dir, true)
}

fn snapshot_with(dir: &Path, contents: bool) -> BTreeMap<String, FileState> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let meta = std::fs::symlink_metadata(&d).expect("stat");
        let name = d
            .strip_prefix(dir)
            .expect("under dir")
            .display()
            .to_string();
        out.insert(
            format!("{name}/"),
            FileState {
                bytes: Vec::new(),
                mode: meta.permissions().mode(),
                modified: meta.modified().ok(),
            },
        );
        for e in std::fs::read_dir(&d).expect("list") {
            let p = e.expect("entry").path();
            let meta = std::fs::symlink_metadata(&p).expect("stat");
            if meta.is_dir() {
                stack.push(p);
            } else {
                let name = p
                    .strip_prefix(dir)
                    .expect("under dir")
                    .display()
                    .to_string();
                out.insert(
                    name,
                    FileState {
                        bytes: if contents {
                            std::fs::read(&p).unwrap_or_default()
                        } else {
                            Vec::new()
                        },
                        mode: meta.permissions().mode(),
                        modified: meta.modified().ok(),
                    },
                );
            }
        }
    }
    out
}

/// [`snapshot`] without file contents (names, modes, modification times): cheap
/// enough to take around every command; any write changes a modification time.
pub fn snapshot_meta(dir: &Path) -> BTreeMap<String, FileState> {
    let mut s = snapshot_with(dir, false);
    s.values_mut().for_each(|f| f.bytes.clear());
    s
}

/// A small seeded generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    /// The generator for `suite`: `GLITTER_TEST_SEED` if set, else `default`. The seed
    /// and the command that replays it are printed.
    pub fn for_suite(suite: &str, test: &str, default: u64) -> Rng {
        let s = std::env::var("GLITTER_TEST_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default);
        eprintln!(
            "{suite}::{test}: seed {s} (replay: GLITTER_TEST_SEED={s} cargo test -p glitter \
             --test {suite} {test})"
        );
        Rng(s)
    }

    /// The generator seeded with `seed` (for suites with their own seed variable).
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (`lo <= hi < u64::MAX`).
    pub fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Whether the tests run as root (which bypasses file permissions).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
