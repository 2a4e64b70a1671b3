//! Connection and stream limits against a real node (issue 15):
//!
//! - a flood of libp2p connections from one address holds at most the per-IP limit
//!   (`--max-conns-per-ip`, default 16), and a peer from another address still
//!   connects and replicates;
//! - a flood of TCP connections that never start their handshake, from one address,
//!   takes at most the per-IP limit of the node's 32 handshake slots, so a peer from
//!   another address still gets in while the flood goes on;
//! - one connection opening hundreds of `/glitter/sync/1` streams keeps at most the
//!   per-connection stream limit open (or loses its connection).
//!
//! The adversary runs in the test process and dials from its own loopback address,
//! 127.0.0.3 (Linux routes all of 127.0.0.0/8 to `lo`; libp2p's TCP transport lets the
//! kernel pick the source address, which is 127.0.0.1 for every loopback destination,
//! so the adversary binds its sockets itself). The honest nodes come from 127.0.0.1.

mod net_common;

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite, AsyncWriteExt, FutureExt, StreamExt};
use glitter_net::Request;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::upgrade::Version;
use libp2p::core::{Multiaddr, Transport};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{StreamProtocol, Swarm, noise, yamux};
use net_common::{NodeProc, wait_for};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Where the adversary's connections come from.
const ADVERSARY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
/// libp2p connections the adversary opens (each with its own identity: one
/// connection per peer is all a node keeps).
const FLOOD_CONNECTIONS: usize = 200;
/// Dials per flooding identity before it gives up.
const FLOOD_ATTEMPTS: usize = 3;
/// TCP connections that never start their handshake.
const HANDSHAKE_FLOOD: usize = 200;
/// `/glitter/sync/1` streams the adversary opens on one connection.
const STREAM_FLOOD: usize = 300;
/// The node's per-IP limit (its default).
const PER_IP: usize = glitter_net::runtime::CONNECTIONS_PER_IP_DEFAULT as usize;
/// The node's bound on `/glitter/sync/1` streams per connection.
const SYNC_STREAMS: usize = glitter_net::transport::SYNC_STREAMS_PER_CONNECTION_MAX;

/// TCP dials from a chosen source address.
struct BoundTcp(IpAddr);

/// The socket address of `/ip4/A/tcp/P`.
fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut it = addr.iter();
    let ip = match it.next()? {
        Protocol::Ip4(ip) => IpAddr::V4(ip),
        _ => return None,
    };
    match it.next()? {
        Protocol::Tcp(port) => Some(SocketAddr::new(ip, port)),
        _ => None,
    }
}

