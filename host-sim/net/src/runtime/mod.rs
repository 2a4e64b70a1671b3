//! The node's event loop: one core [`Node`] behind a libp2p swarm.
//!
//! Everything runs on one thread (a current-thread tokio runtime): the swarm, the
//! control socket and the core node, which is not `Sync` and needs no locks this way.
//! A step is one of: a swarm event, a control request, a gossip tick, a redial tick,
//! or a shutdown signal. Every message the core node emits is routed by kind:
//!
//! - `Heads` are published on the gossipsub topic [`HEADS_TOPIC`] (to every peer: the
//!   core picks one peer per tick, gossipsub reaches them all);
//! - while the node answers a request from peer P, its messages for P form the
//!   response (normally the `Block`s of a `Want`);
//! - every other message becomes a request to its peer on `/glitter/sync/1`.
//!
//! Received gossip is validated before gossipsub forwards it (`validate_messages`):
//! anything that is not a well-formed `Heads` with usable author keys is rejected
//! (`MessageAcceptance::Reject`, which costs the forwarding peer gossipsub score), and
//! malformed bytes are also handed to the core, which penalises the sender. Blocks
//! are verified by the core's chain validator (signatures included) before they are
//! stored; a peer that sends invalid ones loses core score, is banned at the ban
//! score, and its core score is mirrored into gossipsub's application-specific score.
//!
//! The loop is here; the rest is in one module per concern: `swarm` (the libp2p
//! behaviour and the gossip validator), `ip_limits` (inbound connections per IP
//! address), `own` (the store and the node's own chain), `replicate` (routing the
//! core's messages, gossip and sync requests),
//! `control` (the control socket and its requests), `custody` (backup and restore on
//! `/glitter/backup/1`, the custodian's consent and quotas), `device` (the host bridge:
//! microcontroller devices as peers over a serial link, `--device`) and `adversary` (the
//! test-only `--evil` and `--equivocate` modes, reached only through the `adversary`
//! field).
//!
//! [`Node`]: glitter_core::sync::Node

mod adversary;
mod control;
mod custody;
mod device;
mod fetch;
mod handle;
mod ip_limits;
mod own;
mod peers;
mod replicate;
mod swarm;
mod views;

pub use device::{
    DEVICE_QUEUE_FRAMES, DEVICE_RETRY_MS, DEVICES_MAX, DeviceSpec, DeviceSpecError,
    EVENTS_QUEUE as DEVICE_EVENTS_QUEUE, SERIAL_BAUD_DEFAULT,
};
pub use handle::{BLOCK_EVENTS_QUEUE, NodeHandle, ServiceStart};
pub use ip_limits::{CONNECTIONS_PER_IP_DEFAULT, IpLimitStats, PerIpExceeded, counted_ip};
pub use swarm::{LIBP2P_KEY_DOMAIN, libp2p_keypair};

use crate::control::INFO_NAME;
use crate::error::NodeError;
use crate::store::FlashStore;
use crate::transport::DialTargets;
use adversary::Adversary;
use custody::BackupState;
use futures::{FutureExt, StreamExt};
use glitter_core::chain::Ed25519Check;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::sync::{Config, GossipMode, Node, PeerId as CorePeer};
use glitter_host::datadir::DataDir;
use glitter_host::outbox::VecOutbox;
use glitter_host::{Sink, os};
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm, TransportError, identify, mdns, ping};
use peers::PeerTable;
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;
pub use swarm::check_heads;
use swarm::{Behaviour, BehaviourEvent};

/// The gossipsub topic of head announcements.
pub const HEADS_TOPIC: &str = "glitter/heads/1";
/// The lock file that keeps a second node off the same data directory.
pub const LOCK_NAME: &str = "node.lock";
/// Most sync requests in flight; more are dropped (the core is told at once, and asks
/// again at the next answer or announcement).
pub const REQUESTS_IN_FLIGHT_MAX: usize = 256;
/// Most sync requests in flight to one peer: with the same number coming from a peer
/// that runs this code, a connection's `/glitter/sync/1` streams stay within
/// [`crate::transport::SYNC_STREAMS_PER_CONNECTION_MAX`], with a third of it to spare
/// for streams still closing. At least [`WANT_WINDOW`].
pub const REQUESTS_PER_PEER_MAX: usize = crate::transport::SYNC_STREAMS_PER_CONNECTION_MAX / 3;
const _: () = assert!(REQUESTS_PER_PEER_MAX >= WANT_WINDOW as usize);
/// Most messages one core call may emit before the outbox refuses more.
const OUTBOX_MAX: usize = 256;
/// How often (on average) configured peers that are not connected are dialled again
/// (a peer whose dial is still in progress is skipped, so this costs at most one dial
/// per absent peer per interval). After a partition heals, the first redial finds the
/// peer; measured in the lab (`heal6`), 2 s left the nodes about a second longer apart.
const REDIAL_MS: u64 = 1_000;

