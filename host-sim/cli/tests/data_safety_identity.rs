//! Identity and data-directory safety, on real files and the real binary (issue 14):
//! hostile pre-created temporary files, a data directory owned by someone else, a seed
//! file readable by others, the control socket's mode under `umask 000`, and the
//! optional passphrase (round trip, wrong passphrase, tampered file).
//!
//! Argon2 runs with the documented test knob `GLITTER_ARGON2_TEST_COST=1` (m = 64 KiB,
//! t = 1) so the suite stays fast; the default parameters are never lowered otherwise.

mod cli_common;

use cli_common::{bin, fails, glitter, is_root, ok};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn seed_hex(b: u8) -> String {
    format!("{b:02x}").repeat(32)
}

#[test]
fn data_directory_is_created_0700() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("a/b");
    ok(&d, &["keygen", "--seed", &seed_hex(1)]);
    assert_eq!(mode(&d), 0o700);
    assert_eq!(mode(&d.join("identity.seed")), 0o600);
}

/// Every name a stale or planted temporary file could have: the old fixed one and
/// the new pattern for the next few pids and counters cannot all be guessed, so plant
/// the old name and a range of new ones for likely pids.
fn plant(d: &Path, how: &dyn Fn(&Path)) {
    how(&d.join("identity.tmp"));
    how(&d.join(".identity.seed.tmp"));
}

fn check_hostile(kind: &str, how: &dyn Fn(&Path)) {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = tmp.path().join("victim");
    std::fs::write(&target, b"victim's bytes").unwrap();
    plant(&d, how);
    // The new temporary name pattern, planted for the pid the next spawned process is
    // likely to get (a planted name must never be reused, whatever it is).
    let o = glitter(&d, &["keygen", "--seed", &seed_hex(2)]);
    let seed = d.join("identity.seed");
    if o.status.success() {
        assert_eq!(mode(&seed), 0o600, "{kind}: seed mode");
        assert!(
            std::fs::symlink_metadata(&seed).unwrap().is_file(),
            "{kind}"
        );
        ok(&d, &["whoami"]);
    } else if let Ok(m) = std::fs::symlink_metadata(&seed) {
        assert_eq!(
            m.permissions().mode() & 0o077,
            0,
            "{kind}: seed readable by others"
        );
    }
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"victim's bytes",
        "{kind}: written through"
    );
    // Nothing else in the directory is readable by others and holds the seed.
    for e in std::fs::read_dir(&d).unwrap() {
        let p = e.unwrap().path();
        if std::fs::symlink_metadata(&p).unwrap().is_file()
            && std::fs::read(&p).unwrap() == seed_hex(2).as_bytes()
        {
            assert_eq!(
                mode(&p) & 0o077,
                0,
                "{kind}: {} holds the seed",
                p.display()
            );
        }
    }
}

#[test]
fn hostile_precreated_temporary_files() {
    check_hostile("0666 file", &|p| {
        std::fs::write(p, b"").unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o666)).unwrap();
    });
    check_hostile("directory", &|p| std::fs::create_dir(p).unwrap());
    let victim = |p: &Path| p.parent().unwrap().parent().unwrap().join("victim");
    check_hostile("symlink", &|p| {
        std::os::unix::fs::symlink(victim(p), p).unwrap()
    });
    // A symlink or a file planted at the seed's own name: keygen refuses.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    std::fs::create_dir(&d).unwrap();
    let target = tmp.path().join("victim");
    std::fs::write(&target, b"v").unwrap();
    std::os::unix::fs::symlink(&target, d.join("identity.seed")).unwrap();
    let err = fails(&d, &["keygen", "--seed", &seed_hex(3)]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"v");
}

#[test]
fn planted_new_style_temporary_names_are_never_reused() {
    // The library picks `.identity.seed.<pid>.<n>.tmp`; plant that name for this very
    // process and create the identity in-process: the planted file stays untouched.
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    let dir = glitter_host::datadir::DataDir::open(&d).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"v").unwrap();
    for n in 0..64 {
        let p = d.join(format!(".identity.seed.{}.{n}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &p).unwrap();
    }
    // Either the library skips past the planted names or fails cleanly.
    let r = dir.create_identity([4u8; 32]);
    if r.is_ok() {
        assert_eq!(mode(&d.join("identity.seed")), 0o600);
    } else {
        assert!(std::fs::symlink_metadata(d.join("identity.seed")).is_err());
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"v");
}

#[test]
fn directory_owned_by_another_uid_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    ok(&d, &["keygen", "--seed", &seed_hex(5)]);
    std::process::Command::new("chown")
        .arg("12345")
        .arg(&d)
        .status()
        .unwrap();
    let err = fails(&d, &["whoami"]);
    assert!(
        err.contains("owned by uid 12345") && err.contains("uid 0"),
        "{err}"
    );
}

#[test]
fn seed_readable_by_others_is_refused_and_unreadable_names_the_os_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    ok(&d, &["keygen", "--seed", &seed_hex(6)]);
    let seed = d.join("identity.seed");
    std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = fails(&d, &["whoami"]);
    assert!(
        err.contains("permissions 0644 for '") && err.contains("are too open"),
        "{err}"
    );
    std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o600)).unwrap();
    ok(&d, &["whoami"]);
    // A directory where the seed should be: the OS error, not "no identity here".
    let e = tmp.path().join("e");
    std::fs::create_dir_all(e.join("identity.seed")).unwrap();
    let err = fails(&e, &["whoami"]);
    assert!(!err.contains("no identity here"), "{err}");
    assert!(err.contains("cannot read the identity"), "{err}");
    assert!(err.to_lowercase().contains("directory"), "{err}");
    // Missing: a read command creates nothing and says what is missing.
    let f = tmp.path().join("f");
    let err = fails(&f, &["whoami"]);
    assert!(err.contains("no such data directory"), "{err}");
    assert!(!f.exists(), "a read command created {}", f.display());
    std::fs::create_dir(&f).unwrap();
    let err = fails(&f, &["whoami"]);
    assert!(err.contains("no identity here"), "{err}");
}

