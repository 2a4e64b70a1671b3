//! The local control interface of a running node: line-delimited JSON over a Unix
//! socket in the data directory (`<data-dir>/node.sock`, mode 0600, so only the
//! directory's owner can drive the node).
//!
//! One connection carries one exchange: the client writes one [`Request`] as a JSON
//! line, the node answers with one [`Response`] line and closes. Examples:
//!
//! ```text
//! → {"cmd":"post","text":"hello"}
//! ← {"ok":true,"error":null,"lines":["posted block 3 (…)"],"data":{"seq":3,"id":"…"}}
//! → {"cmd":"follow","author":"<64 hex digits>"}
//! → {"cmd":"feed"}
//! → {"cmd":"status"}
//! ```

use crate::error::ControlError;
use glitter_host::account::Action;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The control socket's file name in the data directory.
pub const SOCKET_NAME: &str = "node.sock";
/// The node's address file in the data directory (JSON: peer id, listen addresses,
/// control socket, pid).
pub const INFO_NAME: &str = "node.json";
/// The longest request line the node reads.
pub const REQUEST_LEN_MAX: usize = 8 * 1024;
/// How long a client waits for the node's answer.
pub const CLIENT_TIMEOUT_MS: u64 = 120_000;

/// A control request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// The node's identity, addresses, peers, counters and followed heads.
    Status,
    /// Appends a post to the node's own chain and announces it.
    Post {
        /// The text (at most 512 bytes of UTF-8).
        text: String,
        /// Reply to a stored block, `AUTHOR:SEQ`.
        #[serde(default)]
        reply_to: Option<String>,
        /// Post even an empty (or whitespace-only) text.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// Appends a Profile block and announces it.
    Profile {
        /// Display name (at most 64 bytes).
        name: String,
        /// About text (at most 256 bytes).
        #[serde(default)]
        about: String,
    },
    /// Appends a Follow block and starts replicating the author.
    Follow {
        /// The author's key, 64 hex digits.
        author: String,
        /// Append even when already following.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// Appends an Unfollow block and stops replicating the author.
    Unfollow {
        /// The author's key, 64 hex digits.
        author: String,
        /// Append even when not following.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        force: bool,
    },
    /// Every stored chain, oldest block first, one line each.
    Feed,
    /// The stored head of one author, or with `seq` the id of that block.
    Head {
        /// The author's key, 64 hex digits.
        author: String,
        /// A block to look up instead of the head.
        #[serde(default)]
        seq: Option<u64>,
    },
    /// The connected peers with their glitter and gossipsub scores.
    Peers,
    /// Appends `count` posts at once (for benchmarks; at most 100,000).
    PostMany {
        /// How many.
        count: u32,
    },
    /// Backs up the node's identity and chain to custodians (connected peers named by
    /// author key); answered once every custodian has answered.
    Backup {
        /// The custodians' author keys (2 to 16).
        custodians: Vec<String>,
        /// How many of them restore the owner (2 ≤ k ≤ n).
        threshold: u8,
    },
    /// The latest backup of the node's own chain.
    BackupStatus,
    /// As a custodian: lets the restoring device with `code` fetch `owner`'s share.
    Release {
        /// The owner's key, 64 hex digits.
        owner: String,
        /// The device code the restoring device shows (xxxxx-xxxxx-xxxxx-xxxxx).
        code: String,
        /// How long the approval lasts, in seconds (default 900).
        #[serde(default)]
        valid_for_s: Option<u64>,
    },
    /// The custody rules, the backups this node keeps as a custodian, the owners it
    /// accepted, and open approvals.
    Custody,
    /// As a custodian: hold `owner`'s backups from now on (kept in the data directory,
    /// across restarts).
    CustodyAccept {
        /// The owner's key, 64 hex digits.
        owner: String,
    },
    /// As a custodian: refuse `owner`'s new backups from now on. What is held is kept
    /// (it can still be released for a restore) unless `delete`.
    CustodyRevoke {
        /// The owner's key, 64 hex digits.
        owner: String,
        /// Also delete what this node holds for `owner`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        delete: bool,
    },
    /// A page of the timeline of the node's own and followed authors, newest first,
    /// replies threaded ([`crate::views::TimelineData`]).
    Timeline {
        /// Continue after this cursor (from the previous page's `next`).
        #[serde(default)]
        before: Option<String>,
        /// Top-level posts on the page (default 50, at most 200).
        #[serde(default)]
        limit: Option<u32>,
    },
    /// One stored post, without replies ([`crate::views::PostData`]).
    ShowPost {
        /// The author's key, 64 hex digits.
        author: String,
        /// The post's seq.
        seq: u64,
    },
    /// The node's own key, profile and follows ([`crate::views::AccountData`]).
    Account,
    /// One author: chain length, head, the stored chain verified again, fork proofs,
    /// witnesses ([`crate::views::AuthorData`]).
    Author {
        /// The author's key, 64 hex digits.
        author: String,
    },
    /// The claims on stored chains, each verified ([`crate::views::ClaimData`] list).
    Claims,
    /// Publishes a zero-knowledge claim on the node's chain.
    Claim {
        /// What is claimed.
        kind: ClaimKind,
        /// For a ring claim: the ring's keys (64 hex digits each; the node's own key
        /// is added if missing).
        #[serde(default)]
        members: Vec<String>,
        /// Who asks and what for (at most 32 bytes).
        context: String,
        /// The claim's message (at most 32 bytes).
        #[serde(default)]
        message: String,
    },
    /// Shuts the node down gracefully.
    Stop,
}

/// The statement of a [`Request::Claim`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimKind {
    /// "I know the secret key of this chain."
    Key,
    /// "I know the secret key of one of these members" (which one stays hidden).
    Ring,
}