/// How many authors the node replicates (its own included).
pub const AUTHORS_MAX: usize = 256;

/// The core node as this process runs it: 64 peers, [`AUTHORS_MAX`] replicated
/// authors, 512 wants in flight, 8 fork proofs, 512 parked blocks (room for a full
/// [`WANT_WINDOW`] of answers arriving out of order).
pub type CoreNode = Node<FlashStore, Ed25519Check, 64, AUTHORS_MAX, 512, 8, 512>;

/// Most wants in flight to one peer for one author ([`Config::want_window`]): 32 wants
/// of 16 blocks keep up to 512 blocks in flight per peer, about 130 KB of short posts
/// (650 KB of the largest), the bandwidth-delay product of a 100 ms round trip at 10
/// Mbit/s (50 Mbit/s). Measured in the lab (a 2,000-block chain over 50 ms, 10% loss,
/// without fsync): 7.7 s with 8 wants, 3.8 s with 32, 3.5 s with 64.
pub const WANT_WINDOW: u8 = 32;

/// How to run a node (the parsed `glitter node` options).
pub struct Options {
    /// Where the node's lines for its operator go (the binary passes stdout).
    pub out: Box<dyn Sink>,
    /// Listen addresses.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial (and redial while disconnected).
    pub peers: Vec<Multiaddr>,
    /// Gossip interval.
    pub tick_ms: u64,
    /// Sync every flash write (durable against power loss, not only process crashes).
    pub fsync: bool,
    /// TEST ONLY: adversarial mode (malformed and inflated heads, forged blocks,
    /// corrupted releases); see `runtime::adversary`.
    pub evil: bool,
    /// TEST ONLY: equivocation mode (a signed twin of the head block for some peers).
    pub equivocate: bool,
    /// TEST ONLY: fake-heads mode (heads beyond the truth at every tick, wants never
    /// answered).
    pub fake_heads: bool,
    /// Discover and dial peers on the local network with mDNS.
    pub mdns: bool,
    /// What is stored for other authors.
    pub quota: crate::store::Quota,
    /// Whom the node holds backups for: accepted owners only (the default), or also
    /// the authors it follows.
    pub custody_policy: glitter_host::backup::CustodyPolicy,
    /// How many bytes of backups it holds, per owner and in total.
    pub custody_quota: glitter_host::backup::CustodyQuota,
    /// Most inbound connections from one IP address (an IPv6 /64), in their handshake
    /// or established ([`CONNECTIONS_PER_IP_DEFAULT`] by default).
    pub max_conns_per_ip: u32,
    /// Microcontroller devices taken as peers over a serial link (at most
    /// [`DEVICES_MAX`]).
    pub devices: Vec<DeviceSpec>,
    /// Authors every device is told to follow; the node replicates them too, to serve
    /// them.
    pub device_follow: Vec<PublicKey>,
    /// The web app (`--web`), started on the node's runtime once it is up.
    pub web: Option<ServiceStart>,
}

/// Transport-level counters (the core has its own).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
struct NetStats {
    heads_published: u64,
    gossip_accepted: u64,
    gossip_rejected: u64,
    requests_sent: u64,
    requests_dropped: u64,
    requests_failed: u64,
    requests_served: u64,
    responses_received: u64,
    /// Connections closed because two pings in a row went unanswered.
    dead_connections_closed: u64,
}