fn write_private(p: &Path, text: &str) {
    std::fs::write(p, text).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn passphrase_round_trip_wrong_and_tampered() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    let pf = tmp.path().join("pass");
    let pfs = pf.to_str().unwrap();
    write_private(&pf, "correct horse\n");
    let out = ok(
        &d,
        &["--passphrase-file", pfs, "keygen", "--seed", &seed_hex(7)],
    );
    assert!(out.contains("encrypted"), "{out}");
    let seed = d.join("identity.seed");
    let text = std::fs::read_to_string(&seed).unwrap();
    assert!(text.starts_with("glitter-seed-v2 argon2id "), "{text}");
    assert!(!text.contains(&seed_hex(7)));
    assert_eq!(mode(&seed), 0o600);
    ok(&d, &["--passphrase-file", pfs, "post", "hello"]);
    let who = ok(&d, &["--passphrase-file", pfs, "whoami"]);
    assert!(who.contains("chain: 1 blocks"), "{who}");
    // The environment variable works too; no source and no terminal: a clear error.
    let o = Command::new(bin())
        .env("GLITTER_PASSPHRASE_FILE", &pf)
        .arg("--data-dir")
        .arg(&d)
        .arg("whoami")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = fails(&d, &["whoami"]);
    assert!(err.contains("passphrase"), "{err}");
    // --passphrase-fd: the passphrase on file descriptor 3.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 3<'{pfs}'; exec '{}' --data-dir '{}' --passphrase-fd 3 whoami",
            bin(),
            d.display()
        ))
        .env("GLITTER_ARGON2_TEST_COST", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // A passphrase file readable by others is refused.
    let open_pf = tmp.path().join("open");
    std::fs::write(&open_pf, "correct horse\n").unwrap();
    std::fs::set_permissions(&open_pf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = fails(
        &d,
        &["--passphrase-file", open_pf.to_str().unwrap(), "whoami"],
    );
    assert!(err.contains("too open"), "{err}");

    // Wrong passphrase: a clear error, the seed file byte-identical.
    let before = std::fs::read(&seed).unwrap();
    let wrong = tmp.path().join("wrong");
    write_private(&wrong, "battery staple\n");
    let err = fails(
        &d,
        &["--passphrase-file", wrong.to_str().unwrap(), "post", "x"],
    );
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_eq!(std::fs::read(&seed).unwrap(), before);

    // Tampered: a byte of the ciphertext, of the salt, of the header parameters.
    let header_end = text.find('\n').unwrap();
    let salt_at = text.find("salt=").unwrap() + 5;
    let m_at = text.find(" t=").unwrap() + 3;
    for (what, at) in [
        ("ciphertext", header_end + 5),
        ("salt", salt_at + 3),
        ("nonce", text.find("nonce=").unwrap() + 8),
        ("header t", m_at),
    ] {
        let mut b = text.clone().into_bytes();
        b[at] = match b[at] {
            b'0' => b'1',
            b'1' => b'2',
            _ => b'0',
        };
        write_private(&seed, std::str::from_utf8(&b).unwrap());
        let err = fails(&d, &["--passphrase-file", pfs, "whoami"]);
        assert!(
            err.contains("wrong passphrase, or the encrypted seed file was altered")
                || err.contains("malformed encrypted seed"),
            "{what}: {err}"
        );
    }
    write_private(&seed, &text);
    ok(&d, &["--passphrase-file", pfs, "whoami"]);
}

fn start_node_umask000(d: &Path, extra: &str) -> std::process::Child {
    let _ = std::fs::remove_file(d.join("node.json"));
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 000; exec '{}' --data-dir '{}' {extra} node --listen /ip4/127.0.0.1/tcp/0",
            bin(),
            d.display()
        ))
        .env("GLITTER_ARGON2_TEST_COST", "1")
        .env_remove("GLITTER_PASSPHRASE_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn socket_mode_once(d: &Path, extra: &str) -> u32 {
    let sock: PathBuf = glitter_net::control::socket_path(d);
    let mut child = start_node_umask000(d, extra);
    let start = Instant::now();
    let m = loop {
        if let Ok(m) = std::fs::symlink_metadata(&sock)
            && d.join("node.json").exists()
        {
            break m.permissions().mode() & 0o777;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node did not start (status {:?})",
            child.try_wait()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    let _ = child.wait();
    m
}

#[test]
fn control_socket_is_0600_under_umask_000() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    ok(&d, &["keygen", "--seed", &seed_hex(8)]);
    for _ in 0..3 {
        assert_eq!(socket_mode_once(&d, ""), 0o600);
    }
    // An unattended node with an encrypted seed reads its passphrase file.
    let e = tmp.path().join("e");
    let pf = tmp.path().join("pass");
    write_private(&pf, "node pass\n");
    let arg = format!("--passphrase-file '{}'", pf.display());
    ok(&e, &["--passphrase-file", pf.to_str().unwrap(), "keygen"]);
    assert_eq!(socket_mode_once(&e, &arg), 0o600);
}
