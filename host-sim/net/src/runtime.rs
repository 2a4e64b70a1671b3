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

mod custody;

use super::backup_proto::BackupCodec;
use super::codec::{RESPONSE_MESSAGES_MAX, SyncCodec};
use super::control::{INFO_NAME, REQUEST_LEN_MAX, Request, Response, socket_path};
use super::store::FlashStore;
use super::transport::{
    DialTargets, backup_behaviour, identify_behaviour, sync_behaviour, tcp_swarm,
};
use glitter_host::chainfile::VerifiedChain;
use glitter_host::datadir::{
    DataDir, HostLog, IMAGE_BYTES_DEFAULT, IMAGE_FILE, write_atomic,
};
use glitter_host::feed;
use glitter_host::flash_file::FileFlash;
use glitter_host::account::author_arg;
use glitter_host::{Sink, os};
use anyhow::{Context, Result, anyhow, bail};
use custody::BackupState;
use futures::StreamExt;
use glitter_core::chain::Ed25519Check;
use glitter_core::hash::Hash;
use glitter_core::sig::{KeyPair, PublicKey};
use glitter_core::social::{BlockRef, Follow, Payload, Unfollow};
use glitter_core::store::{BlockLog, FlashLog};
use glitter_core::sync::message::{HEADS_MAX, MESSAGE_LEN_MAX};
use glitter_core::sync::{
    Config, GossipMode, HeadEntry, Message, Node, Outbox, OutboxFull, PeerId as CorePeer, SyncStore,
};
use glitter_core::wire::header::{HEADER_LEN, PAYLOAD_LEN_MAX};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, mdns, ping};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// The gossipsub topic of head announcements.
pub const HEADS_TOPIC: &str = "glitter/heads/1";
/// The lock file that keeps a second node off the same data directory.
pub const LOCK_NAME: &str = "node.lock";
/// Most sync requests in flight; more are dropped (the core asks again after its want
/// timeout).
pub const REQUESTS_IN_FLIGHT_MAX: usize = 64;
/// Most messages one core call may emit before the outbox refuses more.
const OUTBOX_MAX: usize = 256;
/// Most libp2p peers mapped to core peer ids; later ones share one id.
const PEER_TABLE_MAX: usize = 4096;
/// How often configured peers that are not connected are dialled again.
const REDIAL_MS: u64 = 2_000;
/// The domain tag of the libp2p key derivation (see [`libp2p_keypair`]).
pub const LIBP2P_KEY_DOMAIN: &[u8] = b"glitter/libp2p-identity/v1";

/// The core node as this process runs it: 64 peers, 256 replicated authors, 64 wants
/// in flight, 8 fork proofs, 32 parked blocks.
pub type CoreNode = Node<FlashStore, Ed25519Check, 64, 256, 64, 8, 32>;

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
    /// Adversarial test mode (see `NodeArgs::evil`).
    pub evil: bool,
    /// Equivocation test mode (see `RunArgs::equivocate`).
    pub equivocate: bool,
    /// Discover and dial peers on the local network with mDNS.
    pub mdns: bool,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    backup: request_response::Behaviour<BackupCodec>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The libp2p identity of a glitter identity: an Ed25519 key whose secret is
/// SHA-256(`LIBP2P_KEY_DOMAIN` ‖ seed). It is derived from the identity seed, so a
/// data directory always has the same peer id, but it is a different key from the
/// chain-signing key, so libp2p never signs anything with the key that signs blocks.
///
/// # Errors
/// If libp2p refuses the derived secret (it accepts every 32-byte string).
pub fn libp2p_keypair(keys: &KeyPair) -> Result<Keypair> {
    let mut secret = Hash::of_parts(&[LIBP2P_KEY_DOMAIN, &keys.seed()]).0;
    Keypair::ed25519_from_bytes(&mut secret).map_err(|e| anyhow!("libp2p identity: {e}"))
}

/// Collects what the core node sends, bounded.
#[derive(Default)]
struct Collect {
    msgs: Vec<(CorePeer, Vec<u8>)>,
}

impl Outbox for Collect {
    fn send(&mut self, to: CorePeer, msg: &Message<'_>) -> Result<(), OutboxFull> {
        if self.msgs.len() >= OUTBOX_MAX {
            return Err(OutboxFull);
        }
        let mut buf = [0u8; MESSAGE_LEN_MAX];
        let bytes = msg.emit(&mut buf).map_err(|_| OutboxFull)?;
        self.msgs.push((to, bytes.to_vec()));
        Ok(())
    }
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
}


type ControlMsg = (Request, oneshot::Sender<Response>);