/// A running node: the core node, its swarm, and what the loop keeps between steps.
struct Runtime {
    swarm: Swarm<Behaviour>,
    node: Box<CoreNode>,
    keys: KeyPair,
    topic: IdentTopic,
    /// Core ids of connected peers (see `peers`).
    peers: PeerTable,
    connected: HashSet<PeerId>,
    /// The last `Heads` each peer published: handled again after its blocks arrive, so
    /// a long chain is fetched want after want without waiting for the next tick.
    last_heads: HashMap<CorePeer, Vec<u8>>,
    in_flight: usize,
    /// Requests in flight (at most `REQUESTS_IN_FLIGHT_MAX`): to whom, what, and whether
    /// that peer announced the heads the request follows from (see `on_gossip`), so the
    /// core learns how each want ended.
    requests: HashMap<request_response::OutboundRequestId, (CorePeer, Vec<u8>, bool)>,
    /// Set while routing the wants for heads a relay forwarded (their publisher is not
    /// connected): the relay need not hold the blocks.
    relayed: bool,
    dial_targets: DialTargets,
    listen: Vec<Multiaddr>,
    follows: Vec<PublicKey>,
    rng: ChaCha8Rng,
    clock: os::Clock,
    stats: NetStats,
    data_dir: PathBuf,
    stop: bool,
    backup: BackupState,
    out: Box<dyn Sink>,
    /// TEST ONLY: how this node misbehaves (`None` for every real node).
    adversary: Option<Adversary>,
    /// Messages waiting for the commit of the blocks stored before them
    /// ([`replicate::Held`]); sent by `settle` after every batch of events.
    held: Vec<replicate::Held>,
    /// A commit failed while answering a control request: the loop stops with it.
    fatal: Option<std::io::Error>,
    /// The devices of `--device`.
    devices: device::Devices,
    /// The handle given to the web app, if one runs (its stored-block events).
    handle: Option<NodeHandle>,
    /// The web app's login URL.
    web_url: Option<String>,
    /// What the view requests remember (profiles).
    views: views::ViewCache,
}

/// Runs a node on `data_dir` until SIGINT, SIGTERM or a `stop` request.
///
/// # Errors
/// [`NodeError`]: if the data directory, the flash image, the listen address or the
/// control socket cannot be set up, or the runtime fails.
pub fn run(opts: Options, data_dir: &Path) -> Result<(), NodeError> {
    let dir = data_dir.to_path_buf();
    // The flash log's RAM index (about 280 KiB) is built on the stack before it is
    // boxed; a thread of its own gets a stack with room for it.
    let handle = std::thread::Builder::new()
        .name("glitter-node".into())
        .stack_size(64 * 1024 * 1024)
        .spawn(move || -> Result<(), NodeError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(NodeError::Tokio)?;
            rt.block_on(run_async(opts, &dir))
        })
        .map_err(NodeError::Thread)?;
    handle.join().map_err(|_| NodeError::Panicked)?
}

/// Takes the data directory's node lock (held until the returned file is dropped).
fn take_lock(data_dir: &Path) -> Result<File, NodeError> {
    let path = data_dir.join(LOCK_NAME);
    let lock = match File::create(&path) {
        Ok(f) => f,
        Err(source) => return Err(NodeError::Lock { path, source }),
    };
    if lock.try_lock().is_err() {
        return Err(NodeError::Running { path });
    }
    Ok(lock)
}