impl From<Action> for Request {
    /// The control request that runs an account action on the node: the control
    /// protocol carries the same action set as the offline commands.
    fn from(a: Action) -> Request {
        match a {
            Action::Post {
                text,
                reply_to,
                force,
            } => Request::Post {
                text,
                reply_to,
                force,
            },
            Action::Follow { author, force } => Request::Follow { author, force },
            Action::Unfollow { author, force } => Request::Unfollow { author, force },
            Action::Profile { name, about } => Request::Profile { name, about },
        }
    }
}

/// A control response.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// The one-line error when it did not.
    pub error: Option<String>,
    /// Human-readable output lines (what the CLI prints).
    pub lines: Vec<String>,
    /// Machine-readable details (request-specific).
    pub data: serde_json::Value,
}

impl Response {
    /// A success with output lines and data.
    pub fn ok(lines: Vec<String>, data: serde_json::Value) -> Response {
        Response {
            ok: true,
            error: None,
            lines,
            data,
        }
    }

    /// A failure.
    pub fn err(e: impl std::fmt::Display) -> Response {
        Response {
            ok: false,
            error: Some(e.to_string()),
            lines: Vec::new(),
            data: serde_json::Value::Null,
        }
    }
}

/// The control socket path of the data directory `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// True if a node answers on `data_dir`'s control socket (false whenever it cannot be
/// asked, including when the socket is unreachable for another reason than no node).
pub fn node_running(data_dir: &Path) -> bool {
    control_request(data_dir, &Request::Status).is_ok()
}

/// Sends `req` to the node running on `data_dir` and returns its answer. A response
/// with `ok: false` is returned as a value (the node's one-line error is in `error`).
///
/// # Errors
/// [`ControlError::NotRunning`] if the socket does not exist or nobody listens on it,
/// [`ControlError::Connect`] if it cannot be reached for another reason (the OS error
/// says which, e.g. permission denied), or an error of the exchange itself (no
/// answer, or one that is not a response line).
pub fn control_request(data_dir: &Path, req: &Request) -> Result<Response, ControlError> {
    let path = socket_path(data_dir);
    let stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(source) => return Err(connect_error(path, source)),
    };
    let timeout = Some(Duration::from_millis(CLIENT_TIMEOUT_MS));
    if let Err(source) = stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
    {
        return Err(ControlError::Timeouts { path, source });
    }
    let mut line = serde_json::to_string(req).map_err(ControlError::Encode)?;
    line.push('\n');
    if let Err(source) = (&stream).write_all(line.as_bytes()) {
        return Err(ControlError::Send { path, source });
    }
    let mut answer = String::new();
    if let Err(source) = BufReader::new(&stream)
        .take(16 * 1024 * 1024)
        .read_line(&mut answer)
    {
        return Err(ControlError::Receive { path, source });
    }
    if answer.trim().is_empty() {
        return Err(ControlError::Closed { path });
    }
    serde_json::from_str(answer.trim()).map_err(|source| ControlError::Answer { path, source })
}