struct Runtime {
    swarm: Swarm<Behaviour>,
    node: Box<CoreNode>,
    keys: KeyPair,
    topic: IdentTopic,
    peer_ids: HashMap<PeerId, CorePeer>,
    peer_of: Vec<PeerId>,
    connected: HashSet<PeerId>,
    /// The last `Heads` each peer published: handled again after its blocks arrive, so
    /// a long chain is fetched want after want without waiting for the next tick.
    last_heads: HashMap<CorePeer, Vec<u8>>,
    in_flight: usize,
    dial_targets: DialTargets,
    listen: Vec<Multiaddr>,
    follows: Vec<PublicKey>,
    rng: ChaCha8Rng,
    clock: os::Clock,
    evil: bool,
    equivocate: bool,
    ticks: u64,
    stats: NetStats,
    data_dir: PathBuf,
    stop: bool,
    backup: BackupState,
    out: Box<dyn Sink>,
}

/// Runs a node on `data_dir` until SIGINT, SIGTERM or a `stop` request.
///
/// # Errors
/// If the data directory, the flash image, the listen address or the control socket
/// cannot be set up, or the runtime fails.
pub fn run(opts: Options, data_dir: &Path) -> Result<()> {
    let dir = data_dir.to_path_buf();
    // The flash log's RAM index (about 280 KiB) is built on the stack before it is
    // boxed; a thread of its own gets a stack with room for it.
    let handle = std::thread::Builder::new()
        .name("glitter-node".into())
        .stack_size(64 * 1024 * 1024)
        .spawn(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the tokio runtime")?;
            rt.block_on(run_async(opts, &dir))
        })
        .context("cannot start the node thread")?;
    handle
        .join()
        .map_err(|_| anyhow!("the node thread panicked"))?
}

/// Mounts the data directory's image (`chain.img`, created as the offline CLI creates
/// it if missing), with every write synced unless `fsync` is off.
fn open_store(data: &DataDir, fsync: bool) -> Result<FlashStore> {
    let path = data.root().join(IMAGE_FILE);
    let mut flash = if path.exists() {
        FileFlash::open_existing(&path)
    } else {
        // The size a new image gets from the offline CLI too.
        let size = std::env::var("GLITTER_IMAGE_MIB")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(IMAGE_BYTES_DEFAULT, |m| m << 20);
        FileFlash::create(&path, size)
    }
    .with_context(|| format!("{}: cannot open the flash image", path.display()))?;
    {
        // A blank image is formatted first, without a sync per erased page (thousands
        // of them), then synced once; a format cut short is simply run again.
        flash.set_sync_writes(false);
        FlashLog::<&mut FileFlash, 256, 65_536>::mount_or_format(&mut flash)
            .map_err(|e| anyhow!("{}: cannot mount the flash image: {e}", path.display()))?;
        flash
            .sync()
            .with_context(|| format!("{}: cannot sync the flash image", path.display()))?;
    }
    flash.set_sync_writes(fsync);
    let log = HostLog::mount(flash)
        .map_err(|e| anyhow!("{}: cannot mount the flash image: {e}", path.display()))?;
    if let Some(t) = log.mount_report().torn_tail {
        eprintln!(
            "glitter node: {}: discarded a torn write at offset {} (repaired: {})",
            path.display(),
            t.offset,
            t.repaired
        );
    }
    Ok(FlashStore::new(Box::new(log)))
}

fn build_swarm(key: Keypair, topic: &IdentTopic, with_mdns: bool) -> Result<Swarm<Behaviour>> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .heartbeat_initial_delay(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(700))
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(4 * 1024)
        .build()
        .map_err(|e| anyhow!("gossipsub config: {e}"))?;
    let mut gossip = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(key.clone()),
        gossip_config,
    )
    .map_err(|e| anyhow!("gossipsub: {e}"))?;
    let (params, thresholds) = score_params(topic);
    gossip
        .with_peer_score(params, thresholds)
        .map_err(|e| anyhow!("gossipsub peer scoring: {e}"))?;
    gossip
        .subscribe(topic)
        .map_err(|e| anyhow!("gossipsub subscribe: {e}"))?;
    let sync = sync_behaviour(ProtocolSupport::Full);
    let backup = backup_behaviour(ProtocolSupport::Full);
    let identify = identify_behaviour(&key);
    let ping = ping::Behaviour::new(ping::Config::new());
    let mdns = if with_mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())
                .map_err(|e| anyhow!("mdns: {e}"))?,
        )
    } else {
        None
    };
    let behaviour = Behaviour {
        gossipsub: gossip,
        sync,
        backup,
        identify,
        ping,
        mdns: Toggle::from(mdns),
    };
    tcp_swarm(key, behaviour, Duration::from_secs(3600))
}

/// Gossipsub scoring for a topic of small, periodic head announcements.
fn score_params(
    topic: &IdentTopic,
) -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let t = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.5,
        first_message_deliveries_cap: 10.0,
        // Announcements are few and periodic: a minimum delivery rate would punish
        // quiet honest peers, so P3 and P3b are off.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4: every rejected message counts, squared; slow decay so a peer that keeps
        // sending garbage stays below the graylist threshold.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..gossipsub::TopicScoreParams::default()
    };
    let mut p = gossipsub::PeerScoreParams {
        // The core's peer score (0 down to the ban score) counts one for one.
        app_specific_weight: 1.0,
        ..gossipsub::PeerScoreParams::default()
    };
    p.topics.insert(topic.hash(), t);
    // Several nodes on one machine share 127.0.0.1; that is not a Sybil signal.
    p.ip_colocation_factor_whitelist
        .insert(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    (p, gossipsub::PeerScoreThresholds::default())
}

