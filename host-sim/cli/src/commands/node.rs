//! `glitter node`: run a networked node on the data directory, or drive the one
//! running there over its control socket.

use crate::commands::account::AccountCommand;
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use glitter_core::sig::PublicKey;
use glitter_host::account::Action;
use glitter_host::backup::{CustodyPolicy, CustodyQuota};
use glitter_net::control::{Request, control_call};
use glitter_net::runtime::{self, DeviceSpec};
use libp2p::Multiaddr;
use std::path::Path;

/// `glitter node`: run a node on the data directory, or talk to the one running there.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeArgs {
    /// Talk to the node running on this data directory instead of starting one.
    #[command(subcommand)]
    pub action: Option<NodeAction>,

    /// How to run the node (when no subcommand is given).
    #[command(flatten)]
    pub run: RunArgs,
}

/// Options of a running node.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Address to listen on (repeatable). Port 0 picks a free port; the chosen address
    /// is printed and written to `<data-dir>/node.json`.
    #[arg(long, value_name = "MULTIADDR", default_value = "/ip4/127.0.0.1/tcp/0")]
    pub listen: Vec<Multiaddr>,

    /// A peer to connect to, e.g. /ip4/127.0.0.1/tcp/4001 (repeatable). It is dialled
    /// again while the connection is down.
    #[arg(long, value_name = "MULTIADDR")]
    pub peer: Vec<Multiaddr>,

    /// Gossip interval: the node announces its heads this often.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub tick_ms: u64,

    /// Do not fsync. By default blocks arriving together are made durable with one
    /// journal fsync (group commit) before the node acknowledges them. Without it, a
    /// process crash still loses nothing committed (the page cache keeps the write
    /// order); a power cut may lose recent blocks.
    #[arg(long)]
    pub no_fsync: bool,

    /// Discover peers on the local network with mDNS and dial them (off by default;
    /// the tests never use it).
    #[arg(long)]
    pub mdns: bool,

    /// Most blocks stored for any one author other than yourself; later blocks of that
    /// author are refused (and not fetched again). Your own chain has no quota.
    #[arg(long, value_name = "BLOCKS", default_value_t = glitter_net::store::Quota::BLOCKS_PER_AUTHOR_DEFAULT)]
    pub author_quota: u64,

    /// Whom this node holds backups for, as a custodian. `accepted`: only owners you
    /// accepted with `glitter node custody accept OWNER`. `follows`: those, and every
    /// author this node follows.
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = PolicyArg::Accepted)]
    pub custody_policy: PolicyArg,

    /// Most bytes of backups held for any one owner (its manifest block, share and
    /// shards); a package that would take more is refused before anything is written.
    /// The default, 64 MiB, is eight times the default flash image.
    #[arg(long, value_name = "BYTES", default_value_t = CustodyQuota::PER_OWNER_DEFAULT)]
    pub custody_owner_quota: u64,

    /// Most bytes of backups held for every owner together; a package that would bring
    /// the total over it is refused before anything is written. Default 1 GiB.
    #[arg(long, value_name = "BYTES", default_value_t = CustodyQuota::TOTAL_DEFAULT)]
    pub custody_total_quota: u64,

    /// Most inbound connections from one IP address (an IPv6 /64), still in their
    /// handshake or established; more are refused at once. Outbound connections do not
    /// count. Raise it when many peers share an address (behind one NAT, or local
    /// tests); the node keeps at most 256 connections and 32 handshakes in all anyway.
    #[arg(long, value_name = "N", default_value_t = runtime::CONNECTIONS_PER_IP_DEFAULT,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_conns_per_ip: u32,

    /// A microcontroller running glitter, taken as a peer over its serial link
    /// (repeatable, at most 16). `tcp:HOST:PORT` connects to a TCP server that carries
    /// the device's serial port, such as QEMU's `-chardev socket,...,server=on`;
    /// `serial:PATH[@BAUD]` opens a serial port, e.g. serial:/dev/ttyACM0 (115200 baud
    /// unless given). The node reconnects every second while the link is down. Each
    /// device that says hello is registered as a peer under its key: the node stores
    /// and announces the device's chain, and sends it the chains it follows.
    #[arg(long, value_name = "SPEC")]
    pub device: Vec<DeviceSpec>,

    /// An author every device is told to follow (repeatable; 64 hex digits). The node
    /// replicates the author too, so it can pass the chain on. Writes no Follow block.
    #[arg(long, value_name = "AUTHOR", value_parser = parse_author)]
    pub device_follow: Vec<PublicKey>,

    /// Serve the web app on this loopback address, e.g. 127.0.0.1:8080 (port 0 picks
    /// one). The node prints a link with a fresh access token (also written to
    /// `<data-dir>/node.json` as `web_url`); opening it logs the browser in. See
    /// docs/WEB.md.
    #[arg(long, value_name = "ADDR")]
    pub web: Option<std::net::SocketAddr>,

    /// TEST ONLY: behave as an adversary (publish malformed and inflated heads, answer
    /// wants with forged blocks). Used by the bad-peer tests.
    #[arg(long, hide = true)]
    pub evil: bool,

    /// TEST ONLY: equivocate: serve peers with an odd internal id a validly signed
    /// twin of our head block, so our chain forks. Used by the fork-detection test.
    #[arg(long, hide = true)]
    pub equivocate: bool,

    /// TEST ONLY: announce heads beyond the truth for every followed author at each
    /// tick and never answer a want. Used by the fake-heads test.
    #[arg(long, hide = true)]
    pub fake_heads: bool,
}

