//! The libp2p pieces a node and a restoring device share: TCP + noise + yamux, identify,
//! and the two glitter request-response protocols.

use super::backup_codec::{BackupCodec, BackupGate};
use super::backup_proto::{
    BACKUP_PROTOCOL, BackupRequest, BackupResponse, STREAMS_PER_CONNECTION_MAX,
};
use super::codec::{SYNC_PROTOCOL, SyncCodec};
use crate::error::SwarmError;
use libp2p::core::Transport;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::Version;
use libp2p::core::{Endpoint, connection::ConnectedPoint};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, Swarm, identify, noise, ping, tcp, yamux};
use std::collections::HashSet;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a sync request (a `Want` and its blocks) may take.
pub const SYNC_TIMEOUT_S: u64 = 10;
/// How long a backup request (a package or a release) may take.
pub const BACKUP_TIMEOUT_S: u64 = 60;

/// Most streams open at once on one connection, both directions together (yamux). A
/// peer that opens more loses the connection (yamux closes it). Each stream may
/// buffer up to yamux's 256 KiB window of data nobody has read yet, so this bounds a
/// connection's buffers at 160 × 256 KiB = 40 MiB. It sits above what a peer running
/// this code opens: [`SYNC_STREAMS_PER_CONNECTION_MAX`] +
/// [`STREAMS_PER_CONNECTION_MAX`] (backup) + gossipsub, identify and ping (a few).
pub const YAMUX_STREAMS_MAX: usize = 160;
/// Most inbound streams still agreeing on their protocol on one connection; later
/// ones wait in yamux (within [`YAMUX_STREAMS_MAX`]).
pub const NEGOTIATING_STREAMS_MAX: usize = 32;
/// Most `/glitter/sync/1` streams at once on one connection, inbound and outbound
/// together; libp2p drops an inbound one beyond it and fails an outbound one. A node
/// sends at most a third of it to one peer (`runtime::REQUESTS_PER_PEER_MAX`), so two
/// nodes running this code stay below it even while answered streams are still
/// closing: with lazy negotiation a request on a stream dropped at the limit is not
/// failed at once but waits out its timeout (measured: a client keeping the backup
/// protocol's limit of streams busy saw one request in 500 hang).
pub const SYNC_STREAMS_PER_CONNECTION_MAX: usize = 96;

// What a peer running this code opens on one connection stays below yamux's limit.
const _: () = assert!(
    SYNC_STREAMS_PER_CONNECTION_MAX + STREAMS_PER_CONNECTION_MAX + NEGOTIATING_STREAMS_MAX
        < YAMUX_STREAMS_MAX
);

/// yamux with at most [`YAMUX_STREAMS_MAX`] streams per connection. (libp2p-yamux 0.47
/// sets a stream limit only through its yamux 0.12 implementation, which speaks the
/// same `/yamux/1.0.0` as its default 0.13 one, with a fixed 256 KiB window per stream
/// instead of windows auto-tuned up to 1 GiB per connection, and 512 streams.)
pub fn yamux_config() -> yamux::Config {
    let mut c = yamux::Config::default();
    c.set_max_num_streams(YAMUX_STREAMS_MAX);
    c
}