async fn run_async(opts: Options, data_dir: &Path) -> Result<()> {
    let data = DataDir::open(data_dir)?;
    let keys = data.identity()?;
    let lock_path = data_dir.join(LOCK_NAME);
    let lock = File::create(&lock_path)
        .with_context(|| format!("{}: cannot create the lock file", lock_path.display()))?;
    if lock.try_lock().is_err() {
        bail!(
            "{}: another glitter node is running on this data directory",
            lock_path.display()
        );
    }
    let store = open_store(&data, opts.fsync)?;
    let config = Config {
        // Heads go to every peer by gossipsub, so nobody needs to answer with theirs.
        mode: GossipMode::Push,
        ..Config::default()
    };
    let mut node = Box::new(CoreNode::new(keys.public(), store, Ed25519Check, config));
    let follows = replay_follows(&mut node, &keys.public());
    let key = libp2p_keypair(&keys)?;
    let topic = IdentTopic::new(HEADS_TOPIC);
    let mut swarm = build_swarm(key, &topic, opts.mdns)?;
    for addr in &opts.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| anyhow!("cannot listen on {addr}: {e}"))?;
    }
    let sock = socket_path(data_dir);
    let _ = std::fs::remove_file(&sock); // stale: we hold the lock, so no node uses it
    let listener = tokio::net::UnixListener::bind(&sock)
        .with_context(|| format!("{}: cannot create the control socket", sock.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("{}: cannot restrict the socket", sock.display()))?;
    }
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<ControlMsg>(64);
    tokio::spawn(accept_control(listener, ctl_tx));
    let seed = os::random32()?;
    let mut rt = Runtime {
        swarm,
        node,
        keys,
        topic,
        peer_ids: HashMap::new(),
        peer_of: Vec::new(),
        connected: HashSet::new(),
        last_heads: HashMap::new(),
        in_flight: 0,
        dial_targets: DialTargets::new(&opts.peers),
        listen: Vec::new(),
        follows,
        rng: ChaCha8Rng::from_seed(seed),
        clock: os::Clock::start(),
        evil: opts.evil,
        equivocate: opts.equivocate,
        ticks: 0,
        stats: NetStats::default(),
        data_dir: data_dir.to_path_buf(),
        stop: false,
        backup: BackupState::default(),
        out: opts.out,
    };
    let hello = format!(
        "glitter node {} (peer id {})",
        rt.keys.public(),
        rt.swarm.local_peer_id()
    );
    rt.out.line(&hello);
    rt.redial();
    let mut tick = tokio::time::interval(Duration::from_millis(opts.tick_ms.max(10)));
    let mut redial = tokio::time::interval(Duration::from_millis(REDIAL_MS));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot watch SIGTERM")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot watch SIGINT")?;
    // Bounded by the process's life: one step per event; a stop request, SIGINT or
    // SIGTERM ends it.
    while !rt.stop {
        tokio::select! {
            ev = rt.swarm.select_next_some() => rt.on_swarm_event(ev),
            Some((req, reply)) = ctl_rx.recv() => rt.on_control_msg(req, reply),
            _ = tick.tick() => rt.on_tick(),
            _ = redial.tick() => rt.redial(),
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    rt.out.line("glitter node: shutting down");
    // Let a pending control answer (for `stop`) reach its client.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(data_dir.join(INFO_NAME));
    let Runtime { node, .. } = rt;
    let mut flash = node.into_store().into_log().into_flash();
    flash
        .sync()
        .with_context(|| format!("{}: cannot sync the flash image", flash.path().display()))?;
    drop(lock);
    Ok(())
}

/// Replays the node's own Follow and Unfollow blocks into the core node, returning the
/// followed authors.
fn replay_follows(node: &mut CoreNode, me: &PublicKey) -> Vec<PublicKey> {
    let follows = follows_of(node, me);
    for a in &follows {
        node.follow(*a);
    }
    follows
}

/// The authors `me`'s chain follows now (Follow minus later Unfollow), in order.
fn follows_of(node: &mut CoreNode, me: &PublicKey) -> Vec<PublicKey> {
    let head = node.store().head(me).map_or(0, |h| h.seq);
    let mut buf = [0u8; PAYLOAD_LEN_MAX];
    let mut out: Vec<PublicKey> = Vec::new();
    for seq in 1..=head {
        let Some(h) = node.store().header(me, seq) else {
            break;
        };
        let Some(len) = node.store().payload(me, seq, &mut buf) else {
            continue;
        };
        match buf.get(..len).map(|p| Payload::decode(h.kind, p)) {
            Some(Ok(Payload::Follow(f))) => {
                let a = PublicKey(f.author);
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            Some(Ok(Payload::Unfollow(f))) => out.retain(|a| a.0 != f.author),
            _ => {}
        }
    }
    out
}

async fn accept_control(listener: tokio::net::UnixListener, tx: mpsc::Sender<ControlMsg>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = serve_control(stream, tx).await;
        });
    }
}