/// An author key argument (`--device-follow`).
fn parse_author(s: &str) -> Result<PublicKey, String> {
    glitter_host::account::author_arg(s).map_err(|e| {
        let mut line = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            line.push_str(&format!(": {s}"));
            source = s.source();
        }
        line
    })
}

/// `--custody-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// Only owners accepted with `glitter node custody accept` (the default).
    Accepted,
    /// Accepted owners, and every author this node follows.
    Follows,
}

impl From<PolicyArg> for CustodyPolicy {
    fn from(p: PolicyArg) -> CustodyPolicy {
        match p {
            PolicyArg::Accepted => CustodyPolicy::Accepted,
            PolicyArg::Follows => CustodyPolicy::Follows,
        }
    }
}

/// `glitter node custody …`: what this node holds as a custodian, and for whom.
#[derive(Debug, Subcommand)]
pub enum CustodyAction {
    /// List the custody rules, the backups this node keeps, the owners it accepted,
    /// and open approvals (the default).
    List,
    /// Hold OWNER's backups from now on (kept in the data directory, across
    /// restarts). Until then this node refuses OWNER's packages, unless it runs with
    /// `--custody-policy follows` and follows OWNER.
    Accept {
        /// The owner's public key, 64 hex digits.
        owner: String,
    },
    /// Refuse OWNER's new backups from now on. The copy already held is kept, and can
    /// still be released for a restore, unless --delete.
    Revoke {
        /// The owner's public key, 64 hex digits.
        owner: String,
        /// Also delete the backup this node holds for OWNER.
        #[arg(long)]
        delete: bool,
    },
}