/// A TCP connection to `to` from `from` (port chosen by the kernel).
async fn connect_from(from: IpAddr, to: SocketAddr) -> io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let stream = socket.connect(to).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl Transport for BoundTcp {
    type Output = libp2p::tcp::tokio::TcpStream;
    type Error = io::Error;
    type ListenerUpgrade = futures::future::Pending<io::Result<Self::Output>>;
    type Dial = BoxFuture<'static, io::Result<Self::Output>>;

    fn listen_on(
        &mut self,
        _: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<io::Error>> {
        Err(TransportError::MultiaddrNotSupported(addr))
    }

    fn remove_listener(&mut self, _: ListenerId) -> bool {
        false
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _: DialOpts,
    ) -> Result<Self::Dial, TransportError<io::Error>> {
        let Some(to) = socket_addr(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        let from = self.0;
        Ok(async move {
            connect_from(from, to)
                .await
                .map(libp2p::tcp::tokio::TcpStream)
        }
        .boxed())
    }

    fn poll(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, io::Error>> {
        Poll::Pending
    }
}

/// A swarm with a fresh identity whose connections come from [`ADVERSARY`].
fn adversary_swarm<B: NetworkBehaviour>(behaviour: B) -> Swarm<B> {
    let key = libp2p::identity::Keypair::generate_ed25519();
    let transport = BoundTcp(ADVERSARY)
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(&key).expect("noise keys"))
        .multiplex(yamux::Config::default())
        .timeout(Duration::from_secs(10))
        .boxed();
    Swarm::new(
        transport,
        behaviour,
        key.public().to_peer_id(),
        libp2p::swarm::Config::with_tokio_executor()
            .with_idle_connection_timeout(Duration::from_secs(120)),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A victim node and a follower of it (both from 127.0.0.1), the follower
/// replicating already.
fn victim_and_follower(root: &std::path::Path, seed: u8) -> (NodeProc, NodeProc) {
    let tick = vec!["--tick-ms".to_string(), "200".to_string()];
    let mut victim = NodeProc::new(root, "victim", seed);
    victim.extra = tick.clone();
    victim.start();
    let mut follower = NodeProc::new(root, "follower", seed + 1);
    follower.extra = tick;
    follower.peers = vec![victim.addr.clone()];
    follower.start();
    follower.follow(&victim.author);
    let (seq, _) = victim.post("before the flood");
    wait_for("the follower to replicate", Duration::from_secs(30), || {
        (follower.head_of(&victim.author) >= seq).then_some(())
    });
    (victim, follower)
}

/// A new honest node (from 127.0.0.1) that dials `victim`, follows it and gets a post
/// the victim makes now; the follower gets it too.
fn honest_newcomer_replicates(
    root: &std::path::Path,
    seed: u8,
    victim: &NodeProc,
    others: &[&NodeProc],
) {
    let mut late = NodeProc::new(root, "newcomer", seed);
    late.extra = vec!["--tick-ms".into(), "200".into()];
    late.peers = vec![victim.addr.clone()];
    late.start();
    late.follow(&victim.author);
    let (seq, _) = victim.post("during the flood");
    let t = Instant::now();
    wait_for(
        "a new honest peer to connect and replicate during the flood",
        Duration::from_secs(30),
        || (late.head_of(&victim.author) >= seq).then_some(()),
    );
    for o in others {
        wait_for("the follower to replicate", Duration::from_secs(30), || {
            (o.head_of(&victim.author) >= seq).then_some(())
        });
    }
    eprintln!(
        "a new honest peer replicated the victim's post {} ms after it was made",
        t.elapsed().as_millis()
    );
}

/// The victim's per-IP figures: (largest number of inbound connections from one IP,
/// connections refused by the per-IP limit).
fn per_ip(victim: &NodeProc) -> (Option<u64>, Option<u64>) {
    let s = victim.ctl(Request::Status).data;
    (
        s["inbound_per_ip"]["busiest"].as_u64(),
        s["inbound_per_ip"]["denied"].as_u64(),
    )
}

fn established(victim: &NodeProc) -> u64 {
    victim.ctl(Request::Status).data["connections"]
        .as_u64()
        .unwrap_or(0)
}

/// The flood's shared counters.
#[derive(Default)]
struct Flood {
    /// Connections open now.
    held: AtomicUsize,
    /// Connections ever established.
    established: AtomicUsize,
    /// Dials (or sockets) the victim refused or closed.
    refused: AtomicUsize,
    /// Identities that are connected or gave up.
    settled: AtomicUsize,
    /// Ends the flood.
    release: AtomicBool,
}

/// One flooding identity: dials `addr` until connected (at most `FLOOD_ATTEMPTS`
/// times) and holds the connection until the flood is released.
async fn flood_one(addr: Multiaddr, f: Arc<Flood>) {
    let mut swarm = adversary_swarm(libp2p::swarm::dummy::Behaviour);
    let mut attempts = 1;
    let mut settled = false;
    let _ = swarm.dial(addr.clone());
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            ev = swarm.select_next_some() => match ev {
                SwarmEvent::ConnectionEstablished { .. } => {
                    f.held.fetch_add(1, Ordering::SeqCst);
                    f.established.fetch_add(1, Ordering::SeqCst);
                    if !settled {
                        settled = true;
                        f.settled.fetch_add(1, Ordering::SeqCst);
                    }
                }
                SwarmEvent::ConnectionClosed { .. } => {
                    f.held.fetch_sub(1, Ordering::SeqCst);
                }
                SwarmEvent::OutgoingConnectionError { .. } => {
                    f.refused.fetch_add(1, Ordering::SeqCst);
                    if attempts < FLOOD_ATTEMPTS {
                        attempts += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        let _ = swarm.dial(addr.clone());
                    } else if !settled {
                        settled = true;
                        f.settled.fetch_add(1, Ordering::SeqCst);
                    }
                }
                _ => {}
            },
            _ = check.tick() => {
                if f.release.load(Ordering::SeqCst) {
                    return;
                }
            }
        }
    }
}

/// Runs `FLOOD_CONNECTIONS` flooding identities on a thread of their own until
/// `f.release`.
fn spawn_flood(addr: &str, f: Arc<Flood>) -> std::thread::JoinHandle<()> {
    let addr: Multiaddr = addr.parse().expect("the victim's address");
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let tasks: Vec<_> = (0..FLOOD_CONNECTIONS)
                .map(|_| tokio::spawn(flood_one(addr.clone(), f.clone())))
                .collect();
            for t in tasks {
                let _ = t.await;
            }
        });
    })
}