async fn serve_control(
    stream: tokio::net::UnixStream,
    tx: mpsc::Sender<ControlMsg>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(REQUEST_LEN_MAX as u64));
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await;
    let response = match read {
        Err(_) => Response::err("control: no request within 10 s"),
        Ok(Err(e)) => Response::err(format!("control: cannot read the request: {e}")),
        Ok(Ok(_)) => match serde_json::from_str::<Request>(line.trim()) {
            Err(e) => Response::err(format!("control: not a request: {e}")),
            Ok(req) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                if tx.send((req, reply_tx)).await.is_err() {
                    Response::err("control: the node is shutting down")
                } else {
                    reply_rx
                        .await
                        .unwrap_or_else(|_| Response::err("control: the node is shutting down"))
                }
            }
        },
    };
    let mut out = serde_json::to_string(&response).unwrap_or_else(|_| {
        r#"{"ok":false,"error":"control: cannot encode the response","lines":[],"data":null}"#
            .to_string()
    });
    out.push('\n');
    write.write_all(out.as_bytes()).await?;
    write.shutdown().await
}

fn is_heads(bytes: &[u8]) -> bool {
    matches!(Message::parse(bytes), Ok(Message::Heads { .. }))
}

/// The gossip validator: a well-formed `Heads` whose authors are usable keys and
/// whose seq and id agree (seq 0 exactly when the id is zero).
fn check_heads(bytes: &[u8]) -> std::result::Result<(), &'static str> {
    match Message::parse(bytes) {
        Ok(Message::Heads { heads, .. }) => {
            for e in &heads {
                if e.author.validate().is_err() {
                    return Err("a head names an unusable author key");
                }
                if (e.seq == 0) != e.id.is_zero() {
                    return Err("a head's seq and id disagree");
                }
            }
            Ok(())
        }
        Ok(_) => Err("not a Heads message"),
        Err(_) => Err("malformed message"),
    }
}

impl Runtime {
    fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn core_id(&mut self, peer: PeerId) -> CorePeer {
        if let Some(id) = self.peer_ids.get(&peer) {
            return *id;
        }
        if self.peer_of.len() >= PEER_TABLE_MAX {
            return CorePeer::MAX;
        }
        let id = self.peer_of.len() as CorePeer;
        self.peer_of.push(peer);
        self.peer_ids.insert(peer, id);
        id
    }

    fn libp2p_id(&self, id: CorePeer) -> Option<PeerId> {
        self.peer_of.get(id as usize).copied()
    }

    /// Mirrors the core's score of `id` into gossipsub's application score.
    fn mirror_score(&mut self, id: CorePeer) {
        if let (Some(pid), Some(score)) = (self.libp2p_id(id), self.node.peer_score(id)) {
            self.swarm
                .behaviour_mut()
                .gossipsub
                .set_application_score(&pid, f64::from(score));
        }
    }

    /// Sends what the core emitted. Messages for `reply_to` (except heads) are
    /// returned as the response to its request.
    fn route(&mut self, out: Collect, reply_to: Option<CorePeer>) -> Vec<Vec<u8>> {
        let mut response = Vec::new();
        for (to, bytes) in out.msgs {
            if is_heads(&bytes) {
                self.publish(bytes);
            } else if Some(to) == reply_to {
                if response.len() < RESPONSE_MESSAGES_MAX {
                    response.push(bytes);
                }
            } else {
                self.send_request(to, bytes);
            }
        }
        response
    }