/// Commands sent to the node running on the data directory.
#[derive(Debug, Subcommand)]
pub enum NodeAction {
    /// Show the running node's identity, addresses, peers and counters.
    Status,
    /// Post, follow, unfollow or set the profile on the running node (it announces
    /// the block at once).
    #[command(flatten)]
    Account(AccountCommand),
    /// Show every chain the running node stores, oldest first.
    Feed,
    /// Show the stored head of one author (or, with --seq, one of its blocks).
    Head {
        /// The author's public key, 64 hex digits.
        author: String,
        /// Show this block instead of the head.
        #[arg(long)]
        seq: Option<u64>,
    },
    /// Show the peers with their glitter and gossipsub scores.
    Peers,
    /// Back up your identity and chain to custodians: connected peers, named by author
    /// key (any `--threshold` of them restore you). Waits for their signed receipts.
    Backup {
        /// A custodian's author key (repeat; 2 to 16). It must be connected and have
        /// accepted custody of your backups (`glitter node custody accept YOUR-KEY`).
        #[arg(long = "custodian", value_name = "AUTHOR", required = true)]
        custodians: Vec<String>,
        /// How many custodians are needed to restore (2 ≤ k ≤ n).
        #[arg(long, value_name = "K")]
        threshold: u8,
    },
    /// Show the latest backup of your chain.
    BackupStatus,
    /// As a custodian: let the restoring device that shows CODE fetch OWNER's share.
    /// Confirm the code with the owner out of band (in person, by phone) first.
    Release {
        /// The owner's public key, 64 hex digits.
        owner: String,
        /// The device code the restoring device printed (xxxxx-xxxxx-xxxxx-xxxxx).
        code: String,
        /// How long the approval lasts, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 900)]
        valid_for: u64,
    },
    /// As a custodian: list what this node keeps and for whom (no subcommand), accept
    /// an owner's backups, or revoke that.
    Custody {
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<CustodyAction>,
    },
    /// Shut the running node down gracefully.
    Stop,
    /// Append COUNT posts at once (benchmarks).
    #[command(hide = true)]
    PostMany {
        /// How many posts.
        count: u32,
    },
}

impl NodeAction {
    /// The control request for this action.
    pub fn request(self) -> Request {
        match self {
            NodeAction::Status => Request::Status,
            NodeAction::Account(c) => Request::from(Action::from(c)),
            NodeAction::Feed => Request::Feed,
            NodeAction::Head { author, seq } => Request::Head { author, seq },
            NodeAction::Peers => Request::Peers,
            NodeAction::Stop => Request::Stop,
            NodeAction::Backup {
                custodians,
                threshold,
            } => Request::Backup {
                custodians,
                threshold,
            },
            NodeAction::BackupStatus => Request::BackupStatus,
            NodeAction::Release {
                owner,
                code,
                valid_for,
            } => Request::Release {
                owner,
                code,
                valid_for_s: Some(valid_for),
            },
            NodeAction::Custody { action } => match action {
                None | Some(CustodyAction::List) => Request::Custody,
                Some(CustodyAction::Accept { owner }) => Request::CustodyAccept { owner },
                Some(CustodyAction::Revoke { owner, delete }) => {
                    Request::CustodyRevoke { owner, delete }
                }
            },
            NodeAction::PostMany { count } => Request::PostMany { count },
        }
    }
}

/// Runs `glitter node`: with a subcommand, sends it to the node running on `data_dir`
/// and prints the answer; without, runs a node there until SIGINT, SIGTERM or
/// `glitter node stop` (blocking).
///
/// # Errors
/// A one-line description: no identity, a flash image that cannot be opened or
/// mounted, an address that cannot be listened on, another node on the same data
/// directory, no node answering, or the node's own error for a request.
pub fn run(args: NodeArgs, data_dir: &Path) -> Result<()> {
    if let Some(action) = args.action {
        let r = match action {
            // Returns once the node has exited and released its lock.
            NodeAction::Stop => glitter_net::stop_node(data_dir, glitter_net::STOP_WAIT)?,
            action => control_call(data_dir, &action.request())?,
        };
        for line in r.lines {
            let _ = crate::say(&line);
        }
        return Ok(());
    }
    let a = args.run;
    let opts = runtime::Options {
        out: crate::stdout_sink(),
        listen: a.listen,
        peers: a.peer,
        tick_ms: a.tick_ms,
        fsync: !a.no_fsync,
        evil: a.evil,
        equivocate: a.equivocate,
        fake_heads: a.fake_heads,
        mdns: a.mdns,
        quota: glitter_net::store::Quota {
            blocks_per_author: a.author_quota,
            ..glitter_net::store::Quota::default()
        },
        custody_policy: a.custody_policy.into(),
        custody_quota: CustodyQuota {
            per_owner: a.custody_owner_quota,
            total: a.custody_total_quota,
        },
        max_conns_per_ip: a.max_conns_per_ip,
        devices: a.device,
        device_follow: a.device_follow,
        web: a.web.map(glitter_web::start).transpose()?,
    };
    runtime::run(opts, data_dir)?;
    Ok(())
}
