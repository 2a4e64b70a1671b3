//! glitter-net's typed errors. Each says what failed in its own words and keeps what
//! caused it as its [`source`](std::error::Error::source), so the chain printed on one
//! line ([`one_line`] here, the binary's `error: …` line there) reads "what: why: …",
//! as the node's errors always have.
//!
//! Errors of `glitter-host` are kept as a boxed source ([`BoxError`]) built from
//! anything that converts into one, so they stay sources whatever type the host gives.

use glitter_core::ChainError;
use glitter_core::sig::PublicKey;
use glitter_core::wire::WireError;
use libp2p::Multiaddr;
use std::error::Error;
use std::path::PathBuf;

/// A boxed error from a lower layer (mostly `glitter-host`), kept as a source.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// `e` and its sources on one line, joined with `": "`: what the node sends as a
/// control error or a refusal (the binary prints its errors the same way).
pub fn one_line(e: &(dyn Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        line.push_str(": ");
        line.push_str(&s.to_string());
        next = s.source();
    }
    line
}

/// A host error (whatever its type) on one line, as [`one_line`].
pub(crate) fn host_line(e: impl Into<BoxError>) -> String {
    let e: BoxError = e.into();
    one_line(&*e)
}

/// A node is running on a data directory that an offline command wants
/// ([`check_no_node`](crate::check_no_node)).
/// Why an offline command may not open a data directory's image now.
#[derive(Debug, thiserror::Error)]
pub enum NodeRunning {
    /// A node holds `<data-dir>/node.lock`.
    #[error(
        "{}: a glitter node is running on this data directory; use `glitter node post`, \
         `glitter node follow`, `glitter node feed` …, or stop it with `glitter node stop`",
        data_dir.display()
    )]
    Running {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// The lock file exists but cannot be opened or checked, so a running node cannot
    /// be ruled out (the command refuses rather than risk a second writer).
    #[error(
        "{}: cannot tell whether a glitter node is running (its lock file cannot be checked); \
         fix or remove the file once no node runs",
        path.display()
    )]
    Unchecked {
        /// The lock file.
        path: PathBuf,
        /// What opening or locking it said.
        #[source]
        source: std::io::Error,
    },
}

