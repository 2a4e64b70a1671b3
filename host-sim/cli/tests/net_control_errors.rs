//! The control client says "no glitter node is running" only when that is what it
//! found (no socket, or a stale one nobody listens on); any other reason it cannot
//! reach the node's control socket is named by its OS error, once, on the one error
//! line of the real binary.

mod net_common;

use net_common::{NodeProc, bin};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `nobody` on Debian and most Linux systems; any uid other than the node's will do.
const OTHER_UID: u32 = 65534;

/// `glitter --data-dir DIR node status`, run as `uid` (and gid) when given.
fn node_status(dir: &Path, uid: Option<u32>) -> Output {
    let mut cmd = Command::new(bin());
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["node", "status"])
        .env_remove("GLITTER_PASSPHRASE_FILE")
        .stdin(Stdio::null());
    if let Some(uid) = uid {
        // Run as root, std also drops the supplementary groups (setgroups(0)).
        cmd.uid(uid).gid(uid);
    }
    cmd.output().expect("run glitter node status")
}

/// The one error line of a failed `node status`.
fn error_line(o: &Output) -> String {
    assert!(!o.status.success(), "node status succeeded: {o:?}");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one error line expected: {err}");
    err
}

/// Asserts `err` blames the permission on the socket's path, names the OS error once,
/// and does not claim that no node is running.
fn assert_permission_error(err: &str, sock: &Path) {
    let want = format!(
        "error: {}: cannot connect to the node's control socket: Permission denied (os error 13)",
        sock.display()
    );
    assert_eq!(err.trim_end(), want);
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    assert!(!err.contains("no glitter node is running"), "{err}");
}

#[test]
fn node_commands_name_a_permission_error_instead_of_no_node() {
    let tmp = tempfile::tempdir().unwrap();
    if std::fs::metadata(tmp.path()).unwrap().uid() != 0 {
        // Only root can run the client as another user; a non-root user cannot make
        // a socket it may not open, since it owns what it creates.
        println!("skipped: not root, so the client cannot run as another uid");
        return;
    }
    let mut a = NodeProc::new(tmp.path(), "alice", 0x51);
    a.start();
    let sock = glitter_net::control::socket_path(&a.data);
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The data directory (and the temporary one above it) is 0700 root's: the other
    // user cannot even reach the socket.
    let err = error_line(&node_status(&a.data, Some(OTHER_UID)));
    println!("as uid {OTHER_UID}, 0700 directories: {err}");
    assert_permission_error(&err, &sock);

    // With the directories open to everyone, the socket's own mode 0600 refuses.
    for d in [tmp.path(), &a.data] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    let err = error_line(&node_status(&a.data, Some(OTHER_UID)));
    println!("as uid {OTHER_UID}, 0600 socket: {err}");
    assert_permission_error(&err, &sock);

    // The node was running all along, and its owner still drives it.
    let o = node_status(&a.data, None);
    assert!(o.status.success(), "{o:?}\n{}", a.logs());

    // Killed without cleaning up, the node leaves a stale socket nobody listens on:
    // that, and only that, is "no node".
    a.kill9();
    assert!(sock.exists(), "the killed node's socket is left behind");
    let err = error_line(&node_status(&a.data, None));
    println!("stale socket: {err}");
    assert!(err.contains("no glitter node is running"), "{err}");
    assert_eq!(err.matches("os error").count(), 1, "{err}");
    std::fs::remove_file(&sock).unwrap();
    let err = error_line(&node_status(&a.data, None));
    println!("no socket: {err}");
    assert!(err.contains("no glitter node is running"), "{err}");
}

#[test]
fn a_data_directory_too_long_for_a_socket_is_named_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    // A Unix socket address holds at most 107 bytes of path on Linux.
    let dir = tmp.path().join("d".repeat(120));
    std::fs::create_dir(&dir).unwrap();
    let err = error_line(&node_status(&dir, None));
    println!("long path: {err}");
    let sock = glitter_net::control::socket_path(&dir);
    assert!(
        err.starts_with(&format!(
            "error: {}: cannot connect to the node's control socket: ",
            sock.display()
        )),
        "{err}"
    );
    assert!(!err.contains("no glitter node is running"), "{err}");
}