    fn publish(&mut self, bytes: Vec<u8>) {
        let topic = self.topic.clone();
        if self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, bytes)
            .is_ok()
        {
            self.stats.heads_published += 1;
        }
    }

    fn send_request(&mut self, to: CorePeer, bytes: Vec<u8>) {
        let Some(pid) = self.libp2p_id(to) else {
            return;
        };
        if self.in_flight >= REQUESTS_IN_FLIGHT_MAX {
            self.stats.requests_dropped += 1;
            return;
        }
        self.swarm.behaviour_mut().sync.send_request(&pid, bytes);
        self.in_flight += 1;
        self.stats.requests_sent += 1;
    }

    fn on_tick(&mut self) {
        self.ticks += 1;
        let now = self.now_ms();
        let mut out = Collect::default();
        self.node.tick(now, &mut self.rng, &mut out);
        self.route(out, None);
        if self.evil {
            self.evil_gossip();
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
                if let Err(e) = self.write_info() {
                    eprintln!("glitter node: {e}");
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                self.connected.insert(peer_id);
                if num_established.get() == 1 {
                    self.send_hello(peer_id);
                }
                let id = self.core_id(peer_id);
                self.node.add_peer(id);
                self.dial_targets.connected(&endpoint, peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.connected.remove(&peer_id);
                self.forget_author(&peer_id);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                for addr in info.listen_addrs {
                    self.swarm.add_peer_address(peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, &message_id, message),
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

    fn on_gossip(&mut self, via: PeerId, id: &gossipsub::MessageId, message: gossipsub::Message) {
        let now = self.now_ms();
        let verdict = check_heads(&message.data);
        let acceptance = if verdict.is_ok() {
            MessageAcceptance::Accept
        } else {
            MessageAcceptance::Reject
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, &via, acceptance);
        let mut out = Collect::default();
        match verdict {
            Err(_) => {
                self.stats.gossip_rejected += 1;
                // Malformed bytes cost the forwarding peer core score too (the core
                // penalises whatever it cannot parse).
                let from = self.core_id(via);
                if Message::parse(&message.data).is_err() {
                    let _ = self.node.handle(now, from, &message.data, &mut out);
                    self.mirror_score(from);
                }
            }
            Ok(()) => {
                self.stats.gossip_accepted += 1;
                // Heads name what their publisher holds: ask the publisher.
                let from = self.core_id(message.source.unwrap_or(via));
                let _ = self.node.handle(now, from, &message.data, &mut out);
                self.last_heads.insert(from, message.data);
            }
        }
        self.route(out, None);
    }

    fn on_sync(&mut self, ev: request_response::Event<Vec<u8>, Vec<Vec<u8>>>) {
        let now = self.now_ms();
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let from = self.core_id(peer);
                    let mut out = Collect::default();
                    let _ = self.node.handle(now, from, &request, &mut out);
                    self.mirror_score(from);
                    let mut response = self.route(out, Some(from));
                    if self.evil {
                        response = self.evil_response(&request);
                    }
                    if self.equivocate && from % 2 == 1 {
                        self.equivocate_response(&mut response);
                    }
                    self.stats.requests_served += 1;
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, response);
                }
                request_response::Message::Response { response, .. } => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    self.stats.responses_received += 1;
                    let from = self.core_id(peer);
                    let before = self.node.stats().blocks_stored;
                    let mut out = Collect::default();
                    for msg in &response {
                        let _ = self.node.handle(now, from, msg, &mut out);
                    }
                    self.mirror_score(from);
                    if self.node.stats().blocks_stored > before
                        && let Some(h) = self.last_heads.get(&from).cloned()
                    {
                        // Pipelining: ask for the next run of blocks right away.
                        let _ = self.node.handle(now, from, &h, &mut out);
                    }
                    self.route(out, None);
                }
            },
            request_response::Event::OutboundFailure { .. } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.stats.requests_failed += 1;
            }
            _ => {}
        }
        let _ = self.node.take_stored();
    }

    fn write_info(&self) -> Result<()> {
        let info = serde_json::json!({
            "author": self.keys.public().to_string(),
            "peer_id": self.swarm.local_peer_id().to_string(),
            "listen": self.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "control": socket_path(&self.data_dir),
            "pid": std::process::id(),
        });
        let path = self.data_dir.join(INFO_NAME);
        write_atomic(&path, info.to_string().as_bytes(), false)
    }

    /// Appends one of our own blocks, stamped no earlier than the head.
    fn append_own(&mut self, payload: &Payload) -> Result<glitter_core::wire::header::Header> {
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        let bytes = payload
            .encode(&mut buf)
            .map_err(|e| anyhow!("payload: {e}"))?;
        let me = self.keys.public();
        let head_ts = self.node.store().head(&me).map_or(0, |h| h.timestamp_ms);
        let now = os::now_ms().max(head_ts);
        let h = self
            .node
            .append_own(&self.keys, payload.kind(), now, bytes)
            .map_err(|e| {
                let store = self.node.store_ref();
                match &store.last_error {
                    Some(s) => anyhow!("append: {e} ({s})"),
                    None => anyhow!("append: {e}"),
                }
            })?;
        Ok(h)
    }

    /// Announces our heads now (after a local append), instead of at the next tick.
    fn announce(&mut self) {
        let now = self.now_ms();
        let mut out = Collect::default();
        self.node.tick(now, &mut self.rng, &mut out);
        self.route(out, None);
    }

    /// Handles a control request; a backup answers later, when its custodians have.
    fn on_control_msg(&mut self, req: Request, reply: oneshot::Sender<Response>) {
        if let Request::Backup {
            custodians,
            threshold,
        } = &req
        {
            let (c, k) = (custodians.clone(), *threshold);
            self.start_backup(&c, k, reply);
            return;
        }
        let r = self.on_control(req);
        let _ = reply.send(r);
    }

    fn on_control(&mut self, req: Request) -> Response {
        match self.control(req) {
            Ok(r) => r,
            Err(e) => Response::err(format!("{e:#}")),
        }
    }

    fn control(&mut self, req: Request) -> Result<Response> {
        match req {
            Request::Status => Ok(self.status()),
            Request::Post { text, reply_to } => {
                let reply = match reply_to {
                    None => None,
                    Some(r) => {
                        let (a, s) = r.split_once(':').context("reply_to takes AUTHOR:SEQ")?;
                        let author = author_arg(a)?;
                        let seq: u64 = s.parse().context("reply_to: SEQ must be a number")?;
                        let h = self.node.store().header(&author, seq).with_context(|| {
                            format!("reply_to: block {author}:{seq} is not stored here")
                        })?;
                        Some(BlockRef::new(author, seq, h.id()))
                    }
                };
                let p = Payload::post(&text, reply).map_err(|e| anyhow!("post text: {e}"))?;
                let h = self.append_own(&p)?;
                self.announce();
                Ok(Response::ok(
                    vec![format!("posted block {} ({})", h.seq, h.id())],
                    serde_json::json!({"seq": h.seq, "id": h.id().to_string()}),
                ))
            }
            Request::PostMany { count } => {
                if count > 100_000 {
                    bail!("post_many: at most 100000 posts at once");
                }
                let mut last = 0;
                for i in 0..count {
                    let p = Payload::post(&format!("bench post {i}"), None)
                        .map_err(|e| anyhow!("post text: {e}"))?;
                    last = self.append_own(&p)?.seq;
                }
                self.announce();
                Ok(Response::ok(
                    vec![format!("posted {count} blocks (head {last})")],
                    serde_json::json!({"seq": last}),
                ))
            }
            Request::Follow { author } => {
                let a = author_arg(&author)?;
                if a == self.keys.public() {
                    bail!("you cannot follow yourself");
                }
                if !self.node.follow(a) {
                    bail!("the follow table is full");
                }
                let h = self.append_own(&Payload::Follow(Follow { author: a.0 }))?;
                if !self.follows.contains(&a) {
                    self.follows.push(a);
                }
                self.announce();
                Ok(Response::ok(
                    vec![format!("following {a} (block {})", h.seq)],
                    serde_json::json!({"seq": h.seq}),
                ))
            }
            Request::Unfollow { author } => {
                let a = author_arg(&author)?;
                let h = self.append_own(&Payload::Unfollow(Unfollow { author: a.0 }))?;
                self.node.unfollow(&a);
                self.follows.retain(|f| *f != a);
                Ok(Response::ok(
                    vec![format!("unfollowed {a} (block {})", h.seq)],
                    serde_json::json!({"seq": h.seq}),
                ))
            }
            Request::Feed => self.feed(),
            Request::Head { author, seq } => {
                let a = author_arg(&author)?;
                let head = self.node.store().head(&a).map_or(0, |h| h.seq);
                let seq = seq.unwrap_or(head);
                let id = self
                    .node
                    .store()
                    .header(&a, seq)
                    .map(|h| h.id().to_string());
                Ok(Response::ok(
                    vec![match &id {
                        Some(id) => format!("{a}: seq {seq} id {id} (head {head})"),
                        None => format!("{a}: block {seq} not stored (head {head})"),
                    }],
                    serde_json::json!({"seq": seq, "id": id, "head": head}),
                ))
            }
            Request::Peers => Ok(self.peers()),
            Request::Backup { .. } => bail!("backup requests are answered asynchronously"),
            Request::BackupStatus => self.backup_status(),
            Request::Release {
                owner,
                code,
                valid_for_s,
            } => self.approve(&owner, &code, valid_for_s.unwrap_or(900)),
            Request::Custody => self.custody_list(),
            Request::Stop => {
                self.stop = true;
                Ok(Response::ok(
                    vec!["stopping".into()],
                    serde_json::Value::Null,
                ))
            }
        }
    }

    fn feed(&mut self) -> Result<Response> {
        let authors: Vec<PublicKey> = self.node.store_ref().log_ref().authors().collect();
        let mut chains = Vec::new();
        let mut buf = [0u8; PAYLOAD_LEN_MAX];
        for a in authors {
            let head = self.node.store().head(&a).map_or(0, |h| h.seq);
            let mut c = VerifiedChain {
                author: a,
                headers: Vec::new(),
                payloads: Vec::new(),
            };
            for seq in 1..=head {
                let Some(h) = self.node.store().header(&a, seq) else {
                    break;
                };
                let p = self
                    .node
                    .store()
                    .payload(&a, seq, &mut buf)
                    .and_then(|l| buf.get(..l))
                    .map(<[u8]>::to_vec);
                c.headers.push(h);
                c.payloads.push(p);
            }
            chains.push(c);
        }
        let mut lines = Vec::new();
        for f in self.node.forks() {
            lines.push(format!(
                "!! {} FORKED at seq {}: blocks from there on are disputed",
                f.author(),
                f.seq()
            ));
        }
        if chains.is_empty() {
            lines.push("(no chains yet: glitter node post, glitter node follow)".into());
        }
        lines.extend(feed::render(&chains));
        let blocks: usize = chains.iter().map(|c| c.headers.len()).sum();
        Ok(Response::ok(lines, serde_json::json!({"blocks": blocks})))
    }

    fn status(&mut self) -> Response {
        let me = self.keys.public();
        let mut heads = serde_json::Map::new();
        let mut authors = vec![me];
        authors.extend(self.follows.iter().copied());
        for a in &authors {
            let seq = self.node.store().head(a).map_or(0, |h| h.seq);
            heads.insert(a.to_string(), serde_json::json!(seq));
        }
        let s = *self.node.stats();
        let usage = self.node.store_ref().log_ref().usage();
        let core = serde_json::json!({
            "blocks_stored": s.blocks_stored,
            "duplicates": s.duplicates,
            "out_of_order": s.out_of_order,
            "invalid": s.invalid,
            "unsolicited": s.unsolicited,
            "from_banned": s.from_banned,
            "outbox_full": s.outbox_full,
            "store_full": s.store_full,
            "wants_sent": s.wants_sent,
            "forks": s.forks,
        });
        let lines = vec![
            format!("author   {me}"),
            format!("peer id  {}", self.swarm.local_peer_id()),
            format!(
                "listen   {}",
                self.listen
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            format!("peers    {} connected", self.connected.len()),
            format!(
                "store    {} blocks, {} authors, {} of {} flash bytes used",
                usage.blocks, usage.authors, usage.flash_bytes_used, usage.flash_bytes
            ),
            format!(
                "sync     {} blocks replicated, {} invalid, {} wants sent",
                s.blocks_stored, s.invalid, s.wants_sent
            ),
        ];
        Response::ok(
            lines,
            serde_json::json!({
                "author": me.to_string(),
                "peer_id": self.swarm.local_peer_id().to_string(),
                "listen": self.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "connected": self.connected.len(),
                "heads": heads,
                "blocks": usage.blocks,
                "core": core,
                "net": self.stats,
                "store_errors": self.node.store_ref().append_errors,
            }),
        )
    }

    fn peers(&mut self) -> Response {
        let now = self.now_ms();
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let mut ids: Vec<(PeerId, CorePeer)> =
            self.peer_ids.iter().map(|(p, i)| (*p, *i)).collect();
        ids.sort_by_key(|(_, i)| *i);
        for (pid, id) in ids {
            let score = self.node.peer_score(id);
            let banned = self.node.is_banned(id, now);
            let gossip = self.swarm.behaviour().gossipsub.peer_score(&pid);
            let connected = self.connected.contains(&pid);
            let author = self.backup.author_of(&pid);
            lines.push(format!(
                "{pid} author {} core#{id} score {} gossipsub {} {}{}",
                author.map_or("?".to_string(), |a| a.to_string()),
                score.map_or("-".to_string(), |s| s.to_string()),
                gossip.map_or("-".to_string(), |s| format!("{s:.1}")),
                if connected {
                    "connected"
                } else {
                    "not connected"
                },
                if banned { " BANNED" } else { "" }
            ));
            rows.push(serde_json::json!({
                "peer_id": pid.to_string(),
                "author": author.map(|a| a.to_string()),
                "core_id": id,
                "core_score": score,
                "banned": banned,
                "gossipsub_score": gossip,
                "connected": connected,
            }));
        }
        Response::ok(lines, serde_json::Value::Array(rows))
    }

    /// Adversarial mode: a malformed announcement every other tick, and heads three
    /// blocks beyond the truth for every followed author.
    fn evil_gossip(&mut self) {
        if self.ticks.is_multiple_of(2) {
            self.publish(vec![0xEE; 7]);
        }
        let mut heads = heapless::Vec::<HeadEntry, HEADS_MAX>::new();
        let follows = self.follows.clone();
        for a in follows.into_iter().take(HEADS_MAX) {
            let seq = self.node.store().head(&a).map_or(0, |h| h.seq) + 3;
            let _ = heads.push(HeadEntry {
                author: a,
                seq,
                id: Hash([0x42; 32]),
            });
        }
        if heads.is_empty() {
            return;
        }
        let mut buf = [0u8; MESSAGE_LEN_MAX];
        if let Ok(b) = (Message::Heads {
            reply: false,
            heads,
        })
        .emit(&mut buf)
        {
            let b = b.to_vec();
            self.publish(b);
        }
    }

    /// Equivocation mode: to peers with an odd core id, our head block is replaced by a
    /// twin: the same seq and links, another payload, validly signed. Those peers hold a
    /// different chain from the others, which is a fork only gossip can reveal.
    fn equivocate_response(&mut self, response: &mut [Vec<u8>]) {
        let me = self.keys.public();
        let Some(head) = self.node.store().head(&me) else {
            return;
        };
        for msg in response.iter_mut() {
            let Ok(Message::Block { header, .. }) = Message::parse(msg) else {
                continue;
            };
            let Ok(h) = glitter_core::wire::header::Header::decode(header) else {
                continue;
            };
            if h.author != me || h.seq != head.seq {
                continue;
            }
            let before = if h.seq > 1 {
                self.node
                    .store()
                    .header(&me, h.seq - 1)
                    .map(|p| glitter_core::chain::Head {
                        seq: p.seq,
                        id: p.id(),
                        timestamp_ms: p.timestamp_ms,
                    })
            } else {
                None
            };
            let Ok(mut state) = glitter_core::chain::ChainState::resume(me, before) else {
                continue;
            };
            let Ok(twin) = Payload::post("an equivocating twin", None) else {
                continue;
            };
            let mut pbuf = [0u8; PAYLOAD_LEN_MAX];
            let Ok(bytes) = twin.encode(&mut pbuf) else {
                continue;
            };
            let log = self.node.store().log();
            let mut src = glitter_core::store::BlockLog::source(log, me);
            let Ok(alt) = state.append(&self.keys, twin.kind(), h.timestamp_ms, bytes, &mut src)
            else {
                continue;
            };
            let mut mbuf = [0u8; MESSAGE_LEN_MAX];
            if let Ok(b) = Message::block(&alt.to_bytes(), Some(bytes)).emit(&mut mbuf) {
                *msg = b.to_vec();
            }
        }
    }

    /// Adversarial mode: answers a `Want` with forged blocks (real ones with a flipped
    /// signature byte, or the head re-numbered past the truth).
    fn evil_response(&mut self, request: &[u8]) -> Vec<Vec<u8>> {
        let Ok(Message::Want {
            author,
            from_seq,
            count,
        }) = Message::parse(request)
        else {
            return Vec::new();
        };
        let head = self.node.store().head(&author);
        let mut out = Vec::new();
        let mut pbuf = [0u8; PAYLOAD_LEN_MAX];
        for seq in from_seq..from_seq.saturating_add(u64::from(count)) {
            let base = match self.node.store().header(&author, seq) {
                Some(h) => Some((h, seq)),
                None => head.and_then(|h| {
                    self.node
                        .store()
                        .header(&author, h.seq)
                        .map(|hh| (hh, h.seq))
                }),
            };
            let Some((mut h, stored_seq)) = base else {
                // Nothing to forge from: send junk that is a well-formed Block message.
                let mut m = vec![3u8];
                m.extend_from_slice(&[0x5A; HEADER_LEN]);
                m.push(0);
                out.push(m);
                continue;
            };
            h.seq = seq;
            let mut hb = h.to_bytes();
            if let Some(b) = hb.last_mut() {
                *b ^= 1;
            }
            let len = self.node.store().payload(&author, stored_seq, &mut pbuf);
            let p = len.and_then(|l| pbuf.get(..l));
            let mut mbuf = [0u8; MESSAGE_LEN_MAX];
            if let Ok(b) = Message::block(&hb, p).emit(&mut mbuf) {
                out.push(b.to_vec());
            }
            if out.len() >= RESPONSE_MESSAGES_MAX {
                break;
            }
        }
        out
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libp2p_key_is_derived_and_distinct() {
        let keys = KeyPair::from_seed([7; 32]).unwrap();
        let a = libp2p_keypair(&keys).unwrap();
        let b = libp2p_keypair(&keys).unwrap();
        assert_eq!(a.public().to_peer_id(), b.public().to_peer_id());
        let ed = a.clone().try_into_ed25519().unwrap();
        assert_ne!(ed.public().to_bytes(), keys.public().0);
    }

    #[test]
    fn the_validator_accepts_heads_only() {
        let keys = KeyPair::from_seed([7; 32]).unwrap();
        let mut heads = heapless::Vec::<HeadEntry, HEADS_MAX>::new();
        heads
            .push(HeadEntry {
                author: keys.public(),
                seq: 0,
                id: Hash::ZERO,
            })
            .unwrap();
        let mut buf = [0u8; MESSAGE_LEN_MAX];
        let good = Message::Heads {
            reply: false,
            heads: heads.clone(),
        }
        .emit(&mut buf)
        .unwrap()
        .to_vec();
        assert!(check_heads(&good).is_ok());
        heads[0].seq = 1; // seq without id
        let bad = Message::Heads {
            reply: false,
            heads,
        }
        .emit(&mut buf)
        .unwrap()
        .to_vec();
        assert!(check_heads(&bad).is_err());
        assert!(check_heads(&[0xEE; 7]).is_err());
        let want = Message::Want {
            author: keys.public(),
            from_seq: 1,
            count: 1,
        }
        .emit(&mut buf)
        .unwrap()
        .to_vec();
        assert!(check_heads(&want).is_err());
    }
}