#[test]
fn a_connection_flood_from_one_address_holds_at_most_the_per_ip_limit() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (victim, follower) = victim_and_follower(dir.path(), 0x91);
    let f = Arc::new(Flood::default());
    let flood = spawn_flood(&victim.addr, f.clone());
    wait_for(
        "every flooding identity to connect or give up",
        Duration::from_secs(60),
        || (f.settled.load(Ordering::SeqCst) >= FLOOD_CONNECTIONS).then_some(()),
    );
    let held = f.held.load(Ordering::SeqCst);
    let (busiest, denied) = per_ip(&victim);
    let total = established(&victim);
    eprintln!(
        "{FLOOD_CONNECTIONS} identities from {ADVERSARY} (up to {FLOOD_ATTEMPTS} dials each): \
         {held} connections held, {} established in all, {} dials refused; victim: \
         {total} connections established, busiest IP {busiest:?}, {denied:?} refused by the \
         per-IP limit",
        f.established.load(Ordering::SeqCst),
        f.refused.load(Ordering::SeqCst),
    );
    honest_newcomer_replicates(dir.path(), 0x93, &victim, &[&follower]);
    f.release.store(true, Ordering::SeqCst);
    let _ = flood.join();
    assert!(held <= PER_IP, "the adversary holds {held} connections");
    assert!(held > 0, "the adversary got none of its connections in");
    assert!(
        busiest.unwrap_or(u64::MAX) <= PER_IP as u64,
        "busiest IP {busiest:?}"
    );
    assert!(
        denied.unwrap_or(0) >= (FLOOD_CONNECTIONS - PER_IP) as u64,
        "refused by the per-IP limit: {denied:?}"
    );
    eprintln!("took {:.1} s", t0.elapsed().as_secs_f64());
}