async fn run_async(mut opts: Options, data_dir: &Path) -> Result<(), NodeError> {
    let data = DataDir::open(data_dir).map_err(NodeError::host("data directory"))?;
    let keys = data.identity().map_err(NodeError::host("identity"))?;
    let lock = take_lock(data_dir)?;
    let store = own::open_store(
        &data,
        &keys.public(),
        opts.quota,
        opts.fsync,
        &mut *opts.out,
    )?;
    let config = Config {
        // Heads go to every peer by gossipsub, so nobody needs to answer with theirs.
        mode: GossipMode::Push,
        want_window: WANT_WINDOW,
        // Every Heads message is published on gossipsub, which already carries each one
        // to every subscriber: the core's per-peer pushes would publish the same heads
        // once per peer that shares the author.
        eager_push: false,
        ..Config::default()
    };
    let mut node = Box::new(CoreNode::new(keys.public(), store, Ed25519Check, config));
    let follows = own::replay_follows(&mut node, &keys.public())?;
    for author in &opts.device_follow {
        if !node.follow(*author) {
            return Err(NodeError::DeviceFollowFull { author: *author });
        }
    }
    let key = libp2p_keypair(&keys)?;
    let topic = IdentTopic::new(HEADS_TOPIC);
    let mut swarm = swarm::build_swarm(key, &topic, opts.mdns, opts.max_conns_per_ip)?;
    for addr in &opts.listen {
        swarm.listen_on(addr.clone()).map_err(|e| match e {
            // libp2p wraps the OS error in layers that each print it again: keep its
            // kind and its text, once.
            TransportError::Other(e) => NodeError::Listen {
                addr: addr.clone(),
                source: std::io::Error::new(e.kind(), e.to_string()),
            },
            TransportError::MultiaddrNotSupported(_) => {
                NodeError::ListenUnsupported { addr: addr.clone() }
            }
        })?;
    }
    let (sock, ctl_tx, mut ctl_rx) = control::listen(data_dir)?;
    let (devices, mut dev_rx) = device::Devices::start(
        &opts.devices,
        std::mem::take(&mut opts.device_follow),
        keys.public(),
        AUTHORS_MAX as u16,
    )?;
    let seed = os::random32()?;
    let mut rt = Runtime {
        swarm,
        node,
        keys,
        topic,
        peers: PeerTable::default(),
        connected: HashSet::new(),
        last_heads: HashMap::new(),
        in_flight: 0,
        requests: HashMap::new(),
        relayed: false,
        dial_targets: DialTargets::new(&opts.peers),
        listen: Vec::new(),
        follows,
        rng: ChaCha8Rng::from_seed(seed),
        clock: os::Clock::start(),
        stats: NetStats::default(),
        data_dir: data_dir.to_path_buf(),
        stop: false,
        backup: BackupState::load(data_dir, opts.custody_policy, opts.custody_quota)?,
        out: opts.out,
        adversary: Adversary::from_flags(opts.evil, opts.equivocate, opts.fake_heads),
        held: Vec::new(),
        fatal: None,
        devices,
        handle: None,
        web_url: None,
        views: views::ViewCache::default(),
    };
    let hello = format!(
        "glitter node {} (peer id {})",
        rt.keys.public(),
        rt.swarm.local_peer_id()
    );
    rt.out.line(&hello);
    if let Some(start) = opts.web.take() {
        let handle = NodeHandle::new(ctl_tx.clone());
        let url = start(handle.clone()).map_err(NodeError::Web)?;
        rt.out.line(&format!(
            "web: {url}   (open this link; it logs this browser in)"
        ));
        rt.node.store().watch_appends = true;
        rt.handle = Some(handle);
        rt.web_url = Some(url);
    }
    drop(ctl_tx);
    rt.start_custody();
    rt.redial();
    let mut tick = tokio::time::interval(Duration::from_millis(opts.tick_ms.max(10)));
    let mut redial = tokio::time::interval(Duration::from_millis(REDIAL_MS));
    let watch = |kind: tokio::signal::unix::SignalKind, signal: &'static str| {
        tokio::signal::unix::signal(kind).map_err(|source| NodeError::Signal { signal, source })
    };
    let mut term = watch(tokio::signal::unix::SignalKind::terminate(), "SIGTERM")?;
    let mut int = watch(tokio::signal::unix::SignalKind::interrupt(), "SIGINT")?;
    // Bounded by the process's life: one step per event; a stop request, SIGINT or
    // SIGTERM ends it.
    let mut failed = None;
    while !rt.stop {
        tokio::select! {
            ev = rt.swarm.select_next_some() => {
                rt.on_swarm_event(ev);
                // A burst of answers is one batch: events already waiting are handled
                // before the commit (at most EVENTS_PER_COMMIT_MAX).
                for _ in 0..replicate::EVENTS_PER_COMMIT_MAX {
                    if !rt.node.store_ref().has_staged() {
                        break;
                    }
                    match rt.swarm.select_next_some().now_or_never() {
                        Some(ev) => rt.on_swarm_event(ev),
                        None => break,
                    }
                }
            }
            Some((req, reply)) = ctl_rx.recv() => rt.on_control_msg(req, reply),
            Some(ev) = dev_rx.recv() => {
                rt.on_device_event(ev);
                // As for swarm events: frames already received are one batch.
                for _ in 0..replicate::EVENTS_PER_COMMIT_MAX {
                    if !rt.node.store_ref().has_staged() {
                        break;
                    }
                    match dev_rx.try_recv() {
                        Ok(ev) => rt.on_device_event(ev),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => rt.on_tick(),
            _ = redial.tick() => {
                rt.redial();
                // Jittered (1–3 s), so two nodes that dial each other at the same moment
                // (and each refuse the other's connection) do not do so again and again.
                let jitter = rt.rng.next_u64() % REDIAL_MS;
                redial.reset_after(Duration::from_millis(REDIAL_MS / 2 + jitter));
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
        if let Err(e) = rt.settle() {
            failed = Some(e);
            break;
        }
    }
    rt.out.line("glitter node: shutting down");
    // Let a pending control answer (for `stop`) reach its client.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(data_dir.join(INFO_NAME));
    let Runtime { node, .. } = rt;
    if let Some(e) = failed {
        // Nothing staged is acknowledged; the next start recovers what the disk holds.
        return Err(e);
    }
    // Sync the image and record a clean close (the session record then covers every
    // block this node stored), then end group commit (its journal is removed), before
    // the lock is released.
    let log = node.into_store().into_log();
    data.close_log(&log)
        .map_err(NodeError::host("closing the flash image"))?;
    log.into_flash()
        .set_group_commit(false)
        .map_err(NodeError::host("closing the flash image"))?;
    drop(lock);
    Ok(())
}

impl Runtime {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// The core id of a connected peer (`None` for any other).
    fn core_id(&self, peer: PeerId) -> Option<CorePeer> {
        self.peers.id(&peer)
    }

    fn libp2p_id(&self, id: CorePeer) -> Option<PeerId> {
        self.peers.peer(id)
    }

    /// A peer's first connection is up: give it a core id (handing the core any ban it
    /// had when it left), or disconnect it if the table is full.
    fn peer_connected(&mut self, peer: PeerId) {
        let now = self.now_ms();
        let Some(id) = self.peers.connect(peer) else {
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        };
        self.node.add_peer(id);
        if let Some(until) = self.peers.take_ban(&peer, now) {
            self.node.ban_peer(id, until);
            self.mirror_score(id);
        }
    }

    /// A peer's last connection closed: free its core id, keeping its ban here.
    fn peer_disconnected(&mut self, peer: &PeerId) {
        let now = self.now_ms();
        let Some(id) = self.peers.disconnect(peer) else {
            return;
        };
        if let Some(until) = self.node.banned_until(id)
            && until > now
        {
            self.peers.remember_ban(*peer, until, now);
        }
        self.node.peer_gone(id);
        self.last_heads.remove(&id);
    }

    /// Announces our heads now (at a tick, or after a local append instead of at the
    /// next tick): on gossipsub, and to every attached device.
    fn announce(&mut self) {
        let now = self.now_ms();
        let mut out = VecOutbox::new(OUTBOX_MAX);
        self.node.tick(now, &mut self.rng, &mut out);
        // The tick picks one peer for its heads. Devices get theirs at every tick
        // anyway (`device_tick`), so heads it picked a device for are published for
        // the libp2p peers instead.
        let mut rest = VecOutbox::new(OUTBOX_MAX);
        for (to, bytes) in out.messages {
            if self.devices.of(to).is_some() && swarm::is_heads(&bytes) {
                self.publish(bytes);
            } else {
                rest.messages.push((to, bytes));
            }
        }
        self.route(rest, None);
        self.device_tick();
    }

    fn on_tick(&mut self) {
        self.announce();
        self.retry_hellos();
        let now = self.now_ms();
        if let Err(e) = own::checkpoint(&self.data_dir, &mut self.node, now) {
            self.out
                .line(&format!("glitter node: {}", crate::error::one_line(&e)));
        }
        if let Some(adversary) = self.adversary.as_mut() {
            for bytes in adversary.gossip(&mut self.node, &self.follows) {
                self.publish(bytes);
            }
        }
    }

    fn redial(&mut self) {
        self.dial_targets.redial(&mut self.swarm, &self.connected);
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.clone().with(libp2p::multiaddr::Protocol::P2p(
                    *self.swarm.local_peer_id(),
                ));
                self.out.line(&format!("listening on {full}"));
                self.listen.push(full);
                self.write_info();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                self.connected.insert(peer_id);
                if num_established.get() == 1 {
                    self.send_hello(peer_id);
                }
                self.peer_connected(peer_id);
                self.dial_targets
                    .connected(connection_id, &endpoint, peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.connected.remove(&peer_id);
                self.forget_author(&peer_id);
                self.peer_disconnected(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError { connection_id, .. } => {
                self.dial_targets.failed(connection_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                self.dial_targets.identified(peer_id, &info.listen_addrs);
                for addr in info.listen_addrs {
                    self.swarm.add_peer_address(peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, &message_id, message),
            // The ping handler reports only the second failure in a row. Only a timeout
            // (pings unanswered) means a dead connection: a peer that does not speak
            // ping (a restoring device, a test client) fails otherwise, `Unsupported`,
            // or, with lazy stream negotiation, an I/O error on the refused stream.
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(e),
            })) if matches!(e, ping::Failure::Timeout) => self.close_dead(peer, connection, &e),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(ev)) => self.on_sync(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Backup(ev)) => self.on_backup(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    self.swarm.add_peer_address(peer, addr.clone());
                    if !self.connected.contains(&peer) {
                        let opts = DialOpts::peer_id(peer).addresses(vec![addr]).build();
                        let _ = self.swarm.dial(opts);
                    }
                }
            }
            _ => {}
        }
    }

    /// Closes a connection whose pings went unanswered.
    fn close_dead(
        &mut self,
        peer: PeerId,
        connection: libp2p::swarm::ConnectionId,
        e: &ping::Failure,
    ) {
        if self.swarm.close_connection(connection) {
            self.stats.dead_connections_closed += 1;
            self.out.line(&format!(
                "glitter node: closing the connection to {peer}: {e} (whichever side dialled it dials again)"
            ));
        }
    }
}