/// How long a dial may take, from the TCP connect through the noise handshake and
/// yamux, and how long an inbound connection may take to finish its handshake. A dial
/// whose SYN went into a partition would otherwise wait out the kernel's SYN backoff
/// (up to two minutes) before the node dials again; with this bound it fails, and the
/// redial tick dials afresh, so a healed link is found within a few seconds.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Ping every [`PING_INTERVAL`]; a ping unanswered for [`PING_TIMEOUT`] fails, and
/// the second failure in a row closes the connection (`runtime`), so a dead connection
/// (a partition, a peer gone without closing, a TCP connection stuck in
/// retransmission backoff) is replaced within about 5 s instead of when TCP gives up.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// See [`PING_INTERVAL`].
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A swarm over TCP + noise + yamux on tokio, negotiating substreams lazily (no round
/// trip before a request), closing connections idle for `idle`;
/// at most [`YAMUX_STREAMS_MAX`] streams per connection, [`NEGOTIATING_STREAMS_MAX`]
/// of them inbound and negotiating; every connection set up within
/// [`CONNECT_TIMEOUT`].
///
/// # Errors
/// [`SwarmError::Tcp`] if the transport cannot be built.
pub fn tcp_swarm<B: NetworkBehaviour>(
    key: Keypair,
    behaviour: B,
    idle: Duration,
) -> Result<Swarm<B>, SwarmError> {
    let noise = noise::Config::new(&key).map_err(SwarmError::Tcp)?;
    let transport = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .upgrade(Version::V1Lazy)
        .authenticate(noise)
        .multiplex(yamux_config())
        .timeout(CONNECT_TIMEOUT)
        .boxed();
    // Lazy protocol negotiation on substreams too: a request goes out with its
    // protocol name in the same packet instead of a round trip later, so a sync request
    // costs one round trip. Every protocol a node opens a stream for is one its peers
    // speak (a peer that does not fails the stream, as it would have anyway).
    let config = libp2p::swarm::Config::with_tokio_executor()
        .with_substream_upgrade_protocol_override(Version::V1Lazy)
        .with_idle_connection_timeout(idle)
        .with_max_negotiating_inbound_streams(NEGOTIATING_STREAMS_MAX);
    Ok(Swarm::new(
        transport,
        behaviour,
        key.public().to_peer_id(),
        config,
    ))
}

/// Ping for liveness: see [`PING_INTERVAL`].
pub fn ping_behaviour() -> ping::Behaviour {
    ping::Behaviour::new(
        ping::Config::new()
            .with_interval(PING_INTERVAL)
            .with_timeout(PING_TIMEOUT),
    )
}

/// Identify, announcing glitter's protocol version.
pub fn identify_behaviour(key: &Keypair) -> identify::Behaviour {
    identify::Behaviour::new(identify::Config::new(
        "/glitter/1".to_string(),
        key.public(),
    ))
}

/// `/glitter/sync/1` (blocks), served (`Full`) or only asked (`Outbound`); at most
/// [`SYNC_STREAMS_PER_CONNECTION_MAX`] streams at once per connection.
pub fn sync_behaviour(support: ProtocolSupport) -> request_response::Behaviour<SyncCodec> {
    request_response::Behaviour::with_codec(
        SyncCodec,
        [(SYNC_PROTOCOL, support)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(SYNC_TIMEOUT_S))
            .with_max_concurrent_streams(SYNC_STREAMS_PER_CONNECTION_MAX),
    )
}

/// `/glitter/backup/1` with `codec`, served (`Full`) or only asked (`Outbound`); at
/// most [`STREAMS_PER_CONNECTION_MAX`] streams at once per connection.
pub fn backup_behaviour(
    codec: BackupCodec,
    support: ProtocolSupport,
) -> request_response::Behaviour<BackupCodec> {
    request_response::Behaviour::with_codec(
        codec,
        [(BACKUP_PROTOCOL, support)],
        request_response::Config::default()
            .with_request_timeout(Duration::from_secs(BACKUP_TIMEOUT_S))
            .with_max_concurrent_streams(STREAMS_PER_CONNECTION_MAX),
    )
}

/// A node's `/glitter/backup/1`: the request-response behaviour, with each
/// connection's codec told its remote peer (so it reads large packages only from the
/// owners in the [`BackupGate`]). Derefs to the request-response behaviour.
pub struct GatedBackup {
    inner: request_response::Behaviour<BackupCodec>,
    gate: Arc<BackupGate>,
}

impl GatedBackup {
    /// The served behaviour, with a fresh gate (no owners).
    pub fn new() -> GatedBackup {
        let gate = Arc::new(BackupGate::default());
        GatedBackup {
            inner: backup_behaviour(BackupCodec::node(gate.clone()), ProtocolSupport::Full),
            gate,
        }
    }

    /// The gate its codecs share.
    pub fn gate(&self) -> &BackupGate {
        &self.gate
    }
}

impl Default for GatedBackup {
    fn default() -> Self {
        GatedBackup::new()
    }
}

impl std::ops::Deref for GatedBackup {
    type Target = request_response::Behaviour<BackupCodec>;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl std::ops::DerefMut for GatedBackup {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl NetworkBehaviour for GatedBackup {
    type ConnectionHandler =
        <request_response::Behaviour<BackupCodec> as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = request_response::Event<BackupRequest, BackupResponse>;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // The handler clones the codec here: the clone learns `peer`.
        let inner = &mut self.inner;
        self.gate.with_peer(peer, || {
            inner.handle_established_inbound_connection(id, peer, local, remote)
        })
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(id, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = &mut self.inner;
        self.gate.with_peer(peer, || {
            inner.handle_established_outbound_connection(id, peer, addr, role, port_use)
        })
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer, id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

/// The address without its `/p2p/` part (to match a dial target with the address a
/// connection reports).
pub fn strip_p2p(a: &Multiaddr) -> Multiaddr {
    a.iter()
        .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
        .collect()
}

/// Addresses to keep dialling: each with the peer id learned when a dial succeeded,
/// and the dial under way, if any. A target is dialled only when its peer is neither
/// connected nor being dialled, so a node opens one connection per peer pair.
#[derive(Clone, Debug, Default)]
pub struct DialTargets(pub Vec<DialTarget>);

/// One address of [`DialTargets`].
#[derive(Clone, Debug)]
pub struct DialTarget {
    /// The address given.
    pub addr: Multiaddr,
    /// The peer a dial of it reached.
    pub peer: Option<PeerId>,
    /// The dial under way.
    pub dialing: Option<ConnectionId>,
}

impl DialTargets {
    /// Targets for `addrs`, none connected yet.
    pub fn new<'a>(addrs: impl IntoIterator<Item = &'a Multiaddr>) -> DialTargets {
        DialTargets(
            addrs
                .into_iter()
                .map(|a| DialTarget {
                    addr: a.clone(),
                    peer: None,
                    dialing: None,
                })
                .collect(),
        )
    }

    /// Dials every target that is neither connected nor being dialled. A target whose
    /// peer is known is dialled by peer id, so libp2p also skips it while any other
    /// dial of that peer (or an inbound connection from it) is under way.
    pub fn redial<B: NetworkBehaviour>(
        &mut self,
        swarm: &mut Swarm<B>,
        connected: &HashSet<PeerId>,
    ) {
        for t in &mut self.0 {
            if t.dialing.is_some() || t.peer.is_some_and(|p| connected.contains(&p)) {
                continue;
            }
            let opts = match t.peer {
                Some(p) => DialOpts::peer_id(p)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .addresses(vec![t.addr.clone()])
                    .build(),
                None => DialOpts::unknown_peer_id().address(t.addr.clone()).build(),
            };
            let id = opts.connection_id();
            if swarm.dial(opts).is_ok() {
                t.dialing = Some(id);
            }
        }
    }

    /// Records that connection `id` to `endpoint` reached `peer`.
    pub fn connected(&mut self, id: ConnectionId, endpoint: &ConnectedPoint, peer: PeerId) {
        for t in &mut self.0 {
            if t.dialing == Some(id) {
                t.dialing = None;
            }
        }
        if let ConnectedPoint::Dialer { address, .. } = endpoint {
            for t in &mut self.0 {
                if strip_p2p(&t.addr) == strip_p2p(address) {
                    t.peer = Some(peer);
                }
            }
        }
    }

    /// Records the listen addresses `peer` announced (identify): a target among them
    /// is that peer, also when it was the peer that dialled.
    pub fn identified(&mut self, peer: PeerId, listen: &[Multiaddr]) {
        for t in &mut self.0 {
            if listen.iter().any(|l| strip_p2p(l) == strip_p2p(&t.addr)) {
                t.peer = Some(peer);
            }
        }
    }

    /// Records that the dial `id` failed.
    pub fn failed(&mut self, id: ConnectionId) {
        for t in &mut self.0 {
            if t.dialing == Some(id) {
                t.dialing = None;
            }
        }
    }
}