/// Keeps `HANDSHAKE_FLOOD` TCP connections from [`ADVERSARY`] to `to` open, sending
/// nothing; each one the victim closes is replaced within 250 ms. Until `f.release`.
fn spawn_handshake_flood(to: &str, f: Arc<Flood>) -> std::thread::JoinHandle<()> {
    let to = socket_addr(&to.parse().expect("the victim's address")).expect("an ip4/tcp address");
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let mut open: Vec<tokio::net::TcpStream> = Vec::new();
            while !f.release.load(Ordering::SeqCst) {
                // Sockets the victim closed read as end of file (or an error).
                let before = open.len();
                let mut buf = [0u8; 16];
                open.retain(|s| matches!(s.try_read(&mut buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock));
                f.refused.fetch_add(before - open.len(), Ordering::SeqCst);
                while open.len() < HANDSHAKE_FLOOD {
                    match connect_from(ADVERSARY, to).await {
                        Ok(s) => {
                            open.push(s);
                            f.established.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => break,
                    }
                }
                f.held.store(open.len(), Ordering::SeqCst);
                f.settled.store(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    })
}

#[test]
fn a_handshake_flood_from_one_address_leaves_room_for_other_peers() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (victim, follower) = victim_and_follower(dir.path(), 0xa1);
    let f = Arc::new(Flood::default());
    let flood = spawn_handshake_flood(&victim.addr, f.clone());
    wait_for(
        "the flood to open its sockets",
        Duration::from_secs(30),
        || (f.settled.load(Ordering::SeqCst) > 0).then_some(()),
    );
    wait_for(
        "the victim to close the flood's sockets beyond the limit",
        Duration::from_secs(30),
        || {
            let refused = f.refused.load(Ordering::SeqCst);
            (refused >= HANDSHAKE_FLOOD - PER_IP).then_some(())
        },
    );
    let (busiest, denied) = per_ip(&victim);
    eprintln!(
        "{HANDSHAKE_FLOOD} silent TCP connections from {ADVERSARY}: {} opened, {} closed by \
         the victim; victim: busiest IP {busiest:?}, {denied:?} refused by the per-IP limit",
        f.established.load(Ordering::SeqCst),
        f.refused.load(Ordering::SeqCst),
    );
    honest_newcomer_replicates(dir.path(), 0xa3, &victim, &[&follower]);
    f.release.store(true, Ordering::SeqCst);
    let _ = flood.join();
    assert!(
        busiest.unwrap_or(u64::MAX) <= PER_IP as u64,
        "busiest IP {busiest:?}"
    );
    assert!(
        denied.unwrap_or(0) >= (HANDSHAKE_FLOOD - PER_IP) as u64,
        "refused by the per-IP limit: {denied:?}"
    );
    eprintln!(
        "{} sockets opened by the flood in all; took {:.1} s",
        f.established.load(Ordering::SeqCst),
        t0.elapsed().as_secs_f64()
    );
}

/// The stream flood's counters.
#[derive(Default)]
struct Streams {
    /// Streams open now (negotiated, not yet reset by the victim).
    open: AtomicUsize,
    /// The most open at once.
    peak: AtomicUsize,
    /// Streams ever negotiated.
    started: AtomicUsize,
    /// Requests that ended (reset, refused or failed).
    ended: AtomicUsize,
    /// The connection closed.
    closed: AtomicBool,
    /// Ends the flood.
    release: AtomicBool,
}

/// A codec that opens a `/glitter/sync/1` request declaring the largest message and
/// then sends one byte of it every 100 ms until `hold_until` (or the release): the stream stays open
/// unless the victim resets it (the next write then fails).
#[derive(Clone)]
struct Trickle {
    s: Arc<Streams>,
    hold_until: tokio::time::Instant,
}

/// Counts a stream open while it lives.
struct OpenGuard(Arc<Streams>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl request_response::Codec for Trickle {
    type Protocol = StreamProtocol;
    type Request = ();
    type Response = ();

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<()> {
        Err(io::Error::other("the adversary serves nothing"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<()> {
        Err(io::Error::other("not expected"))
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        (): (),
    ) -> io::Result<()> {
        let open = self.s.open.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = OpenGuard(self.s.clone());
        self.s.peak.fetch_max(open, Ordering::SeqCst);
        self.s.started.fetch_add(1, Ordering::SeqCst);
        let len = u16::try_from(glitter_core::sync::message::MESSAGE_LEN_MAX).unwrap_or(u16::MAX);
        io.write_all(&len.to_le_bytes()).await?;
        io.flush().await?;
        while tokio::time::Instant::now() < self.hold_until
            && !self.s.release.load(Ordering::SeqCst)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            io.write_all(&[0]).await?;
            io.flush().await?;
        }
        Err(io::Error::other("held long enough"))
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        (): (),
    ) -> io::Result<()> {
        Ok(())
    }
}

/// One connection from [`ADVERSARY`] opening `STREAM_FLOOD` sync streams, held for
/// `hold` (or until the release, or until the connection closes).
fn spawn_stream_flood(addr: &str, s: Arc<Streams>, hold: Duration) -> std::thread::JoinHandle<()> {
    let addr: Multiaddr = addr.parse().expect("the victim's address");
    std::thread::spawn(move || {
        runtime().block_on(async move {
            let hold_until = tokio::time::Instant::now() + hold;
            let behaviour = request_response::Behaviour::with_codec(
                Trickle {
                    s: s.clone(),
                    hold_until,
                },
                [(glitter_net::codec::SYNC_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default()
                    .with_request_timeout(hold + Duration::from_secs(5))
                    .with_max_concurrent_streams(STREAM_FLOOD + 1),
            );
            let mut swarm = adversary_swarm(behaviour);
            let _ = swarm.dial(addr);
            let deadline = hold_until + Duration::from_secs(2);
            let mut check = tokio::time::interval(Duration::from_millis(100));
            loop {
                let ev = tokio::select! {
                    ev = swarm.select_next_some() => ev,
                    () = tokio::time::sleep_until(deadline) => return,
                    _ = check.tick() => {
                        if s.release.load(Ordering::SeqCst) {
                            return;
                        }
                        continue;
                    }
                };
                match ev {
                    SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                        for _ in 0..STREAM_FLOOD {
                            swarm.behaviour_mut().send_request(&peer_id, ());
                        }
                    }
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                        s.ended.fetch_add(1, Ordering::SeqCst);
                    }
                    SwarmEvent::ConnectionClosed { .. }
                    | SwarmEvent::OutgoingConnectionError { .. } => {
                        s.closed.store(true, Ordering::SeqCst);
                        return;
                    }
                    _ => {}
                }
            }
        });
    })
}

/// Polls `f` every 50 ms until it returns `Some` or `timeout` passes.
fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn one_connection_cannot_hold_more_streams_than_the_limit() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (victim, follower) = victim_and_follower(dir.path(), 0xb1);
    let s = Arc::new(Streams::default());
    // The adversary holds its streams 9 s (the victim itself drops an inbound sync
    // stream that sends no request within its 10 s request timeout): the streams are
    // counted well before that.
    let hold = Duration::from_secs(9);
    let started = Instant::now();
    let flood = spawn_stream_flood(&victim.addr, s.clone(), hold);
    let closed = || s.closed.load(Ordering::SeqCst);
    wait_for(
        "every stream to be negotiated or refused",
        Duration::from_secs(9),
        || {
            let resolved = s.started.load(Ordering::SeqCst) + s.ended.load(Ordering::SeqCst);
            (closed() || resolved >= STREAM_FLOOD).then_some(())
        },
    );
    let first = s.open.load(Ordering::SeqCst);
    // Streams the victim reset are noticed at their next write (within 100 ms).
    let open = poll_until(Duration::from_secs(3), || {
        let open = s.open.load(Ordering::SeqCst);
        (closed() || open <= SYNC_STREAMS).then_some(open)
    })
    .unwrap_or_else(|| s.open.load(Ordering::SeqCst));
    let measured_in_time = started.elapsed() < hold;
    eprintln!(
        "{STREAM_FLOOD} sync streams on one connection: {} negotiated, at most {} open at \
         once, {first} open when all were negotiated or refused, {open} open after that, \
         {} ended; connection closed by the victim: {}",
        s.started.load(Ordering::SeqCst),
        s.peak.load(Ordering::SeqCst),
        s.ended.load(Ordering::SeqCst),
        closed()
    );
    // The victim still serves.
    let (seq, _) = victim.post("after the stream flood");
    wait_for(
        "the follower to replicate after the stream flood",
        Duration::from_secs(30),
        || (follower.head_of(&victim.author) >= seq).then_some(()),
    );
    s.release.store(true, Ordering::SeqCst);
    let _ = flood.join();
    assert!(
        measured_in_time,
        "the streams were counted only after the adversary let them go"
    );
    assert!(
        closed() || open <= SYNC_STREAMS,
        "{open} streams open on one connection"
    );
    eprintln!("took {:.1} s", t0.elapsed().as_secs_f64());
}