/// What a failed connect to the control socket at `path` means: no socket file, or a
/// stale one nobody listens on (a node killed without cleaning up), is "no node is
/// running"; anything else (permission denied, a path too long for a Unix socket, …)
/// is reported as the OS error it is, since a node may well be running.
fn connect_error(path: PathBuf, source: std::io::Error) -> ControlError {
    use std::io::ErrorKind;
    match source.kind() {
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => {
            ControlError::NotRunning { path, source }
        }
        _ => ControlError::Connect { path, source },
    }
}

/// As [`control_request`], turning `ok: false` into an error.
///
/// # Errors
/// As [`control_request`], or the node's error ([`ControlError::Refused`]).
pub fn control_call(data_dir: &Path, req: &Request) -> Result<Response, ControlError> {
    let r = control_request(data_dir, req)?;
    if !r.ok {
        return Err(ControlError::Refused(
            r.error.unwrap_or_else(|| "request failed".to_string()),
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json() {
        let r = Request::Post {
            text: "hi".into(),
            reply_to: None,
            force: false,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"cmd":"post","text":"hi","reply_to":null}"#);
        let back: Request = serde_json::from_str(r#"{"cmd":"post","text":"hi"}"#).unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"nope"}"#).is_err());
        let revoke: Request =
            serde_json::from_str(r#"{"cmd":"custody_revoke","owner":"k"}"#).unwrap();
        assert_eq!(
            revoke,
            Request::CustodyRevoke {
                owner: "k".into(),
                delete: false
            }
        );
        let accept = Request::CustodyAccept { owner: "k".into() };
        assert_eq!(
            serde_json::to_string(&accept).unwrap(),
            r#"{"cmd":"custody_accept","owner":"k"}"#
        );
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"follow","author":"a","x":1}"#).is_err());
    }

    fn one_line_of(dir: &Path) -> (ControlError, String) {
        let e = control_request(dir, &Request::Status).expect_err("no node here");
        let line = crate::error::one_line(&e);
        (e, line)
    }

    #[test]
    fn a_missing_or_stale_socket_means_no_node() {
        let dir = std::env::temp_dir().join(format!("glitter-ctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let (e, line) = one_line_of(&dir);
        assert!(matches!(e, ControlError::NotRunning { .. }), "{line}");
        // A socket left behind by a killed node: nobody listens on it.
        drop(std::os::unix::net::UnixListener::bind(socket_path(&dir)).unwrap());
        let (e, line) = one_line_of(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(e, ControlError::NotRunning { .. }), "{line}");
        assert!(line.contains("no glitter node is running"), "{line}");
        assert!(!node_running(&dir));
    }

    #[test]
    fn other_connect_errors_name_their_cause() {
        // Longer than a Unix socket address holds (108 bytes on Linux).
        let dir = PathBuf::from(format!("/tmp/{}", "d".repeat(120)));
        let (e, line) = one_line_of(&dir);
        assert!(matches!(e, ControlError::Connect { .. }), "{line}");
        assert!(
            line.starts_with(&format!(
                "{}: cannot connect to the node's control socket: ",
                socket_path(&dir).display()
            )),
            "{line}"
        );
        assert!(!line.contains("no glitter node is running"), "{line}");
        let e = connect_error("/d/node.sock".into(), std::io::Error::from_raw_os_error(13));
        assert_eq!(
            crate::error::one_line(&e),
            "/d/node.sock: cannot connect to the node's control socket: \
             Permission denied (os error 13)"
        );
    }
}