/// Why a libp2p swarm could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The gossipsub configuration is invalid.
    #[error("gossipsub config")]
    GossipConfig(#[source] libp2p::gossipsub::ConfigBuilderError),
    /// Gossipsub refused its configuration.
    #[error("gossipsub: {0}")]
    Gossip(&'static str),
    /// Gossipsub refused the score parameters.
    #[error("gossipsub peer scoring: {0}")]
    Scoring(String),
    /// The heads topic could not be subscribed.
    #[error("gossipsub subscribe")]
    Subscribe(#[source] libp2p::gossipsub::SubscriptionError),
    /// mDNS could not start.
    #[error("mdns")]
    Mdns(#[source] std::io::Error),
    /// The TCP transport with noise could not be built.
    #[error("tcp transport")]
    Tcp(#[source] libp2p::noise::Error),
    /// The libp2p identity could not be made.
    #[error("libp2p identity")]
    Identity(#[source] libp2p::identity::DecodingError),
}

/// Why a node could not start, or stopped with an error ([`crate::runtime::run`]).
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node's thread could not be spawned.
    #[error("cannot start the node thread")]
    Thread(#[source] std::io::Error),
    /// The node's thread panicked.
    #[error("the node thread panicked")]
    Panicked,
    /// The tokio runtime could not be built.
    #[error("cannot start the tokio runtime")]
    Tokio(#[source] std::io::Error),
    /// The web app (`--web`) could not start.
    #[error("web app")]
    Web(#[source] BoxError),
    /// The data directory, its identity or its flash image failed (a host error).
    #[error("{what}")]
    Host {
        /// What was being done.
        what: &'static str,
        /// The host's error.
        #[source]
        source: BoxError,
    },
    /// The lock file could not be created.
    #[error("{}: cannot create the lock file", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another node holds the lock.
    #[error("{}: another glitter node is running on this data directory", path.display())]
    Running {
        /// The lock file.
        path: PathBuf,
    },
    /// The flash image could not be mounted again with syncing off.
    #[error("{}: cannot mount the flash image", path.display())]
    Mount {
        /// The image.
        path: PathBuf,
        /// The store's error.
        #[source]
        source: BoxError,
    },
    /// A batch of blocks could not be made durable (group commit's journal could not
    /// be written or synced). The node stops: nothing of the batch was acknowledged,
    /// and the next start recovers what the disk holds.
    #[error("{}: cannot make the stored blocks durable", path.display())]
    Commit {
        /// The image.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The swarm could not be built.
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    /// A listen address is not one the transport supports.
    #[error("cannot listen on {addr}: not a supported address")]
    ListenUnsupported {
        /// The address.
        addr: Multiaddr,
    },
    /// A listen address was refused.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// The transport's error.
        #[source]
        source: std::io::Error,
    },
    /// The control socket could not be created.
    #[error("{}: cannot create the control socket", path.display())]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The control socket's mode could not be restricted.
    #[error("{}: cannot restrict the socket", path.display())]
    SocketMode {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The OS has no randomness.
    #[error(transparent)]
    Randomness(#[from] glitter_host::os::NoRandomness),
    /// More `--device` links than the node keeps.
    #[error("{count} devices given: a node takes at most {max}")]
    TooManyDevices {
        /// How many were given.
        count: usize,
        /// [`crate::runtime::DEVICES_MAX`].
        max: usize,
    },
    /// The node cannot replicate every `--device-follow` author (its follow table is
    /// full).
    #[error("cannot replicate {author} for the devices: the follow table is full")]
    DeviceFollowFull {
        /// The author that did not fit.
        author: glitter_core::sig::PublicKey,
    },
    /// A signal cannot be watched.
    #[error("cannot watch {signal}")]
    Signal {
        /// "SIGTERM" or "SIGINT".
        signal: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl NodeError {
    /// Wraps a host error, naming what was being done.
    pub fn host<E: Into<BoxError>>(what: &'static str) -> impl FnOnce(E) -> NodeError {
        move |e| NodeError::Host {
            what,
            source: e.into(),
        }
    }
}

/// Why the node refused a control request (sent to the client as the response's
/// one-line error).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// An argument (an author key, a reply, a text) is refused by the host's parser.
    #[error("{what}")]
    Argument {
        /// Which argument or request.
        what: &'static str,
        /// The host's error.
        #[source]
        source: BoxError,
    },
    /// The data directory or the custody files failed (a host error).
    #[error("{what}")]
    Host {
        /// What was being done.
        what: &'static str,
        /// The host's error.
        #[source]
        source: BoxError,
    },
    /// A follow of oneself.
    #[error("you cannot follow yourself")]
    FollowSelf,
    /// The core's follow table has no room.
    #[error("the follow table is full")]
    FollowTableFull,
    /// `show_post` of a block that is not a stored post.
    #[error("no post {author}:{seq} is stored")]
    NoSuchPost {
        /// The author.
        author: PublicKey,
        /// The seq.
        seq: u64,
    },
    /// A claim could not be proven (a bad ring, a context or message too long).
    #[error("claim")]
    Claim(#[source] glitter_core::zk::ZkError),
    /// `post_many` over its bound.
    #[error("post_many: at most {max} posts at once")]
    TooManyPosts {
        /// The bound.
        max: u32,
    },
    /// A payload could not be encoded.
    #[error("payload")]
    Payload(#[source] WireError),
    /// The core node refused to append our block; `store` is the store's last
    /// complaint, when it has one.
    #[error("append{}", .store.as_ref().map(|s| format!(" ({s})")).unwrap_or_default())]
    Append {
        /// The chain rule or store failure.
        #[source]
        source: ChainError,
        /// The store's last error.
        store: Option<String>,
    },
    /// Our own chain lost committed blocks in a repair: extending it would fork it.
    #[error(
        "your chain holds blocks up to seq {held}, but blocks up to seq {floor} were \
         committed and then lost in a repair: get them back first (stop the node and \
         `glitter import` a copy exported by a follower), or followers who hold them will \
         see your chain fork"
    )]
    OwnBlocksLost {
        /// The own chain's head seq now.
        held: u64,
        /// The highest seq once committed.
        floor: u64,
    },
    /// Our own chain lost a block.
    #[error("own block {seq} is missing")]
    OwnBlockMissing {
        /// The seq.
        seq: u64,
    },
    /// Our own chain lost a payload.
    #[error("own block {seq} has no payload")]
    OwnPayloadMissing {
        /// The seq.
        seq: u64,
    },
    /// The OS has no randomness.
    #[error(transparent)]
    Randomness(#[from] glitter_host::os::NoRandomness),
    /// The backup flow refused (a bad plan, or a store error).
    #[error(transparent)]
    Backup(BoxError),
    /// A custodian is not connected, or has not proven its key.
    #[error(
        "custodian {custodian} is not connected (start its node and pass its address with \
         --peer); nothing was appended"
    )]
    NotConnected {
        /// The custodian.
        custodian: PublicKey,
    },
    /// A backup request reached the synchronous handler.
    #[error("backup requests are answered asynchronously")]
    Asynchronous,
    /// A device code is malformed.
    #[error("{0}")]
    DeviceCode(String),
    /// An approval window out of range.
    #[error("--valid-for takes 1 to {max} seconds")]
    ValidFor {
        /// The longest window.
        max: u64,
    },
    /// A release for an owner this node keeps nothing of.
    #[error("this node holds no backup of {owner}")]
    NoCustody {
        /// The owner.
        owner: PublicKey,
    },
    /// A revoke of an owner neither accepted nor (with `--delete`) held.
    #[error("custody of {owner} is not accepted here, and nothing is held for it")]
    NotAccepted {
        /// The owner.
        owner: PublicKey,
    },
    /// Too many approvals are open.
    #[error("{max} approvals are already open; wait for some to expire")]
    ApprovalsFull {
        /// The bound.
        max: usize,
    },
}

impl RequestError {
    /// Wraps a host parser's error, naming the argument.
    pub fn argument<E: Into<BoxError>>(what: &'static str) -> impl FnOnce(E) -> RequestError {
        move |e| RequestError::Argument {
            what,
            source: e.into(),
        }
    }

    /// Wraps a host error, naming what was being done.
    pub fn host<E: Into<BoxError>>(what: &'static str) -> impl FnOnce(E) -> RequestError {
        move |e| RequestError::Host {
            what,
            source: e.into(),
        }
    }
}

/// Why a custodian refused a backup package (sent to the owner as the refusal's
/// reason).
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The manifest block does not parse.
    #[error("manifest block")]
    ManifestBlock(#[source] BoxError),
    /// The owner is this node.
    #[error("a node cannot be its own custodian")]
    OwnCustodian,
    /// The owner is not one this node holds backups for.
    #[error(
        "{me} holds backups only for owners its operator accepted{}, and has not accepted \
         {owner} (`glitter node custody accept OWNER` on its node)",
        if *follows { " or it follows" } else { "" }
    )]
    NotAccepted {
        /// This node's author key.
        me: PublicKey,
        /// The owner.
        owner: PublicKey,
        /// Whether the node also holds backups for the authors it follows
        /// (`--custody-policy follows`).
        follows: bool,
    },
    /// A large package from a peer that has not proven its author key.
    #[error("{peer} has not proven an author key (Hello) that {me} holds backups for")]
    Unproven {
        /// The peer.
        peer: libp2p::PeerId,
        /// This node's author key.
        me: PublicKey,
    },
    /// A package frame larger than the per-owner quota (and its framing): everything
    /// it carries would be stored, so it is discarded unread.
    #[error(
        "a {len} byte package exceeds the custodian's per-owner custody quota of {quota} bytes"
    )]
    FrameOverQuota {
        /// The frame's length.
        len: u32,
        /// The per-owner quota.
        quota: u64,
    },
    /// The custody directory cannot be measured for the quotas.
    #[error("cannot count the bytes held in custody")]
    Usage(#[source] BoxError),
    /// The package would exceed a custody quota (nothing was written).
    #[error(transparent)]
    Quota(#[from] glitter_host::error::QuotaError),
    /// The sealed share does not parse.
    #[error("sealed share")]
    SealedShare(#[source] glitter_core::backup::seal::SealError),
    /// No room for another owner.
    #[error("{me} already keeps backups for {max} owners")]
    TooManyOwners {
        /// This node's author key.
        me: PublicKey,
        /// The bound.
        max: usize,
    },
    /// The backup engine refused the package.
    #[error(transparent)]
    Refused(BoxError),
    /// The package could not be written.
    #[error("cannot store the backup")]
    Store(#[source] BoxError),
}

/// Why a control client got no answer ([`crate::control_request`],
/// [`crate::control_call`]).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing listens on the socket: it does not exist, or it is stale (connection
    /// refused).
    #[error(
        "{}: no glitter node is running on this data directory (start one with `glitter node`)",
        path.display()
    )]
    NotRunning {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The socket cannot be connected to for another reason than its absence or
    /// nobody listening (permission denied, a path too long for a Unix socket, …), so
    /// a node may well be running. The OS error is the source: the one-line chain
    /// names it once.
    #[error("{}: cannot connect to the node's control socket", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The socket's timeouts could not be set.
    #[error("{}: cannot set the socket timeouts", path.display())]
    Timeouts {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The request could not be encoded.
    #[error("cannot encode the request")]
    Encode(#[source] serde_json::Error),
    /// The request could not be sent.
    #[error("{}: cannot send the request", path.display())]
    Send {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The answer could not be read.
    #[error("{}: no answer from the node", path.display())]
    Receive {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The node closed the connection without an answer.
    #[error("{}: the node closed the connection", path.display())]
    Closed {
        /// The socket path.
        path: PathBuf,
    },
    /// The node accepted `stop` but still holds its lock after the wait.
    #[error(
        "{}: the node accepted stop but still holds this lock after {waited_s} s",
        path.display()
    )]
    StopTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long the client waited, in seconds.
        waited_s: u64,
    },
    /// The lock file could not be checked.
    #[error("{}: cannot check the node lock", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The answer is not a response line.
    #[error("{}: the node's answer is not a response", path.display())]
    Answer {
        /// The socket path.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The node refused the request (its one-line error).
    #[error("node: {0}")]
    Refused(String),
}

/// Why a network restore failed ([`crate::restore_net::run`]).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The tokio runtime could not be built.
    #[error("cannot start the tokio runtime")]
    Tokio(#[source] std::io::Error),
    /// The client's swarm could not be built.
    #[error(transparent)]
    Swarm(#[from] SwarmError),
    /// The OS has no randomness (for the client's one-time peer id).
    #[error(transparent)]
    Randomness(#[from] glitter_host::os::NoRandomness),
    /// No custodian answered within the wait.
    #[error(
        "restore failed: no backup could be restored within {secs} s: no custodian has \
         answered yet"
    )]
    NoAnswer {
        /// The wait, in seconds.
        secs: u64,
    },
    /// Answers came, but no backup could be restored from them within the wait.
    #[error("restore failed: no backup could be restored within {secs} s")]
    NotRestored {
        /// The wait, in seconds.
        secs: u64,
        /// The restore engine's last failure.
        #[source]
        source: BoxError,
    },
    /// A `Want` could not be encoded.
    #[error("want")]
    Want(#[source] WireError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_the_chain() {
        let e = ControlError::Receive {
            path: "/d/node.sock".into(),
            source: std::io::Error::other("broken pipe"),
        };
        assert_eq!(
            one_line(&e),
            "/d/node.sock: no answer from the node: broken pipe"
        );
        let e = RequestError::Backup("--threshold must be between 2 and 3".into());
        assert_eq!(one_line(&e), "--threshold must be between 2 and 3");
    }
}
